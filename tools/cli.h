/* cli.h — small helpers shared by the subcommands: help and error printing,
 * option matching. */
#ifndef KVG_CLI_H
#define KVG_CLI_H

#include <stdio.h>

#include "kvg_error.h"

/* Prints "kvgram: MESSAGE\n" to stderr (MESSAGE is one line already). */
void cli_print_error(const kvg_error *err);

/* Prints "kvgram CMD: usage problem" and a hint to stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) KVG_PRINTF(2, 3);

/* 1 if arg is "-h" or "--help". */
int cli_is_help(const char *arg);

/* Formats a byte count for people: "1.50 MiB". buf needs 32 bytes. */
const char *cli_human_bytes(unsigned long long n, char *buf);

#endif
