/* TRANSPOSE_CONV, int8 with per-channel weights: TFLite's reference_integer_ops::TransposeConv.
 * Every input pixel scatters its products into int32 accumulators (scratch), then each
 * accumulator, plus its bias, is requantized per output channel and clamped to int8. */
#include "ek_kernels.h"

void ek_transpose_conv_s8_ref(const ek_transpose_conv_params *params,
                              const ek_channel_quant *quant, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, int8_t *output,
                              void *scratch)
{
    int32_t *acc = (int32_t *)scratch;
    const int32_t in_c = params->input_c, out_c = params->output_c;
    const int32_t out_h = params->output_h, out_w = params->output_w;
    const int32_t filter_h = params->filter_h, filter_w = params->filter_w;
    const int32_t size = out_h * out_w * out_c;
    int32_t i, iy, ix, ic, ky, kx, oc;

    for (i = 0; i < size; ++i) {
        acc[i] = 0;
    }
    for (iy = 0; iy < params->input_h; ++iy) {
        const int32_t oy0 = iy * params->stride_h - params->pad_top;
        for (ix = 0; ix < params->input_w; ++ix) {
            const int32_t ox0 = ix * params->stride_w - params->pad_left;
            const int8_t *pixel = input + (iy * params->input_w + ix) * in_c;
            for (ic = 0; ic < in_c; ++ic) {
                const int32_t value = (int32_t)pixel[ic] + params->input_offset;
                for (ky = 0; ky < filter_h; ++ky) {
                    const int32_t oy = oy0 + ky;
                    if (oy < 0 || oy >= out_h) {
                        continue; /* outside the output: TFLite drops it */
                    }
                    for (kx = 0; kx < filter_w; ++kx) {
                        const int32_t ox = ox0 + kx;
                        int32_t *out;
                        const int8_t *w;
                        if (ox < 0 || ox >= out_w) {
                            continue;
                        }
                        out = acc + (oy * out_w + ox) * out_c;
                        w = filter + (ky * filter_w + kx) * in_c + ic;
                        for (oc = 0; oc < out_c; ++oc) {
                            out[oc] += value * w[oc * filter_h * filter_w * in_c];
                        }
                    }
                }
            }
        }
    }
    for (i = 0; i < size; ++i) {
        const int32_t channel = i % out_c;
        int32_t v = acc[i] + (bias != 0 ? bias[channel] : 0);
        v = ek_multiply_by_quantized_multiplier(v, quant->multiplier[channel],
                                                quant->shift[channel]);
        output[i] = (int8_t)ek_clamp(v + params->output_offset, -128, 127);
    }
}
