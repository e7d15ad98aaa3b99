/* FULLY_CONNECTED, int8, for cores with the DSP extension: two output units at a time share each
 * loaded input word (SXTB16 + SMLAD), the input offset folded into the bias at build time
 * (bias + input_offset * the sum of the unit's weights; the weights' zero point is 0, as the op
 * rules require), and LiteRT's double-precision rescaling reproduced exactly, as in
 * ek_fully_connected_s8_ref. */
#include "ek_dsp.h"

static inline int8_t ek_fc_out(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, int32_t acc, int32_t unit)
{
    const int32_t q = params->per_channel ? unit : 0;
    acc = ek_multiply_by_double_scale(acc, scale->mantissa[q], scale->exponent[q]);
    return (int8_t)ek_clamp(acc + params->output_offset, params->act_min, params->act_max);
}

void ek_fully_connected_s8_dsp(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const int32_t depth = params->input_depth, units = params->output_depth;
    int32_t b, u, i;

    for (b = 0; b < params->batches; ++b) {
        const int8_t *row = input + b * depth;
        int8_t *out = output + b * units;
        for (u = 0; u + 2 <= units; u += 2) {
            const int8_t *w = filter + u * depth;
            int32_t a0 = bias[u], a1 = bias[u + 1];
            ek_dot_1x2(row, w, depth, &a0, &a1);
            out[u] = ek_fc_out(params, scale, a0, u);
            out[u + 1] = ek_fc_out(params, scale, a1, u + 1);
        }
        if (u < units) { /* an odd last unit */
            const int8_t *w = filter + u * depth;
            int32_t acc = bias[u];
            for (i = 0; i < depth; ++i) {
                acc += (int32_t)row[i] * (int32_t)w[i];
            }
            out[u] = ek_fc_out(params, scale, acc, u);
        }
    }
}
