/* RESIZE_BILINEAR, int8: TFLite's reference_ops::ResizeBilinearInteger. */
#include "ek_kernels.h"

/* An output index's position in the input in Q10 and the two input indices around it, as
 * TFLite's ComputeInterpolationValuesInteger: C division truncates toward zero, as C++'s. */
static void ek_position(int32_t value, int32_t scale_10, int32_t half_pixel_centers,
                        int32_t input_size, int32_t *scaled, int32_t *lower, int32_t *upper)
{
    const int32_t at = half_pixel_centers ? value * scale_10 + scale_10 / 2 - (1 << 9)
                                          : value * scale_10;
    const int32_t low = at / (1 << 10);
    const int32_t up = (at + (1 << 10) - 1) / (1 << 10);
    *scaled = at;
    *lower = low > 0 ? low : 0;
    *upper = up < input_size - 1 ? up : input_size - 1;
}

void ek_resize_bilinear_s8_ref(const ek_resize_bilinear_params *params, const int8_t *input,
                               int8_t *output)
{
    const int32_t in_w = params->input_w, channels = params->channels;
    int32_t y, x, c;

    for (y = 0; y < params->output_h; ++y) {
        int32_t in_y, y0, y1;
        int64_t dy, dy_inv;
        ek_position(y, params->height_scale_10, params->half_pixel_centers, params->input_h,
                    &in_y, &y0, &y1);
        dy = in_y - (1 << 10) * y0;
        dy_inv = (1 << 10) - dy;
        for (x = 0; x < params->output_w; ++x) {
            int32_t in_x, x0, x1;
            int64_t dx, dx_inv;
            const int8_t *p00, *p10, *p01, *p11;
            ek_position(x, params->width_scale_10, params->half_pixel_centers, in_w, &in_x,
                        &x0, &x1);
            dx = in_x - (1 << 10) * x0;
            dx_inv = (1 << 10) - dx;
            p00 = input + (y0 * in_w + x0) * channels;
            p10 = input + (y1 * in_w + x0) * channels;
            p01 = input + (y0 * in_w + x1) * channels;
            p11 = input + (y1 * in_w + x1) * channels;
            for (c = 0; c < channels; ++c) {
                const int64_t sum = p00[c] * dy_inv * dx_inv + p10[c] * dy * dx_inv +
                                    p01[c] * dy_inv * dx + p11[c] * dy * dx;
                const int64_t round = sum > 0 ? (1 << 19) : -(1 << 19);
                *output++ = (int8_t)((sum + round) / (1 << 20));
            }
        }
    }
}
