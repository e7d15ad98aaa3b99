/* ADD, SUB, MUL, MAXIMUM, MINIMUM and SQUARED_DIFFERENCE in float32 with broadcasting, as
 * TFLite's reference float kernels compute them: one float operation per output element, then
 * the fused activation's clamp (MAXIMUM, MINIMUM and SQUARED_DIFFERENCE have none: their bounds
 * are -FLT_MAX and FLT_MAX). Each input is read through its strides, 0 along broadcast axes. */
#include "ek_kernels.h"

enum { EK_ADD, EK_SUB, EK_MUL, EK_MAXIMUM, EK_MINIMUM, EK_SQUARED_DIFFERENCE };

/* One loop for every op: ``op`` is a constant in each caller, which gets its own copy. */
static EK_INLINE void ek_binary_f32(const ek_binary_f32_params *p, const float *input1,
                                    const float *input2, float *output, int op)
{
    const int32_t *n = p->dims, *s1 = p->strides1, *s2 = p->strides2;
    int32_t i[EK_F32_RANK] = {0, 0, 0, 0, 0, 0};
    int32_t at = 0;
    for (;;) {
        int32_t a = 0, b = 0, d;
        float x, y, value;
        for (d = 0; d < EK_F32_RANK; ++d) {
            a += i[d] * s1[d];
            b += i[d] * s2[d];
        }
        x = input1[a];
        y = input2[b];
        switch (op) {
        case EK_ADD:
            value = x + y;
            break;
        case EK_SUB:
            value = x - y;
            break;
        case EK_MUL:
            value = x * y;
            break;
        case EK_MAXIMUM:
            value = x > y ? x : y;
            break;
        case EK_MINIMUM:
            value = x < y ? x : y;
            break;
        default:
            value = (x - y) * (x - y);
            break;
        }
        value = value < p->act.min ? p->act.min : value;
        output[at++] = value > p->act.max ? p->act.max : value;
        for (d = EK_F32_RANK - 1; d >= 0; --d) { /* the next index, innermost axis first */
            if (++i[d] < n[d])
                break;
            i[d] = 0;
        }
        if (d < 0)
            return;
    }
}

void ek_add_f32_ref(const ek_binary_f32_params *params, const float *input1, const float *input2,
                    float *output)
{
    ek_binary_f32(params, input1, input2, output, EK_ADD);
}

void ek_sub_f32_ref(const ek_binary_f32_params *params, const float *input1, const float *input2,
                    float *output)
{
    ek_binary_f32(params, input1, input2, output, EK_SUB);
}

void ek_mul_f32_ref(const ek_binary_f32_params *params, const float *input1, const float *input2,
                    float *output)
{
    ek_binary_f32(params, input1, input2, output, EK_MUL);
}

void ek_maximum_f32_ref(const ek_binary_f32_params *params, const float *input1,
                        const float *input2, float *output)
{
    ek_binary_f32(params, input1, input2, output, EK_MAXIMUM);
}

void ek_minimum_f32_ref(const ek_binary_f32_params *params, const float *input1,
                        const float *input2, float *output)
{
    ek_binary_f32(params, input1, input2, output, EK_MINIMUM);
}

void ek_squared_difference_f32_ref(const ek_binary_f32_params *params, const float *input1,
                                   const float *input2, float *output)
{
    ek_binary_f32(params, input1, input2, output, EK_SQUARED_DIFFERENCE);
}
