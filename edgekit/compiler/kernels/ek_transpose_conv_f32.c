/* TRANSPOSE_CONV in float32, as TFLite's reference float kernel computes it: the output cleared,
 * every input value scattered into the outputs its window reaches (in the order input row,
 * column, channel, filter row, column), then the bias added. */
#include <stddef.h>

#include "ek_kernels.h"

void ek_transpose_conv_f32_ref(const ek_transpose_conv_params *params, const float *input,
                               const float *filter, const float *bias, float *output)
{
    const ek_transpose_conv_params *p = params;
    const int32_t taps = p->filter_h * p->filter_w * p->input_c;
    const int32_t size = p->output_h * p->output_w * p->output_c;
    int32_t i, iy, ix, ic, ky, kx, oc;
    for (i = 0; i < size; ++i)
        output[i] = 0.0f;
    for (iy = 0; iy < p->input_h; ++iy) {
        for (ix = 0; ix < p->input_w; ++ix) {
            const int32_t oy0 = iy * p->stride_h - p->pad_top;
            const int32_t ox0 = ix * p->stride_w - p->pad_left;
            for (ic = 0; ic < p->input_c; ++ic) {
                const float value = input[(iy * p->input_w + ix) * p->input_c + ic];
                for (ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t oy = oy0 + ky;
                    if (oy < 0 || oy >= p->output_h)
                        continue;
                    for (kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t ox = ox0 + kx;
                        const float *w = filter + (ky * p->filter_w + kx) * p->input_c + ic;
                        float *out;
                        if (ox < 0 || ox >= p->output_w)
                            continue;
                        out = output + (oy * p->output_w + ox) * p->output_c;
                        for (oc = 0; oc < p->output_c; ++oc)
                            out[oc] += value * w[oc * taps];
                    }
                }
            }
        }
    }
    if (bias != NULL)
        for (i = 0; i < size; ++i)
            output[i] += bias[i % p->output_c];
}
