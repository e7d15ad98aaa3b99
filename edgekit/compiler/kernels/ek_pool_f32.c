/* AVERAGE_POOL_2D and MAX_POOL_2D in float32, as TFLite's reference float kernels compute them:
 * over the window's positions inside the input (padding takes no part), the sum in row order
 * divided by their count, or the largest; then the fused activation's clamp. */
#include "ek_kernels.h"

static EK_INLINE void ek_pool_f32(const ek_pool_f32_params *p, const float *input, float *output,
                                  int average)
{
    int32_t oy, ox, c, ky, kx;
    for (oy = 0; oy < p->output_h; ++oy) {
        for (ox = 0; ox < p->output_w; ++ox) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t x0 = ox * p->stride_w - p->pad_left;
            const int32_t ky0 = y0 < 0 ? -y0 : 0, kx0 = x0 < 0 ? -x0 : 0;
            const int32_t ky1 = p->filter_h < p->input_h - y0 ? p->filter_h : p->input_h - y0;
            const int32_t kx1 = p->filter_w < p->input_w - x0 ? p->filter_w : p->input_w - x0;
            for (c = 0; c < p->channels; ++c) {
                float value = average ? 0.0f : -3.40282347e+38f;
                int32_t count = 0;
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        const float x = input[((y0 + ky) * p->input_w + x0 + kx) * p->channels + c];
                        if (average)
                            value += x;
                        else
                            value = x > value ? x : value;
                        ++count;
                    }
                }
                if (average && count > 0)
                    value /= (float)count;
                value = value < p->act.min ? p->act.min : value;
                output[(oy * p->output_w + ox) * p->channels + c] =
                    value > p->act.max ? p->act.max : value;
            }
        }
    }
}

void ek_avg_pool2d_f32_ref(const ek_pool_f32_params *params, const float *input, float *output)
{
    ek_pool_f32(params, input, output, 1);
}

void ek_max_pool2d_f32_ref(const ek_pool_f32_params *params, const float *input, float *output)
{
    ek_pool_f32(params, input, output, 0);
}
