/* MEAN, SUM and REDUCE_MAX in float32 over any axes: each output's inputs (the reduced axes,
 * outermost first, as TFLite's reference reduction visits them) summed in float32 (MEAN then
 * divided by their count), or their largest. */
#include "ek_kernels.h"

enum { EK_MEAN, EK_SUM, EK_MAX };

static EK_INLINE void ek_reduce_f32(const ek_reduce_f32_params *p, const float *input,
                                    float *output, int op)
{
    const int32_t *n = p->outer, *s = p->outer_strides, *m = p->inner, *t = p->inner_strides;
    int32_t o0, o1, o2, o3, i0, i1, i2, i3, at = 0;
    for (o0 = 0; o0 < n[0]; ++o0)
        for (o1 = 0; o1 < n[1]; ++o1)
            for (o2 = 0; o2 < n[2]; ++o2)
                for (o3 = 0; o3 < n[3]; ++o3) {
                    const float *base = input + o0 * s[0] + o1 * s[1] + o2 * s[2] + o3 * s[3];
                    float value = op == EK_MAX ? -3.40282347e+38f : 0.0f;
                    for (i0 = 0; i0 < m[0]; ++i0)
                        for (i1 = 0; i1 < m[1]; ++i1)
                            for (i2 = 0; i2 < m[2]; ++i2)
                                for (i3 = 0; i3 < m[3]; ++i3) {
                                    const float x =
                                        base[i0 * t[0] + i1 * t[1] + i2 * t[2] + i3 * t[3]];
                                    if (op == EK_MAX)
                                        value = x > value ? x : value;
                                    else
                                        value += x;
                                }
                    output[at++] = op == EK_MEAN ? value / (float)p->count : value;
                }
}

void ek_reduce_mean_f32_ref(const ek_reduce_f32_params *params, const float *input,
                            float *output)
{
    ek_reduce_f32(params, input, output, EK_MEAN);
}

void ek_reduce_sum_f32_ref(const ek_reduce_f32_params *params, const float *input, float *output)
{
    ek_reduce_f32(params, input, output, EK_SUM);
}

void ek_reduce_max_f32_ref(const ek_reduce_f32_params *params, const float *input, float *output)
{
    ek_reduce_f32(params, input, output, EK_MAX);
}
