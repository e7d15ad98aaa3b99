/* MEAN of int16 over any axes (16x8): TFLite's QuantizedMeanOrSum for int16, as ek_reduce.c
 * does it for int8 (the same merged axes from emitters.reduce), clamped to int16. */
#include "ek_kernels.h"

static int32_t ek_reduce_sum_s16(const ek_reduce_params *p, const int16_t *base)
{
    int32_t acc = 0;
    int32_t a, b, c, d;

    for (a = 0; a < p->inner[0]; ++a) {
        for (b = 0; b < p->inner[1]; ++b) {
            for (c = 0; c < p->inner[2]; ++c) {
                const int16_t *row = base + a * p->inner_strides[0] + b * p->inner_strides[1] +
                                     c * p->inner_strides[2];
                for (d = 0; d < p->inner[3]; ++d) {
                    acc += row[d * p->inner_strides[3]];
                }
            }
        }
    }
    return acc;
}

void ek_reduce_mean_s16_ref(const ek_reduce_params *params, const int16_t *input,
                            int16_t *output)
{
    const ek_reduce_params *p = params;
    int32_t a, b, c, d;

    for (a = 0; a < p->outer[0]; ++a) {
        for (b = 0; b < p->outer[1]; ++b) {
            for (c = 0; c < p->outer[2]; ++c) {
                for (d = 0; d < p->outer[3]; ++d) {
                    const int16_t *base = input + a * p->outer_strides[0] +
                                          b * p->outer_strides[1] + c * p->outer_strides[2] +
                                          d * p->outer_strides[3];
                    /* the sum less count times the zero point, in 64 bits, narrowed (wrapping) */
                    const int64_t shifted =
                        (int64_t)ek_reduce_sum_s16(p, base) -
                        (int64_t)p->input_zero_point * p->count;
                    const int32_t acc = ek_multiply_by_quantized_multiplier(
                        (int32_t)(uint32_t)(uint64_t)shifted, p->multiplier, p->shift);
                    *output++ = (int16_t)ek_clamp(acc + p->output_offset, INT16_MIN, INT16_MAX);
                }
            }
        }
    }
}
