/* cli.h — small helpers shared by the subcommands: help and error printing,
 * option matching. */
#ifndef KVG_CLI_H
#define KVG_CLI_H

#include <stdio.h>
#include <time.h>

#include "kvg_error.h"

/* Prints "kvgram: MESSAGE\n" to stderr (MESSAGE is one line already). */
void cli_print_error(const kvg_error *err);

/* Prints "kvgram CMD: usage problem" and a hint to stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) KVG_PRINTF(2, 3);

/* 1 if arg is "-h" or "--help". */
int cli_is_help(const char *arg);

/* Formats a byte count for people: "1.50 MiB". buf needs 32 bytes. */
const char *cli_human_bytes(unsigned long long n, char *buf);

/* 1 when a progress line is due: at most one per second (*last holds the
 * time of the previous line and is updated), or always when force is set. */
int cli_progress_due(time_t *last, int force);

/* Flushes standard output; on a write error (a full disk, a closed pipe)
 * prints "kvgram: <stdout>: write error: REASON" and returns -1, else 0. */
int cli_flush_stdout(void);

/* Opens and closes every input FILE ("-", stdin, is skipped) so that an
 * unreadable one is reported before any output is written. Prints
 * "kvgram: FILE: cannot open: REASON" for the first that fails and returns
 * -1; returns 0 when all can be read. */
int cli_inputs_readable(const char *const *files, int n_files);

/* Runs fn on each input in turn, opened for reading (stdin when n_files is
 * 0, and for "-"), closing each after. Stops at the first fn that returns
 * non-zero and returns that; prints "kvgram: FILE: cannot open: REASON" and
 * returns -1 for a file that cannot be opened. */
typedef int (*cli_input_fn)(void *user, FILE *in, const char *name);
int cli_each_input(const char *const *files, int n_files, cli_input_fn fn, void *user);

#endif
