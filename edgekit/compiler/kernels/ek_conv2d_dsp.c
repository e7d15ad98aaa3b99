/* CONV_2D for cores with the DSP extension, as a matrix multiply of pixels [P, K] by weights
 * [C_out, K] (K = filter_h * filter_w * C_in), two pixels by two output channels at a time.
 *
 * The build lays the weights out for it (layouts.py, channel_pairs): each row padded with zeros
 * to K4, a multiple of four, and the rows of each pair of output channels interleaved word by
 * word, so that one LDRD fetches four weights of both channels; the "bias" array holds a mode
 * word, then per channel pair its two accumulator starts (the bias with the input offset folded
 * in, doubled where the mode says so) and each channel's requantization constants.
 *
 * Each pair of pixels is widened once into scratch, as int16 pairs in SXTB16's order (and
 * doubled where the mode says so), and every channel pair then reads it: per four values of K,
 * three loads, four SXTB16 and eight SMLAD feed four accumulators. Pixels run in the outer loop
 * so that the widening is shared by all output channels, which matters most at small K, where
 * the requantization is most of the work: in the fast mode (every shift a right shift, the
 * accumulator doubled) one output costs SMMLAR, SUB, ASR, SSAT and STRB (ek_requantize_pair).
 *
 * - ek_conv2d_1x1_s8_dsp: 1x1 filter, stride 1: the input is already the pixel matrix.
 * - ek_conv2d_im2col_s8_dsp: any window: each pixel's window is copied into scratch first,
 *   padding filled with the input zero point so that it adds zero, as in the reference kernel.
 * - ek_conv2d_im2col_dilated_s8_dsp: the same with a dilated window. */
#include "ek_dsp.h"
#include "ek_im2col.h"

/* The mode word (layouts.py's PAIRS_DOUBLED, PAIRS_FAST). Doubled: the accumulator holds twice
 * the sum (the widened inputs are doubled), which always fits since |bias| + K * 2^14 < 2^30.
 * Fast: doubled, every shift a right shift e >= 1, and the constants below fit in 32 bits. */
#define EK_PAIRS_DOUBLED 1
#define EK_PAIRS_FAST 2

/* Words per channel pair in the constants array: the two accumulator starts, then multiplier,
 * rounding constant and right shift of the first channel and of the second. */
#define EK_PAIR_WORDS 8

typedef struct {
    const int8_t *weights;   /* [C_out / 2 rounded up][K4 / 4][2][4] */
    const int32_t *pairs;    /* [C_out / 2 rounded up][EK_PAIR_WORDS] */
    const int32_t *multiplier, *shift; /* the general requantization's */
    int32_t groups;          /* K4 / 4 */
    int32_t depth;           /* K */
    int32_t out_c, offset, lo, hi, mode;
} ek_pairs_gemm;

