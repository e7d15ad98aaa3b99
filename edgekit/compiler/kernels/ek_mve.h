/*
 * Helpers of edgekit's kernels for Arm cores with Helium (the M-profile Vector Extension, MVE:
 * Cortex-M55, M85). A Q register holds 16 int8, 8 int16 or 4 int32 lanes; VMLADAVA.S8 adds the
 * 16 products of two int8 vectors to a general register; predicated forms (the _p / _z
 * intrinsics with a VCTP predicate) run the last, partial vector of a loop. The kernels built on
 * them compute the same integers as the reference kernels, so the bytes are the same.
 */
#ifndef EK_MVE_H
#define EK_MVE_H

#if !defined(__ARM_FEATURE_MVE) || !(__ARM_FEATURE_MVE & 1)
#error "this edgekit kernel needs an Arm core with Helium (MVE integer instructions)"
#endif

#include <arm_mve.h>

#include "ek_kernels.h"


/* Four channels' requantization constants as vectors: multiplier, left shift (>= 0), right
 * shift as a negative count (0 where none), output offset, clamp bounds. */
typedef struct {
    int32x4_t multiplier, left, right, offset, lo, hi;
    int32_t offset_n; /* the output offset as a scalar (VADD takes one) */
} ek_mve_quant;

/* The constants of channels c .. c + lanes - 1 (lanes <= 4; the lanes past them read
 * nothing and hold 0). ek_kernels.h's multiplier * 2^(shift - 31): a positive shift is a left
 * shift of the accumulator, a negative one a rounding right shift of the product. */
static EK_INLINE ek_mve_quant ek_mve_quant_at(const int32_t *multiplier, const int32_t *shift,
                                              int32_t c, int32_t lanes, int32_t offset,
                                              int32_t lo, int32_t hi)
{
    ek_mve_quant q;
    const mve_pred16_t p = vctp32q((uint32_t)lanes);
    const int32x4_t s = vldrwq_z_s32(shift + c, p), zero = vdupq_n_s32(0);
    q.multiplier = vldrwq_z_s32(multiplier + c, p);
    q.left = vmaxq_s32(s, zero);
    q.right = vminq_s32(s, zero);
    q.offset = vdupq_n_s32(offset);
    q.offset_n = offset;
    q.lo = vdupq_n_s32(lo);
    q.hi = vdupq_n_s32(hi);
    return q;
}

/* How much of the general requantization a layer needs, as flags known before its loops (so
 * that the kernels are built once per case with the unneeded steps left out). */
#define EK_MVE_LEFT 1  /* some channel's shift is > 0: the accumulator is shifted left first */
#define EK_MVE_ZERO 2  /* some channel's shift is >= 0: no rounding shift there (see below) */
#define EK_MVE_CLAMP 4 /* the activation's clamp is narrower than the int8 range */
#define EK_MVE_GENERAL (EK_MVE_LEFT | EK_MVE_ZERO | EK_MVE_CLAMP) /* right for every layer */

/* The flags a layer with these shifts and clamp bounds needs. */
static inline int ek_mve_mode(const int32_t *shift, int32_t channels, int32_t lo, int32_t hi)
{
    int mode = lo != INT8_MIN || hi != INT8_MAX ? EK_MVE_CLAMP : 0;
    int32_t c;
    for (c = 0; c < channels; ++c) {
        mode |= (shift[c] > 0 ? EK_MVE_LEFT : 0) | (shift[c] >= 0 ? EK_MVE_ZERO : 0);
    }
    return mode;
}

/* Every shift is <= 0 (no left shift: nearly every layer), so VSHL can be left out. */
static inline int ek_mve_no_left_shift(const int32_t *shift, int32_t channels)
{
    return !(ek_mve_mode(shift, channels, INT8_MIN, INT8_MAX) & EK_MVE_LEFT);
}

/* ek_multiply_by_quantized_multiplier of four accumulators, plus the output offset, clamped,
 * with the steps that ``mode`` (EK_MVE_*) says the layer needs: the same bytes as the scalar
 * form. The accumulator is shifted left in int32 and wraps, as in TFLite. VQRDMULH is
 * floor((x * m + 2^30) / 2^31), which equals TFLite's rounding doubling high multiply with its
 * sign-dependent nudge for every multiplier >= 0 (every one edgekit computes; ek_dsp.h gives
 * the argument) and saturates only for m = x = INT32_MIN. TFLite's rounding divide by 2^e
 * rounds ties away from zero; VRSHL by -e rounds them up, computing floor((t + 2^(e-1)) / 2^e)
 * without overflow, so a negative t is first lowered by one: floor((t - 1 + 2^(e-1)) / 2^e)
 * rounds the ties of a negative t down and changes nothing else. (t > INT32_MIN since m < 2^31,
 * so t - 1 does not wrap.) Where some e is 0 the lowering must skip those lanes: t AND -e has
 * the sign bit exactly where t < 0 and e != 0. The int8 range is a saturating shift left by 24
 * and an arithmetic shift back (no constants held in registers); a narrower clamp is VMAX and
 * VMIN. */
static EK_INLINE int32x4_t ek_mve_requantize_as(int32x4_t acc, const ek_mve_quant *q, int mode)
{
    const int32x4_t x = (mode & EK_MVE_LEFT) ? vshlq_s32(acc, q->left) : acc;
    const int32x4_t t = vqrdmulhq_s32(x, q->multiplier);
    const int32x4_t sign = vshrq_n_s32((mode & EK_MVE_ZERO) ? vandq_s32(t, q->right) : t, 31);
    const int32x4_t y = vaddq_n_s32(vrshlq_s32(vaddq_s32(t, sign), q->right), q->offset_n);
    if (mode & EK_MVE_CLAMP) {
        return vminq_s32(vmaxq_s32(y, q->lo), q->hi);
    } else {
        /* saturating at 2^31 after a shift by 24 is saturating at 2^7 before it */
        return vshrq_n_s32(vqshlq_n_s32(y, 24), 24);
    }
}

/* ek_mve_requantize_as for any layer (left_shift: some channel's shift is > 0). */
static EK_INLINE int32x4_t ek_mve_requantize(int32x4_t acc, const ek_mve_quant *q,
                                             int left_shift)
{
    return ek_mve_requantize_as(acc, q, (left_shift ? EK_MVE_LEFT : 0) | EK_MVE_ZERO |
                                            EK_MVE_CLAMP);
}

/* {a0, a1, a2, a3} in two instructions (VMOV of two general registers into two lanes); GCC 12
 * goes through the stack for a vector initializer. */
static EK_INLINE int32x4_t ek_mve_vector4(int32_t a0, int32_t a1, int32_t a2, int32_t a3)
{
#if defined(__GNUC__)
    int32x4_t v;
    __asm__("vmov %q0[2], %q0[0], %1, %3\n\tvmov %q0[3], %q0[1], %2, %4"
            : "=w"(v)
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3));
    return v;
#else
    const int32x4_t v = {a0, a1, a2, a3};
    return v;
#endif
}

#endif /* EK_MVE_H */
