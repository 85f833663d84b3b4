"""DescribeTransactions (key 65), v0 (KIP-664; `kafka-transactions describe`).

Each transactional id needs DESCRIBE (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
an unknown one is TRANSACTIONAL_ID_NOT_FOUND. The partitions listed are those
of topics the caller may DESCRIBE, as Kafka filters them.
"""

import datetime

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 65
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _time(ms: int) -> datetime.datetime:
    """The start time as kio writes it; -1 (no transaction) stays -1, which the codec would make null."""
    return _EPOCH + datetime.timedelta(milliseconds=ms)


def _state(ctx, transactional_id: str) -> dict:
    out = {"error_code": ErrorCode.NONE, "transactional_id": transactional_id, "transaction_state": "",
           "transaction_timeout": 0, "transaction_start_time": _time(-1), "producer_id": -1, "producer_epoch": -1,
           "topics": []}
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return dict(out, error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    meta = ctx.broker.transactions.coordinator.describe(transactional_id)
    if meta is None:
        return dict(out, error_code=ErrorCode.TRANSACTIONAL_ID_NOT_FOUND)
    by_topic: dict[str, list[int]] = {}
    for topic, index in sorted(meta.partitions):
        if ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, topic, log_denied=False):
            by_topic.setdefault(topic, []).append(index)
    return dict(out, transaction_state=meta.state.kafka_name, transaction_timeout=meta.timeout_ms,
                transaction_start_time=_time(meta.start_ms), producer_id=meta.producer_id,
                producer_epoch=meta.producer_epoch,
                topics=[{"topic": t, "partitions": ps} for t, ps in by_topic.items()])


@api(API_KEY, "DescribeTransactions", 0, 0)
def handle(ctx, request):
    return {"throttle_time": 0, "transaction_states": [_state(ctx, t) for t in request.transactional_ids]}
