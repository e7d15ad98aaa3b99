/* 16x8 FULLY_CONNECTED, CONV_2D and TRANSPOSE_CONV for cores with Helium (MVE), as dot products
 * of int16 inputs with int8 weight rows (the units', or the output channels' OHWI rows of
 * K = filter_h * filter_w * C_in, as stored): VLDRB.S16 widens eight weights to int16 lanes as
 * it loads them, and VMLALDAVA.S16 adds the eight products of two int16 vectors to a 64-bit
 * accumulator, so the sums are the reference kernels' int64 ones. Four rows run together,
 * sharing each loaded input vector; the last, partial vector of a row is predicated (VCTP), so
 * nothing past a row is read. The requantizations are the reference kernels' (ek_kernels.h).
 *
 * - ek_fully_connected_s16_mve: FULLY_CONNECTED.
 * - ek_conv2d_1x1_s16_mve: 1x1 filter, stride 1: each input pixel is the row of inputs; each
 *   block of four output channels runs over every pixel, its multipliers, shifts and bias read
 *   once.
 * - ek_conv2d_im2col_s16_mve: any undilated window: each output pixel's window is copied into
 *   scratch (K int16), padding as zeros (the input zero point is 0).
 * - ek_transpose_conv_s16_mve: TRANSPOSE_CONV gathered per output pixel (no accumulators in
 *   scratch): output (oy, ox) receives filter tap (ky, kx) of input (iy, ix) where oy = iy *
 *   stride_h - pad_top + ky (likewise for x); each tap is a dot product over the input
 *   channels, for four output channels at a time. */
#include <string.h>

#include "ek_mve.h"

/* The dot products of x (depth int16) with ``rows`` (1 to 4) weight rows, w, w + stride, ...,
 * added to acc[0 .. rows - 1]. */
static EK_INLINE void ek_dot4_s16(const int16_t *x, const int8_t *w, int32_t stride,
                                  int32_t depth, int32_t rows, int64_t *acc)
{
    int64_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
    int32_t i;
    for (i = 0; i < depth; i += 8) {
        const mve_pred16_t p = vctp16q((uint32_t)(depth - i));
        const int16x8_t xv = vldrhq_z_s16(x + i, p);
        s0 = vmlaldavaq_s16(s0, xv, vldrbq_z_s16(w + i, p));
        if (rows > 1) {
            s1 = vmlaldavaq_s16(s1, xv, vldrbq_z_s16(w + stride + i, p));
        }
        if (rows > 2) {
            s2 = vmlaldavaq_s16(s2, xv, vldrbq_z_s16(w + 2 * stride + i, p));
        }
        if (rows > 3) {
            s3 = vmlaldavaq_s16(s3, xv, vldrbq_z_s16(w + 3 * stride + i, p));
        }
    }
    acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}

/* acc[k] (k < rows) for rows r .. r + rows - 1: the bias where there is one, then the dots. */
static EK_INLINE void ek_rows_s16(const int16_t *x, const int8_t *filter, const int64_t *bias,
                                  int32_t depth, int32_t r, int32_t rows, int64_t *acc)
{
    int32_t k;
    for (k = 0; k < 4; ++k) {
        acc[k] = bias != 0 && k < rows ? bias[r + k] : 0;
    }
    if (rows == 4) { /* the common case, its loop without the row tests */
        ek_dot4_s16(x, filter + r * depth, depth, depth, 4, acc);
    } else {
        ek_dot4_s16(x, filter + r * depth, depth, depth, rows, acc);
    }
}

