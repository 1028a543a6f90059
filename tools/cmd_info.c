/* cmd_info.c — `kvgram info FILE`: header, metadata, and the tensor table. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "kvg_reader.h"

static const char *const info_help =
    "usage: kvgram info [--full] FILE.kvg\n"
    "\n"
    "Shows a .kvg file: format version, alignment and size; every metadata key\n"
    "with its type and value; and the tensor table (name, dtype, shape, bytes,\n"
    "offset) with totals. Opening validates the header, metadata and directory\n"
    "and their checksum; tensor data is not read (use `kvgram verify` for that).\n"
    "\n"
    "  --full      print whole strings and arrays (default: the first few items)\n"
    "  -h, --help  this help\n";

/* Prints bytes as a quoted string, escaping what is not printable ASCII, at
 * most max bytes (0: all). */
static void print_quoted(const char *s, uint64_t len, uint64_t max)
{
    uint64_t shown = (max && len > max) ? max : len;
    putchar('"');
    for (uint64_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c >= 0x20 && c < 0x7F)
            putchar(c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else
            printf("\\x%02x", c);
    }
    putchar('"');
    if (shown < len)
        printf("... (%" PRIu64 " bytes)", len);
}

static void print_meta_value(const kvg_meta *m, int full)
{
    uint64_t max_items = full ? 0 : 8, max_chars = full ? 0 : 72;
    switch (m->type) {
    case KVG_META_U64:
        printf("u64       %" PRIu64, kvg_rd64(m->value));
        break;
    case KVG_META_I64:
        printf("i64       %" PRId64, (int64_t)kvg_rd64(m->value));
        break;
    case KVG_META_F64: {
        printf("f64       %.17g", kvg_meta_arr_f64(m, 0));
        break;
    }
    case KVG_META_STR:
        printf("str       ");
        print_quoted((const char *)m->value, m->count, max_chars);
        break;
    case KVG_META_ARR: {
        static const char *const elem[] = {"?", "u64", "i64", "f64", "str"};
        printf("%s[%" PRIu64 "]%*s[", elem[m->elem_type <= 4 ? m->elem_type : 0], m->count,
               m->count < 10 ? 4 : m->count < 100 ? 3 : m->count < 1000 ? 2 : 1, "");
        uint64_t shown = (max_items && m->count > max_items) ? max_items : m->count;
        if (m->elem_type == KVG_META_STR) {
            kvg_meta_str_iter it = kvg_meta_str_begin(m);
            const char *s;
            uint64_t len;
            for (uint64_t i = 0; i < shown && kvg_meta_str_next(&it, &s, &len); i++) {
                if (i)
                    fputs(", ", stdout);
                print_quoted(s, len, full ? 0 : 24);
            }
        } else {
            for (uint64_t i = 0; i < shown; i++) {
                if (i)
                    fputs(", ", stdout);
                if (m->elem_type == KVG_META_U64)
                    printf("%" PRIu64, kvg_meta_arr_u64(m, i));
                else if (m->elem_type == KVG_META_I64)
                    printf("%" PRId64, kvg_meta_arr_i64(m, i));
                else
                    printf("%.9g", kvg_meta_arr_f64(m, i));
            }
        }
        if (shown < m->count)
            printf(", ... %" PRIu64 " more", m->count - shown);
        putchar(']');
        break;
    }
    }
    putchar('\n');
}

static void print_shape(const kvg_tensor *t, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%" PRIu64, d ? ", " : "", t->shape[d]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

int cmd_info(int argc, char **argv)
{
    int full = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(info_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--full") == 0) {
            full = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("info", "unknown option %s", argv[i]);
        } else if (path) {
            return cli_usage_error("info", "one FILE at a time");
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return cli_usage_error("info", "missing FILE");

    kvg_error err;
    kvg_file *f;
    if (kvg_open(path, &f, &err)) {
        cli_print_error(&err);
        return 1;
    }
    char hb[32];
    printf("file:       %s\n", path);
    printf("format:     .kvg %u.%u, little-endian, alignment %u\n", kvg_version_major(f), kvg_version_minor(f),
           kvg_alignment(f));
    printf("size:       %" PRIu64 " bytes (%s)\n", kvg_file_size(f), cli_human_bytes(kvg_file_size(f), hb));
    printf("checksum:   %016" PRIx64 " (header + metadata + directory, XXH3-64, verified)\n",
           kvg_head_checksum(f));

    printf("\nmetadata:   %zu keys\n", kvg_meta_count(f));
    size_t key_w = 8;
    for (size_t i = 0; i < kvg_meta_count(f); i++)
        if (strlen(kvg_meta_at(f, i)->key) > key_w)
            key_w = strlen(kvg_meta_at(f, i)->key);
    for (size_t i = 0; i < kvg_meta_count(f); i++) {
        const kvg_meta *m = kvg_meta_at(f, i);
        printf("  %-*s  ", (int)key_w, m->key);
        print_meta_value(m, full);
    }

    size_t n = kvg_tensor_count(f);
    size_t name_w = 4;
    for (size_t i = 0; i < n; i++)
        if (strlen(kvg_tensor_at(f, i)->name) > name_w)
            name_w = strlen(kvg_tensor_at(f, i)->name);
    printf("\ntensors:    %zu\n", n);
    if (n)
        printf("  %-*s  %-5s  %-24s %14s  %12s  %s\n", (int)name_w, "name", "dtype", "shape", "elements", "bytes",
               "offset");
    uint64_t total_bytes = 0, total_elems = 0;
    for (size_t i = 0; i < n; i++) {
        const kvg_tensor *t = kvg_tensor_at(f, i);
        char shape[128];
        print_shape(t, shape, sizeof shape);
        printf("  %-*s  %-5s  %-24s %14" PRIu64 "  %12" PRIu64 "  %" PRIu64 "\n", (int)name_w, t->name,
               kvg_dtype_get(t->dtype)->name, shape, t->n_elems, t->size, t->offset);
        total_bytes += t->size;
        total_elems += t->n_elems;
    }
    printf("\ntotal:      %zu tensors, %" PRIu64 " elements, %" PRIu64 " bytes of tensor data (%s, %.1f%% of the file)\n",
           n, total_elems, total_bytes, cli_human_bytes(total_bytes, hb),
           kvg_file_size(f) ? 100.0 * (double)total_bytes / (double)kvg_file_size(f) : 0.0);
    kvg_close(f);
    return 0;
}
