"""Broker and topic configuration, with Apache Kafka's key names and defaults.

Sources, lowest to highest precedence: built-in defaults, a Kafka-style
server.properties (--config), FLUXMQ_* environment variables (FLUXMQ_LOG_RETENTION_MS
for log.retention.ms), --override key=value, then the CLI flags. Topic configs
override their broker-level twin (retention.ms <- log.retention.ms).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fluxmq.errors import ErrorCode, KafkaError

LONG_MAX = 9223372036854775807


@dataclass(frozen=True)
class ConfigDef:
    name: str
    type: str  # "int", "long", "double", "boolean", "string", "list", "password"
    default: object
    doc: str = ""
    validator: object = None  # callable(value) -> None or raises ValueError


def _parse(defn: ConfigDef, raw) -> object:
    if raw is None:
        return None
    if defn.type in ("int", "long"):
        value = int(str(raw).strip())
    elif defn.type == "double":
        value = float(str(raw).strip())
    elif defn.type == "boolean":
        s = str(raw).strip().lower()
        if s not in ("true", "false"):
            raise ValueError(f"{defn.name} must be true or false, not {raw!r}")
        value = s == "true"
    else:
        value = str(raw).strip()
    if defn.validator is not None:
        defn.validator(value)
    return value


def _one_of(*choices):
    def check(v):
        for part in str(v).split(","):
            if part.strip() not in choices:
                raise ValueError(f"{v!r} is not one of {', '.join(choices)}")
    return check


def _at_least(n):
    def check(v):
        if v < n:
            raise ValueError(f"{v} is below the minimum {n}")
    return check


def _between(low, high):
    def check(v):
        if not low <= v <= high:
            raise ValueError(f"{v} is not in [{low}, {high}]")
    return check


def _must_be_false(feature):
    def check(v):
        if v:
            raise ValueError(f"{feature} is not supported by FluxMQ yet")
    return check


def _only(default, what):
    def check(v):
        if v != default:
            raise ValueError(f"{what} is not supported by FluxMQ yet; only the default {default} is accepted")
    return check


def _authorizer_class(v):
    from fluxmq.security.authorizer import AUTHORIZER_CLASS_NAMES
    if v and v not in AUTHORIZER_CLASS_NAMES:
        raise ValueError(f"authorizer.class.name {v!r} is not available in FluxMQ; it has "
                         f"{AUTHORIZER_CLASS_NAMES[0]} (and takes {AUTHORIZER_CLASS_NAMES[1]} as the same)")


def render(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- topic-level configs: name -> (definition, broker-level twin) -----------
_COMPRESSION = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
TOPIC_CONFIGS: dict[str, tuple[ConfigDef, str | None]] = {d.name: (d, twin) for d, twin in [
    (ConfigDef("cleanup.policy", "list", "delete", validator=_one_of("delete", "compact")), "log.cleanup.policy"),
    (ConfigDef("compression.type", "string", "producer", validator=_one_of(*_COMPRESSION)), "compression.type"),
    (ConfigDef("delete.retention.ms", "long", 86400000, validator=_at_least(0)), "log.cleaner.delete.retention.ms"),
    (ConfigDef("file.delete.delay.ms", "long", 60000, validator=_at_least(0)), "log.segment.delete.delay.ms"),
    (ConfigDef("flush.messages", "long", LONG_MAX, validator=_at_least(1)), "log.flush.interval.messages"),
    (ConfigDef("flush.ms", "long", LONG_MAX, validator=_at_least(0)), "log.flush.interval.ms"),
    (ConfigDef("index.interval.bytes", "int", 4096, validator=_at_least(0)), "log.index.interval.bytes"),
    (ConfigDef("max.compaction.lag.ms", "long", LONG_MAX, validator=_at_least(1)), "log.cleaner.max.compaction.lag.ms"),
    (ConfigDef("max.message.bytes", "int", 1048588, validator=_at_least(0)), "message.max.bytes"),
    (ConfigDef("message.timestamp.type", "string", "CreateTime",
               validator=_one_of("CreateTime", "LogAppendTime")), "log.message.timestamp.type"),
    (ConfigDef("message.timestamp.after.max.ms", "long", 3600000, validator=_at_least(0)),
     "log.message.timestamp.after.max.ms"),
    (ConfigDef("message.timestamp.before.max.ms", "long", LONG_MAX, validator=_at_least(0)),
     "log.message.timestamp.before.max.ms"),
    (ConfigDef("min.cleanable.dirty.ratio", "double", 0.5, validator=_between(0, 1)), "log.cleaner.min.cleanable.ratio"),
    (ConfigDef("min.compaction.lag.ms", "long", 0, validator=_at_least(0)), "log.cleaner.min.compaction.lag.ms"),
    (ConfigDef("min.insync.replicas", "int", 1, validator=_at_least(1)), "min.insync.replicas"),
    (ConfigDef("preallocate", "boolean", False), "log.preallocate"),
    (ConfigDef("retention.bytes", "long", -1), "log.retention.bytes"),
    (ConfigDef("retention.ms", "long", 604800000, validator=_at_least(-1)), "log.retention.ms"),
    (ConfigDef("segment.bytes", "int", 1073741824, validator=_at_least(14)), "log.segment.bytes"),
    (ConfigDef("segment.index.bytes", "int", 10485760, validator=_at_least(4)), "log.index.size.max.bytes"),
    (ConfigDef("segment.jitter.ms", "long", 0, validator=_at_least(0)), "log.roll.jitter.ms"),
    (ConfigDef("segment.ms", "long", 604800000, validator=_at_least(1)), "log.roll.ms"),
    (ConfigDef("unclean.leader.election.enable", "boolean", False), "unclean.leader.election.enable"),
    (ConfigDef("compression.gzip.level", "int", -1, validator=_between(-1, 9)), "compression.gzip.level"),
    (ConfigDef("compression.lz4.level", "int", 9, validator=_between(1, 17)), "compression.lz4.level"),
    (ConfigDef("compression.zstd.level", "int", 3, validator=_between(-131072, 22)), "compression.zstd.level"),
    (ConfigDef("follower.replication.throttled.replicas", "list", ""), None),
    (ConfigDef("leader.replication.throttled.replicas", "list", ""), None),
    (ConfigDef("local.retention.bytes", "long", -2), "log.local.retention.bytes"),
    (ConfigDef("local.retention.ms", "long", -2), "log.local.retention.ms"),
    # Tiered storage (KIP-405) is not built: enabling it is refused, not ignored.
    (ConfigDef("remote.storage.enable", "boolean", False, validator=_must_be_false("tiered storage")), None),
    (ConfigDef("remote.log.copy.disable", "boolean", False), None),
    (ConfigDef("remote.log.delete.on.disable", "boolean", False), None),
    (ConfigDef("remote.copy.lag.bytes", "long", -1), "log.remote.copy.lag.bytes"),
    (ConfigDef("remote.copy.lag.ms", "long", 0), "log.remote.copy.lag.ms"),
    # New in Kafka 4.4. Share groups (KIP-932) are not built: a dead-letter queue for them is refused.
    (ConfigDef("errors.deadletterqueue.group.enable", "boolean", False,
               validator=_must_be_false("a dead-letter queue for share groups")), None),
    # Kafka 4.4's limit on a decompressed record: FluxMQ does not enforce it yet, so only its default is taken.
    (ConfigDef("max.decompressed.message.bytes", "int", 2147483639,
               validator=_only(2147483639, "max.decompressed.message.bytes")), "max.decompressed.message.bytes"),
]}

# --- broker-level configs ------------------------------------------------------
_BROKER_DEFS = [
    ConfigDef("node.id", "int", 1),
    ConfigDef("broker.id", "int", 1),
    ConfigDef("log.dirs", "string", "./data"),
    ConfigDef("listeners", "string", "PLAINTEXT://0.0.0.0:9092"),
    ConfigDef("advertised.listeners", "string", None),
    ConfigDef("listener.security.protocol.map", "string",
              "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
    # SASL listeners (fluxmq/security/sasl.py); listener.name.<l>. prefixes override both
    ConfigDef("sasl.enabled.mechanisms", "list", "GSSAPI"),
    ConfigDef("connections.max.reauth.ms", "long", 0, validator=_at_least(0)),
    ConfigDef("connection.failed.authentication.delay.ms", "int", 100, validator=_at_least(0)),
    # TLS listeners (fluxmq/security/tls.py), Kafka's defaults; listener.name.<l>. prefixes override them
    ConfigDef("ssl.keystore.type", "string", "JKS"),
    ConfigDef("ssl.keystore.location", "string", None),
    ConfigDef("ssl.keystore.password", "password", None),
    ConfigDef("ssl.key.password", "password", None),
    ConfigDef("ssl.keystore.certificate.chain", "password", None),
    ConfigDef("ssl.keystore.key", "password", None),
    ConfigDef("ssl.truststore.type", "string", "JKS"),
    ConfigDef("ssl.truststore.location", "string", None),
    ConfigDef("ssl.truststore.password", "password", None),
    ConfigDef("ssl.truststore.certificates", "password", None),
    ConfigDef("ssl.client.auth", "string", "none", validator=_one_of("none", "requested", "required")),
    ConfigDef("ssl.enabled.protocols", "list", "TLSv1.2,TLSv1.3"),
    ConfigDef("ssl.protocol", "string", "TLSv1.3"),
    ConfigDef("ssl.cipher.suites", "list", ""),
    ConfigDef("ssl.endpoint.identification.algorithm", "string", "https"),
    ConfigDef("ssl.principal.mapping.rules", "string", "DEFAULT"),
    ConfigDef("ssl.keymanager.algorithm", "string", "SunX509"),
    ConfigDef("ssl.trustmanager.algorithm", "string", "PKIX"),
    ConfigDef("ssl.provider", "string", None),
    ConfigDef("ssl.engine.factory.class", "string", None),
    ConfigDef("ssl.secure.random.implementation", "string", None),
    # A TLS handshake not finished in this time closes the connection (FluxMQ's own key).
    ConfigDef("fluxmq.ssl.handshake.timeout.ms", "long", 10000, validator=_at_least(1)),
    # ACLs (fluxmq/security/authorizer.py): Kafka's StandardAuthorizer, when named
    ConfigDef("authorizer.class.name", "string", "", validator=_authorizer_class),
    ConfigDef("super.users", "string", ""),
    ConfigDef("allow.everyone.if.no.acl.found", "boolean", False),
    ConfigDef("num.partitions", "int", 1, validator=_at_least(1)),
    ConfigDef("max.request.partition.size.limit", "int", 2000, validator=_at_least(1)),  # DescribeTopicPartitions
    ConfigDef("default.replication.factor", "int", 1, validator=_at_least(1)),
    ConfigDef("auto.create.topics.enable", "boolean", True),
    ConfigDef("delete.topic.enable", "boolean", True),
    ConfigDef("socket.request.max.bytes", "int", 104857600, validator=_at_least(1)),
    ConfigDef("message.max.bytes", "int", 1048588, validator=_at_least(0)),
    ConfigDef("compression.type", "string", "producer", validator=_one_of(*_COMPRESSION)),
    ConfigDef("log.cleanup.policy", "list", "delete", validator=_one_of("delete", "compact")),
    ConfigDef("log.retention.ms", "long", 604800000, validator=_at_least(-1)),
    ConfigDef("log.retention.bytes", "long", -1),
    ConfigDef("log.retention.check.interval.ms", "long", 300000, validator=_at_least(1)),
    ConfigDef("log.segment.bytes", "int", 1073741824, validator=_at_least(14)),
    ConfigDef("log.roll.ms", "long", 604800000, validator=_at_least(1)),
    ConfigDef("log.roll.jitter.ms", "long", 0),
    ConfigDef("log.index.interval.bytes", "int", 4096, validator=_at_least(0)),
    ConfigDef("log.index.size.max.bytes", "int", 10485760, validator=_at_least(4)),
    ConfigDef("log.flush.interval.messages", "long", LONG_MAX, validator=_at_least(1)),
    ConfigDef("log.flush.interval.ms", "long", LONG_MAX, validator=_at_least(0)),
    ConfigDef("log.message.timestamp.type", "string", "CreateTime", validator=_one_of("CreateTime", "LogAppendTime")),
    ConfigDef("log.message.timestamp.after.max.ms", "long", 3600000),
    ConfigDef("log.message.timestamp.before.max.ms", "long", LONG_MAX),
    ConfigDef("log.cleaner.delete.retention.ms", "long", 86400000),
    ConfigDef("log.cleaner.min.compaction.lag.ms", "long", 0),
    ConfigDef("log.cleaner.max.compaction.lag.ms", "long", LONG_MAX),
    ConfigDef("log.cleaner.min.cleanable.ratio", "double", 0.5, validator=_between(0, 1)),
    # Log compaction (fluxmq/log/cleaner.py); one cleaner thread
    ConfigDef("log.cleaner.enable", "boolean", True),
    ConfigDef("log.cleaner.backoff.ms", "long", 15000, validator=_at_least(0)),
    ConfigDef("log.cleaner.dedupe.buffer.size", "long", 134217728, validator=_at_least(1)),
    ConfigDef("log.cleaner.io.buffer.load.factor", "double", 0.9, validator=_between(0.0001, 1)),
    ConfigDef("log.cleaner.io.max.bytes.per.second", "double", 1.7976931348623157e308, validator=_at_least(1)),
    ConfigDef("log.segment.delete.delay.ms", "long", 60000),
    ConfigDef("log.preallocate", "boolean", False),
    ConfigDef("compression.gzip.level", "int", -1),
    ConfigDef("compression.lz4.level", "int", 9),
    ConfigDef("compression.zstd.level", "int", 3),
    ConfigDef("log.local.retention.bytes", "long", -2),
    ConfigDef("log.local.retention.ms", "long", -2),
    ConfigDef("log.remote.copy.lag.bytes", "long", -1),
    ConfigDef("log.remote.copy.lag.ms", "long", 0),
    ConfigDef("max.decompressed.message.bytes", "int", 2147483639,
              validator=_only(2147483639, "max.decompressed.message.bytes")),
    ConfigDef("min.insync.replicas", "int", 1),
    ConfigDef("unclean.leader.election.enable", "boolean", False),
    ConfigDef("transactional.id.expiration.ms", "int", 604800000, validator=_at_least(1)),
    ConfigDef("producer.id.expiration.ms", "int", 86400000, validator=_at_least(1)),
    ConfigDef("transaction.max.timeout.ms", "int", 900000, validator=_at_least(1)),
    # --- transaction coordinator (fluxmq/txn); Kafka's names and defaults
    # The finalized transaction.version feature (FluxMQ's own key; Kafka sets
    # it with kafka-storage format --feature or kafka-features upgrade): 2 lets
    # clients use KIP-890 part 2, 1 or 0 keeps them on transaction version 1.
    ConfigDef("fluxmq.transaction.version", "int", 2, validator=_between(0, 2)),
    ConfigDef("transaction.state.log.num.partitions", "int", 50, validator=_at_least(1)),
    ConfigDef("transaction.state.log.segment.bytes", "int", 104857600, validator=_at_least(1)),
    ConfigDef("transaction.abort.timed.out.transaction.cleanup.interval.ms", "int", 10000,
              validator=_at_least(1)),
    ConfigDef("transaction.remove.expired.transaction.cleanup.interval.ms", "int", 3600000,
              validator=_at_least(1)),
    ConfigDef("offsets.topic.num.partitions", "int", 50, validator=_at_least(1)),
    ConfigDef("offsets.retention.minutes", "int", 10080, validator=_at_least(1)),
    ConfigDef("group.initial.rebalance.delay.ms", "int", 3000),
    # --- group coordinator (fluxmq/group); Kafka's names and defaults
    ConfigDef("group.min.session.timeout.ms", "int", 6000),
    ConfigDef("group.max.session.timeout.ms", "int", 1800000),
    ConfigDef("group.max.size", "int", 2147483647, validator=_at_least(1)),
    # KIP-848 consumer groups (fluxmq/group/consumer_manager.py)
    ConfigDef("group.consumer.session.timeout.ms", "int", 45000, validator=_at_least(1)),
    ConfigDef("group.consumer.heartbeat.interval.ms", "int", 5000, validator=_at_least(1)),
    ConfigDef("group.consumer.max.size", "int", 2147483647, validator=_at_least(1)),
    ConfigDef("group.consumer.assignors", "list", "uniform,range"),
    ConfigDef("offsets.retention.check.interval.ms", "long", 600000, validator=_at_least(1)),
    ConfigDef("offset.metadata.max.bytes", "int", 4096),
    ConfigDef("offsets.commit.timeout.ms", "int", 5000, validator=_at_least(1)),
    ConfigDef("offsets.load.buffer.size", "int", 5242880, validator=_at_least(1)),
    ConfigDef("offsets.topic.segment.bytes", "int", 104857600, validator=_at_least(1)),
    ConfigDef("offsets.topic.compression.codec", "int", 0),
    ConfigDef("offsets.topic.replication.factor", "int", 3, validator=_at_least(1)),
    ConfigDef("num.io.threads", "int", 1),
    ConfigDef("num.network.threads", "int", 1),
    ConfigDef("log.recovery.mode", "string", "auto"),
]
BROKER_CONFIGS: dict[str, ConfigDef] = {d.name: d for d in _BROKER_DEFS}
# Kafka's coarser twins, converted to the ms key on load.
_COARSE = {"log.retention.hours": ("log.retention.ms", 3600000),
           "log.retention.minutes": ("log.retention.ms", 60000),
           "log.roll.hours": ("log.roll.ms", 3600000)}


class BrokerConfig:
    """Effective broker configuration; `source` tells where each value came from."""

    def __init__(self):
        self.values: dict[str, object] = {n: d.default for n, d in BROKER_CONFIGS.items()}
        self.sources: dict[str, str] = {}  # name -> "STATIC_BROKER_CONFIG"

    def set(self, name: str, raw) -> None:
        if name in _COARSE:
            target, factor = _COARSE[name]
            self.set(target, int(raw) * factor)
            return
        defn = BROKER_CONFIGS.get(name)
        if defn is None:
            if name in TOPIC_CONFIGS:
                raise ValueError(f"{name} is a topic config; the broker-level key is {TOPIC_CONFIGS[name][1]}")
            # Unknown keys are kept (Kafka logs and ignores them) but never
            # change behaviour; `describe` shows them as static configs.
            self.values[name] = str(raw)
            self.sources[name] = "STATIC_BROKER_CONFIG"
            return
        self.values[name] = _parse(defn, raw)
        self.sources[name] = "STATIC_BROKER_CONFIG"
        if name in ("node.id", "broker.id"):
            self.values["node.id"] = self.values["broker.id"] = self.values[name]

    def __getitem__(self, name: str):
        return self.values[name]

    def load_properties(self, path: str) -> None:
        for key, value in read_properties(path).items():
            self.set(key, value)

    def load_environment(self, environ=os.environ) -> None:
        known = {n.upper().replace(".", "_"): n for n in list(BROKER_CONFIGS) + list(_COARSE)}
        for var, value in environ.items():
            if var.startswith("FLUXMQ_"):
                name = known.get(var[len("FLUXMQ_"):])
                if name:
                    self.set(name, value)

    def topic_default(self, name: str):
        """The value a topic config takes when the topic does not set it."""
        defn, twin = TOPIC_CONFIGS[name]
        if twin and twin in self.values:
            return self.values[twin]
        return defn.default

    def topic_default_source(self, name: str) -> str:
        _defn, twin = TOPIC_CONFIGS[name]
        return "STATIC_BROKER_CONFIG" if twin in self.sources else "DEFAULT_CONFIG"


def read_properties(path: str) -> dict[str, str]:
    """Java .properties, the subset Kafka's server.properties uses: `#`/`!`
    comments, key and value split at the first `=` or `:`, and a line ending
    in a backslash continued on the next (JAAS configs are written so)."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        lines = iter(f.read().splitlines())
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        while (len(line) - len(line.rstrip("\\"))) % 2 == 1:  # an odd count of trailing backslashes
            line = line[:-1] + next(lines, "").lstrip()
        seps = [i for i in (line.find("="), line.find(":")) if i >= 0]
        if seps:
            key, value = line[:min(seps)], line[min(seps) + 1:]
            out[key.strip()] = value.strip()
    return out


def validate_topic_configs(configs: dict[str, str | None]) -> dict[str, object]:
    """Parses topic configs given by a client; raises KafkaError(INVALID_CONFIG)."""
    parsed = {}
    for name, raw in configs.items():
        entry = TOPIC_CONFIGS.get(name)
        if entry is None:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {name}")
        if raw is None:
            continue
        try:
            parsed[name] = _parse(entry[0], raw)
        except ValueError as e:
            raise KafkaError(ErrorCode.INVALID_CONFIG,
                             f"Invalid value {raw} for configuration {name}: {e}") from None
    return parsed
