"""IncrementalAlterConfigs (key 44), v0-v1 (KIP-339).

TOPIC resources: each config names an operation on the topic's overrides,
as in Kafka's ConfigurationControlManager.incrementalAlterConfigResource:
  SET (0)      the override becomes the value
  DELETE (1)   the override is removed (the config goes back to its default);
               deleting a key that is not set is not an error
  APPEND (2)   LIST configs only: values not yet present are added to the
               current list (the override, else the config's default)
  SUBTRACT (3) LIST configs only: the values are removed from that list
APPEND/SUBTRACT on a non-LIST (or unknown) key is INVALID_CONFIG. The
resulting override set is validated as a whole (INVALID_CONFIG), then the
topic must exist (UNKNOWN_TOPIC_OR_PARTITION); nothing changes unless every
operation of the resource is valid. validate_only changes nothing.

Request-shape checks as in AlterConfigs (a resource or key named twice,
null values for anything but DELETE: INVALID_REQUEST).

Deviations: BROKER changes are INVALID_REQUEST "dynamic broker configs are
not supported" (after Kafka's resource-name check). BROKER_LOGGER (KIP-412
log levels) is INVALID_REQUEST after the same node-id check Kafka does;
CLIENT_METRICS and GROUP configs are not supported (INVALID_REQUEST).
"""

from __future__ import annotations

import logging

from fluxmq.config import TOPIC_CONFIGS, render
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api, config_resource_refusal
from fluxmq.metadata.configs import (
    RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER,
    RESOURCE_TOPIC,
    RESOURCE_TYPE_NAMES,
    check_node_id,
    preprocess,
    reject_broker_change,
    reject_unsupported_type,
    replace_topic_overrides,
    response_entry,
)
from fluxmq.security.acl import AclOperation

API_KEY = 44
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
OP_NAMES = {SET: "SET", DELETE: "DELETE", APPEND: "APPEND", SUBTRACT: "SUBTRACT"}
log = logging.getLogger("fluxmq.configs")


def _list_parts(value) -> list[str]:
    return [p for p in (str(value).split(",") if value is not None else []) if p]


def apply_operations(current: dict[str, str], configs) -> dict[str, str]:
    """The topic's new raw override set after the operations, in order."""
    result = dict(current)
    for c in configs:
        op = c.config_operation
        if op == SET:
            result[c.name] = c.value
        elif op == DELETE:
            result.pop(c.name, None)
        elif op in (APPEND, SUBTRACT):
            entry = TOPIC_CONFIGS.get(c.name)
            if entry is None or entry[0].type != "list":
                raise KafkaError(ErrorCode.INVALID_CONFIG,
                                 f"Can't {OP_NAMES[op]} to key {c.name} because its type is not LIST.")
            parts = _list_parts(result[c.name] if c.name in result else entry[0].default)
            for v in c.value.split(","):
                if op == APPEND and v not in parts:
                    parts.append(v)
                elif op == SUBTRACT and v in parts:
                    parts.remove(v)
            result[c.name] = ",".join(parts)
        else:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown operation type {op} for config {c.name}")
    return result


def _alter_topic(broker, resource, validate_only: bool) -> None:
    topic = broker.image.topics.get(resource.resource_name)
    current = {k: render(v) for k, v in topic.configs.items()} if topic else {}
    new = apply_operations(current, resource.configs)
    replace_topic_overrides(broker.controller, resource.resource_name, new, validate_only)


@api(API_KEY, "IncrementalAlterConfigs", 0, 1)
def handle(ctx, request):
    broker = ctx.broker
    errors = preprocess(request.resources, null_allowed=lambda c: c.config_operation == DELETE)
    responses = []
    for resource, error in zip(request.resources, errors):
        if error is None and resource.resource_type in RESOURCE_TYPE_NAMES:
            error = config_resource_refusal(ctx, AclOperation.ALTER_CONFIGS, resource.resource_type,
                                            resource.resource_name)
        if error is None:
            try:
                rtype = resource.resource_type
                if rtype == RESOURCE_TOPIC:
                    _alter_topic(broker, resource, request.validate_only)
                elif rtype == RESOURCE_BROKER:
                    reject_broker_change(broker.node_id, resource)
                elif rtype == RESOURCE_BROKER_LOGGER:
                    check_node_id(broker.node_id, resource.resource_name)
                    raise KafkaError(ErrorCode.INVALID_REQUEST, "changing broker log levels is not supported")
                else:
                    reject_unsupported_type(resource)
            except KafkaError as e:
                error = e
        if error is not None:
            log.info("IncrementalAlterConfigs on %s %r from %s failed: %s: %s",
                     RESOURCE_TYPE_NAMES.get(resource.resource_type, resource.resource_type),
                     resource.resource_name, ctx.client_id, error.code.name, error)
        responses.append(response_entry(resource, error))
    return {"throttle_time": 0, "responses": responses}
