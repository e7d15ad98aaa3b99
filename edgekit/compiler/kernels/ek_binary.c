/* Binary int8 operators with broadcasting: ADD, SUB, MUL, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM;
 * and ADD, SUB, MUL of int16 tensors (16x8: TFLite's general int16 path, reference_ops::Add and
 * BroadcastAdd6DSlow, SUB as ADD with input 2's multiplier negated).
 * One loop over the output (up to 4-D, outermost first) reads each input through its own
 * strides, 0 on the axes it is broadcast along, as TFLite's reference kernels do after
 * normalizing both shapes to 4-D (NdArrayDesc). Each op's per-element arithmetic is that of
 * TFLite's reference integer kernel. Element i of the output is written after every input
 * element it needs is read, so the output may alias an input of its own shape. */
#include "ek_kernels.h"

enum { EK_ADD, EK_MUL, EK_SQUARED_DIFFERENCE, EK_MAXIMUM, EK_MINIMUM };

/* reference_integer_ops::AddElementwise (SUB: the same, input2_multiplier negated). */
static inline int32_t ek_add_element(const ek_binary_params *p, int32_t x, int32_t y)
{
    const int32_t a = (x + p->input1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t b = (y + p->input2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t sum =
        ek_multiply_by_quantized_multiplier(a, p->input1_multiplier, p->input1_shift) +
        ek_multiply_by_quantized_multiplier(b, p->input2_multiplier, p->input2_shift);
    return ek_multiply_by_quantized_multiplier(sum, p->output_multiplier, p->output_shift) +
           p->output_offset;
}

/* reference_integer_ops::MulElementwise: one multiplier for the product. */
static inline int32_t ek_mul_element(const ek_binary_params *p, int32_t x, int32_t y)
{
    const int32_t product = (x + p->input1_offset) * (y + p->input2_offset);
    return ek_multiply_by_quantized_multiplier(product, p->output_multiplier, p->output_shift) +
           p->output_offset;
}

/* TFLite's int8 SquaredDifference: both inputs to a common scale (left shift 7), the
 * difference squared in int32, then rescaled to the output. */
static inline int32_t ek_squared_difference_element(const ek_binary_params *p, int32_t x,
                                                    int32_t y)
{
    const int32_t a = (x + p->input1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t b = (y + p->input2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t diff =
        ek_multiply_by_quantized_multiplier(a, p->input1_multiplier, p->input1_shift) -
        ek_multiply_by_quantized_multiplier(b, p->input2_multiplier, p->input2_shift);
    return ek_multiply_by_quantized_multiplier(diff * diff, p->output_multiplier,
                                               p->output_shift) +
           p->output_offset;
}

static EK_INLINE int32_t ek_binary_element(int32_t op, const ek_binary_params *p, int32_t x,
                                           int32_t y)
{
    switch (op) {
    case EK_ADD:
        return ek_add_element(p, x, y);
    case EK_MUL:
        return ek_mul_element(p, x, y);
    case EK_SQUARED_DIFFERENCE:
        return ek_squared_difference_element(p, x, y);
    case EK_MAXIMUM:
        return x > y ? x : y;
    default:
        return x < y ? x : y;
    }
}

/* The one broadcast loop, over int8 or int16 elements (16x8 ADD, SUB and MUL: TFLite's int16
 * arithmetic is the int8 one with its own left shift, 15, in the parameters); ``op`` is a
 * constant in each caller, so each kernel gets its own specialized copy. */
#define EK_BINARY_LOOP(NAME, TYPE)                                                               \
    static EK_INLINE void NAME(int32_t op, const ek_binary_params *p, const TYPE *input1,      \
                               const TYPE *input2, TYPE *output)                               \
    {                                                                                          \
        int32_t i0, i1, i2, i3;                                                                \
        TYPE *out = output;                                                                    \
        for (i0 = 0; i0 < p->dims[0]; ++i0) {                                                  \
            for (i1 = 0; i1 < p->dims[1]; ++i1) {                                              \
                for (i2 = 0; i2 < p->dims[2]; ++i2) {                                          \
                    const TYPE *a = input1 + i0 * p->strides1[0] + i1 * p->strides1[1] +       \
                                    i2 * p->strides1[2];                                       \
                    const TYPE *b = input2 + i0 * p->strides2[0] + i1 * p->strides2[1] +       \
                                    i2 * p->strides2[2];                                       \
                    for (i3 = 0; i3 < p->dims[3]; ++i3) {                                      \
                        const int32_t value = ek_binary_element(op, p, a[i3 * p->strides1[3]], \
                                                                b[i3 * p->strides2[3]]);       \
                        *out++ = (TYPE)ek_clamp(value, p->act_min, p->act_max);                \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

EK_BINARY_LOOP(ek_binary_loop, int8_t)
EK_BINARY_LOOP(ek_binary_s16_loop, int16_t)

void ek_add_broadcast_s8_ref(const ek_binary_params *params, const int8_t *input1,
                             const int8_t *input2, int8_t *output)
{
    ek_binary_loop(EK_ADD, params, input1, input2, output);
}

void ek_sub_s8_ref(const ek_binary_params *params, const int8_t *input1, const int8_t *input2,
                   int8_t *output)
{
    ek_binary_loop(EK_ADD, params, input1, input2, output);
}

void ek_mul_s8_ref(const ek_binary_params *params, const int8_t *input1, const int8_t *input2,
                   int8_t *output)
{
    ek_binary_loop(EK_MUL, params, input1, input2, output);
}

void ek_squared_difference_s8_ref(const ek_binary_params *params, const int8_t *input1,
                                  const int8_t *input2, int8_t *output)
{
    ek_binary_loop(EK_SQUARED_DIFFERENCE, params, input1, input2, output);
}

void ek_maximum_s8_ref(const ek_binary_params *params, const int8_t *input1,
                       const int8_t *input2, int8_t *output)
{
    ek_binary_loop(EK_MAXIMUM, params, input1, input2, output);
}

void ek_minimum_s8_ref(const ek_binary_params *params, const int8_t *input1,
                       const int8_t *input2, int8_t *output)
{
    ek_binary_loop(EK_MINIMUM, params, input1, input2, output);
}

void ek_add_broadcast_s16_ref(const ek_binary_params *params, const int16_t *input1,
                              const int16_t *input2, int16_t *output)
{
    ek_binary_s16_loop(EK_ADD, params, input1, input2, output);
}

void ek_sub_s16_ref(const ek_binary_params *params, const int16_t *input1, const int16_t *input2,
                    int16_t *output)
{
    ek_binary_s16_loop(EK_ADD, params, input1, input2, output);
}

void ek_mul_s16_ref(const ek_binary_params *params, const int16_t *input1, const int16_t *input2,
                    int16_t *output)
{
    ek_binary_s16_loop(EK_MUL, params, input1, input2, output);
}
