/* commands.h — the kvgram subcommands, one file each under tools/.
 *
 * A command gets argv with argv[0] set to its own name, prints its results to
 * stdout, prints errors as one line to stderr, and returns the process exit
 * status (0 success, 1 failure, 2 usage error). */
#ifndef KVG_COMMANDS_H
#define KVG_COMMANDS_H

typedef struct kvg_command {
    const char *name;
    const char *summary; /* one line for `kvgram --help` */
    int (*run)(int argc, char **argv);
} kvg_command;

int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_ngram(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_lens(int argc, char **argv);

/* The table main() dispatches on, ended by a {NULL} row. */
extern const kvg_command kvg_commands[];

#endif
