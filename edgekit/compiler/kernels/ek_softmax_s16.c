/* SOFTMAX, int16 in and out (16x8): TFLite's reference_ops::SoftmaxInt16. Each difference to
 * the row maximum is rescaled so that [-65535, 0] spans exp's table range [-10, 0], exp comes
 * from a 513-entry table read with linear interpolation, the sum of the exps (Q16.15) is
 * normalized and inverted through the 1 / (1 + x) table, and each exp is scaled by that
 * reciprocal into [0, 32767] (output scale 2^-15). The exps wait in the output row between the
 * two passes, as in TFLite, so the output must not alias the input. */
#include "ek_kernels.h"

/* TFLite's LUTLookup: entry 256 + value / 128, interpolated by the value's low 7 bits. */
static inline int16_t ek_table_lookup_s16(int32_t value, const int16_t *table)
{
    const int32_t index = 256 + (value >> 7);
    const int32_t offset = value & 0x7F;
    const int16_t slope = (int16_t)(table[index + 1] - table[index]);
    return (int16_t)(table[index] + ((slope * offset + 64) >> 7));
}

static inline int32_t ek_leading_zeros(uint32_t x)
{
    int32_t n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & 0x80000000u) == 0) {
        x <<= 1;
        ++n;
    }
    return n;
}

void ek_softmax_s16_ref(const ek_softmax_s16_params *params, const int16_t *input,
                        int16_t *output)
{
    const int32_t depth = params->depth;
    int32_t r, c;

    for (r = 0; r < params->rows; ++r) {
        const int16_t *in = input + r * depth;
        int16_t *out = output + r * depth;
        int32_t max = INT16_MIN;
        int32_t sum = 0; /* Q16.15 */
        int32_t headroom, shifted, reciprocal, right_shift;

        for (c = 0; c < depth; ++c) {
            max = in[c] > max ? in[c] : max;
        }
        for (c = 0; c < depth; ++c) {
            const int32_t scaled = ek_multiply_by_quantized_multiplier(
                (int32_t)in[c] - max, params->input_multiplier, params->input_left_shift);
            /* recentred from [-65535, 0] to [-32768, 32767] for the table */
            out[c] = ek_table_lookup_s16(ek_clamp(scaled + 32767, INT16_MIN, INT16_MAX),
                                         params->exp_table);
            sum += out[c];
        }
        /* the sum's top 16 bits below its leading one, rounded: x of 1 / (1 + x), recentred */
        headroom = ek_leading_zeros((uint32_t)sum);
        shifted = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14);
        reciprocal = ek_table_lookup_s16(
            ek_clamp(shifted - ((1 << 15) + (1 << 16)), INT16_MIN, INT16_MAX),
            params->reciprocal_table);
        right_shift = 31 - headroom;
        for (c = 0; c < depth; ++c) {
            const int32_t value =
                (int32_t)(((int64_t)out[c] * reciprocal + ((int64_t)1 << (right_shift - 1))) >>
                          right_shift);
            out[c] = (int16_t)ek_clamp(value, 0, INT16_MAX);
        }
    }
}
