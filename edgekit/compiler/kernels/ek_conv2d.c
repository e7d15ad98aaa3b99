/* CONV_2D, int8 with per-channel weights: TFLite's reference_integer_ops::ConvPerChannel,
 * filter tap (ky, kx) reading input pixel (in_y0 + ky * dilation_h, in_x0 + kx * dilation_w). */
#include "ek_kernels.h"

/* The one loop; the undilated kernel passes dilation 1 as a constant. */
static EK_INLINE void ek_conv2d_run(const ek_conv_params *params, int32_t dilation_h,
                                    int32_t dilation_w, const ek_channel_quant *quant,
                                    const int8_t *input, const int8_t *filter,
                                    const int32_t *bias, int8_t *output)
{
    const int32_t in_h = params->input_h, in_w = params->input_w, in_c = params->input_c;
    const int32_t out_c = params->output_c;
    const int32_t filter_h = params->filter_h, filter_w = params->filter_w;
    int32_t oy, ox, oc, ky, kx, ic;

    for (oy = 0; oy < params->output_h; ++oy) {
        const int32_t in_y0 = oy * params->stride_h - params->pad_top;
        for (ox = 0; ox < params->output_w; ++ox) {
            const int32_t in_x0 = ox * params->stride_w - params->pad_left;
            for (oc = 0; oc < out_c; ++oc) {
                const int8_t *weights = filter + (int32_t)oc * filter_h * filter_w * in_c;
                int32_t acc = 0;
                for (ky = 0; ky < filter_h; ++ky) {
                    const int32_t in_y = in_y0 + ky * dilation_h;
                    if (in_y < 0 || in_y >= in_h) {
                        continue; /* padding contributes nothing */
                    }
                    for (kx = 0; kx < filter_w; ++kx) {
                        const int32_t in_x = in_x0 + kx * dilation_w;
                        const int8_t *pixel;
                        const int8_t *w;
                        if (in_x < 0 || in_x >= in_w) {
                            continue;
                        }
                        pixel = input + (in_y * in_w + in_x) * in_c;
                        w = weights + (ky * filter_w + kx) * in_c;
                        for (ic = 0; ic < in_c; ++ic) {
                            acc += (int32_t)w[ic] * ((int32_t)pixel[ic] + params->input_offset);
                        }
                    }
                }
                if (bias != 0) {
                    acc += bias[oc];
                }
                acc = ek_multiply_by_quantized_multiplier(acc, quant->multiplier[oc],
                                                          quant->shift[oc]);
                acc += params->output_offset;
                output[(oy * params->output_w + ox) * out_c + oc] =
                    (int8_t)ek_clamp(acc, params->act_min, params->act_max);
            }
        }
    }
}

void ek_conv2d_s8_ref(const ek_conv_params *params, const ek_channel_quant *quant,
                      const int8_t *input, const int8_t *filter, const int32_t *bias,
                      int8_t *output)
{
    ek_conv2d_run(params, 1, 1, quant, input, filter, bias, output);
}

void ek_conv2d_dilated_s8_ref(const ek_dilated_conv_params *params,
                              const ek_channel_quant *quant, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, int8_t *output)
{
    ek_conv2d_run(&params->conv, params->dilation_h, params->dilation_w, quant, input, filter,
                  bias, output);
}
