"""AlterUserScramCredentials (key 51), v0 (KIP-554).

Deletions and upsertions of SCRAM credentials; an upsertion carries the salt,
the iteration count and the salted password the client computed, from which
the controller derives the stored and server keys (metadata/controller.py,
security/scram.py). One result per user, with Kafka's error codes.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 51


@api(API_KEY, "AlterUserScramCredentials", 0, 0)
def handle(ctx, request):
    if not ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER, CLUSTER_NAME):
        users = dict.fromkeys([d.name for d in request.deletions] + [u.name for u in request.upsertions])
        return {"throttle_time": 0, "results": [{"user": u, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                                                 "error_message": "Cluster authorization failed."} for u in users]}
    results = ctx.broker.controller.alter_user_scram_credentials(
        [(d.name, d.mechanism) for d in request.deletions],
        [(u.name, u.mechanism, u.iterations, u.salt, u.salted_password) for u in request.upsertions])
    return {"throttle_time": 0, "results": [{"user": user, "error_code": code, "error_message": message}
                                            for user, code, message in results]}
