"""KIP-848 consumer groups: the group, its members, their records, and the
reconciliation state machine.

Kafka's classes: ConsumerGroup, ConsumerGroupMember, MemberState,
CurrentAssignmentBuilder (org.apache.kafka.coordinator.group.modern.consumer).
The request logic (ConsumerGroupHeartbeat, timers) is in consumer_manager.py.

Epochs
  group epoch          bumped whenever the group's membership, a member's
                       subscription or the metadata of a subscribed topic
                       (partition count, creation, deletion) changes.
  assignment epoch     the group epoch the target assignment was computed at;
                       lags the group epoch until a member heartbeats.
  member epoch         the epoch a member's *current* assignment belongs to;
                       reaches the assignment epoch once reconciled.

Member states (MemberState, values as stored in records)
  STABLE (0)                  reconciled to the target at the member epoch.
  UNREVOKED_PARTITIONS (1)    the member must first give up
                              partitions_pending_revocation; it keeps its old
                              epoch until a heartbeat reports them gone (or the
                              rebalance timeout fences it).
  UNRELEASED_PARTITIONS (2)   the member is at the target epoch but some of
                              its target partitions are still owned by other
                              members; they are handed over once released.

Revocation before reassignment: a partition is added to a member's assigned
partitions only when no other member owns it (assigned or pending
revocation), so no two members ever consume a partition at the same epoch.

Group states (ConsumerGroupState, what ListGroups/DescribeGroups show)
  Empty        no members.
  Assigning    group epoch > assignment epoch: a new target is due.
  Reconciling  some member is not STABLE at the assignment epoch.
  Stable       every member is reconciled.
  Dead         the group was deleted (only in answers about missing groups).

Records (Kafka's __consumer_offsets key types; a value of None is a tombstone)
  3 ConsumerGroupMetadata                group epoch; tombstone deletes the group
  4 ConsumerGroupPartitionMetadata       subscribed topics: id, name, partitions
  5 ConsumerGroupMemberMetadata          a member's subscription and client info
  6 ConsumerGroupTargetAssignmentMetadata  assignment epoch
  7 ConsumerGroupTargetAssignmentMember  a member's target partitions
  8 ConsumerGroupCurrentMemberAssignment member epoch, state, assigned and
                                         pending-revocation partitions
State changes only by ConsumerGroup.replay(record); the same replay loads
the groups from the log at start-up.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from kio.schema.errors import ErrorCode as KioErrorCode

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.group.base import Group, GroupType
from fluxmq.group.records import (
    NULL,
    CoordinatorRecord,
    Field,
    Message,
    RecordType,
    Struct,
    register,
)


def code(name: str):
    """The Kafka error code `name`: FluxMQ's ErrorCode when it has it, else kio's."""
    return getattr(ErrorCode, name, None) or getattr(KioErrorCode, name.lower())


# Partitions by topic id: {topic_id: frozenset(partition ids)}. Never mutated.
TopicPartitions = Mapping[uuid.UUID, frozenset]
EMPTY: TopicPartitions = {}

JOIN_GROUP_MEMBER_EPOCH = 0
LEAVE_GROUP_MEMBER_EPOCH = -1
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2

CONSUMER_PROTOCOL_TYPE = "consumer"
GROUP_TYPE = "consumer"


class MemberState(IntEnum):
    STABLE = 0
    UNREVOKED_PARTITIONS = 1
    UNRELEASED_PARTITIONS = 2
    UNKNOWN = 127


class ConsumerGroupState(str, Enum):
    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"

    def __str__(self) -> str:
        return self.value


# ------------------------------------------------------------------ records
@dataclass(frozen=True)
class TopicMetadata:
    topic_id: uuid.UUID
    name: str
    partitions: int


@dataclass(frozen=True)
class ConsumerGroupMetadataRecord:  # key type 3
    group_id: str
    epoch: int | None


@dataclass(frozen=True)
class ConsumerGroupPartitionMetadataRecord:  # key type 4
    group_id: str
    topics: tuple[TopicMetadata, ...] | None


@dataclass(frozen=True)
class MemberSubscription:
    """ConsumerGroupMemberMetadataValue."""
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    rebalance_timeout_ms: int = -1
    server_assignor: str | None = None


@dataclass(frozen=True)
class ConsumerGroupMemberMetadataRecord:  # key type 5
    group_id: str
    member_id: str
    value: MemberSubscription | None


@dataclass(frozen=True)
class ConsumerGroupTargetAssignmentMetadataRecord:  # key type 6
    group_id: str
    assignment_epoch: int | None


@dataclass(frozen=True)
class ConsumerGroupTargetAssignmentMemberRecord:  # key type 7
    group_id: str
    member_id: str
    partitions: TopicPartitions | None


@dataclass(frozen=True)
class CurrentAssignment:
    """ConsumerGroupCurrentMemberAssignmentValue."""
    member_epoch: int
    previous_member_epoch: int
    state: MemberState
    assigned_partitions: TopicPartitions
    partitions_pending_revocation: TopicPartitions


@dataclass(frozen=True)
class ConsumerGroupCurrentMemberAssignmentRecord:  # key type 8
    group_id: str
    member_id: str
    value: CurrentAssignment | None


CONSUMER_GROUP_RECORDS = (
    ConsumerGroupMetadataRecord, ConsumerGroupPartitionMetadataRecord, ConsumerGroupMemberMetadataRecord,
    ConsumerGroupTargetAssignmentMetadataRecord, ConsumerGroupTargetAssignmentMemberRecord,
    ConsumerGroupCurrentMemberAssignmentRecord,
)

# Their wire form in __consumer_offsets: Kafka's schemas (group-coordinator
# .../common/message/ConsumerGroup*{Key,Value}.json), registered with the
# coordinator record codec (records.py). Keys are written at version 0 after
# the int16 record type; values are flexible version 0.
_GROUP_KEY = (Field("group_id", "string"),)
_MEMBER_KEY = (Field("group_id", "string"), Field("member_id", "string"))
_TOPIC_PARTITIONS = Struct("TopicPartitions", (Field("topic_id", "uuid"), Field("partitions", "[]int32")))
_FLEX = {"valid_versions": "0", "flexible_versions": "0+"}
_SCHEMAS = {
    ConsumerGroupMetadataRecord: (3, "ConsumerGroupMetadata", _GROUP_KEY, (Field("epoch", "int32"),)),
    ConsumerGroupPartitionMetadataRecord: (4, "ConsumerGroupPartitionMetadata", _GROUP_KEY, (
        Field("topics", Struct("TopicMetadata", (
            Field("topic_id", "uuid"), Field("topic_name", "string"), Field("num_partitions", "int32"),
            Field("partition_metadata", Struct("PartitionMetadata", (
                Field("partition", "int32"), Field("racks", "[]string"))), array=True))), array=True),)),
    ConsumerGroupMemberMetadataRecord: (5, "ConsumerGroupMemberMetadata", _MEMBER_KEY, (
        Field("instance_id", "string", nullable="0+", default=NULL),
        Field("rack_id", "string", nullable="0+", default=NULL),
        Field("client_id", "string"),
        Field("client_host", "string"),
        Field("subscribed_topic_names", "[]string"),
        Field("subscribed_topic_regex", "string", nullable="0+", default=NULL),
        Field("rebalance_timeout_ms", "int32", default=-1),
        Field("server_assignor", "string", nullable="0+", default=NULL))),
    ConsumerGroupTargetAssignmentMetadataRecord: (6, "ConsumerGroupTargetAssignmentMetadata", _GROUP_KEY,
                                                  (Field("assignment_epoch", "int32"),)),
    ConsumerGroupTargetAssignmentMemberRecord: (7, "ConsumerGroupTargetAssignmentMember", _MEMBER_KEY,
                                                (Field("topic_partitions", _TOPIC_PARTITIONS, array=True),)),
    ConsumerGroupCurrentMemberAssignmentRecord: (8, "ConsumerGroupCurrentMemberAssignment", _MEMBER_KEY, (
        Field("member_epoch", "int32"),
        Field("previous_member_epoch", "int32"),
        Field("state", "int8"),
        Field("assigned_partitions", _TOPIC_PARTITIONS, array=True),
        Field("partitions_pending_revocation", _TOPIC_PARTITIONS, array=True))),
}
_BY_TYPE = {}
for _cls, (_type, _name, _key, _value) in _SCHEMAS.items():
    register(RecordType(_type, _name, Message(_name + "Key", _key), Message(_name + "Value", _value, **_FLEX), 0,
                        group_field="group_id"))
    _BY_TYPE[_type] = _cls
CONSUMER_GROUP_RECORD_TYPES = frozenset(_BY_TYPE)


def _tps_out(parts: TopicPartitions) -> list:
    return [{"topic_id": t, "partitions": sorted(ps)} for t, ps in sorted(parts.items()) if ps]


def _tps_in(items) -> dict:
    out: dict = {}
    for item in items or ():
        out[item["topic_id"]] = out.get(item["topic_id"], frozenset()) | frozenset(item["partitions"] or ())
    return out


def to_coordinator_record(r) -> CoordinatorRecord:
    """A consumer group record in the coordinator's codec form."""
    rtype = _SCHEMAS[type(r)][0]
    key = {"group_id": r.group_id}
    if hasattr(r, "member_id"):
        key["member_id"] = r.member_id
    if isinstance(r, ConsumerGroupMetadataRecord):
        value = None if r.epoch is None else {"epoch": r.epoch}
    elif isinstance(r, ConsumerGroupPartitionMetadataRecord):
        value = None if r.topics is None else {"topics": [
            {"topic_id": t.topic_id, "topic_name": t.name, "num_partitions": t.partitions,
             "partition_metadata": []} for t in r.topics]}
    elif isinstance(r, ConsumerGroupMemberMetadataRecord):
        value = None if r.value is None else dict(dataclasses.asdict(r.value),
                                                   subscribed_topic_names=list(r.value.subscribed_topic_names))
    elif isinstance(r, ConsumerGroupTargetAssignmentMetadataRecord):
        value = None if r.assignment_epoch is None else {"assignment_epoch": r.assignment_epoch}
    elif isinstance(r, ConsumerGroupTargetAssignmentMemberRecord):
        value = None if r.partitions is None else {"topic_partitions": _tps_out(r.partitions)}
    else:
        v = r.value
        value = None if v is None else {
            "member_epoch": v.member_epoch, "previous_member_epoch": v.previous_member_epoch,
            "state": int(v.state), "assigned_partitions": _tps_out(v.assigned_partitions),
            "partitions_pending_revocation": _tps_out(v.partitions_pending_revocation)}
    return CoordinatorRecord(rtype, key, value)


