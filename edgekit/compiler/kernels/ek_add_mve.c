/* ADD, int8, same-shape inputs, for cores with Helium (MVE): TFLite's arithmetic (both inputs
 * scaled up by 2^left_shift, rescaled to a common scale, summed, rescaled to the output), four
 * int32 lanes at a time, the last partial vector predicated.
 *
 * Usual case (the fast path): the input with the larger scale is rescaled by exactly 1/2
 * (multiplier 2^30, shift 0), which is (x + offset) << (left_shift - 1) exactly; the other
 * input's term takes one of 256 values, tabulated once per call (1 KiB of stack) and gathered
 * (VLDRW gather) per element; the output requantization is one VQRDMLASH whose scalar holds the
 * rounding constant and the output offset, then a sign correction and a plain shift (below):
 * 11 instructions per 4 elements. Otherwise every term is computed per element, as
 * ek_mve_requantize does.
 * Element i is read before it is written: the output may alias either input. */
#include "ek_mve.h"

/* Smaller tensors take the general path: the table would cost more than it saves. */
#define EK_ADD_TABLE_MIN 64

/* A requantization whose constants are the same in every lane. */
static ek_mve_quant ek_add_quant(int32_t multiplier, int32_t shift, int32_t offset, int32_t lo,
                                 int32_t hi)
{
    ek_mve_quant q = ek_mve_quant_at(&multiplier, &shift, 0, 1, offset, lo, hi);
    q.multiplier = vdupq_n_s32(multiplier);
    q.left = vdupq_n_s32(shift > 0 ? shift : 0);
    q.right = vdupq_n_s32(shift > 0 ? 0 : shift);
    return q;
}

/* ek_multiply_by_quantized_multiplier of four lanes (ek_mve_requantize without the offset and
 * the clamp). */
static EK_INLINE int32x4_t ek_add_rescale(int32x4_t acc, const ek_mve_quant *q)
{
    const int32x4_t t = vqrdmulhq_s32(vshlq_s32(acc, q->left), q->multiplier);
    return vrshlq_s32(vaddq_s32(t, vshrq_n_s32(vandq_s32(t, q->right), 31)), q->right);
}

/* One input's term, (x + offset) << left_shift rescaled, of lanes x. */
static EK_INLINE int32x4_t ek_add_term(int32x4_t x, int32_t offset, int32_t left_shift,
                                       const ek_mve_quant *q)
{
    return ek_add_rescale(vshlq_r_s32(vaddq_n_s32(x, offset), left_shift), q);
}

/* table[u] = the term of the input value x = (int8_t)u, a = (x + offset) << left_shift
 * rescaled by multiplier * 2^(shift - 31) (shift <= 0), plus constant: TFLite's rounding
 * doubling high multiply t (VQRDMULH, as ek_mve_requantize explains), then the rounding divide
 * by 2^-shift, a negative t lowered by one first (ties away from zero); [t < 0] is taken as
 * [a < 0], which differs only where t = 0 and both give 0 (shift < 0). */
static EK_INLINE void ek_add_table_as(int32_t *table, int32_t offset, int32_t left_shift,
                                      int32_t multiplier, int32_t shift, int32_t constant,
                                      int divide)
{
    const int32x4_t lanes = vreinterpretq_s32_u32(vidupq_n_u32(0, 1));
    const int32_t step = (int32_t)4 << left_shift;
    int32_t half, i;
    for (half = 0; half < 2; ++half) { /* u = 0 .. 127 (x = u), then u = 128 .. 255 (x = u - 256) */
        int32_t *p = table + 128 * half;
        int32x4_t a = vshlq_r_s32(vaddq_n_s32(lanes, offset - 128 * half), left_shift);
        for (i = 0; i < 32; ++i, p += 4) {
            int32x4_t t = vqrdmulhq_n_s32(a, multiplier);
            if (divide) {
                t = vrshlq_n_s32(vaddq_s32(t, vshrq_n_s32(a, 31)), shift);
            }
            vst1q_s32(p, vaddq_n_s32(t, constant));
            a = vaddq_n_s32(a, step);
        }
    }
}

static void ek_add_table(int32_t *table, int32_t offset, int32_t left_shift, int32_t multiplier,
                         int32_t shift, int32_t constant)
{
    if (shift < 0) {
        ek_add_table_as(table, offset, left_shift, multiplier, shift, constant, 1);
    } else {
        ek_add_table_as(table, offset, left_shift, multiplier, shift, constant, 0);
    }
}

/* The fast output requantization of sums s, clamped: TFLite's rounding doubling high multiply
 * t, then the rounding divide by 2^e (ties away from zero) plus the offset, is
 * floor((t + 2^(e-1) + offset * 2^e - [t < 0]) / 2^e). VQRDMLASH computes t + k with
 * k = 2^(e-1) + offset * 2^e (t is VQRDMULH, as ek_mve_requantize explains); [t < 0] is taken
 * as [s < 0], which differs only where t = 0 and both give offset (e >= 1). Nothing saturates:
 * |s| < 2^30 (inputs scaled up by at most 2^20, rescaled by at most one) and |k| < 2^30
 * (e <= 22). For the int8 range (full), the floor and the clamp are one saturating shift left
 * by 24 - e, which leaves the clamped result in the top byte, and a shift right by 24;
 * otherwise a shift right by e, VMAX and VMIN. */
