/* FULLY_CONNECTED, int8, for cores with the DSP extension. The input offset is folded into the
 * bias at build time (bias + input_offset * the sum of the unit's weights; the weights' zero
 * point is 0, as the op rules require), and LiteRT's double-precision rescaling is reproduced
 * exactly, as in ek_fully_connected_s8_ref.
 *
 * ek_fully_connected_s8_dsp (layouts.fc_quads) runs four units per pass. The input row is
 * widened once into int16 pairs (x0, x2), (x1, x3) per group of four, the order SXTB16 leaves
 * them in. Two units r0, r1 share each weight word: its bytes are w0[i], w1'[i], w0[j], w1'[j]
 * (i, j the inputs of one pair), with w1'[i] = w1[i] - [w0[i] < 0]. SMLAD of an input pair with
 * the word's SXTB16 adds unit r0's two products; SMLAD with the raw word, whose halves read as
 * int16 are 256 * w1'[i] + (w0[i] & 0xFF) = 256 * w1[i] + w0[i], adds 256 times unit r1's
 * products plus unit r0's: the difference of the two sums is 256 times r1's sum, modulo 2^32.
 * That recovers r1's sum while it lies in [-2^23, 2^23): at most 512 inputs of [-128, 127]
 * against weights of [-127, 127], so the kernel takes it out every 512 inputs. Four
 * multiply-accumulates then cost one SXTB16 and two SMLADs. */
#include "ek_dsp.h"

/* The exact rounding (ek_multiply_by_double_scale) by the unit's scale, out of line: for the
 * rare accumulator the fast path leaves, and the scales it does not take. */
static __attribute__((noinline)) int32_t ek_fc_exact(const ek_fully_connected_params *params,
                                                     const ek_double_scale *scale, int32_t acc,
                                                     int32_t unit)
{
    const int32_t q = params->per_channel ? unit : 0;
    return ek_multiply_by_double_scale(acc, scale->mantissa[q], scale->exponent[q]);
}

/* round(acc * scale) as ek_multiply_by_double_scale gives it for scale = mantissa * 2^exponent,
 * the common case in a few instructions. With m the top 32 bits of the 53-bit mantissa and g =
 * -exponent - 21, the exact product |acc| * mantissa / 2^21 lies in [|acc| * m, |acc| * m +
 * |acc|), and the rounding half up of |acc| * m / 2^g is the exact product's as long as adding
 * |acc| does not reach the next rounding boundary. Rounding the product to a double first moves
 * it by at most half an ulp (2^10 here: the product has at most 85 bits) and changes the result
 * only where that lands it on a boundary; a margin of |acc| + 2048 covers both, and the rare
 * accumulator within it (a fraction of about |result| / 2^31 of them) takes the exact function.
 * s = g - 32 in [1, 30] (scales in [2^-31, 1/2)) puts the rounding bit h = 2^(s - 1) and the
 * quotient in the product's high word; s = 0 sends every accumulator to the exact function. */
static EK_INLINE int32_t ek_fc_rescale(const ek_fully_connected_params *params,
                                       const ek_double_scale *scale, int32_t acc, int32_t unit,
                                       uint32_t m, uint32_t h, int32_t s)
{
    if (s != 0) {
        const uint32_t mag = acc < 0 ? 0u - (uint32_t)acc : (uint32_t)acc;
        const uint64_t r = (uint64_t)mag * m + ((uint64_t)h << 32);
        const uint64_t t = r + mag + 2048u;
        const uint32_t n = (uint32_t)(r >> 32) >> s;
        if ((uint32_t)(t >> 32) >> s == n) {
            return acc < 0 ? -(int32_t)n : (int32_t)n;
        }
    }
    return ek_fc_exact(params, scale, acc, unit);
}

/* The sum of two int32 as TFLite's int32 accumulators wrap. */
static inline int32_t ek_fc_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* A unit's output byte from its accumulator (the folded bias in it), the scale's fast-path
 * fields computed here. */
