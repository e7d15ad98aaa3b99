/* SVDF, int8 input and output with int16 state: TFLite's integer SVDF (svdf.cc's Prepare for the
 * two rescales, reference_ops::EvalIntegerSVDF for the arithmetic). One run takes one frame:
 * - the state, each filter's last `memory` activations oldest first, moves one entry towards its
 *   start (TFLite moves the whole buffer; each filter's newest entry is then rewritten);
 * - the feature product, each filter's weights times the frame, is rescaled to the state's scale,
 *   saturated to int16 and becomes the filter's newest entry;
 * - each unit sums its `rank` filters' memories weighted by their time weights, adds its bias and
 *   is rescaled to the output, clamped to int8 only: TFLite runs the integer SVDF with RELU alone
 *   and leaves the clamp at zero to the output's quantization.
 * TFLite's sums are int32 and wrap where they overflow (int16 state times int16 weights over a
 * long memory can): here they are kept in uint32, which wraps the same way without undefined
 * behaviour. */
#include "ek_kernels.h"

void ek_svdf_s8_ref(const ek_svdf_params *params, const int8_t *input,
                    const int8_t *weights_feature, const int16_t *weights_time,
                    const int32_t *bias, int16_t *state, int8_t *output)
{
    const int32_t depth = params->input_size, memory = params->memory, rank = params->rank;
    const int32_t filters = params->units * rank;
    int32_t f, i, u;

    for (i = 1; i < filters * memory; ++i) {
        state[i - 1] = state[i];
    }
    for (f = 0; f < filters; ++f) {
        const int8_t *w = weights_feature + f * depth;
        int32_t acc = 0;
        for (i = 0; i < depth; ++i) {
            acc += (int32_t)w[i] * ((int32_t)input[i] + params->input_offset);
        }
        state[f * memory + memory - 1] = ek_svdf_state_value(params, acc);
    }
    for (u = 0; u < params->units; ++u) { /* its rank filters: one run of rank * memory */
        uint32_t acc = bias != 0 ? (uint32_t)bias[u] : 0u;
        for (i = u * rank * memory; i < (u + 1) * rank * memory; ++i) {
            acc += (uint32_t)((int32_t)weights_time[i] * (int32_t)state[i]);
        }
        output[u] = ek_svdf_output_value(params, acc);
    }
}
