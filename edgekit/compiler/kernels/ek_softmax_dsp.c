/* SOFTMAX, int8, for cores with the DSP extension: ek_softmax_s8_ref's arithmetic with its exp
 * looked up. The reference exponentiates each difference to the row maximum, an integer in
 * [-255, 0]; the build computes that Q0.31 exp for all 256 differences (tables.
 * softmax_exp_table, 0 below diff_min, where the reference adds nothing and outputs -128, as a
 * 0 does), so the row costs a maximum (four lanes per SSUB8 + SEL), a sum of looked-up exps and
 * one rescale per element, the reciprocal of the sum computed once per row as the reference
 * does. */
#include "ek_dsp.h"

#define EK_ACCUM_INTEGER_BITS 12 /* the sum of exps is Q12.19 */

/* The row maximum: four lanes at a time (SSUB8 sets each lane's GE flag where the new byte is
 * at least the running one, SEL keeps that byte), then the lanes and the tail. */
static int32_t ek_softmax_max(const int8_t *in, int32_t depth)
{
    uint32_t lanes = 0x80808080u;
    int32_t c, max;
    for (c = 0; c + 4 <= depth; c += 4) {
        const uint32_t v = ek_load4(in + c);
        uint32_t kept; /* one asm: SEL reads the GE flags SSUB8 sets */
        __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(kept) : "r"(v), "r"(lanes) : "cc");
        lanes = kept;
    }
    max = (int8_t)lanes;
    max = (int8_t)(lanes >> 8) > max ? (int8_t)(lanes >> 8) : max;
    max = (int8_t)(lanes >> 16) > max ? (int8_t)(lanes >> 16) : max;
    max = (int8_t)(lanes >> 24) > max ? (int8_t)(lanes >> 24) : max;
    for (; c < depth; ++c) {
        max = in[c] > max ? in[c] : max;
    }
    return max;
}

void ek_softmax_s8_dsp(const ek_softmax_table_params *params, const int8_t *input, int8_t *output)
{
    const int32_t depth = params->depth;
    const int32_t *table = params->exp_table;
    int32_t r, c;

    for (r = 0; r < params->rows; ++r) {
        const int8_t *in = input + r * depth;
        int8_t *out = output + r * depth;
        const int32_t max = ek_softmax_max(in, depth);
        uint32_t sum = 0; /* Q12.19 */
        int32_t headroom, exponent;
        uint32_t reciprocal, round;

        for (c = 0; c < depth; ++c) {
            /* ek_rounding_divide_by_pot(exp, 12) of a non-negative exp */
            sum += ((uint32_t)table[max - in[c]] + 2048u) >> EK_ACCUM_INTEGER_BITS;
        }
        /* 1/sum: normalize sum to [1, 2) as 1 + x, x in Q0.31, and invert */
        headroom = (int32_t)__builtin_clz(sum); /* sum >= 2^19: the maximum's exp alone */
        reciprocal = (uint32_t)ek_one_over_one_plus_x((int32_t)((sum << headroom) - (1u << 31)));
        exponent = EK_ACCUM_INTEGER_BITS - headroom + 31 - 8;
        if (exponent > 31) {
            exponent = 31; /* 512+ ties for the maximum: TFLite rejects the row */
        }
        round = 1u << (exponent - 1);
        for (c = 0; c < depth; ++c) {
            /* the Q0.31 product and ek_rounding_divide_by_pot of non-negative values: both round half up */
            const uint64_t product = (uint64_t)reciprocal * (uint32_t)table[max - in[c]];
            const uint32_t probability = (uint32_t)((product + (1u << 30)) >> 31);
            const int32_t value = (int32_t)((probability + round) >> exponent) + INT8_MIN;
            out[c] = (int8_t)(value > INT8_MAX ? INT8_MAX : value);
        }
    }
}
