"""CreatePartitions (key 37), v0-v3.

Raises a topic's partition count to `count`, with Kafka's checks and
messages (ControllerApis.createPartitions, ReplicationControlManager):
- a topic named twice: INVALID_REQUEST "Duplicate topic name." (these
  results come first, as in Kafka);
- an unknown topic: UNKNOWN_TOPIC_OR_PARTITION;
- count equal to or below the current count: INVALID_PARTITIONS;
- assignments, when given, must list one replica set per new partition, each
  of distinct known brokers (only this node) and as many replicas as the
  topic's replication factor (1): INVALID_REPLICA_ASSIGNMENT;
- more than 10000 new partitions in one request fails every topic with
  POLICY_VIOLATION (Kafka's per-operation record limit).
validate_only runs every check and adds nothing. New partitions are empty
logs with leader epoch 0, immediately visible in Metadata. The timeout is
not used: the partitions exist when the response is sent.
"""

from __future__ import annotations

import logging

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 37
REPLICATION_FACTOR = 1  # every partition of a single node
log = logging.getLogger("fluxmq.admin")


def _check(broker, ct) -> int:
    """How many partitions the request adds to this topic, or KafkaError."""
    topic = broker.image.topics.get(ct.name)
    if topic is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
    current = len(topic.partitions)
    if ct.count == current:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS, f"Topic already has {current} partition(s).")
    if ct.count < current:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                         f"The topic {ct.name} currently has {current} partition(s); {ct.count} would not be an "
                         "increase.")
    additional = ct.count - current
    if ct.assignments is not None:
        if len(ct.assignments) != additional:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"Attempted to add {additional} additional partition(s), but only "
                             f"{len(ct.assignments)} assignment(s) were specified.")
        for a in ct.assignments:
            broker.controller.check_replica_assignment(a.broker_ids, REPLICATION_FACTOR)
    return additional


def _result(name, error: KafkaError | None = None) -> dict:
    return {"name": name, "error_code": error.code if error else ErrorCode.NONE,
            "error_message": error.message if error else None}


@api(API_KEY, "CreatePartitions", 0, 3)
def handle(ctx, request):
    broker = ctx.broker
    counts: dict[str, int] = {}
    for ct in request.topics:
        counts[ct.name] = counts.get(ct.name, 0) + 1
    dup = KafkaError(ErrorCode.INVALID_REQUEST, "Duplicate topic name.")
    results = [_result(name, dup) for name, n in counts.items() if n > 1]
    checked = []
    for ct in request.topics:
        if counts[ct.name] > 1:
            continue
        if not ctx.authorize(AclOperation.ALTER, ResourceType.TOPIC, ct.name):
            checked.append((ct, 0, KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, None)))
            continue
        try:
            checked.append((ct, _check(broker, ct), None))
        except KafkaError as e:
            checked.append((ct, 0, e))
    try:
        broker.controller.check_batch_size(sum(added for _ct, added, _e in checked))
    except KafkaError as e:
        return {"throttle_time": 0, "results": [_result(ct.name, e) for ct in request.topics]}
    for ct, _added, error in checked:
        if error is None:
            try:
                broker.controller.create_partitions(ct.name, ct.count, validate_only=request.validate_only)
            except KafkaError as e:
                error = e
        if error is not None:
            log.info("CreatePartitions %s from %s failed: %s: %s", ct.name, ctx.client_id, error.code.name, error)
        results.append(_result(ct.name, error))
    return {"throttle_time": 0, "results": results}
