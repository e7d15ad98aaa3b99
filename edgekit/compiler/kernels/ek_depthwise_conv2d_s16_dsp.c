/* DEPTHWISE_CONV_2D, 16x8, depth multiplier 1, for cores with the DSP extension: four channels
 * at a time, two input words (channels c, c + 1 and c + 2, c + 3) against one weight word
 * split by SXTB16 into (c, c + 2) and (c + 1, c + 3), each product one SMLAxy (a halfword of
 * each operand). The sums of the taps stay in int32: each product is at most 2^22 in magnitude
 * and the window has at most 511 taps (the variant's rule), so they are the reference
 * kernel's int64 sums.
 *
 * Where the window has at most 256 taps, every bias is within +-2^30 and every shift in
 * [-31, -2] (nearly every layer), the sum plus the bias fits in int32: the bias starts the
 * accumulators, each block of four channels runs over every pixel with its requantization
 * prepared once, and the 64-bit MultiplyByQuantizedMultiplier of an int32 x is done in 32-bit
 * steps, exactly (ek_depthwise_conv2d_s16_mve.c gives the identity). Other layers add the
 * int64 bias after and requantize as the reference kernel does. */
#include "ek_dsp.h"

/* Two int16 from any address, as one word. */
static inline int32_t ek_load_halves(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static EK_INLINE void ek_store_s16(const ek_depthwise_conv_params *params,
                                   const ek_channel_quant *quant, const int64_t *bias, int32_t c,
                                   int32_t sum, int16_t *out)
{
    const int64_t acc = (int64_t)sum + (bias != 0 ? bias[c] : 0);
    const int32_t v =
        ek_multiply_by_quantized_multiplier_s64(acc, quant->multiplier[c], quant->shift[c]);
    out[c] = (int16_t)ek_clamp(v, params->act_min, params->act_max);
}

static void ek_depthwise_general(const ek_depthwise_conv_params *params,
                                 const ek_channel_quant *quant, const int16_t *input,
                                 const int8_t *filter, const int64_t *bias, int16_t *output)
{
    const int32_t in_h = params->input_h, in_w = params->input_w, channels = params->input_c;
    const int32_t kh = params->filter_h, kw = params->filter_w;
    const int32_t blocks = channels & ~3;
    int32_t oy, ox, c, ky, kx;

    for (oy = 0; oy < params->output_h; ++oy) {
        const int32_t y0 = oy * params->stride_h - params->pad_top;
        const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = in_h - y0 < kh ? in_h - y0 : kh;
        for (ox = 0; ox < params->output_w; ++ox) {
            const int32_t x0 = ox * params->stride_w - params->pad_left;
            const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = in_w - x0 < kw ? in_w - x0 : kw;
            int16_t *out = output + (oy * params->output_w + ox) * channels;
            for (c = 0; c < blocks; c += 4) {
                int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                for (ky = ky0; ky < ky1; ++ky) {
                    const int16_t *x = input + ((y0 + ky) * in_w + x0 + kx0) * channels + c;
                    const int8_t *w = filter + (ky * kw + kx0) * channels + c;
                    for (kx = kx0; kx < kx1; ++kx, x += channels, w += channels) {
                        const int32_t x01 = ek_load_halves(x), x23 = ek_load_halves(x + 2);
                        const uint32_t wv = ek_load4(w);
                        const int32_t w02 = (int32_t)__sxtb16(wv);
                        const int32_t w13 = (int32_t)ek_sxtb16_ror8(wv);
                        a0 = __smlabb(x01, w02, a0);
                        a1 = __smlatb(x01, w13, a1);
                        a2 = __smlabt(x23, w02, a2);
                        a3 = __smlatt(x23, w13, a3);
                    }
                }
                ek_store_s16(params, quant, bias, c, a0, out);
                ek_store_s16(params, quant, bias, c + 1, a1, out);
                ek_store_s16(params, quant, bias, c + 2, a2, out);
                ek_store_s16(params, quant, bias, c + 3, a3, out);
            }
            for (; c < channels; ++c) {
                int32_t a = 0;
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        a += (int32_t)input[((y0 + ky) * in_w + x0 + kx) * channels + c] *
                             (int32_t)filter[(ky * kw + kx) * channels + c];
                    }
                }
                ek_store_s16(params, quant, bias, c, a, out);
            }
        }
    }
}

/* One channel's requantization in 32-bit steps: its 16-bit multiplier, 2^(t-17) and t - 16. */
typedef struct {
    int32_t r, half, right, bias;
} ek_prepared;

