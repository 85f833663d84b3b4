"""ListGroups (key 16), v0-v5.

Every group this coordinator has (classic groups, simple groups that only
commit offsets, KIP-848 groups) with its protocol type ("consumer", or ""
for a simple group). v4+ (KIP-518) return each group's state and filter on
states_filter (case-insensitive; empty = all); v5+ (KIP-848) return the
group type ("classic", "consumer") and filter on types_filter.
"""

from fluxmq.handlers import api
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 16


@api(API_KEY, "ListGroups", 0, 5)
def handle(ctx, request):
    states = list(getattr(request, "states_filter", ()) or ())
    types = list(getattr(request, "types_filter", ()) or ())
    response = ctx.broker.groups.run("list_groups", states, types)
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME, log_denied=False):
        names = ctx.authorized_names(AclOperation.DESCRIBE, ResourceType.GROUP, [g["group_id"] for g in response["groups"]])
        response = dict(response, groups=[g for g in response["groups"] if g["group_id"] in names])
    return dict(response, throttle_time=0)
