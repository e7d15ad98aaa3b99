/* FULLY_CONNECTED, 16x8: LiteRT's reference_integer_ops::FullyConnected(PerChannel) for int16
 * input (zero point 0) and int8 weights, whose accumulator has the bias's type: int64 (or no
 * bias), or int32 (the _b32 kernel; wrapping), each accumulator rescaled as round(acc * scale)
 * in double precision (ek_multiply_by_double_scale_s64, ek_multiply_by_double_scale). */
#include "ek_kernels.h"

static EK_INLINE void ek_fully_connected_s16_run(const ek_fully_connected_params *params,
                                                 const ek_double_scale *scale,
                                                 const int16_t *input, const int8_t *filter,
                                                 const int64_t *bias, const int32_t *bias32,
                                                 int wraps, int16_t *output)
{
    const int32_t depth = params->input_depth, units = params->output_depth;
    int32_t b, u, i;

    for (b = 0; b < params->batches; ++b) {
        const int16_t *row = input + b * depth;
        for (u = 0; u < units; ++u) {
            const int8_t *weights = filter + u * depth;
            const int32_t q = params->per_channel ? u : 0;
            int64_t acc = 0;
            int32_t v;
            for (i = 0; i < depth; ++i) {
                acc += ((int32_t)weights[i] + params->filter_offset) * (int32_t)row[i];
            }
            if (wraps) { /* the int32 sum is the int64 one wrapped */
                const uint32_t add = bias32 != 0 ? (uint32_t)bias32[u] : 0u;
                const int32_t narrow = (int32_t)(uint32_t)((uint64_t)acc + add);
                v = ek_multiply_by_double_scale(narrow, scale->mantissa[q], scale->exponent[q]);
            } else {
                acc += bias != 0 ? bias[u] : 0;
                v = ek_multiply_by_double_scale_s64(acc, scale->mantissa[q], scale->exponent[q]);
            }
            output[b * units + u] = (int16_t)ek_clamp(v, params->act_min, params->act_max);
        }
    }
}

void ek_fully_connected_s16_ref(const ek_fully_connected_params *params,
                                const ek_double_scale *scale, const int16_t *input,
                                const int8_t *filter, const int64_t *bias, int16_t *output)
{
    ek_fully_connected_s16_run(params, scale, input, filter, bias, 0, 0, output);
}

void ek_fully_connected_b32_s16_ref(const ek_fully_connected_params *params,
                                    const ek_double_scale *scale, const int16_t *input,
                                    const int8_t *filter, const int32_t *bias, int16_t *output)
{
    ek_fully_connected_s16_run(params, scale, input, filter, 0, bias, 1, output);
}
