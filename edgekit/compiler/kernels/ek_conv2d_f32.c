/* CONV_2D and DEPTHWISE_CONV_2D in float32, as TFLite's reference float kernels compute them:
 * each output sums its taps inside the input (dilated, padding reads nothing) in the order
 * filter row, filter column, input channel; the bias is added to the sum, then the fused
 * activation clamps. */
#include <stddef.h>

#include "ek_kernels.h"

static float ek_clamp_f32(float x, const ek_f32_range *act)
{
    x = x < act->min ? act->min : x;
    return x > act->max ? act->max : x;
}

void ek_conv2d_f32_ref(const ek_conv_f32_params *params, const float *input, const float *filter,
                       const float *bias, float *output)
{
    const ek_conv_f32_params *p = params;
    int32_t oy, ox, oc, ky, kx, ic;
    for (oy = 0; oy < p->output_h; ++oy) {
        for (ox = 0; ox < p->output_w; ++ox) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t x0 = ox * p->stride_w - p->pad_left;
            float *out = output + (oy * p->output_w + ox) * p->output_c;
            for (oc = 0; oc < p->output_c; ++oc) {
                const float *w = filter + oc * p->filter_h * p->filter_w * p->input_c;
                float total = 0.0f;
                for (ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t y = y0 + ky * p->dilation_h;
                    for (kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t x = x0 + kx * p->dilation_w;
                        const float *in, *tap;
                        if (y < 0 || y >= p->input_h || x < 0 || x >= p->input_w)
                            continue;
                        in = input + (y * p->input_w + x) * p->input_c;
                        tap = w + (ky * p->filter_w + kx) * p->input_c;
                        for (ic = 0; ic < p->input_c; ++ic)
                            total += in[ic] * tap[ic];
                    }
                }
                out[oc] = ek_clamp_f32(total + (bias != NULL ? bias[oc] : 0.0f), &p->act);
            }
        }
    }
}

void ek_depthwise_conv2d_f32_ref(const ek_conv_f32_params *params, const float *input,
                                 const float *filter, const float *bias, float *output)
{
    const ek_conv_f32_params *p = params;
    int32_t oy, ox, ic, m, ky, kx;
    for (oy = 0; oy < p->output_h; ++oy) {
        for (ox = 0; ox < p->output_w; ++ox) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t x0 = ox * p->stride_w - p->pad_left;
            float *out = output + (oy * p->output_w + ox) * p->output_c;
            for (ic = 0; ic < p->input_c; ++ic) {
                for (m = 0; m < p->depth_multiplier; ++m) {
                    const int32_t oc = ic * p->depth_multiplier + m;
                    float total = 0.0f;
                    for (ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t y = y0 + ky * p->dilation_h;
                        for (kx = 0; kx < p->filter_w; ++kx) {
                            const int32_t x = x0 + kx * p->dilation_w;
                            if (y < 0 || y >= p->input_h || x < 0 || x >= p->input_w)
                                continue;
                            total += input[(y * p->input_w + x) * p->input_c + ic] *
                                     filter[(ky * p->filter_w + kx) * p->output_c + oc];
                        }
                    }
                    out[oc] = ek_clamp_f32(total + (bias != NULL ? bias[oc] : 0.0f), &p->act);
                }
            }
        }
    }
}
