"""Committed offsets (Kafka's OffsetMetadataManager): OffsetCommit,
OffsetFetch, OffsetDelete, the offsets of DeleteGroups, and retention.

Offsets change only by replaying OffsetCommit records (a tombstone deletes):
a commit validates, answers and returns the records; the runtime appends
them, replays them, and sends the answer once they are durable. Start-up
replays the same records from __consumer_offsets.

- Validation is the group's (Group.validate_offset_commit): a classic group
  checks member id, group.instance.id and generation; a KIP-848 group checks
  the member epoch. A commit with generation -1 into a group that does not
  exist creates a "simple" group (Empty, no protocol type) - the admin client
  and consumers that assign() partitions commit that way. A commit with a
  generation into an unknown group is ILLEGAL_GENERATION before v9 and
  GROUP_ID_NOT_FOUND from v9, as Kafka answers.
- Metadata longer than offset.metadata.max.bytes (in UTF-16 units, Java's
  String.length) is OFFSET_METADATA_TOO_LARGE for that partition; the others
  are still committed. Metadata is stored and returned as the client sent it.
- Retention (offsets.retention.minutes): an offset expires when its explicit
  expire timestamp (OffsetCommit v2-v4 retention_time) has passed, else
  retention after the group's base time: when the group became Empty for a
  group with a protocol, each commit for a simple group, each commit for
  topics a Stable consumer group no longer subscribes to. Offsets of
  subscribed topics never expire. A group whose offsets all expired and that
  is empty is deleted too (tombstones).
- Transactional commits (TxnOffsetCommit, KIP-98/KIP-447): written as a
  transactional batch of the producer (its id and epoch) and replayed as
  pending offsets of that producer; the transaction's COMMIT marker on the
  group's __consumer_offsets partition makes them committed, ABORT drops
  them (Kafka's replayEndTransactionMarker). Start-up replays both.
- require_stable (OffsetFetch v7+): a partition with a pending transactional
  offset answers UNSTABLE_OFFSET_COMMIT, so the consumer retries until the
  transaction ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.group import records as rec
from fluxmq.group.base import CoordinatorResult

log = logging.getLogger("fluxmq.group")

INVALID_OFFSET = -1
NO_EPOCH = -1


@dataclass(frozen=True, slots=True)
class OffsetAndMetadata:
    offset: int
    leader_epoch: int        # -1: none
    metadata: str
    commit_timestamp: int
    expire_timestamp: int = -1  # -1: none
    record_offset: int = -1  # where the record is in __consumer_offsets

    @classmethod
    def from_record(cls, value: dict, record_offset: int) -> "OffsetAndMetadata":
        return cls(value["offset"], value.get("leader_epoch", -1), value["metadata"] or "",
                   value["commit_timestamp"], value.get("expire_timestamp", -1), record_offset)


def _java_length(s: str | None) -> int:
    return 0 if s is None else len(s.encode("utf-16-le", "surrogatepass")) // 2


def commit_error_response(topics, code) -> dict:
    return {"topics": [{"name": name, "partitions": [{"partition_index": p[0], "error_code": code} for p in parts]}
                       for name, parts in topics]}


class OffsetMetadataManager:
    def __init__(self, coordinator):
        self.coordinator = coordinator
        cfg = coordinator.config
        self.metadata_max_bytes = cfg["offset.metadata.max.bytes"]
        self.retention_ms = cfg["offsets.retention.minutes"] * 60_000
        # group -> topic -> partition -> OffsetAndMetadata
        self.offsets: dict[str, dict[str, dict[int, OffsetAndMetadata]]] = {}
        # producer id -> group -> (topic, partition) -> OffsetAndMetadata: transactional, not yet committed
        self.pending: dict[int, dict[str, dict[tuple[str, int], OffsetAndMetadata]]] = {}

    # -------------------------------------------------------------- reads
    def get(self, group_id: str, topic: str, partition: int) -> OffsetAndMetadata | None:
        return self.offsets.get(group_id, {}).get(topic, {}).get(partition)

    def has_offsets(self, group_id: str) -> bool:
        return bool(self.offsets.get(group_id))

    # ------------------------------------------------------------- commit
    def commit_offsets(self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None,
                       retention_time_ms: int, topics: list, api_version: int) -> CoordinatorResult:
        """topics: [(name, [(partition, offset, leader_epoch, metadata)])]."""
        try:
            group = self._validate_commit(group_id, generation_id, member_id, group_instance_id, api_version)
        except KafkaError as e:
            log.info("offset commit to group %s rejected: %s (member %r, generation %d)", group_id, e.code.name,
                     member_id, generation_id)
            return CoordinatorResult(response=commit_error_response(topics, e.code))
        if group is not None:
            self.coordinator.on_offset_commit(group, member_id)
        now = self.coordinator.clock.milliseconds()
        expire = now + retention_time_ms if retention_time_ms not in (-1, None) else -1
        records, out = self._commit_records(group_id, topics, now, expire)
        return CoordinatorResult(records, {"topics": out},
                                 error_response=lambda code: commit_error_response(topics, code))

    def _commit_records(self, group_id: str, topics: list, now: int, expire: int) -> tuple[list, list]:
        """(OffsetCommit records, per-partition answers): metadata over
        offset.metadata.max.bytes fails its partition only."""
        records = []
        out = []
        for name, parts in topics:
            presp = []
            out.append({"name": name, "partitions": presp})
            for partition, offset, leader_epoch, metadata in parts:
                if _java_length(metadata) > self.metadata_max_bytes:
                    presp.append({"partition_index": partition, "error_code": ErrorCode.OFFSET_METADATA_TOO_LARGE})
                    continue
                presp.append({"partition_index": partition, "error_code": ErrorCode.NONE})
                records.append(rec.offset_commit(group_id, name, partition, offset,
                                                 NO_EPOCH if leader_epoch is None else leader_epoch,
                                                 metadata or "", now, expire))
        return records, out

    def commit_transactional_offsets(self, transactional_id: str, producer_id: int, producer_epoch: int,
                                     group_id: str, generation_id: int, member_id: str,
                                     group_instance_id: str | None, topics: list) -> CoordinatorResult:
        """TxnOffsetCommit. topics: [(name, [(partition, offset, leader_epoch, metadata)])].
        The records go out as a transactional batch of the producer and stay
        pending until its transaction's marker."""
        try:
            # A member's generation or epoch is checked as OffsetCommit v9+ checks it.
            self._validate_commit(group_id, generation_id, member_id or "", group_instance_id, 9)
        except KafkaError as e:
            log.info("transactional offset commit of %r to group %s rejected: %s (member %r, generation %d)",
                     transactional_id, group_id, e.code.name, member_id, generation_id)
            return CoordinatorResult(response=commit_error_response(topics, e.code))
        records, out = self._commit_records(group_id, topics, self.coordinator.clock.milliseconds(), -1)
        return CoordinatorResult(records, {"topics": out}, producer_id=producer_id, producer_epoch=producer_epoch,
                                 error_response=lambda code: commit_error_response(topics, code))

    def _validate_commit(self, group_id, generation_id, member_id, group_instance_id, api_version):
        group = self.coordinator.groups.get(group_id)
        if group is None:
            if generation_id < 0:
                return None  # a simple group; created when the commit is replayed
            if api_version >= 9:
                raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.")
            raise KafkaError(ErrorCode.ILLEGAL_GENERATION)
        group.validate_offset_commit(member_id, group_instance_id, generation_id, api_version)
        return group

    # -------------------------------------------------------------- fetch
    def fetch_offsets(self, group_id: str, topics: list | None, require_stable: bool,
                      member_id: str | None = None, member_epoch: int = -1) -> dict:
        """topics: [(name, [partition])], or None for every committed offset.
        Returns an OffsetFetch group response (v8+ shape)."""
        group = self.coordinator.groups.get(group_id)
        known = group is not None
        if known:
            try:
                group.validate_offset_fetch(member_id, member_epoch)
            except KafkaError as e:
                if e.code != ErrorCode.GROUP_ID_NOT_FOUND:
                    return {"group_id": group_id, "error_code": e.code, "topics": []}
                known = False
        stored = self.offsets.get(group_id, {}) if known else {}
        out = []
        if topics is None:
            for name, parts in stored.items():
                out.append({"name": name, "partitions": [_fetched(p, om) for p, om in parts.items()]})
        else:
            for name, partitions in topics:
                tparts = stored.get(name, {})
                out.append({"name": name, "partitions": [_fetched(p, tparts.get(p)) for p in partitions]})
        if require_stable and known and self.pending:
            for t in out:
                for p in t["partitions"]:
                    if self.has_pending(group_id, t["name"], p["partition_index"]):
                        p.update(committed_offset=INVALID_OFFSET, committed_leader_epoch=NO_EPOCH, metadata="",
                                 error_code=ErrorCode.UNSTABLE_OFFSET_COMMIT)
        return {"group_id": group_id, "error_code": ErrorCode.NONE, "topics": out}

    # ------------------------------------------------------------- delete
    def delete_offsets(self, group_id: str, topics: list) -> CoordinatorResult:
        """OffsetDelete. topics: [(name, [partition])]."""
        group = self.coordinator.groups.get(group_id)
        try:
            if group is None:
                raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.")
            group.validate_offset_delete()
        except KafkaError as e:
            return CoordinatorResult(response={"error_code": e.code, "topics": []})
        records = []
        out = []
        for name, partitions in topics:
            if group.is_subscribed_to_topic(name):
                out.append({"name": name, "partitions": [
                    {"partition_index": p, "error_code": ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC} for p in partitions]})
                continue
            out.append({"name": name, "partitions": [
                {"partition_index": p, "error_code": ErrorCode.NONE} for p in partitions]})
            for p in partitions:
                if self.get(group_id, name, p) is not None:
                    records.append(rec.offset_commit_tombstone(group_id, name, p))
        return CoordinatorResult(records, {"error_code": ErrorCode.NONE, "topics": out},
                                 error_response=lambda code: {"error_code": code, "topics": []})

    def delete_all_offsets(self, group_id: str) -> list:
        return [rec.offset_commit_tombstone(group_id, topic, p)
                for topic, parts in self.offsets.get(group_id, {}).items() for p in parts]

    # ---------------------------------------------------------- retention
    def cleanup_expired(self, group_id: str, now_ms: int) -> tuple[list, bool]:
        """(tombstones for the expired offsets of a group, whether every
        offset of the group expired)."""
        stored = self.offsets.get(group_id)
        if not stored:
            return [], True
        group = self.coordinator.groups.get(group_id)
        base = group.offset_expiration_base() if group is not None else (lambda om: om.commit_timestamp)
        if base is None:
            return [], False
        records = []
        all_expired = True
        for topic, parts in stored.items():
            if group is not None and group.is_subscribed_to_topic(topic):
                all_expired = False
                continue
            for partition, om in parts.items():
                if om.expire_timestamp != -1:
                    expired = now_ms >= om.expire_timestamp
                else:
                    expired = now_ms - base(om) >= self.retention_ms
                if expired:
                    records.append(rec.offset_commit_tombstone(group_id, topic, partition))
                else:
                    all_expired = False
        if records:
            log.info("group %s: %d committed offsets expired (offsets.retention.minutes)", group_id, len(records))
        return records, all_expired

    # ------------------------------------------------------------- replay
    def replay(self, key: dict, value: dict | None, record_offset: int, producer_id: int = -1) -> None:
        """producer_id >= 0: a transactional commit of that producer, pending until its marker."""
        group_id, topic, partition = key["group"], key["topic"], key["partition"]
        if producer_id >= 0:
            if value is not None:
                self.coordinator.get_or_create_simple_group(group_id)
                self.pending.setdefault(producer_id, {}).setdefault(group_id, {})[(topic, partition)] = \
                    OffsetAndMetadata.from_record(value, record_offset)
            return
        if value is not None:
            # Offsets without membership: the group is a simple (Empty) classic group.
            self.coordinator.get_or_create_simple_group(group_id)
            self.offsets.setdefault(group_id, {}).setdefault(topic, {})[partition] = \
                OffsetAndMetadata.from_record(value, record_offset)
            return
        topics = self.offsets.get(group_id)
        if topics is None or topic not in topics:
            return
        topics[topic].pop(partition, None)
        if not topics[topic]:
            del topics[topic]
        if not topics:
            del self.offsets[group_id]


    def complete_transaction(self, coordinator_partition: int, producer_id: int, commit: bool) -> None:
        """The producer's transaction ended with a marker on this
        __consumer_offsets partition: its pending offsets of the groups there
        are committed (a newer committed record wins) or dropped."""
        groups = self.pending.get(producer_id)
        if not groups:
            return
        for group_id in [g for g in groups if self.coordinator.partition_for(g) == coordinator_partition]:
            offsets = groups.pop(group_id)
            if not commit:
                continue
            stored = self.offsets.setdefault(group_id, {})
            for (topic, partition), om in offsets.items():
                current = stored.get(topic, {}).get(partition)
                if current is None or current.record_offset < om.record_offset:
                    stored.setdefault(topic, {})[partition] = om
        if not groups:
            del self.pending[producer_id]

    def has_pending(self, group_id: str, topic: str, partition: int) -> bool:
        return any((topic, partition) in groups.get(group_id, ()) for groups in self.pending.values())


def _fetched(partition: int, om: OffsetAndMetadata | None) -> dict:
    if om is None:
        return {"partition_index": partition, "committed_offset": INVALID_OFFSET, "committed_leader_epoch": NO_EPOCH,
                "metadata": "", "error_code": ErrorCode.NONE}
    return {"partition_index": partition, "committed_offset": om.offset, "committed_leader_epoch": om.leader_epoch,
            "metadata": om.metadata, "error_code": ErrorCode.NONE}
