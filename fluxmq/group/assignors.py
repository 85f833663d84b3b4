"""Server-side partition assignors of the consumer group protocol (KIP-848).

Kafka ships two (org.apache.kafka.coordinator.group.assignor): `uniform`, the
default, and `range`; `group.consumer.assignors` lists the enabled ones, the
first being the default, and a member may ask for one by name
(ConsumerGroupHeartbeat.ServerAssignor). An assignor is a pure function

    assign(members, partition_counts) -> {member_id: {topic_id: frozenset(partitions)}}

`members` maps member id -> AssignmentMember: the topics it is subscribed to
(already resolved to topic ids of existing topics, regex included), its
instance id (static membership) and its assignment in the *previous target
assignment* (what stickiness is measured against, as in Kafka's GroupSpec).
`partition_counts` maps topic id -> number of partitions. Topic ids only need
to be hashable and mutually orderable (uuid.UUID in the broker). Every member
appears in the result, possibly with an empty assignment; the result never
depends on dict ordering (members and partitions are walked sorted).

uniform (Kafka's UniformAssignor; this implementation is our own):
  * balanced: when every member has the same subscription, partition counts
    differ by at most one; otherwise no partition can move to another
    subscribed member holding at least two fewer partitions;
  * sticky: a member keeps every partition of its previous target it is still
    subscribed to unless balance requires giving it up, and the fewest
    partitions move: extra (quota + 1) slots go to the members already
    holding the most, and a member over its quota gives up only the excess.
  Rack-aware placement is not done (Kafka only uses it for racks it knows
  from the cluster metadata; a single node has none).

range (Kafka's RangeAssignor, 4.x behaviour): per topic, the subscribed
  members sorted - static members first by instance id, then the others by
  member id - get contiguous ranges; the first `partitions % members` of them
  get one more. When members share a subscription and the topics have the
  same partition count, partition i of every topic goes to the same member
  (co-partitioning, for joins). Like Kafka 4.x it is sticky only through that
  order: static members keep their ranges across restarts, dynamic members
  keep theirs while membership is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

TopicId = Hashable
Assignment = Mapping[TopicId, frozenset]


@dataclass(frozen=True)
class AssignmentMember:
    subscribed_topic_ids: frozenset
    assignment: Mapping = field(default_factory=dict)  # previous target: topic id -> partitions
    instance_id: str | None = None
    rack_id: str | None = None


class PartitionAssignorError(Exception):
    """The assignor could not compute an assignment (Kafka's PartitionAssignorException)."""


def _freeze(owned: Mapping[TopicId, set]) -> dict:
    return {t: frozenset(ps) for t, ps in owned.items() if ps}


def _subscriptions(members, partition_counts) -> dict[str, frozenset]:
    """Each member's subscription limited to topics that exist."""
    return {m: frozenset(t for t in spec.subscribed_topic_ids if partition_counts.get(t, 0) > 0)
            for m, spec in members.items()}


def _sticky_start(member_ids, members, subs, partition_counts) -> dict[str, dict[TopicId, set]]:
    """Previous target partitions each member may keep: still subscribed, the
    partition still exists, and no other member claimed it first (a stale
    duplicate goes to the member first in id order)."""
    taken = set()
    kept: dict[str, dict[TopicId, set]] = {}
    for m in member_ids:
        own: dict[TopicId, set] = {}
        for t in sorted(members[m].assignment):
            if t not in subs[m]:
                continue
            for p in sorted(members[m].assignment[t]):
                if 0 <= p < partition_counts[t] and (t, p) not in taken:
                    taken.add((t, p))
                    own.setdefault(t, set()).add(p)
        kept[m] = own
    return kept


def _count(owned: dict[TopicId, set]) -> int:
    return sum(len(ps) for ps in owned.values())


# ------------------------------------------------------------------ uniform
def uniform(members: Mapping[str, AssignmentMember], partition_counts: Mapping[TopicId, int]) -> dict[str, dict]:
    if not members:
        return {}
    member_ids = sorted(members)
    subs = _subscriptions(members, partition_counts)
    owned = _sticky_start(member_ids, members, subs, partition_counts)
    if len(set(subs.values())) == 1:
        _uniform_homogeneous(member_ids, subs[member_ids[0]], owned, partition_counts)
    else:
        _uniform_heterogeneous(member_ids, subs, owned, partition_counts)
    return {m: _freeze(owned[m]) for m in member_ids}


def _uniform_homogeneous(member_ids, topics, owned, partition_counts) -> None:
    """Every member subscribes to `topics`: quotas floor(P/N), and the
    P % N members currently holding the most get one more."""
    total = sum(partition_counts[t] for t in topics)
    if not topics:
        return
    base, extra = divmod(total, len(member_ids))
    by_holding = sorted(member_ids, key=lambda m: (-_count(owned[m]), m))
    quota = {m: base + (1 if i < extra else 0) for i, m in enumerate(by_holding)}
    for m in member_ids:
        excess = _count(owned[m]) - quota[m]
        if excess > 0:
            # Give up the highest partitions, keeping the low ones stable.
            for t, p in sorted(((t, p) for t, ps in owned[m].items() for p in ps), reverse=True)[:excess]:
                owned[m][t].discard(p)
    assigned = {(t, p) for m in member_ids for t, ps in owned[m].items() for p in ps}
    free = [(t, p) for t in sorted(topics) for p in range(partition_counts[t]) if (t, p) not in assigned]
    i = 0
    for m in member_ids:
        room = quota[m] - _count(owned[m])
        for t, p in free[i:i + room]:
            owned[m].setdefault(t, set()).add(p)
        i += max(room, 0)
    if i < len(free):  # cannot happen: the quotas add up to the partition count
        raise PartitionAssignorError("partitions were left unassigned")


def _uniform_heterogeneous(member_ids, subs, owned, partition_counts) -> None:
    """Members subscribe to different topics: place every free partition on
    the least loaded subscriber (partitions with the fewest subscribers
    first), then move partitions from a member to a subscriber holding at
    least two fewer until no such move exists. Each move lowers the sum of
    squared member loads, so this ends."""
    subscribers: dict[TopicId, list[str]] = {}
    for m in member_ids:
        for t in subs[m]:
            subscribers.setdefault(t, []).append(m)
    count = {m: _count(owned[m]) for m in member_ids}
    assigned = {(t, p) for m in member_ids for t, ps in owned[m].items() for p in ps}
    free = [(t, p) for t in sorted(subscribers) for p in range(partition_counts[t]) if (t, p) not in assigned]
    free.sort(key=lambda tp: (len(subscribers[tp[0]]), tp))

    def least_loaded(t):
        return min(subscribers[t], key=lambda m: (count[m], m))

    for t, p in free:
        m = least_loaded(t)
        owned[m].setdefault(t, set()).add(p)
        count[m] += 1

    moved = True
    while moved:
        moved = False
        for a in sorted(member_ids, key=lambda m: (-count[m], m)):
            for t, p in sorted(((t, p) for t, ps in owned[a].items() for p in ps), reverse=True):
                b = least_loaded(t)
                if count[a] - count[b] >= 2:
                    owned[a][t].discard(p)
                    owned[b].setdefault(t, set()).add(p)
                    count[a] -= 1
                    count[b] += 1
                    moved = True
                    break
            if moved:
                break


# -------------------------------------------------------------------- range
def range_(members: Mapping[str, AssignmentMember], partition_counts: Mapping[TopicId, int]) -> dict[str, dict]:
    if not members:
        return {}
    subs = _subscriptions(members, partition_counts)
    order = sorted(members, key=lambda m: (0, members[m].instance_id, m) if members[m].instance_id is not None
                   else (1, "", m))
    result: dict[str, dict[TopicId, set]] = {m: {} for m in members}
    topics = sorted({t for s in subs.values() for t in s})
    for t in topics:
        subscribed = [m for m in order if t in subs[m]]
        base, extra = divmod(partition_counts[t], len(subscribed))
        start = 0
        for i, m in enumerate(subscribed):
            n = base + (1 if i < extra else 0)
            if n:
                result[m][t] = set(range(start, start + n))
            start += n
    return {m: _freeze(result[m]) for m in sorted(members)}


ASSIGNORS: dict[str, Callable] = {"uniform": uniform, "range": range_}
