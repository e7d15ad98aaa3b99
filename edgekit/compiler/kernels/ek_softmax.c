/* SOFTMAX, int8 in and out: TFLite's reference_ops::Softmax for quantized types. The input
 * differences to the row maximum are rescaled to Q5.26, exponentiated with gemmlowp's
 * fixed-point exp on negative values, summed in Q12.19, and divided through a Newton-Raphson
 * reciprocal of the sum; the result is Q0.31 scaled down to 8 bits. */
#include "ek_kernels.h"

#define EK_ACCUM_INTEGER_BITS 12 /* the sum of exps is Q12.19 */

static inline int32_t mul_q31(int32_t a, int32_t b)
{
    return ek_saturating_rounding_doubling_high_mul(a, b);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: a Taylor expansion around -1/8. */
static inline int32_t exp_on_quarter_interval(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668;
    const int32_t one_third = 715827883;
    const int32_t x = a + ((int32_t)1 << 28); /* a + 1/8 */
    const int32_t x2 = mul_q31(x, x);
    const int32_t x3 = mul_q31(x2, x);
    const int32_t x4 = mul_q31(x2, x2);
    const int32_t x4_over_4 = ek_rounding_divide_by_pot(x4, 2);
    const int32_t poly = ek_rounding_divide_by_pot(mul_q31(x4_over_4 + x3, one_third) + x2, 1);
    return exp_minus_one_eighth + mul_q31(exp_minus_one_eighth, x + poly);
}

/* exp(a) for a <= 0: a in Q5.26, result in Q0.31. a = -(whole quarters) + (a remainder in
 * [-1/4, 0)); the quarters multiply in exp(-2^k) for each set bit. */
static inline int32_t exp_on_negative_values(int32_t a)
{
    /* exp(-1/4), exp(-1/2), exp(-1), exp(-2), exp(-4), exp(-8), exp(-16) in Q0.31 */
    static const int32_t exp_of_minus_pot[7] = {1672461947, 1302514674, 790015084, 290630308,
                                                39332535,   720401,     242};
    const int32_t quarter = (int32_t)1 << 24; /* 1/4 in Q5.26 */
    const int32_t rest = (a & (quarter - 1)) - quarter;
    const int32_t quarters = rest - a;
    int32_t result = exp_on_quarter_interval(ek_saturating_shift_left(rest, 5));
    int32_t k;
    for (k = 0; k < 7; ++k) {
        if (quarters & ((int32_t)1 << (24 + k))) {
            result = mul_q31(result, exp_of_minus_pot[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

static inline int32_t count_leading_zeros(uint32_t x)
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

void ek_softmax_s8_ref(const ek_softmax_params *params, const int8_t *input, int8_t *output)
{
    const int32_t depth = params->depth;
    int32_t r, c;

    for (r = 0; r < params->rows; ++r) {
        const int8_t *in = input + r * depth;
        int8_t *out = output + r * depth;
        int32_t max = INT8_MIN;
        int32_t sum = 0; /* Q12.19 */
        int32_t headroom, bits_over_unit, exponent, reciprocal;

        for (c = 0; c < depth; ++c) {
            max = in[c] > max ? in[c] : max;
        }
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max;
            if (diff >= params->diff_min) {
                const int32_t scaled = ek_multiply_by_quantized_multiplier(
                    diff, params->input_multiplier, params->input_left_shift);
                /* Q0.31 to Q12.19 */
                sum += ek_rounding_divide_by_pot(exp_on_negative_values(scaled),
                                                 EK_ACCUM_INTEGER_BITS);
            }
        }
        /* 1/sum: normalize sum to [1, 2) as 1 + x, x in Q0.31, and invert */
        headroom = count_leading_zeros((uint32_t)sum);
        bits_over_unit = EK_ACCUM_INTEGER_BITS - headroom;
        reciprocal = ek_one_over_one_plus_x(
            (int32_t)(((uint32_t)sum << headroom) - ((uint32_t)1 << 31)));
        exponent = bits_over_unit + 31 - 8;
        if (exponent > 31) {
            exponent = 31; /* 512+ ties for the maximum: TFLite rejects the row */
        }
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max;
            int32_t value = INT8_MIN;
            if (diff >= params->diff_min) {
                const int32_t scaled = ek_multiply_by_quantized_multiplier(
                    diff, params->input_multiplier, params->input_left_shift);
                const int32_t probability = mul_q31(reciprocal, exp_on_negative_values(scaled));
                value = ek_clamp(ek_rounding_divide_by_pot(probability, exponent) + INT8_MIN,
                                 INT8_MIN, INT8_MAX);
            }
            out[c] = (int8_t)value;
        }
    }
}
