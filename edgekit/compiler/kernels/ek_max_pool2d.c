/* MAX_POOL_2D, int8: TFLite's reference_integer_ops::MaxPool. */
#include "ek_kernels.h"

void ek_max_pool2d_s8_ref(const ek_max_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_w = params->input_w, channels = params->channels;
    int32_t oy, ox, c, y, x;

    for (oy = 0; oy < params->output_h; ++oy) {
        for (ox = 0; ox < params->output_w; ++ox) {
            const ek_pool_window w = ek_pool_window_at(params, oy, ox);
            for (c = 0; c < channels; ++c) {
                int32_t max = -128;
                for (y = w.y_start; y < w.y_end; ++y) {
                    for (x = w.x_start; x < w.x_end; ++x) {
                        const int32_t v =
                            input[((w.in_y0 + y) * in_w + (w.in_x0 + x)) * channels + c];
                        max = v > max ? v : max;
                    }
                }
                output[(oy * params->output_w + ox) * channels + c] =
                    (int8_t)ek_clamp(max, params->act_min, params->act_max);
            }
        }
    }
}
