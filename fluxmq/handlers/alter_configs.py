"""AlterConfigs (key 33), v0-v2: the legacy, non-incremental API.

TOPIC resources: the request's configs replace the topic's whole override
set (a key left out goes back to its default), as in Kafka's
ConfigurationControlManager.legacyAlterConfigs. The new set is validated as
a whole (INVALID_CONFIG with the reason) before anything changes; then the
topic must exist (UNKNOWN_TOPIC_OR_PARTITION). validate_only checks
everything and changes nothing.

Checks done first, per resource, as Kafka's ConfigAdminManager.preprocess:
a resource named twice (both get INVALID_REQUEST), a config key named twice,
a null value (INVALID_REQUEST), an unknown resource type (INVALID_REQUEST;
BROKER_LOGGER is unknown to this legacy API too).

Deviation: BROKER resources. Kafka stores dynamic broker configs; FluxMQ
has none, so any change is INVALID_REQUEST "dynamic broker configs are not
supported" (an empty change set is accepted, it changes nothing). The
resource name is checked first, as in Kafka ("" or our node id).
CLIENT_METRICS and GROUP configs are not supported either (INVALID_REQUEST).
"""

from __future__ import annotations

import logging
import re

from fluxmq.config import validate_topic_configs
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api
from fluxmq.handlers.describe_configs import (
    RESOURCE_BROKER,
    RESOURCE_CLIENT_METRICS,
    RESOURCE_GROUP,
    RESOURCE_TOPIC,
    RESOURCE_TYPE_NAMES,
)
from fluxmq.log.manager import validate_topic_name

API_KEY = 33
log = logging.getLogger("fluxmq.configs")
_JAVA_INT = re.compile(r"^[+-]?[0-9]+$")
DYNAMIC_BROKER_CONFIGS_UNSUPPORTED = "dynamic broker configs are not supported"


def preprocess(resources, null_allowed=lambda config: False) -> list[KafkaError | None]:
    """Per resource: the request-shape error Kafka's broker finds before the
    controller sees the change, or None."""
    errors: list[KafkaError | None] = [None] * len(resources)
    first: dict[tuple[int, str], int] = {}
    for i, r in enumerate(resources):
        key = (r.resource_type, r.resource_name)
        if key in first:
            errors[i] = errors[first[key]] = KafkaError(ErrorCode.INVALID_REQUEST,
                                                        "Each resource must appear at most once.")
        else:
            first[key] = i
    for i, r in enumerate(resources):
        if errors[i] is not None:
            continue
        names = [c.name for c in r.configs]
        nulls = [c.name for c in r.configs if c.value is None and not null_allowed(c)]
        if len(set(names)) != len(names):
            errors[i] = KafkaError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
        elif nulls:
            errors[i] = KafkaError(ErrorCode.INVALID_REQUEST, "Null value not supported for : " + ", ".join(nulls))
    return errors


def check_node_id(broker, name: str) -> None:
    """ConfigAdminManager.validateResourceNameIsCurrentNodeId."""
    if not _JAVA_INT.match(name or ""):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Node id must be an integer, but it is: {name}")
    if int(name) != broker.node_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Unexpected broker id, expected {broker.node_id}, but received {name}")


def reject_broker_change(broker, resource) -> None:
    if resource.resource_name:
        check_node_id(broker, resource.resource_name)
    if resource.configs:
        raise KafkaError(ErrorCode.INVALID_REQUEST, DYNAMIC_BROKER_CONFIGS_UNSUPPORTED)


def reject_unsupported_type(resource) -> None:
    rtype = resource.resource_type
    if rtype in (RESOURCE_CLIENT_METRICS, RESOURCE_GROUP):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"{RESOURCE_TYPE_NAMES[rtype]} configs are not supported")
    raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown resource type {rtype}")


def replace_topic_overrides(broker, name: str, raw: dict[str, str], validate_only: bool) -> None:
    """Validates a topic's complete new override set, then installs it
    (ControllerConfigurationValidator, then the existence check)."""
    if not name:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    validate_topic_name(name)
    parsed = validate_topic_configs(raw)
    if name not in broker.logs.topics:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
    if validate_only:
        return
    broker.logs.alter_topic_configs(name, parsed)
    log.info("topic %s configs are now %s", name, raw or "the defaults")


def response_entry(resource, error: KafkaError | None) -> dict:
    return {"error_code": error.code if error else ErrorCode.NONE, "error_message": error.message if error else None,
            "resource_type": resource.resource_type, "resource_name": resource.resource_name}


@api(API_KEY, "AlterConfigs", 0, 2)
def handle(ctx, request):
    broker = ctx.broker
    errors = preprocess(request.resources)
    responses = []
    for resource, error in zip(request.resources, errors):
        if error is None:
            try:
                if resource.resource_type == RESOURCE_TOPIC:
                    raw = {c.name: c.value for c in resource.configs}
                    replace_topic_overrides(broker, resource.resource_name, raw, request.validate_only)
                elif resource.resource_type == RESOURCE_BROKER:
                    reject_broker_change(broker, resource)
                else:
                    reject_unsupported_type(resource)
            except KafkaError as e:
                error = e
        if error is not None:
            log.info("AlterConfigs on %s %r from %s failed: %s: %s",
                     RESOURCE_TYPE_NAMES.get(resource.resource_type, resource.resource_type),
                     resource.resource_name, ctx.client_id, error.code.name, error)
        responses.append(response_entry(resource, error))
    return {"throttle_time": 0, "responses": responses}
