/* TRANSPOSE_CONV, int8 with per-channel weights, for cores with Helium (MVE). Gathered output
 * pixel by output pixel, with no scratch, as ek_transpose_conv_dsp.c explains: each filter tap
 * whose input falls in the image is a dot product over the input channels (contiguous in the
 * NHWC input and the OHWI filter), 16 at a time (VMLADAVA.S8; the last partial vector
 * predicated, its inactive lanes loaded as 0), for four output channels at once that share
 * each loaded input vector; the input offset is added as offset times the sum of the tap's
 * weights (VADDVA.S8). The four sums, plus bias, are requantized together as ek_mve_requantize
 * does, with constants loaded once per group of four channels (whose loop runs over every
 * output pixel). The same integers as the reference kernel's, so the same bytes. */
#include "ek_mve.h"

/* The first filter tap along one axis that output position o receives (o + pad >= 0). */
static inline int32_t ek_first_tap(int32_t o, int32_t pad, int32_t stride)
{
    return (o + pad) % stride;
}

/* One tap of four output channels (weights w + lane[0] .. w + lane[3]): the dot products
 * with depth input values, and the weights' sums. */
static EK_INLINE void ek_tap_4(const int8_t *x, const int8_t *w, const int32_t *lane,
                               int32_t depth, int32_t *acc, int32_t *sum)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t s0 = sum[0], s1 = sum[1], s2 = sum[2], s3 = sum[3], i;
    for (i = 0; i < depth; i += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(depth - i));
        const int8x16_t xv = vldrbq_z_s8(x + i, p);
        const int8x16_t w0 = vldrbq_z_s8(w + lane[0] + i, p);
        const int8x16_t w1 = vldrbq_z_s8(w + lane[1] + i, p);
        const int8x16_t w2 = vldrbq_z_s8(w + lane[2] + i, p);
        const int8x16_t w3 = vldrbq_z_s8(w + lane[3] + i, p);
        a0 = vmladavaq_s8(a0, xv, w0);
        a1 = vmladavaq_s8(a1, xv, w1);
        a2 = vmladavaq_s8(a2, xv, w2);
        a3 = vmladavaq_s8(a3, xv, w3);
        s0 = vaddvaq_s8(s0, w0);
        s1 = vaddvaq_s8(s1, w1);
        s2 = vaddvaq_s8(s2, w2);
        s3 = vaddvaq_s8(s3, w3);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
    sum[0] = s0, sum[1] = s1, sum[2] = s2, sum[3] = s3;
}

/* Four values as one vector. */
static EK_INLINE int32x4_t ek_lanes(const int32_t *v)
{
    int32x4_t r = vdupq_n_s32(v[0]);
    r = vsetq_lane_s32(v[1], r, 1);
    r = vsetq_lane_s32(v[2], r, 2);
    return vsetq_lane_s32(v[3], r, 3);
}

void ek_transpose_conv_s8_mve(const ek_transpose_conv_params *params,
                              const ek_channel_quant *quant, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const int32_t in_h = params->input_h, in_w = params->input_w, in_c = params->input_c;
    const int32_t out_c = params->output_c, sh = params->stride_h, sw = params->stride_w;
    const int32_t filter_h = params->filter_h, filter_w = params->filter_w;
    const int32_t filter_size = filter_h * filter_w * in_c; /* one output channel's weights */
    int32_t oy, ox, oc, ky, kx;

    for (oc = 0; oc < out_c; oc += 4) {
        const int32_t lanes = out_c - oc < 4 ? out_c - oc : 4;
        const mve_pred16_t p = vctp32q((uint32_t)lanes);
        const ek_mve_quant q = ek_mve_quant_at(quant->multiplier, quant->shift, oc, lanes,
                                               params->output_offset, INT8_MIN, INT8_MAX);
        const int32x4_t b = bias != 0 ? vldrwq_z_s32(bias + oc, p) : vdupq_n_s32(0);
        /* each lane's weights; lanes past the last channel repeat its (read, never stored) */
        int32_t lane[4], j;
        const int8_t *weights = filter + oc * filter_size;
        int8_t *out = output + oc;
        for (j = 0; j < 4; ++j) {
            lane[j] = (j < lanes ? j : lanes - 1) * filter_size;
        }
        for (oy = 0; oy < params->output_h; ++oy) {
            for (ox = 0; ox < params->output_w; ++ox, out += out_c) {
                int32_t acc[4] = {0, 0, 0, 0}, sum[4] = {0, 0, 0, 0};
                int32x4_t total;
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
                            ek_tap_4(input + (iy * in_w + ix) * in_c,
                                     weights + (ky * filter_w + kx) * in_c, lane, in_c, acc,
                                     sum);
                        }
                    }
                }
                total = vaddq_s32(ek_lanes(acc), b); /* (the arrays stay in registers) */
                total = vmlaq_n_s32(total, ek_lanes(sum), params->input_offset);
                vstrbq_p_s32(out, ek_mve_requantize_as(total, &q, EK_MVE_GENERAL), p);
            }
        }
    }
}
