/* attention_simd.h — attention units on vector lanes (body for ops_neon.c;
 * x86-64 has the blocked kernel of attention_avx2.c; see ops_simd.h and
 * kvg_attend_scalar, whose online-softmax
 * algorithm and block size this follows). A tile of units (the heads of one
 * kv group, several tokens) walks the key blocks together: block b of every
 * unit, then block b + 1, so the block's K and V rows come from the cache
 * once for the whole tile instead of once per unit. Each unit's arithmetic
 * is the same whatever the tile, so results do not depend on the tiling.
 * Inside a block the work goes 8 key (value) rows at a time across all the
 * tile's units, so those rows are reused from L1 (see attend_block). */

/* scores[r] = q · k_r for the rows r < n of a block (n <= 8: several rows
 * at a time share each query load; each row's sum runs over the chunks in
 * the same order whatever n, so a score does not depend on its neighbours). */
static inline __attribute__((always_inline)) void dot_rows(float *scores, const float *q, const float *k0,
                                                           size_t n, const size_t nv, size_t kv_stride)
{
    if (n == 8) {
        vf a[8];
        for (int r = 0; r < 8; r++)
            a[r] = vf_set1(0.0f);
        for (size_t c = 0; c < nv; c++) {
            const vf qc = vf_load(q + c * VF_N);
            for (int r = 0; r < 8; r++)
                a[r] = vf_fma(qc, vf_load(k0 + r * kv_stride + c * VF_N), a[r]);
        }
        vf_hsum4(a[0], a[1], a[2], a[3], scores);
        vf_hsum4(a[4], a[5], a[6], a[7], scores + 4);
        return;
    }
    for (size_t r = 0; r < n; r++) {
        vf a = vf_set1(0.0f);
        for (size_t c = 0; c < nv; c++)
            a = vf_fma(vf_load(q + c * VF_N), vf_load(k0 + r * kv_stride + c * VF_N), a);
        scores[r] = vf_hsum(a);
    }
}

/* The key block at b0 for every unit of the tile that reaches it:
 *   1. scores, 8 key rows at a time for all units (the rows stay in L1);
 *   2. per unit: scale, block max, rescale of l and the accumulator, weights;
 *   3. acc += weight * v, 8 value rows at a time for all units, each unit's
 *      accumulator in registers over those rows (in its output row between).
 * Per unit, the same operations in the same order as attending alone. */
static inline __attribute__((always_inline)) void attend_block(const kvg_attn_query *u, size_t n, size_t b0,
                                                               const size_t hd, size_t kv_stride, float scale,
                                                               float *m, float *l,
                                                               float (*s)[KVG_ATTN_BLOCK])
{
    enum { MAXV = KVG_ATTN_SIMD_MAX_HD / VF_N };
    const size_t nv = hd / VF_N;
    size_t nb[KVG_ATTN_TILE], nb_max = 0; /* positions of this block each unit sees */
    for (size_t i = 0; i < n; i++) {
        nb[i] = u[i].n_pos > b0 ? u[i].n_pos - b0 : 0;
        if (nb[i] > KVG_ATTN_BLOCK)
            nb[i] = KVG_ATTN_BLOCK;
        if (nb[i] > nb_max)
            nb_max = nb[i];
    }
    for (size_t j = 0; j < nb_max; j += 8)
        for (size_t i = 0; i < n; i++)
            if (nb[i] > j)
                dot_rows(s[i] + j, u[i].q, u[i].k + (b0 + j) * kv_stride, nb[i] - j < 8 ? nb[i] - j : 8, nv,
                         kv_stride);
    const vf sv = vf_set1(scale);
    for (size_t i = 0; i < n; i++) {
        if (!nb[i])
            continue;
        float *si = s[i];
        for (size_t j = nb[i]; j % VF_N; j++) /* pad to whole vectors: weight e^-inf = 0 */
            si[j] = -INFINITY;
        vf vmax = vf_set1(-INFINITY);
        for (size_t j = 0; j < nb[i]; j += VF_N) {
            vf x = vf_mul(vf_load(si + j), sv);
            vf_store(si + j, x);
            vmax = vf_max(vmax, x);
        }
        const float bmax = vf_hmax(vmax), m_new = bmax > m[i] ? bmax : m[i];
        const float corr = expf(m[i] - m_new); /* 0 on the first block (m = -inf) */
        l[i] *= corr;
        if (corr != 1.0f)
            for (size_t c = 0; c < nv; c++)
                vf_store(u[i].out + c * VF_N, vf_mul(vf_load(u[i].out + c * VF_N), vf_set1(corr)));
        const vf mv = vf_set1(m_new);
        vf lsum = vf_set1(0.0f);
        for (size_t j = 0; j < nb[i]; j += VF_N) {
            vf p = vf_exp(vf_sub(vf_load(si + j), mv));
            vf_store(si + j, p);
            lsum = vf_add(lsum, p);
        }
        l[i] += vf_hsum(lsum);
        m[i] = m_new;
    }
    for (size_t j0 = 0; j0 < nb_max; j0 += 8)
        for (size_t i = 0; i < n; i++) {
            if (nb[i] <= j0)
                continue;
            const size_t j_end = nb[i] < j0 + 8 ? nb[i] : j0 + 8;
            vf acc[MAXV];
            for (size_t c = 0; c < nv; c++)
                acc[c] = vf_load(u[i].out + c * VF_N);
            for (size_t j = j0; j < j_end; j++) {
                const vf p = vf_set1(s[i][j]);
                const float *vj = u[i].v + (b0 + j) * kv_stride;
                for (size_t c = 0; c < nv; c++)
                    acc[c] = vf_fma(p, vf_load(vj + c * VF_N), acc[c]);
            }
            for (size_t c = 0; c < nv; c++)
                vf_store(u[i].out + c * VF_N, acc[c]);
        }
}

static inline __attribute__((always_inline)) void attend_tile(const kvg_attn_query *u, size_t n, const size_t hd,
                                                              size_t kv_stride, float scale)
{
    float m[KVG_ATTN_TILE], l[KVG_ATTN_TILE]; /* per unit: running max, denominator */
    float s[KVG_ATTN_TILE][KVG_ATTN_BLOCK];   /* per unit: the block's scores, then weights */
    size_t max_pos = 0;
    for (size_t i = 0; i < n; i++) {
        memset(u[i].out, 0, hd * sizeof *u[i].out);
        m[i] = -INFINITY;
        l[i] = 0;
        if (u[i].n_pos > max_pos)
            max_pos = u[i].n_pos;
    }
    for (size_t b0 = 0; b0 < max_pos; b0 += KVG_ATTN_BLOCK)
        attend_block(u, n, b0, hd, kv_stride, scale, m, l, s);
    for (size_t i = 0; i < n; i++) {
        const vf lv = vf_set1(l[i]);
        for (size_t c = 0; c < hd; c += VF_N)
            vf_store(u[i].out + c, vf_div(vf_load(u[i].out + c), lv));
    }
}

void SIMD_FN(kvg_attend_tile)(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale, float *scratch)
{
    (void)scratch;
    /* Constant head dims let the compiler keep acc in registers. */
    if (hd == 64)
        attend_tile(u, n, 64, kv_stride, scale);
    else if (hd == 128)
        attend_tile(u, n, 128, kv_stride, scale);
    else if (hd % VF_N == 0 && hd <= KVG_ATTN_SIMD_MAX_HD)
        attend_tile(u, n, hd, kv_stride, scale);
    else
        kvg_attend_tile_scalar(u, n, hd, kv_stride, scale, NULL);
}
