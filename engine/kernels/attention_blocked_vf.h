/* attention_blocked_vf.h — the parts of the blocked attention kernel
 * (attention_blocked.h) that do not depend on the register width of its two
 * products, written once against the vf layer (simd_vec_avx2.h: 8 lanes,
 * simd_vec_neon.h: 4; vf_transpose turns VF_N rows into VF_N columns) and
 * included once by attention_avx2.c and attention_neon.c: the packing of a
 * key and a value block, the few-unit path's scores, the online-softmax
 * step between the products, the final division, and the split of a tile
 * into runs. */

/* kt[i][j] = k_j[i] (row j at k + j * kv_stride) for i < hd, j < nk, and 0
 * for nk <= j < nk_pad (a multiple of VF_N, <= KVG_ATTN_BLOCK); hd % VF_N
 * == 0. VF_N x VF_N tiles, transposed in registers. */
static void pack_kt(float *kt, const float *k, size_t nk, size_t nk_pad, size_t hd, size_t kv_stride)
{
    for (size_t j0 = 0; j0 < nk_pad; j0 += VF_N)
        for (size_t i0 = 0; i0 < hd; i0 += VF_N) {
            vf r[VF_N];
            for (size_t a = 0; a < VF_N; a++)
                r[a] = j0 + a < nk ? vf_load(k + (j0 + a) * kv_stride + i0) : vf_set1(0.0f);
            vf_transpose(r);
            for (size_t a = 0; a < VF_N; a++)
                vf_store(kt + (i0 + a) * KVG_ATTN_BLOCK + j0, r[a]);
        }
}

/* vp[j][0..hd) = v_j (row j at v + j * kv_stride) for j < nk. */
static void pack_v(float *vp, const float *v, size_t nk, size_t hd, size_t kv_stride)
{
    for (size_t j = 0; j < nk; j++)
        for (size_t c = 0; c < hd; c += VF_N) /* hd % VF_N == 0: no call to memcpy per row */
            vf_store(vp + j * hd + c, vf_load(v + j * kv_stride + c));
}

/* The few-unit path's scores (runs of generation: 1 to KVG_ATTN_FEW
 * queries), without pack_kt: s[r][j0 + c] = q_r . k_{j0 + c} for r < MR,
 * c < VF_N * NV. Each VF_N keys x VF_N head dims of the block are loaded and
 * transposed in registers, then used by every query; each (query, key) is
 * scores_block's chain, acc = fma(q_r[i], k_j[i], acc) for i = 0..hd-1 from
 * 0, so the bits are the packed path's at any register width (the 512-bit
 * kernel uses these 256-bit scores). Keys from nk on (past the block's last
 * visible row) count as 0, as pack_kt pads them. */
static inline __attribute__((always_inline)) void scores_few_block(float (*s)[KVG_ATTN_BLOCK],
                                                                   const kvg_attn_query *u, const float *k,
                                                                   size_t nk, size_t j0, size_t hd,
                                                                   size_t kv_stride, const int MR, const int NV)
{
    vf acc[KVG_ATTN_FEW][4];
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++)
            acc[r][c] = vf_set1(0.0f);
    for (size_t i0 = 0; i0 < hd; i0 += VF_N)
        for (int c = 0; c < NV; c++) {
            const size_t jc = j0 + VF_N * (size_t)c;
            const float *kc = k + jc * kv_stride + i0;
            vf t[VF_N];
            if (jc + VF_N <= nk)
                for (size_t a = 0; a < VF_N; a++)
                    t[a] = vf_load(kc + a * kv_stride);
            else
                for (size_t a = 0; a < VF_N; a++)
                    t[a] = jc + a < nk ? vf_load(kc + a * kv_stride) : vf_set1(0.0f);
            vf_transpose(t); /* t[a]: head dim i0 + a of the VF_N keys */
            for (int a = 0; a < VF_N; a++)
                for (int r = 0; r < MR; r++)
                    acc[r][c] = vf_fma(vf_set1(u[r].q[i0 + a]), t[a], acc[r][c]);
        }
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++)
            vf_store(s[r] + j0 + VF_N * c, acc[r][c]);
}

/* Scores of a run of n <= KVG_ATTN_FEW queries against the key block at k
 * (rows kv_stride apart); query r sees keys j < nb[r], nk = max nb[r]. */
static __attribute__((noinline)) void scores_few(float (*s)[KVG_ATTN_BLOCK], const kvg_attn_query *u, size_t n,
                                                 const float *k, size_t nk, size_t hd, size_t kv_stride)
{
    const size_t nkv = (nk + VF_N - 1) / VF_N; /* vectors of VF_N keys */
    /* FEW_NV(MR) vectors of keys at a time: independent FMA chains enough to
     * hide the FMA latency, accumulators few enough for the registers (16 on
     * AVX2, 32 on NEON) */
#define FEW_NV(MR) (VF_N == 8 && (MR) > 1 ? 2 : 4)
    for (size_t c = 0; c < nkv;) {
        const size_t left = nkv - c;
#define CALL(MR)                                                                                                     \
    do {                                                                                                           \
        if (left >= FEW_NV(MR))                                                                                    \
            scores_few_block(s, u, k, nk, VF_N * c, hd, kv_stride, MR, FEW_NV(MR)), c += FEW_NV(MR);               \
        else                                                                                                       \
            scores_few_block(s, u, k, nk, VF_N * c, hd, kv_stride, MR, 1), c++;                                    \
    } while (0)
        switch (n) {
        case 1: CALL(1); break;
        case 2: CALL(2); break;
        case 3: CALL(3); break;
        default: CALL(4); break;
        }
#undef CALL
#undef FEW_NV
    }
}

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
