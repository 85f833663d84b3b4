"""Produce (key 0): advertised v0-v13, served v3-v13.

v0-v2 (magic 0/1 message sets) were removed in Kafka 4 (KIP-896) and get
UNSUPPORTED_VERSION, but the range is still advertised from 0: librdkafka up
to 2.11 disables gzip/snappy/lz4 unless Produce v0 is listed.

A request is split topic -> partition; every partition's batches are
validated (CRC, size, idempotence window) and offset-stamped by the Log, then
all partitions are written with one native call. The response is framed by
hand (protocol/produce_response.py, checked byte for byte against kio). acks=1 answers once the
bytes are in the page cache; acks=-1 after the group-committed fdatasync;
acks=0 never answers, and closes the connection on an error as Kafka does so
the producer notices. A batch with invalid records (a compacted topic's
keyless records, timestamps out of range) fails with record_errors naming
each one (KIP-467, log/validator.py). Topics are auto-created on produce when
auto.create.topics.enable is set.
"""

from __future__ import annotations

import logging
import struct

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import NO_RESPONSE, api
from fluxmq.handlers.metadata import maybe_auto_create
from fluxmq.log.log import AppendPlan, append_plans
from fluxmq.log.manager import INTERNAL_TOPICS
from fluxmq.log.validator import RecordValidationError
from fluxmq.protocol import produce_response
from fluxmq.protocol.codec import ZERO_UUID

API_KEY = 0
ISR_SIZE = 1  # a single node is its own, whole ISR
log = logging.getLogger("fluxmq.produce")


def _partition_response(index: int, code=ErrorCode.NONE, base_offset=-1, append_time=-1, log_start=-1,
                        message=None, record_errors=()) -> dict:
    return {"index": index, "error_code": code, "base_offset": base_offset, "log_append_time": append_time,
            "log_start_offset": log_start, "record_errors": list(record_errors), "error_message": message}


def _resolve_topic(ctx, td):
    """The topic a produce entry names (by name, or by id from v13)."""
    logs = ctx.broker.logs
    topic_id = getattr(td, "topic_id", None)
    if topic_id is not None and topic_id != ZERO_UUID:
        topic = logs.topics_by_id.get(topic_id)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_ID, f"unknown topic id {topic_id}")
        return topic
    return maybe_auto_create(ctx.broker, td.name, True)


