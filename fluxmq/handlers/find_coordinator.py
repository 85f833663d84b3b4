"""FindCoordinator (key 10), v0-v6.

v0-v3 look up one key; v4+ (KIP-699) a batch of coordinator_keys of one
key_type, each answered on its own. This broker leads every partition of the
internal topics, so it is the coordinator of every group:
- key_type 0 (group): this node. __consumer_offsets is created on first use
  (offsets.topic.num.partitions partitions, compacted); Kafka answers
  COORDINATOR_NOT_AVAILABLE while it creates the topic, we create it at once.
- key_type 1 (transaction): this node, once the caller may DESCRIBE the
  transactional id (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  __transaction_state is created on first use
  (transaction.state.log.num.partitions partitions, compacted).
- key_type 2 (share group, v6): INVALID_REQUEST before v6, as Kafka; share
  groups are not built, so COORDINATOR_NOT_AVAILABLE.
- any other key_type: INVALID_REQUEST.
Errors carry node_id -1, host "" and port -1 (Kafka's Node.noNode).
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 10
GROUP, TRANSACTION, SHARE = 0, 1, 2


def lookup(ctx, key_type: int, key: str) -> tuple[ErrorCode, str | None, int, str, int]:
    """(error, message, node id, host, port) for one key."""
    broker = ctx.broker
    if key_type == GROUP:
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, key):
            return ErrorCode.GROUP_AUTHORIZATION_FAILED, "", -1, "", -1  # as Kafka 4.4: an empty message
        error = broker.groups.ensure_topic()
        if error is not None:
            return error, "The group coordinator is not available.", -1, "", -1
        lst = ctx.conn.listener
        return ErrorCode.NONE, None, broker.node_id, lst.advertised_host, lst.advertised_port
    if key_type == TRANSACTION:
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, key):
            return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "", -1, "", -1
        error = broker.transactions.ensure_topic()
        if error is not None:
            return error, "The coordinator is not available.", -1, "", -1
        lst = ctx.conn.listener
        return ErrorCode.NONE, None, broker.node_id, lst.advertised_host, lst.advertised_port
    if key_type == SHARE and ctx.api_version >= 6:
        return (ErrorCode.COORDINATOR_NOT_AVAILABLE,
                "FluxMQ has no share group coordinator (see docs/skipped_features.md)", -1, "", -1)
    return ErrorCode.INVALID_REQUEST, f"Invalid coordinator key type {key_type}", -1, "", -1


@api(API_KEY, "FindCoordinator", 0, 6)
def handle(ctx, request):
    key_type = getattr(request, "key_type", GROUP)
    if ctx.api_version >= 4:
        coordinators = []
        for key in request.coordinator_keys:
            code, message, node, host, port = lookup(ctx, key_type, key)
            coordinators.append({"key": key, "node_id": node, "host": host, "port": port,
                                 "error_code": code, "error_message": message})
        return {"throttle_time": 0, "coordinators": coordinators}
    code, message, node, host, port = lookup(ctx, key_type, request.key)
    return {"throttle_time": 0, "error_code": code, "error_message": message, "node_id": node,
            "host": host, "port": port}
