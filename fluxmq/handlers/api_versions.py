"""ApiVersions (key 18), v0-v5.

The response header is always v0 (KIP-511: the client cannot know yet whether
the broker speaks flexible versions). A request of a version above v5 is
answered with UNSUPPORTED_VERSION in a v0 body that still lists the APIs, so
the client can retry with a version both sides know. The list is derived
from the handler registry.

Features (KIP-584), v3+: transaction.version is supported from 0 to 2 and
finalized at fluxmq.transaction.version; at 2 the Java producer uses
KIP-890 part 2 (TransactionManager.maybeUpdateTransactionV2Enabled). As in
Kafka, a finalized level 0 is not listed, and below v4 a supported feature
whose minimum is 0 is left out (clients before KIP-1022 reject it). The
epoch is the metadata image's, which only grows while the broker runs; the
client reads the features again when it grows.

Checks, as Kafka 4.4 answers them (KafkaApis.handleApiVersionsRequest), each
with an empty API list:
- v3+: client_software_name and client_software_version must match
  [a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])? (KIP-511), else INVALID_REQUEST;
- v5 (KIP-1242): cluster_id and node_id come together (both set or null/-1),
  else INVALID_REQUEST; a cluster_id or node_id that is not this broker's is
  REBOOTSTRAP_REQUIRED, which tells the client it was pointed at another
  cluster (or another node behind the same address) and must bootstrap again.
"""

import logging
import re

from fluxmq.errors import ErrorCode
from fluxmq.handlers import REGISTRY, api

API_KEY = 18
NO_NODE_ID = -1
_SOFTWARE_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")
log = logging.getLogger("fluxmq.api_versions")


SUPPORTED_FEATURES = {"transaction.version": (0, 2)}


def _supported_features(version: int) -> list[dict]:
    return [{"name": name, "min_version": low, "max_version": high}
            for name, (low, high) in SUPPORTED_FEATURES.items() if version >= 4 or low > 0]


def _finalized_features(broker) -> list[dict]:
    level = broker.config["fluxmq.transaction.version"]
    return [{"name": "transaction.version", "max_version_level": level, "min_version_level": level}] if level else []


def api_keys() -> list[dict]:
    return [{"api_key": h.api_key, "min_version": h.min_version, "max_version": h.max_version}
            for h in sorted(REGISTRY.values(), key=lambda h: h.api_key)]


def unsupported_version_body() -> dict:
    return {"error_code": ErrorCode.UNSUPPORTED_VERSION, "api_keys": api_keys(), "throttle_time": 0}


def _error(code: ErrorCode) -> dict:
    return {"error_code": code, "api_keys": [], "throttle_time": 0}


def _invalid(ctx, request) -> str | None:
    """Why the request is invalid (Kafka's ApiVersionsRequest.isValid), or None."""
    if ctx.api_version >= 3:
        for field in ("client_software_name", "client_software_version"):
            if not _SOFTWARE_NAME.fullmatch(getattr(request, field)):
                return f"{field} {getattr(request, field)!r} is not of the form {_SOFTWARE_NAME.pattern}"
    if ctx.api_version >= 5 and (request.cluster_id is None) != (request.node_id == NO_NODE_ID):
        return "cluster_id and node_id must be given together"
    return None


@api(API_KEY, "ApiVersions", 0, 5)
def handle(ctx, request):
    reason = _invalid(ctx, request)
    if reason is not None:
        log.info("ApiVersions v%d from %s is invalid (INVALID_REQUEST): %s", ctx.api_version, ctx.client_id, reason)
        return _error(ErrorCode.INVALID_REQUEST)
    if ctx.api_version >= 5 and request.cluster_id is not None:
        broker = ctx.broker
        if request.cluster_id != broker.image.cluster_id or request.node_id != broker.node_id:
            log.info("ApiVersions from %s expects cluster %s node %d, this is cluster %s node %d: "
                     "REBOOTSTRAP_REQUIRED", ctx.client_id, request.cluster_id, request.node_id,
                     broker.image.cluster_id, broker.node_id)
            return _error(ErrorCode.REBOOTSTRAP_REQUIRED)
    broker = ctx.broker
    return {"error_code": ErrorCode.NONE, "api_keys": api_keys(), "throttle_time": 0,
            "finalized_features_epoch": broker.image.epoch, "supported_features": _supported_features(ctx.api_version),
            "finalized_features": _finalized_features(broker), "zk_migration_ready": False}
