/* PRELU, int8, alpha a constant int8 tensor broadcast over the input: TFLite's
 * reference_ops::BroadcastPrelu4DSlow, one rescale for inputs at or above the zero point and
 * one of the product with alpha below it. */
#include "ek_kernels.h"

void ek_prelu_s8_ref(const ek_prelu_params *params, const int8_t *input, const int8_t *alpha,
                     int8_t *output)
{
    const int32_t *dims = params->dims;
    const int32_t *strides = params->alpha_strides;
    int32_t i = 0;
    int32_t a, b, c, d;

    for (a = 0; a < dims[0]; ++a) {
        for (b = 0; b < dims[1]; ++b) {
            for (c = 0; c < dims[2]; ++c) {
                const int8_t *alpha_row = alpha + a * strides[0] + b * strides[1] + c * strides[2];
                for (d = 0; d < dims[3]; ++d, ++i) {
                    const int32_t x = (int32_t)input[i] + params->input_offset;
                    int32_t y;
                    if (x >= 0) {
                        y = ek_multiply_by_quantized_multiplier(x, params->multiplier_1,
                                                                params->shift_1);
                    } else {
                        const int32_t slope = (int32_t)alpha_row[d * strides[3]] +
                                              params->alpha_offset;
                        y = ek_multiply_by_quantized_multiplier(x * slope, params->multiplier_2,
                                                                params->shift_2);
                    }
                    output[i] = (int8_t)ek_clamp(y + params->output_offset, INT8_MIN, INT8_MAX);
                }
            }
        }
    }
}
