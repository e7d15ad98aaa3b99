/* DEPTHWISE_CONV_2D, 16x8: TFLite's reference_integer_ops::DepthwiseConvPerChannel for int16
 * input (zero point 0), int8 weights per channel, int64 bias and accumulators, requantized with
 * the 64-bit MultiplyByQuantizedMultiplier. Filter tap (ky, kx) reads input pixel
 * (in_y0 + ky * dilation_h, in_x0 + kx * dilation_w). */
#include "ek_kernels.h"

/* The one loop; the undilated kernel passes dilation 1 as a constant. */
static EK_INLINE void ek_depthwise_conv2d_s16_run(const ek_depthwise_conv_params *params,
                                                  int32_t dilation_h, int32_t dilation_w,
                                                  const ek_channel_quant *quant,
                                                  const int16_t *input, const int8_t *filter,
                                                  const int64_t *bias, int16_t *output)
{
    const int32_t in_h = params->input_h, in_w = params->input_w, in_c = params->input_c;
    const int32_t mult = params->depth_multiplier;
    const int32_t out_c = in_c * mult;
    const int32_t filter_h = params->filter_h, filter_w = params->filter_w;
    int32_t oy, ox, ic, m, ky, kx;

    for (oy = 0; oy < params->output_h; ++oy) {
        const int32_t in_y0 = oy * params->stride_h - params->pad_top;
        for (ox = 0; ox < params->output_w; ++ox) {
            const int32_t in_x0 = ox * params->stride_w - params->pad_left;
            for (ic = 0; ic < in_c; ++ic) {
                for (m = 0; m < mult; ++m) {
                    const int32_t oc = ic * mult + m;
                    int64_t acc = 0;
                    int32_t v;
                    for (ky = 0; ky < filter_h; ++ky) {
                        const int32_t in_y = in_y0 + ky * dilation_h;
                        if (in_y < 0 || in_y >= in_h) {
                            continue; /* padding contributes nothing */
                        }
                        for (kx = 0; kx < filter_w; ++kx) {
                            const int32_t in_x = in_x0 + kx * dilation_w;
                            if (in_x < 0 || in_x >= in_w) {
                                continue;
                            }
                            acc += (int32_t)filter[(ky * filter_w + kx) * out_c + oc] *
                                   (int32_t)input[(in_y * in_w + in_x) * in_c + ic];
                        }
                    }
                    if (bias != 0) {
                        acc += bias[oc];
                    }
                    v = ek_multiply_by_quantized_multiplier_s64(acc, quant->multiplier[oc],
                                                                quant->shift[oc]);
                    output[(oy * params->output_w + ox) * out_c + oc] =
                        (int16_t)ek_clamp(v, params->act_min, params->act_max);
                }
            }
        }
    }
}

void ek_depthwise_conv2d_s16_ref(const ek_depthwise_conv_params *params,
                                 const ek_channel_quant *quant, const int16_t *input,
                                 const int8_t *filter, const int64_t *bias, int16_t *output)
{
    ek_depthwise_conv2d_s16_run(params, 1, 1, quant, input, filter, bias, output);
}

void ek_depthwise_conv2d_dilated_s16_ref(const ek_dilated_depthwise_conv_params *params,
                                         const ek_channel_quant *quant, const int16_t *input,
                                         const int8_t *filter, const int64_t *bias,
                                         int16_t *output)
{
    ek_depthwise_conv2d_s16_run(&params->conv, params->dilation_h, params->dilation_w, quant,
                                input, filter, bias, output);
}
