"""Classic groups (the JoinGroup/SyncGroup protocol): the group, its members
and its state machine (Kafka's ClassicGroup, ClassicGroupMember and
ClassicGroupState).

State machine (Kafka's ClassicGroupState; "->" lists the valid next states):

    state                meaning                                   -> next
    Empty                no members (maybe offsets); a simple      PreparingRebalance, Dead
                         group (commits only) stays here
    PreparingRebalance   waiting for every known member to         CompletingRebalance, Empty, Dead
                         (re)join, until the rebalance timeout
    CompletingRebalance  joins answered, waiting for the leader's  Stable, PreparingRebalance, Dead
                         SyncGroup with the assignment
    Stable               assignment stored and handed out          PreparingRebalance, Dead
    Dead                 deleted (DeleteGroups, offsets expired)   Dead

        Empty --join--> PreparingRebalance --all joined / rebalance timeout--> CompletingRebalance
          ^                 ^    |  (no member left: next generation is Empty)       |
          |                 |    +-------------------------------------------------- | --> Empty
          |                 +-- join with new metadata, leader rejoin, leave,        |
          |                     session expiry, sync timeout  <----- Stable <--------+
          |                                                         leader's SyncGroup stored
          +-- last member leaves or expires (a new Empty generation)

The protocol that drives these transitions (JoinGroup, SyncGroup,
Heartbeat, LeaveGroup, timers) is in classic_manager.py; what is stored is
in records.py (GroupMetadata).
"""

from __future__ import annotations

import logging
import struct
import uuid
from enum import Enum

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.group import records as rec
from fluxmq.group.base import Group, GroupType, Pending

log = logging.getLogger("fluxmq.group")

UNKNOWN_MEMBER_ID = ""
CONSUMER_PROTOCOL_TYPE = "consumer"


