"""DeleteTopics (key 20), v1-v6 (v0 was removed in Kafka 4, KIP-896).

v1-v5 name topics; v6 names each by name or by topic id (KIP-516), as
Kafka's ControllerApis.deleteTopics checks them:
- neither name nor id, or both: INVALID_REQUEST;
- a name or id given twice, or a name whose id was also given:
  INVALID_REQUEST;
- an unknown name: UNKNOWN_TOPIC_OR_PARTITION; an unknown id:
  UNKNOWN_TOPIC_ID (v6 answers it with a null name).
With delete.topic.enable=false every topic gets TOPIC_DELETION_DISABLED
(INVALID_REQUEST below v3). A deleted topic's partitions and data are gone
when the response is sent. error_message exists from v5. Kafka shuffles the
results; FluxMQ keeps request order, then the duplicates.
"""

from __future__ import annotations

import logging

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api
from fluxmq.protocol.codec import ZERO_UUID
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 20
UNKNOWN_TOPIC_MESSAGE = "This server does not host this topic-partition."
UNKNOWN_TOPIC_ID_MESSAGE = "This server does not host this topic ID."
log = logging.getLogger("fluxmq.admin")


def _result(name, topic_id, code=ErrorCode.NONE, message=None) -> dict:
    return {"name": name, "topic_id": topic_id or ZERO_UUID, "error_code": code, "error_message": message}


def _refusal(ctx, name, topic_id, topic) -> dict | None:
    """TOPIC_AUTHORIZATION_FAILED unless the caller may DELETE the topic (or anything:
    DELETE on the cluster), as ControllerApis.deleteTopics decides: a name the caller
    may describe but that does not exist is left to answer UNKNOWN_TOPIC_OR_PARTITION;
    a topic named by id keeps its name in the answer only if the caller may describe it."""
    target = name if name is not None else (topic.name if topic is not None else None)
    if target is None or ctx.authorize(AclOperation.DELETE, ResourceType.TOPIC, target):
        return None
    describable = ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, target, log_denied=False)
    if name is not None:
        return None if describable and topic is None else _result(name, ZERO_UUID, *DENIED)
    return _result(target if describable else None, topic_id, *DENIED)


DENIED = (ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed.")


def _requested(ctx, request) -> list[tuple[str | None, object]]:
    if ctx.api_version >= 6:
        return [(t.name, t.topic_id or ZERO_UUID) for t in request.topics]
    return [(name, ZERO_UUID) for name in request.topic_names]


@api(API_KEY, "DeleteTopics", 1, 6)
def handle(ctx, request):
    broker = ctx.broker
    image = broker.image
    wanted = _requested(ctx, request)
    if not broker.config["delete.topic.enable"]:
        code = ErrorCode.INVALID_REQUEST if ctx.api_version < 3 else ErrorCode.TOPIC_DELETION_DISABLED
        return {"throttle_time": 0, "responses": [_result(n, i, code, "Topic deletion is disabled.")
                                                  for n, i in wanted]}
    results = []
    names = [n for n, i in wanted if n is not None and i == ZERO_UUID]
    ids = [i for n, i in wanted if n is None and i != ZERO_UUID]
    dup_names = {n for n in names if names.count(n) > 1}
    dup_ids = {i for i in ids if ids.count(i) > 1}
    targets: dict = {}  # topic id -> (name, its placeholder result)
    anywhere = ctx.authorize(AclOperation.DELETE, ResourceType.CLUSTER, CLUSTER_NAME, log_denied=False)
    for name, topic_id in wanted:
        if name is None and topic_id == ZERO_UUID:
            results.append(_result(None, ZERO_UUID, ErrorCode.INVALID_REQUEST,
                                   "Neither topic name nor id were specified."))
            continue
        if name is not None and topic_id != ZERO_UUID:
            results.append(_result(name, topic_id, ErrorCode.INVALID_REQUEST,
                                   "You may not specify both topic name and topic id."))
            continue
        if name in dup_names or topic_id in dup_ids:
            continue
        topic = image.topic(name, topic_id)
        refusal = None if anywhere else _refusal(ctx, name, topic_id, topic)
        if refusal is not None:
            results.append(refusal)
        elif topic is None:
            results.append(_result(name, topic_id, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_MESSAGE)
                           if name is not None else
                           _result(None, topic_id, ErrorCode.UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_ID_MESSAGE))
        elif topic.topic_id in targets:  # the same topic by name and by id
            results.remove(targets.pop(topic.topic_id)[1])
            results.append(_result(topic.name, topic.topic_id, ErrorCode.INVALID_REQUEST,
                                   "The provided topic name maps to an ID that was already supplied."))
        else:
            placeholder = _result(topic.name, topic.topic_id)
            targets[topic.topic_id] = (topic.name, placeholder)
            results.append(placeholder)
    for name, placeholder in targets.values():
        try:
            broker.controller.delete_topic(name)
        except KafkaError as e:
            placeholder.update(error_code=e.code, error_message=e.message)
    results.extend(_result(n, ZERO_UUID, ErrorCode.INVALID_REQUEST, "Duplicate topic name.") for n in dup_names)
    results.extend(_result(None, i, ErrorCode.INVALID_REQUEST, "Duplicate topic id.") for i in dup_ids)
    if targets:
        log.info("DeleteTopics from %s deleted %s", ctx.client_id, ", ".join(n for n, _r in targets.values()))
    return {"throttle_time": 0, "responses": results}
