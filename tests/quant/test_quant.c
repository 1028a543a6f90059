/* test_quant.c — quantized transformer files: what convert --type and
 * kvgram quantize store, and what the engine computes from them.
 *
 * Models: the three trained KJV fixtures (models/kjv-gpt2 tied, kjv-llama
 * untied with GQA, kjv-neox untied; Hugging Face layout) and llama2.c's
 * stories260K (../shared/models; tied, ffn 172 so ffn_down cannot be blocked).
 *  - quantize(convert f32, T) == convert --type T, byte for byte, every
 *    tensor and every metadata key, for T in f16, bf16, q8_0, q4_0;
 *  - every stored matrix is kvg_dtype's own quantizer applied to the f32
 *    weights (byte for byte), other tensors are copied unchanged, and each
 *    element reads back within SPEC §4's bound of the f32 value;
 *  - re-quantizing goes through f32: q8_0 -> q4_0 stores
 *    q4_0(dequant(q8_0)); a matrix already in its target type is copied;
 *  - the mixed-precision rule (tf_types.h): q4_0 keeps the output at q8_0,
 *    tied tok_embd follows the output, --embd-type / --output-type override,
 *    rows of 172 fall back to f16; transformer.weight_type is --type;
 *  - the engine's logits from a quantized output matrix stay within the
 *    quantization bound: for the final hidden state h (norm applied, taken
 *    from the same run through the residual hook), |logit_v - W_v . h| <=
 *    sum over blocks b of err_b * sum_{j in b} |h_j| (+ float rounding),
 *    with err_b = d_b / 2 for q8_0 and |d_b| (1 + 2^-8) for q4_0 (SPEC §4),
 *    d_b the block's stored scale and W the f32 weights; plus, because the
 *    engine multiplies q8_0 / q4_0 weights with activations quantized to
 *    8 bits per 32-block (engine/kernels/matmul_qdot.h: h^_j = dx_b qx_j,
 *    dx_b = max_{j in b} |h_j| / 127, |h_j - h^_j| <= dx_b / 2 up to f32
 *    rounding), sum over blocks of 0.501 dx_b * sum_{j in b} (|W_vj| + err_b);
 *  - the engine still refuses a quantized or f16 norm (f32 only). */
#include <stdlib.h>
#include <unistd.h>

#include "hf_convert.h"
#include "kvg_test.h"
#include "llama2c_convert.h"
#include "tf_quantize.h"
#include "transformer.h"

static char tmpdir[] = "/tmp/kvg-quant-XXXXXX";
static char paths[128][320];
static int n_paths;

static const char *tmp_path(const char *name)
{
    if (n_paths == (int)(sizeof paths / sizeof paths[0])) {
        fprintf(stderr, "test_quant: more than %d temporary files\n", n_paths);
        exit(1);
    }
    char *p = paths[n_paths++];
    snprintf(p, sizeof paths[0], "%s/%s", tmpdir, name);
    return p;
}

static tf_types types(int type, int output_type, int embd_type)
{
    tf_types t = {type, output_type, embd_type};
    return t;
}

/* Converts src (an HF folder, or a llama2.c .bin) into out. */
static int convert(const char *src, const char *out, tf_types t)
{
    kvg_error err;
    size_t n = strlen(src);
    int rc;
    if (n > 4 && !strcmp(src + n - 4, ".bin")) {
        llama2c_options o = {NULL, t, 0, 0};
        rc = llama2c_convert(src, out, &o, &err);
    } else {
        hf_convert_options o = {t, 0, 0};
        rc = hf_convert(src, out, &o, &err);
    }
    if (rc)
        fprintf(stderr, "convert %s: %s\n", src, err.msg);
    return rc;
}

static int quantize(const char *in, const char *out, tf_types t)
{
    kvg_error err;
    tf_quantize_options o = {t, 0, 0};
    if (tf_quantize(in, out, &o, &err)) {
        fprintf(stderr, "quantize %s: %s\n", in, err.msg);
        return -1;
    }
    return 0;
}

