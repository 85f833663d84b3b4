"""Fetch (key 1), v4-v18, for consumers (followers come with replication).

- An offset inside a batch returns the whole batch; the first partition with
  data returns at least one whole batch even above the byte limits (KIP-74);
  a trailing partial batch may follow, as with Kafka.
- Long poll: with fewer than min_bytes available the request parks in the
  purgatory until data arrives on one of its partitions or max_wait passes.
- Record payloads are FileRanges of the segment files: the response is
  hand-framed (protocol/fetch_response.py) and the records go out with sendfile.
- Fetch sessions (KIP-227) are declined: every response carries session id 0,
  so clients keep sending full fetch requests, which Kafka allows. A request
  naming a session we never created gets FETCH_SESSION_ID_NOT_FOUND.
- v11+: preferred_read_replica = -1; aborted_transactions is null for
  read_uncommitted and an empty list for read_committed (no transactions yet);
  last_stable_offset = high watermark.
- current_leader_epoch (KIP-320): newer than ours is UNKNOWN_LEADER_EPOCH,
  older is FENCED_LEADER_EPOCH.
- v18 (KIP-1166) adds the replica's high watermark to a follower's
  ReplicaState; consumers send none and the response is v17's.
"""

from __future__ import annotations

import asyncio
import logging

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import RawResponse, api
from fluxmq.protocol import fetch_response
from fluxmq.protocol.codec import ZERO_UUID, to_ms

API_KEY = 1
log = logging.getLogger("fluxmq.fetch")
FETCH_SESSION_ID_NOT_FOUND = 70
READ_COMMITTED = 1
NO_EPOCH = -1


def _partition(index, code=ErrorCode.NONE, hw=-1, log_start=-1, records=b"", read_committed=False):
    return {"partition_index": index, "error_code": code, "high_watermark": hw, "last_stable_offset": hw,
            "log_start_offset": log_start, "aborted_transactions": [] if read_committed else None,
            "preferred_read_replica": -1, "records": records}


def _check_epoch(lg, requested: int) -> None:
    if requested == NO_EPOCH:
        return
    if requested > lg.leader_epoch:
        raise KafkaError(ErrorCode.UNKNOWN_LEADER_EPOCH)
    if requested < lg.leader_epoch:
        raise KafkaError(ErrorCode.FENCED_LEADER_EPOCH)


def _read_all(ctx, request, read_committed):
    """One pass over the requested partitions: (response topics, bytes read, partitions)."""
    logs = ctx.broker.logs
    remaining = request.max_bytes if ctx.api_version >= 3 else 2**31 - 1
    total = 0
    topics = []
    watched = []
    for ft in request.topics:
        topic_id = getattr(ft, "topic_id", None)
        by_id = topic_id is not None and topic_id != ZERO_UUID
        topic = logs.topics_by_id.get(topic_id) if by_id else logs.topics.get(getattr(ft, "topic", None))
        parts = []
        topics.append({"topic": getattr(ft, "topic", None), "topic_id": topic_id or ZERO_UUID,
                       "partitions": parts})
        for fp in ft.partitions:
            if topic is None:
                code = ErrorCode.UNKNOWN_TOPIC_ID if by_id else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                parts.append(_partition(fp.partition, code, read_committed=read_committed))
                continue
            lg = topic.logs[fp.partition] if 0 <= fp.partition < topic.partitions else None
            if lg is None:
                parts.append(_partition(fp.partition, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                        read_committed=read_committed))
                continue
            watched.append((lg.topic, lg.partition))
            try:
                _check_epoch(lg, getattr(fp, "current_leader_epoch", NO_EPOCH))
                limit = min(fp.partition_max_bytes, remaining)
                # KIP-74: the first partition with data may exceed the limits by one batch.
                records = lg.read(fp.fetch_offset, limit if total else max(limit, 1)) or b""
                if total and len(records) > limit:
                    records = b""
            except KafkaError as e:
                log.info("fetch from %s: %s-%d: %s: %s", ctx.client_id, lg.topic, lg.partition, e.code.name, e)
                parts.append(_partition(fp.partition, e.code, lg.high_watermark, lg.log_start_offset,
                                        read_committed=read_committed))
                continue
            total += len(records)
            remaining = max(0, remaining - len(records))
            parts.append(_partition(fp.partition, ErrorCode.NONE, lg.high_watermark, lg.log_start_offset,
                                    records, read_committed))
    return topics, total, watched


def _response(ctx, topics) -> RawResponse:
    parts, length = fetch_response.encode(ctx.api_version, topics)
    return RawResponse(parts, length)


@api(API_KEY, "Fetch", 4, 18)
def handle(ctx, request):
    if ctx.api_version >= 7 and request.session_id != 0:
        parts, length = fetch_response.encode(ctx.api_version, [], error_code=FETCH_SESSION_ID_NOT_FOUND)
        return RawResponse(parts, length)
    read_committed = request.isolation_level == READ_COMMITTED
    topics, total, watched = _read_all(ctx, request, read_committed)
    max_wait = to_ms(request.max_wait)
    has_error = any(p["error_code"] != ErrorCode.NONE for t in topics for p in t["partitions"])
    if total >= request.min_bytes or max_wait <= 0 or has_error or not watched:
        return _response(ctx, topics)
    return _long_poll(ctx, request, read_committed, watched, max_wait)


async def _long_poll(ctx, request, read_committed, watched, max_wait_ms):
    """DelayedFetch: wait for data on any watched partition, then read again."""
    waiters = ctx.broker.data_waiters
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait_ms / 1000
    while True:
        fut = waiters.watch(watched)
        try:
            await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            pass
        finally:
            waiters.unwatch(watched, fut)
        topics, total, _ = _read_all(ctx, request, read_committed)
        woken_for_shutdown = fut.done() and not fut.cancelled() and fut.result() is None
        if total >= request.min_bytes or loop.time() >= deadline or woken_for_shutdown:
            return _response(ctx, topics)
