/* MEAN, SUM and REDUCE_MAX of int8 over any axes: TFLite's reference_ops::QuantizedMeanOrSum
 * (MEAN and SUM) and ReduceGeneric (REDUCE_MAX). The axes come merged and split on the host
 * (emitters.reduce): four kept axes, in the output's order, and four reduced ones. */
#include "ek_kernels.h"

/* The sum, or the maximum, of the input elements one output value reduces, starting at base. */
static int32_t ek_reduce_one(const ek_reduce_params *p, const int8_t *base, int32_t max)
{
    int32_t acc = max ? INT8_MIN : 0;
    int32_t a, b, c, d;

    for (a = 0; a < p->inner[0]; ++a) {
        for (b = 0; b < p->inner[1]; ++b) {
            for (c = 0; c < p->inner[2]; ++c) {
                const int8_t *row = base + a * p->inner_strides[0] + b * p->inner_strides[1] +
                                    c * p->inner_strides[2];
                for (d = 0; d < p->inner[3]; ++d) {
                    const int32_t v = row[d * p->inner_strides[3]];
                    if (max) {
                        acc = v > acc ? v : acc;
                    } else {
                        acc += v;
                    }
                }
            }
        }
    }
    return acc;
}

/* The output value of one reduction: the maximum as it is, or the sum rescaled. */
static int8_t ek_reduce_value(const ek_reduce_params *p, int32_t acc, int32_t max)
{
    int64_t shifted;

    if (max) {
        return (int8_t)acc;
    }
    /* TFLite subtracts count * zero point in 64 bits and narrows to int32 (wrapping) */
    shifted = (int64_t)acc - (int64_t)p->input_zero_point * p->count;
    acc = ek_multiply_by_quantized_multiplier((int32_t)(uint32_t)(uint64_t)shifted,
                                              p->multiplier, p->shift);
    return (int8_t)ek_clamp(acc + p->output_offset, INT8_MIN, INT8_MAX);
}

static void ek_reduce(const ek_reduce_params *p, const int8_t *input, int8_t *output, int32_t max)
{
    int32_t a, b, c, d;

    for (a = 0; a < p->outer[0]; ++a) {
        for (b = 0; b < p->outer[1]; ++b) {
            for (c = 0; c < p->outer[2]; ++c) {
                for (d = 0; d < p->outer[3]; ++d) {
                    const int8_t *base = input + a * p->outer_strides[0] +
                                         b * p->outer_strides[1] + c * p->outer_strides[2] +
                                         d * p->outer_strides[3];
                    *output++ = ek_reduce_value(p, ek_reduce_one(p, base, max), max);
                }
            }
        }
    }
}

void ek_reduce_mean_s8_ref(const ek_reduce_params *params, const int8_t *input, int8_t *output)
{
    ek_reduce(params, input, output, 0);
}

void ek_reduce_sum_s8_ref(const ek_reduce_params *params, const int8_t *input, int8_t *output)
{
    ek_reduce(params, input, output, 0);
}

void ek_reduce_max_s8_ref(const ek_reduce_params *params, const int8_t *input, int8_t *output)
{
    ek_reduce(params, input, output, 1);
}
