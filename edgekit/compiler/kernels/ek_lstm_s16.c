/* UNIDIRECTIONAL_SEQUENCE_LSTM, 16x8 (int16 activations and states, int8 weights, int64 biases,
 * an int16 cell state with a power-of-two scale), as TFLite Micro's LstmStep computes it; LiteRT
 * has no 16x8 LSTM kernel. Per step:
 *   - each gate: the input times its input weights plus its bias, and the output state times
 *     its recurrent weights, each an int64 sum rescaled to Q3.12 (TFLite's int64
 *     MultiplyByQuantizedMultiplier) and saturated to int16, then their saturating sum;
 *   - sigmoid (input, forget, output gates) and tanh (cell gate) of Q3.12, and tanh of the
 *     cell, are TFLite's int16 LOGISTIC and TANH (ek_activation_s16.c), giving Q0.15;
 *   - cell = sat16(rescale(forget * cell)) + sat16(rescale(input * cell gate)), saturated and
 *     clipped, each product rescaled by TFLite's int32 MultiplyByQuantizedMultiplier with the
 *     multiplier of 2^-15 and of 2^-30 / cell scale;
 *   - output state = rescale(output gate * tanh(cell)) to int16; copied to the step's output.
 * Only the gate products differ between variants (ek_lstm_steps_s16). */
#include "ek_kernels.h"

int16_t ek_lstm_gate_add_s16(int16_t gate, int64_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t product =
        ek_clamp(ek_multiply_by_quantized_multiplier_s64(acc, multiplier, shift), INT16_MIN,
                 INT16_MAX);
    return (int16_t)ek_clamp((int32_t)gate + product, INT16_MIN, INT16_MAX);
}

void ek_lstm_gate_s16(const int16_t *vector, int32_t size, const int8_t *weights,
                      const int64_t *bias, int32_t multiplier, int32_t shift, int32_t units,
                      int16_t *gate)
{
    int32_t r, c;
    for (r = 0; r < units; ++r) {
        const int8_t *row = weights + r * size;
        int64_t acc = bias != 0 ? bias[r] : 0;
        for (c = 0; c < size; ++c) {
            acc += (int32_t)vector[c] * row[c];
        }
        gate[r] = ek_lstm_gate_add_s16(gate[r], acc, multiplier, shift);
    }
}

/* The tanh of TFLite Micro's LSTM for a value whose scale is 2^exponent: TFLite's int16 TANH of
 * a Q3.12 input, the value shifted left by 12 + exponent (or multiplied by 3 and shifted right,
 * the TANH's own factor of 3 folded in, when that is negative). */
static void ek_lstm_tanh_s16(const int16_t *input, int32_t size, int32_t exponent,
                             int16_t *output)
{
    const int32_t shift = 12 + exponent;
    ek_sigmoid_s16_params p;
    p.size = size;
    p.input_multiplier = shift < 0 ? 3 : 0;
    p.input_left_shift = shift < 0 ? -shift : shift;
    ek_tanh_s16_ref(&p, input, output);
}

void ek_lstm_update_s16(const ek_lstm_params *params, int16_t *gates, int16_t *cell_state,
                        int16_t *output_state, int16_t *output)
{
    const int32_t units = params->units;
    /* QuantizeMultiplier(2^-15) and QuantizeMultiplier(2^-15 * 2^-15 / 2^cell_exponent) */
    const int32_t half = (int32_t)1 << 30, cell_shift = -29 - params->cell_exponent;
    int16_t *input_gate = gates, *forget_gate = gates + units;
    int16_t *cell_gate = gates + 2 * units, *output_gate = gates + 3 * units;
    ek_sigmoid_s16_params sigmoid;
    int32_t j;

    sigmoid.size = units;
    sigmoid.input_multiplier = 0;
    sigmoid.input_left_shift = 0;
    ek_logistic_s16_ref(&sigmoid, input_gate, input_gate);
    ek_logistic_s16_ref(&sigmoid, forget_gate, forget_gate);
    ek_lstm_tanh_s16(cell_gate, units, -12, cell_gate);
    ek_logistic_s16_ref(&sigmoid, output_gate, output_gate);
    for (j = 0; j < units; ++j) {
        const int32_t kept = ek_clamp(
            ek_multiply_by_quantized_multiplier((int32_t)forget_gate[j] * cell_state[j], half,
                                                -14),
            INT16_MIN, INT16_MAX);
        const int32_t added = ek_clamp(
            ek_multiply_by_quantized_multiplier((int32_t)input_gate[j] * cell_gate[j], half,
                                                cell_shift),
            INT16_MIN, INT16_MAX);
        int32_t cell = ek_clamp(kept + added, INT16_MIN, INT16_MAX);
        if (params->cell_clip > 0) {
            cell = ek_clamp(cell, -params->cell_clip, params->cell_clip);
        }
        cell_state[j] = (int16_t)cell;
    }
    ek_lstm_tanh_s16(cell_state, units, params->cell_exponent, forget_gate);
    for (j = 0; j < units; ++j) { /* forget_gate now holds tanh(cell) */
        const int32_t h = params->hidden_zero_point +
                          ek_multiply_by_quantized_multiplier(
                              (int32_t)forget_gate[j] * output_gate[j], params->hidden_multiplier,
                              params->hidden_shift);
        output_state[j] = (int16_t)ek_clamp(h, INT16_MIN, INT16_MAX);
        output[j] = output_state[j];
    }
}

void ek_lstm_steps_s16(const ek_lstm_params *params, const int16_t *input,
                       const int8_t *input_weights, const int8_t *recurrent_weights,
                       const int64_t *bias, int16_t *output_state, int16_t *cell_state,
                       int16_t *output, void *scratch, ek_lstm_gate_s16_fn gate_product)
{
    const int32_t units = params->units, size = params->input_size;
    int16_t *gates = (int16_t *)scratch;
    int32_t t, g, j;

    for (t = 0; t < params->steps; ++t) {
        for (j = 0; j < 4 * units; ++j) {
            gates[j] = 0;
        }
        for (g = 0; g < 4; ++g) {
            int16_t *gate = gates + g * units;
            gate_product(input + t * size, size, input_weights + g * units * size,
                         bias + g * units, params->input_multiplier[g], params->input_shift[g],
                         units, gate);
            gate_product(output_state, units, recurrent_weights + g * units * units, 0,
                         params->recurrent_multiplier[g], params->recurrent_shift[g], units,
                         gate);
        }
        ek_lstm_update_s16(params, gates, cell_state, output_state, output + t * units);
    }
}

void ek_lstm_s16_ref(const ek_lstm_params *params, const int16_t *input,
                     const int8_t *input_weights, const int8_t *recurrent_weights,
                     const int64_t *bias, int16_t *output_state, int16_t *cell_state,
                     int16_t *output, void *scratch)
{
    ek_lstm_steps_s16(params, input, input_weights, recurrent_weights, bias, output_state,
                      cell_state, output, scratch, ek_lstm_gate_s16);
}
