/* UNIDIRECTIONAL_SEQUENCE_LSTM with its gate products on Helium: each weight row against the
 * input 16 bytes at a time with VMLADAVA.S8, the last partial vector predicated (its other
 * lanes load as 0). The rest of the step is ek_lstm.c's; integer sums do not depend on their
 * order, so the bytes are the reference kernel's. */
#include "ek_mve.h"

static void ek_lstm_gate_mve(const int8_t *vector, int32_t size, const int8_t *weights,
                             const int32_t *bias, int32_t multiplier, int32_t shift,
                             int32_t units, int16_t *gate)
{
    int32_t r, c;
    for (r = 0; r < units; ++r) {
        const int8_t *row = weights + r * size;
        int32_t acc = bias[r];
        for (c = 0; c < size; c += 16) {
            const mve_pred16_t p = vctp8q((uint32_t)(size - c));
            acc = vmladavaq_s8(acc, vldrbq_z_s8(vector + c, p), vldrbq_z_s8(row + c, p));
        }
        acc = ek_multiply_by_quantized_multiplier(acc, multiplier, shift) + gate[r];
        gate[r] = (int16_t)ek_clamp(acc, INT16_MIN, INT16_MAX);
    }
}

void ek_lstm_s8_mve(const ek_lstm_params *params, const int8_t *input,
                    const int8_t *input_weights, const int8_t *recurrent_weights,
                    const int32_t *bias, int8_t *output_state, int16_t *cell_state,
                    int8_t *output, void *scratch)
{
    ek_lstm_steps_s8(params, input, input_weights, recurrent_weights, bias, output_state,
                     cell_state, output, scratch, ek_lstm_gate_mve);
}
