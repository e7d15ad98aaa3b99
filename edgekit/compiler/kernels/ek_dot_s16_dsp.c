/* 16x8 FULLY_CONNECTED, CONV_2D and TRANSPOSE_CONV for cores with the DSP extension, as dot
 * products of int16 inputs with int8 weight rows (the units', or the output channels' OHWI
 * rows of K = filter_h * filter_w * C_in): SMLALD multiplies two halfword pairs and adds both
 * products to a 64-bit accumulator, so the sums are the reference kernels' int64 ones. Each
 * row's weights are stored in groups of four as w0 w2 w1 w3 (layouts.pairs), so that SXTB16 of
 * a weight word gives the pair (w0, w1) and SXTB16 with ROR 8 the pair (w2, w3), which meet
 * the input words (x0, x1) and (x2, x3) as loaded. Two rows run together, sharing each loaded
 * input word. The requantizations are the reference kernels' (ek_kernels.h).
 *
 * - ek_fully_connected_s16_dsp: FULLY_CONNECTED.
 * - ek_conv2d_1x1_s16_dsp: 1x1 filter, stride 1: each input pixel is the row of inputs; each
 *   pair of output channels runs over every pixel, its multipliers, shifts and bias read once.
 * - ek_conv2d_im2col_s16_dsp: any undilated window: each output pixel's window is copied into
 *   scratch (K int16), padding as zeros (the input zero point is 0).
 * - ek_transpose_conv_s16_dsp: TRANSPOSE_CONV gathered per output pixel (no accumulators in
 *   scratch): output (oy, ox) receives filter tap (ky, kx) of input (iy, ix) where oy = iy *
 *   stride_h - pad_top + ky (likewise for x); each tap is a dot product over the input
 *   channels, its weights paired tap by tap (layouts.pairs). */
#include "ek_dsp.h"

