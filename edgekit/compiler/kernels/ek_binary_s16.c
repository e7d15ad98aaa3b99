/* ADD, SUB and MUL of int16 tensors with broadcasting (16x8): the loop of ek_binary.c over int16
 * elements. ADD and SUB are TFLite's general int16 path (reference_ops::Add and
 * BroadcastAdd6DSlow; SUB as ADD with input 2's multiplier negated): inputs shifted left by 15,
 * not int8's 20, rescaled to a common scale, summed and rescaled to the output. MUL is
 * reference_integer_ops::MulElementwise: one multiplier for the product. Element i of the
 * output is written after every input element it needs is read, so the output may alias an
 * input of its own shape. */
#include "ek_kernels.h"

enum { EK_ADD16, EK_MUL16 };

static EK_INLINE int32_t ek_binary_s16_element(int32_t op, const ek_binary_params *p, int32_t x,
                                               int32_t y)
{
    if (op == EK_ADD16) {
        const int32_t a = (x + p->input1_offset) * ((int32_t)1 << p->left_shift);
        const int32_t b = (y + p->input2_offset) * ((int32_t)1 << p->left_shift);
        const int32_t sum =
            ek_multiply_by_quantized_multiplier(a, p->input1_multiplier, p->input1_shift) +
            ek_multiply_by_quantized_multiplier(b, p->input2_multiplier, p->input2_shift);
        return ek_multiply_by_quantized_multiplier(sum, p->output_multiplier, p->output_shift) +
               p->output_offset;
    }
    return ek_multiply_by_quantized_multiplier((x + p->input1_offset) * (y + p->input2_offset),
                                               p->output_multiplier, p->output_shift) +
           p->output_offset;
}

static EK_INLINE void ek_binary_s16_loop(int32_t op, const ek_binary_params *p,
                                         const int16_t *input1, const int16_t *input2,
                                         int16_t *output)
{
    int32_t i0, i1, i2, i3;
    int16_t *out = output;

    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                const int16_t *a = input1 + i0 * p->strides1[0] + i1 * p->strides1[1] +
                                   i2 * p->strides1[2];
                const int16_t *b = input2 + i0 * p->strides2[0] + i1 * p->strides2[1] +
                                   i2 * p->strides2[2];
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int32_t value = ek_binary_s16_element(op, p, a[i3 * p->strides1[3]],
                                                                b[i3 * p->strides2[3]]);
                    *out++ = (int16_t)ek_clamp(value, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ek_add_broadcast_s16_ref(const ek_binary_params *params, const int16_t *input1,
                              const int16_t *input2, int16_t *output)
{
    ek_binary_s16_loop(EK_ADD16, params, input1, input2, output);
}

void ek_sub_s16_ref(const ek_binary_params *params, const int16_t *input1, const int16_t *input2,
                    int16_t *output)
{
    ek_binary_s16_loop(EK_ADD16, params, input1, input2, output);
}

void ek_mul_s16_ref(const ek_binary_params *params, const int16_t *input1, const int16_t *input2,
                    int16_t *output)
{
    ek_binary_s16_loop(EK_MUL16, params, input1, input2, output);
}
