"""TxnOffsetCommit (key 28), v0-v5: a transactional producer commits a
group's offsets inside its transaction (sendOffsetsToTransaction).

Checks in KafkaApis' order: WRITE on the transactional id
(TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on the group
(GROUP_AUTHORIZATION_FAILED), then each topic (TOPIC_AUTHORIZATION_FAILED,
UNKNOWN_TOPIC_OR_PARTITION). Up to v4 the group's __consumer_offsets
partition must be in the producer's transaction (AddOffsetsToTxn first;
KIP-890 verification): else every partition gets the verification's error
(INVALID_TXN_STATE, which v4 answers as TRANSACTION_ABORTABLE,
INVALID_PRODUCER_EPOCH for a fenced producer, INVALID_PRODUCER_ID_MAPPING).
v5 is transaction version 2 (KIP-890 part 2): the client sends no
AddOffsetsToTxn and the partition is added here
(fluxmq/txn/runtime.py add_implicitly), with that add's error on failure
(CONCURRENT_TRANSACTIONS, which the client retries, while the previous
transaction's markers are written).
v3+ carries the member id, generation and group.instance.id, checked as
OffsetCommit checks them (KIP-447). The offsets stay pending (OffsetFetch
with require_stable answers UNSTABLE_OFFSET_COMMIT) until the transaction's
marker commits or drops them (fluxmq/group/offsets.py).
"""

import inspect

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.group import GROUP_METADATA_TOPIC
from fluxmq.group.records import partition_for
from fluxmq.handlers import api, known_partitions, partition_errors, then
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 28
# Kafka's txnOffsetCommitRequestVersionToTransactionSupportedOperation:
TRANSACTION_ABORTABLE_VERSION = 4  # v4 clients know TRANSACTION_ABORTABLE
IMPLICIT_ADD_VERSION = 5  # v5 adds the offsets partition (KIP-890 part 2)


def _all(request, code: ErrorCode) -> list[dict]:
    return [{"name": t.name, "partitions": [{"partition_index": p.partition_index, "error_code": code}
                                            for p in t.partitions]} for t in request.topics]


@api(API_KEY, "TxnOffsetCommit", 0, 5)
def handle(ctx, request):
    broker = ctx.broker
    image = broker.image
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id):
        return {"throttle_time": 0, "topics": _all(request, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)}
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return {"throttle_time": 0, "topics": _all(request, ErrorCode.GROUP_AUTHORIZATION_FAILED)}
    error = broker.groups.ensure_topic()
    if error is not None:
        return {"throttle_time": 0, "topics": _all(request, error)}
    offsets_partition = partition_for(request.group_id, image.topics[GROUP_METADATA_TOPIC].partition_count)
    if ctx.api_version >= IMPLICIT_ADD_VERSION:
        added = broker.transactions.add_implicitly(
            request.transactional_id,
            {(request.producer_id, request.producer_epoch): [(GROUP_METADATA_TOPIC, offsets_partition)]})
        if added is not None:
            return _commit_after_add(ctx, request, added)
        return _commit(ctx, request)
    try:
        broker.transactions.verify(request.transactional_id, request.producer_id, request.producer_epoch,
                                   GROUP_METADATA_TOPIC, offsets_partition)
    except KafkaError as e:
        code = e.code
        if code == ErrorCode.INVALID_TXN_STATE and ctx.api_version >= TRANSACTION_ABORTABLE_VERSION:
            code = ErrorCode.TRANSACTION_ABORTABLE  # KIP-890: the client aborts and goes on
        return {"throttle_time": 0, "topics": _all(request, code)}
    return _commit(ctx, request)


async def _commit_after_add(ctx, request, added):
    failed = await added
    if failed:
        return {"throttle_time": 0, "topics": _all(request, next(iter(failed.values())))}
    out = _commit(ctx, request)
    return (await out) if inspect.isawaitable(out) else out


def _commit(ctx, request):
    broker = ctx.broker
    image = broker.image
    valid, errors = known_partitions(
        image, request.topics,
        lambda p: (p.partition_index, p.committed_offset, getattr(p, "committed_leader_epoch", -1),
                   p.committed_metadata),
        lambda name: ctx.authorize(AclOperation.READ, ResourceType.TOPIC, name))
    if not valid:
        return {"throttle_time": 0, "topics": partition_errors(image, request.topics, [], errors)}
    result = broker.groups.run(
        "commit_transactional_offsets", request.transactional_id, request.producer_id, request.producer_epoch,
        request.group_id, getattr(request, "generation_id", -1), getattr(request, "member_id", ""),
        getattr(request, "group_instance_id", None), valid)
    return then(result, lambda r: {"throttle_time": 0,
                                   "topics": partition_errors(image, request.topics, r["topics"], errors)})
