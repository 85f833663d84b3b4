"""The classic group protocol over the coordinator's group registry (the
classic half of Kafka's GroupMetadataManager): JoinGroup, SyncGroup,
Heartbeat, LeaveGroup, and the timers that drive the state machine defined
in classic.py.

Kafka semantics kept here:
- JoinGroup v4+ without a member id: MEMBER_ID_REQUIRED with a generated id
  (KIP-394); the id is a pending member until it joins with it, and expires
  after its session timeout if it never does.
- Static membership (KIP-345): a known group.instance.id joining without a
  member id replaces the old member id, which is fenced (FENCED_INSTANCE_ID)
  on its pending join/sync and on every later request. In Stable, when the
  selected protocol does not change, the replacement is persisted without a
  rebalance and the join is answered once the record is durable.
- Protocol selection: among the protocols every member supports, each member
  votes for the first one in its own preference order; most votes wins (ties:
  the order of members in the group, i.e. join order - Kafka leaves ties to
  HashMap order).
- A join is a delayed operation: it completes when every known member has
  rejoined and no pending member remains, or when the rebalance timeout (the
  largest of the members') expires; members that did not rejoin are removed.
  The first rebalance of an Empty group waits group.initial.rebalance.delay.ms,
  extended while new members keep arriving, up to the rebalance timeout.
- The leader's JoinGroup response carries every member's metadata for the
  selected protocol; the leader's SyncGroup stores the assignment (a
  GroupMetadata record) and, once durable, answers every waiting SyncGroup.
  Members without an assignment get empty bytes, never null.
- Session timeouts: each heartbeat (or commit, join, sync) re-arms the
  member's deadline; a member waiting in a join or sync is never expired; a
  new member waiting for its first join expires after 5 minutes.
- Only GroupMetadata is written, as Kafka does: after the leader's SyncGroup,
  when a rebalance ends with no member (an Empty generation), when a static
  member is replaced in Stable, and once when a group is created. The
  in-flight rebalance state (who has rejoined, pending members, deadlines) is
  in memory only: after a restart a group comes back in Stable (or Empty) with
  the last stored generation and members, whose sessions start again.
"""

from __future__ import annotations

import logging

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.group.base import CoordinatorResult, Pending
from fluxmq.group.classic import (
    UNKNOWN_MEMBER_ID,
    ClassicGroup,
    ClassicGroupMember,
    S,
    join_response,
    sync_response,
)

log = logging.getLogger("fluxmq.group")

NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000  # Kafka's CLASSIC_GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS


