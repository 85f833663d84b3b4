"""One module per Kafka API. Each registers its version range next to its
handler with @api; ApiVersions is derived from this registry, so an API is
advertised exactly when a handler for it is loaded.

A handler takes (ctx, request) - request is the kio entity of the negotiated
version - and returns the response as a dict (see protocol/codec.py), an
awaitable of one (delayed operations: acks=all, long-poll fetch), NO_RESPONSE
(acks=0 produce), or a RawResponse (hand-framed Fetch).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from dataclasses import dataclass
from typing import Callable

from fluxmq.errors import ErrorCode

NO_RESPONSE = object()
# Kafka's "authorized operations not requested" (or not computed): Integer.MIN_VALUE.
AUTHORIZED_OPERATIONS_OMITTED = -2147483648


@dataclass(frozen=True)
class RawResponse:
    """A body the handler framed itself: bytes and FileRange parts (Fetch)."""
    parts: list
    length: int


@dataclass(frozen=True)
class ApiHandler:
    api_key: int
    name: str
    min_version: int  # advertised
    max_version: int
    fn: Callable
    min_served: int   # lowest version actually served; below it: UNSUPPORTED_VERSION


REGISTRY: dict[int, ApiHandler] = {}


def then(value, fn):
    """fn(response), now or once an awaitable response is ready (the group
    handlers shape coordinator responses for the negotiated version with it)."""
    if type(value) is not list and inspect.isawaitable(value):  # lists: the common, ready case
        async def chained():
            return fn(await value)
        return chained()
    return fn(value)


def answer_refusal(sasl, response: dict):
    """A refusal goes out after connection.failed.authentication.delay.ms, as
    Kafka's does (the connection then closes: SaslAuthenticator.close_reason)."""
    delay_ms = sasl.config.failed_delay_ms
    if delay_ms <= 0:
        return response

    async def later():
        await asyncio.sleep(delay_ms / 1000)
        return response
    return later()


