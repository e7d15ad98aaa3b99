/* SVDF, int8 with int16 state, for cores with Helium (MVE): the feature product four filters at a
 * time, VMLADAVA.S8 adding 16 products of the frame and a weight row, four rows sharing each
 * loaded input vector, the last partial vector predicated (VCTP); the input offset folded in at
 * build time (feature_offsets: input_offset * the sum of each filter's weights; TFLite's weights
 * have zero point 0). Then, filter by filter, one pass moves the state one entry towards the
 * start and sums it against the time weights, 8 int16 products per VMLADAVA.S16; the new
 * activations wait in the entries that drop out (the oldest), so the move needs no pass of its
 * own, and the state ends as ek_svdf_s8_ref leaves it. VMLADAVA keeps the low 32 bits of its
 * sum, so it wraps where TFLite's int32 sums wrap. */
#include "ek_mve.h"

/* One filter's feature product, its folded offset included. */
static int32_t ek_svdf_dot(const int8_t *x, const int8_t *w, int32_t depth, int32_t acc)
{
    int32_t i;
    for (i = depth >> 4; i > 0; --i) {
        acc = vmladavaq_s8(acc, vldrbq_s8(x), vldrbq_s8(w));
        x += 16;
        w += 16;
    }
    if (depth & 15) {
        const mve_pred16_t p = vctp8q((uint32_t)(depth & 15));
        acc = vmladavaq_s8(acc, vldrbq_z_s8(x, p), vldrbq_z_s8(w, p));
    }
    return acc;
}

/* One filter's state row: entries 1 .. memory - 1 move one towards the start, the newest
 * activation (parked in entry 0) goes last; its time-weighted sum is added to acc. */
static inline int32_t ek_svdf_row(int16_t *s, const int16_t *w, int32_t memory, int32_t acc)
{
    const int16_t newest = s[0];
    int32_t m;

    for (m = (memory - 1) >> 3; m > 0; --m) {
        const int16x8_t v = vldrhq_s16(s + 1);
        vstrhq_s16(s, v);
        acc = vmladavaq_s16(acc, vldrhq_s16(w), v);
        s += 8;
        w += 8;
    }
    if ((memory - 1) & 7) {
        const mve_pred16_t p = vctp16q((uint32_t)((memory - 1) & 7));
        const int16x8_t v = vldrhq_z_s16(s + 1, p);
        vstrhq_p_s16(s, v, p);
        acc = vmladavaq_s16(acc, vldrhq_z_s16(w, p), v);
        s += (memory - 1) & 7;
        w += (memory - 1) & 7;
    }
    s[0] = newest;
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)w[0] * (int32_t)newest));
}

void ek_svdf_s8_mve(const ek_svdf_params *params, const int8_t *input,
                    const int8_t *weights_feature, const int32_t *feature_offsets,
                    const int16_t *weights_time, const int32_t *bias, int16_t *state,
                    int8_t *output)
{
    const int32_t depth = params->input_size, memory = params->memory, rank = params->rank;
    const int32_t filters = params->units * rank;
    int32_t f, i, u;

    for (f = 0; f + 4 <= filters; f += 4) {
        const int8_t *x = input, *w0 = weights_feature + f * depth, *w1 = w0 + depth;
        const int8_t *w2 = w1 + depth, *w3 = w2 + depth;
        int32_t a0 = feature_offsets[f], a1 = feature_offsets[f + 1];
        int32_t a2 = feature_offsets[f + 2], a3 = feature_offsets[f + 3];
        for (i = depth >> 4; i > 0; --i) {
            const int8x16_t v = vldrbq_s8(x);
            a0 = vmladavaq_s8(a0, v, vldrbq_s8(w0));
            a1 = vmladavaq_s8(a1, v, vldrbq_s8(w1));
            a2 = vmladavaq_s8(a2, v, vldrbq_s8(w2));
            a3 = vmladavaq_s8(a3, v, vldrbq_s8(w3));
            x += 16;
            w0 += 16;
            w1 += 16;
            w2 += 16;
            w3 += 16;
        }
        if (depth & 15) {
            const mve_pred16_t p = vctp8q((uint32_t)(depth & 15));
            const int8x16_t v = vldrbq_z_s8(x, p);
            a0 = vmladavaq_s8(a0, v, vldrbq_z_s8(w0, p));
            a1 = vmladavaq_s8(a1, v, vldrbq_z_s8(w1, p));
            a2 = vmladavaq_s8(a2, v, vldrbq_z_s8(w2, p));
            a3 = vmladavaq_s8(a3, v, vldrbq_z_s8(w3, p));
        }
        /* parked in each filter's entry 0, the oldest, which drops out */
        state[f * memory] = ek_svdf_state_value(params, a0);
        state[(f + 1) * memory] = ek_svdf_state_value(params, a1);
        state[(f + 2) * memory] = ek_svdf_state_value(params, a2);
        state[(f + 3) * memory] = ek_svdf_state_value(params, a3);
    }
    for (; f < filters; ++f) {
        const int32_t acc =
            ek_svdf_dot(input, weights_feature + f * depth, depth, feature_offsets[f]);
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