static EK_INLINE int32x4_t ek_add_out(int32x4_t s, int32x4_t multiplier, int32_t k, int32_t e,
                                      int full, int32x4_t lo, int32x4_t hi)
{
    const int32x4_t sign = vshrq_n_s32(s, 31);
    const int32x4_t v = vaddq_s32(vqrdmlashq_n_s32(s, multiplier, k), sign);
    if (full) {
        return vshrq_n_s32(vqshlq_r_s32(v, 24 - e), 24);
    }
    return vminq_s32(vmaxq_s32(vshlq_r_s32(v, -e), lo), hi);
}

static EK_INLINE void ek_add_fast_run(const ek_add_params *params, const int8_t *half_in,
                                      int32_t half_offset, const int8_t *other_in,
                                      int32_t other_offset, int32_t other_multiplier,
                                      int32_t other_shift, int8_t *output, int full)
{
    int32_t table[256];
    const int32_t left = params->left_shift, e = -params->output_shift, n = params->size;
    const int32_t half_scale = (int32_t)1 << (left - 1);
    const int32_t k = ((int32_t)1 << (e - 1)) + params->output_offset * ((int32_t)1 << e);
    const int32x4_t multiplier = vdupq_n_s32(params->output_multiplier);
    const int32x4_t lo = vdupq_n_s32(params->act_min), hi = vdupq_n_s32(params->act_max);
    const uint8_t *xo = (const uint8_t *)other_in;
    int32_t i;

    ek_add_table(table, other_offset, left, other_multiplier, other_shift,
                 half_offset * half_scale);
    for (i = n >> 2; i > 0; --i) {
        const int32x4_t t = vldrwq_gather_shifted_offset_s32(table, vldrbq_u32(xo));
        const int32x4_t s = vmlaq_n_s32(t, vldrbq_s32(half_in), half_scale);
        vstrbq_s32(output, ek_add_out(s, multiplier, k, e, full, lo, hi));
        xo += 4;
        half_in += 4;
        output += 4;
    }
    if (n & 3) {
        const mve_pred16_t p = vctp32q((uint32_t)(n & 3));
        const int32x4_t t = vldrwq_gather_shifted_offset_s32(table, vldrbq_z_u32(xo, p));
        const int32x4_t s = vmlaq_n_s32(t, vldrbq_z_s32(half_in, p), half_scale);
        vstrbq_p_s32(output, ek_add_out(s, multiplier, k, e, full, lo, hi), p);
    }
}

static void ek_add_fast(const ek_add_params *params, const int8_t *half_in, int32_t half_offset,
                        const int8_t *other_in, int32_t other_offset, int32_t other_multiplier,
                        int32_t other_shift, int8_t *output)
{
    if (params->act_min == INT8_MIN && params->act_max == INT8_MAX) {
        ek_add_fast_run(params, half_in, half_offset, other_in, other_offset, other_multiplier,
                        other_shift, output, 1);
    } else {
        ek_add_fast_run(params, half_in, half_offset, other_in, other_offset, other_multiplier,
                        other_shift, output, 0);
    }
}

/* Any parameters: every term per element. */
static void ek_add_general(const ek_add_params *params, const int8_t *input1,
                           const int8_t *input2, int8_t *output)
{
    const ek_mve_quant q1 = ek_add_quant(params->input1_multiplier, params->input1_shift, 0, 0, 0);
    const ek_mve_quant q2 = ek_add_quant(params->input2_multiplier, params->input2_shift, 0, 0, 0);
    const ek_mve_quant qo = ek_add_quant(params->output_multiplier, params->output_shift,
                                         params->output_offset, params->act_min, params->act_max);
    const int32_t off1 = params->input1_offset, off2 = params->input2_offset;
    const int32_t left = params->left_shift;
    int32_t n;
    for (n = params->size; n > 0; n -= 4) {
        const mve_pred16_t p = vctp32q((uint32_t)n);
        const int32x4_t a = ek_add_term(vldrbq_z_s32(input1, p), off1, left, &q1);
        const int32x4_t b = ek_add_term(vldrbq_z_s32(input2, p), off2, left, &q2);
        vstrbq_p_s32(output, ek_mve_requantize(vaddq_s32(a, b), &qo, 1), p);
        input1 += 4;
        input2 += 4;
        output += 4;
    }
}

/* The input rescaled by exactly 1/2: 2^30 * 2^(0 - 31). */
static int ek_add_is_half(int32_t multiplier, int32_t shift)
{
    return multiplier == (int32_t)1 << 30 && shift == 0;
}

void ek_add_s8_mve(const ek_add_params *params, const int8_t *input1, const int8_t *input2,
                   int8_t *output)
{
    const int fast = params->left_shift >= 1 && params->left_shift <= 20 &&
                     params->output_shift <= -1 && params->output_shift >= -22 &&
                     params->input1_shift <= 0 && params->input2_shift <= 0 &&
                     params->size >= EK_ADD_TABLE_MIN;
    if (fast && ek_add_is_half(params->input2_multiplier, params->input2_shift)) {
        ek_add_fast(params, input2, params->input2_offset, input1, params->input1_offset,
                    params->input1_multiplier, params->input1_shift, output);
    } else if (fast && ek_add_is_half(params->input1_multiplier, params->input1_shift)) {
        ek_add_fast(params, input1, params->input1_offset, input2, params->input2_offset,
                    params->input2_multiplier, params->input2_shift, output);
    } else {
        ek_add_general(params, input1, input2, output);
    }
}