/* SMMLAR: c + (a * b + 2^31) / 2^32, rounded down (the most significant word, rounded). */
static EK_INLINE int32_t ek_smmlar(int32_t a, int32_t b, int32_t c)
{
#if defined(__GNUC__)
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    return c + (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* The fast requantization of a doubled accumulator acc2 = 2 * acc: TFLite's rounding doubling
 * high multiply floor((acc * m + 2^30) / 2^31) is SMMLAR's floor((acc2 * m + 2^31) / 2^32);
 * its rounding divide by 2^e (half away from zero) plus the output offset is
 * floor((h + 2^(e-1) - [h < 0] + offset * 2^e) / 2^e), with c = 2^(e-1) + offset * 2^e added
 * by SMMLAR itself. [acc < 0] stands for [h < 0]: they differ only where h = 0, and both give
 * the offset there. */
static EK_INLINE int32_t ek_requantize_pair(int32_t acc2, int32_t m, int32_t c, int32_t e)
{
    const int32_t h = ek_smmlar(acc2, m, c) - (int32_t)((uint32_t)acc2 >> 31);
    return h >> e;
}

/* Four values of two pixels a and b as the channel loop reads them: the int16 words (x0, x2)
 * and (x1, x3) of b, then of a, doubled when asked. */
static EK_INLINE void ek_widen_word(uint32_t xa, uint32_t xb, int doubled, int32_t *wide)
{
    int16x2_t b0 = __sxtb16(xb), b1 = ek_sxtb16_ror8(xb);
    int16x2_t a0 = __sxtb16(xa), a1 = ek_sxtb16_ror8(xa);
    if (doubled) {
        b0 = __sadd16(b0, b0);
        b1 = __sadd16(b1, b1);
        a0 = __sadd16(a0, a0);
        a1 = __sadd16(a1, a1);
    }
    wide[0] = b0;
    wide[1] = b1;
    wide[2] = a0;
    wide[3] = a1;
}

static EK_INLINE void ek_widen_groups(const int8_t *a, const int8_t *b, int32_t groups,
                                      int doubled, int32_t *wide)
{
    for (; groups > 0; --groups, a += 4, b += 4, wide += 4) {
        ek_widen_word(ek_load4(a), ek_load4(b), doubled, wide);
    }
}

/* Two pixels' K values widened as whole groups, K4 bytes read from each: where the bytes
 * after K are readable (their weights are zero, so whatever they hold adds nothing). */
static void ek_widen_whole(const int8_t *a, const int8_t *b, int32_t groups, int doubled,
                           int32_t *wide)
{
    if (doubled) {
        ek_widen_groups(a, b, groups, 1, wide);
    } else {
        ek_widen_groups(a, b, groups, 0, wide);
    }
}

/* Two pixels' K values (a and b) widened, group by group; the last K % 4 values with zeros
 * after them (their weights are zero too). */
static void ek_widen_pair(const int8_t *a, const int8_t *b, int32_t depth, int doubled,
                          int32_t *wide)
{
    const int32_t whole = depth >> 2;
    int32_t i;
    if (doubled) {
        ek_widen_groups(a, b, whole, 1, wide);
    } else {
        ek_widen_groups(a, b, whole, 0, wide);
    }
    if (depth & 3) {
        const uint8_t *ta = (const uint8_t *)a + 4 * whole, *tb = (const uint8_t *)b + 4 * whole;
        uint32_t xa = 0, xb = 0;
        for (i = 0; i < (depth & 3); ++i) {
            xa |= (uint32_t)ta[i] << (8 * i);
            xb |= (uint32_t)tb[i] << (8 * i);
        }
        ek_widen_word(xa, xb, doubled, wide + 4 * whole);
    }
}

/* One group of four values of K into the four accumulators of a channel pair (a00, a01: the
 * first channel's for pixels a and b; a10, a11: the second's), w and x moving on: three LDRD,
 * four SXTB16, eight SMLAD. Written out because GCC 12 neither pairs these loads nor keeps the
 * loop's registers (a2 x 2 block needs 12 of the 13). */
#if defined(__GNUC__)
#define EK_PAIR_STEP()                                                                          \
    do {                                                                                        \
        int32_t wa, wb, t, u, xa, xb;                                                           \
        __asm__("ldrd %[wa], %[wb], [%[w]], #8\n\t"                                             \
                "ldrd %[xa], %[xb], [%[x], #8]\n\t"                                             \
                "sxtb16 %[t], %[wa], ror #8\n\t"                                                \
                "sxtb16 %[wa], %[wa]\n\t"                                                       \
                "smlad %[a00], %[xa], %[wa], %[a00]\n\t"                                        \
                "smlad %[a00], %[xb], %[t], %[a00]\n\t"                                         \
                "sxtb16 %[u], %[wb], ror #8\n\t"                                                \
                "sxtb16 %[wb], %[wb]\n\t"                                                       \
                "smlad %[a10], %[xa], %[wb], %[a10]\n\t"                                        \
                "smlad %[a10], %[xb], %[u], %[a10]\n\t"                                         \
                "ldrd %[xa], %[xb], [%[x]], #16\n\t"                                            \
                "smlad %[a01], %[xa], %[wa], %[a01]\n\t"                                        \
                "smlad %[a01], %[xb], %[t], %[a01]\n\t"                                         \
                "smlad %[a11], %[xa], %[wb], %[a11]\n\t"                                        \
                "smlad %[a11], %[xb], %[u], %[a11]"                                             \
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),           \
                  [w] "+r"(w), [x] "+r"(x), [wa] "=&r"(wa), [wb] "=&r"(wb), [t] "=&r"(t),       \
                  [u] "=&r"(u), [xa] "=&r"(xa), [xb] "=&r"(xb)                                  \
                :                                                                               \
                : "memory");                                                                    \
    } while (0)
#else
#define EK_PAIR_STEP()                                                                          \
    do {                                                                                        \
        const uint32_t wa = ek_load4(w), wb = ek_load4(w + 4);                                  \
        int16x2_t v0 = __sxtb16(wa), v1 = ek_sxtb16_ror8(wa);                                   \
        a00 = __smlad(x[2], v0, a00);                                                           \
        a00 = __smlad(x[3], v1, a00);                                                           \
        a01 = __smlad(x[0], v0, a01);                                                           \
        a01 = __smlad(x[1], v1, a01);                                                           \
        v0 = __sxtb16(wb);                                                                      \
        v1 = ek_sxtb16_ror8(wb);                                                                \
        a10 = __smlad(x[2], v0, a10);                                                           \
        a10 = __smlad(x[3], v1, a10);                                                           \
        a11 = __smlad(x[0], v0, a11);                                                           \
        a11 = __smlad(x[1], v1, a11);                                                           \
        w += 8;                                                                                 \
        x += 4;                                                                                 \
    } while (0)
#endif

/* The channel pair's dot products over all groups of the widened pixel pair. */
#define EK_PAIR_DOT(groups)                                                                     \
    do {                                                                                        \
        int32_t g;                                                                              \
        const int32_t *x = wide;                                                                \
        _Pragma("GCC unroll 8") for (g = 0; g < (groups); ++g)                                  \
        {                                                                                       \
            EK_PAIR_STEP();                                                                     \
        }                                                                                       \
    } while (0)

/* Every output channel of pixels a and b (ya, yb: their output bytes; the same pixel twice for
 * an odd last one) in the fast mode; clamp: the fused activation is narrower than int8. */
static EK_INLINE void ek_channels_fast(const ek_pairs_gemm *k, const int32_t *wide, int8_t *ya,
                                       int8_t *yb, int32_t groups, int clamp)
{
    const int8_t *w = k->weights;
    const int32_t *q = k->pairs;
    const int32_t lo = k->lo, hi = k->hi;
    int32_t n;
    for (n = k->out_c; n > 0; n -= 2, q += EK_PAIR_WORDS) {
        int32_t a00 = q[0], a01 = q[0], a10 = q[1], a11 = q[1];
        int32_t v0, v1, v2, v3;
        EK_PAIR_DOT(groups);
        v0 = __ssat(ek_requantize_pair(a00, q[2], q[3], q[4]), 8);
        v1 = __ssat(ek_requantize_pair(a01, q[2], q[3], q[4]), 8);
        v2 = __ssat(ek_requantize_pair(a10, q[5], q[6], q[7]), 8);
        v3 = __ssat(ek_requantize_pair(a11, q[5], q[6], q[7]), 8);
        if (clamp) {
            v0 = ek_clamp(v0, lo, hi);
            v1 = ek_clamp(v1, lo, hi);
            v2 = ek_clamp(v2, lo, hi);
            v3 = ek_clamp(v3, lo, hi);
        }
        *ya++ = (int8_t)v0;
        *yb++ = (int8_t)v1;
        if (n > 1) { /* an odd last channel: its pair's second one is padding */
            *ya++ = (int8_t)v2;
            *yb++ = (int8_t)v3;
        }
    }
}

/* The same in the general mode: ek_dsp.h's requantization of each accumulator (halved where
 * doubled), any shift, any clamp. */
static void ek_channels_general(const ek_pairs_gemm *k, const int32_t *wide, int8_t *ya,
                                int8_t *yb)
{
    const int8_t *w = k->weights;
    const int32_t *q = k->pairs;
    const int32_t half = k->mode & EK_PAIRS_DOUBLED;
    int32_t c;
    for (c = 0; c < k->out_c; c += 2, q += EK_PAIR_WORDS) {
        int32_t a00 = q[0], a01 = q[0], a10 = q[1], a11 = q[1];
        ek_channel ch = ek_channel_at(k->multiplier, k->shift, c, k->offset, 0);
        EK_PAIR_DOT(k->groups);
        *ya++ = ek_requantize_to(ch, a00 >> half, k->lo, k->hi, 0);
        *yb++ = ek_requantize_to(ch, a01 >> half, k->lo, k->hi, 0);
        if (c + 1 < k->out_c) {
            ch = ek_channel_at(k->multiplier, k->shift, c + 1, k->offset, 0);
            *ya++ = ek_requantize_to(ch, a10 >> half, k->lo, k->hi, 0);
            *yb++ = ek_requantize_to(ch, a11 >> half, k->lo, k->hi, 0);
        }
    }
}

/* Every output channel of one widened pixel pair, with the loop over K unrolled for the small
 * depths where the per-output work dominates. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void ek_channels(const ek_pairs_gemm *k, const int32_t *wide, int8_t *ya, int8_t *yb)
{
    if (!(k->mode & EK_PAIRS_FAST)) {
        ek_channels_general(k, wide, ya, yb);
    } else if (k->lo != INT8_MIN || k->hi != INT8_MAX) {
        ek_channels_fast(k, wide, ya, yb, k->groups, 1);
    } else {
        switch (k->groups) {
        case 2:
            ek_channels_fast(k, wide, ya, yb, 2, 0);
            break;
        case 4:
            ek_channels_fast(k, wide, ya, yb, 4, 0);
            break;
        case 6:
            ek_channels_fast(k, wide, ya, yb, 6, 0);
            break;
        case 7:
            ek_channels_fast(k, wide, ya, yb, 7, 0);
            break;
        case 8:
            ek_channels_fast(k, wide, ya, yb, 8, 0);
            break;
        default:
            ek_channels_fast(k, wide, ya, yb, k->groups, 0);
            break;
        }
    }
}

/* One group of K into a channel pair's two accumulators for the widened pair's pixel a alone
 * (x reads its words; an odd last pixel): two LDRD, four SXTB16, four SMLAD. */
#if defined(__GNUC__)
#define EK_SINGLE_STEP()                                                                        \
    do {                                                                                        \
        int32_t wa, wb, t, u, xa, xb;                                                           \
        __asm__("ldrd %[wa], %[wb], [%[w]], #8\n\t"                                             \
                "ldrd %[xa], %[xb], [%[x]], #16\n\t"                                            \
                "sxtb16 %[t], %[wa], ror #8\n\t"                                                \
                "sxtb16 %[wa], %[wa]\n\t"                                                       \
                "smlad %[a0], %[xa], %[wa], %[a0]\n\t"                                          \
                "smlad %[a0], %[xb], %[t], %[a0]\n\t"                                           \
                "sxtb16 %[u], %[wb], ror #8\n\t"                                                \
                "sxtb16 %[wb], %[wb]\n\t"                                                       \
                "smlad %[a1], %[xa], %[wb], %[a1]\n\t"                                          \
                "smlad %[a1], %[xb], %[u], %[a1]"                                               \
                : [a0] "+r"(a0), [a1] "+r"(a1), [w] "+r"(w), [x] "+r"(x), [wa] "=&r"(wa),       \
                  [wb] "=&r"(wb), [t] "=&r"(t), [u] "=&r"(u), [xa] "=&r"(xa), [xb] "=&r"(xb)    \
                :                                                                               \
                : "memory");                                                                    \
    } while (0)
#else
#define EK_SINGLE_STEP()                                                                        \
    do {                                                                                        \
        const uint32_t wa = ek_load4(w), wb = ek_load4(w + 4);                                  \
        a0 = __smlad(x[0], __sxtb16(wa), a0);                                                   \
        a0 = __smlad(x[1], ek_sxtb16_ror8(wa), a0);                                             \
        a1 = __smlad(x[0], __sxtb16(wb), a1);                                                   \
        a1 = __smlad(x[1], ek_sxtb16_ror8(wb), a1);                                             \
        w += 8;                                                                                 \
        x += 4;                                                                                 \
    } while (0)
#endif

/* Every output channel of an odd last pixel (the widened pair's pixel a), in either mode. */
static void ek_channels_single(const ek_pairs_gemm *k, const int32_t *wide, int8_t *y)
{
    const int8_t *w = k->weights;
    const int32_t *q = k->pairs;
    const int32_t half = k->mode & EK_PAIRS_DOUBLED;
    int32_t c, g;
    for (c = 0; c < k->out_c; c += 2, q += EK_PAIR_WORDS) {
        const int32_t *x = wide + 2;
        int32_t a0 = q[0], a1 = q[1], v0, v1;
        for (g = k->groups; g > 0; --g) {
            EK_SINGLE_STEP();
        }
        if (k->mode & EK_PAIRS_FAST) {
            v0 = ek_clamp(__ssat(ek_requantize_pair(a0, q[2], q[3], q[4]), 8), k->lo, k->hi);
            v1 = ek_clamp(__ssat(ek_requantize_pair(a1, q[5], q[6], q[7]), 8), k->lo, k->hi);
        } else {
            ek_channel ch = ek_channel_at(k->multiplier, k->shift, c, k->offset, 0);
            v0 = ek_requantize_to(ch, a0 >> half, k->lo, k->hi, 0);
            if (c + 1 < k->out_c) {
                ch = ek_channel_at(k->multiplier, k->shift, c + 1, k->offset, 0);
            }
            v1 = ek_requantize_to(ch, a1 >> half, k->lo, k->hi, 0);
        }
        y[c] = (int8_t)v0;
        if (c + 1 < k->out_c) {
            y[c + 1] = (int8_t)v1;
        }
    }
}

static ek_pairs_gemm ek_pairs_of(const ek_conv_params *params, const ek_channel_quant *quant,
                                 const int8_t *filter, const int32_t *pairs, int32_t depth)
{
    ek_pairs_gemm k;
    k.weights = filter;
    k.mode = pairs[0];
    k.pairs = pairs + 1;
    k.multiplier = quant->multiplier;
    k.shift = quant->shift;
    k.depth = depth;
    k.groups = (depth + 3) >> 2;
    k.out_c = params->output_c;
    k.offset = params->output_offset;
    k.lo = params->act_min;
    k.hi = params->act_max;
    return k;
}

/* Scratch: the widened pixel pair (16 bytes per group of four values of K), then for the
 * im2col kernels the two pixels' windows, K4 + 4 bytes each. */
static int32_t *ek_wide_of(int8_t *scratch)
{
    return (int32_t *)(void *)scratch;
}

void ek_conv2d_1x1_s8_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                          const int8_t *input, const int8_t *filter, const int32_t *bias,
                          int8_t *output, int8_t *scratch)
{
    const int32_t depth = params->input_c, out_c = params->output_c;
    const ek_pairs_gemm k = ek_pairs_of(params, quant, filter, bias, depth);
    const int doubled = k.mode & EK_PAIRS_DOUBLED;
    int32_t *wide = ek_wide_of(scratch);
    int32_t p = params->output_h * params->output_w;
    for (; p >= 2; p -= 2, input += 2 * depth, output += 2 * out_c) {
        if ((p - 1) * depth >= 4 * k.groups) { /* whole groups: the next pixels follow */
            ek_widen_whole(input, input + depth, k.groups, doubled, wide);
        } else {
            ek_widen_pair(input, input + depth, depth, doubled, wide);
        }
        ek_channels(&k, wide, output, output + out_c);
    }
    if (p) { /* an odd last pixel */
        ek_widen_pair(input, input, depth, doubled, wide);
        ek_channels_single(&k, wide, output);
    }
}

