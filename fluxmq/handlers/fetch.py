"""Fetch (key 1), v4-v18, for consumers (followers come with replication).

- An offset inside a batch returns the whole batch; the first partition with
  data returns at least one whole batch even above the byte limits (KIP-74);
  a trailing partial batch may follow, as with Kafka.
- Long poll: with fewer than min_bytes available the request waits as a
  DelayedFetch until new data moves the high watermark of one of its
  partitions or max_wait passes (replication/replica_manager.py). Reads stop
  at the high watermark (the last stable offset for read_committed).
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

from fluxmq.errors import ErrorCode
from fluxmq.handlers import RawResponse, api, then
from fluxmq.protocol import fetch_response
from fluxmq.protocol.codec import ZERO_UUID, to_ms
from fluxmq.replication.replica_manager import FetchRead, FetchResult
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 1
FETCH_SESSION_ID_NOT_FOUND = 70
READ_COMMITTED = 1
NO_EPOCH = -1


def _partition(index, result: FetchResult) -> dict:
    return {"partition_index": index, "error_code": result.error, "high_watermark": result.high_watermark,
            "last_stable_offset": result.last_stable_offset, "log_start_offset": result.log_start_offset,
            "aborted_transactions": result.aborted, "preferred_read_replica": -1, "records": result.records}


def _response(ctx, topics) -> RawResponse:
    parts, length = fetch_response.encode(ctx.api_version, topics)
    return RawResponse(parts, length)


@api(API_KEY, "Fetch", 4, 18)
def handle(ctx, request):
    if ctx.api_version >= 7 and request.session_id != 0:
        parts, length = fetch_response.encode(ctx.api_version, [], error_code=FETCH_SESSION_ID_NOT_FOUND)
        return RawResponse(parts, length)
    image = ctx.broker.image
    isolation = request.isolation_level
    aborted = [] if isolation == READ_COMMITTED else None
    topics, reads, slots = [], [], []
    for ft in request.topics:
        topic_id = getattr(ft, "topic_id", None)
        by_id = topic_id is not None and topic_id != ZERO_UUID
        name = getattr(ft, "topic", None)
        topic = image.topics_by_id.get(topic_id) if by_id else image.topics.get(name)
        parts = []
        topics.append({"topic": name, "topic_id": topic_id or ZERO_UUID, "partitions": parts})
        # An unknown id answers UNKNOWN_TOPIC_ID; a name, known or not, needs READ first (KafkaApis).
        if topic is None and by_id:
            code = ErrorCode.UNKNOWN_TOPIC_ID
        elif not ctx.authorize(AclOperation.READ, ResourceType.TOPIC, topic.name if by_id else name):
            code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        else:
            code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if topic is None else None
        for fp in ft.partitions:
            if code is not None:
                parts.append(_partition(fp.partition, FetchResult(code, aborted=aborted)))
                continue
            reads.append(FetchRead(topic.name, fp.partition, fp.fetch_offset, fp.partition_max_bytes,
                                   getattr(fp, "current_leader_epoch", NO_EPOCH)))
            slots.append((parts, len(parts), fp.partition))
            parts.append(None)
    unknown = any(p is not None for t in topics for p in t["partitions"])
    max_bytes = request.max_bytes  # every served version (v4+) has it
    # An unknown topic answers at once, as any other error does.
    max_wait = 0 if unknown else to_ms(request.max_wait)
    results = ctx.broker.replica_manager.fetch_messages(reads, isolation, request.min_bytes, max_wait, max_bytes)

    def respond(res):
        for (parts, i, index), result in zip(slots, res):
            parts[i] = _partition(index, result)
        return _response(ctx, topics)
    return then(results, respond)
