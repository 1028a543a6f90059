/* attention.c — causal grouped-query attention over KV-cache rows: the
 * scalar reference and the driver. One (token, head) pair is one unit of
 * work; a tile of units (tokens x the heads of a kv group) is computed by
 * one thread from start to end, each unit the same way whatever the tile,
 * so results do not depend on the thread count. A unit keeps only
 * KVG_ATTN_BLOCK scores at a time (online softmax, see kvg_attend_scalar),
 * so memory does not grow with the window. The tile kernels: the blocked
 * GEMMs of attention_blocked.h, in attention_avx2.c (x86-64) and
 * attention_neon.c (AArch64). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_simd.h"

void kvg_attend_scalar(const kvg_attn_query *u, size_t hd, size_t kv_stride, float scale)
{
    const float *q = u->q;
    float *out = u->out;
    float s[KVG_ATTN_BLOCK];    /* this block's scores, then weights e^(s - m) */
    float m = -INFINITY, l = 0; /* running max score; sum of weights, relative to m */
    memset(out, 0, hd * sizeof *out); /* accumulates sum of weight * v, relative to m */
    for (size_t b0 = 0; b0 < u->n_pos; b0 += KVG_ATTN_BLOCK) {
        size_t nb = u->n_pos - b0 < KVG_ATTN_BLOCK ? u->n_pos - b0 : KVG_ATTN_BLOCK;
        float bmax = -INFINITY;
        for (size_t j = 0; j < nb; j++) {
            const float *kj = u->k + (b0 + j) * kv_stride;
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
            const float *vj = u->v + (b0 + j) * kv_stride;
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

void kvg_attend_tile_scalar(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale, float *scratch)
{
    (void)scratch;
    for (size_t i = 0; i < n; i++)
        kvg_attend_scalar(&u[i], hd, kv_stride, scale);
}

static size_t few_max = KVG_ATTN_FEW; /* see kvg_attend_set_few_max */

size_t kvg_attend_set_few_max(size_t n)
{
    const size_t old = few_max;
    few_max = n < KVG_ATTN_FEW ? n : KVG_ATTN_FEW;
    return old;
}

size_t kvg_attend_few_max(void) { return few_max; }

typedef void attend_tile_fn(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale, float *scratch);

static attend_tile_fn *attend_for_path(void)
{
    switch (kvg_kernel_path_get()) {
    case KVG_PATH_AVX2:
        KVG_IF_AVX2(return kvg_matmul_avx512_active() ? kvg_attend_tile_avx512 : kvg_attend_tile_avx2;)
        break;
    case KVG_PATH_NEON:
        KVG_IF_NEON(return kvg_attend_tile_neon;)
        break;
    case KVG_PATH_SCALAR:
        break;
    }
    return kvg_attend_tile_scalar;
}

size_t kvg_attend_scratch_floats(size_t hd)
{
    KVG_IF_AVX2(if (kvg_kernel_path_get() == KVG_PATH_AVX2) return kvg_attend_scratch_avx2(hd);)
    KVG_IF_NEON(if (kvg_kernel_path_get() == KVG_PATH_NEON) return kvg_attend_scratch_neon(hd);)
    (void)hd;
    return 0;
}

int kvg_attention(float *out, const float *q, const float *k, const float *v, const uint32_t *row0,
                  const uint32_t *pos, size_t n_tok, const kvg_attn_shape *s)
{
    const size_t hd = s->head_dim, q_width = (size_t)s->n_heads * hd, kv_width = (size_t)s->n_kv * hd;
    const size_t group = s->n_heads / s->n_kv;
    const float scale = (float)(1.0 / sqrt((double)hd));
    attend_tile_fn *attend = attend_for_path();
    /* A tile: consecutive tokens x the query heads of one kv head, at most
     * KVG_ATTN_TILE units (a group larger than a tile is split). Neighbouring
     * tokens of a sequence and the heads of a group read the same K/V rows:
     * the x86-64 kernel packs each key block once per tile. */
    const size_t tile_heads = group < KVG_ATTN_TILE ? group : KVG_ATTN_TILE;
    const size_t head_parts = (group + tile_heads - 1) / tile_heads;
    const size_t tile_toks = KVG_ATTN_TILE / tile_heads;
    const size_t tok_tiles = (n_tok + tile_toks - 1) / tile_toks, per_tok_tile = (size_t)s->n_kv * head_parts;
    long n_tiles = (long)(tok_tiles * per_tok_tile);
    double work = (double)n_tok * s->n_heads * hd * s->max_pos; /* an upper bound: causal rows are shorter */
    const size_t scratch_n = kvg_attend_scratch_floats(hd);
    int failed = 0;
    /* Tiles in token-major order, dealt round-robin: a causal batch's later
     * tokens have longer rows, so contiguous chunks would load threads unevenly. */
#pragma omp parallel if (work >= KVG_PARALLEL_MIN_WORK)
    {
        /* 64-byte aligned: the kernels' vector loads then do not straddle cache lines */
        float *scratch = scratch_n ? aligned_alloc(64, (scratch_n * sizeof *scratch + 63) / 64 * 64) : NULL;
        if (scratch_n && !scratch) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static, 1)
        for (long i = 0; i < n_tiles; i++) {
            if (scratch_n && !scratch)
                continue;
            size_t t0 = (size_t)i / per_tok_tile * tile_toks, rest = (size_t)i % per_tok_tile;
            size_t kvh = rest / head_parts, h0 = kvh * group + rest % head_parts * tile_heads;
            size_t t_end = t0 + tile_toks < n_tok ? t0 + tile_toks : n_tok;
            size_t h_end = h0 + tile_heads < (kvh + 1) * group ? h0 + tile_heads : (kvh + 1) * group;
            kvg_attn_query units[KVG_ATTN_TILE];
            size_t n = 0;
            for (size_t t = t0; t < t_end; t++) {
                const size_t base = (size_t)row0[t] * kv_width + kvh * hd;
                for (size_t h = h0; h < h_end; h++)
                    units[n++] = (kvg_attn_query){q + t * q_width + h * hd, k + base, v + base,
                                                  out + t * q_width + h * hd, (size_t)pos[t] + 1};
            }
            attend(units, n, hd, kv_width, scale, scratch);
        }
        free(scratch);
    }
    return failed ? -1 : 0;
}
