/* AVERAGE_POOL_2D, int8: TFLite's reference_integer_ops::AveragePool. */
#include "ek_kernels.h"

void ek_avg_pool2d_s8_ref(const ek_avg_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_h = params->input_h, in_w = params->input_w;
    const int32_t channels = params->channels;
    int32_t oy, ox, c, y, x;

    for (oy = 0; oy < params->output_h; ++oy) {
        const int32_t in_y0 = oy * params->stride_h - params->pad_top;
        /* the window clipped to the input: padded positions do not count */
        const int32_t y_start = in_y0 < 0 ? -in_y0 : 0;
        const int32_t y_end =
            params->filter_h < in_h - in_y0 ? params->filter_h : in_h - in_y0;
        for (ox = 0; ox < params->output_w; ++ox) {
            const int32_t in_x0 = ox * params->stride_w - params->pad_left;
            const int32_t x_start = in_x0 < 0 ? -in_x0 : 0;
            const int32_t x_end =
                params->filter_w < in_w - in_x0 ? params->filter_w : in_w - in_x0;
            const int32_t count = (y_end - y_start) * (x_end - x_start);
            for (c = 0; c < channels; ++c) {
                int32_t acc = 0;
                for (y = y_start; y < y_end; ++y) {
                    for (x = x_start; x < x_end; ++x) {
                        acc += input[((in_y0 + y) * in_w + (in_x0 + x)) * channels + c];
                    }
                }
                /* division rounded to nearest, ties away from zero; a window wholly in the
                 * padding (TFLite rejects such a model) gives 0 rather than a division by 0 */
                if (count > 0) {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                output[(oy * params->output_w + ox) * channels + c] =
                    (int8_t)ek_clamp(acc, params->act_min, params->act_max);
            }
        }
    }
}
