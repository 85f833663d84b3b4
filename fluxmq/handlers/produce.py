"""Produce (key 0): advertised v0-v13, served v3-v13.

v0-v2 (magic 0/1 message sets) were removed in Kafka 4 (KIP-896) and get
UNSUPPORTED_VERSION, but the range is still advertised from 0: librdkafka up
to 2.11 disables gzip/snappy/lz4 unless Produce v0 is listed.

The handler resolves each topic (by name, or by id from v13; auto-created on
produce when auto.create.topics.enable is set) and hands every partition's
records to the replica manager, which validates them, writes all partitions
with one native call and, for acks=-1, answers once the high watermark and
the group-committed fdatasync have them (replication/replica_manager.py). A
batch with invalid records (a compacted topic's keyless records, timestamps
out of range) fails with record_errors naming each one (KIP-467). The
response is framed by hand (protocol/produce_response.py, checked byte for
byte against kio). acks=0 never answers, and closes the connection on an
error as Kafka does, so the producer notices.

Transactional batches (KIP-98): the request needs a transactional_id the
caller may WRITE (else every partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
as KafkaApis); a producer's first batch on a partition must be in its
transaction (KIP-890 part 1): else INVALID_TXN_STATE, or, for v11+,
TRANSACTION_ABORTABLE, as Kafka answers. From v12 (transaction version 2,
KIP-890 part 2) such a partition is added to the transaction first
(fluxmq/txn/runtime.py add_implicitly), and written once the add is durable;
a failed add answers that partition with the coordinator's error as Kafka's
partition leader maps it (PRODUCER_FENCED -> INVALID_PRODUCER_EPOCH, an
unavailable coordinator -> NOT_ENOUGH_REPLICAS, so the producer retries).
"""

from __future__ import annotations

import inspect
import logging
import struct

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import NO_RESPONSE, api, then
from fluxmq.log.batch import ATTRIBUTES_POS, TRANSACTIONAL_BIT
from fluxmq.protocol import produce_response
from fluxmq.protocol.codec import ZERO_UUID, to_ms
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 0
_ATTRIBUTES_LOW = ATTRIBUTES_POS + 1  # the int16's low byte holds the transactional bit
TRANSACTION_ABORTABLE_VERSION = 11  # Produce v11+ clients know TRANSACTION_ABORTABLE (KIP-890)
IMPLICIT_ADD_VERSION = 12  # Produce v12+ adds partitions to the transaction (KIP-890 part 2)
_COORDINATOR_UNAVAILABLE = (ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE,
                            ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
log = logging.getLogger("fluxmq.produce")


def _partition_response(index: int, result) -> dict:
    return {"index": index, "error_code": result.error, "base_offset": result.base_offset,
            "log_append_time": result.log_append_time, "log_start_offset": result.log_start_offset,
            "record_errors": [{"batch_index": i, "batch_index_error_message": m} for i, m in result.record_errors],
            "error_message": result.error_message}


def _error(index: int, code, message=None) -> dict:
    return {"index": index, "error_code": code, "base_offset": -1, "log_append_time": -1, "log_start_offset": -1,
            "record_errors": [], "error_message": message}


def _has_transactional_records(request) -> bool:
    """Kafka's ProduceRequest.hasTransactionalRecords: the attributes' low byte
    (batch offset 22) of any partition's batch has TRANSACTIONAL_BIT."""
    for td in request.topic_data:
        for pd in td.partition_data:
            records = pd.records
            if records is not None and len(records) > _ATTRIBUTES_LOW and records[_ATTRIBUTES_LOW] & TRANSACTIONAL_BIT:
                return True
    return False


def _resolve_topic(ctx, td):
    """The topic a produce entry names (by name, or by id from v13), once the
    caller may WRITE to it (TOPIC_AUTHORIZATION_FAILED before the topic is
    looked up, as in KafkaApis); auto-created only with CREATE."""
    topic_id = getattr(td, "topic_id", None)
    if topic_id is not None and topic_id != ZERO_UUID:
        topic = ctx.broker.image.topics_by_id.get(topic_id)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_ID, f"unknown topic id {topic_id}")
        name = topic.name
    else:
        name, topic = td.name, None
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TOPIC, name):
        raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    if topic is not None:
        return topic
    return ctx.broker.controller.topic_or_auto_create(name, allowed=name in ctx.broker.image.topics
                                                      or ctx.may_create_topic(name))


