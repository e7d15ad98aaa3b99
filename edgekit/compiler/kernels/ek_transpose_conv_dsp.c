/* TRANSPOSE_CONV, int8 with per-channel weights, for cores with the DSP extension. The
 * reference kernel scatters each input pixel through the filter into int32 accumulators; this
 * one gathers instead, output pixel by output pixel, with no scratch: output (oy, ox) receives
 * filter tap (ky, kx) of input (iy, ix) where oy = iy * stride_h - pad_top + ky (likewise for
 * x), so its taps are those ky = (oy + pad_top) mod stride_h + k * stride_h whose iy falls in
 * the input. Each tap is a dot product over the input channels (contiguous in the NHWC input
 * and the OHWI filter): SXTAB16 widens two input bytes and adds the input offset, SMLAD
 * multiplies two pairs and accumulates; two output channels share each loaded input word, and
 * each pair's requantization constants are prepared once (the pair's loop runs over every
 * output pixel). The sums are the same integers as the reference kernel's (integer sums do not
 * depend on their order), then the same bias, requantization (ek_dsp.h's exact forms) and int8
 * clamp. */
#include "ek_dsp.h"

/* Lanes 1 and 3 of x, sign-extended, added to the halfwords of a: SXTAB16 with ROR #8. */
static inline int16x2_t ek_sxtab16_ror8(int16x2_t a, uint32_t x)
{
#if defined(__GNUC__)
    int16x2_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
#else
    return __sxtab16(a, __ror(x, 8));
#endif
}

/* The dot products of depth input values (plus the offset, in both halfwords of off) with two
 * rows of weights, w and w + stride, added to *a0 and *a1. */
static EK_INLINE void ek_tap_2(const int8_t *x, const int8_t *w, int32_t stride, int32_t depth,
                               int16x2_t off, int32_t offset, int32_t *a0, int32_t *a1)
{
    int32_t s0 = *a0, s1 = *a1, i;
    for (i = depth >> 2; i > 0; --i, x += 4, w += 4) {
        const uint32_t xv = ek_load4(x), wa = ek_load4(w), wb = ek_load4(w + stride);
        const int16x2_t x0 = __sxtab16(off, xv), x1 = ek_sxtab16_ror8(off, xv);
        s0 = __smlad(x0, __sxtb16(wa), s0);
        s0 = __smlad(x1, ek_sxtb16_ror8(wa), s0);
        s1 = __smlad(x0, __sxtb16(wb), s1);
        s1 = __smlad(x1, ek_sxtb16_ror8(wb), s1);
    }
    for (i = depth & 3; i > 0; --i, ++x, ++w) {
        const int32_t v = (int32_t)*x + offset;
        s0 += v * (int32_t)w[0];
        s1 += v * (int32_t)w[stride];
    }
    *a0 = s0;
    *a1 = s1;
}

/* The first filter tap along one axis that output position o receives (o + pad >= 0). */
static inline int32_t ek_first_tap(int32_t o, int32_t pad, int32_t stride)
{
    return (o + pad) % stride;
}

static EK_INLINE void ek_transpose_conv_run(const ek_transpose_conv_params *params,
                                            const ek_channel_quant *quant, const int8_t *input,
                                            const int8_t *filter, const int32_t *bias,
                                            int8_t *output, int fast)
{
    const int32_t in_h = params->input_h, in_w = params->input_w, in_c = params->input_c;
    const int32_t out_c = params->output_c, sh = params->stride_h, sw = params->stride_w;
    const int32_t filter_h = params->filter_h, filter_w = params->filter_w;
    const int32_t filter_size = filter_h * filter_w * in_c; /* one output channel's weights */
    const int32_t offset = params->input_offset;
    const int16x2_t off = (int16x2_t)(((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset);
    int32_t oy, ox, oc, ky, kx;

    for (oc = 0; oc < out_c; oc += 2) { /* each pair's requantization prepared once */
        const int pair = oc + 1 < out_c;
        const int32_t next = pair ? oc + 1 : oc; /* an odd last channel is computed twice */
        const ek_channel c0 =
            ek_channel_at(quant->multiplier, quant->shift, oc, params->output_offset, fast);
        const ek_channel c1 =
            ek_channel_at(quant->multiplier, quant->shift, next, params->output_offset, fast);
        const int32_t b0 = bias != 0 ? bias[oc] : 0, b1 = bias != 0 ? bias[next] : 0;
        const int8_t *weights = filter + oc * filter_size;
        const int32_t stride = (next - oc) * filter_size;
        int8_t *out = output + oc;
        for (oy = 0; oy < params->output_h; ++oy) {
            for (ox = 0; ox < params->output_w; ++ox, out += out_c) {
                int32_t a0 = b0, a1 = b1;
                for (ky = ek_first_tap(oy, params->pad_top, sh); ky < filter_h; ky += sh) {
                    const int32_t iy = (oy + params->pad_top - ky) / sh; /* exact */
                    if (iy < 0) {
                        break; /* and every later tap */
                    }
                    if (iy >= in_h) {
                        continue;
                    }
                    for (kx = ek_first_tap(ox, params->pad_left, sw); kx < filter_w; kx += sw) {
                        const int32_t ix = (ox + params->pad_left - kx) / sw;
                        if (ix < 0) {
                            break;
                        }
                        if (ix < in_w) {
                            ek_tap_2(input + (iy * in_w + ix) * in_c,
                                     weights + (ky * filter_w + kx) * in_c, stride, in_c, off,
                                     offset, &a0, &a1);
                        }
                    }
                }
                out[0] = ek_requantize_to(c0, a0, INT8_MIN, INT8_MAX, fast);
                if (pair) {
                    out[1] = ek_requantize_to(c1, a1, INT8_MIN, INT8_MAX, fast);
                }
            }
        }
    }
}

void ek_transpose_conv_s8_dsp(const ek_transpose_conv_params *params,
                              const ek_channel_quant *quant, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, int8_t *output)
{
    if (ek_fast_path(quant->shift, params->output_c, INT8_MIN, INT8_MAX)) {
        ek_transpose_conv_run(params, quant, input, filter, bias, output, 1);
    } else {
        ek_transpose_conv_run(params, quant, input, filter, bias, output, 0);
    }
}
