"""DescribeUserScramCredentials (key 50), v0 (KIP-554).

The mechanisms and iteration counts of each user's SCRAM credentials (never
the keys); no users listed means every user. Unknown users are
RESOURCE_NOT_FOUND, a user asked twice DUPLICATE_RESOURCE, with Kafka's
messages (metadata/image.py).
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 50


@api(API_KEY, "DescribeUserScramCredentials", 0, 0)
def handle(ctx, request):
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                "error_message": "Cluster authorization failed.", "results": []}
    users = [u.name for u in request.users] if request.users else None
    results = ctx.broker.image.describe_scram_credentials(users)
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "error_message": None, "results": [
        {"user": user, "error_code": code, "error_message": message,
         "credential_infos": [{"mechanism": m, "iterations": i} for m, i in infos]}
        for user, code, message, infos in results]}
