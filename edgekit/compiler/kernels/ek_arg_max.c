/* ARG_MAX of int8 along one axis: TFLite's reference_ops::ArgMinMax with std::greater, so the
 * first of equal maxima wins. Indices are int32 or int64, as the model's output says; int64
 * ones are written with memcpy (the arena aligns buffers to 4 bytes only). */
#include <string.h>

#include "ek_kernels.h"

void ek_arg_max_s8_ref(const ek_arg_max_params *params, const int8_t *input, void *output)
{
    uint8_t *out = (uint8_t *)output;
    int32_t outer, inner, i;

    for (outer = 0; outer < params->outer; ++outer) {
        const int8_t *block = input + outer * params->axis_size * params->inner;
        for (inner = 0; inner < params->inner; ++inner) {
            int8_t best = block[inner];
            int32_t index = 0;
            for (i = 1; i < params->axis_size; ++i) {
                const int8_t v = block[i * params->inner + inner];
                if (v > best) {
                    best = v;
                    index = i;
                }
            }
            if (params->int64_output) {
                const int64_t wide = index;
                memcpy(out, &wide, sizeof wide);
                out += sizeof wide;
            } else {
                memcpy(out, &index, sizeof index);
                out += sizeof index;
            }
        }
    }
}
