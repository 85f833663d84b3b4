#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include "fluxmq.h"

/*
 * Kafka record batches, magic 2 (KIP-98; Kafka's DefaultRecordBatch).
 * All integers are big-endian.
 *
 *   offset size field
 *        0    8 baseOffset            \ outside the CRC: the broker assigns
 *        8    4 batchLength            | baseOffset and partitionLeaderEpoch,
 *       12    4 partitionLeaderEpoch  /  batchLength counts the bytes after it
 *       16    1 magic (= 2)
 *       17    4 crc                   CRC-32C of bytes 21 .. end of batch
 *       21    2 attributes            bits 0-2 compression codec,
 *                                     bit 3 timestamp type (1 = LogAppendTime),
 *                                     bit 4 transactional, bit 5 control,
 *                                     bit 6 delete horizon (KIP-534)
 *       23    4 lastOffsetDelta
 *       27    8 baseTimestamp
 *       35    8 maxTimestamp
 *       43    8 producerId
 *       51    2 producerEpoch
 *       53    4 baseSequence
 *       57    4 recordsCount
 *       61    . records (possibly compressed)
 *
 * A message set is a run of such batches back to back. Older message
 * formats (magic 0/1) also carry their magic byte at offset 16, which is
 * why the magic is checked before the length is trusted.
 *
 * This file does mechanism only: it walks, checks framing and CRC, and
 * patches the fields outside the CRC. Whether lastOffsetDelta matches
 * recordsCount, sequences, timestamps etc. are policy checked in Python.
 */

#define BATCH_BASE_OFFSET 0
#define BATCH_LENGTH 8
#define BATCH_LEADER_EPOCH 12
#define BATCH_MAGIC 16
#define BATCH_CRC 17
#define BATCH_ATTRIBUTES 21
#define BATCH_LAST_OFFSET_DELTA 23
#define BATCH_BASE_TIMESTAMP 27
#define BATCH_MAX_TIMESTAMP 35
#define BATCH_PRODUCER_ID 43
#define BATCH_PRODUCER_EPOCH 51
#define BATCH_BASE_SEQUENCE 53
#define BATCH_RECORDS_COUNT 57
#define BATCH_HEADER_SIZE 61

/* Bytes before the batchLength count starts: baseOffset + batchLength. */
#define BATCH_LOG_OVERHEAD (BATCH_LENGTH + 4)
/* The smallest legal batchLength: a header with no records. */
#define BATCH_MIN_LENGTH (BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD)
#define BATCH_CRC_START BATCH_ATTRIBUTES

#define BATCH_MAGIC_V2 2

#define ATTR_COMPRESSION_MASK 0x07
#define ATTR_TIMESTAMP_TYPE_LOG_APPEND 0x08
#define ATTR_TRANSACTIONAL 0x10
#define ATTR_CONTROL 0x20

/* ------------------------------------------------------ big-endian access */

static inline uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

/* ------------------------------------------------------------------ scan */

static uint32_t batch_compute_crc(const uint8_t *batch, uint64_t size)
{
    return fmq_crc32c(0, batch + BATCH_CRC_START, (size_t)(size - BATCH_CRC_START));
}

static void batch_decode_header(const uint8_t *b, uint64_t position, uint64_t size, fmq_batch_info *info)
{
    info->base_offset = (int64_t)get_be64(b + BATCH_BASE_OFFSET);
    info->batch_length = (int32_t)get_be32(b + BATCH_LENGTH);
    info->partition_leader_epoch = (int32_t)get_be32(b + BATCH_LEADER_EPOCH);
    info->magic = (int8_t)b[BATCH_MAGIC];
    info->crc = get_be32(b + BATCH_CRC);
    info->attributes = (int16_t)get_be16(b + BATCH_ATTRIBUTES);
    info->last_offset_delta = (int32_t)get_be32(b + BATCH_LAST_OFFSET_DELTA);
    info->first_timestamp = (int64_t)get_be64(b + BATCH_BASE_TIMESTAMP);
    info->max_timestamp = (int64_t)get_be64(b + BATCH_MAX_TIMESTAMP);
    info->producer_id = (int64_t)get_be64(b + BATCH_PRODUCER_ID);
    info->producer_epoch = (int16_t)get_be16(b + BATCH_PRODUCER_EPOCH);
    info->base_sequence = (int32_t)get_be32(b + BATCH_BASE_SEQUENCE);
    info->records_count = (int32_t)get_be32(b + BATCH_RECORDS_COUNT);
    info->position = position;
    info->size = size;
}