/* Where a window lies inside the input (most of them), it is copied row by row a whole word
 * at a time, which for the short rows of small layers (3x3 over three channels: nine bytes)
 * costs a fraction of memcpy's calls: each row's last word reads up to three bytes past the
 * row (never past the input: such a window takes ek_im2col) and writes them where the next
 * row goes, or after K (the column has four bytes to spare). The layer's constants: */
typedef struct {
    const int8_t *input, *last; /* the last window start that reads no byte past the input */
    uint32_t y_max, x_max;      /* the window is inside where 0 <= y0 <= y_max, 0 <= x0 <= x_max */
    int32_t row, words, span, pixel;
} ek_windows;

static ek_windows ek_windows_of(const ek_conv_params *params, const int8_t *input)
{
    ek_windows w;
    w.row = params->input_w * params->input_c;
    w.span = params->filter_w * params->input_c;
    w.words = (w.span + 3) >> 2;
    w.pixel = params->input_c;
    w.input = input;
    w.last = input + params->input_h * w.row - (params->filter_h - 1) * w.row - 4 * w.words;
    w.y_max = (uint32_t)(params->input_h - params->filter_h);
    w.x_max = (uint32_t)(params->input_w - params->filter_w);
    return w;
}

/* One pixel's window into column, as ek_im2col. */
static EK_INLINE void ek_window(const ek_conv_params *params, const ek_windows *w, int32_t oy,
                                int32_t ox, int8_t zero, int8_t *column)
{
    const int32_t y0 = oy * params->stride_h - params->pad_top;
    const int32_t x0 = ox * params->stride_w - params->pad_left;
    const int8_t *src = w->input + y0 * w->row + x0 * w->pixel;
    int32_t ky, i;
    if ((uint32_t)y0 > w->y_max || (uint32_t)x0 > w->x_max || src > w->last) {
        ek_im2col(params, w->input, oy, ox, zero, column);
        return;
    }
    for (ky = params->filter_h; ky > 0; --ky, src += w->row, column += w->span) {
        const int8_t *from = src;
        int8_t *to = column;
        for (i = w->words; i > 0; --i, from += 4, to += 4) {
            const uint32_t v = ek_load4(from);
            memcpy(to, &v, 4);
        }
    }
}

