/* The 16x8 UNIDIRECTIONAL_SEQUENCE_LSTM with its gate products on Helium: each weight row
 * against the int16 input eight values at a time, VLDRB.S16 widening the weights as it loads
 * them and VMLALDAVA.S16 adding the eight products to a 64-bit sum; the last partial vector is
 * predicated (its other lanes load as 0). The rest of the step is ek_lstm_s16.c's; integer sums
 * do not depend on their order, so the bytes are the reference kernel's. */
#include "ek_mve.h"

static void ek_lstm_gate_s16_mve(const int16_t *vector, int32_t size, const int8_t *weights,
                                 const int64_t *bias, int32_t multiplier, int32_t shift,
                                 int32_t units, int16_t *gate)
{
    int32_t r, c;
    for (r = 0; r < units; ++r) {
        const int8_t *row = weights + r * size;
        int64_t acc = bias != 0 ? bias[r] : 0;
        for (c = 0; c < size; c += 8) {
            const mve_pred16_t p = vctp16q((uint32_t)(size - c));
            acc = vmlaldavaq_s16(acc, vldrhq_z_s16(vector + c, p), vldrbq_z_s16(row + c, p));
        }
        gate[r] = ek_lstm_gate_add_s16(gate[r], acc, multiplier, shift);
    }
}

void ek_lstm_s16_mve(const ek_lstm_params *params, const int16_t *input,
                     const int8_t *input_weights, const int8_t *recurrent_weights,
                     const int64_t *bias, int16_t *output_state, int16_t *cell_state,
                     int16_t *output, void *scratch)
{
    ek_lstm_steps_s16(params, input, input_weights, recurrent_weights, bias, output_state,
                      cell_state, output, scratch, ek_lstm_gate_s16_mve);
}