static kvg_file *open_kvg(const char *path)
{
    kvg_file *f = NULL;
    kvg_error err;
    if (kvg_open(path, &f, &err))
        fprintf(stderr, "%s\n", err.msg);
    return f;
}

static const char *dtype_name(uint32_t dt)
{
    return kvg_dtype_get(dt) ? kvg_dtype_get(dt)->name : "?";
}

/* ---- quantize == convert --type ------------------------------------------ */

/* Same tensors (name, dtype, shape, bytes) and same metadata (key, type, value bytes), in order. */
static void check_same_file(const char *what, const char *a_path, const char *b_path)
{
    kvg_file *a = open_kvg(a_path), *b = open_kvg(b_path);
    CHECK(a && b);
    if (!a || !b) {
        kvg_close(a);
        kvg_close(b);
        return;
    }
    CHECK_INT(kvg_tensor_count(a), kvg_tensor_count(b));
    int differ = 0;
    for (size_t i = 0; i < kvg_tensor_count(a) && i < kvg_tensor_count(b); i++) {
        const kvg_tensor *x = kvg_tensor_at(a, i), *y = kvg_tensor_at(b, i);
        int same = !strcmp(x->name, y->name) && x->dtype == y->dtype && x->n_dims == y->n_dims &&
                   !memcmp(x->shape, y->shape, sizeof x->shape) && x->size == y->size &&
                   !memcmp(x->data, y->data, (size_t)x->size);
        if (!same && differ++ < 3)
            fprintf(stderr, "  %s: tensor %zu: %s %s vs %s %s\n", what, i, x->name, dtype_name(x->dtype), y->name,
                    dtype_name(y->dtype));
    }
    CHECK_INT(kvg_meta_count(a), kvg_meta_count(b));
    for (size_t i = 0; i < kvg_meta_count(a) && i < kvg_meta_count(b); i++) {
        const kvg_meta *x = kvg_meta_at(a, i), *y = kvg_meta_at(b, i);
        int same = !strcmp(x->key, y->key) && x->type == y->type && x->elem_type == y->elem_type &&
                   x->count == y->count && x->value_size == y->value_size &&
                   !memcmp(x->value, y->value, (size_t)x->value_size);
        if (!same && differ++ < 3)
            fprintf(stderr, "  %s: metadata %zu: %s vs %s\n", what, i, x->key, y->key);
    }
    CHECK_INT(0, differ);
    kvg_close(a);
    kvg_close(b);
}

static void test_quantize_equals_convert(const char *name, const char *src, const char *f32_path)
{
    static const kvg_dtype all[] = {KVG_DTYPE_F16, KVG_DTYPE_BF16, KVG_DTYPE_Q8_0, KVG_DTYPE_Q4_0};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char a[64], b[64], what[96];
        snprintf(a, sizeof a, "%s-conv-%s.kvg", name, dtype_name(all[i]));
        snprintf(b, sizeof b, "%s-quant-%s.kvg", name, dtype_name(all[i]));
        snprintf(what, sizeof what, "%s %s", name, dtype_name(all[i]));
        const char *pa = tmp_path(a), *pb = tmp_path(b);
        CHECK_INT(0, convert(src, pa, types((int)all[i], -1, -1)));
        CHECK_INT(0, quantize(f32_path, pb, types((int)all[i], -1, -1)));
        check_same_file(what, pa, pb);
    }
}

/* ---- stored bytes == the dtype's quantizer; element bounds ---------------- */

/* Largest |x - x^| / err over the tensor, err the per-element bound of SPEC §4
 * for the block's stored scale (q8_0: d/2, q4_0: |d| (1 + 2^-8)), plus the
 * quotient's float rounding (2^-16 of d). Plain types: exact for f32, half an
 * ulp (relative 2^-11 f16, 2^-8 bf16) otherwise. Returns the worst ratio. */
