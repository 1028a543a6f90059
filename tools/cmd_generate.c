/* cmd_generate.c — `kvgram generate -m MODEL.kvg [PROMPT]`: continue a
 * prompt with a transformer, to see that a model is alive. The prompt goes
 * through the model as one batch; then one token at a time through the KV
 * cache, greedy or sampled (temperature, top-p) from a seeded generator. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "sampler.h"
#include "tokenizer.h"
#include "transformer.h"

static const char *const generate_help =
    "usage: kvgram generate -m MODEL.kvg [options] [PROMPT]\n"
    "\n"
    "Continues PROMPT (default: empty, i.e. from BOS) with a transformer model and\n"
    "prints the prompt and its continuation. Stops after -n tokens, at the end-of-\n"
    "sequence (or beginning-of-sequence) token, or at the model's context length.\n"
    "\n"
    "  -m, --model FILE     the model (.kvg with a tokenizer)\n"
    "  -n, --max-tokens N   tokens to generate (default 128)\n"
    "  --temperature T      0 (default): greedy; > 0: sample from softmax(logits / T)\n"
    "  --top-p P            with T > 0: sample among the most probable tokens whose\n"
    "                       probability mass reaches P (default 0.9; 1 = all)\n"
    "  --seed S             seed of the sampler (default: the time); the same seed\n"
    "                       gives the same text\n"
    "  --no-bos             do not prepend the BOS token the model expects\n"
    "  --threads N          threads (default: OMP_NUM_THREADS, else all cores)\n"
    "  -h, --help           this help\n";

typedef struct gen_options {
    const char *model, *prompt;
    long max_tokens, threads;
    float temperature, top_p;
    uint64_t seed;
    int bos;
} gen_options;

static int parse_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    *out = s ? strtod(s, &end) : 0;
    return s && *s && !*end && *out >= lo && *out <= hi ? 0 : -1;
}

static int parse(int argc, char **argv, gen_options *o)
{
    *o = (gen_options){NULL, "", 128, 0, 0, 0.9f, (uint64_t)time(NULL), 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (cli_is_help(a)) {
            fputs(generate_help, stdout);
            return 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!v)
                return cli_usage_error("generate", "%s needs a file", a);
            o->model = argv[++i];
        } else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
            if (parse_number(v, 0, 1e9, &x))
                return cli_usage_error("generate", "%s needs a number of tokens", a);
            o->max_tokens = (long)x, i++;
        } else if (!strcmp(a, "--temperature")) {
            if (parse_number(v, 0, 1e6, &x))
                return cli_usage_error("generate", "--temperature needs a number >= 0");
            o->temperature = (float)x, i++;
        } else if (!strcmp(a, "--top-p")) {
            if (parse_number(v, 1e-9, 1, &x))
                return cli_usage_error("generate", "--top-p needs a number in (0, 1]");
            o->top_p = (float)x, i++;
        } else if (!strcmp(a, "--seed")) {
            if (parse_number(v, 0, 1.8e19, &x))
                return cli_usage_error("generate", "--seed needs a number >= 0");
            o->seed = strtoull(v, NULL, 10), i++;
        } else if (!strcmp(a, "--threads")) {
            if (parse_number(v, 1, 4096, &x))
                return cli_usage_error("generate", "--threads needs a number from 1 to 4096");
            o->threads = (long)x, i++;
        } else if (!strcmp(a, "--no-bos")) {
            o->bos = 0;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("generate", "unknown option %s", a);
        } else if (*o->prompt) {
            return cli_usage_error("generate", "one PROMPT at a time (quote it)");
        } else {
            o->prompt = a;
        }
    }
    if (!o->model)
        return cli_usage_error("generate", "missing -m MODEL.kvg");
    return 0;
}

/* Prints the decoded text of ids beyond the *printed bytes already shown
 * (decoding the whole sequence each time keeps multi-token characters and
 * the tokenizer's leading-space rule right). */
static int show(const kvg_tokenizer *tok, const uint32_t *ids, size_t n, size_t *printed, kvg_error *err)
{
    char *text;
    size_t len;
    if (kvg_tokenizer_decode(tok, ids, n, &text, &len, err))
        return -1;
    if (len > *printed) {
        fwrite(text + *printed, 1, len - *printed, stdout);
        fflush(stdout);
        *printed = len;
    }
    free(text);
    return 0;
}