static EK_INLINE int8_t ek_fc_out(const ek_fully_connected_params *params,
                                  const ek_double_scale *scale, int32_t acc, int32_t unit)
{
    const int32_t q = params->per_channel ? unit : 0, shift = -scale->exponent[q] - 53;
    const int32_t s = scale->mantissa[q] != 0 && shift >= 1 && shift <= 30 ? shift : 0;
    const uint32_t m = (uint32_t)(scale->mantissa[q] >> 21), h = s ? 1u << (s - 1) : 0u;
    const int32_t v = ek_fc_rescale(params, scale, acc, unit, m, h, s);
    return (int8_t)ek_clamp(ek_fc_add(v, params->output_offset), params->act_min, params->act_max);
}

/* One row of depth int8 inputs as int16 pairs (x0, x2), (x1, x3) per group of four, zero-padded
 * to a whole number of groups of eight. */
static void ek_fc_widen(const int8_t *row, int32_t depth, uint32_t *pairs)
{
    int32_t i;
    for (i = 0; i + 4 <= depth; i += 4) {
        const uint32_t v = ek_load4(row + i);
        pairs[0] = (uint32_t)__sxtb16(v);
        pairs[1] = (uint32_t)ek_sxtb16_ror8(v);
        pairs += 2;
    }
    if (i < depth) {
        int8_t last[4] = {0, 0, 0, 0};
        uint32_t v;
        memcpy(last, row + i, (size_t)(depth - i));
        memcpy(&v, last, 4);
        pairs[0] = (uint32_t)__sxtb16(v);
        pairs[1] = (uint32_t)ek_sxtb16_ror8(v);
        pairs += 2;
        i += 4;
    }
    if ((i & 7) != 0) {
        pairs[0] = pairs[1] = 0;
    }
}

/* The groups of four inputs between two takings-out of the odd units' sums (512 inputs). */
#define EK_FC_RUN 128

/* One group of four inputs against four units: the input pairs in one LDRD, the four weight
 * words in one LDM (GCC loads them one by one), one SXTB16 and two SMLADs per word. */
#define EK_FC_STEP                                                                                 \
    "ldrd %[x0], %[x1], [%[x]], #8\n\t"                                                            \
    "ldmia %[w]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"                                                \
    "smlad %[a0], %[x0], %[w0], %[a0]\n\t"                                                         \
    "sxtb16 %[w0], %[w0]\n\t"                                                                      \
    "smlad %[s0], %[x0], %[w0], %[s0]\n\t"                                                         \
    "smlad %[a0], %[x1], %[w1], %[a0]\n\t"                                                         \
    "sxtb16 %[w1], %[w1]\n\t"                                                                      \
    "smlad %[s0], %[x1], %[w1], %[s0]\n\t"                                                         \
    "smlad %[a1], %[x0], %[w2], %[a1]\n\t"                                                         \
    "sxtb16 %[w2], %[w2]\n\t"                                                                      \
    "smlad %[s2], %[x0], %[w2], %[s2]\n\t"                                                         \
    "smlad %[a1], %[x1], %[w3], %[a1]\n\t"                                                         \
    "sxtb16 %[w3], %[w3]\n\t"                                                                      \
    "smlad %[s2], %[x1], %[w3], %[s2]\n\t"

/* One unit's output byte from its sum and its fields f = {folded bias, m, h, s}
 * (layouts.fc_quad_fields: ek_fc_rescale's m, h and s computed at build time). */
static EK_INLINE int8_t ek_fc_quad_out(const ek_fully_connected_params *params,
                                       const ek_double_scale *scale, const int32_t *f,
                                       int32_t sum, int32_t unit, int32_t offset, int32_t lo,
                                       int32_t hi)
{
    const int32_t acc = ek_fc_add(sum, f[0]);
    const int32_t v = ek_fc_rescale(params, scale, acc, unit, (uint32_t)f[1], (uint32_t)f[2], f[3]);
    return (int8_t)ek_clamp(ek_fc_add(v, offset), lo, hi);
}