static double worst_bound_ratio(const kvg_tensor *q, const float *x)
{
    const kvg_dtype_traits *tr = kvg_dtype_get(q->dtype);
    size_t n = (size_t)q->n_elems;
    float *y = malloc(n * sizeof *y);
    tr->to_f32(q->data, y, n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e;
        if (q->dtype == KVG_DTYPE_Q8_0 || q->dtype == KVG_DTYPE_Q4_0) {
            const unsigned char *blk = (const unsigned char *)q->data + i / 32 * tr->block_bytes;
            uint16_t dbits = (uint16_t)(blk[0] | blk[1] << 8);
            double d = fabs(kvg_f16_to_f32(dbits));
            e = (q->dtype == KVG_DTYPE_Q8_0 ? d / 2 : d * (1 + 1.0 / 256)) + d * 0x1p-16;
        } else {
            double rel = q->dtype == KVG_DTYPE_F16 ? 0x1p-11 : q->dtype == KVG_DTYPE_BF16 ? 0x1p-8 : 0;
            e = fabs((double)x[i]) * rel + 0x1p-25; /* + the f16 subnormal spacing's half */
        }
        double diff = fabs((double)x[i] - (double)y[i]);
        if (diff > 0 || e > 0)
            worst = fmax(worst, e > 0 ? diff / e : INFINITY);
    }
    free(y);
    return worst;
}

static void test_stored_is_quantizer(const char *name, const char *f32_path, const char *q_path)
{
    kvg_file *a = open_kvg(f32_path), *q = open_kvg(q_path);
    CHECK(a && q);
    if (!a || !q) {
        kvg_close(a);
        kvg_close(q);
        return;
    }
    CHECK_INT(kvg_tensor_count(a), kvg_tensor_count(q));
    int wrong = 0, converted = 0;
    double worst = 0;
    for (size_t i = 0; i < kvg_tensor_count(a) && i < kvg_tensor_count(q); i++) {
        const kvg_tensor *x = kvg_tensor_at(a, i), *y = kvg_tensor_at(q, i);
        CHECK(!strcmp(x->name, y->name));
        if (y->dtype == x->dtype) {
            wrong += x->size != y->size || memcmp(x->data, y->data, (size_t)x->size) != 0;
            continue;
        }
        CHECK_INT(KVG_DTYPE_F32, x->dtype);
        CHECK(tf_is_matrix(y->name, y->n_dims));
        converted++;
        uint64_t nb = 0;
        kvg_dtype_nbytes(y->dtype, x->n_elems, &nb);
        void *want = malloc((size_t)nb);
        kvg_dtype_get(y->dtype)->from_f32(x->data, want, (size_t)x->n_elems);
        int same = nb == y->size && !memcmp(want, y->data, (size_t)nb);
        if (!same)
            fprintf(stderr, "  %s: %s (%s) is not the quantizer's output\n", name, y->name, dtype_name(y->dtype));
        wrong += !same;
        free(want);
        worst = fmax(worst, worst_bound_ratio(y, x->data));
    }
    CHECK_INT(0, wrong);
    CHECK(converted > 0);
    printf("%s: %d matrices re-encoded; worst |x - x^| / bound = %.6f\n", name, converted, worst);
    CHECK(worst <= 1.0);
    kvg_close(a);
    kvg_close(q);
}

/* q8_0 -> q4_0: each q4_0 matrix is q4_0(dequant(q8_0)); the output, q8_0 in both, is copied. */
static void test_requantize_through_f32(const char *q8_path, const char *q4_path)
{
    kvg_file *a = open_kvg(q8_path), *b = open_kvg(q4_path);
    CHECK(a && b);
    if (!a || !b) {
        kvg_close(a);
        kvg_close(b);
        return;
    }
    int wrong = 0, requantized = 0, copied = 0;
    for (size_t i = 0; i < kvg_tensor_count(a) && i < kvg_tensor_count(b); i++) {
        const kvg_tensor *x = kvg_tensor_at(a, i), *y = kvg_tensor_at(b, i);
        if (x->dtype == y->dtype) {
            copied += x->dtype == KVG_DTYPE_Q8_0;
            wrong += x->size != y->size || memcmp(x->data, y->data, (size_t)x->size) != 0;
            continue;
        }
        requantized++;
        size_t n = (size_t)x->n_elems;
        float *f = malloc(n * sizeof *f);
        void *want = malloc(n); /* q4_0 takes 18 bytes per 32 elements */
        kvg_dtype_get(x->dtype)->to_f32(x->data, f, n);
        kvg_dtype_get(y->dtype)->from_f32(f, want, n);
        wrong += y->dtype != KVG_DTYPE_Q4_0 || memcmp(want, y->data, (size_t)y->size) != 0;
        free(f);
        free(want);
    }
    CHECK_INT(0, wrong);
    CHECK(requantized > 0);
    CHECK_INT(1, copied); /* the output matrix */
    kvg_close(a);
    kvg_close(b);
}

