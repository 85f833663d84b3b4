"""WriteTxnMarkers (key 27), v1-v2: COMMIT / ABORT markers written to this
broker's partitions. The transaction coordinator writes its own markers in
process (fluxmq/txn/runtime.py); this API serves Admin.abortTransaction
(`kafka-transactions abort`), which ends a hanging transaction on a
partition. Needs CLUSTER_ACTION on the cluster (CLUSTER_AUTHORIZATION_FAILED
for every partition). A marker on a __consumer_offsets partition also ends
the producer's transactional offset commits there. v2 adds the client's
transaction version, which changes nothing here: under version 2 the
marker's epoch is already the bumped one (KIP-890 part 2).
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 27


@api(API_KEY, "WriteTxnMarkers", 1, 2)
def handle(ctx, request):
    allowed = ctx.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME)
    results = []
    for m in request.markers:
        targets = [(t.name, i) for t in m.topics for i in t.partition_indexes]
        if allowed:
            errors = ctx.broker.write_markers(targets, m.producer_id, m.producer_epoch, m.transaction_result,
                                              m.coordinator_epoch)
        else:
            errors = [ErrorCode.CLUSTER_AUTHORIZATION_FAILED] * len(targets)
        by_topic: dict[str, list] = {}
        for (topic, index), code in zip(targets, errors):
            by_topic.setdefault(topic, []).append({"partition_index": index, "error_code": code})
        results.append({"producer_id": m.producer_id,
                        "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()]})
    return {"markers": results}
