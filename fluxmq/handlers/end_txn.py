"""EndTxn (key 26), v0-v5: commits or aborts the producer's transaction.

The answer comes once PrepareCommit / PrepareAbort is durable in
__transaction_state; the markers follow (fluxmq/txn/coordinator.py).
Needs WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
PRODUCER_FENCED from v2; older versions get INVALID_PRODUCER_EPOCH. v5's
producer id and epoch (KIP-890 part 2) are the request's: transaction
version 2 is not advertised, so the epoch does not change here.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api, then
from fluxmq.handlers.init_producer_id import fenced_error
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 26


@api(API_KEY, "EndTxn", 0, 5)
def handle(ctx, request):
    version = ctx.api_version

    def respond(code):
        return {"throttle_time": 0, "error_code": fenced_error(code, version, 2),
                "producer_id": request.producer_id, "producer_epoch": request.producer_epoch}
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id):
        return respond(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    return then(ctx.broker.transactions.run("end_txn", request.transactional_id, request.producer_id,
                                            request.producer_epoch, request.committed), respond)
