/* FULLY_CONNECTED, int8: LiteRT's reference_integer_ops::FullyConnected (per-tensor weights) and
 * FullyConnectedPerChannel, whose accumulators are rescaled in double precision. */
#include "ek_kernels.h"

void ek_fully_connected_s8_ref(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const int32_t depth = params->input_depth, units = params->output_depth;
    int32_t b, u, i;

    for (b = 0; b < params->batches; ++b) {
        const int8_t *row = input + b * depth;
        for (u = 0; u < units; ++u) {
            const int8_t *weights = filter + u * depth;
            const int32_t q = params->per_channel ? u : 0;
            int32_t acc = 0;
            for (i = 0; i < depth; ++i) {
                acc += ((int32_t)weights[i] + params->filter_offset) *
                       ((int32_t)row[i] + params->input_offset);
            }
            if (bias != 0) {
                acc += bias[u];
            }
            acc = ek_multiply_by_double_scale(acc, scale->mantissa[q], scale->exponent[q]);
            acc += params->output_offset;
            output[b * units + u] = (int8_t)ek_clamp(acc, params->act_min, params->act_max);
        }
    }
}
