/* UNIDIRECTIONAL_SEQUENCE_LSTM with its gate products on the DSP extension: two units (weight
 * rows) per pass, each loaded input word feeding both through SMLAD (ek_dot_1x2). The rest of
 * the step is ek_lstm.c's; integer sums do not depend on their order, so the bytes are the
 * reference kernel's. */
#include "ek_dsp.h"

static EK_INLINE int16_t ek_lstm_gate_value(int32_t acc, int32_t multiplier, int32_t shift,
                                            int16_t gate)
{
    acc = ek_multiply_by_quantized_multiplier(acc, multiplier, shift) + gate;
    return (int16_t)ek_clamp(acc, INT16_MIN, INT16_MAX);
}

static void ek_lstm_gate_dsp(const int8_t *vector, int32_t size, const int8_t *weights,
                             const int32_t *bias, int32_t multiplier, int32_t shift,
                             int32_t units, int16_t *gate)
{
    int32_t r, c;
    for (r = 0; r + 1 < units; r += 2) {
        int32_t a0 = bias[r], a1 = bias[r + 1];
        ek_dot_1x2(vector, weights + r * size, size, &a0, &a1);
        gate[r] = ek_lstm_gate_value(a0, multiplier, shift, gate[r]);
        gate[r + 1] = ek_lstm_gate_value(a1, multiplier, shift, gate[r + 1]);
    }
    if (r < units) { /* an odd last unit */
        const int8_t *row = weights + r * size;
        int32_t acc = bias[r];
        for (c = 0; c < size; ++c) {
            acc += (int32_t)vector[c] * row[c];
        }
        gate[r] = ek_lstm_gate_value(acc, multiplier, shift, gate[r]);
    }
}

void ek_lstm_s8_dsp(const ek_lstm_params *params, const int8_t *input,
                    const int8_t *input_weights, const int8_t *recurrent_weights,
                    const int32_t *bias, int8_t *output_state, int16_t *cell_state,
                    int8_t *output, void *scratch)
{
    ek_lstm_steps_s8(params, input, input_weights, recurrent_weights, bias, output_state,
                     cell_state, output, scratch, ek_lstm_gate_dsp);
}
