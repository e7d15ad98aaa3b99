/* FULLY_CONNECTED, int8, for cores with Helium (MVE): VMLADAVA.S8 adds 16 products of the input
 * and a weight row to an accumulator; four units share each loaded input vector, their weights
 * laid out at build time run of 16 by run of 16 (layouts.fc_rows4_weights: K and the units
 * zero-padded), so that a block of four units streams one contiguous run; the last, partial
 * input vector is predicated (VCTP), so nothing past the input is read. The input offset is
 * folded into the bias at build time (bias + input_offset * the sum of the unit's weights; the
 * weights' zero point is 0, as the op rules require), and LiteRT's double-precision rescaling
 * is reproduced exactly, as in ek_fully_connected_s8_ref: four units at a time in vector lanes
 * from constants laid out as vectors (layouts.fc_rows4_fields), in a few steps that are exact
 * unless the product lies within a small margin of a rounding boundary (below); those rare
 * accumulators, and the scales outside the fast range, take ek_multiply_by_double_scale. */
#include "ek_mve.h"

/* The exact rounding of one unit (ek_multiply_by_double_scale), plus the output offset as the
 * reference adds it (in int32, wrapping), clamped. Out of line: the fast path rarely needs it. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int8_t ek_fc_exact(int32_t acc, const ek_double_scale *scale, int32_t q, int32_t offset,
                          int32_t lo, int32_t hi)
{
    const int32_t v = ek_multiply_by_double_scale(acc, scale->mantissa[q], scale->exponent[q]);
    return (int8_t)ek_clamp((int32_t)((uint32_t)v + (uint32_t)offset), lo, hi);
}

/* The output bytes of units u .. u + count - 1 (count <= 4) from their accumulators, exactly. */
static void ek_fc_exact4(int8_t *out, int32x4_t acc, const ek_fully_connected_params *params,
                         const ek_double_scale *scale, int32_t u, int32_t count)
{
    int32_t a[4], k;
    vstrwq_s32(a, acc);
    for (k = 0; k < count; ++k) {
        out[k] = ek_fc_exact(a[k], scale, params->per_channel ? u + k : 0,
                             params->output_offset, params->act_min, params->act_max);
    }
}

/* ek_multiply_by_double_scale of four accumulators, as ek_fully_connected_dsp.c's
 * ek_fc_rescale computes it, in lanes. With m the top 32 bits of the unit's 53-bit mantissa
 * and g = -exponent - 21, the exact product |acc| * mantissa / 2^21 lies in [|acc| * m,
 * |acc| * m + |acc|); rounding it to a double first moves it by at most 2^10 in these units,
 * and the rounding boundaries, multiples of 2^(g - 1), lie on the double's grid, so the
 * product rounded at bit g (VRSHL by -s, s = g - 32 in [1, 30], in the high word) is the exact
 * result unless |acc| * m + |acc| + 2048 rounds to another: those lanes are flagged in *close
 * (the caller takes them exactly). */
static EK_INLINE int32x4_t ek_fc_scale4(int32x4_t acc, uint32x4_t m, int32x4_t shift,
                                        mve_pred16_t *close)
{
    const uint32x4_t a = vreinterpretq_u32_s32(vabsq_s32(acc)); /* 2^31 for INT32_MIN */
    const uint32x4_t low = vmulq_u32(a, m), high = vmulhq_u32(a, m);
    /* the carry of low + |acc| + 2048 out of the low word: VHADD keeps the sum's top bit */
    const uint32x4_t carry = vshrq_n_u32(vhaddq_u32(low, vaddq_n_u32(a, 2048)), 31);
    const uint32x4_t n = vrshlq_u32(high, shift);
    const int32x4_t sign = vshrq_n_s32(acc, 31);
    *close = vcmpneq_u32(n, vrshlq_u32(vaddq_u32(high, carry), shift));
    return vsubq_s32(veorq_s32(vreinterpretq_s32_u32(n), sign), sign);
}

/* One run of 16 inputs (q0) against four units' weights, [w] advancing. */
#define EK_FC_RUN(x)                                                                         \
    "vldrb.8 q0, [" x "], #16\n\t"                                                           \
    "vldrb.8 q1, [%[w]], #16\n\t"                                                            \
    "vmladava.s8 %[a0], q0, q1\n\t"                                                          \
    "vldrb.8 q1, [%[w]], #16\n\t"                                                            \
    "vmladava.s8 %[a1], q0, q1\n\t"                                                          \
    "vldrb.8 q1, [%[w]], #16\n\t"                                                            \
    "vmladava.s8 %[a2], q0, q1\n\t"                                                          \
    "vldrb.8 q1, [%[w]], #16\n\t"                                                            \
    "vmladava.s8 %[a3], q0, q1\n\t"

