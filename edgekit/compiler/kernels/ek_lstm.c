/* UNIDIRECTIONAL_SEQUENCE_LSTM, TFLite's 8x8_16 integer LSTM (no CIFG, peephole, projection or
 * layer normalization), step by step as lstm_eval.cc's integer step computes it:
 *   - each gate (input, forget, cell, output) accumulates, in int16 Q3.12 with saturation, the
 *     input times its input weights and the previous output state times its recurrent weights,
 *     each product plus its folded bias rescaled on its own;
 *   - sigmoid (input, forget, output gates) or tanh (cell gate) in gemmlowp's int16 fixed point,
 *     giving Q0.15;
 *   - cell = forget * cell / 2^15 + input * cell gate / 2^(30 + cell exponent), saturated to
 *     int16 and clipped;
 *   - output state = output gate * tanh(cell), rescaled to int8; copied to the step's output.
 * The activations below are gemmlowp's FixedPoint<int16_t> logistic and tanh, operation by
 * operation, with int16 wraparound where gemmlowp's int16 arithmetic wraps. */
#include "ek_kernels.h"

static EK_INLINE int16_t ek_w16(int32_t x)
{
    return (int16_t)x; /* two's complement wrap, as gemmlowp's int16 Add, Sub and Neg */
}

static EK_INLINE int16_t ek_q15_mul(int16_t a, int16_t b)
{
    const int32_t ab = (int32_t)a * (int32_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)((ab + nudge) / (1 << 15));
}

static EK_INLINE int16_t ek_q15_divide_by_pot(int16_t x, int32_t exponent)
{
    const int32_t mask = (1 << exponent) - 1;
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return ek_w16((x >> exponent) + (remainder > threshold ? 1 : 0));
}

/* x * 2^exponent, saturating left or rounding right (gemmlowp's SaturatingRoundingMultiplyByPOT) */
static EK_INLINE int16_t ek_q15_pot(int16_t x, int32_t exponent)
{
    if (exponent > 0) {
        const int32_t threshold = (1 << (15 - exponent)) - 1;
        if (x > threshold) {
            return INT16_MAX;
        }
        if (x < -threshold) {
            return INT16_MIN;
        }
        return (int16_t)(x * (1 << exponent));
    }
    return exponent < 0 ? ek_q15_divide_by_pot(x, -exponent) : x;
}

/* gemmlowp's constants are Q0.31 int32 values, rounded to 16 bits (RescaleConstantInitializer)
 * for int16: these are those roundings. */
#define EK_Q15_EXP_MINUS_1_8 28918 /* exp(-1/8), from 1895147668 */
#define EK_Q15_ONE_THIRD 10923     /* from 715827883 */
#define EK_Q13_48_OVER_17 23130    /* Q2.13, from 1515870810 */
#define EK_Q13_MINUS_32_OVER_17 (-15420) /* Q2.13, from -1010580540 */
#define EK_Q15_HALF 16384          /* from 1 << 30 */

static EK_INLINE int16_t ek_q15_saturating_add(int16_t a, int16_t b)
{
    return (int16_t)ek_clamp((int32_t)a + b, INT16_MIN, INT16_MAX);
}

/* exp(a) for a in [-1/4, 0), Q0.15 in and out */
static EK_INLINE int16_t ek_q15_exp_quarter(int16_t a)
{
    const int16_t constant_term = EK_Q15_EXP_MINUS_1_8, one_third = EK_Q15_ONE_THIRD;
    const int16_t x = ek_w16(a + (1 << 12));
    const int16_t x2 = ek_q15_mul(x, x);
    const int16_t x3 = ek_q15_mul(x2, x);
    const int16_t x4 = ek_q15_mul(x2, x2);
    const int16_t x4_over_4 = ek_q15_divide_by_pot(x4, 2);
    const int16_t series = ek_q15_divide_by_pot(
        ek_w16(ek_q15_mul(ek_w16(x4_over_4 + x3), one_third) + x2), 1);
    return ek_q15_saturating_add(constant_term, ek_q15_mul(constant_term, ek_w16(x + series)));
}

