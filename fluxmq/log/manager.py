"""LogManager: the partition logs of this broker (Kafka's LogManager): loading
them at start-up, creating and deleting them as the replica manager asks, the
group-committed fdatasync, the flush policy, retention, log compaction, the
removal of old segments, the checkpoints and the clean-shutdown marker.

Data dir layout (Kafka's names; metadata/store.py keeps the topics):
    meta.properties                       node.id, cluster.id (metadata/store.py)
    topics.json                           topics and partitions (metadata/store.py)
    recovery-point-offset-checkpoint      per partition: offset below which data is synced
    log-start-offset-checkpoint           per partition: first retained offset
    replication-offset-checkpoint         per partition: high watermark (replication/)
    cleaner-offset-checkpoint             per compacted partition: first dirty offset (log/cleaner.py)
    .kafka_cleanshutdown                  present only after a clean shutdown
    <topic>-<partition>/                  segments: <20-digit base>.log/.index/.timeindex,
                                          partition.metadata (topic id), leader-epoch-checkpoint;
                                          after a clean shutdown only: <log end>.snapshot and
                                          <base>.txnindex (log/snapshot.py)
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from fluxmq import native
from fluxmq.config import BrokerConfig
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.log import checkpoints
from fluxmq.log.loader import load_log
from fluxmq.log.log import Log, LogConfig
from fluxmq.log.segment import SegmentDeleter

log = logging.getLogger("fluxmq.log")

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
RECOVERY_POINT_FILE = "recovery-point-offset-checkpoint"
LOG_START_FILE = "log-start-offset-checkpoint"


class LogManager:
    def __init__(self, config: BrokerConfig, data_dir: str, clock):
        self.config = config
        self.data_dir = os.path.abspath(data_dir)
        self.clock = clock
        self.logs: dict[tuple[str, int], Log] = {}
        self.io = native.SegmentIO(force_fallback=not native.appends_use_uring())
        self._sync_io = native.SegmentIO()  # owned by the fsync thread
        self._sync_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fluxmq-fsync")
        self._sync_waiters: list[asyncio.Future] = []
        self._sync_wake: asyncio.Event | None = None
        self._flusher: asyncio.Task | None = None
        self.deleter = SegmentDeleter(clock)  # removed segments, kept open for file.delete.delay.ms
        self.on_log_start_moved = None  # fn(log) after retention moved a log's start (the replica manager)

    @cached_property
    def cleaner(self):
        """Log compaction (fluxmq/log/cleaner.py). Created on first use: an
        empty data dir needs it only from the first maintenance pass, so a
        cold start does not import it."""
        from fluxmq.log.cleaner import LogCleaner
        return LogCleaner(self)

    # ----------------------------------------------------------- start-up
    def startup(self, image, recovery_mode: str = "auto") -> None:
        """Loads the log of every partition in the metadata image."""
        os.makedirs(self.data_dir, exist_ok=True)
        marker = os.path.join(self.data_dir, CLEAN_SHUTDOWN_FILE)
        clean = os.path.exists(marker) and recovery_mode != "full"
        started = time.monotonic()
        recovery_points = checkpoints.read_offsets(os.path.join(self.data_dir, RECOVERY_POINT_FILE))
        start_offsets = checkpoints.read_offsets(os.path.join(self.data_dir, LOG_START_FILE))
        for topic in image.topics.values():
            for p in topic.partitions:
                key = (topic.name, p.index)
                lg = self._open_log(topic, p.index)
                load_log(lg, self.clock, clean, recovery_points.get(key, 0), start_offsets.get(key, 0))
                self.logs[key] = lg
        if self.logs:  # (an empty data dir has no checkpoint to apply)
            self.cleaner.load_checkpoints()  # log compaction: how far each compacted log is clean
        if os.path.exists(marker):
            os.unlink(marker)  # from now on, a crash is detected
        log.info("loaded %d topics, %d partitions from %s in %.0f ms (%s start)",
                 len(image.topics), len(self.logs), self.data_dir,
                 (time.monotonic() - started) * 1000, "clean" if clean else "recovering")

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

    def _open_log(self, topic, partition: int) -> Log:
        directory = os.path.join(self.data_dir, f"{topic.name}-{partition}")
        lg = Log(directory, topic.name, partition, self.log_config(topic.configs), self.clock, deleter=self.deleter)
        meta = os.path.join(directory, "partition.metadata")
        if not os.path.exists(meta):
            tid = base64.urlsafe_b64encode(topic.topic_id.bytes).decode().rstrip("=")
            # Not fsynced: topics.json (synced) is the source of truth, and a
            # 1,000-partition topic would otherwise cost 1,000 fsyncs.
            checkpoints.write_atomically(meta, f"version: 0\ntopic_id: {tid}\n", durable=False)
        return lg

    # ----------------------------------------------------------- logs
    def get_log(self, topic: str, partition: int) -> Log | None:
        return self.logs.get((topic, partition))

    def get_or_create_log(self, topic, partition: int) -> Log:
        """The log of a partition of `topic` (a metadata TopicImage), created empty if new."""
        key = (topic.name, partition)
        lg = self.logs.get(key)
        if lg is None:
            lg = self._open_log(topic, partition)
            lg.local.new_segment(0)
            self.logs[key] = lg
        return lg

    def delete_logs(self, topic) -> None:
        """The topic was deleted: its logs and their files go."""
        for p in topic.partitions:
            lg = self.logs.pop((topic.name, p.index), None)
            if lg is not None:
                lg.delete()

    def update_configs(self, topic) -> None:
        """The topic's overrides changed: its logs take the new configs."""
        config = self.log_config(topic.configs)
        for p in topic.partitions:
            lg = self.logs.get((topic.name, p.index))
            if lg is not None:
                lg.reconfigure(config)

    def all_logs(self):
        return self.logs.values()

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
                if self.on_log_start_moved is not None:
                    self.on_log_start_moved(lg)

    # ----------------------------------------------------------- shutdown
    def checkpoint(self) -> None:
        checkpoints.write_offsets(os.path.join(self.data_dir, RECOVERY_POINT_FILE),
                                  {key: lg.recovery_point for key, lg in self.logs.items()})
        checkpoints.write_offsets(os.path.join(self.data_dir, LOG_START_FILE),
                                  {key: lg.log_start_offset for key, lg in self.logs.items()})

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
        checkpoints.write_atomically(os.path.join(self.data_dir, CLEAN_SHUTDOWN_FILE), "")
        self._sync_executor.shutdown(wait=False)
        log.info("log manager shut down cleanly")
