/* MAX_POOL_2D and AVERAGE_POOL_2D, int16 (16x8): reference_integer_ops::MaxPool and AveragePool
 * for int16, the int8 kernels' windows (ek_pool_window_at) over 2-byte elements. */
#include "ek_kernels.h"

void ek_max_pool2d_s16_ref(const ek_max_pool_params *params, const int16_t *input,
                           int16_t *output)
{
    const int32_t in_w = params->input_w, channels = params->channels;
    int32_t oy, ox, c, y, x;

    for (oy = 0; oy < params->output_h; ++oy) {
        for (ox = 0; ox < params->output_w; ++ox) {
            const ek_pool_window w = ek_pool_window_at(params, oy, ox);
            for (c = 0; c < channels; ++c) {
                int32_t max = INT16_MIN;
                for (y = w.y_start; y < w.y_end; ++y) {
                    for (x = w.x_start; x < w.x_end; ++x) {
                        const int32_t v =
                            input[((w.in_y0 + y) * in_w + (w.in_x0 + x)) * channels + c];
                        max = v > max ? v : max;
                    }
                }
                output[(oy * params->output_w + ox) * channels + c] =
                    (int16_t)ek_clamp(max, params->act_min, params->act_max);
            }
        }
    }
}

void ek_avg_pool2d_s16_ref(const ek_avg_pool_params *params, const int16_t *input,
                           int16_t *output)
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
                /* to nearest, ties away from zero, as for int8 */
                if (count > 0) {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                output[(oy * params->output_w + ox) * channels + c] =
                    (int16_t)ek_clamp(acc, params->act_min, params->act_max);
            }
        }
    }
}