/* exp(a) for a <= 0 with `bits` integer bits, Q0.15 out */
static EK_INLINE int16_t ek_q15_exp_negative(int16_t a, int32_t bits)
{
    /* exp(-1/4), exp(-1/2), exp(-1), ..., exp(-16) rounded from gemmlowp's Q0.31 values */
    static const int16_t multipliers[7] = {25520, 19875, 12055, 4435, 600, 11, 0};
    const int32_t fraction = 15 - bits;
    const int16_t quarter = (int16_t)(1 << (fraction - 2));
    const int16_t shifted = ek_w16((a & (quarter - 1)) - quarter);
    const int16_t remainder = ek_w16(shifted - a);
    int16_t result = ek_q15_exp_quarter(ek_q15_pot(shifted, bits));
    int32_t k;

    for (k = 0; k < 7; ++k) {
        const int32_t exponent = k - 2;
        if (bits > exponent && (remainder & (1 << (fraction + exponent))) != 0) {
            result = ek_q15_mul(result, multipliers[k]);
        }
    }
    if (bits > 5 && a < (int16_t)ek_rounding_divide_by_pot(-(1 << (36 - bits)), 16)) {
        result = 0;
    }
    return a == 0 ? INT16_MAX : result;
}

/* Newton-Raphson for 1 / (1 + a), a in (0, 1); its Q2.13 estimate */
static EK_INLINE int16_t ek_q15_reciprocal_estimate(int16_t a)
{
    const int32_t sum = (int32_t)a + INT16_MAX;
    const int16_t half_denominator = (int16_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int16_t x = ek_w16(EK_Q13_48_OVER_17 + ek_q15_mul(half_denominator, EK_Q13_MINUS_32_OVER_17));
    int32_t i;

    for (i = 0; i < 3; ++i) {
        const int16_t one_minus = ek_w16((1 << 13) - ek_q15_mul(half_denominator, x));
        x = ek_w16(x + ek_q15_pot(ek_q15_mul(x, one_minus), 2));
    }
    return x;
}

/* gemmlowp's logistic of a Q(bits).(15 - bits) value, Q0.15 out */
static EK_INLINE int16_t ek_q15_sigmoid(int16_t a, int32_t bits)
{
    const int16_t magnitude = a > 0 ? a : ek_w16(-a);
    const int16_t exp = ek_q15_exp_negative(ek_w16(-magnitude), bits);
    const int16_t positive = ek_q15_pot(ek_q15_reciprocal_estimate(exp), 1);
    if (a == 0) {
        return EK_Q15_HALF;
    }
    return a > 0 ? positive : ek_w16(INT16_MAX - positive);
}

/* gemmlowp's tanh of a Q(bits).(15 - bits) value, Q0.15 out */
static EK_INLINE int16_t ek_q15_tanh(int16_t a, int32_t bits)
{
    const int16_t negative = a < 0 ? a : ek_w16(-a);
    const int16_t exp = ek_q15_exp_negative(negative, bits + 1);
    const int16_t t = ek_q15_pot(ek_w16(ek_q15_reciprocal_estimate(exp) - (1 << 13)), 2);
    if (a == 0) {
        return 0;
    }
    return a < 0 ? ek_w16(-t) : t;
}

/* tanh of the cell state into out, its integer bits (0 to 6) a constant in each loop */
static void ek_lstm_cell_tanh(const int16_t *cell, int32_t units, int32_t bits, int16_t *out)
{
    int32_t j;
#define EK_LSTM_TANH_CASE(b)                                                                    \
    case b:                                                                                     \
        for (j = 0; j < units; ++j) {                                                           \
            out[j] = ek_q15_tanh(cell[j], b);                                                   \
        }                                                                                       \
        break;
    switch (bits) {
        EK_LSTM_TANH_CASE(0)
        EK_LSTM_TANH_CASE(1)
        EK_LSTM_TANH_CASE(2)
        EK_LSTM_TANH_CASE(3)
        EK_LSTM_TANH_CASE(4)
        EK_LSTM_TANH_CASE(5)
        EK_LSTM_TANH_CASE(6)
    default:
        break;
    }
#undef EK_LSTM_TANH_CASE
}

void ek_lstm_gate_s8(const int8_t *vector, int32_t size, const int8_t *weights,
                     const int32_t *bias, int32_t multiplier, int32_t shift, int32_t units,
                     int16_t *gate)
{
    int32_t r, c;
    for (r = 0; r < units; ++r) {
        const int8_t *row = weights + r * size;
        int32_t acc = bias[r];
        for (c = 0; c < size; ++c) {
            acc += (int32_t)vector[c] * row[c];
        }
        acc = ek_multiply_by_quantized_multiplier(acc, multiplier, shift) + gate[r];
        gate[r] = (int16_t)ek_clamp(acc, INT16_MIN, INT16_MAX);
    }
}

void ek_lstm_update_s8(const ek_lstm_params *params, int16_t *gates, int16_t *cell_state,
                       int8_t *output_state, int8_t *output)
{
    const int32_t units = params->units;
    const int32_t cell_shift = 30 + params->cell_exponent;
    int16_t *input_gate = gates, *forget_gate = gates + units;
    int16_t *cell_gate = gates + 2 * units, *output_gate = gates + 3 * units;
    int32_t j;

    for (j = 0; j < units; ++j) {
        input_gate[j] = ek_q15_sigmoid(input_gate[j], 3);
        forget_gate[j] = ek_q15_sigmoid(forget_gate[j], 3);
        cell_gate[j] = ek_q15_tanh(cell_gate[j], 3);
        output_gate[j] = ek_q15_sigmoid(output_gate[j], 3);
    }
    for (j = 0; j < units; ++j) {
        const int16_t kept = (int16_t)ek_rounding_divide_by_pot(
            (int32_t)forget_gate[j] * cell_state[j], 15);
        const int16_t added = (int16_t)ek_rounding_divide_by_pot(
            (int32_t)input_gate[j] * cell_gate[j], cell_shift);
        int32_t cell = ek_clamp((int32_t)kept + added, INT16_MIN, INT16_MAX);
        if (params->cell_clip > 0) {
            cell = ek_clamp(cell, -params->cell_clip, params->cell_clip);
        }
        cell_state[j] = (int16_t)cell;
    }
    ek_lstm_cell_tanh(cell_state, units, 15 + params->cell_exponent, forget_gate);
    for (j = 0; j < units; ++j) { /* forget_gate now holds tanh(cell) */
        int32_t h = ek_multiply_by_quantized_multiplier((int32_t)output_gate[j] * forget_gate[j],
                                                        params->hidden_multiplier,
                                                        params->hidden_shift);
        h = ek_clamp(h - params->hidden_zero_point, -128, 127);
        output_state[j] = (int8_t)h;
        output[j] = (int8_t)h;
    }
}

void ek_lstm_steps_s8(const ek_lstm_params *params, const int8_t *input,
                      const int8_t *input_weights, const int8_t *recurrent_weights,
                      const int32_t *bias, int8_t *output_state, int16_t *cell_state,
                      int8_t *output, void *scratch, ek_lstm_gate_fn gate_product)
{
    const int32_t units = params->units, size = params->input_size;
    int16_t *gates = (int16_t *)scratch;
    int32_t t, g, j;

    for (t = 0; t < params->steps; ++t) {
        const int8_t *x = input + t * size;
        for (j = 0; j < 4 * units; ++j) {
            gates[j] = 0;
        }
        for (g = 0; g < 4; ++g) {
            int16_t *gate = gates + g * units;
            gate_product(x, size, input_weights + g * units * size, bias + g * units,
                         params->input_multiplier[g], params->input_shift[g], units, gate);
            gate_product(output_state, units, recurrent_weights + g * units * units,
                         bias + (4 + g) * units, params->recurrent_multiplier[g],
                         params->recurrent_shift[g], units, gate);
        }
        ek_lstm_update_s8(params, gates, cell_state, output_state, output + t * units);
    }
}

void ek_lstm_s8_ref(const ek_lstm_params *params, const int8_t *input,
                    const int8_t *input_weights, const int8_t *recurrent_weights,
                    const int32_t *bias, int8_t *output_state, int16_t *cell_state,
                    int8_t *output, void *scratch)
{
    ek_lstm_steps_s8(params, input, input_weights, recurrent_weights, bias, output_state,
                     cell_state, output, scratch, ek_lstm_gate_s8);
}
