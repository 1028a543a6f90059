/* test_score_slices.c — plain scoring computes the logits a vocabulary
 * slice at a time and never holds a whole [tokens, vocab] row; this pins
 * down that it is still the model's log-softmax:
 *  - forward with logits NULL, then kvg_transformer_logits over slices of
 *    ragged widths, gives the full logits' bits, for f32 and q8_0 weights;
 *  - kvg_tf_score's ln p(target) equals logit[target] - logsumexp(logits)
 *    computed here in double from the full logits (independent of the
 *    slice merge), within 2e-6 (f32 logits of size ~10: the f32 result's own
 *    rounding is 5e-7; vf_exp's 1.5e-7 relative error per term adds 1.5e-7);
 *  - kvg_tf_score agrees with kvg_tf_score_rows (whole log-softmax rows);
 *  - the same bits on 1 and 2 threads.
 * The model: `kvgram synth`'s tiny-llama shape with a 5000-token vocabulary
 * (three slices of 2048, the last ragged), random weights. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvg_test.h"
#include "synth_model.h"
#include "tf_score.h"
#include "transformer.h"

enum { V = 5000, N_SEQ = 3, LEN = 40 };

static char tmpdir[] = "/tmp/kvg-slices-XXXXXX";

typedef struct model {
    char path[256];
    kvg_file *f;
    kvg_transformer *m;
} model;

static int make(kvg_dtype type, model *md)
{
    kvg_tf_config c = *synth_shape("tiny-llama");
    c.vocab_size = V;
    c.weight_type = type;
    synth_options o = {{(int)type, -1, -1}, 7, 0};
    kvg_error err;
    snprintf(md->path, sizeof md->path, "%s/m-%d.kvg", tmpdir, (int)type);
    if (synth_write(md->path, &c, &o, &err) || kvg_open(md->path, &md->f, &err) ||
        kvg_transformer_open(md->f, &md->m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static void drop(model *md)
{
    kvg_transformer_free(md->m);
    kvg_close(md->f);
    unlink(md->path);
}

static uint32_t ids[N_SEQ][LEN];

/* Full logits [LEN, V] of sequence 0 in one batch, and the same from slices. */
static void test_slices_are_full_logits(const model *md)
{
    const uint32_t n = LEN;
    uint32_t row0[LEN] = {0}, pos[LEN];
    for (uint32_t i = 0; i < n; i++)
        pos[i] = i;
    kvg_tf_batch b = {n, ids[0], row0, pos, NULL};
    kvg_tf_state *s;
    kvg_error err;
    float *full = malloc((size_t)n * V * sizeof *full), *slice = malloc((size_t)n * V * sizeof *slice);
    CHECK_INT(0, kvg_tf_state_new(md->m, n, n, &s, &err));
    CHECK_INT(0, kvg_transformer_forward(md->m, s, &b, full, &err));
    CHECK_INT(0, kvg_transformer_forward(md->m, s, &b, NULL, &err));
    static const uint32_t widths[] = {1, 31, 32, 100, 2048, 777};
    size_t bad = 0;
    for (uint32_t v0 = 0, k = 0; v0 < V; k++) {
        uint32_t nv = widths[k % 6] < V - v0 ? widths[k % 6] : V - v0;
        CHECK_INT(0, kvg_transformer_logits(md->m, s, n, v0, nv, slice));
        for (uint32_t t = 0; t < n; t++)
            bad += memcmp(slice + (size_t)t * nv, full + (size_t)t * V + v0, nv * sizeof *slice) != 0;
        v0 += nv;
    }
    if (bad)
        fprintf(stderr, "dtype %d: %zu slice rows differ from the full logits\n", (int)md->m->c.weight_type, bad);
    CHECK(bad == 0);
    kvg_tf_state_free(s);
    free(full);
    free(slice);
}

