"""InitProducerId (key 22), v0-v5.

Idempotent producers (transactional_id null) get a new producer id with
epoch 0, whatever producer_id/producer_epoch they send: Kafka's
TransactionCoordinator "blindly accepts" them and never bumps an epoch for a
non-transactional producer (the client bumps it locally, KIP-360). Ids come
from fluxmq.txn.producer_ids: unique across restarts.

Checks, in Kafka's order: producer_id and producer_epoch (v3+) must be both
-1 or both set (INVALID_REQUEST); an empty transactional_id is
INVALID_REQUEST; for a transactional_id, transaction_timeout must be in
(0, transaction.max.timeout.ms] (INVALID_TRANSACTION_TIMEOUT).

A transactional_id goes to the transaction coordinator (fluxmq/txn): the
epoch is bumped (the previous incarnation is fenced), an ongoing transaction
is aborted first (CONCURRENT_TRANSACTIONS: the client retries), and a
producer that names its current id and epoch (KIP-360, v3+) keeps its id;
any other id and epoch is PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v4).
"""

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api, then
from fluxmq.protocol.codec import to_ms
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 22
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1


def _response(code, producer_id=NO_PRODUCER_ID, epoch=NO_PRODUCER_EPOCH) -> dict:
    return {"throttle_time": 0, "error_code": code, "producer_id": producer_id, "producer_epoch": epoch}


@api(API_KEY, "InitProducerId", 0, 5)
def handle(ctx, request):
    broker = ctx.broker
    producer_id = getattr(request, "producer_id", NO_PRODUCER_ID)
    epoch = getattr(request, "producer_epoch", NO_PRODUCER_EPOCH)
    if (producer_id == NO_PRODUCER_ID) != (epoch == NO_PRODUCER_EPOCH):
        return _response(ErrorCode.INVALID_REQUEST)
    transactional_id = request.transactional_id
    if transactional_id is None:
        # An idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
        if not (ctx.authorize(AclOperation.IDEMPOTENT_WRITE, ResourceType.CLUSTER, CLUSTER_NAME, log_denied=False)
                or ctx.authorize_by_resource_type(AclOperation.WRITE, ResourceType.TOPIC)):
            return _response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
        try:
            return _response(ErrorCode.NONE, broker.producer_ids.generate(), 0)
        except KafkaError as e:
            return _response(e.code)
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return _response(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    if transactional_id == "":
        return _response(ErrorCode.INVALID_REQUEST)
    timeout = to_ms(request.transaction_timeout)
    if not 0 < timeout <= broker.config["transaction.max.timeout.ms"]:
        return _response(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
    result = broker.transactions.run("init_producer_id", transactional_id, timeout, producer_id, epoch)
    return then(result, lambda r: _response(fenced_error(r.error, ctx.api_version, 4), r.producer_id,
                                            r.producer_epoch))


def fenced_error(code: ErrorCode, version: int, first_version: int) -> ErrorCode:
    """PRODUCER_FENCED is answered from `first_version` of an API on; older
    versions get INVALID_PRODUCER_EPOCH, as Kafka answers them."""
    return ErrorCode.INVALID_PRODUCER_EPOCH if code == ErrorCode.PRODUCER_FENCED and version < first_version else code
