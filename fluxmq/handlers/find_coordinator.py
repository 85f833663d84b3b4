"""FindCoordinator (key 10), v0-v6.

v0-v3 look up one key; v4+ (KIP-699) a batch of coordinator_keys of one
key_type, each answered on its own. This broker leads every partition of the
internal topics, so it is the coordinator of every group:
- key_type 0 (group): this node. __consumer_offsets is created on first use
  (offsets.topic.num.partitions partitions, compacted); Kafka answers
  COORDINATOR_NOT_AVAILABLE while it creates the topic, we create it at once.
- key_type 1 (transaction): transactions are not built yet
  (docs/skipped_features.md), so TRANSACTIONAL_ID_AUTHORIZATION_FAILED with a
  message that says so, and a log line. It is the one error every client
  treats as fatal here (librdkafka, the Java producer, kafka-python,
  aiokafka), so a transactional producer fails at once;
  COORDINATOR_NOT_AVAILABLE is retriable, and transactional producers
  retried it until their timeout (DESIGN rule 13). librdkafka shows the
  message; Java reports an authorization failure of the transactional.id.
- key_type 2 (share group, v6): INVALID_REQUEST before v6, as Kafka; share
  groups are not built, so COORDINATOR_NOT_AVAILABLE.
- any other key_type: INVALID_REQUEST.
Errors carry node_id -1, host "" and port -1 (Kafka's Node.noNode).
"""

import logging

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 10
GROUP, TRANSACTION, SHARE = 0, 1, 2
NO_TRANSACTIONS = ("FluxMQ does not support transactions yet (see docs/skipped_features.md); "
                   "this is not an authorization problem")
log = logging.getLogger("fluxmq.txn")


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
        log.warning("FindCoordinator for a transaction from %s refused: transactions are not supported yet",
                    ctx.client_id)
        return (ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, NO_TRANSACTIONS, -1, "", -1)
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
