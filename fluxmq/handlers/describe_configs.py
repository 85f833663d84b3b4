"""DescribeConfigs (key 32), v1-v4 (v0 was removed in Kafka 4, KIP-896).

Resources, as Kafka's ConfigHelper answers them:
- TOPIC (2): every topic config with its effective value. Source (v1+
  config_source): DYNAMIC_TOPIC_CONFIG (1) for a topic override,
  STATIC_BROKER_CONFIG (4) when the broker-level twin is set in
  server.properties / environment / --override, else DEFAULT_CONFIG (5).
  Synonyms (include_synonyms): the override, then the broker twin's static
  value, then the broker twin's default, most specific first. Unknown topic:
  UNKNOWN_TOPIC_OR_PARTITION with an empty message (Kafka 4.4); illegal name:
  INVALID_TOPIC_EXCEPTION.
- BROKER (4): name "" is the cluster-wide dynamic default, which is always
  empty here (no dynamic broker configs); our node id gives every broker
  config, read-only; any other id is INVALID_REQUEST. Keys the broker does
  not know (kept from server.properties) have no type, so like Kafka they are
  reported as sensitive with a null value.
- BROKER_LOGGER (8): our node id answers with an empty list (log levels are
  not exposed, a deliberate deviation: Kafka lists its log4j loggers); an
  empty or foreign id is INVALID_REQUEST as in Kafka.
- CLIENT_METRICS (16): no subscriptions exist, so an empty list.
- GROUP (32): no group configs yet: INVALID_REQUEST (deviation).
- Any other type fails the whole request with INVALID_REQUEST, as Kafka's
  authorization step does.

config_type (v3+) uses Kafka's ConfigType ids; documentation (v3+) is the
config's doc string when include_documentation is set and one exists, else
null. configuration_keys null or empty means every config.
"""

from __future__ import annotations

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api, config_resource_refusal
from fluxmq.metadata.configs import (
    RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER,
    RESOURCE_CLIENT_METRICS,
    RESOURCE_TOPIC,
    RESOURCE_TYPE_NAMES,
    broker_config_entries,
    check_broker_id,
    topic_config_entries,
)
from fluxmq.metadata.controller import validate_topic_name
from fluxmq.security.acl import AclOperation

API_KEY = 32


def _describe(ctx, resource, include_synonyms: bool, include_documentation: bool) -> list[dict]:
    broker = ctx.broker
    rtype, name = resource.resource_type, resource.resource_name
    keys = set(resource.configuration_keys) if resource.configuration_keys else None
    if rtype == RESOURCE_TOPIC:
        validate_topic_name(name)
        topic = broker.image.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "")
        return topic_config_entries(broker.config, topic.configs, include_synonyms, include_documentation, keys)
    if rtype == RESOURCE_BROKER:
        if not name:
            return []  # the cluster-wide dynamic defaults: there are none
        check_broker_id(broker.node_id, name)
        return broker_config_entries(broker.config, include_synonyms, include_documentation, keys)
    if rtype == RESOURCE_BROKER_LOGGER:
        if not name:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Broker id must not be empty")
        try:
            node = int(name)
        except ValueError:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Broker id must be an integer, but it is: {name}") from None
        if node != broker.node_id:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             f"Unexpected broker id, expected {broker.node_id} but received {name}")
        return []
    if rtype == RESOURCE_CLIENT_METRICS:
        if not name:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Client metrics subscription name must not be empty")
        return []
    raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {RESOURCE_TYPE_NAMES[rtype]}")


@api(API_KEY, "DescribeConfigs", 1, 4)
def handle(ctx, request):
    include_synonyms = request.include_synonyms
    include_documentation = getattr(request, "include_documentation", False)
    bad = next((r.resource_type for r in request.resources if r.resource_type not in RESOURCE_TYPE_NAMES), None)
    if bad is not None:
        # Kafka fails the whole request while authorizing an unknown type.
        return {"throttle_time": 0, "results": [
            {"error_code": ErrorCode.INVALID_REQUEST, "error_message": f"Unexpected resource type {bad}",
             "resource_type": r.resource_type,
             "resource_name": r.resource_name, "configs": []} for r in request.resources]}
    results = []
    for resource in request.resources:
        result = {"error_code": ErrorCode.NONE, "error_message": None, "resource_type": resource.resource_type,
                  "resource_name": resource.resource_name, "configs": []}
        try:
            refusal = config_resource_refusal(ctx, AclOperation.DESCRIBE_CONFIGS, resource.resource_type,
                                              resource.resource_name)
            if refusal is not None:
                raise refusal
            result["configs"] = _describe(ctx, resource, include_synonyms, include_documentation)
        except KafkaError as e:
            result.update(error_code=e.code, error_message=e.message)
        results.append(result)
    return {"throttle_time": 0, "results": results}
