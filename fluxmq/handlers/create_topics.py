"""CreateTopics (key 19), v2-v7 (v0-v1 were removed in Kafka 4, KIP-896).

Per topic, in Kafka's order (ControllerApis.createTopics, then
ReplicationControlManager.createTopics):
- a name given twice: INVALID_REQUEST "Duplicate topic name." (one result);
  __cluster_metadata: INVALID_REQUEST;
- an illegal name, or one that collides with an existing topic once '.' and
  '_' are unified: INVALID_TOPIC_EXCEPTION; an existing name:
  TOPIC_ALREADY_EXISTS;
- configs: a null value or an unknown/invalid config: INVALID_CONFIG;
- manual assignments need num_partitions = replication_factor = -1
  (INVALID_REQUEST otherwise); each partition lists distinct, known broker
  ids, the same count for every partition, partitions 0..n-1 exactly once
  (INVALID_REPLICA_ASSIGNMENT). The only known broker is this node.
- otherwise num_partitions -1 means num.partitions and replication_factor -1
  default.replication.factor; 0 or below -1 is INVALID_PARTITIONS /
  INVALID_REPLICATION_FACTOR; a replication factor above 1 cannot be met by
  a single node: INVALID_REPLICATION_FACTOR with Kafka's placer message.
- more than 10000 records in one request (a topic, its configs and its
  partitions each count one, as in QuorumController) fails every topic with
  POLICY_VIOLATION, so no request can make the broker create millions of
  partitions.

validate_only runs every check and returns the same result (with a topic id
that is then discarded, as Kafka does) without creating anything. v5+
results carry topic_id, num_partitions, replication_factor and every
effective topic config (value, read_only, config_source, is_sensitive) as
DescribeConfigs reports them. The request timeout is not used: creation is
complete when the response is sent.
"""

from __future__ import annotations

import logging

from fluxmq.config import validate_topic_configs
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api
from fluxmq.handlers.describe_configs import topic_config_entries
from fluxmq.log.manager import validate_topic_name

API_KEY = 19
CLUSTER_METADATA_TOPIC = "__cluster_metadata"
MAX_RECORDS_PER_USER_OP = 10000
log = logging.getLogger("fluxmq.admin")


def check_replica_assignment(broker, replicas, expected_rf: int | None) -> None:
    """ReplicationControlManager.validateManualPartitionAssignment."""
    if not replicas:
        raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                         "The manual partition assignment includes an empty replica list.")
    previous = None
    for node in sorted(replicas):
        if node != broker.node_id:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"The manual partition assignment includes broker {node}, but no such broker is "
                             "registered.")
        if node == previous:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"The manual partition assignment includes the broker {node} more than once.")
        previous = node
    if expected_rf is not None and len(replicas) != expected_rf:
        raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                         f"The manual partition assignment includes a partition with {len(replicas)} replica(s), "
                         f"but this is not consistent with previous partitions, which have {expected_rf} "
                         "replica(s).")


def check_replication_factor(broker, rf: int) -> None:
    """The replica placer: one registered broker."""
    if rf > 1:
        raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                         f"Unable to replicate the partition {rf} time(s): The target replication factor of {rf} "
                         "cannot be reached because only 1 broker(s) are registered or some brokers have all their "
                         "log directories cordoned.")