static EK_INLINE ek_prepared ek_prepare(const ek_channel_quant *quant, const int64_t *bias,
                                        int32_t c)
{
    ek_prepared q;
    const int32_t m = quant->multiplier[c], shift = quant->shift[c];
    q.r = m < 0x7FFF0000 ? (m + (1 << 15)) >> 16 : 0x7FFF;
    q.half = 1 << (-2 - shift);
    q.right = -1 - shift;
    q.bias = bias != 0 ? (int32_t)bias[c] : 0;
    return q;
}

static EK_INLINE int16_t ek_requantize_prepared(ek_prepared q, int32_t x, int32_t lo, int32_t hi)
{
    const uint32_t low = ((uint32_t)x & 0xFFFFu) * (uint32_t)q.r;
    const int32_t y = ((x >> 16) * q.r + q.half + (int32_t)(low >> 16)) >> q.right;
    return (int16_t)ek_clamp(y, lo, hi);
}

/* The layer meets the prepared path's bounds (see above). */
static int ek_depthwise_prepared(const ek_depthwise_conv_params *params,
                                 const ek_channel_quant *quant, const int64_t *bias)
{
    int32_t c;
    if (params->filter_h * params->filter_w > 256) {
        return 0;
    }
    for (c = 0; c < params->input_c; ++c) {
        const int64_t b = bias != 0 ? bias[c] : 0;
        if (quant->shift[c] > -2 || quant->shift[c] < -31 || b <= -(1 << 30) || b >= (1 << 30)) {
            return 0;
        }
    }
    return 1;
}

void ek_depthwise_conv2d_s16_dsp(const ek_depthwise_conv_params *params,
                                 const ek_channel_quant *quant, const int16_t *input,
                                 const int8_t *filter, const int64_t *bias, int16_t *output)
{
    const int32_t in_h = params->input_h, in_w = params->input_w, channels = params->input_c;
    const int32_t kh = params->filter_h, kw = params->filter_w;
    const int32_t lo = params->act_min, hi = params->act_max;
    int32_t oy, ox, block, ky, kx;

    if (channels < 4 || !ek_depthwise_prepared(params, quant, bias)) {
        ek_depthwise_general(params, quant, input, filter, bias, output);
        return;
    }
    for (block = 0; block < channels; block += 4) {
        /* a last, partial block overlaps the one before: its channels are written twice, the
         * same bytes */
        const int32_t c = block + 4 <= channels ? block : channels - 4;
        const ek_prepared q0 = ek_prepare(quant, bias, c), q1 = ek_prepare(quant, bias, c + 1);
        const ek_prepared q2 = ek_prepare(quant, bias, c + 2), q3 = ek_prepare(quant, bias, c + 3);
        for (oy = 0; oy < params->output_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_top;
            const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = in_h - y0 < kh ? in_h - y0 : kh;
            int16_t *out = output + oy * params->output_w * channels + c;
            for (ox = 0; ox < params->output_w; ++ox, out += channels) {
                const int32_t x0 = ox * params->stride_w - params->pad_left;
                const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = in_w - x0 < kw ? in_w - x0 : kw;
                int32_t a0 = q0.bias, a1 = q1.bias, a2 = q2.bias, a3 = q3.bias;
                for (ky = ky0; ky < ky1; ++ky) {
                    const int16_t *x = input + ((y0 + ky) * in_w + x0 + kx0) * channels + c;
                    const int8_t *w = filter + (ky * kw + kx0) * channels + c;
                    for (kx = kx0; kx < kx1; ++kx, x += channels, w += channels) {
                        const int32_t x01 = ek_load_halves(x), x23 = ek_load_halves(x + 2);
                        const uint32_t wv = ek_load4(w);
                        const int32_t w02 = (int32_t)__sxtb16(wv);
                        const int32_t w13 = (int32_t)ek_sxtb16_ror8(wv);
                        a0 = __smlabb(x01, w02, a0);
                        a1 = __smlatb(x01, w13, a1);
                        a2 = __smlabt(x23, w02, a2);
                        a3 = __smlatt(x23, w13, a3);
                    }
                }
                out[0] = ek_requantize_prepared(q0, a0, lo, hi);
                out[1] = ek_requantize_prepared(q1, a1, lo, hi);
                out[2] = ek_requantize_prepared(q2, a2, lo, hi);
                out[3] = ek_requantize_prepared(q3, a3, lo, hi);
            }
        }
    }
}