def from_coordinator_record(cr: CoordinatorRecord):
    """The typed record for a decoded coordinator record of types 3-8."""
    cls = _BY_TYPE[cr.type]
    k, v = cr.key, cr.value
    if cls is ConsumerGroupMetadataRecord:
        return cls(k["group_id"], None if v is None else v["epoch"])
    if cls is ConsumerGroupPartitionMetadataRecord:
        return cls(k["group_id"], None if v is None else tuple(
            TopicMetadata(t["topic_id"], t["topic_name"], t["num_partitions"]) for t in v["topics"] or ()))
    if cls is ConsumerGroupTargetAssignmentMetadataRecord:
        return cls(k["group_id"], None if v is None else v["assignment_epoch"])
    if cls is ConsumerGroupMemberMetadataRecord:
        return cls(k["group_id"], k["member_id"], None if v is None else MemberSubscription(
            v["instance_id"], v["rack_id"], v["client_id"] or "", v["client_host"] or "",
            tuple(v["subscribed_topic_names"] or ()), v["subscribed_topic_regex"], v["rebalance_timeout_ms"],
            v["server_assignor"]))
    if cls is ConsumerGroupTargetAssignmentMemberRecord:
        return cls(k["group_id"], k["member_id"], None if v is None else _tps_in(v["topic_partitions"]))
    state = MemberState.UNKNOWN
    if v is not None and v["state"] in MemberState._value2member_map_:
        state = MemberState(v["state"])
    return cls(k["group_id"], k["member_id"], None if v is None else CurrentAssignment(
        v["member_epoch"], v["previous_member_epoch"], state, _tps_in(v["assigned_partitions"]),
        _tps_in(v["partitions_pending_revocation"])))