/* Two int16 from any address. */
static inline int16x2_t ek_load_pair(const int16_t *p)
{
    int16x2_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The dot products of x (depth int16) with the weight rows w and w + stride (paired layout),
 * added to *a0 and *a1. */
static EK_INLINE void ek_dot2_s16(const int16_t *x, const int8_t *w, int32_t stride,
                                  int32_t depth, int64_t *a0, int64_t *a1)
{
    int64_t s0 = *a0, s1 = *a1;
    const int8_t *v = w + stride;
    int32_t i;
    for (i = depth >> 2; i > 0; --i) {
        const int16x2_t x01 = ek_load_pair(x), x23 = ek_load_pair(x + 2);
        const uint32_t wa = ek_load4(w), wb = ek_load4(v);
        s0 = __smlald(x01, __sxtb16(wa), s0);
        s0 = __smlald(x23, ek_sxtb16_ror8(wa), s0);
        s1 = __smlald(x01, __sxtb16(wb), s1);
        s1 = __smlald(x23, ek_sxtb16_ror8(wb), s1);
        x += 4;
        w += 4;
        v += 4;
    }
    for (i = depth & 3; i > 0; --i) {
        s0 += (int32_t)*x * (int32_t)*w++;
        s1 += (int32_t)*x++ * (int32_t)*v++;
    }
    *a0 = s0;
    *a1 = s1;
}

/* The dot product of x with one weight row, added to acc. */
static EK_INLINE int64_t ek_dot_s16(const int16_t *x, const int8_t *w, int32_t depth,
                                    int64_t acc)
{
    int32_t i;
    for (i = depth >> 2; i > 0; --i) {
        const uint32_t wv = ek_load4(w);
        acc = __smlald(ek_load_pair(x), __sxtb16(wv), acc);
        acc = __smlald(ek_load_pair(x + 2), ek_sxtb16_ror8(wv), acc);
        x += 4;
        w += 4;
    }
    for (i = depth & 3; i > 0; --i) {
        acc += (int32_t)*x++ * (int32_t)*w++;
    }
    return acc;
}

void ek_fully_connected_s16_dsp(const ek_fully_connected_params *params,
                                const ek_double_scale *scale, const int16_t *input,
                                const int8_t *filter, const int64_t *bias, int16_t *output)
{
    const int32_t depth = params->input_depth, units = params->output_depth;
    const int32_t lo = params->act_min, hi = params->act_max;
    int32_t b, u;

    for (b = 0; b < params->batches; ++b) {
        const int16_t *row = input + b * depth;
        int16_t *out = output + b * units;
        for (u = 0; u < units; u += 2) {
            const int32_t pair = u + 1 < units;
            int64_t a0 = bias != 0 ? bias[u] : 0, a1 = 0;
            int32_t q = params->per_channel ? u : 0, v;
            if (pair) {
                a1 = bias != 0 ? bias[u + 1] : 0;
                ek_dot2_s16(row, filter + u * depth, depth, depth, &a0, &a1);
            } else {
                a0 = ek_dot_s16(row, filter + u * depth, depth, a0);
            }
            v = ek_multiply_by_double_scale_s64(a0, scale->mantissa[q], scale->exponent[q]);
            out[u] = (int16_t)ek_clamp(v, lo, hi);
            if (pair) {
                q = params->per_channel ? u + 1 : 0;
                v = ek_multiply_by_double_scale_s64(a1, scale->mantissa[q], scale->exponent[q]);
                out[u + 1] = (int16_t)ek_clamp(v, lo, hi);
            }
        }
    }
}

/* One output pixel: the row x of K inputs against every output channel's weights. */
static EK_INLINE void ek_conv_pixel_s16(const ek_conv_params *params,
                                        const ek_channel_quant *quant, const int16_t *x,
                                        int32_t depth, const int8_t *filter,
                                        const int64_t *bias, int16_t *out)
{
    const int32_t out_c = params->output_c;
    int32_t oc;
    for (oc = 0; oc < out_c; oc += 2) {
        int64_t a0 = bias != 0 ? bias[oc] : 0, a1 = 0;
        int32_t v;
        if (oc + 1 < out_c) {
            a1 = bias != 0 ? bias[oc + 1] : 0;
            ek_dot2_s16(x, filter + oc * depth, depth, depth, &a0, &a1);
            v = ek_multiply_by_quantized_multiplier_s64(a1, quant->multiplier[oc + 1],
                                                        quant->shift[oc + 1]);
            out[oc + 1] = (int16_t)ek_clamp(v, params->act_min, params->act_max);
        } else {
            a0 = ek_dot_s16(x, filter + oc * depth, depth, a0);
        }
        v = ek_multiply_by_quantized_multiplier_s64(a0, quant->multiplier[oc], quant->shift[oc]);
        out[oc] = (int16_t)ek_clamp(v, params->act_min, params->act_max);
    }
}

void ek_conv2d_1x1_s16_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                           const int16_t *input, const int8_t *filter, const int64_t *bias,
                           int16_t *output)
{
    const int32_t pixels = params->output_h * params->output_w, in_c = params->input_c;
    const int32_t out_c = params->output_c, lo = params->act_min, hi = params->act_max;
    int32_t oc, p;

    for (oc = 0; oc < out_c; oc += 2) { /* each pair's multipliers, shifts and bias read once */
        const int pair = oc + 1 < out_c;
        const int32_t next = pair ? oc + 1 : oc; /* an odd last channel is computed twice */
        const int32_t m0 = quant->multiplier[oc], m1 = quant->multiplier[next];
        const int32_t s0 = quant->shift[oc], s1 = quant->shift[next];
        const int64_t b0 = bias != 0 ? bias[oc] : 0, b1 = bias != 0 ? bias[next] : 0;
        const int8_t *w = filter + oc * in_c;
        const int32_t stride = (next - oc) * in_c;
        for (p = 0; p < pixels; ++p) {
            int16_t *out = output + p * out_c + oc;
            int64_t a0 = b0, a1 = b1;
            ek_dot2_s16(input + p * in_c, w, stride, in_c, &a0, &a1);
            out[0] = (int16_t)ek_clamp(ek_multiply_by_quantized_multiplier_s64(a0, m0, s0), lo, hi);
            if (pair) {
                out[1] = (int16_t)ek_clamp(ek_multiply_by_quantized_multiplier_s64(a1, m1, s1),
                                           lo, hi);
            }
        }
    }
}

