/* FULLY_CONNECTED in float32, as TFLite's reference float kernel computes it: each output sums
 * its products in input order, then adds the bias and clamps. */
#include <stddef.h>

#include "ek_kernels.h"

void ek_fully_connected_f32_ref(const ek_fully_connected_f32_params *params, const float *input,
                                const float *filter, const float *bias, float *output)
{
    const ek_fully_connected_f32_params *p = params;
    int32_t b, o, d;
    for (b = 0; b < p->batches; ++b) {
        const float *in = input + b * p->input_depth;
        for (o = 0; o < p->output_depth; ++o) {
            const float *w = filter + o * p->input_depth;
            float total = 0.0f;
            for (d = 0; d < p->input_depth; ++d)
                total += in[d] * w[d];
            total += bias != NULL ? bias[o] : 0.0f;
            total = total < p->act.min ? p->act.min : total;
            output[b * p->output_depth + o] = total > p->act.max ? p->act.max : total;
        }
    }
}