def request_topic(image, t):
    """(topic or None, the request's reference to it, the error if unknown) for a
    group request's topic entry: named by topic id from OffsetCommit/OffsetFetch
    v10 (KIP-848; unknown: UNKNOWN_TOPIC_ID), else by name."""
    if not hasattr(t, "name"):  # kio reads the zero uuid as None
        return image.topics_by_id.get(t.topic_id), t.topic_id, ErrorCode.UNKNOWN_TOPIC_ID
    return image.topics.get(t.name), t.name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def known_partitions(image, topics, entry, allowed=None):
    """Splits a group request's topics the way KafkaApis checks ACLs and metadata
    before asking the coordinator: ([(topic name, [entry(p), ...])] for partitions
    this broker has, {(topic reference, partition): error} for the rest (an unknown
    topic id, UNKNOWN_TOPIC_ID; a topic name for which allowed(name) is false,
    TOPIC_AUTHORIZATION_FAILED, whether it exists or not; an unknown topic,
    UNKNOWN_TOPIC_OR_PARTITION; a partition the topic does not have,
    UNKNOWN_TOPIC_OR_PARTITION)."""
    valid, errors = [], {}
    for t in topics:
        topic, ref, unknown = request_topic(image, t)
        name = topic.name if topic is not None else getattr(t, "name", None)
        if allowed is not None and (topic is not None or unknown != ErrorCode.UNKNOWN_TOPIC_ID) \
                and not allowed(name):
            for p in t.partitions:
                errors[(ref, p.partition_index)] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            continue
        parts = []
        for p in t.partitions:
            if topic is None:
                errors[(ref, p.partition_index)] = unknown
            elif topic.partition(p.partition_index) is None:
                errors[(ref, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                parts.append(entry(p))
        if parts:
            valid.append((topic.name, parts))
    return valid, errors


def partition_errors(image, topics, coordinator_topics, errors) -> list[dict]:
    """Every requested partition in request order with its error: the one
    decided by the handler (`errors`), else the coordinator's, else NONE."""
    coordinator = {(t["name"], p["partition_index"]): p["error_code"]
                   for t in coordinator_topics for p in t["partitions"]}
    out = []
    for t in topics:
        topic, ref, _unknown = request_topic(image, t)
        name = topic.name if topic is not None else None
        out.append({"name": getattr(t, "name", None), "topic_id": getattr(t, "topic_id", None), "partitions": [
            {"partition_index": p.partition_index,
             "error_code": errors.get((ref, p.partition_index),
                                      coordinator.get((name, p.partition_index), ErrorCode.NONE))}
            for p in t.partitions]})
    return out


# Config resource types (ConfigResource.Type) -> the ACL resource that guards them, and its error.
_CONFIG_RESOURCE_ACL = {2: ("TOPIC", ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed."),
                        4: ("CLUSTER", ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed."),
                        8: ("CLUSTER", ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed."),
                        16: ("CLUSTER", ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed."),
                        32: ("GROUP", ErrorCode.GROUP_AUTHORIZATION_FAILED, "Group authorization failed.")}


def config_resource_refusal(ctx, op, resource_type: int, name: str):
    """The KafkaError for a config resource the caller may not `op` (DESCRIBE_CONFIGS
    or ALTER_CONFIGS; ConfigHelper and ControllerApis), or None: brokers, broker
    loggers and client metrics are guarded by the cluster, topics and groups by themselves."""
    from fluxmq.errors import KafkaError
    from fluxmq.security.acl import CLUSTER_NAME, ResourceType
    acl_type, code, message = _CONFIG_RESOURCE_ACL[resource_type]
    if ctx.authorize(op, ResourceType[acl_type], CLUSTER_NAME if acl_type == "CLUSTER" else name):
        return None
    return KafkaError(code, message)


def acl_api_refusal(ctx, op, disabled_message: str = "No Authorizer is configured."):
    """(error, message) when an ACL API may not run (Kafka's AclApis): the caller lacks `op`
    (DESCRIBE or ALTER) on the cluster, or there is no authorizer; else None."""
    from fluxmq.security.acl import CLUSTER_NAME, ResourceType
    if not ctx.authorize(op, ResourceType.CLUSTER, CLUSTER_NAME):
        return ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None
    if ctx.broker.authorizer is None:
        return ErrorCode.SECURITY_DISABLED, disabled_message
    return None


def api(api_key: int, name: str, min_version: int, max_version: int, min_served: int | None = None):
    def register(fn):
        REGISTRY[api_key] = ApiHandler(api_key, name, min_version, max_version, fn,
                                       min_version if min_served is None else min_served)
        return fn
    return register


MODULES = (
    "api_versions", "metadata", "produce", "fetch", "list_offsets",
    "create_topics", "delete_topics", "create_partitions", "describe_configs",
    "alter_configs", "incremental_alter_configs", "describe_cluster", "delete_records",
    "describe_log_dirs", "describe_topic_partitions",
    "init_producer_id", "offset_for_leader_epoch",
    # transactions (fluxmq/txn)
    "add_partitions_to_txn", "add_offsets_to_txn", "end_txn", "txn_offset_commit",
    "describe_transactions", "list_transactions", "describe_producers", "write_txn_markers",
    # consumer groups (fluxmq/group)
    "find_coordinator", "join_group", "sync_group", "heartbeat", "leave_group", "offset_commit",
    "offset_fetch", "describe_groups", "list_groups", "delete_groups", "offset_delete",
    "consumer_group_heartbeat", "consumer_group_describe",  # KIP-848
    # SASL (fluxmq/security)
    "sasl_handshake", "sasl_authenticate", "describe_user_scram_credentials", "alter_user_scram_credentials",
    "describe_client_quotas",
    # ACLs (fluxmq/security/authorizer.py)
    "describe_acls", "create_acls", "delete_acls",
)


def load_all() -> dict[int, ApiHandler]:
    for name in MODULES:
        try:
            importlib.import_module(f"fluxmq.handlers.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"fluxmq.handlers.{name}":
                raise
    return REGISTRY
