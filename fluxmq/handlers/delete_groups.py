"""DeleteGroups (key 42), v0-v3.

Deletes empty groups and all their committed offsets (tombstones in
__consumer_offsets), each group answered on its own: GROUP_ID_NOT_FOUND for
an unknown group, NON_EMPTY_GROUP while it has members, INVALID_GROUP_ID for
a null id. Answered once the tombstones are durable. v3 adds a per-group
error_message, which stays null: Kafka 4.4 leaves it null for these errors.
"""

from fluxmq.handlers import api, then

API_KEY = 42


@api(API_KEY, "DeleteGroups", 0, 3)
def handle(ctx, request):
    result = ctx.broker.groups.run("delete_groups", list(request.groups_names))
    return then(result, lambda results: {"throttle_time": 0, "results": results})