/* The im2col kernels' loop: pixel pairs in output order, each window copied by column(). */
#define EK_IM2COL_PAIRS(conv, column)                                                           \
    do {                                                                                        \
        const int32_t depth = (conv)->filter_h * (conv)->filter_w * (conv)->input_c;            \
        const ek_pairs_gemm k = ek_pairs_of((conv), quant, filter, bias, depth);               \
        const int doubled = k.mode & EK_PAIRS_DOUBLED;                                          \
        const int8_t zero = (int8_t)-(conv)->input_offset;                                      \
        const int32_t out_w = (conv)->output_w, out_c = (conv)->output_c;                       \
        const int32_t pixels = (conv)->output_h * out_w;                                        \
        int32_t *wide = ek_wide_of(scratch);                                                    \
        int8_t *col_a = scratch + 16 * k.groups, *col_b = col_a + 4 * k.groups + 4;             \
        int32_t p, oy = 0, ox = 0;                                                              \
        for (p = 0; p < pixels; p += 2) {                                                       \
            int8_t *ya = output + p * out_c, *yb = ya;                                          \
            column(oy, ox, col_a);                                                              \
            if (++ox == out_w) {                                                                \
                ox = 0;                                                                         \
                ++oy;                                                                           \
            }                                                                                   \
            if (p + 1 < pixels) {                                                               \
                column(oy, ox, col_b);                                                          \
                yb = ya + out_c;                                                                \
                if (++ox == out_w) {                                                            \
                    ox = 0;                                                                     \
                    ++oy;                                                                       \
                }                                                                               \
            }                                                                                   \
            ek_widen_whole(col_a, yb == ya ? col_a : col_b, k.groups, doubled, wide);           \
            if (yb == ya) { /* an odd last pixel */                                             \
                ek_channels_single(&k, wide, ya);                                               \
            } else {                                                                            \
                ek_channels(&k, wide, ya, yb);                                                  \
            }                                                                                   \
        }                                                                                       \
    } while (0)

void ek_conv2d_im2col_s8_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                             const int8_t *input, const int8_t *filter, const int32_t *bias,
                             int8_t *output, int8_t *scratch)
{
    const ek_windows windows = ek_windows_of(params, input);
#define EK_COLUMN(y, x, col) ek_window(params, &windows, (y), (x), zero, (col))
    EK_IM2COL_PAIRS(params, EK_COLUMN);
#undef EK_COLUMN
}

void ek_conv2d_im2col_dilated_s8_dsp(const ek_dilated_conv_params *params,
                                     const ek_channel_quant *quant, const int8_t *input,
                                     const int8_t *filter, const int32_t *bias, int8_t *output,
                                     int8_t *scratch)
{
    const ek_conv_params *conv = &params->conv;
#define EK_COLUMN(y, x, col)                                                                    \
    ek_im2col_dilated(conv, params->dilation_h, params->dilation_w, input, (y), (x), zero, (col))
    EK_IM2COL_PAIRS(conv, EK_COLUMN);
#undef EK_COLUMN
}