class ClassicGroupState(Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


S = ClassicGroupState
VALID_PREVIOUS_STATES = {
    S.EMPTY: {S.PREPARING_REBALANCE},
    S.PREPARING_REBALANCE: {S.STABLE, S.COMPLETING_REBALANCE, S.EMPTY},
    S.COMPLETING_REBALANCE: {S.PREPARING_REBALANCE},
    S.STABLE: {S.COMPLETING_REBALANCE},
    S.DEAD: {S.STABLE, S.PREPARING_REBALANCE, S.COMPLETING_REBALANCE, S.EMPTY, S.DEAD},
}


class IllegalStateTransition(RuntimeError):
    pass


# ------------------------------------------------------------------ members
class ClassicGroupMember:
    __slots__ = ("member_id", "group_instance_id", "client_id", "client_host", "rebalance_timeout_ms",
                 "session_timeout_ms", "protocol_type", "protocols", "assignment", "awaiting_join",
                 "awaiting_sync", "is_new")

    def __init__(self, member_id: str, group_instance_id: str | None, client_id: str, client_host: str,
                 rebalance_timeout_ms: int, session_timeout_ms: int, protocol_type: str,
                 protocols: list[tuple[str, bytes]], assignment: bytes = b""):
        self.member_id = member_id
        self.group_instance_id = group_instance_id
        self.client_id = client_id
        self.client_host = client_host
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.session_timeout_ms = session_timeout_ms
        self.protocol_type = protocol_type
        self.protocols = list(protocols)  # (name, metadata), in the member's preference order
        self.assignment = assignment
        self.awaiting_join: Pending | None = None
        self.awaiting_sync: Pending | None = None
        self.is_new = False

    @property
    def is_static(self) -> bool:
        return self.group_instance_id is not None

    def metadata(self, protocol_name: str) -> bytes:
        for name, data in self.protocols:
            if name == protocol_name:
                return data
        raise KeyError(f"member {self.member_id} does not support protocol {protocol_name}")

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def matches(self, protocols: list[tuple[str, bytes]]) -> bool:
        return list(protocols) == self.protocols

    def vote(self, candidates: set[str]) -> str:
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise ValueError(f"member {self.member_id} does not support any of {sorted(candidates)}")

    def has_satisfied_heartbeat(self) -> bool:
        if self.is_new:
            return False  # a new member may expire even while its join waits
        return self.awaiting_join is not None or self.awaiting_sync is not None


# -------------------------------------------------------------------- group
class ClassicGroup(Group):
    type = GroupType.CLASSIC

    def __init__(self, group_id: str, now_ms: int, state: ClassicGroupState = S.EMPTY):
        self.group_id = group_id
        self.state = state
        self.previous_state = state
        self.state_timestamp: int | None = now_ms
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.generation_id = 0
        self.leader_id: str | None = None
        self.members: dict[str, ClassicGroupMember] = {}  # insertion order = join order
        self.static_members: dict[str, str] = {}         # group.instance.id -> member id
        self.pending_join_members: set[str] = set()
        self.num_awaiting_join = 0
        self.supported_protocols: dict[str, int] = {}
        self.pending_sync_members: set[str] = set()
        self.subscribed_topics: set[str] | None = None
        self.new_member_added = False

    # ---------------------------------------------------------- Group API
    def state_name(self) -> str:
        return self.state.value

    def is_empty(self) -> bool:
        return self.state is S.EMPTY

    def protocol_type_name(self) -> str:
        return self.protocol_type or ""

    def uses_consumer_protocol(self) -> bool:
        return self.protocol_type == CONSUMER_PROTOCOL_TYPE

    def validate_member(self, member_id: str, group_instance_id: str | None, operation: str) -> None:
        if group_instance_id is not None:
            existing = self.static_members.get(group_instance_id)
            if existing is None:
                raise KafkaError(ErrorCode.UNKNOWN_MEMBER_ID)
            if existing != member_id:
                log.info("group %s: %s from member %s with group.instance.id %s is fenced by member %s",
                         self.group_id, operation, member_id, group_instance_id, existing)
                raise KafkaError(ErrorCode.FENCED_INSTANCE_ID)
        if member_id not in self.members:
            raise KafkaError(ErrorCode.UNKNOWN_MEMBER_ID)

    def validate_offset_commit(self, member_id, group_instance_id, generation_or_epoch, api_version) -> None:
        if self.state is S.DEAD:
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        if generation_or_epoch < 0 and self.state is S.EMPTY:
            return  # admin client or a consumer without group management
        if generation_or_epoch >= 0 or member_id or group_instance_id is not None:
            self.validate_member(member_id, group_instance_id, "offset-commit")
            if generation_or_epoch != self.generation_id:
                raise KafkaError(ErrorCode.ILLEGAL_GENERATION)
        else:
            # No member id and no generation: only into an Empty group.
            raise KafkaError(ErrorCode.UNKNOWN_MEMBER_ID)
        if self.state is S.COMPLETING_REBALANCE:
            raise KafkaError(ErrorCode.REBALANCE_IN_PROGRESS)

    def validate_offset_fetch(self, member_id, member_epoch) -> None:
        if self.state is S.DEAD:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {self.group_id} is in dead state.")

    def validate_offset_delete(self) -> None:
        if self.state is S.DEAD:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {self.group_id} is in dead state.")
        if self.state is not S.EMPTY and not self.uses_consumer_protocol():
            raise KafkaError(ErrorCode.NON_EMPTY_GROUP)

    def validate_delete_group(self) -> None:
        if self.state is S.DEAD:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {self.group_id} is in dead state.")
        if self.state is not S.EMPTY:
            raise KafkaError(ErrorCode.NON_EMPTY_GROUP)

    def is_subscribed_to_topic(self, topic: str) -> bool:
        if self.subscribed_topics is None:
            return self.uses_consumer_protocol()
        return topic in self.subscribed_topics

    def offset_expiration_base(self):
        if self.protocol_type:
            if self.state is S.EMPTY:
                # Retention counts from when the group became Empty (or, for an
                # old record without that timestamp, from the commit).
                ts = self.state_timestamp
                return lambda om: ts if ts is not None else om.commit_timestamp
            if self.uses_consumer_protocol() and self.subscribed_topics is not None and self.state is S.STABLE:
                return lambda om: om.commit_timestamp
            return None
        return lambda om: om.commit_timestamp  # a simple group: from each commit

    def tombstone_records(self) -> list:
        return [rec.group_metadata_tombstone(self.group_id)]

    # ------------------------------------------------------- membership
    def has_member(self, member_id: str) -> bool:
        return member_id in self.members

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    def is_pending_member(self, member_id: str) -> bool:
        return member_id in self.pending_join_members

    def has_all_members_joined(self) -> bool:
        return len(self.members) == self.num_awaiting_join and not self.pending_join_members

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def can_rebalance(self) -> bool:
        return self.state in VALID_PREVIOUS_STATES[S.PREPARING_REBALANCE]

    def transition_to(self, target: ClassicGroupState, now_ms: int) -> None:
        if self.state not in VALID_PREVIOUS_STATES[target]:
            raise IllegalStateTransition(f"group {self.group_id} cannot go from {self.state.value} to {target.value}")
        self.previous_state = self.state
        self.state = target
        self.state_timestamp = now_ms

    def add(self, member: ClassicGroupMember, pending: Pending | None = None) -> None:
        if member.group_instance_id is not None:
            if member.group_instance_id in self.static_members:
                raise IllegalStateTransition(f"static member {member.group_instance_id} is already in {self.group_id}")
            self.static_members[member.group_instance_id] = member.member_id
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.protocol_type != member.protocol_type or not self.supports_protocols(
                member.protocol_type, member.protocol_names()):
            raise IllegalStateTransition("the member's protocols cannot be supported by the group")
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        self._count_protocols(member, +1)
        member.awaiting_join = pending
        if pending is not None:
            self.num_awaiting_join += 1
        self.pending_join_members.discard(member.member_id)

    def remove(self, member_id: str) -> None:
        member = self.members.pop(member_id, None)
        if member is not None:
            self._count_protocols(member, -1)
            if member.awaiting_join is not None:
                self.num_awaiting_join -= 1
            if member.group_instance_id is not None:
                self.static_members.pop(member.group_instance_id, None)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self.pending_join_members.discard(member_id)
        self.pending_sync_members.discard(member_id)

    def update_member(self, member: ClassicGroupMember, protocols, rebalance_timeout_ms: int,
                      session_timeout_ms: int, pending: Pending | None) -> None:
        self._count_protocols(member, -1)
        member.protocols = list(protocols)
        self._count_protocols(member, +1)
        member.rebalance_timeout_ms = rebalance_timeout_ms
        member.session_timeout_ms = session_timeout_ms
        if pending is not None and member.awaiting_join is None:
            self.num_awaiting_join += 1
        elif pending is None and member.awaiting_join is not None:
            self.num_awaiting_join -= 1
        elif pending is not None and member.awaiting_join is not pending:
            # A second JoinGroup while the first waits (Kafka cannot see this: it
            # reads one request per connection at a time). Answer the first so a
            # pipelining client's responses are not stuck behind it.
            member.awaiting_join.complete(join_response(member.member_id, ErrorCode.REBALANCE_IN_PROGRESS))
        member.awaiting_join = pending

    def replace_static_member(self, group_instance_id: str, old_member_id: str,
                              new_member_id: str) -> ClassicGroupMember:
        old = self.members.pop(old_member_id)
        # Fence the old member's parked requests right away.
        self.complete_join(old, join_response(old_member_id, ErrorCode.FENCED_INSTANCE_ID))
        self.complete_sync(old, sync_response(ErrorCode.FENCED_INSTANCE_ID))
        new = ClassicGroupMember(new_member_id, old.group_instance_id, old.client_id, old.client_host,
                                 old.rebalance_timeout_ms, old.session_timeout_ms, old.protocol_type,
                                 old.protocols, old.assignment)
        self.members[new_member_id] = new
        if self.leader_id == old_member_id:
            self.leader_id = new_member_id
        self.static_members[group_instance_id] = new_member_id
        self.pending_sync_members.discard(old_member_id)
        return new

    def maybe_elect_new_joined_leader(self) -> bool:
        if self.leader_id is None:
            return False
        leader = self.members[self.leader_id]
        if leader.awaiting_join is not None:
            return True
        for member in self.members.values():
            if member.awaiting_join is not None:
                log.info("group %s: leader %s did not rejoin in time; %s is the new leader",
                         self.group_id, self.leader_id, member.member_id)
                self.leader_id = member.member_id
                return True
        return False

    def not_yet_rejoined(self) -> list[ClassicGroupMember]:
        return [m for m in self.members.values() if m.awaiting_join is None]

    def complete_join(self, member: ClassicGroupMember, response: dict) -> bool:
        if member.awaiting_join is None:
            return False
        pending, member.awaiting_join = member.awaiting_join, None
        self.num_awaiting_join -= 1
        pending.complete(response)
        return True

    def complete_sync(self, member: ClassicGroupMember, response: dict) -> bool:
        if member.awaiting_sync is None:
            return False
        pending, member.awaiting_sync = member.awaiting_sync, None
        pending.complete(response)
        return True

    def generate_member_id(self, client_id: str, group_instance_id: str | None) -> str:
        return f"{group_instance_id if group_instance_id is not None else client_id}-{uuid.uuid4()}"

    # ------------------------------------------------------- protocols
    def _count_protocols(self, member: ClassicGroupMember, delta: int) -> None:
        for name in member.protocol_names():
            self.supported_protocols[name] = self.supported_protocols.get(name, 0) + delta

    def supports_protocols(self, protocol_type: str, names: list[str]) -> bool:
        if self.state is S.EMPTY:
            return bool(protocol_type) and bool(names)
        return self.protocol_type == protocol_type and any(
            self.supported_protocols.get(n, 0) == len(self.members) for n in names)

    def select_protocol(self) -> str:
        if not self.members:
            raise IllegalStateTransition(f"cannot select a protocol for empty group {self.group_id}")
        candidates = {n for n, count in self.supported_protocols.items() if count == len(self.members)}
        votes: dict[str, int] = {}
        for member in self.members.values():
            choice = member.vote(candidates)
            votes[choice] = votes.get(choice, 0) + 1
        return max(votes, key=votes.__getitem__)  # first of the tied, in member order

    def init_next_generation(self, now_ms: int) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed_topics = self._compute_subscribed_topics()
            self.transition_to(S.COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.subscribed_topics = self._compute_subscribed_topics()
            self.transition_to(S.EMPTY, now_ms)
        self.pending_sync_members.clear()

    def _compute_subscribed_topics(self) -> set[str] | None:
        """Topics of the consumer protocol subscriptions (only its v0 prefix:
        version int16, topics [string]), so offsets of other topics can be
        deleted or expired while the group is active."""
        if not self.uses_consumer_protocol():
            return None
        if not self.members:
            return set()
        if self.protocol_name is None:
            return None
        topics: set[str] = set()
        try:
            for member in self.members.values():
                topics.update(parse_subscription_topics(member.metadata(self.protocol_name)))
        except (struct.error, UnicodeDecodeError, ValueError):
            log.warning("group %s: cannot parse the consumer protocol subscriptions; "
                        "the coordinator does not know the subscribed topics", self.group_id)
            return None
        return topics

    # ------------------------------------------------------- responses
    def current_members(self) -> list[dict]:
        return [{"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                 "metadata": m.metadata(self.protocol_name)} for m in self.members.values()]

    def group_assignment(self) -> dict[str, bytes]:
        return {m.member_id: m.assignment for m in self.members.values()}

    def describe(self) -> dict:
        if self.state is S.STABLE:
            members = [_describe_member(m, m.metadata(self.protocol_name)) for m in self.members.values()]
            return {"error_code": ErrorCode.NONE, "group_id": self.group_id, "group_state": self.state.value,
                    "protocol_type": self.protocol_type or "", "protocol_data": self.protocol_name,
                    "members": members}
        return {"error_code": ErrorCode.NONE, "group_id": self.group_id, "group_state": self.state.value,
                "protocol_type": self.protocol_type or "", "protocol_data": "",
                "members": [_describe_member(m, b"") for m in self.members.values()]}

    # ------------------------------------------------------- records
    def metadata_record(self, assignment: dict[str, bytes]) -> rec.CoordinatorRecord:
        members = [{"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id, "client_host": m.client_host,
                    "rebalance_timeout": m.rebalance_timeout_ms, "session_timeout": m.session_timeout_ms,
                    "subscription": m.metadata(self.protocol_name), "assignment": assignment[m.member_id]}
                   for m in self.members.values()]
        return rec.group_metadata(self.group_id, self.protocol_type or "", self.generation_id, self.protocol_name,
                                  self.leader_id, -1 if self.state_timestamp is None else self.state_timestamp,
                                  members)

    def empty_metadata_record(self) -> rec.CoordinatorRecord:
        return rec.group_metadata(self.group_id, "", 0, None, None,
                                  -1 if self.state_timestamp is None else self.state_timestamp, [])

    @classmethod
    def from_record(cls, group_id: str, value: dict) -> "ClassicGroup":
        members = value["members"] or []
        ts = value.get("current_state_timestamp", -1)
        group = cls(group_id, ts, S.STABLE if members else S.EMPTY)
        group.state_timestamp = None if ts == -1 else ts
        group.generation_id = value["generation"]
        group.protocol_type = value["protocol_type"] or None
        group.protocol_name = value["protocol"]
        group.leader_id = value["leader"]
        for m in members:
            rebalance_timeout = m["rebalance_timeout"] if m["rebalance_timeout"] != -1 else m["session_timeout"]
            member = ClassicGroupMember(m["member_id"], m["group_instance_id"], m["client_id"], m["client_host"],
                                        rebalance_timeout, m["session_timeout"], value["protocol_type"],
                                        [(value["protocol"], m["subscription"] or b"")], m["assignment"] or b"")
            if member.group_instance_id is not None:
                group.static_members[member.group_instance_id] = member.member_id
            group.members[member.member_id] = member
            group._count_protocols(member, +1)
        group.subscribed_topics = group._compute_subscribed_topics()
        return group

    def snapshot(self) -> dict:
        """The persisted view (what a GroupMetadata record carries), for tests
        that check replay rebuilds the same state."""
        return {"state": self.state.value, "generation": self.generation_id, "protocol_type": self.protocol_type,
                "protocol": self.protocol_name, "leader": self.leader_id,
                "members": {m.member_id: (m.group_instance_id, m.client_id, m.client_host, m.session_timeout_ms,
                                          m.rebalance_timeout_ms, m.assignment,
                                          m.metadata(self.protocol_name) if self.protocol_name else None)
                            for m in self.members.values()}}


def _describe_member(m: ClassicGroupMember, metadata: bytes) -> dict:
    return {"member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
            "client_host": m.client_host, "member_metadata": metadata, "member_assignment": m.assignment}


def parse_subscription_topics(data: bytes) -> list[str]:
    """ConsumerProtocolSubscription, any version: version int16, then
    topics as an int32 count of int16-length strings (the v0 prefix)."""
    pos = 2
    (n,) = struct.unpack_from(">i", data, pos)
    pos += 4
    topics = []
    for _ in range(max(n, 0)):
        (ln,) = struct.unpack_from(">h", data, pos)
        pos += 2
        if ln < 0 or pos + ln > len(data):
            raise ValueError("truncated subscription")
        topics.append(data[pos:pos + ln].decode("utf-8"))
        pos += ln
    return topics


def join_response(member_id: str, error: ErrorCode = ErrorCode.NONE, generation_id: int = -1,
                  protocol_type: str | None = None, protocol_name: str | None = None, leader: str = "",
                  skip_assignment: bool = False, members=()) -> dict:
    return {"error_code": error, "generation_id": generation_id, "protocol_type": protocol_type,
            "protocol_name": protocol_name, "leader": leader or "", "skip_assignment": skip_assignment,
            "member_id": member_id, "members": list(members)}


def sync_response(error: ErrorCode = ErrorCode.NONE, protocol_type: str | None = None,
                  protocol_name: str | None = None, assignment: bytes = b"") -> dict:
    return {"error_code": error, "protocol_type": protocol_type, "protocol_name": protocol_name,
            "assignment": assignment if assignment is not None else b""}
