/* kvg_mmap.c — read-only mapping of whole files. */
#define _DEFAULT_SOURCE /* madvise (MADV_DONTNEED): Linux/BSD, not POSIX */
#include "kvg_mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int kvg_map_file(const char *path, const char *kind, const void **map, size_t *size, kvg_error *err)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
     * below as not a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return kvg_errorf(err, path, "cannot open: %s", strerror(errno));
    struct stat st;
    const char *refusal = NULL;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return kvg_errorf(err, path, "cannot stat: %s", strerror(e));
    }
    if (S_ISDIR(st.st_mode))
        refusal = "is a directory";
    else if (!S_ISREG(st.st_mode))
        refusal = "not a regular file";
    else if (st.st_size == 0)
        refusal = "empty file";
    if (refusal) {
        close(fd);
        if (S_ISDIR(st.st_mode) || st.st_size == 0)
            return kvg_errorf(err, path, "%s, not a %s file", refusal, kind);
        return kvg_errorf(err, path, "%s", refusal);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (m == MAP_FAILED)
        return kvg_errorf(err, path, "cannot map: %s", strerror(e));
    *map = m;
    *size = (size_t)st.st_size;
    return 0;
}

void kvg_release_pages(const void *p, size_t size)
{
    if (size == 0)
        return;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t mask = (uintptr_t)(page > 0 ? page : 4096) - 1;
    uintptr_t begin = (uintptr_t)p & ~mask;
    uintptr_t end = ((uintptr_t)p + (uintptr_t)size + mask) & ~mask;
    madvise((void *)begin, end - begin, MADV_DONTNEED);
}
