/* kvgram.c — main(): dispatches to the subcommand named by argv[1]. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "kvg_layout.h"
#include "kvg_writer.h"

const kvg_command kvg_commands[] = {
    {"bench", "measure speed: load time and scoring throughput", cmd_bench},
    {"compare", "a transformer vs a token-level n-gram model, token by token (agreement, KL, suffix rules)",
     cmd_compare},
    {"convert", "convert a model (ARPA n-gram) into a .kvg file", cmd_convert},
    {"generate", "continue a prompt with a transformer (greedy or sampled)", cmd_generate},
    {"info", "show a .kvg file's header, metadata and tensor table", cmd_info},
    {"lens", "what each layer and head of a transformer predicts at each position", cmd_lens},
    {"ngram", "estimate an n-gram model from text (`ngram build`, like KenLM lmplz)", cmd_ngram},
    {"quantize", "re-encode a transformer's matrices: f32, f16, bf16, q8_0, q4_0", cmd_quantize},
    {"score", "score text, one sentence per line: log-probs and perplexity", cmd_score},
    {"tokenize", "text to token ids (and back) with a model's tokenizer", cmd_tokenize},
    {"verify", "check every checksum and all padding of a .kvg file", cmd_verify},
    {NULL, NULL, NULL},
};

static void print_help(FILE *out)
{
    fprintf(out,
            "kvgram %s — one engine and one file format for n-gram models and transformers\n"
            "\n"
            "usage: kvgram COMMAND [OPTIONS] [ARGS]\n"
            "       kvgram COMMAND --help     help on one command\n"
            "       kvgram --version\n"
            "\n"
            "commands:\n",
            KVG_VERSION);
    for (const kvg_command *c = kvg_commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
}

/* An interrupted run leaves no temporary files behind: remove them, then die
 * of the same signal so the exit status tells what happened. */
static void on_fatal_signal(int sig)
{
    kvg_writer_remove_temporaries();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGHUP, on_fatal_signal);
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            for (const kvg_command *c = kvg_commands; c->name; c++)
                if (strcmp(c->name, argv[2]) == 0) {
                    char *help_argv[] = {argv[2], "--help", NULL};
                    return c->run(2, help_argv);
                }
        }
        print_help(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("kvgram %s (.kvg format %d.%d)\n", KVG_VERSION, KVG_VERSION_MAJOR, KVG_VERSION_MINOR);
        return 0;
    }
    for (const kvg_command *c = kvg_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "kvgram: unknown command \"%s\" (see `kvgram --help`)\n", name);
    return 2;
}