class ClassicGroupManager:
    """The classic protocol over the coordinator's group registry. Every
    operation runs to completion without waiting; what waits (a join, a
    sync) is a Pending completed later by another request or a timer."""

    def __init__(self, coordinator):
        self.coordinator = coordinator  # groups, timer, config, clock, append-error mapping
        cfg = coordinator.config
        self.initial_rebalance_delay_ms = cfg["group.initial.rebalance.delay.ms"]
        self.max_size = cfg["group.max.size"]

    # ------------------------------------------------------------ helpers
    @property
    def groups(self) -> dict:
        return self.coordinator.groups

    @property
    def timer(self):
        return self.coordinator.timer

    def now(self) -> int:
        return self.coordinator.clock.milliseconds()

    def _classic(self, group_id: str) -> ClassicGroup | None:
        g = self.groups.get(group_id)
        return g if isinstance(g, ClassicGroup) else None

    @staticmethod
    def join_key(group_id):
        return ("join", group_id)

    @staticmethod
    def sync_key(group_id):
        return ("sync", group_id)

    @staticmethod
    def heartbeat_key(group_id, member_id):
        return ("heartbeat", group_id, member_id)

    # ============================================================== join
    def join_group(self, group_id: str, member_id: str, group_instance_id: str | None, protocol_type: str,
                   protocols: list[tuple[str, bytes]], session_timeout_ms: int, rebalance_timeout_ms: int,
                   client_id: str, client_host: str, api_version: int, reason: str | None = None) -> CoordinatorResult:
        pending = Pending()
        req = _JoinRequest(group_id, member_id, group_instance_id, protocol_type, list(protocols),
                           session_timeout_ms, rebalance_timeout_ms, client_id, client_host, api_version,
                           reason or "not provided")
        records: list = []
        existing = self.groups.get(group_id)
        if existing is not None and not isinstance(existing, ClassicGroup):
            if not existing.is_empty():
                # Upgrading a live KIP-848 group to the classic protocol (Kafka's
                # online migration) is not supported.
                pending.complete(join_response(UNKNOWN_MEMBER_ID, ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
                return CoordinatorResult(response=pending)
            records += existing.tombstone_records()  # an empty consumer group becomes classic
            del self.groups[group_id]
            log.info("group %s: converted the empty %s group to a classic group", group_id, existing.type.value)
        is_unknown = member_id == UNKNOWN_MEMBER_ID
        is_new_group = group_id not in self.groups
        group = self._classic(group_id)
        if group is None:
            if not is_unknown:
                pending.complete(join_response(member_id, ErrorCode.UNKNOWN_MEMBER_ID))
                return CoordinatorResult(records, response=pending)
            group = ClassicGroup(group_id, self.now())
            self.groups[group_id] = group

        result = None
        if not self._accept_joining_member(group, member_id):
            group.remove(member_id)
            pending.complete(join_response(UNKNOWN_MEMBER_ID, ErrorCode.GROUP_MAX_SIZE_REACHED))
        elif is_unknown:
            result = self._join_new_member(group, req, pending)
        else:
            result = self._join_existing_member(group, req, pending)

        if result is None:
            result = CoordinatorResult()
        result.response = pending
        result.replay = False
        result.records = records + result.records
        if is_new_group and not result.records:
            # Persist the new group (generation 0, no members), as Kafka does.
            result.records = [group.empty_metadata_record()]

            def on_append(error, pending=pending):
                if error is not None:
                    log.warning("group %s: could not store the new group: %s", group_id, error.name)
                    pending.complete(join_response(UNKNOWN_MEMBER_ID, error))
            result.on_append = on_append
        return result

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        if group.state in (S.EMPTY, S.DEAD):
            return True
        if group.state is S.PREPARING_REBALANCE:
            # Existing members already waiting are in; new ones up to group.max.size
            # counted by waiting members, which also kicks out the last rejoiners
            # when group.max.size was lowered.
            m = group.members.get(member_id)
            return (m is not None and m.awaiting_join is not None) or group.num_awaiting_join < self.max_size
        return member_id in group.members or len(group.members) < self.max_size

    def _join_new_member(self, group, req, pending) -> CoordinatorResult | None:
        if group.state is S.DEAD:
            pending.complete(join_response(UNKNOWN_MEMBER_ID, ErrorCode.COORDINATOR_NOT_AVAILABLE))
            return None
        if not group.supports_protocols(req.protocol_type, [n for n, _ in req.protocols]):
            pending.complete(join_response(UNKNOWN_MEMBER_ID, ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
            return None
        new_member_id = group.generate_member_id(req.client_id, req.group_instance_id)
        if req.group_instance_id is not None:
            old_member_id = group.static_members.get(req.group_instance_id)
            if old_member_id is not None:
                log.info("group %s: static member %s joins without a member id in %s; replacing member %s",
                         group.group_id, req.group_instance_id, group.state.value, old_member_id)
                return self._replace_static_member(group, req, old_member_id, new_member_id, pending)
            return self._add_member_and_rebalance(group, req, new_member_id, pending)
        if req.api_version >= 4:
            # KIP-394: hand out the id and have the member join again with it.
            group.pending_join_members.add(new_member_id)
            self.timer.schedule(self.heartbeat_key(group.group_id, new_member_id),
                                self.now() + req.session_timeout_ms,
                                lambda: self._expire_heartbeat(group.group_id, new_member_id))
            pending.complete(join_response(new_member_id, ErrorCode.MEMBER_ID_REQUIRED))
            return None
        return self._add_member_and_rebalance(group, req, new_member_id, pending)

    def _join_existing_member(self, group, req, pending) -> CoordinatorResult | None:
        member_id = req.member_id
        if group.state is S.DEAD:
            pending.complete(join_response(member_id, ErrorCode.COORDINATOR_NOT_AVAILABLE))
            return None
        if not group.supports_protocols(req.protocol_type, [n for n, _ in req.protocols]):
            pending.complete(join_response(member_id, ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
            return None
        if group.is_pending_member(member_id):
            if req.group_instance_id is not None:
                pending.complete(join_response(member_id, ErrorCode.INVALID_REQUEST))
                return None
            log.info("group %s: pending member %s joins in %s", group.group_id, member_id, group.state.value)
            return self._add_member_and_rebalance(group, req, member_id, pending)
        try:
            group.validate_member(member_id, req.group_instance_id, "join-group")
        except KafkaError as e:
            pending.complete(join_response(member_id, e.code))
            return None
        member = group.members[member_id]
        state = group.state
        if state is S.PREPARING_REBALANCE:
            return self._update_member_and_rebalance(group, member, req, pending,
                                                     f"member {member_id} rejoins during a rebalance")
        if state is S.COMPLETING_REBALANCE:
            if member.matches(req.protocols):
                # Same metadata (it missed the join response): the current generation again.
                pending.complete(join_response(
                    member_id, generation_id=group.generation_id, protocol_type=group.protocol_type,
                    protocol_name=group.protocol_name, leader=group.leader_id,
                    members=group.current_members() if group.is_leader(member_id) else ()))
                return None
            return self._update_member_and_rebalance(group, member, req, pending,
                                                     f"member {member_id} changed its metadata")
        if state is S.STABLE:
            if group.is_leader(member_id):
                # The leader rejoining forces a rebalance (e.g. for topic metadata changes).
                return self._update_member_and_rebalance(group, member, req, pending,
                                                         f"leader {member_id} rejoins")
            if not member.matches(req.protocols):
                return self._update_member_and_rebalance(group, member, req, pending,
                                                         f"member {member_id} changed its metadata")
            pending.complete(join_response(member_id, generation_id=group.generation_id,
                                           protocol_type=group.protocol_type, protocol_name=group.protocol_name,
                                           leader=group.leader_id))
            return None
        # Empty: the member is gone; it resets its generation and joins anew.
        log.warning("group %s: member %s rejoins an %s group", group.group_id, member_id, state.value)
        pending.complete(join_response(member_id, ErrorCode.UNKNOWN_MEMBER_ID))
        return None

    def _add_member_and_rebalance(self, group, req, member_id, pending) -> CoordinatorResult | None:
        member = ClassicGroupMember(member_id, req.group_instance_id, req.client_id, req.client_host,
                                    req.rebalance_timeout_ms, req.session_timeout_ms, req.protocol_type,
                                    req.protocols)
        member.is_new = True
        if group.state is S.PREPARING_REBALANCE and group.previous_state is S.EMPTY:
            group.new_member_added = True  # extends the initial rebalance delay
        group.add(member, pending)
        # A new member cannot heartbeat until its join returns; bound how long
        # a join of a client that went away can hold the rebalance.
        self._reschedule_heartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        return self._maybe_prepare_rebalance_or_complete_join(
            group, f"adding new member {member_id} with group.instance.id {req.group_instance_id}; "
                   f"client reason: {req.reason}")

    def _update_member_and_rebalance(self, group, member, req, pending, reason) -> CoordinatorResult | None:
        group.update_member(member, req.protocols, req.rebalance_timeout_ms, req.session_timeout_ms, pending)
        return self._maybe_prepare_rebalance_or_complete_join(group, f"{reason}; client reason: {req.reason}")

    def _replace_static_member(self, group, req, old_member_id, new_member_id, pending) -> CoordinatorResult | None:
        current_leader = group.leader_id
        member = group.replace_static_member(req.group_instance_id, old_member_id, new_member_id)
        self.timer.cancel(self.heartbeat_key(group.group_id, old_member_id))
        self._reschedule_heartbeat(group, member)
        old_rebalance, old_session, old_protocols = member.rebalance_timeout_ms, member.session_timeout_ms, \
            member.protocols
        group.update_member(member, req.protocols, req.rebalance_timeout_ms, req.session_timeout_ms, pending)

        if group.state is S.STABLE:
            if group.protocol_name == group.select_protocol():
                # Same protocol: persist the new member id, no rebalance.
                log.info("group %s: static member %s replaced without a rebalance", group.group_id,
                         req.group_instance_id)
                record = group.metadata_record(group.group_assignment())

                def on_append(error):
                    if error is not None:
                        log.warning("group %s: could not store static member %s (%s); reverting to member %s",
                                    group.group_id, new_member_id, error.name, old_member_id)
                        group.update_member(member, old_protocols, old_rebalance, old_session, None)
                        if group.members.get(new_member_id) is member:
                            old = group.replace_static_member(req.group_instance_id, new_member_id, old_member_id)
                            self.timer.cancel(self.heartbeat_key(group.group_id, new_member_id))
                            self._reschedule_heartbeat(group, old)
                        pending.complete(join_response(
                            UNKNOWN_MEMBER_ID, error, generation_id=group.generation_id,
                            protocol_type=group.protocol_type, protocol_name=group.protocol_name,
                            leader=current_leader))
                        return
                    leader = group.is_leader(new_member_id)
                    if req.api_version >= 9:
                        # KIP-814: the leader keeps its assignment and skips computing one.
                        response = join_response(
                            new_member_id, generation_id=group.generation_id, protocol_type=group.protocol_type,
                            protocol_name=group.protocol_name, leader=group.leader_id, skip_assignment=leader,
                            members=group.current_members() if leader else ())
                    else:
                        response = join_response(
                            new_member_id, generation_id=group.generation_id, protocol_type=group.protocol_type,
                            protocol_name=group.protocol_name, leader=current_leader)
                    group.complete_join(member, response)
                return CoordinatorResult([record], on_append=on_append)
            return self._maybe_prepare_rebalance_or_complete_join(
                group, f"static member {new_member_id} with instance id {req.group_instance_id} changes the "
                       f"selected protocol; client reason: {req.reason}")
        if group.state is S.COMPLETING_REBALANCE:
            # The leader may already be assigning with the old member id: rebalance again.
            return self._prepare_rebalance(group, f"static member {new_member_id} with instance id "
                                                  f"{req.group_instance_id} rejoined during the sync phase")
        return self._maybe_complete_join_phase(group)

    # ---------------------------------------------------------- rebalance
    def _maybe_prepare_rebalance_or_complete_join(self, group, reason) -> CoordinatorResult | None:
        if group.can_rebalance():
            return self._prepare_rebalance(group, reason)
        return self._maybe_complete_join_phase(group)

    def _maybe_complete_join_phase(self, group) -> CoordinatorResult | None:
        if group.state is not S.PREPARING_REBALANCE:
            return None
        if group.previous_state is S.EMPTY:
            return None  # the initial rebalance completes on its delay timer
        if not group.has_all_members_joined():
            return None
        return self._complete_join(group)

    def _prepare_rebalance(self, group, reason) -> CoordinatorResult | None:
        if group.state is S.COMPLETING_REBALANCE:
            self._reset_and_propagate_assignment_with_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        self._remove_sync_expiration(group)
        initial = group.state is S.EMPTY
        if initial:
            delay = self.initial_rebalance_delay_ms
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            gid = group.group_id
            self.timer.schedule(self.join_key(gid), self.now() + delay,
                                lambda: self._try_complete_initial_rebalance(gid, delay, remaining))
        group.transition_to(S.PREPARING_REBALANCE, self.now())
        log.info("group %s: preparing to rebalance (old generation %d): %s", group.group_id,
                 group.generation_id, reason)
        return None if initial else self._maybe_complete_join_else_schedule(group)

    def _maybe_complete_join_else_schedule(self, group) -> CoordinatorResult | None:
        if group.has_all_members_joined():
            return self._complete_join(group)
        gid = group.group_id
        self.timer.schedule(self.join_key(gid), self.now() + group.rebalance_timeout_ms(),
                            lambda: self._complete_join_by_id(gid))
        return None

    def _try_complete_initial_rebalance(self, group_id, delay, remaining) -> CoordinatorResult | None:
        group = self._classic(group_id)
        if group is None:
            return None
        if group.new_member_added and remaining != 0:
            group.new_member_added = False
            new_delay = min(self.initial_rebalance_delay_ms, remaining)
            new_remaining = max(remaining - delay, 0)
            self.timer.schedule(self.join_key(group_id), self.now() + new_delay,
                                lambda: self._try_complete_initial_rebalance(group_id, new_delay, new_remaining))
            return None
        return self._complete_join(group)

    def _complete_join_by_id(self, group_id) -> CoordinatorResult | None:
        group = self._classic(group_id)
        return self._complete_join(group) if group is not None else None

    def _complete_join(self, group: ClassicGroup) -> CoordinatorResult | None:
        """The join phase ends: members that did not rejoin are dropped (static
        members stay), and the next generation starts."""
        gid = group.group_id
        self.timer.cancel(self.join_key(gid))
        gone = [m for m in group.not_yet_rejoined() if not m.is_static]
        for m in gone:
            group.remove(m.member_id)
            self.timer.cancel(self.heartbeat_key(gid, m.member_id))
        if gone:
            log.info("group %s: removed members that did not rejoin: %s", gid, [m.member_id for m in gone])
        if group.state is S.DEAD:
            return None
        if not group.maybe_elect_new_joined_leader() and group.members:
            # Nobody rejoined: wait another rebalance timeout, until session
            # timeouts have removed the silent members.
            log.error("group %s: could not complete the rebalance because no member rejoined", gid)
            self.timer.schedule(self.join_key(gid), self.now() + group.rebalance_timeout_ms(),
                                lambda: self._complete_join_by_id(gid))
            return None
        group.init_next_generation(self.now())
        if group.state is S.EMPTY:
            log.info("group %s: generation %d is empty", gid, group.generation_id)
            return CoordinatorResult([group.metadata_record({})], replay=False, on_append=lambda error: (
                error is not None and log.warning("group %s: could not store the empty generation: %s",
                                                  gid, error.name)))
        log.info("group %s: generation %d with %d members (protocol %s); waiting for the leader's assignment",
                 gid, group.generation_id, len(group.members), group.protocol_name)
        for member in list(group.members.values()):
            leader = group.is_leader(member.member_id)
            group.complete_join(member, join_response(
                member.member_id, generation_id=group.generation_id, protocol_type=group.protocol_type,
                protocol_name=group.protocol_name, leader=group.leader_id,
                members=group.current_members() if leader else ()))
            self._reschedule_heartbeat(group, member)
            member.is_new = False
            group.pending_sync_members.add(member.member_id)
        generation = group.generation_id
        self.timer.schedule(self.sync_key(gid), self.now() + group.rebalance_timeout_ms(),
                            lambda: self._expire_pending_sync(gid, generation))
        return None

    def _expire_pending_sync(self, group_id, generation) -> CoordinatorResult | None:
        group = self._classic(group_id)
        if group is None or generation != group.generation_id:
            return None
        if group.state in (S.COMPLETING_REBALANCE, S.STABLE) and group.pending_sync_members:
            missing = sorted(group.pending_sync_members)
            for member_id in missing:
                group.remove(member_id)
                self.timer.cancel(self.heartbeat_key(group_id, member_id))
            log.info("group %s: removed members that sent no SyncGroup in time: %s", group_id, missing)
            return self._prepare_rebalance(group, f"removing {missing} on pending sync request expiration")
        return None

    def _remove_sync_expiration(self, group) -> None:
        group.pending_sync_members.clear()
        self.timer.cancel(self.sync_key(group.group_id))

    def _remove_pending_sync_member(self, group, member_id) -> None:
        group.pending_sync_members.discard(member_id)
        if group.state not in (S.COMPLETING_REBALANCE, S.STABLE) or not group.pending_sync_members:
            self.timer.cancel(self.sync_key(group.group_id))

    def _reset_and_propagate_assignment_with_error(self, group, error) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate_assignment(group, error)

    def _set_and_propagate_assignment(self, group, assignment: dict[str, bytes]) -> None:
        for member in group.members.values():
            member.assignment = assignment.get(member.member_id, b"")
        self._propagate_assignment(group, ErrorCode.NONE)

    def _propagate_assignment(self, group, error) -> None:
        ok = error == ErrorCode.NONE
        for member in list(group.members.values()):
            response = sync_response(error, group.protocol_type if ok else None,
                                     group.protocol_name if ok else None, member.assignment)
            if group.complete_sync(member, response):
                # Sessions restart once the assignment is out: an expiry that
                # happened while the member waited was ignored.
                self._reschedule_heartbeat(group, member)

    # ---------------------------------------------------------- heartbeats
    def _reschedule_heartbeat(self, group, member, timeout_ms: int | None = None) -> None:
        gid, mid = group.group_id, member.member_id
        timeout = member.session_timeout_ms if timeout_ms is None else timeout_ms
        self.timer.schedule(self.heartbeat_key(gid, mid), self.now() + timeout,
                            lambda: self._expire_heartbeat(gid, mid))

    def reschedule_heartbeat_if_member(self, group, member_id) -> None:
        member = group.members.get(member_id)
        if member is not None:
            self._reschedule_heartbeat(group, member)

    def _expire_heartbeat(self, group_id, member_id) -> CoordinatorResult | None:
        group = self._classic(group_id)
        if group is None or group.state is S.DEAD:
            return None
        if group.is_pending_member(member_id):
            log.info("group %s: pending member %s never joined; removed after its session timeout",
                     group_id, member_id)
            group.remove(member_id)
            if group.state is S.PREPARING_REBALANCE and group.has_all_members_joined():
                return self._complete_join(group)
            return None
        member = group.members.get(member_id)
        if member is None or member.has_satisfied_heartbeat():
            return None
        log.info("group %s: member %s failed its session timeout; removing it", group_id, member_id)
        return self._remove_member_and_update(group, member, f"removing member {member_id} on heartbeat expiration")

    def _remove_member_and_update(self, group, member, reason) -> CoordinatorResult | None:
        # A new member may time out while its join waits: answer it first.
        group.complete_join(member, join_response(UNKNOWN_MEMBER_ID, ErrorCode.UNKNOWN_MEMBER_ID))
        group.remove(member.member_id)
        if group.state in (S.STABLE, S.COMPLETING_REBALANCE):
            return self._maybe_prepare_rebalance_or_complete_join(group, reason)
        if group.state is S.PREPARING_REBALANCE and group.has_all_members_joined():
            return self._complete_join(group)
        return None

    # ============================================================== sync
    def sync_group(self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None,
                   protocol_type: str | None, protocol_name: str | None,
                   assignments: list[tuple[str, bytes]]) -> CoordinatorResult:
        pending = Pending()
        result = CoordinatorResult(response=pending, replay=False)
        group = self.groups.get(group_id)
        if group is None or group.is_empty() or not isinstance(group, ClassicGroup):
            pending.complete(sync_response(ErrorCode.UNKNOWN_MEMBER_ID))
            return result
        error = self._validate_sync(group, generation_id, member_id, group_instance_id, protocol_type, protocol_name)
        if error is not None:
            pending.complete(sync_response(error))
            return result
        if group.state is S.PREPARING_REBALANCE:
            pending.complete(sync_response(ErrorCode.REBALANCE_IN_PROGRESS))
            return result
        if group.state is S.STABLE:
            self._remove_pending_sync_member(group, member_id)
            member = group.members[member_id]
            pending.complete(sync_response(ErrorCode.NONE, group.protocol_type, group.protocol_name,
                                           member.assignment))
            return result
        # CompletingRebalance: park; the leader's assignment completes everybody.
        member = group.members[member_id]
        if member.awaiting_sync is not None:
            member.awaiting_sync.complete(sync_response(ErrorCode.REBALANCE_IN_PROGRESS))
        member.awaiting_sync = pending
        self._remove_pending_sync_member(group, member_id)
        if not group.is_leader(member_id):
            return result
        log.info("group %s: assignment received from leader %s for generation %d (%d members)", group_id,
                 member_id, group.generation_id, len(group.members))
        assignment = {mid: data if data is not None else b"" for mid, data in assignments}
        missing = [mid for mid in group.members if mid not in assignment]
        for mid in missing:
            assignment[mid] = b""
        if missing:
            log.warning("group %s: empty assignment for members %s in generation %d", group_id, missing,
                        group.generation_id)
        generation = group.generation_id

        def on_append(error):
            # Someone may have joined meanwhile: act only on the same generation.
            if group.state is not S.COMPLETING_REBALANCE or group.generation_id != generation:
                return
            if error is not None:
                self._reset_and_propagate_assignment_with_error(group, error)
                self.coordinator.defer(self._maybe_prepare_rebalance_or_complete_join(
                    group, f"error {error.name} storing the assignment of leader {member_id}"))
                return
            self._set_and_propagate_assignment(group, assignment)
            group.transition_to(S.STABLE, self.now())
            log.info("group %s: generation %d is stable", group_id, generation)
        result.records = [group.metadata_record(assignment)]
        result.on_append = on_append
        return result

    @staticmethod
    def _validate_sync(group, generation_id, member_id, group_instance_id, protocol_type, protocol_name):
        if group.state is S.DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        try:
            group.validate_member(member_id, group_instance_id, "sync-group")
        except KafkaError as e:
            return e.code
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if (protocol_type is not None and protocol_type != group.protocol_type) or \
                (protocol_name is not None and protocol_name != group.protocol_name):
            return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        return None

    # ========================================================= heartbeat
    def heartbeat(self, group_id: str, generation_id: int, member_id: str,
                  group_instance_id: str | None) -> CoordinatorResult:
        group = self.groups.get(group_id)
        if not isinstance(group, ClassicGroup):
            return CoordinatorResult(response={"error_code": ErrorCode.UNKNOWN_MEMBER_ID})
        if group.state is S.DEAD:
            return CoordinatorResult(response={"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE})
        try:
            group.validate_member(member_id, group_instance_id, "heartbeat")
            if generation_id != group.generation_id:
                raise KafkaError(ErrorCode.ILLEGAL_GENERATION)
        except KafkaError as e:
            return CoordinatorResult(response={"error_code": e.code})
        if group.state is S.EMPTY:
            return CoordinatorResult(response={"error_code": ErrorCode.UNKNOWN_MEMBER_ID})
        self._reschedule_heartbeat(group, group.members[member_id])
        if group.state is S.PREPARING_REBALANCE:
            return CoordinatorResult(response={"error_code": ErrorCode.REBALANCE_IN_PROGRESS})
        # CompletingRebalance (heartbeats may start right after the join) or Stable.
        return CoordinatorResult(response={"error_code": ErrorCode.NONE})

    # ============================================================= leave
    def leave_group(self, group_id: str, members: list[tuple[str, str | None, str | None]]) -> CoordinatorResult:
        """members: (member_id, group_instance_id, reason); v0-v2 send one
        member id, v3+ a batch (static members may be named by instance id
        alone, for administrative removal)."""
        group = self.groups.get(group_id)
        if not isinstance(group, ClassicGroup):
            return CoordinatorResult(response={"error_code": ErrorCode.NONE, "members": [
                _leave_member(mid, iid, ErrorCode.UNKNOWN_MEMBER_ID) for mid, iid, _ in members]})
        if group.state is S.DEAD:
            return CoordinatorResult(response={"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "members": []})
        out = []
        left = []
        for member_id, instance_id, reason in members:
            reason = reason or "not provided"
            if member_id == UNKNOWN_MEMBER_ID:
                if instance_id is not None and instance_id in group.static_members:
                    mid = group.static_members[instance_id]
                    self._remove_current_member(group, mid, reason)
                    out.append(_leave_member(member_id, instance_id, ErrorCode.NONE))
                    left.append(mid)
                else:
                    out.append(_leave_member(member_id, instance_id, ErrorCode.UNKNOWN_MEMBER_ID))
            elif group.is_pending_member(member_id):
                group.remove(member_id)
                self.timer.cancel(self.heartbeat_key(group_id, member_id))
                log.info("group %s: pending member %s left; client reason: %s", group_id, member_id, reason)
                out.append(_leave_member(member_id, instance_id, ErrorCode.NONE))
                left.append(member_id)
            else:
                try:
                    group.validate_member(member_id, instance_id, "leave-group")
                except KafkaError as e:
                    out.append(_leave_member(member_id, instance_id, e.code))
                    continue
                self._remove_current_member(group, member_id, reason)
                out.append(_leave_member(member_id, instance_id, ErrorCode.NONE))
                left.append(member_id)
        result = None
        if left:
            reason = f"explicit LeaveGroup request for {left}"
            if group.state in (S.STABLE, S.COMPLETING_REBALANCE):
                result = self._maybe_prepare_rebalance_or_complete_join(group, reason)
            elif group.state is S.PREPARING_REBALANCE:
                result = self._maybe_complete_join_phase(group)
        result = result or CoordinatorResult()
        result.response = {"error_code": ErrorCode.NONE, "members": out}
        result.replay = False
        return result

    def _remove_current_member(self, group, member_id, reason) -> None:
        member = group.members[member_id]
        self.timer.cancel(self.heartbeat_key(group.group_id, member_id))
        log.info("group %s: member %s left; client reason: %s", group.group_id, member_id, reason)
        group.complete_join(member, join_response(UNKNOWN_MEMBER_ID, ErrorCode.UNKNOWN_MEMBER_ID))
        group.remove(member_id)

    # ============================================================ loading
    def replay_group_metadata(self, key: dict, value: dict | None) -> None:
        group_id = key["group"]
        if value is None:
            self.coordinator.remove_group(group_id)
            return
        self.groups[group_id] = ClassicGroup.from_record(group_id, value)

    def on_loaded(self) -> list[CoordinatorResult]:
        """After replay at start-up: sessions start for the loaded members."""
        results = []
        for group in list(self.groups.values()):
            if not isinstance(group, ClassicGroup):
                continue
            for member in group.members.values():
                self._reschedule_heartbeat(group, member)
            if len(group.members) > self.max_size:
                results.append(self._prepare_rebalance(
                    group, f"loaded group has {len(group.members)} members, above group.max.size {self.max_size}"))
        return [r for r in results if r is not None]

    def on_unloaded(self) -> None:
        """Shutdown: every parked join and sync gets NOT_COORDINATOR, so
        clients go and find the coordinator again."""
        for group in self.groups.values():
            if not isinstance(group, ClassicGroup):
                continue
            for member in list(group.members.values()):
                group.complete_join(member, join_response(member.member_id, ErrorCode.NOT_COORDINATOR))
                group.complete_sync(member, sync_response(ErrorCode.NOT_COORDINATOR))


def _leave_member(member_id, instance_id, error) -> dict:
    return {"member_id": member_id, "group_instance_id": instance_id, "error_code": error}


class _JoinRequest:
    __slots__ = ("group_id", "member_id", "group_instance_id", "protocol_type", "protocols", "session_timeout_ms",
                 "rebalance_timeout_ms", "client_id", "client_host", "api_version", "reason")

    def __init__(self, *values):
        for name, value in zip(self.__slots__, values):
            setattr(self, name, value)
