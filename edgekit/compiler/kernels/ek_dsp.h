/*
 * Helpers of edgekit's kernels for Arm cores with the DSP extension (Cortex-M4, M7, M33, M55):
 * SXTB16 unpacks two int8 lanes into two int16 halves, SMLAD multiplies two halfword pairs and
 * adds both products to an accumulator. The kernels built on them compute the same integers as
 * the reference kernels (integer sums do not depend on their order), so the bytes are the same.
 */
#ifndef EK_DSP_H
#define EK_DSP_H

#if !defined(__ARM_FEATURE_DSP) || !__ARM_FEATURE_DSP
#error "this edgekit kernel needs an Arm core with the DSP extension (SMLAD, SXTB16)"
#endif

#include <arm_acle.h>
#include <string.h>

#include "ek_kernels.h"


/* Four bytes from any address (the cores edgekit targets load unaligned words in hardware). */
static inline uint32_t ek_load4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Lanes 1 and 3 of x, sign-extended: __sxtb16(__ror(x, 8)). GCC 12 has no __ror and does not
 * fold a rotate into SXTB16, so say the one instruction directly. */
static inline int16x2_t ek_sxtb16_ror8(uint32_t x)
{
#if defined(__GNUC__)
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return __sxtb16(__ror(x, 8));
#endif
}

/* One row x of depth int8 values against two rows of weights, w and w + depth (two output
 * channels or units): each loaded input word feeds both, and the two sums are added to *a0 and
 * *a1. */
static EK_INLINE void ek_dot_1x2(const int8_t *x, const int8_t *w, int32_t depth, int32_t *a0,
                                 int32_t *a1)
{
    int32_t s0 = *a0, s1 = *a1, i;
    for (i = depth >> 2; i > 0; --i) {
        const uint32_t xv = ek_load4(x), wa = ek_load4(w), wb = ek_load4(w + depth);
        const int16x2_t x0 = __sxtb16(xv), x1 = ek_sxtb16_ror8(xv);
        s0 = __smlad(x0, __sxtb16(wa), s0);
        s0 = __smlad(x1, ek_sxtb16_ror8(wa), s0);
        s1 = __smlad(x0, __sxtb16(wb), s1);
        s1 = __smlad(x1, ek_sxtb16_ror8(wb), s1);
        x += 4;
        w += 4;
    }
    for (i = depth & 3; i > 0; --i) {
        s0 += (int32_t)x[0] * (int32_t)w[0];
        s1 += (int32_t)x[0] * (int32_t)w[depth];
        ++x;
        ++w;
    }
    *a0 = s0;
    *a1 = s1;
}

/* A requantization whose shift is 0 (ek_add_s8_dsp's inputs: one of them always has the
 * multiplier 1/2): floor((x * m + 2^30 + offset * 2^31) / 2^31), as ek_requantize_raw explains. */
#define EK_SHIFT_ZERO 2

/* One channel's requantization, prepared once per channel: its shift split into left and right
 * shifts (general case) or, when fast, the constant of the one-step form below, which also
 * holds the output offset. */
typedef struct {
    int64_t base;
    int32_t multiplier, left, right, mask, offset;
} ek_channel;

static EK_INLINE ek_channel ek_channel_at(const int32_t *multiplier, const int32_t *shift,
                                          int32_t c, int32_t offset, int fast)
{
    ek_channel ch;
    const int32_t s = shift[c];
    ch.multiplier = multiplier[c];
    ch.offset = offset;
    if (fast == EK_SHIFT_ZERO) { /* s == 0 */
        ch.right = ch.left = ch.mask = 0;
        ch.base = ((int64_t)1 << 30) + (int64_t)offset * ((int64_t)1 << 31);
    } else if (fast) { /* -23 <= s < 0 (ek_fast_path) */
        ch.right = -s - 1;
        ch.base = ((int64_t)1 << 30) + ((int64_t)1 << (30 - s)) +
                  (int64_t)offset * ((int64_t)1 << (31 - s));
        ch.left = ch.mask = 0;
    } else {
        ch.left = s > 0 ? s : 0;
        ch.right = s > 0 ? 0 : -s;
        ch.mask = (int32_t)(((uint32_t)1 << ch.right) - 1u);
        ch.base = 0;
    }
    return ch;
}

