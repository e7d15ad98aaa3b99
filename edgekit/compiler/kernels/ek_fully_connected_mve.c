/* FULLY_CONNECTED, int8, for cores with Helium (MVE): VMLADAVA.S8 adds 16 products of the input
 * and a weight row to an accumulator; four rows share each loaded input vector; the last,
 * partial vector of a row is predicated (VCTP), so nothing past a row is read. The input offset
 * is folded into the bias at build time (bias + input_offset * the sum of the unit's weights;
 * the weights' zero point is 0, as the op rules require), and LiteRT's double-precision
 * rescaling is reproduced exactly, as in ek_fully_connected_s8_ref, in fewer steps (below),
 * for four units at a time in vector lanes. */
#include "ek_mve.h"

/* ek_multiply_by_double_scale, same result, in fewer steps. With P = |acc| * mantissa (exact),
 * G = -exponent and d = max(0, bits(P) - 53) the bits that rounding P to a double drops, C's
 * result is floor((P + 2^(G-1) + [d > 0] * 2^(d-1)) / 2^G) with acc's sign. Why: rounding to
 * an integer steps up at the values h = 2^(G-1) mod 2^G, multiples of 2^d where G - 1 > d, so
 * the product rounded to a double reaches h exactly when P + 2^(d-1) does; at a tie of the
 * first rounding the even neighbour is h itself (its bit d is 0), so ties to even agree.
 * Here 55 <= G <= 87 (scales in [2^-35, 2^-2), where FULLY_CONNECTED's are) and d <= 31
 * (|acc| <= 2^31, mantissa < 2^53), so the low word of P only carries: the quotient is
 * (top + 2^(g-1)) >> g, top = (P + 2^(d-1)) >> 32 < 2^52 + 1, g = G - 32 >= 23, which keeps
 * it below 2^30 (the reference's saturation is never reached); bits(P >> 32) = d + 21
 * (mantissa >= 2^52; a zero acc gives d = 0 and 0). Other scales go to
 * ek_multiply_by_double_scale. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int32_t ek_fc_scale_slow(int32_t acc, int64_t mantissa, int32_t exponent)
{
    return ek_multiply_by_double_scale(acc, mantissa, exponent);
}

static EK_INLINE int32_t ek_fc_scale(int32_t acc, int64_t mantissa, int32_t exponent)
{
    const uint32_t a = acc < 0 ? 0u - (uint32_t)acc : (uint32_t)acc;
    const uint64_t m = (uint64_t)mantissa;
    const uint64_t low = (uint64_t)a * (uint32_t)m;
    const uint64_t top = (uint64_t)a * (uint32_t)(m >> 32) + (low >> 32); /* P >> 32 */
    const int32_t g = -exponent - 32;
    const int32_t d = 43 - __builtin_clzll(top | (uint64_t)1 << 20);
    const uint32_t half = ((uint32_t)1 << d) >> 1; /* 2^(d-1), or 0 */
    int32_t n;

    if ((uint32_t)(g - 23) > 32u) {
        return ek_fc_scale_slow(acc, mantissa, exponent);
    }
    /* (x + 2^(g-1)) >> g as ((x >> (g-1)) + 1) >> 1, x >> (g-1) <= 2^30 */
    n = (int32_t)((int64_t)(top + (((uint64_t)(uint32_t)low + half) >> 32)) >> (g - 1));
    n = (n + 1) >> 1;
    return acc < 0 ? -n : n;
}

/* The output byte of one unit: rescaled, plus the offset as the reference adds it (in int32,
 * wrapping where ek_multiply_by_double_scale saturates), clamped. */
static inline int8_t ek_fc_out(int32_t acc, const int64_t *mantissa, const int32_t *exponent,
                               int32_t offset, int32_t lo, int32_t hi)
{
    const int32_t v =
        (int32_t)((uint32_t)ek_fc_scale(acc, *mantissa, *exponent) + (uint32_t)offset);
    return (int8_t)ek_clamp(v, lo, hi);
}

/* ek_fc_scale of four accumulators (exponents in its range: the caller checks), the same
 * formula without carries or 64-bit lanes: with a * mantissa = P = (q1:q0 + p1) * 2^32 + p0
 * (the 32x32 products' low and high halves), top = P >> 32 and t20 = top >> 20 < 2^32 is
 * q1 * 2^12 + ((q0 + p1) >> 1 >> 19) (VHADD halves a sum without losing its carry);
 * bits(P) = bits(t20) + 52, so 2^(d-1) = 2^30 >> clz(t20); the carry of p0 + 2^(d-1) is
 * VHADD's top bit, and it folds into p1 (< 2^32 - 1); y = (P + 2^(d-1)) >> 52 as t20 was,
 * and the quotient is y rounded at bit G - 52 >= 3: one VRSHL. */
static EK_INLINE int32x4_t ek_fc_scale4(int32x4_t acc, uint32x4_t mlo, uint32x4_t mhi,
                                        int32x4_t exponent)
{
    const uint32x4_t a = vreinterpretq_u32_s32(vabsq_s32(acc)); /* 2^31 for INT32_MIN */
    const uint32x4_t p0 = vmulq_u32(a, mlo), p1 = vmulhq_u32(a, mlo);
    const uint32x4_t q0 = vmulq_u32(a, mhi), q1 = vmulhq_u32(a, mhi);
    const uint32x4_t t20 = vmlaq_n_u32(vshrq_n_u32(vhaddq_u32(q0, p1), 19), q1, 1u << 12);
    const int32x4_t z = vreinterpretq_s32_u32(vclzq_u32(t20));
    const uint32x4_t half = vshlq_u32(vdupq_n_u32((uint32_t)1 << 30), vnegq_s32(z));
    const uint32x4_t carry = vshrq_n_u32(vhaddq_u32(p0, half), 31);
    const uint32x4_t y =
        vmlaq_n_u32(vshrq_n_u32(vhaddq_u32(q0, vaddq_u32(p1, carry)), 19), q1, 1u << 12);
    const int32x4_t n = vreinterpretq_s32_u32(vrshlq_u32(y, vaddq_n_s32(exponent, 52)));
    const int32x4_t sign = vshrq_n_s32(acc, 31);
    return vsubq_s32(veorq_s32(n, sign), sign);
}

