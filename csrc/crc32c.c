#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include "fluxmq.h"

#include <stdlib.h>
#include <string.h>
#include <nmmintrin.h>

/*
 * CRC-32C (Castagnoli), the checksum of Kafka record batches (magic 2,
 * KIP-98: the crc field covers attributes..end of batch).
 *
 * Two implementations, chosen once when the library is loaded:
 *   - "sse4.2": the CRC32 instruction, 8 bytes at a time. It has a latency of
 *     3 cycles but a throughput of 1 per cycle, so large buffers are split
 *     into three streams computed side by side and joined with a "shift"
 *     table (see crc_shift).
 *   - "software": slicing-by-8 tables, portable C.
 * FLUXMQ_FORCE_SOFTWARE_CRC=1 in the environment, or
 * fmq_crc32c_force_software(1), selects the software path.
 *
 * Internally the running value is the bit-reflected register without the
 * final inversion ("state"); the public API takes and returns finished CRCs
 * so that fmq_crc32c(fmq_crc32c(0, a), b) == CRC(a || b).
 */

/* Reflected Castagnoli polynomial 0x1EDC6F41. */
#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* Three-stream block sizes in bytes per stream: long blocks amortise the
 * join, short blocks still beat a single stream for medium buffers. */
#define STREAM_LONG 8192
#define STREAM_SHORT 256

typedef uint32_t (*crc_update_fn)(uint32_t state, const uint8_t *buf, size_t len);

/* Slicing-by-8: slice_table[k][b] is the state contribution of byte b
 * followed by k zero bytes. */
static uint32_t slice_table[8][256];

/* shift_long/short[k][b]: state obtained by feeding STREAM_* zero bytes to a
 * state whose byte k is b and other bytes are 0. XORing the four lookups
 * advances any state over that many zero bytes (the CRC is linear). */
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];

static crc_update_fn crc_hw_choice; /* NULL when the CPU lacks SSE4.2 */
static crc_update_fn crc_active;

/* ---------------------------------------------------------------- software */

static void build_slice_tables(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int bit = 0; bit < 8; bit++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
        slice_table[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++)
            slice_table[k][b] = (slice_table[k - 1][b] >> 8) ^ slice_table[0][slice_table[k - 1][b] & 0xff];
}

static inline uint32_t crc_sw_byte(uint32_t state, uint8_t byte)
{
    return (state >> 8) ^ slice_table[0][(state ^ byte) & 0xff];
}

/* Bytes are combined explicitly (not loaded as a word) so the fallback is
 * endian-neutral; compilers turn this into a single load on x86. */
static uint32_t crc_sw_update(uint32_t state, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint32_t lo = state ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        state = slice_table[7][lo & 0xff] ^ slice_table[6][(lo >> 8) & 0xff] ^
                slice_table[5][(lo >> 16) & 0xff] ^ slice_table[4][lo >> 24] ^
                slice_table[3][p[4]] ^ slice_table[2][p[5]] ^ slice_table[1][p[6]] ^ slice_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        state = crc_sw_byte(state, *p++);
    return state;
}

/* ------------------------------------------------------------ shift tables */

/* Advances a state over n zero bytes, one byte at a time. Only used to build
 * the shift tables at load time (32 basis vectors), so speed is irrelevant. */
static uint32_t crc_zeros_slow(uint32_t state, size_t n)
{
    while (n--)
        state = crc_sw_byte(state, 0);
    return state;
}

static void build_shift_table(uint32_t table[4][256], size_t zeros)
{
    uint32_t basis[32];
    for (int bit = 0; bit < 32; bit++)
        basis[bit] = crc_zeros_slow(1u << bit, zeros);
    for (int k = 0; k < 4; k++) {
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int bit = 0; bit < 8; bit++)
                if (b & (1u << bit))
                    v ^= basis[8 * k + bit];
            table[k][b] = v;
        }
    }
}

static inline uint32_t crc_shift(const uint32_t table[4][256], uint32_t state)
{
    return table[0][state & 0xff] ^ table[1][(state >> 8) & 0xff] ^
           table[2][(state >> 16) & 0xff] ^ table[3][state >> 24];
}

/* ------------------------------------------------------------------ sse4.2 */

static inline uint64_t load_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Three streams of `block` bytes each starting at p, p+block, p+2*block;
 * block is a multiple of 8. Returns the state after all 3*block bytes. */
__attribute__((target("sse4.2")))
static uint32_t crc_hw_three_streams(uint32_t state, const uint8_t *p, size_t block,
                                     const uint32_t table[4][256])
{
    uint64_t a = state, b = 0, c = 0;
    const uint8_t *end = p + block;
    while (p < end) {
        a = _mm_crc32_u64(a, load_u64(p));
        b = _mm_crc32_u64(b, load_u64(p + block));
        c = _mm_crc32_u64(c, load_u64(p + 2 * block));
        p += 8;
    }
    /* state(x || y) = shift(state(x), |y|) ^ state_from_zero(y) */
    uint32_t joined = crc_shift(table, (uint32_t)a) ^ (uint32_t)b;
    return crc_shift(table, joined) ^ (uint32_t)c;
}

__attribute__((target("sse4.2")))
static uint32_t crc_hw_update(uint32_t state, const uint8_t *p, size_t len)
{
    /* Align to 8 bytes so the word loads never straddle cache lines. */
    while (len && ((uintptr_t)p & 7)) {
        state = _mm_crc32_u8(state, *p++);
        len--;
    }
    while (len >= 3 * STREAM_LONG) {
        state = crc_hw_three_streams(state, p, STREAM_LONG, shift_long);
        p += 3 * STREAM_LONG;
        len -= 3 * STREAM_LONG;
    }
    while (len >= 3 * STREAM_SHORT) {
        state = crc_hw_three_streams(state, p, STREAM_SHORT, shift_short);
        p += 3 * STREAM_SHORT;
        len -= 3 * STREAM_SHORT;
    }
    uint64_t s = state;
    while (len >= 8) {
        s = _mm_crc32_u64(s, load_u64(p));
        p += 8;
        len -= 8;
    }
    state = (uint32_t)s;
    while (len--)
        state = _mm_crc32_u8(state, *p++);
    return state;
}

/* -------------------------------------------------------------- dispatch */

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

__attribute__((constructor))
static void crc32c_init(void)
{
    build_slice_tables();
    build_shift_table(shift_long, STREAM_LONG);
    build_shift_table(shift_short, STREAM_SHORT);
    /* Constructors may run before libgcc's own cpu model is initialised. */
    __builtin_cpu_init();
    crc_hw_choice = __builtin_cpu_supports("sse4.2") ? crc_hw_update : NULL;
    crc_active = (crc_hw_choice && !env_flag("FLUXMQ_FORCE_SOFTWARE_CRC")) ? crc_hw_choice : crc_sw_update;
}

uint32_t fmq_crc32c(uint32_t crc, const uint8_t *buf, size_t len)
{
    return ~crc_active(~crc, buf, len);
}

const char *fmq_crc32c_impl(void)
{
    return crc_active == crc_sw_update ? "software" : "sse4.2";
}

void fmq_crc32c_force_software(int on)
{
    if (on || !crc_hw_choice || env_flag("FLUXMQ_FORCE_SOFTWARE_CRC"))
        crc_active = crc_sw_update;
    else
        crc_active = crc_hw_choice;
}
