"""ConsumerGroupHeartbeat (KIP-848 / KIP-1082) and ConsumerGroupDescribe: the
consumer-protocol half of Kafka's GroupMetadataManager.

Like the rest of the coordinator, a request method returns (records,
response) and changes nothing: the caller appends the records to
__consumer_offsets and applies them with replay(); a failure raises
KafkaError before any record exists. Session and rebalance timeouts sit in the
coordinator's timer, on its injected clock (see install()); an expiring one
applies its fence at once - a second timer due in the same poll must see it -
and hands the records to the runtime to append (CoordinatorResult
replay=False), as the classic protocol does with its in-memory changes.

A heartbeat, by member_epoch:
   0  join (or rejoin). v0: an empty member id is replaced by one the broker
      generates; v1 (KIP-1082): the client generates it, an empty one is
      INVALID_REQUEST. The request must be full: rebalance timeout,
      subscription (topic names, or a regex in v1) and an empty owned
      partition list.
  >0  heartbeat at the member's epoch. A newer epoch than the broker's, or an
      older one that is not the previous epoch with owned partitions inside the
      current assignment (a lost response), is FENCED_MEMBER_EPOCH.
  -1  leave: the member is removed and the group epoch bumped.
  -2  a static member (group.instance.id) leaves temporarily: it keeps its
      assignment; a new member with the same instance id joining with epoch 0
      before the session timeout takes its place (else UNRELEASED_INSTANCE_ID).

Every heartbeat: (1) update the member; a new member or a changed subscription
bumps the group epoch, as does a change in the subscribed topics' metadata
(recomputed on every heartbeat against the live topics: partitions added,
topics created or deleted); (2) when the group epoch is above the assignment
epoch, compute a new target with the group's assignor (the one most members
ask for through server_assignor, else the first of group.consumer.assignors);
(3) reconcile the member (consumer_group.reconcile); (4) reset its session
timeout (group.consumer.session.timeout.ms); while it has partitions to
revoke, its rebalance timeout runs and fences it when it expires. The
response carries the assignment only on a full request (join, or a client
resending everything after an error) or when the member's assigned partitions
changed.

Regex subscriptions (v1) are resolved by the broker against every topic name,
internal topics included (__consumer_offsets matches `^__consumer.*`, as in
Kafka 4.4), with a full match. Kafka uses RE2/J syntax; Python's
`re` accepts the common subset (character classes, groups, alternation,
quantifiers, (?i)) but not \\p{..} classes, and also accepts look-arounds and
back-references that RE2/J refuses. A pattern `re` cannot compile is
INVALID_REGULAR_EXPRESSION.

Deliberate deviation: a member that rejoins with epoch 0 under a member id
the group still knows (a KIP-1082 client rejoining after being fenced) is
reset - its old partitions are treated as released, which the empty owned
list in the join confirms - instead of being fenced until its session expires.
Not done: rack-aware assignment, classic-protocol members inside a consumer
group (online migration), group-level config overrides.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

from fluxmq.errors import KafkaError
from fluxmq.group.assignors import ASSIGNORS, AssignmentMember, PartitionAssignorError
from fluxmq.group.base import CoordinatorResult
from fluxmq.group.consumer_group import (
    CONSUMER_GROUP_RECORD_TYPES,
    JOIN_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    ConsumerGroup,
    ConsumerGroupCurrentMemberAssignmentRecord,
    ConsumerGroupMember,
    ConsumerGroupMemberMetadataRecord,
    ConsumerGroupMetadataRecord,
    ConsumerGroupPartitionMetadataRecord,
    ConsumerGroupTargetAssignmentMemberRecord,
    ConsumerGroupTargetAssignmentMetadataRecord,
    MemberState,
    TopicMetadata,
    code,
    from_coordinator_record,
    is_subset,
    owned_from_request,
    partitions_equal,
    reconcile,
    to_coordinator_record,
)
from fluxmq.group.coordinator import Timer
from fluxmq.group.records import CoordinatorRecord

log = logging.getLogger("fluxmq.group")

CONSUMER_MEMBER_TYPE = 1  # ConsumerGroupDescribe v1 member_type
INT32_MAX = 2**31 - 1
# Kafka's assignor class names, accepted in group.consumer.assignors.
_ASSIGNOR_CLASSES = {
    "org.apache.kafka.coordinator.group.assignor.UniformAssignor": "uniform",
    "org.apache.kafka.coordinator.group.assignor.RangeAssignor": "range",
}


@dataclass(frozen=True)
class ConsumerGroupConfig:
    session_timeout_ms: int = 45000      # group.consumer.session.timeout.ms
    heartbeat_interval_ms: int = 5000    # group.consumer.heartbeat.interval.ms
    max_size: int = INT32_MAX            # group.consumer.max.size
    assignors: tuple[str, ...] = ("uniform", "range")  # group.consumer.assignors

    @classmethod
    def from_broker(cls, config) -> ConsumerGroupConfig:
        values = getattr(config, "values", config)

        def get(name, default):
            v = values.get(name)
            return default if v is None else v
        names = get("group.consumer.assignors", "uniform,range")
        if not isinstance(names, (list, tuple)):
            names = [n.strip() for n in str(names).split(",") if n.strip()]
        assignors = tuple(_ASSIGNOR_CLASSES.get(n, n) for n in names)
        unknown = [n for n in assignors if n not in ASSIGNORS]
        if unknown or not assignors:
            raise ValueError(f"group.consumer.assignors: unknown assignor(s) {unknown}; known: uniform, range")
        return cls(int(get("group.consumer.session.timeout.ms", 45000)),
                   int(get("group.consumer.heartbeat.interval.ms", 5000)),
                   int(get("group.consumer.max.size", INT32_MAX)), assignors)


@dataclass(frozen=True)
class Heartbeat:
    """A ConsumerGroupHeartbeat request in plain values (the handler converts kio's)."""
    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    subscribed_topic_names: tuple[str, ...] | None = None
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    topic_partitions: tuple | None = None  # ((topic_id, (partition, ...)), ...) or None
    api_version: int = 1
    client_id: str = ""
    client_host: str = ""


def new_member_id() -> str:
    """Kafka's Uuid.randomUuid().toString(): URL-safe base64, no padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _invalid(message: str) -> KafkaError:
    return KafkaError(code("INVALID_REQUEST"), message)


class ConsumerGroupManager:
    def __init__(self, groups: dict, config: ConsumerGroupConfig, clock, metadata, timer: Timer | None = None):
        """groups: the coordinator's registry (group id -> group of any type);
        metadata: anything with .topics (name -> object with .topic_id and
        .partition_count) and .topics_by_id, e.g. the MetadataImage; timer: the
        coordinator's (its poll runs our session and rebalance timeouts)."""
        self.groups = groups
        self.config = config
        self.clock = clock
        self.metadata = metadata
        self.timers = timer if timer is not None else Timer()
        # Set by the coordinator: given a non-consumer group, the records
        # deleting it if a consumer group may take its id (an empty classic
        # group), else None.
        self.foreign_group_tombstones = lambda group: None
        self._regex_cache: dict[str, re.Pattern] = {}

    # ------------------------------------------------------------ replay
    def replay(self, record) -> None:
        """Applies a consumer group record (types 3-8), typed or decoded."""
        if isinstance(record, CoordinatorRecord):
            record = from_coordinator_record(record)
        group = self.groups.get(record.group_id)
        if not isinstance(group, ConsumerGroup):
            if getattr(record, _VALUE_FIELD[type(record)]) is None:
                return  # tombstone for a group that is gone
            group = self.groups[record.group_id] = ConsumerGroup(record.group_id)
        if not group.replay(record):
            del self.groups[record.group_id]

    def on_loaded(self) -> list:
        """After the replay at start-up: every member's session starts now."""
        for group in list(self.groups.values()):
            if isinstance(group, ConsumerGroup):
                for member in group.members.values():
                    self._schedule_session_timeout(group.group_id, member.member_id)
                    if member.state == MemberState.UNREVOKED_PARTITIONS:
                        self._schedule_rebalance_timeout(group.group_id, member)
        return []

    def heartbeat_result(self, hb: Heartbeat) -> CoordinatorResult:
        """heartbeat() as a CoordinatorResult for the runtime; a refused
        request is an error response without records."""
        try:
            records, response = self.heartbeat(hb)
        except KafkaError as e:
            log.info("[GroupId %s] ConsumerGroupHeartbeat from member %r (epoch %d) refused: %s: %s",
                     hb.group_id, hb.member_id, hb.member_epoch, _name(e.code), e)
            return CoordinatorResult(response=heartbeat_error(e.code, e.message))
        return CoordinatorResult(records, response, error_response=lambda c: heartbeat_error(c, None))

    # --------------------------------------------------------- heartbeat
    def heartbeat(self, hb: Heartbeat) -> tuple[list, dict]:
        """(records to append and replay, response dict); raises KafkaError."""
        self._validate(hb)
        if hb.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
            records, response = self._leave(hb)
        else:
            records, response = self._heartbeat(hb)
        return _wire(records), response

    def _validate(self, hb: Heartbeat) -> None:
        """Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid, in its order."""
        if (hb.api_version >= 1 or hb.member_epoch > 0 or hb.member_epoch == LEAVE_GROUP_MEMBER_EPOCH) \
                and not hb.member_id.strip():
            raise _invalid("MemberId can't be empty.")
        if not hb.group_id.strip():
            raise _invalid("GroupId can't be empty.")
        if hb.instance_id is not None and not hb.instance_id.strip():
            raise _invalid("InstanceId can't be empty.")
        if hb.rack_id is not None and not hb.rack_id.strip():
            raise _invalid("RackId can't be empty.")
        if hb.rebalance_timeout_ms < -1:
            raise _invalid("RebalanceTimeoutMs can't be negative.")
        if hb.member_epoch == JOIN_GROUP_MEMBER_EPOCH:
            if hb.rebalance_timeout_ms == -1:
                raise _invalid("RebalanceTimeoutMs must be provided in first request.")
            if hb.topic_partitions is None or len(hb.topic_partitions) > 0:
                raise _invalid("TopicPartitions must be empty when (re-)joining.")
            if hb.subscribed_topic_names is None and hb.subscribed_topic_regex is None:
                raise _invalid("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null "
                               "when (re-)joining.")
        elif hb.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            if hb.instance_id is None:
                raise _invalid("InstanceId can't be null.")
        elif hb.member_epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            raise _invalid("MemberEpoch is invalid.")
        if hb.server_assignor is not None and hb.server_assignor not in self.config.assignors:
            raise KafkaError(code("UNSUPPORTED_ASSIGNOR"),
                             f"ServerAssignor {hb.server_assignor} is not supported. "
                             f"Supported assignors: {', '.join(self.config.assignors)}.")
        if hb.subscribed_topic_regex:
            self._compile(hb.subscribed_topic_regex)

    def _heartbeat(self, hb: Heartbeat) -> tuple[list, dict]:
        records: list = []
        joining = hb.member_epoch == JOIN_GROUP_MEMBER_EPOCH
        group = self._consumer_group(hb.group_id, create=joining, records=records)
        member_id = hb.member_id or new_member_id()
        if group.max_size_reached(self.config.max_size, hb.member_id):
            raise KafkaError(code("GROUP_MAX_SIZE_REACHED"), "The consumer group has reached its maximum "
                             f"capacity of {self.config.max_size} members.")
        owned = owned_from_request(hb.topic_partitions)
        replaced = None  # static member this join takes over from
        if hb.instance_id is None:
            member = group.members.get(member_id)
            if member is None:
                if not joining:
                    raise KafkaError(code("UNKNOWN_MEMBER_ID"),
                                     f"Member {member_id} is not a member of group {group.group_id}.")
                member = ConsumerGroupMember(member_id)
                log.info("[GroupId %s] Member %s joins the consumer group.", group.group_id, member_id)
            elif joining:
                member = self._rejoin(group, member, records)
            else:
                _check_member_epoch(member, hb.member_epoch, owned)
        else:
            member, replaced = self._static_member(group, member_id, hb, owned, records)
        created = member_id not in group.members and replaced is None

        # 1. The member's subscription; the group epoch.
        updated = dataclasses.replace(
            member,
            instance_id=hb.instance_id if hb.instance_id is not None else member.instance_id,
            rack_id=hb.rack_id if hb.rack_id is not None else member.rack_id,
            rebalance_timeout_ms=hb.rebalance_timeout_ms if hb.rebalance_timeout_ms != -1
            else member.rebalance_timeout_ms,
            server_assignor=hb.server_assignor if hb.server_assignor is not None else member.server_assignor,
            subscribed_topic_names=tuple(sorted(set(hb.subscribed_topic_names)))
            if hb.subscribed_topic_names is not None else member.subscribed_topic_names,
            subscribed_topic_regex=(hb.subscribed_topic_regex or None) if hb.subscribed_topic_regex is not None
            else member.subscribed_topic_regex,
            client_id=hb.client_id, client_host=hb.client_host,
        )
        bump = created
        if updated.subscription() != member.subscription() or created:
            records.append(ConsumerGroupMemberMetadataRecord(group.group_id, member_id, updated.subscription()))
            if (updated.subscribed_topic_names != member.subscribed_topic_names
                    or updated.subscribed_topic_regex != member.subscribed_topic_regex):
                bump = True
        members = dict(group.members)
        if replaced is not None:
            del members[replaced.member_id]
        members[member_id] = updated
        gone = [m for m in (group.members.get(member_id), replaced) if m is not None]
        sub_md = self._subscription_metadata(group, remove=gone, add=[updated])
        if sub_md != group.subscription_metadata:
            records.append(ConsumerGroupPartitionMetadataRecord(group.group_id, tuple(sub_md.values())))
            bump = True
        group_epoch = group.group_epoch
        if bump:
            group_epoch += 1
            records.append(ConsumerGroupMetadataRecord(group.group_id, group_epoch))
            log.info("[GroupId %s] Bumped group epoch to %d.", group.group_id, group_epoch)

        # 2. The target assignment.
        if group_epoch > group.target_assignment_epoch:
            targets = self._target_assignment(group, group_epoch, members, sub_md, replaced, records)
            target_epoch, target = group_epoch, targets.get(member_id, {})
        else:
            target_epoch = group.target_assignment_epoch
            target = group.target_assignment.get(member_id)
            if target is None and replaced is not None:
                target = group.target_assignment.get(replaced.member_id)
            target = target or {}

        # 3. Reconcile.
        reconciled = updated
        if not updated.is_reconciled_to(target_epoch):
            reconciled = reconcile(updated, target_epoch, target, group.partition_owner, owned)
        if reconciled.current_assignment() != member.current_assignment() or created:
            records.append(ConsumerGroupCurrentMemberAssignmentRecord(
                group.group_id, member_id, reconciled.current_assignment()))
            if reconciled.state == MemberState.UNREVOKED_PARTITIONS:
                self._schedule_rebalance_timeout(group.group_id, reconciled)
            else:
                self.timers.cancel(("rebalance", group.group_id, member_id))

        # 4. Session timeout and response.
        self._schedule_session_timeout(group.group_id, member_id)
        response = {"throttle_time": 0, "error_code": 0, "error_message": None, "member_id": member_id,
                    "member_epoch": reconciled.member_epoch,
                    "heartbeat_interval": self.config.heartbeat_interval_ms, "assignment": None}
        full = joining or (hb.rebalance_timeout_ms != -1 and hb.subscribed_topic_names is not None
                           and hb.topic_partitions is not None)
        if full or not partitions_equal(reconciled.assigned_partitions, member.assigned_partitions):
            response["assignment"] = {"topic_partitions": [
                {"topic_id": tid, "partitions": sorted(ps)}
                for tid, ps in sorted(reconciled.assigned_partitions.items()) if ps]}
        return records, response

    def _rejoin(self, group: ConsumerGroup, member: ConsumerGroupMember, records: list) -> ConsumerGroupMember:
        """A known dynamic member joins again with epoch 0: it has dropped its
        partitions (the join's owned list is empty), so they are released."""
        if member.member_epoch == 0 and not member.assigned_partitions and not member.partitions_pending_revocation:
            return member
        log.info("[GroupId %s] Member %s rejoins the consumer group at epoch 0; its partitions are released.",
                 group.group_id, member.member_id)
        reset = dataclasses.replace(member, member_epoch=0, previous_member_epoch=0, state=MemberState.STABLE,
                                    assigned_partitions={}, partitions_pending_revocation={})
        records.append(ConsumerGroupCurrentMemberAssignmentRecord(group.group_id, member.member_id,
                                                                  reset.current_assignment()))
        return reset

    def _static_member(self, group, member_id, hb, owned, records):
        """(member, replaced static member or None) - Kafka's
        getOrMaybeSubscribeStaticConsumerGroupMember."""
        existing = group.static_member(hb.instance_id)
        if hb.member_epoch == JOIN_GROUP_MEMBER_EPOCH:
            if existing is None:
                member = group.members.get(member_id)
                if member is not None:
                    return self._rejoin(group, member, records), None
                log.info("[GroupId %s] Static member %s with instance id %s joins the consumer group.",
                         group.group_id, member_id, hb.instance_id)
                return ConsumerGroupMember(member_id, instance_id=hb.instance_id), None
            if existing.member_id == member_id:
                return self._rejoin(group, existing, records), None
            if existing.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                raise KafkaError(code("UNRELEASED_INSTANCE_ID"),
                                 f"Static member {member_id} with instance id {hb.instance_id} cannot join the "
                                 f"group because the instance id is owned by {existing.member_id} member.")
            # Replace: the new member takes over the old one's assignment at epoch 0.
            new = dataclasses.replace(existing, member_id=member_id, member_epoch=0, previous_member_epoch=0)
            g = group.group_id
            records += [ConsumerGroupCurrentMemberAssignmentRecord(g, existing.member_id, None),
                        ConsumerGroupTargetAssignmentMemberRecord(g, existing.member_id, None),
                        ConsumerGroupMemberMetadataRecord(g, existing.member_id, None),
                        ConsumerGroupMemberMetadataRecord(g, member_id, new.subscription()),
                        ConsumerGroupTargetAssignmentMemberRecord(
                            g, member_id, group.target_assignment.get(existing.member_id, {})),
                        ConsumerGroupCurrentMemberAssignmentRecord(g, member_id, new.current_assignment())]
            self.timers.cancel(("session", g, existing.member_id))
            self.timers.cancel(("rebalance", g, existing.member_id))
            log.info("[GroupId %s] Static member with instance id %s re-joins the consumer group; member %s "
                     "replaces member %s.", g, hb.instance_id, member_id, existing.member_id)
            return new, existing
        if existing is None:
            raise KafkaError(code("UNKNOWN_MEMBER_ID"), f"Instance id {hb.instance_id} is unknown.")
        if existing.member_id != member_id:
            raise KafkaError(code("FENCED_INSTANCE_ID"),
                             f"Static member {member_id} with instance id {hb.instance_id} was fenced by "
                             f"member {existing.member_id}.")
        _check_member_epoch(existing, hb.member_epoch, owned)
        return existing, None

    def _consumer_group(self, group_id: str, create: bool = False, records: list | None = None) -> ConsumerGroup:
        group = self.groups.get(group_id)
        if isinstance(group, ConsumerGroup):
            return group
        if group is None:
            if not create:
                raise KafkaError(code("GROUP_ID_NOT_FOUND"), f"Consumer group {group_id} not found.")
            return ConsumerGroup(group_id)
        tombstones = self.foreign_group_tombstones(group) if create else None
        if tombstones is None:
            raise KafkaError(code("GROUP_ID_NOT_FOUND"), f"Group {group_id} is not a consumer group.")
        records.extend(tombstones)
        log.info("[GroupId %s] Deleted the empty classic group to create a consumer group.", group_id)
        return ConsumerGroup(group_id)

    # ------------------------------------------------------------- leave
    def _leave(self, hb: Heartbeat) -> tuple[list, dict]:
        group = self._consumer_group(hb.group_id)
        response = {"throttle_time": 0, "error_code": 0, "member_id": hb.member_id,
                    "member_epoch": hb.member_epoch, "heartbeat_interval": 0, "assignment": None}
        if hb.instance_id is None:
            member = group.members.get(hb.member_id)
            if member is None:
                raise KafkaError(code("UNKNOWN_MEMBER_ID"),
                                 f"Member {hb.member_id} is not a member of group {group.group_id}.")
            log.info("[GroupId %s] Member %s left the consumer group.", group.group_id, hb.member_id)
            return self._fence(group, member), response
        member = group.static_member(hb.instance_id)
        if member is None:
            raise KafkaError(code("UNKNOWN_MEMBER_ID"), f"Instance id {hb.instance_id} is unknown.")
        if member.member_id != hb.member_id:
            raise KafkaError(code("FENCED_INSTANCE_ID"),
                             f"Static member {hb.member_id} with instance id {hb.instance_id} was fenced by "
                             f"member {member.member_id}.")
        if hb.member_epoch == LEAVE_GROUP_MEMBER_EPOCH:
            log.info("[GroupId %s] Static member %s with instance id %s left the consumer group.",
                     group.group_id, member.member_id, hb.instance_id)
            return self._fence(group, member), response
        # -2: keeps its assignment and target; its session timeout keeps running.
        log.info("[GroupId %s] Static member %s with instance id %s temporarily left the consumer group.",
                 group.group_id, member.member_id, hb.instance_id)
        leaving = dataclasses.replace(member, member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH,
                                      partitions_pending_revocation={})
        self.timers.cancel(("rebalance", group.group_id, member.member_id))
        return [ConsumerGroupCurrentMemberAssignmentRecord(group.group_id, member.member_id,
                                                           leaving.current_assignment())], response

    def fence_member(self, group: ConsumerGroup, member: ConsumerGroupMember) -> list:
        """Records removing the member; the group epoch is bumped so the others
        get its partitions (Kafka's consumerGroupFenceMember)."""
        return _wire(self._fence(group, member))

    def _fence(self, group: ConsumerGroup, member: ConsumerGroupMember) -> list:
        g, mid = group.group_id, member.member_id
        records: list = [ConsumerGroupCurrentMemberAssignmentRecord(g, mid, None),
                         ConsumerGroupTargetAssignmentMemberRecord(g, mid, None),
                         ConsumerGroupMemberMetadataRecord(g, mid, None)]
        sub_md = self._subscription_metadata(group, remove=[member])
        if sub_md != group.subscription_metadata:
            records.append(ConsumerGroupPartitionMetadataRecord(g, tuple(sub_md.values())))
        records.append(ConsumerGroupMetadataRecord(g, group.group_epoch + 1))
        self.timers.cancel(("session", g, mid))
        self.timers.cancel(("rebalance", g, mid))
        return records

    # ------------------------------------------------------------ timers
    def _schedule_session_timeout(self, group_id: str, member_id: str) -> None:
        def expire():
            group = self.groups.get(group_id)
            member = group.members.get(member_id) if isinstance(group, ConsumerGroup) else None
            if member is None:
                return None
            log.info("[GroupId %s] Member %s fenced from the group because its session expired.",
                     group_id, member_id)
            return self._timer_result(self._fence(group, member))
        self.timers.schedule(("session", group_id, member_id),
                             self.clock.milliseconds() + self.config.session_timeout_ms, expire)

    def _schedule_rebalance_timeout(self, group_id: str, member: ConsumerGroupMember) -> None:
        member_id, epoch, timeout = member.member_id, member.member_epoch, max(member.rebalance_timeout_ms, 0)

        def expire():
            group = self.groups.get(group_id)
            current = group.members.get(member_id) if isinstance(group, ConsumerGroup) else None
            if current is None or current.member_epoch != epoch:
                return None
            log.info("[GroupId %s] Member %s fenced from the group because it failed to revoke its partitions "
                     "of epoch %d within %d ms.", group_id, member_id, epoch, timeout)
            return self._timer_result(self._fence(group, current))
        self.timers.schedule(("rebalance", group_id, member_id), self.clock.milliseconds() + timeout, expire)

    def _timer_result(self, records: list) -> CoordinatorResult | None:
        """A timer's fence is applied at once - the next timer due in the same
        poll must see it (it may bump the same group epoch) - and handed to
        the runtime to append without replaying again."""
        if not records:
            return None
        for r in records:
            self.replay(r)
        return CoordinatorResult(_wire(records), replay=False)

    def poll_timers(self, now_ms: int | None = None) -> list[CoordinatorResult]:
        """Runs the due timers (when the manager owns its timer: unit tests);
        the results are already applied."""
        now = self.clock.milliseconds() if now_ms is None else now_ms
        return [r for r in self.timers.poll(now) if r is not None]

    # ---------------------------------------------------------- assignment
    def _compile(self, regex: str) -> re.Pattern:
        pattern = self._regex_cache.get(regex)
        if pattern is None:
            try:
                pattern = re.compile(regex)
            except re.error as e:
                raise KafkaError(code("INVALID_REGULAR_EXPRESSION"),
                                 f"SubscribedTopicRegex `{regex}` is not a valid regular expression: {e}.") from None
            if len(self._regex_cache) > 1000:
                self._regex_cache.clear()
            self._regex_cache[regex] = pattern
        return pattern

    def _member_topics(self, member: ConsumerGroupMember, topic_names) -> set[str]:
        names = set(member.subscribed_topic_names)
        if member.subscribed_topic_regex:
            pattern = self._compile(member.subscribed_topic_regex)
            names.update(n for n in topic_names if pattern.fullmatch(n))
        return names

    def _subscription_metadata(self, group: ConsumerGroup, remove=(), add=()) -> dict[str, TopicMetadata]:
        """Metadata of every existing topic some member subscribes to (by name
        or regex), sorted by name; the group's members minus `remove` plus
        `add` (the group keeps per-name and per-regex counts)."""
        topics = self.metadata.topics
        names, regexes = Counter(group.subscribed_names), Counter(group.subscribed_regexes)
        for sign, members in ((-1, remove), (1, add)):
            for m in members:
                for n in m.subscribed_topic_names:
                    names[n] += sign
                if m.subscribed_topic_regex:
                    regexes[m.subscribed_topic_regex] += sign
        wanted = {n for n, c in names.items() if c > 0}
        for regex in (r for r, c in regexes.items() if c > 0):
            pattern = self._compile(regex)
            wanted.update(n for n in topics if pattern.fullmatch(n))
        out = {}
        for n in sorted(wanted):
            t = topics.get(n)
            if t is not None and t.partition_count > 0:
                out[n] = TopicMetadata(t.topic_id, n, t.partition_count)
        return out

    def _target_assignment(self, group, epoch, members, sub_md, replaced, records) -> dict:
        """Kafka's TargetAssignmentBuilder: runs the assignor, records each
        member whose target changed and the new assignment epoch."""
        default = self.config.assignors[0]
        counts = {}
        for m in members.values():
            if m.server_assignor:
                counts[m.server_assignor] = counts.get(m.server_assignor, 0) + 1
        assignor = max(sorted(counts), key=lambda n: counts[n]) if counts else default
        ids = {n: md.topic_id for n, md in sub_md.items()}
        spec = {}
        for mid, m in members.items():
            previous = group.target_assignment.get(mid)
            if previous is None and replaced is not None and m.instance_id == replaced.instance_id:
                previous = group.target_assignment.get(replaced.member_id)
            spec[mid] = AssignmentMember(frozenset(ids[n] for n in self._member_topics(m, ids) if n in ids),
                                         previous or {}, m.instance_id, m.rack_id)
        try:
            targets = ASSIGNORS[assignor](spec, {md.topic_id: md.partitions for md in sub_md.values()})
        except PartitionAssignorError as e:
            raise KafkaError(code("UNKNOWN_SERVER_ERROR"),
                             f"Failed to compute a new target assignment for epoch {epoch}: {e}") from None
        for mid in sorted(targets):
            old = group.target_assignment.get(mid)
            if old is None or not partitions_equal(old, targets[mid]):
                records.append(ConsumerGroupTargetAssignmentMemberRecord(group.group_id, mid, targets[mid]))
        records.append(ConsumerGroupTargetAssignmentMetadataRecord(group.group_id, epoch))
        log.info("[GroupId %s] Computed a new target assignment for epoch %d with the '%s' assignor.",
                 group.group_id, epoch, assignor)
        return targets

    # ------------------------------------------------------------ describe
    def describe(self, group_ids) -> list[dict]:
        """ConsumerGroupDescribe: one entry per id, in order."""
        out = []
        for gid in group_ids:
            group = self.groups.get(gid)
            if not gid:
                out.append(_describe_error(gid, code("INVALID_GROUP_ID"), "Group id can't be empty."))
            elif group is None:
                out.append(_describe_error(gid, code("GROUP_ID_NOT_FOUND"), f"Group {gid} not found."))
            elif not isinstance(group, ConsumerGroup):
                out.append(_describe_error(gid, code("GROUP_ID_NOT_FOUND"), f"Group {gid} is not a consumer group."))
            else:
                out.append(self._describe(group))
        return out

    def _describe(self, group: ConsumerGroup) -> dict:
        by_id = self.metadata.topics_by_id

        def assignment(parts):
            tps = []
            for tid, ps in sorted(parts.items()):
                topic = by_id.get(tid)
                if topic is not None and ps:
                    tps.append({"topic_id": tid, "topic_name": topic.name, "partitions": sorted(ps)})
            return {"topic_partitions": tps}
        members = [{
            "member_id": m.member_id, "instance_id": m.instance_id, "rack_id": m.rack_id,
            "member_epoch": m.member_epoch, "client_id": m.client_id, "client_host": m.client_host,
            "subscribed_topic_names": list(m.subscribed_topic_names),
            "subscribed_topic_regex": m.subscribed_topic_regex,
            "assignment": assignment(m.assigned_partitions),
            "target_assignment": assignment(group.target_assignment.get(m.member_id, {})),
            "member_type": CONSUMER_MEMBER_TYPE,
        } for m in group.members.values()]
        return {"error_code": 0, "error_message": None, "group_id": group.group_id,
                "group_state": str(group.state), "group_epoch": group.group_epoch,
                "assignment_epoch": group.target_assignment_epoch,
                "assignor_name": group.preferred_server_assignor(self.config.assignors[0]),
                "members": members}


def heartbeat_error(error, message: str | None) -> dict:
    return {"throttle_time": 0, "error_code": error, "error_message": message, "member_id": None,
            "member_epoch": 0, "heartbeat_interval": 0, "assignment": None}


def _name(error) -> str:
    return getattr(error, "name", str(error))


def install(coordinator) -> ConsumerGroupManager:
    """Plugs KIP-848 consumer groups into the GroupCoordinator: the shared
    registry and timer, replayers for record types 3-8, the start-up hook,
    and an empty classic group giving way to a consumer group."""
    metadata = coordinator.node.image if coordinator.node is not None else SimpleNamespace(topics={}, topics_by_id={})
    manager = ConsumerGroupManager(coordinator.groups, ConsumerGroupConfig.from_broker(coordinator.config),
                                   coordinator.clock, metadata, coordinator.timer)
    for rtype in CONSUMER_GROUP_RECORD_TYPES:
        coordinator.replayers[rtype] = lambda r, offset, pid: manager.replay(r)
    coordinator.load_listeners.append(manager.on_loaded)
    manager.foreign_group_tombstones = lambda g: g.tombstone_records() if g.is_empty() else None
    return manager


def _wire(records: list) -> list:
    """Typed consumer group records -> the coordinator codec's records."""
    return [r if isinstance(r, CoordinatorRecord) else to_coordinator_record(r) for r in records]


def _describe_error(group_id: str, error, message: str) -> dict:
    return {"error_code": error, "error_message": message, "group_id": group_id, "group_state": "",
            "group_epoch": 0, "assignment_epoch": 0, "assignor_name": "", "members": []}


def _check_member_epoch(member: ConsumerGroupMember, received: int, owned) -> None:
    """Kafka's throwIfConsumerGroupMemberEpochIsInvalid."""
    if received > member.member_epoch:
        raise KafkaError(code("FENCED_MEMBER_EPOCH"),
                         f"The consumer group member has a greater member epoch ({received}) than the one known "
                         f"by the group coordinator ({member.member_epoch}). The member must abandon all its "
                         "partitions and rejoin.")
    if received < member.member_epoch and (received != member.previous_member_epoch
                                           or not is_subset(owned, member.assigned_partitions)):
        raise KafkaError(code("FENCED_MEMBER_EPOCH"),
                         f"The consumer group member has a smaller member epoch ({received}) than the one known "
                         f"by the group coordinator ({member.member_epoch}). The member must abandon all its "
                         "partitions and rejoin.")


_VALUE_FIELD = {
    ConsumerGroupMetadataRecord: "epoch",
    ConsumerGroupPartitionMetadataRecord: "topics",
    ConsumerGroupMemberMetadataRecord: "value",
    ConsumerGroupTargetAssignmentMetadataRecord: "assignment_epoch",
    ConsumerGroupTargetAssignmentMemberRecord: "partitions",
    ConsumerGroupCurrentMemberAssignmentRecord: "value",
}