# ------------------------------------------------------------------ members
@dataclass(frozen=True)
class ConsumerGroupMember:
    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    rebalance_timeout_ms: int = -1
    server_assignor: str | None = None
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: MemberState = MemberState.STABLE
    assigned_partitions: TopicPartitions = field(default_factory=dict)
    partitions_pending_revocation: TopicPartitions = field(default_factory=dict)

    def subscription(self) -> MemberSubscription:
        return MemberSubscription(self.instance_id, self.rack_id, self.client_id, self.client_host,
                                  self.subscribed_topic_names, self.subscribed_topic_regex,
                                  self.rebalance_timeout_ms, self.server_assignor)

    def current_assignment(self) -> CurrentAssignment:
        return CurrentAssignment(self.member_epoch, self.previous_member_epoch, self.state,
                                 self.assigned_partitions, self.partitions_pending_revocation)

    def with_subscription(self, s: MemberSubscription) -> ConsumerGroupMember:
        return dataclasses.replace(self, **dataclasses.asdict(s))

    def with_assignment(self, a: CurrentAssignment) -> ConsumerGroupMember:
        return dataclasses.replace(self, member_epoch=a.member_epoch, previous_member_epoch=a.previous_member_epoch,
                                   state=a.state, assigned_partitions=a.assigned_partitions,
                                   partitions_pending_revocation=a.partitions_pending_revocation)

    def is_reconciled_to(self, epoch: int) -> bool:
        return self.state == MemberState.STABLE and self.member_epoch == epoch


