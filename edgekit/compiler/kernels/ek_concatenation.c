/* CONCATENATION, int8, one call per input: TFLite's reference Concatenation. Every input has
 * the output's scale and zero point (TFLite's int8 kernel requires it), so each is a copy of
 * its slices into their places in the output. */
#include "ek_kernels.h"

void ek_concatenation_s8_ref(const ek_concatenation_params *params, const int8_t *input,
                             int8_t *output)
{
    int32_t k, j;

    for (k = 0; k < params->outer; ++k) {
        const int8_t *src = input + k * params->input_row;
        int8_t *dst = output + k * params->output_row + params->output_start;
        for (j = 0; j < params->input_row; ++j) {
            dst[j] = src[j];
        }
    }
}