/* The output bytes of four units (mantissa and exponent: theirs, or step 0: one for all),
 * four lanes at a time where the exponents are in ek_fc_scale's range. */
static EK_INLINE void ek_fc_out4(int8_t *out, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                 const int64_t *mantissa, const int32_t *exponent, int32_t step,
                                 int32_t offset, int32_t lo, int32_t hi)
{
    int32x4_t acc = vdupq_n_s32(a0), e = vdupq_n_s32(exponent[0]);
    uint32x4_t mlo = vdupq_n_u32((uint32_t)mantissa[0]);
    uint32x4_t mhi = vdupq_n_u32((uint32_t)((uint64_t)mantissa[0] >> 32));
    acc = vsetq_lane_s32(a1, acc, 1);
    acc = vsetq_lane_s32(a2, acc, 2);
    acc = vsetq_lane_s32(a3, acc, 3);
    if (step) { /* the int64 mantissas as (low, high) word pairs, de-interleaved (VLD2) */
        const uint32x4x2_t m = vld2q_u32((const uint32_t *)mantissa);
        mlo = m.val[0];
        mhi = m.val[1];
        e = vldrwq_s32(exponent);
    }
    if (vcmphiq_n_u32(vreinterpretq_u32_s32(vaddq_n_s32(e, 87)), 32) == 0) { /* -87..-55 */
        const int32x4_t y = vaddq_n_s32(ek_fc_scale4(acc, mlo, mhi, e), offset);
        vstrbq_s32(out, vminq_s32(vmaxq_s32(y, vdupq_n_s32(lo)), vdupq_n_s32(hi)));
    } else {
        out[0] = ek_fc_out(a0, mantissa, exponent, offset, lo, hi);
        out[1] = ek_fc_out(a1, mantissa + step, exponent + step, offset, lo, hi);
        out[2] = ek_fc_out(a2, mantissa + 2 * step, exponent + 2 * step, offset, lo, hi);
        out[3] = ek_fc_out(a3, mantissa + 3 * step, exponent + 3 * step, offset, lo, hi);
    }
}

/* One unit's dot product, bias included. */
static int32_t ek_fc_dot1(const int8_t *x, const int8_t *w, int32_t depth, int32_t acc)
{
    int32_t i;
    for (i = depth >> 4; i > 0; --i) {
        acc = vmladavaq_s8(acc, vldrbq_s8(x), vldrbq_s8(w));
        x += 16;
        w += 16;
    }
    if (depth & 15) {
        const mve_pred16_t p = vctp8q((uint32_t)(depth & 15));
        acc = vmladavaq_s8(acc, vldrbq_z_s8(x, p), vldrbq_z_s8(w, p));
    }
    return acc;
}

void ek_fully_connected_s8_mve(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const int32_t depth = params->input_depth, units = params->output_depth;
    const int32_t batches = params->batches, offset = params->output_offset;
    const int32_t lo = params->act_min, hi = params->act_max;
    const int32_t step = params->per_channel ? 1 : 0; /* scale entries per unit */
    const int64_t *const mantissa = scale->mantissa;
    const int32_t *const exponent = scale->exponent;
    int32_t b, u, i;

    for (b = 0; b < batches; ++b) {
        const int8_t *row = input + b * depth;
        int8_t *out = output + b * units;
        for (u = 0; u + 4 <= units; u += 4) {
            const int8_t *x = row, *w0 = filter + u * depth, *w1 = w0 + depth;
            const int8_t *w2 = w1 + depth, *w3 = w2 + depth;
            int32_t a0 = bias[u], a1 = bias[u + 1], a2 = bias[u + 2], a3 = bias[u + 3];
            for (i = depth >> 4; i > 0; --i) {
                const int8x16_t v = vldrbq_s8(x);
                a0 = vmladavaq_s8(a0, v, vldrbq_s8(w0));
                a1 = vmladavaq_s8(a1, v, vldrbq_s8(w1));
                a2 = vmladavaq_s8(a2, v, vldrbq_s8(w2));
                a3 = vmladavaq_s8(a3, v, vldrbq_s8(w3));
                x += 16;
                w0 += 16;
                w1 += 16;
                w2 += 16;
                w3 += 16;
            }
            if (depth & 15) {
                const mve_pred16_t p = vctp8q((uint32_t)(depth & 15));
                const int8x16_t v = vldrbq_z_s8(x, p);
                a0 = vmladavaq_s8(a0, v, vldrbq_z_s8(w0, p));
                a1 = vmladavaq_s8(a1, v, vldrbq_z_s8(w1, p));
                a2 = vmladavaq_s8(a2, v, vldrbq_z_s8(w2, p));
                a3 = vmladavaq_s8(a3, v, vldrbq_z_s8(w3, p));
            }
            ek_fc_out4(out + u, a0, a1, a2, a3, mantissa + u * step, exponent + u * step, step,
                       offset, lo, hi);
        }
        for (; u < units; ++u) {
            const int32_t acc = ek_fc_dot1(row, filter + u * depth, depth, bias[u]);
            out[u] = ek_fc_out(acc, mantissa + u * step, exponent + u * step, offset, lo, hi);
        }
    }
}