static int generate(const gen_options *o, const kvg_transformer *m, const kvg_tokenizer *tok, kvg_error *err)
{
    const uint32_t V = m->c.vocab_size, n_ctx = m->c.context_length;
    uint32_t *prompt = NULL, *ids = NULL, *pos = NULL, *row0 = NULL;
    size_t n_prompt = 0;
    float *logits = NULL;
    kvg_prob_id *scratch = NULL;
    kvg_tf_state *st = NULL;
    int rc = -1;
    if (kvg_tokenizer_encode(tok, o->prompt, strlen(o->prompt), &prompt, &n_prompt, err))
        return -1;
    uint32_t bos = kvg_tokenizer_bos(tok), eos = kvg_tokenizer_eos(tok);
    int add_bos = o->bos && kvg_tokenizer_adds_bos(tok) && bos != KVG_TOKEN_NONE;
    size_t n = n_prompt + (size_t)add_bos;
    if (n == 0) {
        kvg_errorf(err, NULL, "empty prompt and the model has no BOS token to start from");
        goto done;
    }
    if (n >= n_ctx) {
        kvg_errorf(err, NULL, "the prompt has %zu tokens; the model's context is %u", n, n_ctx);
        goto done;
    }
    size_t total = n + (size_t)o->max_tokens < n_ctx ? n + (size_t)o->max_tokens : n_ctx;
    ids = malloc(total * sizeof *ids);
    pos = malloc(total * sizeof *pos);
    row0 = calloc(total, sizeof *row0);
    logits = malloc((size_t)V * sizeof *logits);
    scratch = malloc((size_t)V * sizeof *scratch);
    if (!ids || !pos || !row0 || !logits || !scratch) {
        kvg_errorf(err, NULL, "out of memory");
        goto done;
    }
    if (add_bos)
        ids[0] = bos;
    for (size_t i = 0; i < n_prompt; i++)
        ids[add_bos + i] = prompt[i];
    for (size_t i = 0; i < total; i++)
        pos[i] = (uint32_t)i;
    if (kvg_tf_state_new(m, (uint32_t)total, (uint32_t)n, &st, err))
        goto done;
    size_t printed = 0;
    if (show(tok, ids, n, &printed, err))
        goto done;
    /* The prompt in one batch, logits at its last token only; then one token at a time. */
    uint8_t *want = calloc(n, 1);
    if (!want) {
        kvg_errorf(err, NULL, "out of memory");
        goto done;
    }
    want[n - 1] = 1;
    kvg_tf_batch b = {n, ids, row0, pos, want};
    int bad = kvg_transformer_forward(m, st, &b, logits, err);
    free(want);
    if (bad)
        goto done;
    kvg_sampler smp = kvg_sampler_make(o->temperature, o->top_p, o->seed);
    while (n < total) {
        uint32_t next = kvg_sample(&smp, logits, V, scratch);
        if (next == eos || next == bos)
            break;
        ids[n] = next;
        if (show(tok, ids, n + 1, &printed, err))
            goto done;
        kvg_tf_batch one = {1, &ids[n], row0, &pos[n], NULL};
        n++;
        if (n < total && kvg_transformer_forward(m, st, &one, logits, err))
            goto done;
    }
    fputc('\n', stdout);
    rc = 0;
done:
    kvg_tf_state_free(st);
    free(prompt);
    free(ids);
    free(pos);
    free(row0);
    free(logits);
    free(scratch);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    gen_options o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (o.threads)
        omp_set_num_threads((int)o.threads);
    kvg_error err;
    kvg_file *f = NULL;
    kvg_transformer *m = NULL;
    kvg_tokenizer *tok = NULL;
    rc = 1;
    if (kvg_open(o.model, &f, &err) || kvg_transformer_open(f, &m, &err))
        goto fail;
    if (!kvg_meta_find(f, "tokenizer.n_tokens")) {
        kvg_errorf(&err, o.model, "the model has no tokenizer (convert it with --tokenizer)");
        goto fail;
    }
    if (kvg_tokenizer_open(f, &tok, &err) || generate(&o, m, tok, &err))
        goto fail;
    if (fflush(stdout) == 0)
        rc = 0;
    goto done;
fail:
    cli_print_error(&err);
done:
    kvg_tokenizer_free(tok);
    kvg_transformer_free(m);
    kvg_close(f);
    return rc;
}
