"""AddOffsetsToTxn (key 25), v0-v4: adds the group's __consumer_offsets
partition to the transaction, so TxnOffsetCommit may follow
(sendOffsetsToTransaction). Needs WRITE on the transactional id and READ on
the group. PRODUCER_FENCED from v2; older versions get INVALID_PRODUCER_EPOCH.
"""

from fluxmq.errors import ErrorCode
from fluxmq.group import GROUP_METADATA_TOPIC
from fluxmq.group.records import partition_for
from fluxmq.handlers import api, then
from fluxmq.handlers.init_producer_id import fenced_error
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 25


@api(API_KEY, "AddOffsetsToTxn", 0, 4)
def handle(ctx, request):
    version = ctx.api_version

    def respond(code):
        return {"throttle_time": 0, "error_code": fenced_error(code, version, 2)}
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id):
        return respond(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return respond(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    broker = ctx.broker
    error = broker.groups.ensure_topic()
    if error is not None:
        return respond(error)
    partition = partition_for(request.group_id, broker.image.topics[GROUP_METADATA_TOPIC].partition_count)
    return then(broker.transactions.run("add_partitions", request.transactional_id, request.producer_id,
                                        request.producer_epoch, [(GROUP_METADATA_TOPIC, partition)]), respond)
