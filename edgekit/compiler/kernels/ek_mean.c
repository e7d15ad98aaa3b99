/* MEAN over axes 1 and 2 (height and width), int8: TFLite's reference_ops::QuantizedMeanOrSum
 * with the integer multiplier its Prepare computes. */
#include "ek_kernels.h"

void ek_mean_hw_s8_ref(const ek_mean_params *params, const int8_t *input, int8_t *output)
{
    const int32_t channels = params->channels;
    const int32_t count = params->input_h * params->input_w;
    int32_t c, i;

    for (c = 0; c < channels; ++c) {
        int32_t acc = 0;
        for (i = 0; i < count; ++i) {
            acc += (int32_t)input[i * channels + c] + params->input_offset;
        }
        acc = ek_multiply_by_quantized_multiplier(acc, params->multiplier, params->shift);
        output[c] = (int8_t)ek_clamp(acc + params->output_offset, INT8_MIN, INT8_MAX);
    }
}
