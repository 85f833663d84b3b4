#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include "fluxmq.h"

#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

/*
 * Copies on the data path (assembling fetch responses, staging produce
 * payloads). Three implementations, chosen once at load time:
 *   - "avx2":   glibc memcpy below STREAM_THRESHOLD, 32-byte non-temporal
 *               (streaming) stores at and above it;
 *   - "sse2":   the same with 16-byte streaming stores (CPUs without AVX2);
 *   - "memcpy": the C library's memcpy throughout.
 *
 * Why only streaming stores (development machine: AMD EPYC, 32 MiB L3
 * slice, glibc 2.36):
 *   - a plain unrolled AVX2 loop, timed in C against glibc memcpy (which
 *     already dispatches to AVX2/ERMS code), won 10-20% at 1-16 KiB in a
 *     hot-cache loop but lost ~45% at 32-256 KiB and tied from 1 to 8 MiB,
 *     so everything below the threshold is left to memcpy;
 *   - streaming stores win once source and destination no longer fit the
 *     L3 (24 MiB: 36 vs 25 GB/s, 64 MiB: 28 vs 21 GB/s) because they skip
 *     the read-for-ownership of each destination line, and lose below
 *     ~12 MiB (40 vs 60 GB/s at 8 MiB).
 * benchmarks/micro/bench_copy.py prints fmq_copy per path to re-check.
 *
 * FLUXMQ_FORCE_MEMCPY=1 or fmq_copy_force_fallback(1) forces memcpy.
 * FLUXMQ_COPY_IMPL=avx2|sse2|memcpy picks a path at load time (tests and
 * benchmarks; ignored when the CPU lacks the instructions).
 */

/* The measured crossover (see above). sysconf(_SC_LEVEL3_CACHE_SIZE) is
 * not used: under virtualisation it reports the whole socket (384 MiB on
 * the development VM), not the slice a core can use. */
#define STREAM_THRESHOLD (16u << 20)

#define AVX2_VECTOR 32
#define SSE2_VECTOR 16
/* Four vectors per iteration keep several stores in flight. */
#define UNROLL 4

typedef void (*copy_fn)(uint8_t *dst, const uint8_t *src, size_t len);

static void copy_memcpy(uint8_t *dst, const uint8_t *src, size_t len)
{
    memcpy(dst, src, len);
}

/* Bytes to copy before dst reaches a multiple of `align` (a power of 2):
 * streaming stores need aligned destinations. */
static inline size_t bytes_to_alignment(const uint8_t *dst, size_t align)
{
    return (align - ((uintptr_t)dst & (align - 1))) & (align - 1);
}

/* ---------------------------------------------------------------- avx2 */

__attribute__((target("avx2")))
static void copy_stream_avx2(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t head = bytes_to_alignment(dst, AVX2_VECTOR);
    memcpy(dst, src, head);
    dst += head;
    src += head;
    len -= head;
    while (len >= UNROLL * AVX2_VECTOR) {
        __m256i a = _mm256_loadu_si256((const __m256i *)src);
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + AVX2_VECTOR));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + 2 * AVX2_VECTOR));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + 3 * AVX2_VECTOR));
        _mm256_stream_si256((__m256i *)dst, a);
        _mm256_stream_si256((__m256i *)(dst + AVX2_VECTOR), b);
        _mm256_stream_si256((__m256i *)(dst + 2 * AVX2_VECTOR), c);
        _mm256_stream_si256((__m256i *)(dst + 3 * AVX2_VECTOR), d);
        src += UNROLL * AVX2_VECTOR;
        dst += UNROLL * AVX2_VECTOR;
        len -= UNROLL * AVX2_VECTOR;
    }
    /* Streaming stores are weakly ordered: make them visible before any
     * later store (e.g. a flag another thread reads). */
    _mm_sfence();
    memcpy(dst, src, len);
}

__attribute__((target("avx2")))
static void copy_avx2(uint8_t *dst, const uint8_t *src, size_t len)
{
    if (len < STREAM_THRESHOLD)
        memcpy(dst, src, len);
    else
        copy_stream_avx2(dst, src, len);
}

/* ---------------------------------------------------------------- sse2 */

__attribute__((target("sse2")))
static void copy_stream_sse2(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t head = bytes_to_alignment(dst, SSE2_VECTOR);
    memcpy(dst, src, head);
    dst += head;
    src += head;
    len -= head;
    while (len >= UNROLL * SSE2_VECTOR) {
        __m128i a = _mm_loadu_si128((const __m128i *)src);
        __m128i b = _mm_loadu_si128((const __m128i *)(src + SSE2_VECTOR));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + 2 * SSE2_VECTOR));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + 3 * SSE2_VECTOR));
        _mm_stream_si128((__m128i *)dst, a);
        _mm_stream_si128((__m128i *)(dst + SSE2_VECTOR), b);
        _mm_stream_si128((__m128i *)(dst + 2 * SSE2_VECTOR), c);
        _mm_stream_si128((__m128i *)(dst + 3 * SSE2_VECTOR), d);
        src += UNROLL * SSE2_VECTOR;
        dst += UNROLL * SSE2_VECTOR;
        len -= UNROLL * SSE2_VECTOR;
    }
    _mm_sfence();
    memcpy(dst, src, len);
}

static void copy_sse2(uint8_t *dst, const uint8_t *src, size_t len)
{
    if (len < STREAM_THRESHOLD)
        memcpy(dst, src, len);
    else
        copy_stream_sse2(dst, src, len);
}

/* ------------------------------------------------------------ dispatch */

static copy_fn copy_choice;
static copy_fn copy_active;

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

static copy_fn copy_by_name(const char *name)
{
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2"))
        return copy_avx2;
    if (strcmp(name, "sse2") == 0 && __builtin_cpu_supports("sse2"))
        return copy_sse2;
    if (strcmp(name, "memcpy") == 0)
        return copy_memcpy;
    return NULL;
}

static copy_fn copy_pick(void)
{
    const char *wanted = getenv("FLUXMQ_COPY_IMPL");
    copy_fn fn = wanted ? copy_by_name(wanted) : NULL;
    if (fn)
        return fn;
    if (__builtin_cpu_supports("avx2"))
        return copy_avx2;
    if (__builtin_cpu_supports("sse2"))
        return copy_sse2;
    return copy_memcpy;
}

__attribute__((constructor))
static void copy_init(void)
{
    /* Constructors may run before libgcc's own cpu model is initialised. */
    __builtin_cpu_init();
    copy_choice = copy_pick();
    copy_active = env_flag("FLUXMQ_FORCE_MEMCPY") ? copy_memcpy : copy_choice;
}

/* Empty copies return early: memcpy forbids NULL even for 0 bytes, and
 * callers pass NULL for empty buffers. */
void fmq_copy(uint8_t *dst, const uint8_t *src, size_t len)
{
    if (len)
        copy_active(dst, src, len);
}

size_t fmq_gather(uint8_t *dst, const uint8_t **srcs, const size_t *lens, int n)
{
    size_t total = 0;
    copy_fn copy = copy_active;
    for (int i = 0; i < n; i++) {
        if (lens[i] == 0)
            continue;
        copy(dst + total, srcs[i], lens[i]);
        total += lens[i];
    }
    return total;
}

const char *fmq_copy_impl(void)
{
    if (copy_active == copy_avx2)
        return "avx2";
    if (copy_active == copy_sse2)
        return "sse2";
    return "memcpy";
}

void fmq_copy_force_fallback(int on)
{
    copy_active = (on || env_flag("FLUXMQ_FORCE_MEMCPY")) ? copy_memcpy : copy_choice;
}