/* Every shift is in [-23, -1] (a right shift: multipliers below one half, as in nearly every
 * layer; the bound keeps the one-step sum inside 64 bits) and the clamp is the int8 range: the
 * kernels' fast path. */
static inline int ek_fast_path(const int32_t *shift, int32_t channels, int32_t lo, int32_t hi)
{
    int32_t c;
    if (lo != INT8_MIN || hi != INT8_MAX) {
        return 0;
    }
    for (c = 0; c < channels; ++c) {
        if (shift[c] >= 0 || shift[c] < -23) {
            return 0;
        }
    }
    return 1;
}

/* ek_multiply_by_quantized_multiplier for a multiplier >= 0 (every one edgekit computes), plus
 * the channel's output offset, same bytes. General case: the doubling high multiply rounds half
 * up, floor((x * m + 2^30) / 2^31), which equals TFLite's sign-dependent nudge with truncating
 * division for every x (the nudge differs only where the truncation compensates) and cannot
 * overflow since m < 2^31; then the rounding divide by 2^right. Fast case (right shift e >= 1,
 * no left shift): rounding half away from zero of t / 2^e is floor((t + 2^(e-1) - [t < 0]) /
 * 2^e), nested floors of divisions compose, and an integer offset moves out of a floor, so all
 * of it is floor((x * m + 2^30 + 2^(30+e) + offset * 2^(31+e) - [x < 0] * 2^31) / 2^(31+e)):
 * one 64-bit multiply-accumulate and the high word shifted by e - 1. ([x < 0] stands for
 * [t < 0]: they differ only where both forms give 0.) */
static EK_INLINE int32_t ek_requantize_raw(ek_channel ch, int32_t acc, int fast)
{
    if (fast == EK_SHIFT_ZERO) { /* shift 0: the doubling high multiply alone, plus the offset */
        return (int32_t)(((int64_t)acc * ch.multiplier + ch.base) >> 31);
    }
    if (fast) {
        const int64_t k = ch.base - (int64_t)((uint64_t)((uint32_t)acc >> 31) << 31);
        const int64_t sum = (int64_t)acc * ch.multiplier + k;
        return (int32_t)(sum >> 32) >> ch.right;
    } else {
        const int32_t x = (int32_t)((uint32_t)acc << ch.left);
        const int32_t high = (int32_t)(((int64_t)x * ch.multiplier + ((int64_t)1 << 30)) >> 31);
        const int32_t threshold = (ch.mask >> 1) + (int32_t)((uint32_t)high >> 31);
        return (high >> ch.right) + ((high & ch.mask) > threshold ? 1 : 0) + ch.offset;
    }
}

/* The output byte: requantized, clamped to [lo, hi] (fast: the int8 range, one SSAT). */
static EK_INLINE int8_t ek_requantize_to(ek_channel ch, int32_t acc, int32_t lo, int32_t hi,
                                         int fast)
{
    const int32_t v = ek_requantize_raw(ch, acc, fast);
    return (int8_t)(fast ? __ssat(v, 8) : ek_clamp(v, lo, hi));
}

/* The depthwise kernels' one-step requantization of a doubled accumulator a2 = 2 * acc (their
 * weights and bias are doubled at build time) for a right shift e in [1, 23] and the int8
 * clamp, same bytes as ek_requantize_to. SMMLAR's rounding high multiply of 2 * acc by m is
 * floor((acc * m + 2^30) / 2^31), TFLite's rounding doubling high multiply h (as
 * ek_requantize_raw explains); TFLite's rounding divide by 2^e then rounds half away from
 * zero: floor((h + 2^(e-1) - [h < 0]) / 2^e), where [acc < 0] may stand for [h < 0] (h has
 * acc's sign or is 0, and 0 gives 0 either way). rounding = 2^(e-1) + offset * 2^e adds the
 * output offset inside the floor. The caller keeps |acc| below 2^25 (every sum then fits). */
static EK_INLINE int8_t ek_requantize_doubled(int32_t a2, int32_t m, int32_t rounding, int32_t e)
{
    int32_t t; /* SMMLAR: (a2 * m + 2^31) / 2^32 rounded down, plus rounding */
    __asm__("smmlar %0, %1, %2, %3" : "=r"(t) : "r"(a2), "r"(m), "r"(rounding));
    t -= (int32_t)((uint32_t)a2 >> 31);
    return (int8_t)__ssat(t >> e, 8);
}

#endif /* EK_DSP_H */
