/* MAX_POOL_2D, int8, for cores with Helium (MVE): 16 channels per vector, the running maximum
 * taken with VMAX.S8 over the window, the last partial vector of channels predicated (its
 * inactive lanes load as 0 and are not stored). A maximum is exact whatever order it is taken
 * in, so the bytes are those of ek_max_pool2d_s8_ref; the fused clamp is a VMAX and a VMIN. */
#include "ek_mve.h"

static EK_INLINE int8x16_t ek_max_pool_vector(const int8_t *corner, int32_t rows, int32_t cols,
                                              int32_t row, int32_t channels, mve_pred16_t p)
{
    int8x16_t m = vdupq_n_s8(INT8_MIN);
    int32_t y, x;
    for (y = 0; y < rows; ++y) {
        const int8_t *q = corner + y * row;
        for (x = 0; x < cols; ++x, q += channels) {
            m = vmaxq_s8(m, vldrbq_z_s8(q, p));
        }
    }
    return m;
}

void ek_max_pool2d_s8_mve(const ek_max_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_w = params->input_w, channels = params->channels;
    const int8x16_t lo = vdupq_n_s8((int8_t)params->act_min);
    const int8x16_t hi = vdupq_n_s8((int8_t)params->act_max);
    const int32_t row = in_w * channels;
    int32_t oy, ox, c;

    for (oy = 0; oy < params->output_h; ++oy) {
        for (ox = 0; ox < params->output_w; ++ox) {
            const ek_pool_window w = ek_pool_window_at(params, oy, ox);
            const int8_t *corner =
                input + ((w.in_y0 + w.y_start) * in_w + (w.in_x0 + w.x_start)) * channels;
            const int32_t rows = w.y_end - w.y_start, cols = w.x_end - w.x_start;
            int8_t *out = output + (oy * params->output_w + ox) * channels;
            for (c = 0; c < channels; c += 16) {
                const mve_pred16_t p = vctp8q((uint32_t)(channels - c));
                const int8x16_t m = ek_max_pool_vector(corner + c, rows, cols, row, channels, p);
                vstrbq_p_s8(out + c, vminq_s8(vmaxq_s8(m, lo), hi), p);
            }
        }
    }
}