/* ---- the mixed-precision rule ----------------------------------------------- */

static void check_dtype(const kvg_file *f, const char *tensor, kvg_dtype want)
{
    const kvg_tensor *t = kvg_tensor_find(f, tensor);
    CHECK(t != NULL);
    if (t && t->dtype != (uint32_t)want)
        fprintf(stderr, "  %s: %s is %s, expected %s\n", kvg_path(f), tensor, dtype_name(t->dtype),
                dtype_name(want));
    CHECK(t && t->dtype == (uint32_t)want);
}

static void check_weight_type(const kvg_file *f, const char *want)
{
    const char *s = NULL;
    uint64_t len = 0;
    kvg_error err;
    CHECK_INT(0, kvg_meta_get_str(f, "transformer.weight_type", &s, &len, &err));
    CHECK(s && len == strlen(want) && !memcmp(s, want, len));
}

/* Writes in_path quantized with t and checks tok_embd, output (when untied), one layer matrix. */
static void check_mix(const char *in_path, const char *name, tf_types t, int tok, int out, int layer)
{
    const char *p = tmp_path(name);
    CHECK_INT(0, quantize(in_path, p, t));
    kvg_file *f = open_kvg(p);
    CHECK(f != NULL);
    if (!f)
        return;
    check_dtype(f, "tok_embd.weight", (kvg_dtype)tok);
    if (out >= 0)
        check_dtype(f, "output.weight", (kvg_dtype)out);
    check_dtype(f, "blk.1.attn_q.weight", (kvg_dtype)layer);
    check_weight_type(f, dtype_name((uint32_t)t.type));
    kvg_close(f);
}

static void test_mixed_precision(const char *gpt2_f32, const char *llama_f32, const char *stories_f32)
{
    const int F16 = KVG_DTYPE_F16, Q8 = KVG_DTYPE_Q8_0, Q4 = KVG_DTYPE_Q4_0, F32 = KVG_DTYPE_F32;
    /* Tied (gpt2): tok_embd is the output matrix. */
    check_mix(gpt2_f32, "mix-g1.kvg", types(Q4, -1, -1), Q8, -1, Q4);
    check_mix(gpt2_f32, "mix-g2.kvg", types(Q4, Q4, -1), Q4, -1, Q4);
    check_mix(gpt2_f32, "mix-g3.kvg", types(Q8, -1, F16), F16, -1, Q8);
    check_mix(gpt2_f32, "mix-g4.kvg", types(Q4, F32, F16), F32, -1, Q4);
    /* Untied (llama): the embedding follows --type or --embd-type. */
    check_mix(llama_f32, "mix-l1.kvg", types(Q4, -1, -1), Q4, Q8, Q4);
    check_mix(llama_f32, "mix-l2.kvg", types(Q4, -1, F16), F16, Q8, Q4);
    check_mix(llama_f32, "mix-l3.kvg", types(F32, Q8, -1), F32, Q8, F32);
    check_mix(llama_f32, "mix-l4.kvg", types(Q8, -1, -1), Q8, Q8, Q8);
    /* stories260K: ffn_down [64, 172] falls back to f16, the rest is q4_0 (tied output q8_0). */
    const char *p = tmp_path("mix-s.kvg");
    CHECK_INT(0, quantize(stories_f32, p, types(Q4, -1, -1)));
    kvg_file *f = open_kvg(p);
    if (f) {
        check_dtype(f, "blk.0.ffn_down.weight", KVG_DTYPE_F16);
        check_dtype(f, "blk.0.ffn_up.weight", KVG_DTYPE_Q4_0);
        check_dtype(f, "tok_embd.weight", KVG_DTYPE_Q8_0);
        check_dtype(f, "blk.0.attn_norm.weight", KVG_DTYPE_F32);
        kvg_close(f);
    }
}