/* The accumulators of four units (x: the input row, c: their biases; w: their weights, left
 * past them): the whole runs of 16 two at a time in a low-overhead loop (GCC's own loop spends
 * an add and register moves per run), then the last, partial one with the input predicated
 * (the weights past the row are zeros). VMLADAVA takes even registers only ("Te"). */
static EK_INLINE int32x4_t ek_fc_dot4(const int8_t *x, const int8_t **weights, const int32_t *c,
                                      int32_t runs, uint32_t rest)
{
    const int8_t *w = *weights;
    int32_t a0 = c[0], a1 = c[1], a2 = c[2], a3 = c[3];
    __asm__("lsrs %[n], %[n], #1\n\t"
            "bcc 1f\n\t" EK_FC_RUN("%[x]") "1:\n\t"
            "wls lr, %[n], 3f\n"
            "2:\n\t" EK_FC_RUN("%[x]") EK_FC_RUN("%[x]") "le lr, 2b\n"
            "3:"
            : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3), [x] "+r"(x),
              [w] "+r"(w), [n] "+r"(runs)
            :
            : "q0", "q1", "lr", "cc", "memory");
    if (rest) {
        const int8x16_t v = vldrbq_z_s8(x, vctp8q(rest));
        a0 = vmladavaq_s8(a0, v, vldrbq_s8(w));
        a1 = vmladavaq_s8(a1, v, vldrbq_s8(w + 16));
        a2 = vmladavaq_s8(a2, v, vldrbq_s8(w + 32));
        a3 = vmladavaq_s8(a3, v, vldrbq_s8(w + 48));
        w += 64;
    }
    *weights = w;
    return ek_mve_vector4(a0, a1, a2, a3);
}

/* Four units' rescaled outputs, offset and clamped (c: their constants); *close as in
 * ek_fc_scale4. */
static EK_INLINE int32x4_t ek_fc_out4(int32x4_t acc, const int32_t *c, int32_t offset, int32_t lo,
                                      int32_t hi, mve_pred16_t *close)
{
    const int32x4_t n =
        ek_fc_scale4(acc, vldrwq_u32((const uint32_t *)c + 4), vldrwq_s32(c + 8), close);
    return vminq_s32(vmaxq_s32(vaddq_n_s32(n, offset), vdupq_n_s32(lo)), vdupq_n_s32(hi));
}

void ek_fully_connected_s8_mve(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const int32_t depth = params->input_depth, units = params->output_depth;
    const int32_t offset = params->output_offset, lo = params->act_min, hi = params->act_max;
    const int32_t runs = depth >> 4, whole = units & ~3;
    const uint32_t rest = (uint32_t)(depth & 15); /* inputs in the last, partial run */
    const int fast = bias[0];                     /* every scale in the fast range */
    int32_t b, u;

    for (b = 0; b < params->batches; ++b) {
        const int8_t *const row = input + b * depth;
        const int8_t *w = filter;
        const int32_t *c = bias + 1; /* per block: biases, m, -s (layouts.fc_rows4_fields) */
        int8_t *const out = output + b * units;
        mve_pred16_t close;
        int32x4_t acc;
        if (fast) {
            for (u = 0; u < whole; u += 4, c += 12) {
                acc = ek_fc_dot4(row, &w, c, runs, rest);
                vstrbq_s32(out + u, ek_fc_out4(acc, c, offset, lo, hi, &close));
                if (close) {
                    ek_fc_exact4(out + u, acc, params, scale, u, 4);
                }
            }
            if (u < units) {
                acc = ek_fc_dot4(row, &w, c, runs, rest);
                vstrbq_p_s32(out + u, ek_fc_out4(acc, c, offset, lo, hi, &close),
                             vctp32q((uint32_t)(units - u)));
                if (close) {
                    ek_fc_exact4(out + u, acc, params, scale, u, units - u);
                }
            }
        } else {
            for (u = 0; u < units; u += 4, c += 12) {
                acc = ek_fc_dot4(row, &w, c, runs, rest);
                ek_fc_exact4(out + u, acc, params, scale, u, units - u < 4 ? units - u : 4);
            }
        }
    }
}
