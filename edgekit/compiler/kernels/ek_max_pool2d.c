/* MAX_POOL_2D, int8: TFLite's reference_integer_ops::MaxPool. */
#include "ek_kernels.h"

void ek_max_pool2d_s8_ref(const ek_max_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_h = params->input_h, in_w = params->input_w;
    const int32_t channels = params->channels;
    int32_t oy, ox, c, y, x;

    for (oy = 0; oy < params->output_h; ++oy) {
        const int32_t in_y0 = oy * params->stride_h - params->pad_top;
        /* the window clipped to the input: padded positions take no part */
        const int32_t y_start = in_y0 < 0 ? -in_y0 : 0;
        const int32_t y_end =
            params->filter_h < in_h - in_y0 ? params->filter_h : in_h - in_y0;
        for (ox = 0; ox < params->output_w; ++ox) {
            const int32_t in_x0 = ox * params->stride_w - params->pad_left;
            const int32_t x_start = in_x0 < 0 ? -in_x0 : 0;
            const int32_t x_end =
                params->filter_w < in_w - in_x0 ? params->filter_w : in_w - in_x0;
            for (c = 0; c < channels; ++c) {
                int32_t max = -128;
                for (y = y_start; y < y_end; ++y) {
                    for (x = x_start; x < x_end; ++x) {
                        const int32_t v = input[((in_y0 + y) * in_w + (in_x0 + x)) * channels + c];
                        max = v > max ? v : max;
                    }
                }
                output[(oy * params->output_w + ox) * channels + c] =
                    (int8_t)ek_clamp(max, params->act_min, params->act_max);
            }
        }
    }
}
