/* cmd_verify.c — `kvgram verify FILE…`: every checksum and all padding. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "kvg_reader.h"
#include "ngram.h"

static const char *const verify_help =
    "usage: kvgram verify [-q] FILE.kvg...\n"
    "\n"
    "Checks a .kvg file completely: the checksum of header, metadata and\n"
    "directory (also checked by every open), the XXH3-64 checksum of every\n"
    "tensor, and that every padding byte between them is zero. Together these\n"
    "cover every byte of the file, so any changed byte is detected. For an\n"
    "n-gram model it then checks the tables' structure (pointers, sorted ids).\n"
    "Exit status: 0 only if every file passes every check; 1 otherwise.\n"
    "\n"
    "  -q, --quiet  print nothing on success\n"
    "  -h, --help   this help\n";

/* Returns 0 when the file passes. Problems go to stderr, one line each;
 * the last line sums them up. */
static int verify_one(const char *path, int quiet)
{
    kvg_error err;
    kvg_file *f;
    if (kvg_open(path, &f, &err)) {
        cli_print_error(&err);
        return 1;
    }
    size_t bad = 0, n = kvg_tensor_count(f);
    if (kvg_verify_padding(f, &err)) {
        cli_print_error(&err);
        bad++;
    }
    for (size_t i = 0; i < n; i++) {
        if (kvg_verify_tensor(f, kvg_tensor_at(f, i), &err)) {
            cli_print_error(&err);
            bad++;
        }
    }
    /* A model kind's own structure, once its bytes are known to be intact. */
    const kvg_meta *kind = kvg_meta_find(f, "general.kind");
    if (!bad && kind && kind->type == KVG_META_STR && kind->count == 5 && !memcmp(kind->value, "ngram", 5)) {
        kvg_ngram *m = NULL;
        if (kvg_ngram_open(f, &m, &err) || kvg_ngram_check(m, &err)) {
            cli_print_error(&err);
            bad++;
        }
        kvg_ngram_close(m);
    }
    if (bad > 1)
        fprintf(stderr, "kvgram: %s: %zu problems found\n", path, bad);
    if (!bad && !quiet) {
        printf("%s: OK (%zu tensors, %" PRIu64 " bytes: header, metadata, directory, tensor checksums and "
               "padding verified)\n",
               path, n, kvg_file_size(f));
    }
    kvg_close(f);
    return bad ? 1 : 0;
}

int cmd_verify(int argc, char **argv)
{
    int quiet = 0, n_files = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(verify_help, stdout);
            return 0;
        }
        if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
            quiet = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error("verify", "unknown option %s", argv[i]);
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1])
            continue;
        n_files++;
        failed |= verify_one(argv[i], quiet);
    }
    if (!n_files)
        return cli_usage_error("verify", "missing FILE");
    return failed ? 1 : 0;
}
