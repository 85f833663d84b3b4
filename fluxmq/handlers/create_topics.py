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
complete when the response is sent. The rules (names, layout, placement,
the record limit) are the controller's (metadata/controller.py).
"""

from __future__ import annotations

import logging

from fluxmq.config import validate_topic_configs
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api
from fluxmq.metadata.controller import CLUSTER_METADATA_TOPIC
from fluxmq.metadata.configs import topic_config_entries
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 19
log = logging.getLogger("fluxmq.admin")


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
    controller = broker.controller
    counts: dict[str, int] = {}
    for ct in request.topics:
        counts[ct.name] = counts.get(ct.name, 0) + 1
    planned = []  # (request topic, partitions, replication factor, raw configs, error)
    # ACLs (ControllerApis.createTopics): CREATE on the cluster, or on each topic.
    anywhere = ctx.authorize(AclOperation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME, log_denied=False)
    for ct in request.topics:
        if counts[ct.name] > 1:
            continue
        if not anywhere and ct.name != CLUSTER_METADATA_TOPIC \
                and not ctx.authorize(AclOperation.CREATE, ResourceType.TOPIC, ct.name):
            planned.append((ct, 0, 0, None, KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Authorization failed.")))
            continue
        try:
            controller.check_new_topic_name(ct.name)
            raw = _configs(ct)
            partitions, rf = controller.layout(ct.num_partitions, ct.replication_factor,
                                               [(a.partition_index, a.broker_ids) for a in ct.assignments])
            planned.append((ct, partitions, rf, raw, None))
        except KafkaError as e:
            planned.append((ct, 0, 0, None, e))
    try:
        controller.check_batch_size(sum(1 + len(raw) + partitions for _ct, partitions, _rf, raw, e in planned
                                        if e is None))
    except KafkaError as e:
        log.info("CreateTopics from %s refused: too many partitions and configs in one request", ctx.client_id)
        return {"throttle_time": 0, "topics": [_error(ct.name, e) for ct in request.topics]}
    results = []
    for ct, partitions, rf, raw, error in planned:
        if error is None:
            try:
                topic = controller.create_topic(ct.name, partitions, raw, validate_only=request.validate_only)
            except KafkaError as e:
                error = e
        if error is not None:
            log.info("CreateTopics %s from %s failed: %s: %s", ct.name, ctx.client_id, error.code.name, error)
            results.append(_error(ct.name, error))
            continue
        describable = ctx.authorize(AclOperation.DESCRIBE_CONFIGS, ResourceType.TOPIC, ct.name, log_denied=False)
        results.append({
            "name": ct.name, "topic_id": topic.topic_id, "error_code": ErrorCode.NONE, "error_message": None,
            "topic_config_error_code": ErrorCode.NONE if describable else ErrorCode.TOPIC_AUTHORIZATION_FAILED,
            "num_partitions": partitions, "replication_factor": rf,
            "configs": [{k: entry[k] for k in ("name", "value", "read_only", "config_source", "is_sensitive")}
                        for entry in topic_config_entries(broker.config, topic.configs)] if describable else [],
        })
    dup = KafkaError(ErrorCode.INVALID_REQUEST, "Duplicate topic name.")
    results.extend(_error(name, dup) for name, n in counts.items() if n > 1)
    return {"throttle_time": 0, "topics": results}
