/* cmd_quantize.c — `kvgram quantize IN.kvg OUT.kvg --type T`: a transformer
 * .kvg with its matrices re-encoded (tf_quantize.h does the work). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "tf_quantize.h"

static const char *const quantize_help =
    "usage: kvgram quantize IN.kvg OUT.kvg --type T [--output-type T] [--embd-type T]\n"
    "\n"
    "Writes a copy of the transformer model IN.kvg whose matrices are stored in\n"
    "another type: f32, f16, bf16, q8_0 or q4_0 (GGUF-compatible 32-element blocks).\n"
    "Norms, biases, position embeddings, the tokenizer and all metadata are copied\n"
    "unchanged (transformer.weight_type becomes T). A matrix already in its target\n"
    "type is copied byte for byte; any other is decoded to f32 and encoded again,\n"
    "so re-quantizing a quantized model (q8_0 -> q4_0) quantizes the q8_0 values,\n"
    "not the original weights: convert from the checkpoint when you have it.\n"
    "Every input tensor's checksum is verified on the way. OUT.kvg is written to a\n"
    "temporary beside it and renamed into place only when complete.\n"
    "When scoring, products with q8_0 / q4_0 matrices quantize the activations to\n"
    "8 bits per 32-element block and use integer dot products (README).\n"
    "\n"
    "  --type T          the layer matrices (required)\n"
    "  --output-type T   the output matrix (output.weight; tok_embd.weight when\n"
    "                    tied). Default: q8_0 when --type is q4_0, else --type\n"
    "  --embd-type T     an untied tok_embd.weight. Default: --type\n"
    "                    q8_0 / q4_0 need rows of whole 32-element blocks: a matrix\n"
    "                    whose rows are not is stored as f16 instead (with a note)\n"
    "  --quiet           no progress or notes on stderr\n"
    "  -h, --help        this help\n";

int cmd_quantize(int argc, char **argv)
{
    const char *path[2] = {NULL, NULL};
    int n_paths = 0;
    tf_quantize_options opt = {TF_TYPES_DEFAULT, isatty(2), 1};
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(quantize_help, stdout);
            return 0;
        } else if (tf_types_is_option(argv[i])) {
            if (++i == argc || tf_types_set(&opt.types, argv[i - 1], argv[i]))
                return cli_usage_error("quantize", "%s takes f32, f16, bf16, q8_0 or q4_0", argv[i - 1]);
        } else if (strcmp(argv[i], "--quiet") == 0) {
            opt.progress = 0;
            opt.notes = 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("quantize", "unknown option %s", argv[i]);
        } else if (n_paths == 2) {
            return cli_usage_error("quantize", "takes one IN.kvg and one OUT.kvg");
        } else {
            path[n_paths++] = argv[i];
        }
    }
    if (n_paths < 2)
        return cli_usage_error("quantize", "needs IN.kvg and OUT.kvg");
    if (opt.types.type < 0)
        return cli_usage_error("quantize", "missing --type (f32, f16, bf16, q8_0 or q4_0)");
    if (strcmp(path[0], path[1]) == 0)
        return cli_usage_error("quantize", "IN and OUT are the same file; write to another path");
    kvg_error err;
    if (tf_quantize(path[0], path[1], &opt, &err)) {
        cli_print_error(&err);
        return 1;
    }
    return 0;
}
