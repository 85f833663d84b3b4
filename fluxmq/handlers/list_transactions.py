"""ListTransactions (key 66), v0-v2 (KIP-664; `kafka-transactions list`).

Filters: states (a name that is not a state comes back in
unknown_state_filters), producer ids, v1 a minimum running time in ms
(KIP-994), v2 a transactional id regular expression that must match the
whole id (KIP-1152). Only transactional ids the caller may DESCRIBE are
listed.
"""

import re

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import AclOperation, ResourceType
from fluxmq.txn.metadata import TxnState

API_KEY = 66
STATE_NAMES = {s.kafka_name for s in TxnState}


@api(API_KEY, "ListTransactions", 0, 2)
def handle(ctx, request):
    states = set(request.state_filters)
    unknown = sorted(states - STATE_NAMES)
    pattern = getattr(request, "transactional_id_pattern", None)
    try:
        regex = re.compile(pattern) if pattern else None
    except re.error:
        return {"throttle_time": 0, "error_code": ErrorCode.INVALID_REGULAR_EXPRESSION, "unknown_state_filters": [],
                "transaction_states": []}
    found = ctx.broker.transactions.coordinator.list(states & STATE_NAMES if states else set(),
                                                     set(request.producer_id_filters),
                                                     getattr(request, "duration_filter", -1))
    if states and not states & STATE_NAMES:
        found = []  # only unknown states asked for: nothing matches
    listed = [{"transactional_id": m.transactional_id, "producer_id": m.producer_id,
               "transaction_state": m.state.kafka_name}
              for m in found
              if (regex is None or regex.fullmatch(m.transactional_id))
              and ctx.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, m.transactional_id,
                                log_denied=False)]
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "unknown_state_filters": unknown,
            "transaction_states": listed}
