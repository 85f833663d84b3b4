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

from fluxmq.config import BROKER_CONFIGS, TOPIC_CONFIGS, BrokerConfig, ConfigDef, render
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api
from fluxmq.log.manager import validate_topic_name

API_KEY = 32

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


def check_broker_id(broker, name: str) -> None:
    """ConfigHelper.resourceNameToBrokerId plus the 'is it us' check."""
    try:
        node = int(name)
    except ValueError:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Broker id must be an integer, but it is: {name}") from None
    if node != broker.node_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Unexpected broker id, expected {broker.node_id} or empty string, but received {name}")


def _describe(ctx, resource, include_synonyms: bool, include_documentation: bool) -> list[dict]:
    broker = ctx.broker
    rtype, name = resource.resource_type, resource.resource_name
    keys = set(resource.configuration_keys) if resource.configuration_keys else None
    if rtype == RESOURCE_TOPIC:
        validate_topic_name(name)
        topic = broker.logs.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "")
        return topic_config_entries(broker.config, topic.configs, include_synonyms, include_documentation, keys)
    if rtype == RESOURCE_BROKER:
        if not name:
            return []  # the cluster-wide dynamic defaults: there are none
        check_broker_id(broker, name)
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
            result["configs"] = _describe(ctx, resource, include_synonyms, include_documentation)
        except KafkaError as e:
            result.update(error_code=e.code, error_message=e.message)
        results.append(result)
    return {"throttle_time": 0, "results": results}
