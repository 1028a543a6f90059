/* fuzz_common.h — what the libFuzzer targets share: handing an input to the
 * reader as a path (a memfd, nothing on disk), re-sealing the head checksum
 * so mutations get past it, and a hard invariant check. */
#ifndef KVG_FUZZ_COMMON_H
#define KVG_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "kvg_layout.h"

static int memfd = -1;
static char memfd_path[64];
static volatile uint64_t sink; /* keeps the reads of mapped bytes */

static inline void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_reader: invariant broken: %s\n", what);
        abort();
    }
}

static inline void set_contents(const uint8_t *data, size_t size)
{
    if (memfd < 0) {
        memfd = memfd_create("fuzz.kvg", MFD_CLOEXEC);
        check(memfd >= 0, "memfd_create");
        snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    }
    check(ftruncate(memfd, 0) == 0, "ftruncate");
    for (size_t done = 0; done < size;) {
        ssize_t k = pwrite(memfd, data + done, size - done, (off_t)done);
        check(k > 0, "pwrite");
        done += (size_t)k;
    }
}

/* The input with its head checksum recomputed; 0 when the header's sections
 * do not lie inside the input (the reader refuses those before the sum). */
static inline int reseal(uint8_t *b, size_t n)
{
    if (n < KVG_HEADER_SIZE)
        return 0;
    uint64_t mo = kvg_rd64(b + KVG_H_META_OFFSET), ms = kvg_rd64(b + KVG_H_META_SIZE);
    uint64_t dof = kvg_rd64(b + KVG_H_DIR_OFFSET), ds = kvg_rd64(b + KVG_H_DIR_SIZE);
    if (mo > n || ms > n - mo || dof > n || ds > n - dof)
        return 0;
    XXH3_state_t *st = XXH3_createState();
    check(st != NULL, "XXH3_createState");
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, b, KVG_H_HEAD_CHECKSUM);
    XXH3_64bits_update(st, b + mo, (size_t)ms);
    XXH3_64bits_update(st, b + dof, (size_t)ds);
    uint64_t sum = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    if (kvg_rd64(b + KVG_H_HEAD_CHECKSUM) == sum)
        return 0; /* already sealed: opened as it is */
    kvg_wr64(b + KVG_H_HEAD_CHECKSUM, sum);
    return 1;
}

/* Runs try_open on the input as it is and, when its head checksum does not
 * match, once more with the checksum re-sealed. */
static inline void fuzz_both_ways(const uint8_t *data, size_t size, void (*try_open)(void))
{
    set_contents(data, size);
    try_open();
    if (size >= KVG_HEADER_SIZE) {
        uint8_t *copy = malloc(size);
        check(copy != NULL, "malloc");
        memcpy(copy, data, size);
        if (reseal(copy, size)) {
            set_contents(copy, size);
            try_open();
        }
        free(copy);
    }
}

#endif
