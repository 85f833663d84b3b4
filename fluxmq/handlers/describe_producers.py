"""DescribeProducers (key 61), v0 (KIP-664; `kafka-transactions
describe-producers` and find-hanging): the producers a partition tracks.

Each partition needs READ on its topic (TOPIC_AUTHORIZATION_FAILED); an
unknown one is UNKNOWN_TOPIC_OR_PARTITION. A producer's last sequence is -1
when it has only written markers; current_txn_start_offset is the first
offset of its open transaction, or -1; coordinator_epoch is the one of its
last marker, or -1.
"""

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 61


def _partition(ctx, topic: str, index: int) -> dict:
    out = {"partition_index": index, "error_code": ErrorCode.NONE, "error_message": None, "active_producers": []}
    if not ctx.authorize(AclOperation.READ, ResourceType.TOPIC, topic):
        return dict(out, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    try:
        p = ctx.broker.replica_manager.partition(topic, index)
        p.check_leader()
    except KafkaError as e:
        return dict(out, error_code=e.code, error_message=e.message)
    state = p.log.producer_state
    return dict(out, active_producers=[
        {"producer_id": pid, "producer_epoch": e.epoch, "last_sequence": e.last_seq,
         "last_timestamp": e.last_timestamp, "coordinator_epoch": e.coordinator_epoch,
         "current_txn_start_offset": state.ongoing.get(pid, -1)}
        for pid, e in state.producers.items()])


@api(API_KEY, "DescribeProducers", 0, 0)
def handle(ctx, request):
    return {"throttle_time": 0, "topics": [
        {"name": t.name, "partitions": [_partition(ctx, t.name, i) for i in t.partition_indexes]}
        for t in request.topics]}
