/* ADD, int8, same-shape inputs: TFLite's reference_integer_ops::Add. */
#include "ek_kernels.h"

void ek_add_s8_ref(const ek_add_params *params, const int8_t *input1, const int8_t *input2,
                   int8_t *output)
{
    const int32_t scale_up = (int32_t)1 << params->left_shift;
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        const int32_t a = ((int32_t)input1[i] + params->input1_offset) * scale_up;
        const int32_t b = ((int32_t)input2[i] + params->input2_offset) * scale_up;
        const int32_t sum =
            ek_multiply_by_quantized_multiplier(a, params->input1_multiplier,
                                                params->input1_shift) +
            ek_multiply_by_quantized_multiplier(b, params->input2_multiplier,
                                                params->input2_shift);
        const int32_t out = ek_multiply_by_quantized_multiplier(sum, params->output_multiplier,
                                                                params->output_shift) +
                            params->output_offset;
        output[i] = (int8_t)ek_clamp(out, params->act_min, params->act_max);
    }
}