/* kvg_tf_score_rows' fn: keeps row[target]. */
static void keep(void *user, size_t seq, size_t j, const float *row)
{
    float(*lp)[LEN] = user;
    lp[seq][j] = row[ids[seq][j + 1]];
}

static void score(const model *md, int threads, float lp[N_SEQ][LEN], int rows)
{
    const uint32_t *seqs[N_SEQ];
    size_t lens[N_SEQ];
    float *out[N_SEQ];
    for (int i = 0; i < N_SEQ; i++) {
        seqs[i] = ids[i];
        lens[i] = LEN - 7 * (size_t)i;
        out[i] = lp[i];
    }
    omp_set_num_threads(threads);
    kvg_tf_scorer *sc;
    kvg_error err;
    /* windows of 16 every 8 tokens, batches of 64: windows of several sequences share a batch */
    CHECK_INT(0, kvg_tf_scorer_new(md->m, 16, 8, 64, &sc, &err));
    if (rows)
        CHECK_INT(0, kvg_tf_score_rows(sc, N_SEQ, seqs, lens, keep, lp, &err));
    else
        CHECK_INT(0, kvg_tf_score(sc, N_SEQ, seqs, lens, out, &err));
    kvg_tf_scorer_free(sc);
}

/* ln p(ids[0][t + 1] | the window's tokens) in double from the full logits of
 * the window [b, b + 16) holding it (the rule of tf_score.h: first window
 * with b < t + 1). */
static double expected(const model *md, size_t t)
{
    size_t b = 0;
    while (!(b < t + 1 && t + 1 < b + 16))
        b += 8;
    uint32_t row0[16] = {0}, pos[16];
    for (uint32_t i = 0; i < 16; i++)
        pos[i] = i;
    kvg_tf_batch bt = {t + 1 - b, ids[0] + b, row0, pos, NULL};
    kvg_tf_state *s;
    kvg_error err;
    float *lg = malloc((size_t)16 * V * sizeof *lg);
    if (kvg_tf_state_new(md->m, 16, 16, &s, &err) || kvg_transformer_forward(md->m, s, &bt, lg, &err))
        return NAN;
    const float *row = lg + (t - b) * V;
    double max = -INFINITY, sum = 0;
    for (uint32_t v = 0; v < V; v++)
        max = fmax(max, row[v]);
    for (uint32_t v = 0; v < V; v++)
        sum += exp(row[v] - max);
    double lp = row[ids[0][t + 1]] - max - log(sum);
    kvg_tf_state_free(s);
    free(lg);
    return lp;
}

static void test_scoring(const model *md)
{
    static float one[N_SEQ][LEN], two[N_SEQ][LEN], rows[N_SEQ][LEN];
    score(md, 1, one, 0);
    score(md, 2, two, 0);
    score(md, 1, rows, 1);
    CHECK(memcmp(one, two, sizeof one) == 0);
    double worst = 0, worst_rows = 0;
    for (size_t t = 0; t + 1 < LEN; t++)
        worst = fmax(worst, fabs(one[0][t] - expected(md, t)));
    for (int i = 0; i < N_SEQ; i++)
        for (size_t t = 0; t + 1 < LEN - 7 * (size_t)i; t++)
            worst_rows = fmax(worst_rows, fabs((double)one[i][t] - rows[i][t]));
    CHECK_NEAR(0, worst, 2e-6);
    CHECK_NEAR(0, worst_rows, 2e-6);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "no temporary folder\n");
        return 1;
    }
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < N_SEQ; i++)
        for (int j = 0; j < LEN; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            ids[i][j] = (uint32_t)(x % V);
        }
    static const kvg_dtype types[] = {KVG_DTYPE_F32, KVG_DTYPE_Q8_0};
    for (int k = 0; k < 2; k++) {
        model md;
        if (make(types[k], &md))
            return 1;
        test_slices_are_full_logits(&md);
        test_scoring(&md);
        drop(&md);
    }
    rmdir(tmpdir);
    return kvg_test_end();
}
