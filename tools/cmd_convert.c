/* cmd_convert.c — `kvgram convert INPUT -o OUTPUT.kvg`: picks the converter
 * for the input's kind. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arpa_convert.h"
#include "cli.h"
#include "commands.h"
#include "hf_convert.h"
#include "kvg_dtype.h"
#include "llama2c_convert.h"
#include "tf_types.h"

static const char *const convert_help =
    "usage: kvgram convert INPUT -o OUTPUT.kvg [options]\n"
    "\n"
    "Converts a model into a .kvg file. The output is written to a temporary\n"
    "file beside OUTPUT and renamed into place only when complete.\n"
    "\n"
    "Inputs:\n"
    "  MODEL.arpa, MODEL.arpa.gz   an ARPA back-off n-gram model (KenLM, SRILM, ...)\n"
    "  HF_DIR                      a Hugging Face checkpoint folder: config.json,\n"
    "                              model.safetensors (or model.safetensors.index.json\n"
    "                              and its shards), tokenizer.json (or vocab.json +\n"
    "                              merges.txt); GPT-2, Llama/Mistral/Qwen2, GPT-NeoX\n"
    "  MODEL.bin                   a llama2.c checkpoint (legacy, or export version 1 / 2)\n"
    "\n"
    "  -o, --output FILE   the .kvg file to write (required)\n"
    "  --quantize 8        n-grams: store probabilities and backoffs as 8-bit codes\n"
    "                      (per-order codebooks; unigrams stay exact). Default: exact f32\n"
    "  --tokenizer TOK.bin llama2.c: its tokenizer file, stored in the .kvg\n"
    "  --type T            transformers: matrices in f32, f16, bf16, q8_0 or q4_0 (norms\n"
    "                      and biases stay f32). Default: f32 for llama2.c, the\n"
    "                      checkpoint's own dtype for Hugging Face folders\n"
    "  --output-type T     the output matrix (output.weight; tok_embd.weight when tied).\n"
    "                      Default: q8_0 when --type is q4_0, else --type\n"
    "  --embd-type T       an untied tok_embd.weight. Default: --type\n"
    "                      q8_0 / q4_0 need rows of whole 32-element blocks: a matrix\n"
    "                      whose rows are not is stored as f16 instead (with a note)\n"
    "  --quiet             no progress (shown by default when stderr is a terminal) and\n"
    "                      no notes on stderr\n"
    "  -h, --help          this help\n";

int cmd_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    arpa_convert_options arpa = {0, isatty(2)};
    tf_types types = TF_TYPES_DEFAULT;
    int progress = isatty(2), notes = 1;
    const char *typed = NULL; /* the first of --type, --output-type, --embd-type given */
    const char *tokenizer = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(convert_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (++i == argc)
                return cli_usage_error("convert", "%s needs a file name", argv[i - 1]);
            out = argv[i];
        } else if (strcmp(argv[i], "--quantize") == 0) {
            if (++i == argc || strcmp(argv[i], "8") != 0)
                return cli_usage_error("convert", "--quantize takes 8 (bits)");
            arpa.quantize = 8;
        } else if (strcmp(argv[i], "--tokenizer") == 0) {
            if (++i == argc)
                return cli_usage_error("convert", "--tokenizer needs a file name");
            tokenizer = argv[i];
        } else if (tf_types_is_option(argv[i])) {
            if (++i == argc || tf_types_set(&types, argv[i - 1], argv[i]))
                return cli_usage_error("convert", "%s takes f32, f16, bf16, q8_0 or q4_0", argv[i - 1]);
            if (!typed)
                typed = argv[i - 1];
        } else if (strcmp(argv[i], "--quiet") == 0) {
            progress = 0;
            notes = 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("convert", "unknown option %s", argv[i]);
        } else if (in) {
            return cli_usage_error("convert", "one INPUT at a time");
        } else {
            in = argv[i];
        }
    }
    if (!in)
        return cli_usage_error("convert", "missing INPUT");
    if (!out)
        return cli_usage_error("convert", "missing -o OUTPUT.kvg");
    arpa.progress = progress;
    hf_convert_options hf = {types, progress, notes};
    llama2c_options l2c = {tokenizer, types, progress, notes};
    struct stat st;
    kvg_error err;
    if (stat(in, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (arpa.quantize || l2c.tokenizer)
            return cli_usage_error("convert", "%s is not for Hugging Face checkpoint folders",
                                   arpa.quantize ? "--quantize" : "--tokenizer");
        if (hf_convert(in, out, &hf, &err)) {
            cli_print_error(&err);
            return 1;
        }
        return 0;
    }
    int is_llama2c = l2c.tokenizer || llama2c_is_checkpoint(in);
    if (!is_llama2c && typed)
        return cli_usage_error("convert", "%s is for transformer checkpoints, not n-gram models", typed);
    if (is_llama2c ? llama2c_convert(in, out, &l2c, &err) : arpa_convert(in, out, &arpa, &err)) {
        cli_print_error(&err);
        return 1;
    }
    return 0;
}
