/* kvg_mmap.h — mapping a whole regular file read-only, the one way every
 * reader of model files (.kvg, safetensors) opens its input. */
#ifndef KVG_MMAP_H
#define KVG_MMAP_H

#include <stddef.h>

#include "kvg_error.h"

/* Maps path read-only (shared, so many processes share one copy in the page
 * cache). Refuses, with a one-line error naming path: a missing or
 * unreadable file, a directory ("is a directory, not a KIND file"), anything
 * but a regular file (FIFOs are opened without blocking), and an empty file
 * ("empty file, not a KIND file"). kind names the expected format in those
 * messages (".kvg", "safetensors"). Unmap with munmap(*map, *size). */
int kvg_map_file(const char *path, const char *kind, const void **map, size_t *size, kvg_error *err);

/* Drops the pages around [p, p + size) of a read-only file mapping from this
 * process (madvise DONTNEED), so a converter streaming through a big input
 * keeps memory near one tensor. Pages fault back in from the file when read
 * again, so neighbours' bytes are safe. Advice only: failure changes nothing. */
void kvg_release_pages(const void *p, size_t size);

#endif