/* ---- logits through the engine ------------------------------------------------ */

typedef struct last_residual {
    uint32_t layer; /* the last block */
    size_t d;
    float *x;       /* [n_tok, d] */
} last_residual;

static void on_residual(void *user, uint32_t layer, const float *x, size_t n_tok)
{
    last_residual *r = user;
    if (layer == r->layer)
        memcpy(r->x, x, n_tok * r->d * sizeof *x);
}

/* Token ids below every fixture's vocabulary (2048): the bound holds for any input. */
static const uint32_t seq[] = {1, 40, 300, 17, 950, 5, 77, 1200, 64, 2000, 3, 512, 9, 1500, 33, 700};
enum { NSEQ = sizeof seq / sizeof seq[0] };

/* The largest ratio |logit - W.h| / bound over every position and vocabulary
 * entry for the model at q_path, W the f32 output matrix of f32_path; < 0 on failure. */
static double output_bound_ratio(const char *f32_path, const char *q_path)
{
    kvg_file *ff = open_kvg(f32_path), *fq = open_kvg(q_path);
    kvg_transformer *mf = NULL, *mq = NULL;
    kvg_error err;
    double worst = -1;
    if (!ff || !fq || kvg_transformer_open(ff, &mf, &err) || kvg_transformer_open(fq, &mq, &err)) {
        fprintf(stderr, "%s\n", ff && fq ? err.msg : "open failed");
        goto done;
    }
    const kvg_tf_config *c = &mq->c;
    const size_t d = c->d_model, V = c->vocab_size;
    last_residual r = {c->n_layers - 1, d, malloc(NSEQ * d * sizeof(float))};
    kvg_tf_hooks hooks = {&r, NULL, on_residual};
    float *logits = malloc(NSEQ * V * sizeof *logits);
    uint32_t row0[NSEQ] = {0}, pos[NSEQ];
    for (uint32_t i = 0; i < NSEQ; i++)
        pos[i] = i;
    kvg_tf_state *s = NULL;
    kvg_tf_batch b = {NSEQ, seq, row0, pos, NULL};
    int rc = kvg_tf_state_new(mq, NSEQ, NSEQ, &s, &err);
    if (!rc) {
        s->hooks = &hooks;
        rc = kvg_transformer_forward(mq, s, &b, logits, &err);
    }
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
    } else {
        /* The f32 output matrix and the quantized one's block scales. */
        const float *w = mf->output.data;
        const kvg_dtype qt = mq->output.type;
        const kvg_dtype_traits *tr = kvg_dtype_get(qt);
        const double f = qt == KVG_DTYPE_Q8_0 ? 0.5 : qt == KVG_DTYPE_Q4_0 ? 1 + 1.0 / 256 : 0;
        double *h = malloc(d * sizeof *h), *hmax = malloc((d / 32 + 1) * sizeof *hmax);
        worst = 0;
        for (size_t t = 0; t < NSEQ; t++) {
            /* h = Norm_out(x), in double, from SPEC §9's formulas. */
            const float *x = r.x + t * d;
            double mean = 0, var = 0;
            const int rms = c->arch == KVG_ARCH_LLAMA;
            for (size_t j = 0; j < d; j++)
                mean += x[j];
            mean = rms ? 0 : mean / (double)d;
            for (size_t j = 0; j < d; j++)
                var += (x[j] - mean) * (x[j] - mean);
            double inv = 1 / sqrt(var / (double)d + c->norm_eps);
            for (size_t j = 0; j < d; j++)
                h[j] = (x[j] - mean) * inv * mf->out_norm[j] + (rms ? 0 : mf->out_norm_b[j]);
            for (size_t j = 0; j < d; j++) /* the activation blocks' largest magnitudes */
                hmax[j / 32] = j % 32 == 0 ? fabs(h[j]) : fmax(hmax[j / 32], fabs(h[j]));
            for (size_t v = 0; v < V; v++) {
                double ref = 0, bound = 0, mag = 0;
                const unsigned char *blocks = (const unsigned char *)mq->output.data + v * (d / 32) * tr->block_bytes;
                for (size_t j = 0; j < d; j++) {
                    ref += (double)w[v * d + j] * h[j];
                    mag += fabs((double)w[v * d + j] * h[j]);
                    if (f > 0) {
                        const unsigned char *blk = blocks + j / 32 * tr->block_bytes;
                        double err = f * fabs(kvg_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8)));
                        /* 0.501: rint's half step plus the f32 roundings of x * (127 / amax) and amax / 127 */
                        double dx = 0.501 * hmax[j / 32] / 127;
                        bound += err * fabs(h[j]) + dx * (fabs((double)w[v * d + j]) + err);
                    }
                }
                /* Float rounding: the engine's norm and f32 dot products, ~d ulps of the magnitudes. */
                bound += 1e-5 * (mag + bound) + 1e-6;
                worst = fmax(worst, fabs(logits[t * V + v] - ref) / bound);
            }
        }
        free(h);
        free(hmax);
    }
    kvg_tf_state_free(s);
    free(logits);
    free(r.x);
