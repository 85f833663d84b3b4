"""LogManager: every partition log of this broker, the topic metadata, the
checkpoints and the clean-shutdown marker, and group-committed fdatasync.

Data dir layout (Kafka's names):
    meta.properties                       node.id, cluster.id
    topics.json                           topic ids, partition counts, topic configs
    recovery-point-offset-checkpoint      per partition: offset below which data is synced
    log-start-offset-checkpoint           per partition: first retained offset
    cleaner-offset-checkpoint             per compacted partition: first dirty offset (log/cleaner.py)
    .kafka_cleanshutdown                  present only after a clean shutdown
    <topic>-<partition>/                  segments: <20-digit base>.log/.index/.timeindex,
                                          partition.metadata (topic id)
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

from fluxmq import native
from fluxmq.config import BrokerConfig, TOPIC_CONFIGS, validate_topic_configs
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.log.log import Log, LogConfig, append_plans
from fluxmq.log.segment import LogSegment, SegmentDeleter

log = logging.getLogger("fluxmq.log")

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
RECOVERY_POINT_FILE = "recovery-point-offset-checkpoint"
LOG_START_FILE = "log-start-offset-checkpoint"
TOPICS_FILE = "topics.json"
META_FILE = "meta.properties"
MAX_TOPIC_NAME = 249
_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


def validate_topic_name(name: str) -> None:
    """Kafka's Topic.validate: the reason goes back to the client."""
    if not name:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name is invalid: the empty string is not allowed")
    if name in (".", ".."):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Topic name is invalid: '{name}' is not allowed")
    if len(name) > MAX_TOPIC_NAME:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name is invalid: '{name}' is longer than the max allowed length {MAX_TOPIC_NAME}")
    if not _LEGAL_TOPIC.match(name):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name is invalid: '{name}' contains one or more characters other than "
                         "ASCII alphanumerics, '.', '_' and '-'")


def _write_atomically(path: str, text: str, durable: bool = True) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        if durable:
            os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_checkpoint(path: str) -> dict[tuple[str, int], int]:
    """Kafka's OffsetCheckpointFile: version, count, then `topic partition offset`."""
    out = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return out
    for line in lines[2:]:
        parts = line.split()
        if len(parts) == 3:
            out[(parts[0], int(parts[1]))] = int(parts[2])
    return out


def _write_checkpoint(path: str, entries: dict[tuple[str, int], int]) -> None:
    body = "".join(f"{t} {p} {o}\n" for (t, p), o in sorted(entries.items()))
    _write_atomically(path, f"0\n{len(entries)}\n{body}")


@dataclass
class Topic:
    name: str
    topic_id: uuid.UUID
    configs: dict[str, object]  # topic-level overrides only
    logs: list[Log] = field(default_factory=list)

    @property
    def partitions(self) -> int:
        return len(self.logs)


