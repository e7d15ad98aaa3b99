/* SVDF, int8 with int16 state, for cores with the DSP extension: the feature product two filters
 * at a time (ek_dot_1x2: SXTB16 + SMLAD, each loaded input word feeding both filters), the input
 * offset folded in at build time (feature_offsets: input_offset * the sum of each filter's
 * weights; TFLite's weights have zero point 0); then, filter by filter, one pass moves the state
 * one entry towards the start and sums it against the time weights, two int16 products per
 * SMLAD. The new activations wait in the entries that drop out (the oldest), so the move needs
 * no pass of its own, and the state ends as ek_svdf_s8_ref leaves it. SMLAD keeps the low 32
 * bits of its sum, so it wraps where TFLite's int32 sums wrap. */
#include "ek_dsp.h"

/* Two int16 values from any address, as SMLAD's operand. */
static inline int16x2_t ek_svdf_load2(const int16_t *p)
{
    int16x2_t v;
    memcpy(&v, p, 4);
    return v;
}

/* x + w * s, wrapping as an int32 sum does. */
static inline int32_t ek_svdf_mac(int32_t x, int16_t w, int16_t s)
{
    return (int32_t)((uint32_t)x + (uint32_t)((int32_t)w * (int32_t)s));
}

/* One filter's state row: entries 1 .. memory - 1 move one towards the start, the newest
 * activation (parked in entry 0) goes last; its time-weighted sum is added to acc. */
static inline int32_t ek_svdf_row(int16_t *s, const int16_t *w, int32_t memory, int32_t acc)
{
    const int16_t newest = s[0];
    int32_t m;

    for (m = (memory - 1) >> 1; m > 0; --m) {
        const int16x2_t v = ek_svdf_load2(s + 1);
        memcpy(s, &v, 4);
        acc = __smlad(ek_svdf_load2(w), v, acc);
        s += 2;
        w += 2;
    }
    if ((memory - 1) & 1) {
        s[0] = s[1];
        acc = ek_svdf_mac(acc, w[0], s[0]);
        ++s;
        ++w;
    }
    s[0] = newest;
    return ek_svdf_mac(acc, w[0], newest);
}

void ek_svdf_s8_dsp(const ek_svdf_params *params, const int8_t *input,
                    const int8_t *weights_feature, const int32_t *feature_offsets,
                    const int16_t *weights_time, const int32_t *bias, int16_t *state,
                    int8_t *output)
{
    const int32_t depth = params->input_size, memory = params->memory, rank = params->rank;
    const int32_t filters = params->units * rank;
    int32_t f, i, u;

    for (f = 0; f + 2 <= filters; f += 2) {
        int32_t a0 = feature_offsets[f], a1 = feature_offsets[f + 1];
        ek_dot_1x2(input, weights_feature + f * depth, depth, &a0, &a1);
        /* parked in each filter's entry 0, the oldest, which drops out */
        state[f * memory] = ek_svdf_state_value(params, a0);
        state[(f + 1) * memory] = ek_svdf_state_value(params, a1);
    }
    if (f < filters) { /* an odd last filter */
        const int8_t *w = weights_feature + f * depth;
        int32_t acc = feature_offsets[f];
        for (i = 0; i < depth; ++i) {
            acc += (int32_t)input[i] * (int32_t)w[i];
        }
        state[f * memory] = ek_svdf_state_value(params, acc);
    }
    for (u = 0; u < params->units; ++u) {
        int32_t acc = bias != 0 ? bias[u] : 0;
        for (f = u * rank; f < (u + 1) * rank; ++f) {
            acc = ek_svdf_row(state + f * memory, weights_time + f * memory, memory, acc);
        }
        output[u] = ek_svdf_output_value(params, (uint32_t)acc);
    }
}