done:
    kvg_transformer_free(mf);
    kvg_transformer_free(mq);
    kvg_close(ff);
    kvg_close(fq);
    return worst;
}

static void test_output_logit_bound(const char *name, const char *f32_path)
{
    const int F32 = KVG_DTYPE_F32, Q8 = KVG_DTYPE_Q8_0, Q4 = KVG_DTYPE_Q4_0;
    const tf_types cases[] = {types(F32, -1, -1), types(F32, Q8, -1), types(F32, Q4, -1), types(Q8, -1, -1),
                              types(Q4, Q4, -1)};
    const char *label[] = {"f32", "f32 + output q8_0", "f32 + output q4_0", "q8_0", "q4_0 (output q4_0)"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char file[64];
        snprintf(file, sizeof file, "%s-bound-%zu.kvg", name, i);
        const char *p = tmp_path(file);
        CHECK_INT(0, quantize(f32_path, p, cases[i]));
        double ratio = output_bound_ratio(f32_path, p);
        printf("%s, %s: worst |logit - W.h| / bound = %.3g\n", name, label[i], ratio);
        CHECK(ratio >= 0 && ratio <= 1);
    }
}

/* ---- the engine's dtype rule -------------------------------------------------- */

/* f32_path's model with tensor `victim` re-encoded in dt: the engine must refuse it, naming
 * the tensor and the dtypes it takes (norms f32 only; matrices any of the five). */
static void check_refused(const char *f32_path, const char *victim, kvg_dtype dt, const char *want)
{
    kvg_file *f = open_kvg(f32_path), *g = NULL;
    kvg_transformer *m = NULL;
    kvg_writer *w = NULL;
    kvg_error err;
    const char *p = tmp_path(victim);
    if (!f || kvg_transformer_open(f, &m, &err) || kvg_writer_open(p, 0, &w, &err) ||
        kvg_tf_config_write(&m->c, w, &err)) {
        CHECK(!"set up");
        goto done;
    }
    for (size_t i = 0; i < kvg_tensor_count(f); i++) {
        const kvg_tensor *t = kvg_tensor_at(f, i);
        int rc;
        if (!strcmp(t->name, victim)) {
            uint64_t nb = 0;
            kvg_dtype_nbytes(dt, t->n_elems, &nb);
            void *buf = malloc((size_t)nb);
            kvg_dtype_get(dt)->from_f32(t->data, buf, (size_t)t->n_elems);
            rc = kvg_writer_tensor(w, t->name, dt, t->n_dims, t->shape, buf, &err);
            free(buf);
        } else {
            rc = kvg_writer_tensor(w, t->name, (kvg_dtype)t->dtype, t->n_dims, t->shape, t->data, &err);
        }
        if (rc) {
            CHECK(!"write");
            kvg_writer_abort(w);
            goto done;
        }
    }
    CHECK_INT(0, kvg_writer_finish(w, &err));
    kvg_transformer *bad = NULL;
    g = open_kvg(p);
    CHECK(g != NULL);
    if (g) {
        CHECK_INT(-1, kvg_transformer_open(g, &bad, &err));
        CHECK_STR_CONTAINS(err.msg, victim);
        CHECK_STR_CONTAINS(err.msg, want);
    }
    kvg_transformer_free(bad);
done:
    kvg_transformer_free(m);
    kvg_close(f);
    kvg_close(g);
}