def _check_stale(member: ConsumerGroupMember, received: int) -> None:
    if received != member.member_epoch:
        raise KafkaError(code("STALE_MEMBER_EPOCH"), f"The received member epoch {received} does not match "
                         f"the expected member epoch {member.member_epoch}.")


def partitions_equal(a: TopicPartitions, b: TopicPartitions) -> bool:
    return {t: ps for t, ps in a.items() if ps} == {t: ps for t, ps in b.items() if ps}


def owned_from_request(topic_partitions) -> dict | None:
    """Heartbeat TopicPartitions [(topic_id, [partitions])] -> TopicPartitions, or None (unchanged)."""
    if topic_partitions is None:
        return None
    out: dict = {}
    for tid, parts in topic_partitions:
        out[tid] = out.get(tid, frozenset()) | frozenset(parts)
    return out


def owns_any(owned: TopicPartitions | None, partitions: TopicPartitions) -> bool:
    """Whether the member still reports one of `partitions`; None (not
    reported) counts as yes, as in Kafka."""
    if owned is None:
        return True
    return any(ps & partitions.get(t, frozenset()) for t, ps in owned.items())


def is_subset(owned: TopicPartitions | None, assigned: TopicPartitions) -> bool:
    if owned is None:
        return False
    return all(ps <= assigned.get(t, frozenset()) for t, ps in owned.items())


def reconcile(member: ConsumerGroupMember, target_epoch: int, target: TopicPartitions,
              owner_of, owned: TopicPartitions | None) -> ConsumerGroupMember:
    """Kafka's CurrentAssignmentBuilder: one step of moving `member` towards
    the target assignment. `owner_of(topic_id, partition)` is the id of the
    member currently owning the partition (assigned or pending revocation),
    None when free. `owned` is what the member reported in this heartbeat
    (None: not reported)."""
    state = member.state
    if state == MemberState.STABLE:
        if member.member_epoch == target_epoch:
            return member
    elif state == MemberState.UNREVOKED_PARTITIONS:
        if owns_any(owned, member.partitions_pending_revocation):
            return member  # still revoking: no progress until they are gone
    elif state == MemberState.UNKNOWN:
        raise ValueError("member in an unknown state")
    # STABLE at an older epoch, revocation done, or UNRELEASED: next step.
    current = member.assigned_partitions
    new_assigned: dict = {}
    new_revoke: dict = {}
    new_assign: dict = {}
    unreleased = False
    for tid in set(target) | set(current):
        want = target.get(tid, frozenset())
        have = current.get(tid, frozenset())
        keep = have & want
        revoke = have - keep
        add = set()
        for p in want - keep:
            # Free, or owned by this very member (e.g. pending its own revocation).
            if owner_of(tid, p) in (None, member.member_id):
                add.add(p)
            else:
                unreleased = True
        if keep:
            new_assigned[tid] = keep
        if revoke:
            new_revoke[tid] = frozenset(revoke)
        if add:
            new_assign[tid] = frozenset(add)
    if new_revoke and owns_any(owned, new_revoke):
        # Revoke first; the member stays at its epoch until it confirms.
        return dataclasses.replace(member, state=MemberState.UNREVOKED_PARTITIONS,
                                   previous_member_epoch=member.member_epoch,
                                   assigned_partitions=new_assigned, partitions_pending_revocation=new_revoke)
    for tid, ps in new_assign.items():
        new_assigned[tid] = new_assigned.get(tid, frozenset()) | ps
    return dataclasses.replace(member,
                               state=MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE,
                               previous_member_epoch=member.member_epoch, member_epoch=target_epoch,
                               assigned_partitions=new_assigned, partitions_pending_revocation={})