class LogManager:
    def __init__(self, config: BrokerConfig, data_dir: str, clock):
        self.config = config
        self.data_dir = os.path.abspath(data_dir)
        self.clock = clock
        self.topics: dict[str, Topic] = {}
        self.topics_by_id: dict[uuid.UUID, Topic] = {}
        self.metadata_epoch = 0  # bumped on every topic change; keys cached Metadata responses
        self.node_id = config["node.id"]
        self.cluster_id = ""
        self.io = native.SegmentIO(force_fallback=not native.appends_use_uring())
        self._sync_io = native.SegmentIO()  # owned by the fsync thread
        self._sync_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fluxmq-fsync")
        self._sync_waiters: list[asyncio.Future] = []
        self._sync_wake: asyncio.Event | None = None
        self._flusher: asyncio.Task | None = None
        self.deleter = SegmentDeleter(clock)  # removed segments, kept open for file.delete.delay.ms

    @cached_property
    def cleaner(self):
        """Log compaction (fluxmq/log/cleaner.py). Created on first use: an
        empty data dir needs it only from the first maintenance pass, so a
        cold start does not import it."""
        from fluxmq.log.cleaner import LogCleaner
        return LogCleaner(self)

    # ----------------------------------------------------------- start-up
    def startup(self, recovery_mode: str = "auto") -> None:
        os.makedirs(self.data_dir, exist_ok=True)
        self._load_meta()
        marker = os.path.join(self.data_dir, CLEAN_SHUTDOWN_FILE)
        clean = os.path.exists(marker) and recovery_mode != "full"
        started = time.monotonic()
        recovery_points = _read_checkpoint(os.path.join(self.data_dir, RECOVERY_POINT_FILE))
        start_offsets = _read_checkpoint(os.path.join(self.data_dir, LOG_START_FILE))
        for name, entry in self._read_topics().items():
            topic = Topic(name, uuid.UUID(entry["topic_id"]), validate_topic_configs(entry.get("configs", {})))
            for p in range(entry["partitions"]):
                lg = self._open_log(topic, p)
                self._load_log(lg, clean, recovery_points.get((name, p), 0), start_offsets.get((name, p), 0))
                topic.logs.append(lg)
            self._register(topic)
        if self.topics:  # (an empty data dir has no checkpoint to apply)
            self.cleaner.load_checkpoints()  # log compaction: how far each compacted log is clean
        if os.path.exists(marker):
            os.unlink(marker)  # from now on, a crash is detected
        log.info("loaded %d topics, %d partitions from %s in %.0f ms (%s start)",
                 len(self.topics), sum(t.partitions for t in self.topics.values()), self.data_dir,
                 (time.monotonic() - started) * 1000, "clean" if clean else "recovering")

    def _load_meta(self) -> None:
        path = os.path.join(self.data_dir, META_FILE)
        props = {}
        if os.path.exists(path):
            for line in open(path, encoding="utf-8"):
                if "=" in line and not line.startswith("#"):
                    k, v = line.strip().split("=", 1)
                    props[k] = v
        self.cluster_id = props.get("cluster.id") or base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if props.get("node.id") not in (None, str(self.node_id)):
            raise RuntimeError(f"{path} belongs to node.id {props['node.id']}, not {self.node_id}; "
                               "use a different --data-dir or --broker-id")
        _write_atomically(path, f"version=1\nnode.id={self.node_id}\ncluster.id={self.cluster_id}\n")

    def _read_topics(self) -> dict:
        path = os.path.join(self.data_dir, TOPICS_FILE)
        if not os.path.exists(path):
            return {}
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def _save_topics(self) -> None:
        self.metadata_epoch += 1  # every topic change goes through here
        data = {t.name: {"topic_id": str(t.topic_id), "partitions": t.partitions,
                         "configs": {k: _render(v) for k, v in t.configs.items()}}
                for t in self.topics.values()}
        _write_atomically(os.path.join(self.data_dir, TOPICS_FILE), json.dumps(data, indent=1, sort_keys=True))

    def _register(self, topic: Topic) -> None:
        self.topics[topic.name] = topic
        self.topics_by_id[topic.topic_id] = topic

    def log_config(self, overrides: dict[str, object]) -> LogConfig:
        # Imported with the first log, not at start-up: it loads gzip and cramjam.
        from fluxmq.log.compression import CODECS

        def get(name):
            return overrides[name] if name in overrides else self.config.topic_default(name)
        return LogConfig(
            segment_bytes=get("segment.bytes"),
            segment_ms=get("segment.ms"),
            index_interval_bytes=get("index.interval.bytes"),
            max_message_bytes=get("max.message.bytes"),
            log_append_time=get("message.timestamp.type") == "LogAppendTime",
            timestamp_after_max_ms=get("message.timestamp.after.max.ms"),
            timestamp_before_max_ms=get("message.timestamp.before.max.ms"),
            retention_ms=get("retention.ms"),
            retention_bytes=get("retention.bytes"),
            flush_messages=get("flush.messages"),
            flush_ms=get("flush.ms"),
            compact="compact" in str(get("cleanup.policy")),
            delete="delete" in str(get("cleanup.policy")),
            compression=None if get("compression.type") == "producer" else
            CODECS[str(get("compression.type"))],
            compression_levels={"gzip": get("compression.gzip.level"), "lz4": get("compression.lz4.level"),
                                "zstd": get("compression.zstd.level")},
            min_insync_replicas=get("min.insync.replicas"),
            delete_retention_ms=get("delete.retention.ms"),
            min_compaction_lag_ms=get("min.compaction.lag.ms"),
            max_compaction_lag_ms=get("max.compaction.lag.ms"),
            min_cleanable_ratio=get("min.cleanable.dirty.ratio"),
            file_delete_delay_ms=get("file.delete.delay.ms"),
        )

    def _open_log(self, topic: Topic, partition: int) -> Log:
        directory = os.path.join(self.data_dir, f"{topic.name}-{partition}")
        lg = Log(directory, topic.name, partition, self.log_config(topic.configs), self.clock, deleter=self.deleter)
        meta = os.path.join(directory, "partition.metadata")
        if not os.path.exists(meta):
            tid = base64.urlsafe_b64encode(topic.topic_id.bytes).decode().rstrip("=")
            # Not fsynced: topics.json (synced) is the source of truth, and a
            # 1,000-partition topic would otherwise cost 1,000 fsyncs.
            _write_atomically(meta, f"version: 0\ntopic_id: {tid}\n", durable=False)
        return lg

    def _load_log(self, lg: Log, clean: bool, recovery_point: int, log_start: int) -> None:
        """LogLoader: open every segment, rebuild indexes and producer state,
        and after a crash validate CRCs from the recovery point and truncate a
        torn tail (and any segment after a corrupt one)."""
        from fluxmq.log.cleaner import complete_interrupted_swaps

        # Log compaction: drop .cleaned/.deleted/.tmp files, finish an interrupted .swap.
        complete_interrupted_swaps(lg.dir, lg.config.index_interval_bytes, self.clock.milliseconds())
        bases = sorted(int(n[:-4]) for n in os.listdir(lg.dir) if n.endswith(".log") and n[:-4].isdigit())
        lg.log_start_offset = log_start
        truncate_rest = False
        for i, base in enumerate(bases):
            seg = LogSegment(lg.dir, base, lg.config.index_interval_bytes, self.clock.milliseconds())
            if truncate_rest:
                log.warning("%s-%d: deleting segment %d after a corrupt one", lg.topic, lg.partition, base)
                seg.delete()
                continue
            next_base = bases[i + 1] if i + 1 < len(bases) else None
            verify = not clean and (next_base is None or next_base > recovery_point)
            batches, truncated, error = seg.recover(verify_crc=verify)
            if truncated:
                log.warning("%s-%d: recovery truncated %d bytes at position %d of segment %d (%s); "
                            "the log now ends at offset %d", lg.topic, lg.partition, truncated, seg.size,
                            base, error or "torn write", seg.next_offset)
                truncate_rest = True
            for b_base, _last, pid, epoch, seq, _ts, _attrs in batches:
                if pid >= 0:
                    lg.producer_state.record(pid, epoch, seq, _last - b_base, b_base, self.clock.milliseconds())
            lg.segments.append(seg)
            lg.base_offsets.append(base)
        if not lg.segments:
            lg._new_segment(log_start)
        lg.log_start_offset = max(log_start, lg.segments[0].base_offset)
        if lg.segments[-1].size == 0 and lg.segments[-1].next_offset < lg.log_start_offset:
            lg.segments[-1].next_offset = lg.log_start_offset
        lg.recovery_point = lg.log_end_offset

    # ----------------------------------------------------------- topics
    def get_log(self, topic: str, partition: int) -> Log | None:
        t = self.topics.get(topic)
        if t is None or partition < 0 or partition >= t.partitions:
            return None
        return t.logs[partition]

    def create_topic(self, name: str, partitions: int, configs: dict[str, str | None] | None = None,
                     validate_only: bool = False) -> Topic:
        validate_topic_name(name)
        if name in self.topics:
            raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        self.check_collision(name)
        if partitions is None or partitions == -1:
            partitions = self.config["num.partitions"]
        if partitions <= 0:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0.")
        parsed = validate_topic_configs(configs or {})
        topic = Topic(name, uuid.uuid4(), parsed)
        if validate_only:
            return topic
        for p in range(partitions):
            lg = self._open_log(topic, p)
            lg._new_segment(0)
            topic.logs.append(lg)
        self._register(topic)
        self._save_topics()
        log.info("created topic %s with %d partitions%s", name, partitions,
                 f" and configs {parsed}" if parsed else "")
        return topic

    def check_collision(self, name: str) -> None:
        """'.' and '_' map to the same metric names, so Kafka refuses topics
        that differ only there."""
        if "." in name or "_" in name:
            unified = name.replace(".", "_")
            for existing in self.topics:
                if existing != name and existing.replace(".", "_") == unified:
                    raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                                     f"Topic '{name}' collides with existing topic: {existing}")

    def delete_topic(self, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        del self.topics[name]
        self.topics_by_id.pop(topic.topic_id, None)
        self._save_topics()
        for lg in topic.logs:
            lg.delete()
        log.info("deleted topic %s", name)
        return topic

    def add_partitions(self, name: str, total: int, validate_only: bool = False) -> None:
        topic = self.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        if total <= topic.partitions:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                             f"Topic currently has {topic.partitions} partitions, which is higher than or "
                             f"equal to the requested {total}.")
        if validate_only:
            return
        for p in range(topic.partitions, total):
            lg = self._open_log(topic, p)
            lg._new_segment(0)
            topic.logs.append(lg)
        self._save_topics()
        log.info("topic %s now has %d partitions", name, total)

    def alter_topic_configs(self, name: str, configs: dict[str, object]) -> None:
        topic = self.topics[name]
        topic.configs = configs
        for lg in topic.logs:
            lg.config = self.log_config(configs)
        self._save_topics()

    def all_logs(self):
        for t in self.topics.values():
            yield from t.logs

    # ----------------------------------------------------------- writes
    def append_internal(self, lg: Log, batch: bytes) -> int:
        """Appends a batch the broker built itself (coordinator records);
        returns its base offset. Durable once a later sync() completes."""
        now = self.clock.milliseconds()
        plan = lg.prepare_append(batch, now)
        return append_plans(self.io, [plan], now)[0].base_offset

    def ensure_internal_topic(self, name: str, partitions: int, configs: dict[str, str]) -> Topic:
        topic = self.topics.get(name)
        return topic if topic is not None else self.create_topic(name, partitions, configs)

    # ------------------------------------------------ group-committed sync
    def start(self) -> None:
        self._sync_wake = asyncio.Event()
        self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    def sync(self) -> asyncio.Future:
        """A future that completes once everything written so far is on disk.
        Every caller waiting at the same time shares one round of fdatasync."""
        fut = asyncio.get_running_loop().create_future()
        self._sync_waiters.append(fut)
        self._sync_wake.set()
        return fut

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._sync_wake.wait()
            self._sync_wake.clear()
            waiters, self._sync_waiters = self._sync_waiters, []
            targets = [(lg, lg.log_end_offset) for lg in self.all_logs() if lg.dirty]
            # Our own dups: retention or topic deletion may close a segment meanwhile.
            fds = [os.dup(fd) for lg, _ in targets for fd in lg.dirty_fds()]
            try:
                await loop.run_in_executor(self._sync_executor, self._sync_io.sync, fds)
            except OSError as e:
                log.error("fdatasync failed: %s; acks=all produce requests fail with KAFKA_STORAGE_ERROR", e)
                for fut in waiters:
                    if not fut.done():
                        fut.set_exception(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, str(e)))
                continue
            finally:
                for fd in fds:
                    os.close(fd)
            now = self.clock.monotonic_ms()
            for lg, leo in targets:
                lg.mark_flushed(leo, now)
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def flush_by_policy(self) -> None:
        """log.flush.interval.messages / .ms, and segments that rolled while
        unsynced (Kafka flushes a segment when it rolls)."""
        now = self.clock.monotonic_ms()
        if any(lg.needs_flush(now) for lg in self.all_logs()):
            self.sync()

    def apply_retention(self) -> None:
        now = self.clock.milliseconds()
        for lg in self.all_logs():
            deleted = lg.apply_retention(now)
            if deleted:
                log.info("%s-%d: retention deleted %d segment(s); log start offset is now %d",
                         lg.topic, lg.partition, deleted, lg.log_start_offset)

    # ----------------------------------------------------------- shutdown
    def checkpoint(self) -> None:
        _write_checkpoint(os.path.join(self.data_dir, RECOVERY_POINT_FILE),
                          {(lg.topic, lg.partition): lg.recovery_point for lg in self.all_logs()})
        _write_checkpoint(os.path.join(self.data_dir, LOG_START_FILE),
                          {(lg.topic, lg.partition): lg.log_start_offset for lg in self.all_logs()})

    def shutdown(self) -> None:
        """Clean shutdown: sync everything, write indexes and checkpoints, then the marker."""
        if self._flusher is not None:
            self._flusher.cancel()
        self.cleaner.shutdown()  # log compaction: abandon a clean in progress, write its checkpoint
        fds = [seg.fd for lg in self.all_logs() for seg in lg.segments if seg.fd >= 0]
        native.sync_fds(fds)
        for lg in self.all_logs():
            lg.recovery_point = lg.log_end_offset
            lg.close(clean=True)
        self.deleter.close_all()
        self.checkpoint()
        _write_atomically(os.path.join(self.data_dir, CLEAN_SHUTDOWN_FILE), "")
        self._sync_executor.shutdown(wait=False)
        log.info("log manager shut down cleanly")


def _render(v) -> str:
    from fluxmq.config import render
    return render(v)


def topic_config_names() -> list[str]:
    return sorted(TOPIC_CONFIGS)
