/* CONCATENATION, int8 or (16x8) int16, one call per input: TFLite's reference Concatenation.
 * Every input has the output's scale and zero point (TFLite's int8 and int16 kernels require
 * it), so each is a copy of its slices into their places in the output; rows and starts are
 * counted in elements. */
#include "ek_kernels.h"

#define EK_CONCATENATION(T)                                                                      \
    {                                                                                            \
        int32_t k, j;                                                                            \
        for (k = 0; k < params->outer; ++k) {                                                    \
            const T *src = input + k * params->input_row;                                        \
            T *dst = output + k * params->output_row + params->output_start;                     \
            for (j = 0; j < params->input_row; ++j) {                                            \
                dst[j] = src[j];                                                                 \
            }                                                                                    \
        }                                                                                        \
    }

void ek_concatenation_s8_ref(const ek_concatenation_params *params, const int8_t *input,
                             int8_t *output)
EK_CONCATENATION(int8_t)

void ek_concatenation_s16_ref(const ek_concatenation_params *params, const int16_t *input,
                              int16_t *output)
EK_CONCATENATION(int16_t)
