/* attention_blocked_vf.h — the parts of the blocked attention kernel
 * (attention_blocked.h) that do not depend on the register width of its two
 * products, written once against the vf layer (simd_vec_avx2.h: 8 lanes,
 * simd_vec_neon.h: 4) and included once by attention_avx2.c and
 * attention_neon.c: the online-softmax step between the products, the final
 * division, and the split of a tile into runs. */

/* The online softmax of one query's block: s[j] for j < nb (its causal
 * window in the block) holds the dot products q . k_j. Updates the running
 * max m of the scaled scores and the denominator l (rescaled, plus this
 * block's weights), and sets s[j] = e^(scale * s[j] - m) (one rounding: an
 * FMA), 0 from nb up to whole vectors. Returns the factor e^(m_old - m) by
 * which its accumulator must be rescaled (1: nothing seen in this block,
 * nothing changes). The algorithm of kvg_attend_scalar.
 *
 * The first pass, also used by the 512-bit version (attention_avx2.c): pads
 * s with -inf (weight 0) from nb to a multiple of pad (VF_N or 16) and
 * returns the new running max. */
static float block_max(float *s, size_t nb, size_t pad, float scale, float m)
{
    for (size_t j = nb; j % pad; j++)
        s[j] = -INFINITY;
    vf vmax = vf_set1(-INFINITY);
    for (size_t j = 0; j < nb; j += VF_N)
        vmax = vf_max(vmax, vf_load(s + j));
    /* scale > 0 and rounding is monotonic: max(scale * s) = scale * max(s) */
    const float bmax = vf_hmax(vmax) * scale;
    return bmax > m ? bmax : m;
}

static __attribute__((noinline)) float softmax_row_vf(float *s, size_t nb, float scale, float *m, float *l)
{
    if (!nb)
        return 1.0f;
    const float m_new = block_max(s, nb, VF_N, scale, *m);
    const float corr = expf(*m - m_new); /* 0 on the first block (m = -inf) */
    const vf sv = vf_set1(scale), neg_m = vf_set1(-m_new);
    vf lsum = vf_set1(0.0f);
    for (size_t j = 0; j < nb; j += VF_N) {
        vf p = vf_exp(vf_fma(vf_load(s + j), sv, neg_m));
        vf_store(s + j, p);
        lsum = vf_add(lsum, p);
    }
    *l = *l * corr + vf_hsum(lsum);
    *m = m_new;
    return corr;
}

/* out /= l for each unit. */
static void finish_rows(const kvg_attn_query *u, size_t n, size_t hd, const float *l)
{
    for (size_t i = 0; i < n; i++) {
        const vf lv = vf_set1(l[i]);
        for (size_t c = 0; c < hd; c += VF_N)
            vf_store(u[i].out + c, vf_div(vf_load(u[i].out + c), lv));
    }
}

/* One run of attention_blocked.h (units sharing their K and V rows). */
typedef void attend_run_fn(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale, float *kt,
                           float *vp, float (*s)[KVG_ATTN_BLOCK]);

/* Splits the tile into runs of units that share their K and V rows (a
 * tile may hold tokens of several sequences) and attends each run: runs of
 * at most kvg_attend_few_max() units on the few-unit path. scratch:
 * 2 * KVG_ATTN_BLOCK * hd floats, the packed key block [hd][block] then the
 * packed value block [block][hd]. */
static void attend_tile(attend_run_fn *run, const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride,
                        float scale, float *scratch)
{
    _Alignas(64) float s[KVG_ATTN_TILE][KVG_ATTN_BLOCK]; /* per unit: scores, then weights */
    const size_t few_max = kvg_attend_few_max();
    float *kt = scratch, *vp = scratch + KVG_ATTN_BLOCK * hd;
    for (size_t i0 = 0, i1; i0 < n; i0 = i1) {
        for (i1 = i0 + 1; i1 < n && u[i1].k == u[i0].k && u[i1].v == u[i0].v; i1++)
            ;
        if (i1 - i0 <= few_max)
            run(u + i0, i1 - i0, hd, kv_stride, scale, NULL, NULL, s);
        else
            run(u + i0, i1 - i0, hd, kv_stride, scale, kt, vp, s);
    }
}
