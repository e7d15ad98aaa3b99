/* PAD of a 4-D tensor with a constant, int8 or (16x8) int16 elements: TFLite's reference
 * PadImpl. */
#include "ek_kernels.h"

/* One body for both element types (T, a constant in each caller). */
#define EK_PAD(T)                                                                                \
    {                                                                                            \
        const int32_t *in = params->input_dims;                                                  \
        const int32_t *lo = params->before;                                                      \
        const T value = (T)params->pad_value;                                                    \
        int32_t out[4];                                                                          \
        int32_t i0, i1, i2, i3, d;                                                               \
        for (d = 0; d < 4; ++d) {                                                                \
            out[d] = in[d] + params->before[d] + params->after[d];                               \
        }                                                                                        \
        for (i0 = 0; i0 < out[0]; ++i0) {                                                        \
            const int inside0 = i0 >= lo[0] && i0 < lo[0] + in[0];                               \
            for (i1 = 0; i1 < out[1]; ++i1) {                                                    \
                const int inside1 = inside0 && i1 >= lo[1] && i1 < lo[1] + in[1];               \
                for (i2 = 0; i2 < out[2]; ++i2) {                                                \
                    const T *row;                                                                \
                    if (!inside1 || i2 < lo[2] || i2 >= lo[2] + in[2]) {                         \
                        for (i3 = 0; i3 < out[3]; ++i3) {                                        \
                            *output++ = value;                                                   \
                        }                                                                        \
                        continue;                                                                \
                    }                                                                            \
                    row = input + (((i0 - lo[0]) * in[1] + (i1 - lo[1])) * in[2] +               \
                                   (i2 - lo[2])) * in[3];                                        \
                    for (i3 = 0; i3 < lo[3]; ++i3) {                                             \
                        *output++ = value;                                                       \
                    }                                                                            \
                    for (i3 = 0; i3 < in[3]; ++i3) {                                             \
                        *output++ = row[i3];                                                     \
                    }                                                                            \
                    for (i3 = 0; i3 < params->after[3]; ++i3) {                                  \
                        *output++ = value;                                                       \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }

void ek_pad_s8_ref(const ek_pad_params *params, const int8_t *input, int8_t *output)
EK_PAD(int8_t)

void ek_pad_s16_ref(const ek_pad_params *params, const int16_t *input, int16_t *output)
EK_PAD(int16_t)
