/* PAD of a 4-D tensor with a constant, int8 or (16x8) int16 elements: TFLite's reference
 * PadImpl, the same elements in the same places. The output is written front to back in runs:
 * the constant over whole padded blocks (memset for bytes), and each input row copied whole
 * (memcpy) - one copy for a block of consecutive rows when the innermost dimension is not
 * padded (MobileNetV2's padding of height and width). */
#include <string.h>

#include "ek_kernels.h"

/* One body for both element types (T, a constant in each caller). */
#define EK_PAD(T)                                                                                \
    {                                                                                            \
        const int32_t *in = params->input_dims, *lo = params->before, *hi = params->after;       \
        const T value = (T)params->pad_value;                                                    \
        const int32_t w3 = in[3] + lo[3] + hi[3], w2 = (in[2] + lo[2] + hi[2]) * w3;             \
        const int32_t w1 = (in[1] + lo[1] + hi[1]) * w2;                                         \
        const int whole_rows = lo[3] == 0 && hi[3] == 0;                                         \
        int32_t i0, i1, i2;                                                                      \
        output = ek_pad_fill_##T(output, value, lo[0] * w1);                                     \
        for (i0 = 0; i0 < in[0]; ++i0) {                                                         \
            output = ek_pad_fill_##T(output, value, lo[1] * w2);                                 \
            for (i1 = 0; i1 < in[1]; ++i1) {                                                     \
                const T *row = input + (i0 * in[1] + i1) * in[2] * in[3];                        \
                output = ek_pad_fill_##T(output, value, lo[2] * w3);                             \
                if (whole_rows) {                                                                \
                    memcpy(output, row, (size_t)(in[2] * in[3]) * sizeof(T));                    \
                    output += in[2] * in[3];                                                     \
                } else {                                                                         \
                    for (i2 = 0; i2 < in[2]; ++i2) {                                             \
                        output = ek_pad_fill_##T(output, value, lo[3]);                          \
                        memcpy(output, row + i2 * in[3], (size_t)in[3] * sizeof(T));             \
                        output = ek_pad_fill_##T(output + in[3], value, hi[3]);                  \
                    }                                                                            \
                }                                                                                \
                output = ek_pad_fill_##T(output, value, hi[2] * w3);                             \
            }                                                                                    \
            output = ek_pad_fill_##T(output, value, hi[1] * w2);                                 \
        }                                                                                        \
        (void)ek_pad_fill_##T(output, value, hi[0] * w1);                                        \
    }

/* n copies of value from p on; the position after them. */
static int8_t *ek_pad_fill_int8_t(int8_t *p, int8_t value, int32_t n)
{
    if (n > 0) {
        memset(p, (uint8_t)value, (size_t)n);
        p += n;
    }
    return p;
}

static int16_t *ek_pad_fill_int16_t(int16_t *p, int16_t value, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        *p++ = value;
    }
    return p;
}

void ek_pad_s8_ref(const ek_pad_params *params, const int8_t *input, int8_t *output)
EK_PAD(int8_t)

void ek_pad_s16_ref(const ek_pad_params *params, const int16_t *input, int16_t *output)
EK_PAD(int16_t)
