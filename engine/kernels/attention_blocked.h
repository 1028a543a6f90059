/* attention_blocked.h — body of the blocked (flash-attention style) tile
 * kernel, written once against a vector layer and included by
 * attention_avx2.c twice, 256-bit (AVX2) and 512-bit (AVX-512F), and by
 * attention_neon.c once (128-bit). The includer defines:
 *   AB_FN(name)   suffixes a function name (name##_256 / _512 / _128)
 *   AB_TARGET     the function attribute the vector ISA needs (or nothing)
 *   av, AV_N      the vector type and its f32 lanes (4, 8 or 16)
 *   av_zero(), av_load(p), av_store(p, x), av_set1(x), av_mul(a, b),
 *   av_fma(a, b, c) = a*b + c (one rounding)
 *   AB_MR_S, AB_MR_PV  queries per register block of the two products
 *   AB_SOFTMAX_ROW     the online-softmax step (softmax_row_vf of
 *                      attention_blocked_vf.h, or one with its bits)
 * and provides before it: pack_kt, pack_v, scores_few (the ISA's) and
 * finish_rows (attention_blocked_vf.h).
 *
 * A run: units that read the same K/V rows (one kv head of one sequence).
 * Per key block of KVG_ATTN_BLOCK positions starting at b0 = 0, 64, ...:
 *   1. the block's K rows are packed transposed, kt[hd][keys] (pack_kt);
 *   2. S[r][j] = q_r . k_j for every query r and key j of the block: a GEMM
 *      with keys along the vector lanes, AB_MR_S queries x 4 vectors of keys
 *      in registers, one FMA chain over i = 0..hd-1 per (query, key);
 *      The block's V rows are copied to consecutive memory (pack_v): cache
 *      rows lie n_kv * hd floats apart, a stride that maps them onto a few
 *      L1 sets, and P·V reads every row once per register block;
 *   3. per query, its causal window, the running max/denominator and the
 *      weights e^(s - m) (softmax_row);
 *   4. out[r][:] = out[r][:] * corr_r + sum_j P[r][j] V[j][:]: a GEMM with
 *      head dims along the lanes, AB_MR_PV queries x 4 vectors in registers,
 *      one FMA chain over the query's keys in increasing order per element.
 * A run of at most kvg_attend_few_max() units (generation: 1 to a few
 * queries per kv head) skips both packings: its scores come from K's rows
 * transposed in registers (scores_few), its P·V from V's rows in place.
 * Every score, weight and output element is computed by the same operations
 * in the same order whatever the run, register block or vector width, so a
 * unit's result has the same bits alone or in any tile, and on 256- or
 * 512-bit registers. */

#ifndef AB_NV
#define AB_NV 4 /* vectors per register block, along keys (scores) or head dims (P·V) */
#endif
/* P·V of a lone query (the few-unit path): up to this many vectors of head
 * dims at once, so each value row is read once and the accumulators make
 * enough independent FMA chains. */
#define AB_NV_ONE 8
_Static_assert(AB_MR_S >= 3 && AB_MR_S <= 6 && AB_MR_PV >= 3 && AB_MR_PV <= 6, "the switches below");

/* s[r][j0 + c] for r < MR queries, c < NV * AV_N keys: one FMA chain over
 * the head dims per (query, key), from 0. kt: [hd][KVG_ATTN_BLOCK]. */
