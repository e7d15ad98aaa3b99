/* CONV_2D, 16x8: int16 input and output (zero point 0), int8 weights per channel. TFLite's
 * reference_integer_ops::ConvPerChannel for int16, whose accumulator has the bias's type: with
 * an int64 bias (or none) int64, requantized with the 64-bit MultiplyByQuantizedMultiplier;
 * with an int32 bias (the _b32 kernels) int32, wrapping, requantized with the 32-bit one.
 * Filter tap (ky, kx) reads input pixel (in_y0 + ky * dilation_h, in_x0 + kx * dilation_w). */
#include "ek_kernels.h"

/* The one loop; the undilated kernel passes dilation 1 as a constant. */
static EK_INLINE void ek_conv2d_s16_run(const ek_conv_params *params, int32_t dilation_h,
                                        int32_t dilation_w, const ek_channel_quant *quant,
                                        const int16_t *input, const int8_t *filter,
                                        const int64_t *bias, const int32_t *bias32,
                                        int16_t *output)
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
                int64_t acc = 0;
                int32_t v;
                for (ky = 0; ky < filter_h; ++ky) {
                    const int32_t in_y = in_y0 + ky * dilation_h;
                    if (in_y < 0 || in_y >= in_h) {
                        continue; /* padding contributes nothing */
                    }
                    for (kx = 0; kx < filter_w; ++kx) {
                        const int32_t in_x = in_x0 + kx * dilation_w;
                        const int16_t *pixel;
                        const int8_t *w;
                        if (in_x < 0 || in_x >= in_w) {
                            continue;
                        }
                        pixel = input + (in_y * in_w + in_x) * in_c;
                        w = weights + (ky * filter_w + kx) * in_c;
                        for (ic = 0; ic < in_c; ++ic) {
                            acc += (int32_t)w[ic] * (int32_t)pixel[ic];
                        }
                    }
                }
                if (bias32 != 0) { /* the int32 sum is the int64 one wrapped */
                    v = ek_multiply_by_quantized_multiplier(
                        (int32_t)(uint32_t)((uint64_t)acc + (uint32_t)bias32[oc]),
                        quant->multiplier[oc], quant->shift[oc]);
                } else {
                    v = ek_multiply_by_quantized_multiplier_s64(acc + (bias != 0 ? bias[oc] : 0),
                                                                quant->multiplier[oc],
                                                                quant->shift[oc]);
                }
                output[(oy * params->output_w + ox) * out_c + oc] =
                    (int16_t)ek_clamp(v, params->act_min, params->act_max);
            }
        }
    }
}

void ek_conv2d_s16_ref(const ek_conv_params *params, const ek_channel_quant *quant,
                       const int16_t *input, const int8_t *filter, const int64_t *bias,
                       int16_t *output)
{
    ek_conv2d_s16_run(params, 1, 1, quant, input, filter, bias, 0, output);
}

void ek_conv2d_dilated_s16_ref(const ek_dilated_conv_params *params,
                               const ek_channel_quant *quant, const int16_t *input,
                               const int8_t *filter, const int64_t *bias, int16_t *output)
{
    ek_conv2d_s16_run(&params->conv, params->dilation_h, params->dilation_w, quant, input,
                      filter, bias, 0, output);
}

void ek_conv2d_b32_s16_ref(const ek_conv_params *params, const ek_channel_quant *quant,
                           const int16_t *input, const int8_t *filter, const int32_t *bias,
                           int16_t *output)
{
    ek_conv2d_s16_run(params, 1, 1, quant, input, filter, 0, bias, output);
}

void ek_conv2d_b32_dilated_s16_ref(const ek_dilated_conv_params *params,
                                   const ek_channel_quant *quant, const int16_t *input,
                                   const int8_t *filter, const int32_t *bias, int16_t *output)
{
    ek_conv2d_s16_run(&params->conv, params->dilation_h, params->dilation_w, quant, input,
                      filter, 0, bias, output);
}
