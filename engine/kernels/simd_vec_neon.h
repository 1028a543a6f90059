/* simd_vec_neon.h — the vector layer of the element-wise ops for AArch64
 * Advanced SIMD: a vf holds 4 f32 lanes. Same names and meanings as
 * simd_vec_avx2.h; included only by *_neon.c. */
#ifndef KVG_SIMD_VEC_NEON_H
#define KVG_SIMD_VEC_NEON_H

#include <arm_neon.h>

#define VF_N 4 /* f32 lanes */
typedef float32x4_t vf;
typedef uint32x4_t vm;

static inline vf vf_load(const float *p) { return vld1q_f32(p); }
static inline void vf_store(float *p, vf x) { vst1q_f32(p, x); }
static inline vf vf_set1(float x) { return vdupq_n_f32(x); }
static inline vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
static inline vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf vf_div(vf a, vf b) { return vdivq_f32(a, b); }
static inline vf vf_max(vf a, vf b) { return vmaxq_f32(a, b); }
static inline vf vf_min(vf a, vf b) { return vminq_f32(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }  /* a*b + c, one rounding */
static inline vf vf_fnma(vf a, vf b, vf c) { return vfmsq_f32(c, a, b); } /* c - a*b, one rounding */
static inline vf vf_abs(vf x) { return vabsq_f32(x); }
static inline vf vf_round(vf x) { return vrndnq_f32(x); }
static inline vf vf_pow2i(vf n)
{
    int32x4_t e = vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
}
static inline vm vf_isnan(vf x) { return vmvnq_u32(vceqq_f32(x, x)); }
static inline vm vf_ge(vf a, vf b) { return vcgeq_f32(a, b); }
static inline vf vf_select(vm m, vf a, vf b) { return vbslq_f32(m, a, b); }

/* v[0..3] (4 rows of 4) become their transpose: v[j] holds column j. */
static inline void vf_transpose(vf v[4])
{
    float32x4x2_t p = vtrnq_f32(v[0], v[1]), q = vtrnq_f32(v[2], v[3]);
    v[0] = vcombine_f32(vget_low_f32(p.val[0]), vget_low_f32(q.val[0]));
    v[1] = vcombine_f32(vget_low_f32(p.val[1]), vget_low_f32(q.val[1]));
    v[2] = vcombine_f32(vget_high_f32(p.val[0]), vget_high_f32(q.val[0]));
    v[3] = vcombine_f32(vget_high_f32(p.val[1]), vget_high_f32(q.val[1]));
}

static inline float vf_hsum(vf x) { return vaddvq_f32(x); }
static inline float vf_hmax(vf x) { return vmaxvq_f32(x); }
static inline void vf_hsum4(vf a, vf b, vf c, vf d, float *out)
{
    vst1q_f32(out, vpaddq_f32(vpaddq_f32(a, b), vpaddq_f32(c, d)));
}

typedef struct vd {
    float64x2_t lo, hi;
} vd;
static inline vd vd_zero(void) { return (vd){vdupq_n_f64(0), vdupq_n_f64(0)}; }
static inline vd vd_add(vd a, vf x)
{
    a.lo = vaddq_f64(a.lo, vcvt_f64_f32(vget_low_f32(x)));
    a.hi = vaddq_f64(a.hi, vcvt_high_f64_f32(x));
    return a;
}
static inline vd vd_add_sq(vd a, vf x, double c)
{
    float64x2_t cc = vdupq_n_f64(c);
    float64x2_t lo = vsubq_f64(vcvt_f64_f32(vget_low_f32(x)), cc), hi = vsubq_f64(vcvt_high_f64_f32(x), cc);
    a.lo = vfmaq_f64(a.lo, lo, lo);
    a.hi = vfmaq_f64(a.hi, hi, hi);
    return a;
}
static inline double vd_hsum(vd a) { return vaddvq_f64(vaddq_f64(a.lo, a.hi)); }
static inline vf vf_center_scale(vf x, double c, double k)
{
    float64x2_t cc = vdupq_n_f64(c), kk = vdupq_n_f64(k);
    float64x2_t lo = vmulq_f64(vsubq_f64(vcvt_f64_f32(vget_low_f32(x)), cc), kk);
    float64x2_t hi = vmulq_f64(vsubq_f64(vcvt_high_f64_f32(x), cc), kk);
    return vcvt_high_f32_f64(vcvt_f32_f64(lo), hi);
}

#endif