@api(API_KEY, "Produce", 0, 13, min_served=3)
def handle(ctx, request):
    broker = ctx.broker
    acks = request.acks
    if acks not in (-1, 0, 1):
        log.info("produce from %s rejected: acks=%d is not -1, 0 or 1 (INVALID_REQUIRED_ACKS)", ctx.client_id, acks)
        code = ErrorCode.INVALID_REQUIRED_ACKS
        responses = [{"name": getattr(td, "name", None), "topic_id": getattr(td, "topic_id", ZERO_UUID),
                      "partition_responses": [_partition_response(p.index, code) for p in td.partition_data]}
                     for td in request.topic_data]
        return produce_response.encode(ctx.api_version, responses)
    now = broker.clock.milliseconds()
    plans: list[AppendPlan] = []
    planned: set = set()
    results: dict[int, dict] = {}  # id(partition entry) -> response
    failed = False
    topics_out = []
    for td in request.topic_data:
        parts_out = []
        topics_out.append({"name": getattr(td, "name", None), "topic_id": getattr(td, "topic_id", ZERO_UUID),
                           "partition_responses": parts_out})
        try:
            topic = _resolve_topic(ctx, td)
            if topic.name in INTERNAL_TOPICS:
                # Coordinator state: only the broker writes it (Kafka's "Cannot
                # append to internal topic").
                log.info("produce from %s to internal topic %s rejected", ctx.client_id, topic.name)
                raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Cannot append to internal topic {topic.name}")
        except KafkaError as e:
            failed = True
            parts_out.extend(_partition_response(p.index, e.code) for p in td.partition_data)
            continue
        for pd in td.partition_data:
            lg = broker.logs.get_log(topic.name, pd.index)
            if lg is None:
                log.info("produce from %s to %s-%d rejected: topic %s has no partition %d",
                         ctx.client_id, topic.name, pd.index, topic.name, pd.index)
                failed = True
                parts_out.append(_partition_response(pd.index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
                continue
            if acks == -1 and lg.config.min_insync_replicas > ISR_SIZE:
                failed = True
                parts_out.append(_partition_response(
                    pd.index, ErrorCode.NOT_ENOUGH_REPLICAS,
                    message=f"min.insync.replicas is {lg.config.min_insync_replicas} but the ISR has {ISR_SIZE}"))
                continue
            if lg in planned:  # the same partition twice: write what is planned first
                _write(broker, plans, results)
                plans, planned = [], set()
            try:
                outcome = lg.prepare_append(pd.records or b"", now)
            except RecordValidationError as e:  # KIP-467: which records, so the client fails just those
                failed = True
                log.info("produce to %s-%d from %s rejected: %s: %s", topic.name, pd.index, ctx.client_id,
                         e.code.name, e)
                parts_out.append(_partition_response(
                    pd.index, e.code, log_start=lg.log_start_offset, message=str(e),
                    record_errors=[{"batch_index": i, "batch_index_error_message": m} for i, m in e.record_errors]))
                continue
            except KafkaError as e:
                failed = True
                log.info("produce to %s-%d from %s rejected: %s: %s", topic.name, pd.index, ctx.client_id,
                         e.code.name, e)
                parts_out.append(_partition_response(pd.index, e.code, message=str(e)))
                continue
            resp = _partition_response(pd.index)
            parts_out.append(resp)
            if isinstance(outcome, AppendPlan):
                plans.append(outcome)
                planned.add(lg)
                results[id(outcome)] = resp
            else:  # idempotent duplicate: the original offsets, no error
                resp.update(base_offset=outcome.base_offset, log_start_offset=outcome.log_start_offset)
    _write(broker, plans, results)
    if any(r["error_code"] != ErrorCode.NONE for t in topics_out for r in t["partition_responses"]):
        failed = True
    response = {"responses": topics_out, "throttle_time": 0}
    if acks == 0:
        if failed:
            broker.close_connection(ctx.conn, "acks=0 produce failed")
        return NO_RESPONSE
    if acks == -1 and any(r["error_code"] == ErrorCode.NONE and r["base_offset"] >= 0
                          for t in topics_out for r in t["partition_responses"]):
        return _after_sync(ctx, broker, response)
    return produce_response.encode(ctx.api_version, topics_out)


def _write(broker, plans, results) -> None:
    """One native write for the planned partitions, then the bookkeeping."""
    if not plans:
        return
    try:
        appended = append_plans(broker.logs.io, plans, broker.clock.milliseconds())
    except OSError as e:
        log.error("segment write failed: %s; %d partition(s) answered KAFKA_STORAGE_ERROR", e, len(plans))
        for plan in plans:
            results[id(plan)].update(error_code=ErrorCode.KAFKA_STORAGE_ERROR, error_message=str(e))
        return
    for plan, res in zip(plans, appended):
        results[id(plan)].update(base_offset=res.base_offset, log_append_time=res.log_append_time,
                                 log_start_offset=res.log_start_offset)
        broker.data_waiters.notify((plan.log.topic, plan.log.partition))


async def _after_sync(ctx, broker, response):
    try:
        await broker.logs.sync()
    except KafkaError as e:
        for t in response["responses"]:
            for r in t["partition_responses"]:
                if r["error_code"] == ErrorCode.NONE:
                    r.update(error_code=e.code, error_message=str(e), base_offset=-1)
    return produce_response.encode(ctx.api_version, response["responses"])


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
