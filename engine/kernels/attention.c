/* attention.c — causal grouped-query attention over KV-cache rows. One
 * (token, head) pair is one unit of work, computed by one thread from start
 * to end, so results do not depend on the thread count. A unit keeps only
 * KVG_ATTN_BLOCK scores at a time (online softmax, see kvg_attend_scalar),
 * so memory does not grow with the window. */
#include <math.h>
#include <string.h>

#include "ops_simd.h"

void kvg_attend_scalar(float *out, const float *q, const float *k, const float *v, size_t n_pos, size_t hd,
                       size_t kv_stride, float scale)
{
    float s[KVG_ATTN_BLOCK];    /* this block's scores, then weights e^(s - m) */
    float m = -INFINITY, l = 0; /* running max score; sum of weights, relative to m */
    memset(out, 0, hd * sizeof *out); /* accumulates sum of weight * v, relative to m */
    for (size_t b0 = 0; b0 < n_pos; b0 += KVG_ATTN_BLOCK) {
        size_t nb = n_pos - b0 < KVG_ATTN_BLOCK ? n_pos - b0 : KVG_ATTN_BLOCK;
        float bmax = -INFINITY;
        for (size_t j = 0; j < nb; j++) {
            const float *kj = k + (b0 + j) * kv_stride;
            float dot = 0;
            for (size_t i = 0; i < hd; i++)
                dot += q[i] * kj[i];
            s[j] = dot * scale;
            if (s[j] > bmax)
                bmax = s[j];
        }
        /* A larger max rescales what was accumulated against the old one;
         * subtracting the max keeps every exponent <= 0 (no overflow). */
        float m_new = bmax > m ? bmax : m;
        float corr = expf(m - m_new); /* 0 on the first block (m = -inf) */
        l *= corr;
        for (size_t i = 0; i < hd; i++)
            out[i] *= corr;
        for (size_t j = 0; j < nb; j++) {
            const float *vj = v + (b0 + j) * kv_stride;
            float p = expf(s[j] - m_new);
            l += p;
            for (size_t i = 0; i < hd; i++)
                out[i] += p * vj[i];
        }
        m = m_new;
    }
    for (size_t i = 0; i < hd; i++)
        out[i] /= l;
}

typedef void attend_fn(float *out, const float *q, const float *k, const float *v, size_t n_pos, size_t hd,
                       size_t kv_stride, float scale);

static attend_fn *attend_for_path(void)
{
    switch (kvg_kernel_path_get()) {
    case KVG_PATH_AVX2:
        KVG_IF_AVX2(return kvg_attend_avx2;)
        break;
    case KVG_PATH_NEON:
        KVG_IF_NEON(return kvg_attend_neon;)
        break;
    case KVG_PATH_SCALAR:
        break;
    }
    return kvg_attend_scalar;
}

int kvg_attention(float *out, const float *q, const float *k, const float *v, const uint32_t *row0,
                  const uint32_t *pos, size_t n_tok, const kvg_attn_shape *s)
{
    const size_t hd = s->head_dim, q_width = (size_t)s->n_heads * hd, kv_width = (size_t)s->n_kv * hd;
    const size_t group = s->n_heads / s->n_kv;
    const float scale = (float)(1.0 / sqrt((double)hd));
    attend_fn *attend = attend_for_path();
    long n_units = (long)(n_tok * s->n_heads);
    double work = (double)n_tok * s->n_heads * hd * s->max_pos; /* an upper bound: causal rows are shorter */
    /* Units in token-major order, dealt round-robin: a causal batch's later
     * tokens have longer rows, so contiguous chunks would load threads unevenly. */
#pragma omp parallel for schedule(static, 1) if (work >= KVG_PARALLEL_MIN_WORK)
    for (long u = 0; u < n_units; u++) {
        size_t t = (size_t)u / s->n_heads, h = (size_t)u % s->n_heads, kvh = h / group;
        const size_t base = (size_t)row0[t] * kv_width + kvh * hd;
        attend(out + t * q_width + h * hd, q + t * q_width + h * hd, k + base, v + base, (size_t)pos[t] + 1, hd,
               kv_width, scale);
    }
    return 0;
}
