"""EndTxn (key 26), v0-v5: commits or aborts the producer's transaction.

The answer comes once PrepareCommit / PrepareAbort is durable in
__transaction_state; the markers follow (fluxmq/txn/coordinator.py).
Needs WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
PRODUCER_FENCED from v2; older versions get INVALID_PRODUCER_EPOCH.

v5 is transaction version 2 (KIP-890 part 2), which clients use when
ApiVersions finalizes it: the coordinator bumps the epoch and the response
carries the producer id and epoch of the client's next transaction.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api, then
from fluxmq.handlers.init_producer_id import fenced_error
from fluxmq.security.acl import AclOperation, ResourceType
from fluxmq.txn.coordinator import TV1, TV2, EndTxnResult

API_KEY = 26
TV2_VERSION = 5  # Kafka's TransactionVersion.transactionVersionForEndTxn


@api(API_KEY, "EndTxn", 0, 5)
def handle(ctx, request):
    version = ctx.api_version

    def respond(result: EndTxnResult):
        return {"throttle_time": 0, "error_code": fenced_error(result.error, version, 2),
                "producer_id": result.producer_id, "producer_epoch": result.producer_epoch}
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id):
        return respond(EndTxnResult(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED))
    return then(ctx.broker.transactions.run("end_txn", request.transactional_id, request.producer_id,
                                            request.producer_epoch, request.committed,
                                            TV2 if version >= TV2_VERSION else TV1), respond)
