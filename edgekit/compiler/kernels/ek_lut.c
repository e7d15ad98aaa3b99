/* The int8 -> int8 element-wise operators (LOGISTIC, TANH, HARD_SWISH, RELU, RELU6,
 * RELU_N1_TO_1, LEAKY_RELU, QUANTIZE's rescale) as one table lookup per element. The table is
 * TFLite's reference arithmetic for the layer's scales, computed at build time
 * (edgekit/compiler/tables.py). */
#include "ek_kernels.h"

void ek_lut_s8_ref(const ek_lut_params *params, const int8_t *input, int8_t *output)
{
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        output[i] = params->table[(int32_t)input[i] + 128];
    }
}
