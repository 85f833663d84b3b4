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

from fluxmq.errors import KafkaError
from fluxmq.handlers import api, config_resource_refusal
from fluxmq.metadata.configs import (
    RESOURCE_BROKER,
    RESOURCE_TOPIC,
    RESOURCE_TYPE_NAMES,
    preprocess,
    reject_broker_change,
    reject_unsupported_type,
    replace_topic_overrides,
    response_entry,
)
from fluxmq.security.acl import AclOperation

API_KEY = 33
log = logging.getLogger("fluxmq.configs")


@api(API_KEY, "AlterConfigs", 0, 2)
def handle(ctx, request):
    broker = ctx.broker
    errors = preprocess(request.resources)
    responses = []
    for resource, error in zip(request.resources, errors):
        if error is None and resource.resource_type in RESOURCE_TYPE_NAMES:
            error = config_resource_refusal(ctx, AclOperation.ALTER_CONFIGS, resource.resource_type,
                                            resource.resource_name)
        if error is None:
            try:
                if resource.resource_type == RESOURCE_TOPIC:
                    raw = {c.name: c.value for c in resource.configs}
                    replace_topic_overrides(broker.controller, resource.resource_name, raw, request.validate_only)
                elif resource.resource_type == RESOURCE_BROKER:
                    reject_broker_change(broker.node_id, resource)
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
