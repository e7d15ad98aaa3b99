/* DEPTHWISE_CONV_2D, 16x8, depth multiplier 1, for cores with Helium (MVE). The sums of the
 * taps stay in int32: each product is at most 2^22 in magnitude (|input| <= 2^15, |weight| <=
 * 2^7) and the window has at most 511 taps (the variant's rule), so they are the reference
 * kernel's int64 sums. The last, partial vector of channels is predicated (VCTP): its lanes
 * past the channels load zeros and store nothing.
 *
 * Where the window has at most 256 taps, every bias is within +-2^30 and every shift in
 * [-31, -2] (nearly every layer), the sum plus the bias fits in int32 and the whole layer stays
 * in vectors, four channels at a time over every pixel: the bias starts the accumulator,
 * VLDRH.S32 and VLDRB.S32 widen four inputs and weights to int32 lanes, and the 64-bit
 * MultiplyByQuantizedMultiplier of an int32 x is done in 32-bit lanes, exactly: with
 * x = a * 2^16 + b (b its low 16 bits), r the 16-bit multiplier and t = 15 - shift in [17, 46],
 * (x * r + 2^(t-1)) >> t = (a * r + 2^(t-17) + ((b * r) >> 16)) >> (t - 16) (nested floor
 * divisions; |a * r| <= 2^30, 2^(t-17) <= 2^29). Other layers take the general path: eight
 * channels per vector (VLDRB.S16 widening the weights, VMULLB and VMULLT multiplying the even
 * and the odd int16 lanes into int32 products), the int64 bias added after and the reference
 * requantization per channel. */
#include "ek_mve.h"

static void ek_depthwise_general(const ek_depthwise_conv_params *params,
                                 const ek_channel_quant *quant, const int16_t *input,
                                 const int8_t *filter, const int64_t *bias, int16_t *output)
{
    const int32_t in_h = params->input_h, in_w = params->input_w, channels = params->input_c;
    const int32_t kh = params->filter_h, kw = params->filter_w;
    int32_t oy, ox, c, ky, kx, k;
    int32_t sums[8];

    for (oy = 0; oy < params->output_h; ++oy) {
        const int32_t y0 = oy * params->stride_h - params->pad_top;
        const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = in_h - y0 < kh ? in_h - y0 : kh;
        for (ox = 0; ox < params->output_w; ++ox) {
            const int32_t x0 = ox * params->stride_w - params->pad_left;
            const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = in_w - x0 < kw ? in_w - x0 : kw;
            int16_t *out = output + (oy * params->output_w + ox) * channels;
            for (c = 0; c < channels; c += 8) {
                const mve_pred16_t p = vctp16q((uint32_t)(channels - c));
                const int32_t lanes = channels - c < 8 ? channels - c : 8;
                int32x4_t even = vdupq_n_s32(0), odd = vdupq_n_s32(0);
                for (ky = ky0; ky < ky1; ++ky) {
                    const int16_t *x = input + ((y0 + ky) * in_w + x0 + kx0) * channels + c;
                    const int8_t *w = filter + (ky * kw + kx0) * channels + c;
                    for (kx = kx0; kx < kx1; ++kx, x += channels, w += channels) {
                        const int16x8_t xv = vldrhq_z_s16(x, p);
                        const int16x8_t wv = vldrbq_z_s16(w, p);
                        even = vaddq_s32(even, vmullbq_int_s16(xv, wv));
                        odd = vaddq_s32(odd, vmulltq_int_s16(xv, wv));
                    }
                }
                vstrwq_s32(sums, even);
                vstrwq_s32(sums + 4, odd);
                for (k = 0; k < lanes; ++k) { /* channel c + k: lane k / 2 of even or odd */
                    const int32_t part = sums[(k & 1) * 4 + (k >> 1)];
                    const int64_t sum = (int64_t)part + (bias != 0 ? bias[c + k] : 0);
                    const int32_t v = ek_multiply_by_quantized_multiplier_s64(
                        sum, quant->multiplier[c + k], quant->shift[c + k]);
                    out[c + k] = (int16_t)ek_clamp(v, params->act_min, params->act_max);
                }
            }
        }
    }
}

/* The layer meets the vector path's bounds (see above). */
static int ek_depthwise_in_vectors(const ek_depthwise_conv_params *params,
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

void ek_depthwise_conv2d_s16_mve(const ek_depthwise_conv_params *params,
                                 const ek_channel_quant *quant, const int16_t *input,
                                 const int8_t *filter, const int64_t *bias, int16_t *output)
{
    const int32_t in_h = params->input_h, in_w = params->input_w, channels = params->input_c;
    const int32_t kh = params->filter_h, kw = params->filter_w;
    const int32x4_t lo = vdupq_n_s32(params->act_min), hi = vdupq_n_s32(params->act_max);
    int32_t oy, ox, c, ky, kx, k;
    int32_t start[4];

    if (!ek_depthwise_in_vectors(params, quant, bias)) {
        ek_depthwise_general(params, quant, input, filter, bias, output);
        return;
    }
    for (c = 0; c < channels; c += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)(channels - c));
        const uint32x4_t m = vreinterpretq_u32_s32(vldrwq_z_s32(quant->multiplier + c, p));
        const int32x4_t shift = vldrwq_z_s32(quant->shift + c, p);
        /* r = min((m + 2^15) >> 16, 0x7FFF): TFLite's rounding of m to 16 bits */
        const uint32x4_t r = vminq_u32(vshrq_n_u32(vaddq_n_u32(m, 1u << 15), 16),
                                       vdupq_n_u32(0x7FFF));
        const int32x4_t rs = vreinterpretq_s32_u32(r);
        const int32x4_t half = vshlq_s32(vdupq_n_s32(1), vsubq_s32(vdupq_n_s32(-2), shift));
        const int32x4_t right = vaddq_n_s32(shift, 1); /* -(t - 16), a right shift */
        int32x4_t b;
        for (k = 0; k < 4; ++k) {
            start[k] = bias != 0 && c + k < channels ? (int32_t)bias[c + k] : 0;
        }
        b = vldrwq_s32(start);
        for (oy = 0; oy < params->output_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_top;
            const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = in_h - y0 < kh ? in_h - y0 : kh;
            for (ox = 0; ox < params->output_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_left;
                const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = in_w - x0 < kw ? in_w - x0 : kw;
                int32x4_t acc = b, y;
                for (ky = ky0; ky < ky1; ++ky) {
                    const int16_t *x = input + ((y0 + ky) * in_w + x0 + kx0) * channels + c;
                    const int8_t *w = filter + (ky * kw + kx0) * channels + c;
                    for (kx = kx0; kx < kx1; ++kx, x += channels, w += channels) {
                        acc = vaddq_s32(acc, vmulq_s32(vldrhq_z_s32(x, p), vldrbq_z_s32(w, p)));
                    }
                }
                y = vmulq_s32(vshrq_n_s32(acc, 16), rs);
                y = vaddq_s32(vaddq_s32(y, half),
                              vreinterpretq_s32_u32(vshrq_n_u32(
                                  vmulq_u32(vandq_u32(vreinterpretq_u32_s32(acc),
                                                      vdupq_n_u32(0xFFFF)),
                                            r),
                                  16)));
                y = vminq_s32(vmaxq_s32(vshlq_s32(y, right), lo), hi);
                vstrhq_p_s32(output + (oy * params->output_w + ox) * channels + c, y, p);
            }
        }
    }
}
