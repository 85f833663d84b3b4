#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include "fluxmq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/mempolicy.h>

/*
 * Buffers placed on the NUMA node of the thread that allocates them (the
 * loop thread fills and reads them). libnuma is not assumed: memory comes
 * from mmap and is placed with the mbind(2) syscall, MPOL_PREFERRED rather
 * than MPOL_BIND so that a full node spills over instead of failing.
 *
 * "mbind" is active when the machine has more than one node and the kernel
 * accepts mbind (containers may refuse it); otherwise allocations are plain
 * mmap and fmq_numa_impl says "none".
 * FLUXMQ_NUMA_IMPL=none forces plain mmap; FLUXMQ_NUMA_IMPL=mbind binds even
 * on a single-node machine (so tests can exercise that path).
 */

#define NODE_ONLINE_PATH "/sys/devices/system/node/online"
/* Node mask size passed to mbind; Linux supports at most 1024 nodes. */
#define NODEMASK_BITS 1024
#define BITS_PER_WORD (8 * sizeof(unsigned long))

static int numa_node_count = 1;
static int numa_use_mbind;

static long sys_mbind(void *addr, size_t len, int mode, const unsigned long *mask,
                      unsigned long maxnode, unsigned flags)
{
    return syscall(SYS_mbind, addr, len, mode, mask, maxnode, flags);
}

/* Counts nodes in a sysfs cpulist-style string such as "0-3,6". */
static int count_list(const char *s)
{
    int count = 0;
    while (*s && *s != '\n') {
        char *end;
        long lo = strtol(s, &end, 10);
        if (end == s)
            return count;
        long hi = lo;
        if (*end == '-')
            hi = strtol(end + 1, &end, 10);
        if (hi >= lo)
            count += (int)(hi - lo + 1);
        s = (*end == ',') ? end + 1 : end;
    }
    return count;
}

static int read_node_count(void)
{
    char line[256];
    FILE *f = fopen(NODE_ONLINE_PATH, "re");
    if (!f)
        return 1; /* no sysfs NUMA information: treat as one node */
    int n = fgets(line, sizeof line, f) ? count_list(line) : 1;
    fclose(f);
    return n > 0 ? n : 1;
}

static int current_node(void)
{
    unsigned cpu = 0, node = 0;
    if (getcpu(&cpu, &node) != 0)
        return -1;
    return (int)node;
}

/* Prefers the caller's node for [addr, addr+size). Returns 0 or -1. */
static int prefer_local_node(void *addr, size_t size)
{
    int node = current_node();
    if (node < 0 || node >= NODEMASK_BITS)
        return -1;
    unsigned long mask[NODEMASK_BITS / BITS_PER_WORD];
    memset(mask, 0, sizeof mask);
    mask[node / BITS_PER_WORD] = 1UL << (node % BITS_PER_WORD);
    /* The kernel ignores the last bit of maxnode (historical off-by-one). */
    return sys_mbind(addr, size, MPOL_PREFERRED, mask, NODEMASK_BITS + 1, 0) == 0 ? 0 : -1;
}

/* Containers may forbid mbind: try it once on a page before relying on it. */
static int mbind_works(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    int ok = prefer_local_node(p, page) == 0;
    munmap(p, page);
    return ok;
}

__attribute__((constructor))
static void numa_init(void)
{
    numa_node_count = read_node_count();
    const char *wanted = getenv("FLUXMQ_NUMA_IMPL");
    if (wanted && strcmp(wanted, "none") == 0)
        numa_use_mbind = 0;
    else if (wanted && strcmp(wanted, "mbind") == 0)
        numa_use_mbind = mbind_works();
    else
        numa_use_mbind = numa_node_count > 1 && mbind_works();
}

void *fmq_numa_alloc(size_t size)
{
    if (size == 0)
        return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Placement is a hint: the memory is usable whether or not it sticks.
     * Pages are placed on first touch, after the policy is set. */
    if (numa_use_mbind)
        (void)prefer_local_node(p, size);
    return p;
}

void fmq_numa_free(void *ptr, size_t size)
{
    if (ptr && size)
        munmap(ptr, size);
}

int fmq_numa_nodes(void)
{
    return numa_node_count;
}

const char *fmq_numa_impl(void)
{
    return numa_use_mbind ? "mbind" : "none";
}
