"""ApiVersions (key 18), v0-v4.

The response header is always v0 (KIP-511: the client cannot know yet whether
the broker speaks flexible versions). A request of a version above v4 is
answered with UNSUPPORTED_VERSION in a v0 body that still lists the APIs, so
the client can retry with a version both sides know. The list is derived
from the handler registry. No feature flags are advertised (no KRaft
features to negotiate on a single node).
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import REGISTRY, api

API_KEY = 18


def api_keys() -> list[dict]:
    return [{"api_key": h.api_key, "min_version": h.min_version, "max_version": h.max_version}
            for h in sorted(REGISTRY.values(), key=lambda h: h.api_key)]


def unsupported_version_body() -> dict:
    return {"error_code": ErrorCode.UNSUPPORTED_VERSION, "api_keys": api_keys(), "throttle_time": 0}


@api(API_KEY, "ApiVersions", 0, 4)
def handle(ctx, request):
    return {"error_code": ErrorCode.NONE, "api_keys": api_keys(), "throttle_time": 0,
            "finalized_features_epoch": -1, "supported_features": (), "finalized_features": (),
            "zk_migration_ready": False}
