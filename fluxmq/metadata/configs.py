"""Configs as the admin APIs see them (Kafka's ConfigHelper and
ConfigAdminManager): config resources and sources, every topic and broker
config described with its value, source and synonyms (DescribeConfigs,
CreateTopics v5+), the request checks AlterConfigs and
IncrementalAlterConfigs share, and the replacement of a topic's overrides
through the controller.
"""

from __future__ import annotations

import logging
import re

from fluxmq.config import BROKER_CONFIGS, TOPIC_CONFIGS, BrokerConfig, ConfigDef, render, validate_topic_configs
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.metadata.controller import validate_topic_name

log = logging.getLogger("fluxmq.configs")
_JAVA_INT = re.compile(r"^[+-]?[0-9]+$")
DYNAMIC_BROKER_CONFIGS_UNSUPPORTED = "dynamic broker configs are not supported"

# ConfigResource.Type
RESOURCE_TOPIC, RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP = 2, 4, 8, 16, 32
RESOURCE_TYPE_NAMES = {RESOURCE_TOPIC: "TOPIC", RESOURCE_BROKER: "BROKER", RESOURCE_BROKER_LOGGER: "BROKER_LOGGER",
                       RESOURCE_CLIENT_METRICS: "CLIENT_METRICS", RESOURCE_GROUP: "GROUP"}

# DescribeConfigsResponse.ConfigSource
SOURCE_UNKNOWN = 0
DYNAMIC_TOPIC_CONFIG = 1
DYNAMIC_BROKER_CONFIG = 2
DYNAMIC_DEFAULT_BROKER_CONFIG = 3
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5
DYNAMIC_BROKER_LOGGER_CONFIG = 6

# DescribeConfigsResponse.ConfigType
CONFIG_TYPE_IDS = {"boolean": 1, "string": 2, "int": 3, "short": 4, "long": 5, "double": 6,
                   "list": 7, "class": 8, "password": 9}
CONFIG_TYPE_UNKNOWN = 0


def render_value(defn: ConfigDef | None, value) -> str | None:
    """ConfigDef.convertToString: lists are joined with ',' and no spaces."""
    if defn is not None and defn.type == "list" and value is not None:
        return ",".join(p.strip() for p in str(value).split(",") if p.strip())
    return render(value)


def _synonym(name: str, value: str | None, source: int) -> dict:
    return {"name": name, "value": value, "source": source}


def topic_config_entries(config: BrokerConfig, overrides: dict, include_synonyms: bool = False,
                         include_documentation: bool = False, keys=None) -> list[dict]:
    """Every topic config as Kafka's ConfigHelper.createTopicConfigEntry
    describes it, for a topic with these overrides. Also used by CreateTopics."""
    entries = []
    for name in sorted(TOPIC_CONFIGS):
        if keys and name not in keys:
            continue
        defn, twin = TOPIC_CONFIGS[name]
        sensitive = defn.type == "password"
        value = overrides[name] if name in overrides else config.topic_default(name)
        shown = None if sensitive else render_value(defn, value)
        synonyms = []
        if name in overrides:
            synonyms.append(_synonym(name, shown, DYNAMIC_TOPIC_CONFIG))
        if twin:
            twin_defn = BROKER_CONFIGS.get(twin, defn)
            if twin in config.sources:
                synonyms.append(_synonym(twin, None if sensitive else render_value(twin_defn, config[twin]),
                                         STATIC_BROKER_CONFIG))
            if twin_defn.default is not None:
                synonyms.append(_synonym(twin, None if sensitive else render_value(twin_defn, twin_defn.default),
                                         DEFAULT_CONFIG))
        entries.append({
            "name": name, "value": shown, "read_only": False,
            "config_source": synonyms[0]["source"] if synonyms else DEFAULT_CONFIG,
            "is_default": name not in overrides,  # v0 only
            "is_sensitive": sensitive,
            "synonyms": synonyms if include_synonyms else [],
            "config_type": CONFIG_TYPE_IDS.get(defn.type, CONFIG_TYPE_UNKNOWN),
            "documentation": (defn.doc or None) if include_documentation else None,
        })
    return entries


def broker_config_entries(config: BrokerConfig, include_synonyms: bool = False,
                          include_documentation: bool = False, keys=None) -> list[dict]:
    """Every broker config of this node (ConfigHelper.createBrokerConfigEntry,
    per-broker). None is dynamic, so every entry is read-only."""
    entries = []
    for name in sorted(config.values):
        if keys and name not in keys:
            continue
        defn = BROKER_CONFIGS.get(name)
        sensitive = defn is None or defn.type == "password"  # KafkaConfig.maybeSensitive
        value = config.values[name]
        synonyms = []
        if name in config.sources:
            synonyms.append(_synonym(name, None if sensitive else render_value(defn, value), STATIC_BROKER_CONFIG))
        if defn is not None and defn.default is not None:
            synonyms.append(_synonym(name, None if sensitive else render_value(defn, defn.default), DEFAULT_CONFIG))
        entries.append({
            "name": name, "value": None if sensitive else render_value(defn, value), "read_only": True,
            "config_source": synonyms[0]["source"] if synonyms else DEFAULT_CONFIG,
            "is_default": name not in config.sources,  # v0 only
            "is_sensitive": sensitive,
            "synonyms": synonyms if include_synonyms else [],
            "config_type": CONFIG_TYPE_IDS.get(defn.type, CONFIG_TYPE_UNKNOWN) if defn else CONFIG_TYPE_UNKNOWN,
            "documentation": ((defn.doc or None) if defn else None) if include_documentation else None,
        })
    return entries


def check_broker_id(node_id: int, name: str) -> None:
    """ConfigHelper.resourceNameToBrokerId plus the 'is it us' check."""
    try:
        node = int(name)
    except ValueError:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Broker id must be an integer, but it is: {name}") from None
    if node != node_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Unexpected broker id, expected {node_id} or empty string, but received {name}")



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


def check_node_id(node_id: int, name: str) -> None:
    """ConfigAdminManager.validateResourceNameIsCurrentNodeId."""
    if not _JAVA_INT.match(name or ""):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Node id must be an integer, but it is: {name}")
    if int(name) != node_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Unexpected broker id, expected {node_id}, but received {name}")


def reject_broker_change(node_id: int, resource) -> None:
    if resource.resource_name:
        check_node_id(node_id, resource.resource_name)
    if resource.configs:
        raise KafkaError(ErrorCode.INVALID_REQUEST, DYNAMIC_BROKER_CONFIGS_UNSUPPORTED)


def reject_unsupported_type(resource) -> None:
    rtype = resource.resource_type
    if rtype in (RESOURCE_CLIENT_METRICS, RESOURCE_GROUP):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"{RESOURCE_TYPE_NAMES[rtype]} configs are not supported")
    raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown resource type {rtype}")


def replace_topic_overrides(controller, name: str, raw: dict[str, str], validate_only: bool) -> None:
    """Validates a topic's complete new override set, then installs it
    (ControllerConfigurationValidator, then the existence check)."""
    if not name:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    validate_topic_name(name)
    parsed = validate_topic_configs(raw)
    if name not in controller.image.topics:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
    if validate_only:
        return
    controller.alter_topic_configs(name, parsed)
    log.info("topic %s configs are now %s", name, raw or "the defaults")


def response_entry(resource, error: KafkaError | None) -> dict:
    return {"error_code": error.code if error else ErrorCode.NONE, "error_message": error.message if error else None,
            "resource_type": resource.resource_type, "resource_name": resource.resource_name}