# -------------------------------------------------------------------- group
class ConsumerGroup(Group):
    """One KIP-848 group's state. Mutated only by replay()."""

    type = GroupType.CONSUMER
    protocol_type = CONSUMER_PROTOCOL_TYPE

    def __init__(self, group_id: str):
        self.group_id = group_id
        self.group_epoch = 0
        self.members: dict[str, ConsumerGroupMember] = {}
        self.static_members: dict[str, str] = {}  # instance id -> member id
        self.subscription_metadata: dict[str, TopicMetadata] = {}  # topic name -> metadata
        self.target_assignment_epoch = 0
        self.target_assignment: dict[str, TopicPartitions] = {}
        self.subscribed_names: Counter = Counter()
        self.subscribed_regexes: Counter = Counter()
        self.server_assignors: Counter = Counter()
        self._partition_owners: dict[tuple[uuid.UUID, int], tuple[str, int]] = {}  # -> (member id, epoch)

    # ------------------------------------------------------------ queries
    @property
    def state(self) -> ConsumerGroupState:
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.target_assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        if any(not m.is_reconciled_to(self.target_assignment_epoch) for m in self.members.values()):
            return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def is_empty(self) -> bool:
        return not self.members

    def static_member(self, instance_id: str | None) -> ConsumerGroupMember | None:
        mid = self.static_members.get(instance_id) if instance_id is not None else None
        return self.members.get(mid) if mid is not None else None

    def max_size_reached(self, max_size: int, member_id: str) -> bool:
        """Kafka's throwIfConsumerGroupIsFull: full, and this is not a member yet."""
        return len(self.members) >= max_size and (not member_id or member_id not in self.members)

    def partition_owner(self, topic_id, partition: int) -> str | None:
        owner = self._partition_owners.get((topic_id, partition))
        return None if owner is None else owner[0]

    def current_partition_epoch(self, topic_id, partition: int) -> int:
        """Epoch of the member owning the partition, -1 if none does."""
        owner = self._partition_owners.get((topic_id, partition))
        return -1 if owner is None else owner[1]

    def preferred_server_assignor(self, default: str) -> str:
        if not self.server_assignors:
            return default
        return max(sorted(self.server_assignors), key=lambda n: self.server_assignors[n])

    # ------------------------------------- the coordinator's Group interface
    def state_name(self) -> str:
        return str(self.state)

    def protocol_type_name(self) -> str:
        return CONSUMER_PROTOCOL_TYPE

    def validate_offset_commit(self, member_id: str, group_instance_id: str | None,
                               generation_or_epoch: int, api_version: int) -> None:
        """Kafka's ConsumerGroup.validateOffsetCommit: epoch -1 (admin client,
        assign() consumers) may commit only while the group is empty; a member
        must use OffsetCommit v9+ and its exact member epoch."""
        if generation_or_epoch < 0 and not self.members:
            return
        member = self.members.get(member_id)
        if member is None:
            raise KafkaError(code("UNKNOWN_MEMBER_ID"), f"Member {member_id} is not a member of group {self.group_id}.")
        if api_version < 9:
            raise KafkaError(code("UNSUPPORTED_VERSION"), "OffsetCommit version 9 or above must be used by members "
                             "using the consumer group protocol")
        _check_stale(member, generation_or_epoch)

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> None:
        """Kafka's ConsumerGroup.validateOffsetFetch: no member id and epoch -1
        (admin client, older OffsetFetch versions) is always allowed."""
        if member_id is None and member_epoch < 0:
            return
        member = self.members.get(member_id)
        if member is None:
            raise KafkaError(code("UNKNOWN_MEMBER_ID"), f"Member {member_id} is not a member of group {self.group_id}.")
        _check_stale(member, member_epoch)

    def validate_offset_delete(self) -> None:
        pass

    def validate_delete_group(self) -> None:
        if self.members:
            raise KafkaError(code("NON_EMPTY_GROUP"), f"Group {self.group_id} is not empty.")

    def is_subscribed_to_topic(self, topic: str) -> bool:
        return topic in self.subscribed_names or topic in self.subscription_metadata

    def offset_expiration_base(self):
        """Offsets of topics the group does not subscribe to expire
        offsets.retention.minutes after their commit."""
        return lambda om: om.commit_timestamp

    def as_listed_group(self) -> dict:
        return {"group_id": self.group_id, "protocol_type": CONSUMER_PROTOCOL_TYPE,
                "group_state": str(self.state), "group_type": GROUP_TYPE}

    def tombstone_records(self) -> list:
        """Records deleting the group (DeleteGroups, expiry of an empty group)."""
        return [to_coordinator_record(r) for r in self.typed_tombstones()]

    def typed_tombstones(self) -> list:
        g = self.group_id
        out: list = [ConsumerGroupCurrentMemberAssignmentRecord(g, m, None) for m in self.members]
        out += [ConsumerGroupTargetAssignmentMemberRecord(g, m, None) for m in self.members]
        out.append(ConsumerGroupTargetAssignmentMetadataRecord(g, None))
        out += [ConsumerGroupMemberMetadataRecord(g, m, None) for m in self.members]
        out.append(ConsumerGroupPartitionMetadataRecord(g, None))
        out.append(ConsumerGroupMetadataRecord(g, None))
        return out

    # ------------------------------------------------------------- replay
    def replay(self, record) -> bool:
        """Applies one record (typed, or as decoded by the coordinator codec);
        returns False once the group is deleted."""
        if isinstance(record, CoordinatorRecord):
            record = from_coordinator_record(record)
        if isinstance(record, ConsumerGroupMetadataRecord):
            if record.epoch is None:
                return False
            self.group_epoch = record.epoch
        elif isinstance(record, ConsumerGroupPartitionMetadataRecord):
            self.subscription_metadata = {t.name: t for t in record.topics or ()}
        elif isinstance(record, ConsumerGroupMemberMetadataRecord):
            old = self.members.get(record.member_id)
            if record.value is None:
                if old is not None:
                    self._update_member(old, None)
            else:
                base = old or ConsumerGroupMember(record.member_id)
                self._update_member(old, base.with_subscription(record.value))
        elif isinstance(record, ConsumerGroupTargetAssignmentMetadataRecord):
            if record.assignment_epoch is not None:
                self.target_assignment_epoch = record.assignment_epoch
        elif isinstance(record, ConsumerGroupTargetAssignmentMemberRecord):
            if record.partitions is None:
                self.target_assignment.pop(record.member_id, None)
            else:
                self.target_assignment[record.member_id] = record.partitions
        elif isinstance(record, ConsumerGroupCurrentMemberAssignmentRecord):
            old = self.members.get(record.member_id)
            if record.value is None:
                if old is not None:
                    self._update_member(old, old.with_assignment(CurrentAssignment(
                        LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_MEMBER_EPOCH, MemberState.STABLE, {}, {})))
            else:
                base = old or ConsumerGroupMember(record.member_id)
                self._update_member(old, base.with_assignment(record.value))
        else:
            raise TypeError(f"not a consumer group record: {record!r}")
        return True

    def _update_member(self, old: ConsumerGroupMember | None, new: ConsumerGroupMember | None) -> None:
        if old is not None:
            self.subscribed_names.subtract(old.subscribed_topic_names)
            if old.subscribed_topic_regex:
                self.subscribed_regexes[old.subscribed_topic_regex] -= 1
            if old.server_assignor:
                self.server_assignors[old.server_assignor] -= 1
            if old.instance_id is not None and self.static_members.get(old.instance_id) == old.member_id:
                del self.static_members[old.instance_id]
            self._set_partition_owner(old, remove=True)
            del self.members[old.member_id]
        if new is not None:
            self.members[new.member_id] = new
            self.subscribed_names.update(new.subscribed_topic_names)
            if new.subscribed_topic_regex:
                self.subscribed_regexes[new.subscribed_topic_regex] += 1
            if new.server_assignor:
                self.server_assignors[new.server_assignor] += 1
            if new.instance_id is not None:
                self.static_members[new.instance_id] = new.member_id
            self._set_partition_owner(new)
        for counter in (self.subscribed_names, self.subscribed_regexes, self.server_assignors):
            for k in [k for k, n in counter.items() if n <= 0]:
                del counter[k]

    def _set_partition_owner(self, member: ConsumerGroupMember, remove: bool = False) -> None:
        owners = self._partition_owners
        for parts in (member.assigned_partitions, member.partitions_pending_revocation):
            for tid, ps in parts.items():
                for p in ps:
                    if not remove:
                        owners[(tid, p)] = (member.member_id, member.member_epoch)
                    elif owners.get((tid, p), ("",))[0] == member.member_id:
                        del owners[(tid, p)]
