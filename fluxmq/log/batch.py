"""The record batch (magic 2, KIP-98), declared once for every Python module
that reads or writes batch headers: segments, records, the cleaner, the
validator, compression, batch building and the coordinators. csrc/records.c
walks the same layout in C.

Header, 61 bytes, big-endian (DefaultRecordBatch):

    offset  size  field
     0      8     baseOffset            the broker stamps it on append (outside the CRC)
     8      4     batchLength           bytes after this field (LOG_OVERHEAD = 12 before it)
    12      4     partitionLeaderEpoch  the broker stamps it on append (outside the CRC)
    16      1     magic                 2
    17      4     crc                   CRC-32C of everything from attributes to the end
    21      2     attributes            COMPRESSION_MASK | TIMESTAMP_TYPE_BIT | TRANSACTIONAL_BIT
                                        | CONTROL_BIT | DELETE_HORIZON_BIT
    23      4     lastOffsetDelta
    27      8     baseTimestamp         (the delete horizon when DELETE_HORIZON_BIT is set, KIP-534)
    35      8     maxTimestamp
    43      8     producerId
    51      2     producerEpoch
    53      4     baseSequence
    57      4     recordsCount
    61            records               compressed as attributes say
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">qiibIhiqqqhii")  # the 13 fields above, in order
HEADER_SIZE = HEADER.size                 # 61
LOG_OVERHEAD = 12                         # baseOffset + batchLength

BASE_OFFSET_POS = 0
LENGTH_POS = 8
PARTITION_LEADER_EPOCH_POS = 12
MAGIC_POS = 16
CRC_POS = 17
ATTRIBUTES_POS = 21
CRC_START = ATTRIBUTES_POS                # the CRC covers attributes .. end
LAST_OFFSET_DELTA_POS = 23
BASE_TIMESTAMP_POS = 27
MAX_TIMESTAMP_POS = 35
PRODUCER_ID_POS = 43
RECORDS_COUNT_POS = 57

I16 = struct.Struct(">h")
I32 = struct.Struct(">i")
U32 = struct.Struct(">I")
I64 = struct.Struct(">q")

# attributes
COMPRESSION_MASK = 0x07     # 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
TIMESTAMP_TYPE_BIT = 0x08   # LogAppendTime: maxTimestamp is the broker's append time
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20          # a transaction marker (COMMIT / ABORT)
DELETE_HORIZON_BIT = 0x40   # KIP-534: baseTimestamp is the delete horizon

NO_TIMESTAMP = -1


def attributes(batch) -> int:
    return I16.unpack_from(batch, ATTRIBUTES_POS)[0]


def producer_id(batch) -> int:
    return I64.unpack_from(batch, PRODUCER_ID_POS)[0]


def set_crc(batch: bytearray, crc32c) -> bytearray:
    """Writes the CRC of `batch` computed with `crc32c(bytes) -> int` (fluxmq.native.crc32c)."""
    U32.pack_into(batch, CRC_POS, crc32c(bytes(batch[CRC_START:])))
    return batch