void ek_fully_connected_s16_mve(const ek_fully_connected_params *params,
                                const ek_double_scale *scale, const int16_t *input,
                                const int8_t *filter, const int64_t *bias, int16_t *output)
{
    const int32_t depth = params->input_depth, units = params->output_depth;
    int32_t b, u, k;
    int64_t acc[4];

    for (b = 0; b < params->batches; ++b) {
        const int16_t *row = input + b * depth;
        int16_t *out = output + b * units;
        for (u = 0; u < units; u += 4) {
            const int32_t rows = units - u < 4 ? units - u : 4;
            ek_rows_s16(row, filter, bias, depth, u, rows, acc);
            for (k = 0; k < rows; ++k) {
                const int32_t q = params->per_channel ? u + k : 0;
                const int32_t v =
                    ek_multiply_by_double_scale_s64(acc[k], scale->mantissa[q], scale->exponent[q]);
                out[u + k] = (int16_t)ek_clamp(v, params->act_min, params->act_max);
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
    int32_t oc, k;
    int64_t acc[4];
    for (oc = 0; oc < out_c; oc += 4) {
        const int32_t rows = out_c - oc < 4 ? out_c - oc : 4;
        ek_rows_s16(x, filter, bias, depth, oc, rows, acc);
        for (k = 0; k < rows; ++k) {
            const int32_t v = ek_multiply_by_quantized_multiplier_s64(
                acc[k], quant->multiplier[oc + k], quant->shift[oc + k]);
            out[oc + k] = (int16_t)ek_clamp(v, params->act_min, params->act_max);
        }
    }
}

/* Four output channels (rows of them, 1 to 4) from oc on, over every pixel: each channel's
 * multiplier, shift and bias read once. */
static EK_INLINE void ek_conv_1x1_block(const ek_conv_params *params,
                                        const ek_channel_quant *quant, const int16_t *input,
                                        const int8_t *filter, const int64_t *bias,
                                        int16_t *output, int32_t oc, int32_t rows)
{
    const int32_t pixels = params->output_h * params->output_w, in_c = params->input_c;
    const int32_t out_c = params->output_c, lo = params->act_min, hi = params->act_max;
    const int8_t *w = filter + oc * in_c;
    int32_t m[4], s[4], p, k;
    int64_t b[4], acc[4];
    for (k = 0; k < 4; ++k) {
        const int32_t c = k < rows ? oc + k : oc;
        m[k] = quant->multiplier[c], s[k] = quant->shift[c];
        b[k] = bias != 0 ? bias[c] : 0;
    }
    for (p = 0; p < pixels; ++p) {
        int16_t *out = output + p * out_c + oc;
        acc[0] = b[0], acc[1] = b[1], acc[2] = b[2], acc[3] = b[3];
        ek_dot4_s16(input + p * in_c, w, in_c, in_c, rows, acc);
        for (k = 0; k < rows; ++k) {
            const int32_t v = ek_multiply_by_quantized_multiplier_s64(acc[k], m[k], s[k]);
            out[k] = (int16_t)ek_clamp(v, lo, hi);
        }
    }
}

void ek_conv2d_1x1_s16_mve(const ek_conv_params *params, const ek_channel_quant *quant,
                           const int16_t *input, const int8_t *filter, const int64_t *bias,
                           int16_t *output)
{
    const int32_t out_c = params->output_c;
    int32_t oc;
    for (oc = 0; oc + 4 <= out_c; oc += 4) {
        ek_conv_1x1_block(params, quant, input, filter, bias, output, oc, 4);
    }
    if (oc < out_c) {
        ek_conv_1x1_block(params, quant, input, filter, bias, output, oc, out_c - oc);
    }
}

void ek_conv2d_im2col_s16_mve(const ek_conv_params *params, const ek_channel_quant *quant,
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

/* One block of ``rows`` (1 to 4) output channels from oc on, over every output pixel. */
static EK_INLINE void ek_transpose_block_s16(const ek_transpose_conv_params *params,
                                             const ek_channel_quant *quant,
                                             const int16_t *input, const int8_t *filter,
                                             const int64_t *bias, int16_t *output, int32_t oc,
                                             int32_t rows)
{
    const int32_t in_h = params->input_h, in_w = params->input_w, in_c = params->input_c;
    const int32_t out_c = params->output_c, sh = params->stride_h, sw = params->stride_w;
    const int32_t filter_h = params->filter_h, filter_w = params->filter_w;
    const int32_t filter_size = filter_h * filter_w * in_c; /* one output channel's weights */
    const int8_t *weights = filter + oc * filter_size;
    int16_t *out = output + oc;
    int32_t oy, ox, ky, kx, k;
    int64_t acc[4];

    for (oy = 0; oy < params->output_h; ++oy) {
        for (ox = 0; ox < params->output_w; ++ox, out += out_c) {
            for (k = 0; k < 4; ++k) {
                acc[k] = bias != 0 && k < rows ? bias[oc + k] : 0;
            }
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
                        ek_dot4_s16(input + (iy * in_w + ix) * in_c,
                                    weights + (ky * filter_w + kx) * in_c, filter_size, in_c,
                                    rows, acc);
                    }
                }
            }
            for (k = 0; k < rows; ++k) {
                const int32_t v = ek_multiply_by_quantized_multiplier_s64(
                    acc[k], quant->multiplier[oc + k], quant->shift[oc + k]);
                out[k] = (int16_t)ek_clamp(v, -32768, 32767);
            }
        }
    }
}

void ek_transpose_conv_s16_mve(const ek_transpose_conv_params *params,
                               const ek_channel_quant *quant, const int16_t *input,
                               const int8_t *filter, const int64_t *bias, int16_t *output)
{
    const int32_t out_c = params->output_c;
    int32_t oc;
    for (oc = 0; oc + 4 <= out_c; oc += 4) {
        ek_transpose_block_s16(params, quant, input, filter, bias, output, oc, 4);
    }
    if (oc < out_c) {
        ek_transpose_block_s16(params, quant, input, filter, bias, output, oc, out_c - oc);
    }
}
