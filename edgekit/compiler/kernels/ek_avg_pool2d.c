/* AVERAGE_POOL_2D, int8: TFLite's reference_integer_ops::AveragePool. */
#include "ek_kernels.h"

void ek_avg_pool2d_s8_ref(const ek_avg_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_w = params->input_w, channels = params->channels;
    int32_t oy, ox, c, y, x;

    for (oy = 0; oy < params->output_h; ++oy) {
        for (ox = 0; ox < params->output_w; ++ox) {
            const ek_pool_window w = ek_pool_window_at(params, oy, ox);
            const int32_t count = (w.y_end - w.y_start) * (w.x_end - w.x_start);
            for (c = 0; c < channels; ++c) {
                int32_t acc = 0;
                for (y = w.y_start; y < w.y_end; ++y) {
                    for (x = w.x_start; x < w.x_end; ++x) {
                        acc += input[((w.in_y0 + y) * in_w + (w.in_x0 + x)) * channels + c];
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
