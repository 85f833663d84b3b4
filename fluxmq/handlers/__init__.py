"""One module per Kafka API. Each registers its version range next to its
handler with @api; ApiVersions is derived from this registry, so an API is
advertised exactly when a handler for it is loaded.

A handler takes (ctx, request) - request is the kio entity of the negotiated
version - and returns the response as a dict (see protocol/codec.py), an
awaitable of one (delayed operations: acks=all, long-poll fetch), NO_RESPONSE
(acks=0 produce), or a RawResponse (hand-framed Fetch).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Callable

from fluxmq.errors import ErrorCode

NO_RESPONSE = object()


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
    if inspect.isawaitable(value):
        async def chained():
            return fn(await value)
        return chained()
    return fn(value)


def known_partitions(logs, topics, entry):
    """Splits a group request's topics the way KafkaApis checks metadata before
    asking the coordinator: ([(topic name, [entry(p), ...])] for partitions this
    broker has, {(topic, partition): UNKNOWN_TOPIC_OR_PARTITION} for the rest)."""
    valid, errors = [], {}
    for t in topics:
        topic = logs.topics.get(t.name)
        parts = []
        for p in t.partitions:
            if topic is None or not 0 <= p.partition_index < topic.partitions:
                errors[(t.name, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                parts.append(entry(p))
        if parts:
            valid.append((t.name, parts))
    return valid, errors


def partition_errors(topics, coordinator_topics, errors) -> list[dict]:
    """Every requested partition in request order with its error: the one
    decided by the handler (`errors`), else the coordinator's, else NONE."""
    coordinator = {(t["name"], p["partition_index"]): p["error_code"]
                   for t in coordinator_topics for p in t["partitions"]}
    return [{"name": t.name, "partitions": [
        {"partition_index": p.partition_index,
         "error_code": errors.get((t.name, p.partition_index),
                                  coordinator.get((t.name, p.partition_index), ErrorCode.NONE))}
        for p in t.partitions]} for t in topics]


def api(api_key: int, name: str, min_version: int, max_version: int, min_served: int | None = None):
    def register(fn):
        REGISTRY[api_key] = ApiHandler(api_key, name, min_version, max_version, fn,
                                       min_version if min_served is None else min_served)
        return fn
    return register


MODULES = (
    "api_versions", "metadata", "produce", "fetch", "list_offsets",
    "create_topics", "delete_topics", "create_partitions", "describe_configs",
    "alter_configs", "incremental_alter_configs", "describe_cluster",
    "init_producer_id", "offset_for_leader_epoch",
    # consumer groups (fluxmq/group)
    "find_coordinator", "join_group", "sync_group", "heartbeat", "leave_group", "offset_commit",
    "offset_fetch", "describe_groups", "list_groups", "delete_groups", "offset_delete",
    "consumer_group_heartbeat", "consumer_group_describe",  # KIP-848
)


def load_all() -> dict[int, ApiHandler]:
    for name in MODULES:
        try:
            importlib.import_module(f"fluxmq.handlers.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"fluxmq.handlers.{name}":
                raise
    return REGISTRY
