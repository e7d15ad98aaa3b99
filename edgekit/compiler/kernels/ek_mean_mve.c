/* MEAN over height and width, int8, for cores with Helium (MVE): channels in lanes, summed over
 * the H * W pixels. Same bytes as ek_mean_hw_s8_ref.
 *
 * Usual case (the fast path: at most 128 pixels, a right shift of 1 to 22): each pixel's
 * channels are loaded widened to int16 (VLDRB.S16, 8 channels a vector, 32 a pass) and summed
 * in int16, the input offset included (|sum| <= 255 * 128 < 2^15); the sums are widened to
 * int32 (even and odd channels), requantized as ek_add_mve.c's output is (one VQRDMLASH, a sign
 * correction, a shift), and narrowed back with saturation to the int8 range, in channel order.
 * Otherwise the sums are int32 and the requantization is ek_mve_requantize's. */
#include "ek_mve.h"

#define EK_MEAN_INT16_PIXELS 128

/* GCC's scheduling before register allocation hoists the widening of all four sums of a pass
 * and spills them; without it the pass's requantization stays in registers (15% fewer
 * instructions for this kernel). */
#if defined(__GNUC__) && !defined(__clang__)
#define EK_MEAN_NO_PRESCHEDULE __attribute__((optimize("no-schedule-insns")))
#else
#define EK_MEAN_NO_PRESCHEDULE
#endif

/* floor((t + 2^(e-1) + offset * 2^e - [t < 0]) / 2^e), t the rounding doubling high multiply
 * of acc: k = 2^(e-1) + offset * 2^e is VQRDMLASH's scalar, and [t < 0] is taken as [acc < 0]
 * (they differ only where t = 0, and both give offset there since e >= 1). Nothing saturates:
 * |acc| < 2^15 and |k| < 2^30. */
static EK_INLINE int32x4_t ek_mean_rescale(int32x4_t acc, int32x4_t multiplier, int32_t k,
                                           int32_t e)
{
    const int32x4_t sign = vshrq_n_s32(acc, 31);
    return vshlq_r_s32(vaddq_s32(vqrdmlashq_n_s32(acc, multiplier, k), sign), -e);
}

/* The output bytes of 8 channels' int16 sums, in the bottom byte of each 16-bit lane (the
 * bytes VSTRB.16 stores). */
static EK_INLINE int8x16_t ek_mean_bytes(int16x8_t sum, int32x4_t multiplier, int32_t k,
                                         int32_t e)
{
    const int32x4_t even = ek_mean_rescale(vmovlbq_s16(sum), multiplier, k, e);
    const int32x4_t odd = ek_mean_rescale(vmovltq_s16(sum), multiplier, k, e);
    const int16x8_t h = vqmovntq_s32(vqmovnbq_s32(sum, even), odd);
    return vqmovnbq_s16(vreinterpretq_s8_s32(odd), h);
}

static EK_MEAN_NO_PRESCHEDULE void ek_mean_fast(const ek_mean_params *params,
                                                const int8_t *input, int8_t *output)
{
    const int32_t channels = params->channels, count = params->input_h * params->input_w;
    const int32_t e = -params->shift;
    const int32_t k = ((int32_t)1 << (e - 1)) + params->output_offset * ((int32_t)1 << e);
    const int32x4_t multiplier = vdupq_n_s32(params->multiplier);
    const int16x8_t start = vdupq_n_s16((int16_t)(count * params->input_offset));
    int32_t c, i;

    for (c = 0; c + 32 <= channels; c += 32) {
        const int8_t *p = input + c;
        int16x8_t s0 = start, s1 = start, s2 = start, s3 = start;
        for (i = count; i > 0; --i) {
            const int16x8_t x0 = vldrbq_s16(p), x1 = vldrbq_s16(p + 8);
            const int16x8_t x2 = vldrbq_s16(p + 16), x3 = vldrbq_s16(p + 24);
            s0 = vaddq_s16(s0, x0);
            s1 = vaddq_s16(s1, x1);
            s2 = vaddq_s16(s2, x2);
            s3 = vaddq_s16(s3, x3);
            p += channels;
        }
        vstrbq_s16(output + c, vreinterpretq_s16_s8(ek_mean_bytes(s0, multiplier, k, e)));
        vstrbq_s16(output + c + 8, vreinterpretq_s16_s8(ek_mean_bytes(s1, multiplier, k, e)));
        vstrbq_s16(output + c + 16, vreinterpretq_s16_s8(ek_mean_bytes(s2, multiplier, k, e)));
        vstrbq_s16(output + c + 24, vreinterpretq_s16_s8(ek_mean_bytes(s3, multiplier, k, e)));
    }
    for (; c < channels; c += 8) { /* the last channels, 8 at a time, predicated */
        const mve_pred16_t m = vctp16q((uint32_t)(channels - c));
        const int8_t *p = input + c;
        int16x8_t s = start;
        for (i = count; i > 0; --i) {
            s = vaddq_s16(s, vldrbq_z_s16(p, m));
            p += channels;
        }
        vstrbq_p_s16(output + c, vreinterpretq_s16_s8(ek_mean_bytes(s, multiplier, k, e)), m);
    }
}

/* Any parameters: int32 sums, four channels at a time. */
static void ek_mean_general(const ek_mean_params *params, const int8_t *input, int8_t *output)
{
    const int32_t channels = params->channels, count = params->input_h * params->input_w;
    /* the reference adds the offset once per pixel, in int32: the same sum modulo 2^32 */
    const int32x4_t start =
        vdupq_n_s32((int32_t)((uint32_t)count * (uint32_t)params->input_offset));
    ek_mve_quant q = ek_mve_quant_at(&params->multiplier, &params->shift, 0, 1,
                                     params->output_offset, INT8_MIN, INT8_MAX);
    int32_t c, i;

    q.multiplier = vdupq_n_s32(params->multiplier); /* every lane */
    q.left = vdupq_n_s32(params->shift > 0 ? params->shift : 0);
    q.right = vdupq_n_s32(params->shift > 0 ? 0 : params->shift);

    for (c = 0; c < channels; c += 4) {
        const mve_pred16_t m = vctp32q((uint32_t)(channels - c));
        const int8_t *p = input + c;
        int32x4_t s = start;
        for (i = count; i > 0; --i) {
            s = vaddq_s32(s, vldrbq_z_s32(p, m));
            p += channels;
        }
        vstrbq_p_s32(output + c, ek_mve_requantize(s, &q, params->shift > 0), m);
    }
}

void ek_mean_hw_s8_mve(const ek_mean_params *params, const int8_t *input, int8_t *output)
{
    if (params->input_h * params->input_w <= EK_MEAN_INT16_PIXELS && params->shift <= -1 &&
        params->shift >= -22) {
        ek_mean_fast(params, input, output);
    } else {
        ek_mean_general(params, input, output);
    }
}
