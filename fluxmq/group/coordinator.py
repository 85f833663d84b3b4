"""GroupCoordinator: the group registry, committed offsets and the entry
points of the group APIs, in the shape of Kafka's GroupCoordinatorService +
GroupCoordinatorShard, without I/O.

- Every request method returns a CoordinatorResult (records, response).
  It never writes: fluxmq/group/runtime.py appends the records to
  __consumer_offsets, replays them (replay() is also what loads the state at
  start-up, from the same records), waits for fdatasync and then answers.
- Durable state - committed offsets, group existence and deletion, KIP-848
  group records - changes only in replay(). The classic protocol's
  rebalance-in-flight state (who rejoined, parked joins and syncs, session
  deadlines) lives in memory only, as in Kafka (its classic GroupMetadata
  records are appended with replayRecords=false); see classic_manager.py.
- Time comes from the injected clock; timers (session timeouts, rebalance
  and initial-rebalance delays, pending syncs, offsets retention) sit in
  `timer` and fire from poll_timers(now), which the runtime calls every
  100 ms and unit tests call with a ManualClock.
- A group lives on partition abs(javaHashCode(group id)) % partitions of
  __consumer_offsets (Kafka's partitionFor). This broker leads every
  partition, so it is the coordinator of every group.

Extension points for other group types (KIP-848 consumer groups): a group in
`groups` is any fluxmq.group.base.Group; `replayers[record_type]` replays a
registered record type; `load_listeners` / `unload_listeners` run after
start-up replay and at shutdown; `defer(result)` hands records produced
outside a request (callbacks) to the runtime; `record_converter` turns that
type's record objects into CoordinatorRecords.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from typing import Callable

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.group import GROUP_METADATA_TOPIC
from fluxmq.group import records as rec
from fluxmq.group.base import CoordinatorResult, Group
from fluxmq.group.classic import ClassicGroup, S, join_response, sync_response
from fluxmq.group.classic_manager import ClassicGroupManager
from fluxmq.group.offsets import OffsetMetadataManager, commit_error_response

log = logging.getLogger("fluxmq.group")

EXPIRATION_KEY = ("group-expiration",)


class Timer:
    """Keyed deadlines (Kafka's coordinator timer): scheduling a key again
    replaces its deadline; poll(now) runs what is due, earliest first."""

    def __init__(self):
        self._entries: dict = {}  # key -> (deadline, seq, fn)
        self._heap: list = []
        self._seq = itertools.count()

    def schedule(self, key, deadline_ms: int, fn: Callable) -> None:
        seq = next(self._seq)
        self._entries[key] = (deadline_ms, seq, fn)
        heapq.heappush(self._heap, (deadline_ms, seq, key))

    def cancel(self, key) -> None:
        self._entries.pop(key, None)

    def is_scheduled(self, key) -> bool:
        return key in self._entries

    def deadline(self, key) -> int | None:
        entry = self._entries.get(key)
        return entry[0] if entry else None

    def next_deadline(self) -> int | None:
        while self._heap:
            deadline, seq, key = self._heap[0]
            entry = self._entries.get(key)
            if entry is not None and entry[1] == seq:
                return deadline
            heapq.heappop(self._heap)
        return None

    def poll(self, now_ms: int) -> list:
        out = []
        while self._heap and self._heap[0][0] <= now_ms:
            deadline, seq, key = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is None or entry[1] != seq:
                continue  # cancelled or rescheduled
            del self._entries[key]
            out.append(entry[2]())
        return out

    def clear(self) -> None:
        self._entries.clear()
        self._heap.clear()


class GroupCoordinator:
    def __init__(self, node, config, clock):
        """node: the broker's Node (metadata image, replica manager), or None for a
        coordinator that only replays and answers (unit tests)."""
        self.node = node
        self.config = config
        self.clock = clock
        self.groups: dict[str, Group] = {}
        self.timer = Timer()
        self.active = False
        self.min_session_timeout_ms = config["group.min.session.timeout.ms"]
        self.max_session_timeout_ms = config["group.max.session.timeout.ms"]
        self.retention_check_interval_ms = config["offsets.retention.check.interval.ms"]
        self.classic = ClassicGroupManager(self)
        self.offsets = OffsetMetadataManager(self)
        self.replayers: dict[int, Callable] = {
            rec.OFFSET_COMMIT: lambda r, offset, pid: self.offsets.replay(r.key, r.value, offset, pid),
            rec.GROUP_METADATA: lambda r, offset, pid: self.classic.replay_group_metadata(r.key, r.value),
        }
        self.load_listeners: list[Callable[[], list]] = []
        self.unload_listeners: list[Callable[[], None]] = []
        self.record_converter: Callable | None = None
        self._deferred: list[CoordinatorResult] = []
        self._unknown_types: set[int] = set()
        # KIP-848 consumer groups (consumer_manager.py): replayers for record types 3-8, timers, load hook.
        from fluxmq.group.consumer_manager import install as install_consumer_groups
        self.consumer = install_consumer_groups(self)

    # ----------------------------------------------------------- topology
    def num_partitions(self) -> int:
        """The partition count of __consumer_offsets if it exists (as Kafka
        reads it from metadata), else offsets.topic.num.partitions."""
        topic = self.node.image.topics.get(GROUP_METADATA_TOPIC) if self.node is not None else None
        return topic.partition_count if topic is not None else self.config["offsets.topic.num.partitions"]

    def partition_for(self, group_id: str) -> int:
        return rec.partition_for(group_id, self.num_partitions())

    # ----------------------------------------------------------- registry
    def get_or_create_simple_group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = ClassicGroup(group_id, self.clock.milliseconds())
        return group

    def remove_group(self, group_id: str) -> None:
        group = self.groups.pop(group_id, None)
        if isinstance(group, ClassicGroup):
            if group.state is not S.DEAD:
                group.transition_to(S.DEAD, self.clock.milliseconds())
            for member_id in list(group.members) + list(group.pending_join_members):
                self.timer.cancel(self.classic.heartbeat_key(group_id, member_id))
            self.timer.cancel(self.classic.join_key(group_id))
            self.timer.cancel(self.classic.sync_key(group_id))

    def as_record(self, record) -> rec.CoordinatorRecord:
        """Records of other group types may be their own objects: they are
        converted by `record_converter` (set by that module) or by their
        to_coordinator_record() method."""
        if isinstance(record, rec.CoordinatorRecord):
            return record
        if self.record_converter is not None:
            return self.record_converter(record)
        return record.to_coordinator_record()

    def defer(self, result: CoordinatorResult | None) -> None:
        if result is not None:
            self._deferred.append(result)

    def take_deferred(self) -> list[CoordinatorResult]:
        out, self._deferred = self._deferred, []
        return out

    def on_offset_commit(self, group: Group, member_id: str) -> None:
        """A classic member's commit in Stable or PreparingRebalance keeps its session alive."""
        if isinstance(group, ClassicGroup) and group.state in (S.STABLE, S.PREPARING_REBALANCE):
            self.classic.reschedule_heartbeat_if_member(group, member_id)

    # ====================================================== classic APIs
    def _inactive(self) -> bool:
        return not self.active

    def join_group(self, group_id: str, member_id: str, group_instance_id: str | None, protocol_type: str,
                   protocols: list[tuple[str, bytes]], session_timeout_ms: int, rebalance_timeout_ms: int,
                   client_id: str, client_host: str, api_version: int, reason: str | None = None) -> CoordinatorResult:
        if self._inactive():
            return CoordinatorResult(response=join_response(member_id, ErrorCode.COORDINATOR_NOT_AVAILABLE))
        if not group_id:
            return CoordinatorResult(response=join_response(member_id, ErrorCode.INVALID_GROUP_ID))
        if not self.min_session_timeout_ms <= session_timeout_ms <= self.max_session_timeout_ms:
            log.info("JoinGroup to %s refused: session timeout %d ms is outside group.min.session.timeout.ms %d "
                     "- group.max.session.timeout.ms %d", group_id, session_timeout_ms,
                     self.min_session_timeout_ms, self.max_session_timeout_ms)
            return CoordinatorResult(response=join_response(member_id, ErrorCode.INVALID_SESSION_TIMEOUT))
        if api_version == 0:
            rebalance_timeout_ms = session_timeout_ms  # v0 has none: Kafka uses the session timeout
        result = self.classic.join_group(group_id, member_id, group_instance_id, protocol_type, protocols,
                                         session_timeout_ms, rebalance_timeout_ms, client_id, client_host,
                                         api_version, reason)
        result.error_response = lambda code: join_response(UNKNOWN_MEMBER, code)
        return result

    def sync_group(self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None,
                   protocol_type: str | None, protocol_name: str | None,
                   assignments: list[tuple[str, bytes]]) -> CoordinatorResult:
        if self._inactive():
            return CoordinatorResult(response=sync_response(ErrorCode.COORDINATOR_NOT_AVAILABLE))
        if not group_id:
            return CoordinatorResult(response=sync_response(ErrorCode.INVALID_GROUP_ID))
        return self.classic.sync_group(group_id, generation_id, member_id, group_instance_id, protocol_type,
                                       protocol_name, assignments)

    def heartbeat(self, group_id: str, generation_id: int, member_id: str,
                  group_instance_id: str | None = None) -> CoordinatorResult:
        if self._inactive():
            return CoordinatorResult(response={"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE})
        if not group_id:
            return CoordinatorResult(response={"error_code": ErrorCode.INVALID_GROUP_ID})
        return self.classic.heartbeat(group_id, generation_id, member_id, group_instance_id)

    def leave_group(self, group_id: str, members: list[tuple[str, str | None, str | None]]) -> CoordinatorResult:
        if self._inactive():
            return CoordinatorResult(response={"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "members": []})
        if not group_id:
            return CoordinatorResult(response={"error_code": ErrorCode.INVALID_GROUP_ID, "members": []})
        result = self.classic.leave_group(group_id, members)
        result.error_response = lambda code: {"error_code": code, "members": []}
        return result

    # ======================================================= offset APIs
    def commit_offsets(self, group_id: str | None, generation_id: int, member_id: str,
                       group_instance_id: str | None, topics: list, api_version: int,
                       retention_time_ms: int = -1) -> CoordinatorResult:
        """topics: [(name, [(partition, offset, leader_epoch, metadata)])]. An
        empty group id is accepted, as Kafka does for OffsetCommit."""
        if self._inactive():
            return CoordinatorResult(response=commit_error_response(topics, ErrorCode.COORDINATOR_NOT_AVAILABLE))
        if group_id is None:
            return CoordinatorResult(response=commit_error_response(topics, ErrorCode.INVALID_GROUP_ID))
        return self.offsets.commit_offsets(group_id, generation_id, member_id or "", group_instance_id,
                                           retention_time_ms, topics, api_version)

    def commit_transactional_offsets(self, transactional_id: str, producer_id: int, producer_epoch: int,
                                     group_id: str, generation_id: int, member_id: str,
                                     group_instance_id: str | None, topics: list) -> CoordinatorResult:
        """TxnOffsetCommit: pending until the producer's transaction ends (offsets.py)."""
        if self._inactive():
            return CoordinatorResult(response=commit_error_response(topics, ErrorCode.COORDINATOR_NOT_AVAILABLE))
        return self.offsets.commit_transactional_offsets(transactional_id, producer_id, producer_epoch, group_id,
                                                         generation_id, member_id, group_instance_id, topics)

    def fetch_offsets(self, group_id: str | None, topics: list | None, require_stable: bool = False,
                      member_id: str | None = None, member_epoch: int = -1) -> dict:
        if self._inactive():
            return {"group_id": group_id, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "topics": []}
        if group_id is None:
            return {"group_id": group_id, "error_code": ErrorCode.INVALID_GROUP_ID, "topics": []}
        return self.offsets.fetch_offsets(group_id, topics, require_stable, member_id, member_epoch)

    def delete_offsets(self, group_id: str, topics: list) -> CoordinatorResult:
        if self._inactive():
            return CoordinatorResult(response={"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "topics": []})
        if not group_id:
            return CoordinatorResult(response={"error_code": ErrorCode.INVALID_GROUP_ID, "topics": []})
        return self.offsets.delete_offsets(group_id, topics)

    # ======================================================== admin APIs
    def describe_groups(self, group_ids: list[str], version: int = 0) -> list[dict]:
        """v6+ (KIP-1043) reports an unknown or non-classic group as
        GROUP_ID_NOT_FOUND; older versions as Dead with no error."""
        out = []
        for group_id in group_ids:
            if self._inactive() or group_id is None:
                code = ErrorCode.COORDINATOR_NOT_AVAILABLE if self._inactive() else ErrorCode.INVALID_GROUP_ID
                out.append(_described(group_id or "", "", code))
                continue
            group = self.groups.get(group_id)
            if isinstance(group, ClassicGroup):
                out.append(group.describe())
            elif version >= 6:
                described = _described(group_id, S.DEAD.value, ErrorCode.GROUP_ID_NOT_FOUND)
                described["error_message"] = (f"Group {group_id} not found." if group is None
                                              else f"Group {group_id} is not a classic group.")
                out.append(described)
            else:
                # Unknown, or not a classic group (KIP-848 groups answer
                # ConsumerGroupDescribe): Dead with no error before v6.
                out.append(_described(group_id, S.DEAD.value, ErrorCode.NONE))
        return out

    def list_groups(self, states_filter: list[str] | None = None, types_filter: list[str] | None = None) -> dict:
        if self._inactive():
            return {"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "groups": []}
        states = {s.strip().lower() for s in states_filter or ()}
        types = {t.strip().lower() for t in types_filter or ()}
        groups = []
        for group in self.groups.values():
            listed = group.as_listed_group()
            if states and listed["group_state"].lower() not in states:
                continue
            if types and str(listed["group_type"]).lower() not in types:
                continue
            groups.append(listed)
        return {"error_code": ErrorCode.NONE, "groups": groups}

    def delete_groups(self, group_ids: list[str]) -> CoordinatorResult:
        results = []
        records = []
        for group_id in group_ids:
            if self._inactive():
                results.append({"group_id": group_id, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE})
                continue
            if group_id is None:
                results.append({"group_id": group_id, "error_code": ErrorCode.INVALID_GROUP_ID})
                continue
            group = self.groups.get(group_id)
            try:
                if group is None:
                    raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.")
                group.validate_delete_group()
            except KafkaError as e:
                results.append({"group_id": group_id, "error_code": e.code})
                continue
            records += self.offsets.delete_all_offsets(group_id)
            records += group.tombstone_records()
            results.append({"group_id": group_id, "error_code": ErrorCode.NONE})
            log.info("group %s deleted (DeleteGroups)", group_id)

        def error_response(code):
            return [dict(r, error_code=code) if r["error_code"] == ErrorCode.NONE else r for r in results]
        return CoordinatorResult(records, results, error_response=error_response)

    # ============================================================ replay
    def replay(self, record, offset: int = -1, producer_id: int = -1) -> None:
        """Applies one record - appended just now, or read at start-up."""
        record = self.as_record(record)
        replayer = self.replayers.get(record.type)
        if replayer is None:
            if record.type not in self._unknown_types:
                self._unknown_types.add(record.type)
                log.warning("no replayer for coordinator record type %d; such records are ignored", record.type)
            return
        replayer(record, offset, producer_id)

    def load(self) -> int:
        """Start-up: replays __consumer_offsets, then starts the loaded
        members' sessions. Returns the number of records replayed."""
        from fluxmq.log import batch as batch_format
        from fluxmq.log.records import iter_records
        count = 0
        partitions = self.node.replica_manager.partitions_of(GROUP_METADATA_TOPIC) if self.node is not None else ()
        for p in partitions:
            for batch in p.log.iter_batches():
                attributes = batch_format.attributes(batch)
                producer_id = batch_format.producer_id(batch)
                if attributes & batch_format.CONTROL_BIT:
                    self._replay_marker(p.index, producer_id, batch)
                    continue
                if not attributes & batch_format.TRANSACTIONAL_BIT:
                    producer_id = -1  # only transactional records are pending for their producer
                for offset, _ts, key, value in iter_records(batch, with_values=True):
                    try:
                        record = rec.decode(key, value)
                    except rec.UnknownRecordType as e:
                        if e.record_type not in self._unknown_types:
                            self._unknown_types.add(e.record_type)
                            log.warning("%s-%d: skipping coordinator records of unknown type %d",
                                        p.topic, p.index, e.record_type)
                        continue
                    except rec.RecordFormatError as e:
                        log.error("%s-%d: skipping malformed coordinator record at offset %d: %s",
                                  p.topic, p.index, offset, e)
                        continue
                    self.replay(record, offset, producer_id)
                    count += 1
        self.on_loaded()
        return count

    def _replay_marker(self, partition: int, producer_id: int, batch: bytes) -> None:
        """A transaction marker read at start-up ends the producer's transactional offsets."""
        from fluxmq.log.control import COMMIT, marker_type
        try:
            kind = marker_type(batch)
        except Exception as e:  # noqa: BLE001 - not a COMMIT / ABORT marker: skipped, as Kafka does
            log.warning("%s-%d: skipping a control batch: %s", GROUP_METADATA_TOPIC, partition, e)
            return
        self.offsets.complete_transaction(partition, producer_id, kind == COMMIT)

    def on_loaded(self) -> None:
        self.active = True
        for result in self.classic.on_loaded():
            self.defer(result)
        for listener in self.load_listeners:
            for result in listener() or ():
                self.defer(result)
        self._schedule_expiration()

    def on_unloaded(self) -> None:
        self.active = False
        self.classic.on_unloaded()
        for listener in self.unload_listeners:
            listener()
        self.timer.clear()

    # ============================================================ timers
    def poll_timers(self, now_ms: int) -> list[CoordinatorResult]:
        """Runs every timer due at now_ms; returns the results to apply
        (records to append, callbacks), including deferred ones."""
        out = [r for r in self.timer.poll(now_ms) if r is not None]
        return out + self.take_deferred()

    def _schedule_expiration(self) -> None:
        self.timer.schedule(EXPIRATION_KEY, self.clock.milliseconds() + self.retention_check_interval_ms,
                            self.cleanup_group_metadata)

    def cleanup_group_metadata(self) -> CoordinatorResult | None:
        """Offsets retention and expiry of empty groups whose offsets are all gone."""
        now = self.clock.milliseconds()
        records = []
        for group_id, group in list(self.groups.items()):
            if not group.should_expire():
                continue
            expired, all_expired = self.offsets.cleanup_expired(group_id, now)
            records += expired
            if all_expired and group.is_empty():
                records += group.tombstone_records()
                log.info("group %s: empty and without offsets; deleted", group_id)
        self._schedule_expiration()
        return CoordinatorResult(records) if records else None


UNKNOWN_MEMBER = ""


def _described(group_id: str, state: str, code: ErrorCode) -> dict:
    return {"error_code": code, "group_id": group_id, "group_state": state, "protocol_type": "",
            "protocol_data": "", "members": []}