void ek_conv2d_im2col_s16_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                              const int16_t *input, const int8_t *filter, const int64_t *bias,
                              int16_t *output, void *scratch)
{
    int16_t *column = (int16_t *)scratch;
    const int32_t in_h = params->input_h, in_w = params->input_w, in_c = params->input_c;
    const int32_t kh = params->filter_h, kw = params->filter_w;
    const int32_t depth = kh * kw * in_c;
    int32_t oy, ox, ky, kx;

    for (oy = 0; oy < params->output_h; ++oy) {
        const int32_t y0 = oy * params->stride_h - params->pad_top;
        for (ox = 0; ox < params->output_w; ++ox) {
            const int32_t x0 = ox * params->stride_w - params->pad_left;
            int16_t *to = column;
            for (ky = 0; ky < kh; ++ky) {
                const int32_t y = y0 + ky;
                for (kx = 0; kx < kw; ++kx, to += in_c) {
                    const int32_t x = x0 + kx;
                    if (y < 0 || y >= in_h || x < 0 || x >= in_w) {
                        memset(to, 0, (size_t)in_c * sizeof *to);
                    } else {
                        memcpy(to, input + (y * in_w + x) * in_c, (size_t)in_c * sizeof *to);
                    }
                }
            }
            ek_conv_pixel_s16(params, quant, column, depth, filter, bias,
                              output + (oy * params->output_w + ox) * params->output_c);
        }
    }
}

/* The first filter tap along one axis that output position o receives (o + pad >= 0). */
static inline int32_t ek_first_tap(int32_t o, int32_t pad, int32_t stride)
{
    return (o + pad) % stride;
}

void ek_transpose_conv_s16_dsp(const ek_transpose_conv_params *params,
                               const ek_channel_quant *quant, const int16_t *input,
                               const int8_t *filter, const int64_t *bias, int16_t *output)
{
    const int32_t in_h = params->input_h, in_w = params->input_w, in_c = params->input_c;
    const int32_t out_c = params->output_c, sh = params->stride_h, sw = params->stride_w;
    const int32_t filter_h = params->filter_h, filter_w = params->filter_w;
    const int32_t filter_size = filter_h * filter_w * in_c; /* one output channel's weights */
    int32_t oy, ox, oc, ky, kx;

    for (oc = 0; oc < out_c; oc += 2) { /* each pair's requantization constants read once */
        const int pair = oc + 1 < out_c;
        const int32_t next = pair ? oc + 1 : oc; /* an odd last channel is computed twice */
        const int32_t m0 = quant->multiplier[oc], m1 = quant->multiplier[next];
        const int32_t s0 = quant->shift[oc], s1 = quant->shift[next];
        const int64_t b0 = bias != 0 ? bias[oc] : 0, b1 = bias != 0 ? bias[next] : 0;
        const int8_t *weights = filter + oc * filter_size;
        const int32_t stride = (next - oc) * filter_size;
        int16_t *out = output + oc;
        for (oy = 0; oy < params->output_h; ++oy) {
            for (ox = 0; ox < params->output_w; ++ox, out += out_c) {
                int64_t a0 = b0, a1 = b1;
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
                            ek_dot2_s16(input + (iy * in_w + ix) * in_c,
                                        weights + (ky * filter_w + kx) * in_c, stride, in_c, &a0,
                                        &a1);
                        }
                    }
                }
                out[0] = (int16_t)ek_clamp(ek_multiply_by_quantized_multiplier_s64(a0, m0, s0),
                                           -32768, 32767);
                if (pair) {
                    out[1] = (int16_t)ek_clamp(
                        ek_multiply_by_quantized_multiplier_s64(a1, m1, s1), -32768, 32767);
                }
            }
        }
    }
}
