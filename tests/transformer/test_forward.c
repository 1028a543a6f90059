/* test_forward.c — properties of the batched forward pass on a real model
 * (stories260K, converted from ../shared/models with the llama2.c converter):
 *  - greedy decoding from BOS reproduces upstream's documented continuation
 *    "Once upon a time, there was a little girl named Lily" (token pieces
 *    read straight from tok512.bin);
 *  - a whole sequence in one batch gives the same logits as feeding it one
 *    token at a time through the KV cache;
 *  - two sequences in one batch, each in its own cache rows, give the same
 *    logits as alone;
 *  - the logits do not depend on the thread count (same bits);
 *  - f16 and bf16 weights stay within a stated bound of f32, same argmax;
 *  - tf_score: each token of a text many windows long is scored exactly once,
 *    with the context the sliding-window rule gives it, and texts packed
 *    into one batch score as they do alone. */
#include <omp.h>
#include <stdlib.h>
#include <unistd.h>

#include "kvg_test.h"
#include "llama2c_convert.h"
#include "tf_score.h"
#include "transformer.h"

static char tmpdir[] = "/tmp/kvg-forward-XXXXXX";

typedef struct model {
    kvg_file *f;
    kvg_transformer *m;
} model;

static int load(const char *bin, kvg_dtype type, model *out)
{
    char path[256];
    snprintf(path, sizeof path, "%s/model-%d.kvg", tmpdir, (int)type);
    llama2c_options o = {NULL, {(int)type, -1, -1}, 0, 0};
    kvg_error err;
    if (llama2c_convert(bin, path, &o, &err) || kvg_open(path, &out->f, &err) ||
        kvg_transformer_open(out->f, &out->m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

/* logits [n, V] of one sequence (cache rows from 0), in one batch. */
static float *run_batch(const model *md, const uint32_t *ids, uint32_t n)
{
    kvg_tf_state *s;
    kvg_error err;
    float *lg = malloc((size_t)n * md->m->c.vocab_size * sizeof *lg);
    uint32_t *slot = calloc(n, 4), *pos = malloc(n * 4);
    for (uint32_t i = 0; i < n; i++)
        pos[i] = i;
    kvg_tf_batch b = {n, ids, slot, pos, NULL};
    if (kvg_tf_state_new(md->m, n, n, &s, &err) || kvg_transformer_forward(md->m, s, &b, lg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    kvg_tf_state_free(s);
    free(slot);
    free(pos);
    return lg;
}

static uint32_t argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* The pieces of a llama2.c tokenizer file: i32 max_len, then per token f32 score, i32 len, bytes. */
static char **read_pieces(const char *path, uint32_t n)
{
    FILE *f = fopen(path, "rb");
    char **p = calloc(n, sizeof *p);
    int32_t max_len, len;
    float score;
    if (!f || fread(&max_len, 4, 1, f) != 1)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (fread(&score, 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1 || len < 0 || len > 64)
            return NULL;
        p[i] = calloc((size_t)len + 1, 1);
        if (fread(p[i], 1, (size_t)len, f) != (size_t)len)
            return NULL;
    }
    fclose(f);
    return p;
}

static void test_greedy_lily(const model *md, const char *tok_path)
{
    const uint32_t V = md->m->c.vocab_size;
    char **pieces = read_pieces(tok_path, V);
    CHECK(pieces != NULL);
    if (!pieces)
        return;
    kvg_tf_state *s;
    kvg_error err;
    CHECK_INT(0, kvg_tf_state_new(md->m, 64, 1, &s, &err));
    float *lg = malloc(V * sizeof *lg);
    char text[1024] = "";
    uint32_t tok = 1, slot = 0; /* BOS */
    for (uint32_t pos = 0; pos < 14; pos++) {
        kvg_tf_batch b = {1, &tok, &slot, &pos, NULL};
        CHECK_INT(0, kvg_transformer_forward(md->m, s, &b, lg, &err));
        tok = argmax(lg, V);
        strncat(text, pieces[tok], sizeof text - strlen(text) - 1);
    }
    CHECK_STR_CONTAINS(text, " Once upon a time, there was a little girl named Lily");
    for (uint32_t i = 0; i < V; i++)
        free(pieces[i]);
    free(pieces);
    free(lg);
    kvg_tf_state_free(s);
}

static const uint32_t seq_a[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
static const uint32_t seq_b[] = {1, 99, 7, 511, 300, 12, 0, 250};
enum { NA = sizeof seq_a / 4, NB = sizeof seq_b / 4 };

static void test_batch_equals_incremental(const model *md)
{
    const uint32_t V = md->m->c.vocab_size;
    float *full = run_batch(md, seq_a, NA);
    kvg_tf_state *s;
    kvg_error err;
    CHECK_INT(0, kvg_tf_state_new(md->m, NA, 4, &s, &err));
    float *lg = malloc(V * sizeof *lg);
    double worst = 0;
    for (uint32_t pos = 0; pos < NA; pos++) {
        uint32_t slot = 0;
        kvg_tf_batch b = {1, &seq_a[pos], &slot, &pos, NULL};
        CHECK_INT(0, kvg_transformer_forward(md->m, s, &b, lg, &err));
        for (uint32_t i = 0; i < V; i++)
            worst = fmax(worst, fabs(lg[i] - full[(size_t)pos * V + i]));
    }
    CHECK_NEAR(0, worst, 0); /* each output is the same dot products in the same order */
    free(lg);
    free(full);
    kvg_tf_state_free(s);
}

static void test_slots_are_independent(const model *md)
{
    const uint32_t V = md->m->c.vocab_size;
    float *a = run_batch(md, seq_a, NA), *b = run_batch(md, seq_b, NB);
    /* Both sequences interleaved in one batch, a from cache row 0, b from row 2 * NA; logits only at
     * odd tokens. */
    uint32_t ids[NA + NB], slot[NA + NB], pos[NA + NB], from[NA + NB];
    uint8_t want[NA + NB];
    uint32_t n = 0, ia = 0, ib = 0;
    while (ia < NA || ib < NB) {
        if (ia < NA) {
            ids[n] = seq_a[ia], slot[n] = 0, pos[n] = ia, from[n] = ia, ia++;
            want[n] = n % 2, n++;
        }
        if (ib < NB) {
            ids[n] = seq_b[ib], slot[n] = 2 * NA, pos[n] = ib, from[n] = NA + ib, ib++;
            want[n] = n % 2, n++;
        }
    }
    kvg_tf_state *s;
    kvg_error err;
    CHECK_INT(0, kvg_tf_state_new(md->m, 3 * NA, NA + NB, &s, &err));
    float *lg = malloc((size_t)(NA + NB) * V * sizeof *lg);
    kvg_tf_batch bt = {n, ids, slot, pos, want};
    CHECK_INT(0, kvg_transformer_forward(md->m, s, &bt, lg, &err));
    double worst = 0;
    uint32_t row = 0;
    for (uint32_t t = 0; t < n; t++) {
        if (!want[t])
            continue;
        const float *ref = from[t] < NA ? a + (size_t)from[t] * V : b + (size_t)(from[t] - NA) * V;
        for (uint32_t i = 0; i < V; i++)
            worst = fmax(worst, fabs(lg[(size_t)row * V + i] - ref[i]));
        row++;
    }
    CHECK_INT(n / 2, row);
    CHECK_NEAR(0, worst, 0);
    /* Refused: token outside the vocabulary, position beyond the context, rows beyond the cache. */
    uint32_t bad_tok = V, p0 = 0, s0 = 0, far = md->m->c.context_length, s9 = 3 * NA;
    kvg_tf_batch b1 = {1, &bad_tok, &s0, &p0, NULL}, b2 = {1, seq_a, &s0, &far, NULL}, b3 = {1, seq_a, &s9, &p0, NULL};
    CHECK_INT(-1, kvg_transformer_forward(md->m, s, &b1, lg, &err));
    CHECK_STR_CONTAINS(err.msg, "outside the vocabulary");
    CHECK_INT(-1, kvg_transformer_forward(md->m, s, &b2, lg, &err));
    CHECK_STR_CONTAINS(err.msg, "beyond the context");
    CHECK_INT(-1, kvg_transformer_forward(md->m, s, &b3, lg, &err));
    CHECK_STR_CONTAINS(err.msg, "beyond the state's");
    free(lg);
    free(a);
    free(b);
    kvg_tf_state_free(s);
}

static void test_threads_do_not_change_bits(const model *md)
{
    const uint32_t V = md->m->c.vocab_size;
    omp_set_num_threads(1);
    float *one = run_batch(md, seq_a, NA);
    omp_set_num_threads(3);
    float *three = run_batch(md, seq_a, NA);
    CHECK(memcmp(one, three, (size_t)NA * V * sizeof(float)) == 0);
    free(one);
    free(three);
}

/* Reduced-precision weights: every logit within `bound` x max|logit| of the
 * f32 model, and the same argmax at each position. The bounds are this
 * model's measured error (f16 ~4e-4, bf16 ~3e-3 relative) with headroom. */
static void test_half_types(const model *f32, const model *half, double bound)
{
    const uint32_t V = f32->m->c.vocab_size;
    float *a = run_batch(f32, seq_a, NA), *b = run_batch(half, seq_a, NA);
    double worst = 0, maxabs = 0;
    int same_argmax = 1;
    for (uint32_t t = 0; t < NA; t++) {
        for (uint32_t i = 0; i < V; i++) {
            worst = fmax(worst, fabs(a[(size_t)t * V + i] - b[(size_t)t * V + i]));
            maxabs = fmax(maxabs, fabs(a[(size_t)t * V + i]));
        }
        same_argmax &= argmax(a + (size_t)t * V, V) == argmax(b + (size_t)t * V, V);
    }
    printf("%s weights: max |logit - f32 logit| = %.3g = %.3g x max|logit|\n",
           kvg_dtype_get(half->m->c.weight_type)->name, worst, worst / maxabs);
    CHECK_NEAR(0, worst / maxabs, bound);
    CHECK(same_argmax);
    free(a);
    free(b);
}

/* ln p(ids[t] | ids[begin..t)) by a plain forward pass over that context. */
static double direct_logprob(const model *md, const uint32_t *ids, size_t begin, size_t t)
{
    const uint32_t V = md->m->c.vocab_size;
    float *lg = run_batch(md, ids + begin, (uint32_t)(t - begin));
    float *last = lg + (size_t)(t - begin - 1) * V;
    kvg_log_softmax(last, last, V);
    double lp = last[ids[t]];
    free(lg);
    return lp;
}

static void test_sliding_window(const model *md)
{
    enum { N = 150, W = 40, S = 15 };
    uint32_t doc[N];
    for (int i = 0; i < N; i++) /* the greedy story, then ids cycling through the vocabulary */
        doc[i] = i < NA ? seq_a[i] : (uint32_t)(i * 37 % 500 + 5);
    const uint32_t shortseq[3] = {1, 403, 407};
    const uint32_t *ids[3] = {shortseq, doc, seq_b};
    size_t n[3] = {3, N, NB};
    float lp_short[2], lp_doc[N], lp_b[NB];
    for (int i = 0; i < N; i++)
        lp_doc[i] = NAN;
    float *lp[3] = {lp_short, lp_doc, lp_b};
    kvg_tf_scorer *sc;
    kvg_error err;
    /* Batches of 64 tokens: windows of different texts share batches, and
     * the document's windows spill over several. */
    CHECK_INT(0, kvg_tf_scorer_new(md->m, W, S, 64, &sc, &err));
    CHECK_INT(0, kvg_tf_score(sc, 3, ids, n, lp, &err));
    /* Expected, from the rule as stated: windows begin at 0, S, 2S, ...; token t
     * is scored by the first window [b, b + W) with b < t < b + W. */
    double worst = 0;
    int unscored = 0;
    for (size_t t = 1; t < N; t++) {
        size_t b = 0;
        while (!(b < t && t < b + W))
            b += S;
        if (isnan(lp_doc[t - 1]))
            unscored++;
        else
            worst = fmax(worst, fabs(lp_doc[t - 1] - direct_logprob(md, doc, b, t)));
    }
    CHECK_INT(0, unscored);
    CHECK_NEAR(0, worst, 1e-5);
    /* The short texts, scored alongside, as alone with full context. */
    for (size_t t = 1; t < NB; t++)
        worst = fmax(worst, fabs(lp_b[t - 1] - direct_logprob(md, seq_b, 0, t)));
    CHECK_NEAR(direct_logprob(md, shortseq, 0, 2), lp_short[1], 1e-5);
    CHECK_NEAR(0, worst, 1e-5);
    kvg_tf_scorer_free(sc);
    /* Bad settings are refused. */
    CHECK_INT(-1, kvg_tf_scorer_new(md->m, W, W, 64, &sc, &err));
    CHECK_STR_CONTAINS(err.msg, "stride");
    CHECK_INT(-1, kvg_tf_scorer_new(md->m, md->m->c.context_length + 1, 0, 0, &sc, &err));
    CHECK_STR_CONTAINS(err.msg, "window");
    CHECK_INT(-1, kvg_tf_scorer_new(md->m, W, S, W - 1, &sc, &err));
    CHECK_STR_CONTAINS(err.msg, "smaller than the window");
}

int main(void)
{
    const char *shared = getenv("KVG_SHARED_DIR");
    if (!shared || !mkdtemp(tmpdir)) {
        fprintf(stderr, "needs KVG_SHARED_DIR and a temporary folder\n");
        return 1;
    }
    char bin[512], tok[512];
    snprintf(bin, sizeof bin, "%s/models/stories260K.bin", shared);
    snprintf(tok, sizeof tok, "%s/models/tok512.bin", shared);
    model f32, f16, bf16;
    if (load(bin, KVG_DTYPE_F32, &f32) || load(bin, KVG_DTYPE_F16, &f16) || load(bin, KVG_DTYPE_BF16, &bf16))
        return 1;
    test_greedy_lily(&f32, tok);
    test_batch_equals_incremental(&f32);
    test_slots_are_independent(&f32);
    test_threads_do_not_change_bits(&f32);
    test_sliding_window(&f32);
    test_half_types(&f32, &f16, 2e-3);
    test_half_types(&f32, &bf16, 2e-2);
    model *all[3] = {&f32, &f16, &bf16};
    for (int i = 0; i < 3; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/model-%d.kvg", tmpdir, (int)all[i]->m->c.weight_type);
        kvg_transformer_free(all[i]->m);
        kvg_close(all[i]->f);
        unlink(path);
    }
    rmdir(tmpdir);
    return kvg_test_end();
}
