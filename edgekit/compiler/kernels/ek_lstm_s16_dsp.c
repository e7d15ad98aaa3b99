/* The 16x8 UNIDIRECTIONAL_SEQUENCE_LSTM with its gate products on the DSP extension: two units
 * (weight rows) per pass, SMLALD adding two int16 x int16 products to a 64-bit sum. The weights
 * stay as TFLite stores them: SXTB16 of a weight word gives (w0, w2) and with ROR 8 (w1, w3),
 * so the input words (x0, x1), (x2, x3) are repacked by PKHBT and PKHTB into (x0, x2), (x1, x3)
 * once per pass, for both rows. The rest of the step is ek_lstm_s16.c's; integer sums do not
 * depend on their order, so the bytes are the reference kernel's. */
#include <string.h>

#include "ek_dsp.h"

/* (low half of a, low half of b) and (high half of a, high half of b): PKHBT and PKHTB, which
 * GCC does not emit for the same expression in C (it spends two instructions on each). */
static inline int16x2_t ek_pack_low(uint32_t a, uint32_t b)
{
#if defined(__GNUC__)
    int16x2_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int16x2_t)((a & 0xFFFFu) | (b << 16));
#endif
}

static inline int16x2_t ek_pack_high(uint32_t a, uint32_t b)
{
#if defined(__GNUC__)
    int16x2_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
#else
    return (int16x2_t)((a >> 16) | (b & 0xFFFF0000u));
#endif
}

static EK_INLINE void ek_lstm_dot2_s16(const int16_t *x, const int8_t *w, const int8_t *v,
                                       int32_t size, int64_t *a0, int64_t *a1)
{
    int64_t s0 = *a0, s1 = *a1;
    int32_t i;
    for (i = size >> 2; i > 0; --i) {
        uint32_t x01, x23, wa, wb;
        int16x2_t x02, x13;
        memcpy(&x01, x, 4);
        memcpy(&x23, x + 2, 4);
        x02 = ek_pack_low(x01, x23);
        x13 = ek_pack_high(x01, x23);
        wa = ek_load4(w);
        wb = ek_load4(v);
        s0 = __smlald(x02, __sxtb16(wa), s0);
        s0 = __smlald(x13, ek_sxtb16_ror8(wa), s0);
        s1 = __smlald(x02, __sxtb16(wb), s1);
        s1 = __smlald(x13, ek_sxtb16_ror8(wb), s1);
        x += 4;
        w += 4;
        v += 4;
    }
    for (i = size & 3; i > 0; --i) {
        s0 += (int32_t)*x * (int32_t)*w++;
        s1 += (int32_t)*x++ * (int32_t)*v++;
    }
    *a0 = s0;
    *a1 = s1;
}

static void ek_lstm_gate_s16_dsp(const int16_t *vector, int32_t size, const int8_t *weights,
                                 const int64_t *bias, int32_t multiplier, int32_t shift,
                                 int32_t units, int16_t *gate)
{
    int32_t r, c;
    for (r = 0; r + 1 < units; r += 2) {
        const int8_t *row = weights + r * size;
        int64_t a0 = bias != 0 ? bias[r] : 0, a1 = bias != 0 ? bias[r + 1] : 0;
        ek_lstm_dot2_s16(vector, row, row + size, size, &a0, &a1);
        gate[r] = ek_lstm_gate_add_s16(gate[r], a0, multiplier, shift);
        gate[r + 1] = ek_lstm_gate_add_s16(gate[r + 1], a1, multiplier, shift);
    }
    if (r < units) { /* an odd last unit */
        const int8_t *row = weights + r * size;
        int64_t acc = bias != 0 ? bias[r] : 0;
        for (c = 0; c < size; ++c) {
            acc += (int32_t)vector[c] * row[c];
        }
        gate[r] = ek_lstm_gate_add_s16(gate[r], acc, multiplier, shift);
    }
}

void ek_lstm_s16_dsp(const ek_lstm_params *params, const int16_t *input,
                     const int8_t *input_weights, const int8_t *recurrent_weights,
                     const int64_t *bias, int16_t *output_state, int16_t *cell_state,
                     int16_t *output, void *scratch)
{
    ek_lstm_steps_s16(params, input, input_weights, recurrent_weights, bias, output_state,
                      cell_state, output, scratch, ek_lstm_gate_s16_dsp);
}
