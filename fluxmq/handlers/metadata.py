"""Metadata (key 3), v0-v13.

Topics and partitions come from the metadata image: on a single node this
broker leads every partition with leader epoch 0 (stable, KIP-320),
replicas = ISR = [node]. Topics requested by name that do not exist
are auto-created when the request allows it (v4+ flag; always for v0-v3) and
auto.create.topics.enable is true, with num.partitions partitions. Unknown
names otherwise get UNKNOWN_TOPIC_OR_PARTITION, unknown ids (v10+)
UNKNOWN_TOPIC_ID, illegal names INVALID_TOPIC_EXCEPTION. v0 asks for every
topic with an empty list, v1+ with null.

With an authorizer (KafkaApis.handleTopicMetadataRequest): a request for every
topic lists only those the caller may DESCRIBE; a topic asked for by name
that it may not describe is TOPIC_AUTHORIZATION_FAILED whether it exists or
not (by id: the id is echoed, never the name), and auto-creation also needs
CREATE on the cluster or the topic. Authorized operations are filled when
asked for (v8+; cluster operations v8-v10, 0 without DESCRIBE on the
cluster), else they keep Kafka's "not requested" value. Cached answers are
keyed by principal and address, so no caller sees another's.
"""

import logging

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import AUTHORIZED_OPERATIONS_OMITTED, api
from fluxmq.metadata.controller import validate_topic_name
from fluxmq.protocol.codec import ZERO_UUID, encode_response
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 3
log = logging.getLogger("fluxmq.metadata")


def broker_list(ctx) -> list[dict]:
    """This broker, at the advertised endpoint of the listener the request came in on."""
    lst = ctx.conn.listener
    return [{"node_id": ctx.broker.node_id, "host": lst.advertised_host, "port": lst.advertised_port, "rack": None}]


def topic_metadata(topic) -> dict:
    """A topic of the metadata image: every partition's leader, leader epoch, replicas and ISR."""
    return {
        "error_code": ErrorCode.NONE, "name": topic.name, "topic_id": topic.topic_id,
        "is_internal": topic.is_internal,
        "partitions": [{"error_code": ErrorCode.NONE, "partition_index": p.index, "leader_id": p.leader,
                        "leader_epoch": p.leader_epoch, "replica_nodes": p.replicas, "isr_nodes": p.isr,
                        "offline_replicas": []} for p in topic.partitions],
        "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }


def _error_topic(name, topic_id, code) -> dict:
    return {"error_code": code, "name": name, "topic_id": topic_id or ZERO_UUID, "is_internal": False,
            "partitions": [], "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED}


class _ResponseCache:
    """Encoded responses by (version, request) for the current topic state:
    clients ask the same question often, and a 1,000-partition answer costs
    milliseconds to encode. Emptied whenever the topic metadata changes."""

    MAX_ENTRIES = 512

    def __init__(self):
        self.epoch = -1
        self.entries: dict = {}

    def get(self, epoch: int, key):
        if epoch != self.epoch:
            self.epoch, self.entries = epoch, {}
        return self.entries.get(key)

    def put(self, epoch: int, key, body: bytes) -> None:
        if epoch != self.epoch:
            self.epoch, self.entries = epoch, {}
        if len(self.entries) < self.MAX_ENTRIES:
            self.entries[key] = body


_cache = _ResponseCache()


@api(API_KEY, "Metadata", 0, 13)
def handle(ctx, request):
    image = ctx.broker.image
    topics = request.topics
    # Keyed by listener (each advertises its own endpoint), principal and address (what
    # the ACLs let it see): nothing cached is shared across any of them.
    key = (ctx.api_version, ctx.conn.listener.name, ctx.conn.principal, ctx.conn.host,
           None if topics is None else tuple((t.name, getattr(t, "topic_id", None)) for t in topics),
           request.allow_auto_topic_creation if ctx.api_version >= 4 else True,
           getattr(request, "include_topic_authorized_operations", False),
           getattr(request, "include_cluster_authorized_operations", False))
    cached = _cache.get(image.epoch, key)
    if cached is not None:
        return cached
    body = encode_response(API_KEY, ctx.api_version, _describe(ctx, request))
    _cache.put(image.epoch, key, body)  # after any auto-creation
    return body


def _describe(ctx, request) -> dict:
    broker = ctx.broker
    version = ctx.api_version
    allow_auto = request.allow_auto_topic_creation if version >= 4 else True
    requested = request.topics
    with_ops = getattr(request, "include_topic_authorized_operations", False)
    if requested is None or (version == 0 and len(requested) == 0):
        listed = broker.image.topics.values()
        if broker.authorizer is not None:  # only what the caller may describe; denials not logged (a filter)
            names = ctx.authorized_names(AclOperation.DESCRIBE, ResourceType.TOPIC, broker.image.topics)
            listed = [t for t in listed if t.name in names]
        topics = [_authorized(ctx, topic_metadata(t), with_ops) for t in listed]
    else:
        topics = [_requested_topic(ctx, rt, allow_auto, with_ops) for rt in requested]
    cluster_ops = AUTHORIZED_OPERATIONS_OMITTED
    if 8 <= version <= 10 and request.include_cluster_authorized_operations:
        cluster_ops = (ctx.authorized_operations(ResourceType.CLUSTER, CLUSTER_NAME)
                       if ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME) else 0)
    return {
        "throttle_time": 0,
        "brokers": broker_list(ctx),
        "cluster_id": broker.image.cluster_id,
        "controller_id": broker.image.controller_id,
        "topics": topics,
        "cluster_authorized_operations": cluster_ops,
        "error_code": ErrorCode.NONE,
    }


def _authorized(ctx, entry: dict, with_ops: bool) -> dict:
    if with_ops:
        entry["topic_authorized_operations"] = ctx.authorized_operations(ResourceType.TOPIC, entry["name"])
    return entry


def _requested_topic(ctx, rt, allow_auto: bool, with_ops: bool) -> dict:
    broker = ctx.broker
    name = rt.name
    topic_id = getattr(rt, "topic_id", None)
    if name is None and topic_id not in (None, ZERO_UUID):
        topic = broker.image.topics_by_id.get(topic_id)
        if topic is None:
            return _error_topic(None, topic_id, ErrorCode.UNKNOWN_TOPIC_ID)
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, topic.name):
            return _error_topic(None, topic_id, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
        return _authorized(ctx, topic_metadata(topic), with_ops)
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, name or ""):
        return _error_topic(name, None, ErrorCode.TOPIC_AUTHORIZATION_FAILED)  # exists or not: not disclosed
    if allow_auto and name not in broker.image.topics and broker.config["auto.create.topics.enable"] \
            and not ctx.may_create_topic(name or ""):
        return _error_topic(name, None, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    try:
        validate_topic_name(name or "")
        entry = topic_metadata(broker.controller.topic_or_auto_create(name, allow_auto))
    except KafkaError as e:
        if e.code == ErrorCode.INVALID_TOPIC_EXCEPTION:
            log.info("metadata request from %s names an invalid topic %r: %s", ctx.client_id, name, e)
        entry = _error_topic(name, None, e.code)
    return _authorized(ctx, entry, with_ops)