def _layout(broker, ct) -> tuple[int, int]:
    """(partitions, replication factor) the topic would get, or KafkaError."""
    if ct.assignments:
        if ct.replication_factor != -1:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             "A manual partition assignment was specified, but replication factor was not set to -1.")
        if ct.num_partitions != -1:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             "A manual partition assignment was specified, but numPartitions was not set to -1.")
        seen: set[int] = set()
        rf = None
        for a in ct.assignments:
            if a.partition_index in seen:
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"Found multiple manual partition assignments for partition {a.partition_index}")
            check_replica_assignment(broker, a.broker_ids, rf)
            rf = len(a.broker_ids)
            seen.add(a.partition_index)
        if seen != set(range(len(seen))):
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             "partitions should be a consecutive 0-based integer sequence")
        return len(seen), rf
    if ct.replication_factor < -1 or ct.replication_factor == 0:
        raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                         "Replication factor must be larger than 0, or -1 to use the default value.")
    if ct.num_partitions < -1 or ct.num_partitions == 0:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                         "Number of partitions was set to an invalid non-positive value.")
    partitions = broker.config["num.partitions"] if ct.num_partitions == -1 else ct.num_partitions
    rf = broker.config["default.replication.factor"] if ct.replication_factor == -1 else ct.replication_factor
    check_replication_factor(broker, rf)
    return partitions, rf


def _check_name(logs, name: str) -> None:
    validate_topic_name(name)
    if name in logs.topics:
        raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
    logs.check_collision(name)


def _configs(ct) -> dict[str, str]:
    nulls = [c.name for c in ct.configs if c.value is None]
    if nulls:
        raise KafkaError(ErrorCode.INVALID_CONFIG, "Null value not supported for topic configs: " + ",".join(nulls))
    raw = {c.name: c.value for c in ct.configs}
    validate_topic_configs(raw)
    return raw


def _error(name, e: KafkaError) -> dict:
    return {"name": name, "error_code": e.code, "error_message": e.message, "num_partitions": -1,
            "replication_factor": -1, "configs": []}


@api(API_KEY, "CreateTopics", 2, 7)
def handle(ctx, request):
    broker = ctx.broker
    logs = broker.logs
    counts: dict[str, int] = {}
    for ct in request.topics:
        counts[ct.name] = counts.get(ct.name, 0) + 1
    planned = []  # (request topic, partitions, replication factor, raw configs) or (request topic, error)
    for ct in request.topics:
        if counts[ct.name] > 1:
            continue
        try:
            if ct.name == CLUSTER_METADATA_TOPIC:
                raise KafkaError(ErrorCode.INVALID_REQUEST,
                                 f"Creation of internal topic {CLUSTER_METADATA_TOPIC} is prohibited.")
            _check_name(logs, ct.name)
            raw = _configs(ct)
            partitions, rf = _layout(broker, ct)
            planned.append((ct, partitions, rf, raw, None))
        except KafkaError as e:
            planned.append((ct, 0, 0, None, e))
    records = sum(1 + len(raw) + partitions for _ct, partitions, _rf, raw, e in planned if e is None)
    if records > MAX_RECORDS_PER_USER_OP:
        e = KafkaError(ErrorCode.POLICY_VIOLATION, "Unable to perform excessively large batch operation.")
        log.info("CreateTopics from %s refused: %d partitions and configs in one request", ctx.client_id, records)
        return {"throttle_time": 0, "topics": [_error(ct.name, e) for ct in request.topics]}
    results = []
    for ct, partitions, rf, raw, error in planned:
        if error is None:
            try:
                topic = logs.create_topic(ct.name, partitions, raw, validate_only=request.validate_only)
            except KafkaError as e:
                error = e
        if error is not None:
            log.info("CreateTopics %s from %s failed: %s: %s", ct.name, ctx.client_id, error.code.name, error)
            results.append(_error(ct.name, error))
            continue
        results.append({
            "name": ct.name, "topic_id": topic.topic_id, "error_code": ErrorCode.NONE, "error_message": None,
            "topic_config_error_code": ErrorCode.NONE, "num_partitions": partitions, "replication_factor": rf,
            "configs": [{k: entry[k] for k in ("name", "value", "read_only", "config_source", "is_sensitive")}
                        for entry in topic_config_entries(broker.config, topic.configs)],
        })
    dup = KafkaError(ErrorCode.INVALID_REQUEST, "Duplicate topic name.")
    results.extend(_error(name, dup) for name, n in counts.items() if n > 1)
    return {"throttle_time": 0, "topics": results}