static inline __attribute__((always_inline)) AB_TARGET void
AB_FN(scores_block)(float (*s)[KVG_ATTN_BLOCK], const kvg_attn_query *u, const float *kt, size_t hd, size_t j0,
                    const int MR, const int NV)
{
    av acc[AB_MR_S][AB_NV];
    const float *q[AB_MR_S];
    for (int r = 0; r < MR; r++) {
        q[r] = u[r].q;
        for (int c = 0; c < NV; c++)
            acc[r][c] = av_zero();
    }
    for (size_t i = 0; i < hd; i++) {
        const float *row = kt + i * KVG_ATTN_BLOCK + j0;
        av k[AB_NV];
        for (int c = 0; c < NV; c++)
            k[c] = av_load(row + c * AV_N);
        for (int r = 0; r < MR; r++) {
            const av qb = av_set1(q[r][i]);
            for (int c = 0; c < NV; c++)
                acc[r][c] = av_fma(qb, k[c], acc[r][c]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++)
            av_store(s[r] + j0 + c * AV_N, acc[r][c]);
}

/* out_r[c0 .. c0 + NV*AV_N) = out_r * corr[r] + sum_{ja <= j < jb} p[r][j] v_j
 * for r < MR, the sum as one FMA chain in increasing j per element. */
static inline __attribute__((always_inline)) AB_TARGET void
AB_FN(pv_block)(const kvg_attn_query *u, const float (*p)[KVG_ATTN_BLOCK], const float *corr, const float *v,
                size_t kv_stride, size_t ja, size_t jb, size_t c0, const int MR, const int NV)
{
    av acc[AB_MR_PV][AB_NV_ONE];
    for (int r = 0; r < MR; r++) {
        const av cr = av_set1(corr[r]);
        for (int c = 0; c < NV; c++)
            acc[r][c] = av_mul(av_load(u[r].out + c0 + c * AV_N), cr);
    }
    for (size_t j = ja; j < jb; j++) {
        const float *vj = v + j * kv_stride + c0;
        av x[AB_NV_ONE];
        for (int c = 0; c < NV; c++)
            x[c] = av_load(vj + c * AV_N);
        for (int r = 0; r < MR; r++) {
            const av pb = av_set1(p[r][j]);
            for (int c = 0; c < NV; c++)
                acc[r][c] = av_fma(pb, x[c], acc[r][c]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++)
            av_store(u[r].out + c0 + c * AV_N, acc[r][c]);
}

/* The (MR, NV) switches: constant arguments let the compiler keep the
 * accumulators in registers. (scores and weighted_v stay out of line: one
 * call per key block, and profiles that show each.) */
#define AB_NV_CASES(call, mr)                                                                                        \
    switch (nv) {                                                                                                  \
    case 1: call(mr, 1); break;                                                                                    \
    case 2: call(mr, 2); break;                                                                                    \
    case 3: call(mr, 3); break;                                                                                    \
    default: call(mr, 4); break;                                                                                   \
    }

/* Scores of the n queries of a run against the packed block (query r sees
 * its keys j < nb[r]; a register block computes the vectors of keys its
 * queries see, the causal rest is skipped). */
static __attribute__((noinline)) AB_TARGET void AB_FN(scores)(float (*s)[KVG_ATTN_BLOCK], const kvg_attn_query *u, size_t n, const float *kt,
                                    const size_t *nb, size_t hd)
{
    for (size_t r0 = 0; r0 < n; r0 += AB_MR_S) {
        const size_t mr = n - r0 < AB_MR_S ? n - r0 : AB_MR_S;
        size_t nk = 0;
        for (size_t r = r0; r < r0 + mr; r++)
            if (nb[r] > nk)
                nk = nb[r];
        const size_t nkv = (nk + AV_N - 1) / AV_N;
        for (size_t c = 0; c < nkv; c += AB_NV) {
            const size_t nv = nkv - c < AB_NV ? nkv - c : AB_NV;
#define CALL(MR, NV) AB_FN(scores_block)(s + r0, u + r0, kt, hd, c * AV_N, MR, NV)
            switch (mr) {
            case 1: AB_NV_CASES(CALL, 1) break;
            case 2: AB_NV_CASES(CALL, 2) break;
#if AB_MR_S > 3
            case 3: AB_NV_CASES(CALL, 3) break;
#endif
#if AB_MR_S > 4
            case 4: AB_NV_CASES(CALL, 4) break;
#endif
#if AB_MR_S > 5
            case 5: AB_NV_CASES(CALL, 5) break;
#endif
            default: AB_NV_CASES(CALL, AB_MR_S) break;
            }
#undef CALL
        }
    }
}

/* out += P·V for the n queries of a run; query r sees keys j < nb[r]. A
 * register block runs its queries together over the keys they all see, then
 * each query alone over the rest (the same per-element chain either way). */
static __attribute__((noinline)) AB_TARGET void AB_FN(weighted_v)(const kvg_attn_query *u, size_t n, const float (*p)[KVG_ATTN_BLOCK],
                                        const float *corr, const size_t *nb, const float *v, size_t kv_stride,
                                        size_t hd)
{
    static const float one = 1.0f;
    const size_t nvh = hd / AV_N;
    for (size_t r0 = 0; r0 < n; r0 += AB_MR_PV) {
        const size_t mr = n - r0 < AB_MR_PV ? n - r0 : AB_MR_PV;
        size_t jmin = nb[r0];
        for (size_t r = 1; r < mr; r++)
            if (nb[r0 + r] < jmin)
                jmin = nb[r0 + r];
        for (size_t c = 0; c < nvh; c += AB_NV) {
            const size_t nv = nvh - c < AB_NV ? nvh - c : AB_NV;
#define CALL(MR, NV) AB_FN(pv_block)(u + r0, p + r0, corr + r0, v, kv_stride, 0, jmin, c * AV_N, MR, NV)
            switch (mr) {
            case 1: AB_NV_CASES(CALL, 1) break;
            case 2: AB_NV_CASES(CALL, 2) break;
#if AB_MR_PV > 3
            case 3: AB_NV_CASES(CALL, 3) break;
#endif
#if AB_MR_PV > 4
            case 4: AB_NV_CASES(CALL, 4) break;
#endif
#if AB_MR_PV > 5
            case 5: AB_NV_CASES(CALL, 5) break;
#endif
            default: AB_NV_CASES(CALL, AB_MR_PV) break;
            }
#undef CALL
        }
        for (size_t r = r0; r < r0 + mr; r++)
            if (nb[r] > jmin)
                for (size_t c = 0; c < nvh; c += AB_NV) {
                    const size_t nv = nvh - c < AB_NV ? nvh - c : AB_NV;
#define CALL(MR, NV) AB_FN(pv_block)(u + r, p + r, &one, v, kv_stride, jmin, nb[r], c * AV_N, MR, NV)
                    AB_NV_CASES(CALL, 1)
#undef CALL
                }
    }
}

/* out += P·V for one query (p: its weights, nb keys), value rows read in
 * place (kv_stride apart): the chains of weighted_v, AB_NV_ONE vectors of
 * head dims at a time. */
static __attribute__((noinline)) AB_TARGET void AB_FN(weighted_v_one)(const kvg_attn_query *u, const float *p,
                                                                   float corr, size_t nb, const float *v,
                                                                   size_t kv_stride, size_t hd)
{
    const float(*p1)[KVG_ATTN_BLOCK] = (const float(*)[KVG_ATTN_BLOCK])p;
    const size_t nvh = hd / AV_N;
    size_t c = 0;
    for (; c + AB_NV_ONE <= nvh; c += AB_NV_ONE)
        AB_FN(pv_block)(u, p1, &corr, v, kv_stride, 0, nb, c * AV_N, 1, AB_NV_ONE);
    for (; c < nvh; c += AB_NV) {
        const size_t nv = nvh - c < AB_NV ? nvh - c : AB_NV;
#define CALL(MR, NV) AB_FN(pv_block)(u, p1, &corr, v, kv_stride, 0, nb, c * AV_N, MR, NV)
        AB_NV_CASES(CALL, 1)
#undef CALL
    }
}

/* One run (n <= KVG_ATTN_TILE units sharing k and v), all key blocks.
 * Scratch: kt [hd][KVG_ATTN_BLOCK], vp [KVG_ATTN_BLOCK][hd], s [n][KVG_ATTN_BLOCK].
 * kt = vp = NULL: the few-unit path (n <= KVG_ATTN_FEW), which reads the
 * key and value rows where they are (scores_few; P·V from the cache rows). */
static AB_TARGET void AB_FN(attend_run)(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale,
                                        float *kt, float *vp, float (*s)[KVG_ATTN_BLOCK])
{
    float m[KVG_ATTN_TILE], l[KVG_ATTN_TILE], corr[KVG_ATTN_TILE]; /* per unit */
    size_t nb[KVG_ATTN_TILE], max_pos = 0;                           /* nb: positions of the block it sees */
    for (size_t i = 0; i < n; i++) {
        memset(u[i].out, 0, hd * sizeof *u[i].out);
        m[i] = -INFINITY;
        l[i] = 0;
        if (u[i].n_pos > max_pos)
            max_pos = u[i].n_pos;
    }
    for (size_t b0 = 0; b0 < max_pos; b0 += KVG_ATTN_BLOCK) {
        size_t nk = 0;
        for (size_t i = 0; i < n; i++) {
            nb[i] = u[i].n_pos > b0 ? u[i].n_pos - b0 : 0;
            if (nb[i] > KVG_ATTN_BLOCK)
                nb[i] = KVG_ATTN_BLOCK;
            if (nb[i] > nk)
                nk = nb[i];
        }
        const float *kb = u[0].k + b0 * kv_stride, *vb = u[0].v + b0 * kv_stride;
        if (kt) {
            const size_t nkv = (nk + AV_N - 1) / AV_N;
            pack_kt(kt, kb, nk, nkv * AV_N, hd, kv_stride);
            AB_FN(scores)(s, u, n, kt, nb, hd);
        } else
            scores_few(s, u, n, kb, nk, hd, kv_stride);
        for (size_t i = 0; i < n; i++)
            corr[i] = AB_SOFTMAX_ROW(s[i], nb[i], scale, &m[i], &l[i]);
        if (vp) {
            pack_v(vp, vb, nk, hd, kv_stride);
            AB_FN(weighted_v)(u, n, (const float (*)[KVG_ATTN_BLOCK])s, corr, nb, vp, hd, hd);
        } else if (n == 1)
            AB_FN(weighted_v_one)(u, s[0], corr[0], nb[0], vb, kv_stride, hd);
        else
            AB_FN(weighted_v)(u, n, (const float (*)[KVG_ATTN_BLOCK])s, corr, nb, vb, kv_stride, hd);
    }
    finish_rows(u, n, hd, l);
}

#undef AB_NV_CASES
