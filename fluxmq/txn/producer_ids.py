"""Producer id allocation (KIP-98 idempotent producers; Kafka's
ProducerIdControlManager and ProducerIdsBlock).

Kafka reserves producer ids in blocks of 1000: the end of a block is made
durable before any id in it is handed out, so ids are unique across
restarts and crashes (a crash only skips the unused rest of a block). FluxMQ
keeps the reservation in one small file in the data dir, replaced atomically
(write a temporary file, fsync, rename, fsync the directory):

    producer-id-block
        version=1
        next.block.start=<first id not yet reserved>

If the file is unreadable the next block starts above every producer id
still present in the partition logs, and the problem is logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from fluxmq.errors import ErrorCode, KafkaError

log = logging.getLogger("fluxmq.txn")

BLOCK_SIZE = 1000  # ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE
FILE_NAME = "producer-id-block"
LONG_MAX = 2**63 - 1
_KEY = "next.block.start"


class ProducerIdManager:
    """Hands out producer ids; one writer (the event loop), no awaits."""

    def __init__(self, data_dir: str, block_size: int = BLOCK_SIZE, floor: Callable[[], int] | None = None):
        self.path = os.path.join(data_dir, FILE_NAME)
        self.block_size = block_size
        self._next = self._load(floor)  # next id to hand out
        self._block_end = self._next    # exclusive end of the reserved block: nothing reserved yet

    def _load(self, floor) -> int:
        try:
            with open(self.path, encoding="utf-8") as f:
                props = dict(line.strip().split("=", 1) for line in f if "=" in line)
            value = int(props[_KEY])
            if value < 0:
                raise ValueError(f"negative {_KEY}")
            return value
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, KeyError) as e:
            start = max(0, floor() if floor else 0)
            start = -(-start // self.block_size) * self.block_size  # round up to a block boundary
            log.error("%s is unreadable (%s); producer ids continue from %d, above every id in the logs",
                      self.path, e, start)
            return start

    def _reserve(self) -> None:
        end = self._next + self.block_size
        if end > LONG_MAX:
            raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "producer ids are exhausted")
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(f"version=1\n{_KEY}={end}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(os.path.dirname(self.path), os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as e:
            log.error("cannot reserve producer ids %d-%d in %s: %s", self._next, end - 1, self.path, e)
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"cannot reserve producer ids: {e}") from None
        self._block_end = end

    def generate(self) -> int:
        """A producer id never handed out before, on this data dir."""
        if self._next >= self._block_end:
            self._reserve()
        pid = self._next
        self._next += 1
        return pid


def for_logs(logs) -> ProducerIdManager:
    """The broker's ProducerIdManager; built after the logs are loaded, since
    the fallback for an unreadable reservation file reads them."""
    def highest_in_logs() -> int:
        return 1 + max((pid for lg in logs.all_logs() for pid in lg.producer_state.producers), default=-1)

    return ProducerIdManager(logs.data_dir, floor=highest_in_logs)