@api(API_KEY, "Produce", 0, 13, min_served=3)
def handle(ctx, request):
    acks = request.acks
    topics_out = [{"name": getattr(td, "name", None), "topic_id": getattr(td, "topic_id", ZERO_UUID),
                   "partition_responses": []} for td in request.topic_data]
    if acks not in (-1, 0, 1):
        log.info("produce from %s rejected: acks=%d is not -1, 0 or 1 (INVALID_REQUIRED_ACKS)", ctx.client_id, acks)
        for td, out in zip(request.topic_data, topics_out):
            out["partition_responses"] = [_error(p.index, ErrorCode.INVALID_REQUIRED_ACKS) for p in td.partition_data]
        return produce_response.encode(ctx.api_version, topics_out)
    transactional_id = getattr(request, "transactional_id", None)
    if _has_transactional_records(request) and (
            transactional_id is None
            or not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id)):
        # KafkaApis: the whole request fails (a transactional batch needs WRITE on its transactional.id).
        for td, out in zip(request.topic_data, topics_out):
            out["partition_responses"] = [_error(p.index, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
                                          for p in td.partition_data]
        return produce_response.encode(ctx.api_version, topics_out)
    entries, slots = [], []  # what goes to the replica manager, and where each answer goes
    for td, out in zip(request.topic_data, topics_out):
        try:
            topic = _resolve_topic(ctx, td)
        except KafkaError as e:
            out["partition_responses"] = [_error(p.index, e.code) for p in td.partition_data]
            continue
        for pd in td.partition_data:
            entries.append((topic.name, pd.index, pd.records or b""))
            slots.append((out["partition_responses"], len(out["partition_responses"]), pd.index))
            out["partition_responses"].append(None)
    if transactional_id is not None and ctx.api_version >= IMPLICIT_ADD_VERSION:
        adds = ctx.broker.replica_manager.transaction_adds(entries)
        added = ctx.broker.transactions.add_implicitly(transactional_id, adds)
        if added is not None:
            return _append_after_adds(ctx, request, acks, topics_out, entries, slots, transactional_id, added)
    return _append(ctx, request, acks, topics_out, entries, slots, transactional_id)


def _append(ctx, request, acks, topics_out, entries, slots, transactional_id):
    results = ctx.broker.replica_manager.append_records(entries, acks, to_ms(request.timeout), client_id=ctx.client_id,
                                                        transactional_id=transactional_id)
    return then(results, lambda res: _respond(ctx, acks, topics_out, slots, res))


async def _append_after_adds(ctx, request, acks, topics_out, entries, slots, transactional_id, added):
    failed = await added
    if failed:
        kept_entries, kept_slots = [], []
        for entry, slot in zip(entries, slots):
            code = failed.get((entry[0], entry[1]))
            if code is None:
                kept_entries.append(entry)
                kept_slots.append(slot)
                continue
            if code in _COORDINATOR_UNAVAILABLE:
                code = ErrorCode.NOT_ENOUGH_REPLICAS
            responses, i, index = slot
            responses[i] = _error(index, code)
        entries, slots = kept_entries, kept_slots
    # No await between the add and the append: the next produce of this
    # transactional id runs after this one is in the log.
    out = _append(ctx, request, acks, topics_out, entries, slots, transactional_id)
    return (await out) if inspect.isawaitable(out) else out


def _respond(ctx, acks, topics_out, slots, results):
    abortable = ctx.api_version >= TRANSACTION_ABORTABLE_VERSION
    for (responses, i, index), result in zip(slots, results):
        if abortable and result.error == ErrorCode.INVALID_TXN_STATE:
            result.error = ErrorCode.TRANSACTION_ABORTABLE  # KIP-890: the client aborts and goes on
        responses[i] = _partition_response(index, result)
    if acks == 0:
        if any(r["error_code"] != ErrorCode.NONE for t in topics_out for r in t["partition_responses"]):
            ctx.broker.close_connection(ctx.conn, "acks=0 produce failed")
        return NO_RESPONSE
    return produce_response.encode(ctx.api_version, topics_out)


# ------------------------------------------------------------ v0-v2 rejection
_I16, _I32 = struct.Struct(">h"), struct.Struct(">i")


def legacy_unsupported_response(frame: bytes, version: int) -> bytes | None:
    """UNSUPPORTED_VERSION for every partition of a Produce v0-v2 request.

    Request v0-2: acks int16 | timeout int32 | [topic string | [partition int32 | records bytes]]
    Response: [topic string | [partition int32 | error int16 | base_offset int64
              | log_append_time int64 (v2)]] | throttle_time int32 (v1+)
    """
    try:
        pos = 8
        (n, ) = _I16.unpack_from(frame, pos)  # client_id
        pos += 2 + max(n, 0) + 6  # client id, acks, timeout
        (n_topics,) = _I32.unpack_from(frame, pos)
        pos += 4
        out = [_I32.pack(max(n_topics, 0))]
        for _ in range(max(n_topics, 0)):
            (ln,) = _I16.unpack_from(frame, pos)
            name = frame[pos:pos + 2 + ln]
            if len(name) != 2 + ln:
                return None
            pos += 2 + ln
            (n_parts,) = _I32.unpack_from(frame, pos)
            pos += 4
            out.append(name + _I32.pack(max(n_parts, 0)))
            for _ in range(max(n_parts, 0)):
                (partition,) = _I32.unpack_from(frame, pos)
                (size,) = _I32.unpack_from(frame, pos + 4)
                pos += 8 + max(size, 0)
                out.append(struct.pack(">ihq", partition, ErrorCode.UNSUPPORTED_VERSION, -1))
                if version >= 2:
                    out.append(struct.pack(">q", -1))
        if version >= 1:
            out.append(_I32.pack(0))
        return b"".join(out)
    except struct.error:
        return None
