/* cmd_synth.c — `kvgram synth --like SHAPE -o OUT.kvg`: a random-weight
 * transformer of a real architecture's exact shapes, for benchmarks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "synth_model.h"

static const char *const synth_help =
    "usage: kvgram synth --like SHAPE -o OUT.kvg [options]\n"
    "\n"
    "Writes a transformer with random weights of a real model's exact shapes, so\n"
    "speed can be measured at real sizes (speed does not depend on the values):\n"
    "matrices and learned positions N(0, 0.02^2), norm weights 1, biases 0, and a\n"
    "synthetic byte-level BPE tokenizer of the model's vocabulary size (ids 0-255\n"
    "the bytes, then two-byte merges, last <|endoftext|>). Written tensor by\n"
    "tensor to a temporary beside OUT, renamed into place when complete.\n"
    "\n"
    "Shapes:\n"
    "  gpt2-124m       GPT-2: d 768, 12 layers, 12 heads, ffn 3072, ctx 1024,\n"
    "                  vocab 50257, tied, learned positions, gelu_tanh, LayerNorm\n"
    "  smollm-135m     Llama: d 576, 30 layers, 9 heads, 3 KV heads, ffn 1536,\n"
    "                  vocab 49152, tied, RoPE theta 10000, ctx 2048, RMSNorm 1e-5\n"
    "  tinyllama-1.1b  Llama: d 2048, 22 layers, 32 heads, 4 KV heads, ffn 5632,\n"
    "                  vocab 32000, untied, RoPE theta 10000, ctx 2048\n"
    "  tiny-gpt2, tiny-llama   two-layer d-64 stand-ins of each family (tests)\n"
    "\n"
    "  --like SHAPE        the shape (required)\n"
    "  -o, --output FILE   the .kvg file to write (required)\n"
    "  --type T            matrices in f32, f16, bf16, q8_0 or q4_0 (default f32);\n"
    "                      norms, biases and learned positions stay f32. As in\n"
    "                      `kvgram convert`: with q4_0 the output matrix (tied:\n"
    "                      the token embedding) is q8_0 unless --output-type says\n"
    "  --output-type T     the output matrix (output.weight, or tok_embd when tied)\n"
    "  --embd-type T       an untied token embedding (tied: the output's, unless\n"
    "                      --output-type is given)\n"
    "  --seed S            the random seed (default 1); a seed gives the same file\n"
    "                      on any number of threads\n"
    "  --dry-run           print the tensors (name, dtype, shape, bytes) and the\n"
    "                      parameter count instead of writing (-o not needed)\n"
    "  --quiet             no progress on stderr (shown by default when it is a terminal)\n"
    "  -h, --help          this help\n";

/* --dry-run: the tensor table and totals; the weights' parameter count
 * leaves out the tokenizer (which has no parameters). */
static int print_plan(const char *like, const kvg_tf_config *shape, const synth_options *o)
{
    synth_tensor *t;
    size_t n;
    kvg_error err;
    if (synth_plan(shape, o, &t, &n, &err)) {
        fprintf(stderr, "kvgram synth: %s: %s\n", like, err.msg);
        return 1;
    }
    uint64_t params = 0, bytes = 0;
    printf("#name\tdtype\tshape\tbytes\n");
    for (size_t i = 0; i < n; i++) {
        uint64_t elems = (t[i].rows ? t[i].rows : 1) * t[i].cols, b = 0;
        kvg_dtype_nbytes(t[i].dtype, elems, &b);
        params += elems;
        bytes += b;
        if (t[i].rows)
            printf("%s\t%s\t[%llu, %llu]\t%llu\n", t[i].name, kvg_dtype_get(t[i].dtype)->name,
                   (unsigned long long)t[i].rows, (unsigned long long)t[i].cols, (unsigned long long)b);
        else
            printf("%s\t%s\t[%llu]\t%llu\n", t[i].name, kvg_dtype_get(t[i].dtype)->name,
                   (unsigned long long)t[i].cols, (unsigned long long)b);
    }
    printf("# %s: %zu tensors, %llu parameters, %llu bytes of weights (tokenizer not counted)\n", like, n,
           (unsigned long long)params, (unsigned long long)bytes);
    free(t);
    return 0;
}

int cmd_synth(int argc, char **argv)
{
    const char *like = NULL, *out = NULL;
    synth_options o = {TF_TYPES_DEFAULT, 1, isatty(2)};
    int dry_run = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            fputs(synth_help, stdout);
            return 0;
        } else if (!strcmp(a, "--like")) {
            if (!next)
                return cli_usage_error("synth", "--like needs a shape (%s)", synth_shape_names());
            like = argv[++i];
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!next)
                return cli_usage_error("synth", "%s needs a file name", a);
            out = argv[++i];
        } else if (tf_types_is_option(a)) {
            if (tf_types_set(&o.types, a, next))
                return cli_usage_error("synth", "%s takes f32, f16, bf16, q8_0 or q4_0", a);
            i++;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long v = next ? strtoull(next, &end, 10) : 0;
            if (!next || !*next || *end || errno || next[0] == '-')
                return cli_usage_error("synth", "--seed needs a non-negative integer");
            o.seed = v;
            i++;
        } else if (!strcmp(a, "--dry-run")) {
            dry_run = 1;
        } else if (!strcmp(a, "--quiet")) {
            o.progress = 0;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("synth", "unknown option %s", a);
        } else {
            return cli_usage_error("synth", "unexpected argument \"%s\"", a);
        }
    }
    if (!like)
        return cli_usage_error("synth", "missing --like SHAPE (%s)", synth_shape_names());
    const kvg_tf_config *shape = synth_shape(like);
    if (!shape)
        return cli_usage_error("synth", "unknown shape \"%s\" (%s)", like, synth_shape_names());
    if (!out && !dry_run)
        return cli_usage_error("synth", "missing -o OUT.kvg");
    if (o.types.type < 0)
        o.types.type = KVG_DTYPE_F32;
    kvg_error err;
    if (dry_run)
        return print_plan(like, shape, &o);
    if (synth_write(out, shape, &o, &err)) {
        if (!strstr(err.msg, out)) /* name the file the error is about */
            fprintf(stderr, "kvgram: %s: %s\n", out, err.msg);
        else
            cli_print_error(&err);
        return 1;
    }
    return 0;
}