void ek_fully_connected_s8_dsp(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, const int8_t *input,
                               const int32_t *filter, const int32_t *bias, int8_t *output,
                               void *scratch)
{
    const int32_t depth = params->input_depth, units = params->output_depth;
    const int32_t groups = ((depth + 7) >> 3) << 1;
    const int32_t offset = params->output_offset, lo = params->act_min, hi = params->act_max;
    uint32_t *pairs = (uint32_t *)scratch;
    int32_t b, u, k;

    for (b = 0; b < params->batches; ++b) {
        const uint32_t *wp = (const uint32_t *)filter;
        const int32_t *f = bias;
        int8_t *out = output + b * units;
        ek_fc_widen(input + b * depth, depth, pairs);
        for (u = 0; u < units; u += 4) {
            register uint32_t w0 __asm__("r8"), w1 __asm__("r9"), w2 __asm__("r10"),
                w3 __asm__("r11");
            const uint32_t *xp = pairs;
            int32_t a0 = 0, s0 = 0, a1 = 0, s2 = 0, s1 = 0, s3 = 0, left, sums[4];
            uint32_t x0, x1;
            for (left = groups; left > 0; left -= EK_FC_RUN) {
                int32_t n = (left < EK_FC_RUN ? left : EK_FC_RUN) >> 1;
                __asm__("1:\n\t" EK_FC_STEP EK_FC_STEP
                        "subs %[n], %[n], #1\n\t"
                        "bne 1b\n\t"
                        : [a0] "+r"(a0), [s0] "+r"(s0), [a1] "+r"(a1), [s2] "+r"(s2),
                          [x] "+r"(xp), [w] "+r"(wp), [n] "+r"(n), [x0] "=&r"(x0),
                          [x1] "=&r"(x1), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2),
                          [w3] "=&r"(w3)
                        :
                        : "cc", "memory");
                s1 += (int32_t)((uint32_t)a0 - (uint32_t)s0) >> 8;
                s3 += (int32_t)((uint32_t)a1 - (uint32_t)s2) >> 8;
                a0 = s0;
                a1 = s2;
            }
            sums[0] = s0, sums[1] = s1, sums[2] = s2, sums[3] = s3;
            if (u + 4 <= units) {
                out[u] = ek_fc_quad_out(params, scale, f, s0, u, offset, lo, hi);
                out[u + 1] = ek_fc_quad_out(params, scale, f + 4, s1, u + 1, offset, lo, hi);
                out[u + 2] = ek_fc_quad_out(params, scale, f + 8, s2, u + 2, offset, lo, hi);
                out[u + 3] = ek_fc_quad_out(params, scale, f + 12, s3, u + 3, offset, lo, hi);
            } else {
                for (k = 0; u + k < units; ++k) {
                    out[u + k] =
                        ek_fc_quad_out(params, scale, f + 4 * k, sums[k], u + k, offset, lo, hi);
                }
            }
            f += 16;
        }
    }
}

/* ek_fully_connected_x2_s8_dsp (layouts.FOLDED: the weights as the model stores them), for a
 * layer with a weight of -128, which fc_quads cannot hold: two units at a time share each
 * loaded input word. */
void ek_fully_connected_x2_s8_dsp(const ek_fully_connected_params *params,
                                  const ek_double_scale *scale, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const int32_t depth = params->input_depth, units = params->output_depth;
    int32_t b, u, i;

    for (b = 0; b < params->batches; ++b) {
        const int8_t *row = input + b * depth;
        int8_t *out = output + b * units;
        for (u = 0; u + 2 <= units; u += 2) {
            const int8_t *w = filter + u * depth;
            int32_t a0 = bias[u], a1 = bias[u + 1];
            ek_dot_1x2(row, w, depth, &a0, &a1);
            out[u] = ek_fc_out(params, scale, a0, u);
            out[u + 1] = ek_fc_out(params, scale, a1, u + 1);
        }
        if (u < units) { /* an odd last unit */
            const int8_t *w = filter + u * depth;
            int32_t acc = bias[u];
            for (i = 0; i < depth; ++i) {
                acc += (int32_t)row[i] * (int32_t)w[i];
            }
            out[u] = ek_fc_out(params, scale, acc, u);
        }
    }
}