int main(void)
{
    const char *shared = getenv("KVG_SHARED_DIR"), *src = getenv("KVG_SOURCE_DIR");
    if (!shared || !src || !mkdtemp(tmpdir)) {
        fprintf(stderr, "needs KVG_SHARED_DIR, KVG_SOURCE_DIR and a temporary folder\n");
        return 1;
    }
    char dir[3][300], stories[300];
    const char *names[3] = {"kjv-gpt2", "kjv-llama", "kjv-neox"};
    const char *f32[3];
    for (int i = 0; i < 3; i++) {
        char file[64];
        snprintf(dir[i], sizeof dir[i], "%s/models/%s", src, names[i]);
        snprintf(file, sizeof file, "%s-f32.kvg", names[i]);
        f32[i] = tmp_path(file);
        if (convert(dir[i], f32[i], types(KVG_DTYPE_F32, -1, -1)))
            return 1;
    }
    snprintf(stories, sizeof stories, "%s/models/stories260K.bin", shared);
    const char *stories_f32 = tmp_path("stories-f32.kvg");
    if (convert(stories, stories_f32, types(-1, -1, -1)))
        return 1;

    for (int i = 0; i < 3; i++)
        test_quantize_equals_convert(names[i], dir[i], f32[i]);
    test_quantize_equals_convert("stories260K", stories, stories_f32);

    char file[64];
    for (int i = 0; i < 3; i++) {
        const char *q8 = tmp_path((snprintf(file, sizeof file, "%s-q8.kvg", names[i]), file));
        const char *q4 = tmp_path((snprintf(file, sizeof file, "%s-q4.kvg", names[i]), file));
        const char *q8q4 = tmp_path((snprintf(file, sizeof file, "%s-q8q4.kvg", names[i]), file));
        const char *q8q8 = tmp_path((snprintf(file, sizeof file, "%s-q8q8.kvg", names[i]), file));
        CHECK_INT(0, quantize(f32[i], q8, types(KVG_DTYPE_Q8_0, -1, -1)));
        CHECK_INT(0, quantize(f32[i], q4, types(KVG_DTYPE_Q4_0, -1, -1)));
        CHECK_INT(0, quantize(q8, q8q4, types(KVG_DTYPE_Q4_0, -1, -1)));
        CHECK_INT(0, quantize(q8, q8q8, types(KVG_DTYPE_Q8_0, -1, -1)));
        test_stored_is_quantizer(names[i], f32[i], q8);
        test_stored_is_quantizer(names[i], f32[i], q4);
        test_requantize_through_f32(q8, q8q4);
        check_same_file("q8_0 -> q8_0 is a copy", q8, q8q8);
    }
    const char *s4 = tmp_path("stories-q4.kvg");
    CHECK_INT(0, quantize(stories_f32, s4, types(KVG_DTYPE_Q4_0, -1, -1)));
    test_stored_is_quantizer("stories260K", stories_f32, s4);
    test_mixed_precision(f32[0], f32[1], stories_f32);
    for (int i = 0; i < 3; i++)
        test_output_logit_bound(names[i], f32[i]);
    check_refused(f32[1], "blk.0.attn_norm.weight", KVG_DTYPE_Q8_0, "has dtype q8_0, expected f32");
    check_refused(f32[1], "blk.1.ffn_norm.weight", KVG_DTYPE_F16, "has dtype f16, expected f32");

    for (int i = 0; i < n_paths; i++)
        unlink(paths[i]);
    rmdir(tmpdir);
    return kvg_test_end();
}
