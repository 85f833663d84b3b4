"""AddPartitionsToTxn (key 24), v0-v5.

v0-v3 (clients): one transaction; needs WRITE on the transactional id
(else every partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and WRITE on
each topic. A partition that fails its check (TOPIC_AUTHORIZATION_FAILED,
UNKNOWN_TOPIC_OR_PARTITION) fails the request: the others answer
OPERATION_NOT_ATTEMPTED and nothing is added, as in KafkaApis. Otherwise the
coordinator's one answer goes to every partition. PRODUCER_FENCED from v2;
older versions get INVALID_PRODUCER_EPOCH.

v4+ (KIP-890 part 1, broker to coordinator): a batch of transactions, each
added or, with verify_only, checked (a partition not in the transaction is
INVALID_TXN_STATE); needs CLUSTER_ACTION on the cluster. An add (not
verify_only) is transaction version 2 (KIP-890 part 2): it may start the
next transaction. This broker verifies and adds for its own produce requests
in process (fluxmq/txn/coordinator.py verify, fluxmq/txn/runtime.py add_implicitly).
"""

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api, then
from fluxmq.handlers.init_producer_id import fenced_error
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType
from fluxmq.txn.coordinator import TV1, TV2

API_KEY = 24


def _topic_results(by_topic: dict[str, list[tuple[int, ErrorCode]]]) -> list[dict]:
    return [{"name": name, "results_by_partition": [{"partition_index": i, "partition_error_code": code}
                                                    for i, code in parts]}
            for name, parts in by_topic.items()]


def _check_partitions(ctx, topics) -> tuple[dict, list[tuple[str, int]], bool]:
    """({topic: [(partition, error)]}, the partitions to add, whether any failed)."""
    image = ctx.broker.image
    by_topic: dict[str, list] = {}
    ok, failed = [], False
    for t in topics:
        parts = by_topic.setdefault(t.name, [])
        topic = image.topics.get(t.name)
        allowed = ctx.authorize(AclOperation.WRITE, ResourceType.TOPIC, t.name)
        for index in t.partitions:
            if not allowed:
                code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif topic is None or not 0 <= index < topic.partition_count:
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                code = ErrorCode.NONE
                ok.append((t.name, index))
            failed |= code != ErrorCode.NONE
            parts.append((index, code))
    if failed:
        for parts in by_topic.values():
            parts[:] = [(i, ErrorCode.OPERATION_NOT_ATTEMPTED if c == ErrorCode.NONE else c) for i, c in parts]
    return by_topic, ok, failed


def _all(by_topic: dict, code: ErrorCode) -> dict:
    return {name: [(i, code) for i, _c in parts] for name, parts in by_topic.items()}


def _add(ctx, transactional_id: str, producer_id: int, epoch: int, topics, version: int):
    """The topic results of one transaction, now or awaitable."""
    by_topic, partitions, failed = _check_partitions(ctx, topics)
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return _all(by_topic, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    if failed:
        return by_topic
    # v4+ comes from partition leaders: transaction version 2 (Kafka's transactionVersionForAddPartitionsToTxn).
    result = ctx.broker.transactions.run("add_partitions", transactional_id, producer_id, epoch, partitions,
                                         TV2 if version >= 4 else TV1)
    return then(result, lambda code: _all(by_topic, fenced_error(code, version, 2)))


def _verify(ctx, transactional_id: str, producer_id: int, epoch: int, topics) -> dict:
    by_topic: dict[str, list] = {}
    for t in topics:
        for index in t.partitions:
            try:
                ctx.broker.transactions.verify(transactional_id, producer_id, epoch, t.name, index)
                code = ErrorCode.NONE
            except KafkaError as e:
                code = e.code
            by_topic.setdefault(t.name, []).append((index, code))
    return by_topic


@api(API_KEY, "AddPartitionsToTxn", 0, 5)
def handle(ctx, request):
    version = ctx.api_version
    if version <= 3:
        result = _add(ctx, request.v3_and_below_transactional_id, request.v3_and_below_producer_id,
                      request.v3_and_below_producer_epoch, request.v3_and_below_topics, version)
        return then(result, lambda by_topic: {"throttle_time": 0,
                                              "results_by_topic_v3_and_below": _topic_results(by_topic)})
    if not ctx.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                "results_by_transaction": []}
    results = []
    for txn in request.transactions:
        if txn.verify_only:
            results.append(_verify(ctx, txn.transactional_id, txn.producer_id, txn.producer_epoch, txn.topics))
        else:
            results.append(_add(ctx, txn.transactional_id, txn.producer_id, txn.producer_epoch, txn.topics, version))

    if all(isinstance(r, dict) for r in results):
        return _sync(request, results)

    async def gather():
        return _sync(request, [r if isinstance(r, dict) else await r for r in results])
    return gather()


def _sync(request, results) -> dict:
    return {"throttle_time": 0, "error_code": ErrorCode.NONE,
            "results_by_transaction": [{"transactional_id": txn.transactional_id, "topic_results": _topic_results(r)}
                                       for txn, r in zip(request.transactions, results)]}