/* Checks the framing of the batch starting at b with `remaining` bytes
 * available (remaining > 0). On success stores the whole batch size in
 * *size and returns FMQ_SCAN_OK. Never reads past b + remaining. */
static int batch_check_frame(const uint8_t *b, uint64_t remaining, uint64_t *size)
{
    if (remaining < BATCH_LOG_OVERHEAD)
        return FMQ_SCAN_TRUNCATED;
    /* The magic byte sits at the same offset in every message format, so a
     * magic 0/1 message set is reported as such rather than as a bad length. */
    if (remaining > BATCH_MAGIC && b[BATCH_MAGIC] != BATCH_MAGIC_V2)
        return FMQ_SCAN_BAD_MAGIC;
    int32_t batch_length = (int32_t)get_be32(b + BATCH_LENGTH);
    if (batch_length < BATCH_MIN_LENGTH)
        return FMQ_SCAN_BAD_LENGTH;
    uint64_t whole = BATCH_LOG_OVERHEAD + (uint64_t)batch_length;
    if (whole > remaining)
        return FMQ_SCAN_TRUNCATED;
    *size = whole;
    return FMQ_SCAN_OK;
}

int fmq_batches_scan(const uint8_t *buf, size_t len, int verify_crc,
                     fmq_batch_info *out, int max_out,
                     uint64_t *valid_len, int *n_valid)
{
    uint64_t pos = 0;
    int n = 0;
    int rc = FMQ_SCAN_OK;

    while (pos < len) {
        const uint8_t *b = buf + pos;
        uint64_t size = 0;
        rc = batch_check_frame(b, len - pos, &size);
        if (rc != FMQ_SCAN_OK)
            break;
        if (verify_crc && batch_compute_crc(b, size) != get_be32(b + BATCH_CRC)) {
            rc = FMQ_SCAN_BAD_CRC;
            break;
        }
        if (n >= max_out) {
            rc = FMQ_SCAN_TOO_MANY;
            break;
        }
        batch_decode_header(b, pos, size, &out[n]);
        n++;
        pos += size;
    }

    if (valid_len)
        *valid_len = pos;
    if (n_valid)
        *n_valid = n;
    return rc == FMQ_SCAN_OK ? n : rc;
}

/* --------------------------------------------------------------- patching */

/* Offsets follow Kafka's LogValidator for v2 batches: each batch covers
 * lastOffsetDelta + 1 offsets. The caller has checked lastOffsetDelta. */
int64_t fmq_batches_assign_offsets(uint8_t *buf, const fmq_batch_info *batches,
                                   int n, int64_t base_offset, int32_t leader_epoch)
{
    int64_t next = base_offset;
    for (int i = 0; i < n; i++) {
        uint8_t *b = buf + batches[i].position;
        put_be64(b + BATCH_BASE_OFFSET, (uint64_t)next);
        put_be32(b + BATCH_LEADER_EPOCH, (uint32_t)leader_epoch);
        next += (int64_t)batches[i].last_offset_delta + 1;
    }
    return next;
}

/* Kafka's DefaultRecordBatch.setMaxTimestamp(LOG_APPEND_TIME, now): the
 * timestamp-type bit and maxTimestamp are inside the CRC, so it is redone.
 * The batch must have been framed by fmq_batches_scan. */
void fmq_batch_set_log_append_time(uint8_t *buf, uint64_t position, int64_t timestamp_ms)
{
    uint8_t *b = buf + position;
    uint16_t attributes = get_be16(b + BATCH_ATTRIBUTES) | ATTR_TIMESTAMP_TYPE_LOG_APPEND;
    b[BATCH_ATTRIBUTES] = (uint8_t)(attributes >> 8);
    b[BATCH_ATTRIBUTES + 1] = (uint8_t)attributes;
    put_be64(b + BATCH_MAX_TIMESTAMP, (uint64_t)timestamp_ms);
    uint64_t size = BATCH_LOG_OVERHEAD + (uint64_t)(uint32_t)get_be32(b + BATCH_LENGTH);
    put_be32(b + BATCH_CRC, batch_compute_crc(b, size));
}
