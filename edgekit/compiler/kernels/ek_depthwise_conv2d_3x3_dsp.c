/* DEPTHWISE_CONV_2D with a 3x3 filter, depth multiplier 1, for cores with the DSP extension.
 *
 * Four channels at a time. For each output row and group of four channels, the three input rows
 * the row reads are first gathered into scratch, padding included (the input zero point, which
 * adds nothing: the input offset is folded into the bias), one input column after the other,
 * each already widened the way the multiplies want it: rows 0 and 1 of each channel as one
 * 16-bit pair (SMLAD then does two taps at once), row 2 split by SXTB16 into channels (0, 2)
 * and (1, 3) (for SMLABB / SMLATT). A column is gathered once and read by every output pixel
 * whose window covers it. The pixel loop runs with no padding checks: per filter column, three
 * LDRDs of inputs, three of weights (widened to 16 bits and doubled at build time) and eight
 * multiplies for twelve multiply-accumulates.
 *
 * The doubled accumulator requantizes in one step (ek_requantize_doubled). A channel count that is
 * not a multiple of four pads the last group with zero weights, and that group stores only its
 * channels. Output rows are written in order, each after its input rows were gathered, so the
 * reference kernel's in-place rule holds. */
#include "ek_dsp.h"

/* The per-group block the layout writes (layouts.dsp_depthwise_3x3), in int32 words: [4] twice
 * the folded bias, [4][2] multiplier and rounding constant, one word of the four channels'
 * shifts as bytes (the right shift e in a fast layer, else the shift), then the weights per
 * filter column [3][6] (rows 0 and 1 of channels 0..3 as pairs, row 2 of channels (0, 2) and
 * (1, 3)), doubled. After the groups, a word: 1 for a fast layer (every shift in [-23, -1]). */
#define EK_DW_W 13
#define EK_DW_WORDS 31

/* A doubled accumulator as one output byte of channel j of the group blk, clamped to [lo, hi]:
 * in one step in a fast layer (ek_requantize_doubled; [lo, hi] lies inside the int8 range, so
 * clamping after its SSAT is clamping once), else through ek_dsp.h's general requantization. */
static EK_INLINE int8_t ek_dw_output(const int32_t *blk, int32_t j, int32_t a2, int fast,
                                     int32_t offset, int32_t lo, int32_t hi)
{
    const int32_t m = blk[4 + 2 * j], shift = ((const int8_t *)(blk + 12))[j];
    if (fast) {
        return (int8_t)ek_clamp(ek_requantize_doubled(a2, m, blk[5 + 2 * j], shift), lo, hi);
    }
    return ek_requantize_to(ek_channel_at(&m, &shift, 0, offset, 0), a2 >> 1, lo, hi, 0);
}

/* One gathered column from its three input words a, b, d (rows 0, 1, 2; four channels each):
 * (a0, b0), (a1, b1), (a2, b2), (a3, b3), (d0, d2), (d1, d3) as 16-bit pairs at dst, which
 * moves on by the six words. In assembly, as GCC 12 makes no PKHBT / PKHTB of the C; volatile,
 * as its stores are its point. */
static EK_INLINE uint32_t *ek_dw_column(uint32_t a, uint32_t b, uint32_t d, uint32_t *dst)
{
    uint32_t t0, t1, t2;
    __asm__ volatile("sxtb16 %[t0], %[a]\n\t"
                     "sxtb16 %[a], %[a], ror #8\n\t"
                     "sxtb16 %[t1], %[b]\n\t"
                     "sxtb16 %[b], %[b], ror #8\n\t"
                     "pkhtb %[t2], %[t1], %[t0], asr #16\n\t"
                     "pkhbt %[t0], %[t0], %[t1], lsl #16\n\t"
                     "pkhtb %[t1], %[b], %[a], asr #16\n\t"
                     "pkhbt %[a], %[a], %[b], lsl #16\n\t"
                     "strd %[t2], %[t1], [%[dst], #8]\n\t"
                     "sxtb16 %[b], %[d]\n\t"
                     "sxtb16 %[d], %[d], ror #8\n\t"
                     "strd %[b], %[d], [%[dst], #16]\n\t"
                     "strd %[t0], %[a], [%[dst]], #24\n\t"
                     : [a] "+r"(a), [b] "+r"(b), [d] "+r"(d), [dst] "+r"(dst), [t0] "=&r"(t0),
                       [t1] "=&r"(t1), [t2] "=&r"(t2)
                     :
                     : "memory");
    return dst;
}

/* Where the rows of one output row come from: the three input rows' first gathered pixel
 * (channel 0), or the zero point for a row outside the input, with the step from one pixel to
 * the next (0 for the zero point). */
typedef struct {
    const int8_t *src[3];
    int32_t step[3];
    int inside; /* every row inside the input */
} ek_dw_rows;

static EK_INLINE ek_dw_rows ek_dw_rows_at(const ek_depthwise_conv_params *params,
                                          const int8_t *input, int32_t oy, int32_t lo,
                                          const uint32_t *zero4)
{
    const int32_t ch = params->input_c, row = params->input_w * ch;
    const int32_t y0 = oy * params->stride_h - params->pad_top;
    ek_dw_rows r;
    int32_t ky;
    r.inside = 1;
    for (ky = 0; ky < 3; ++ky) {
        const int32_t y = y0 + ky;
        const int valid = y >= 0 && y < params->input_h;
        r.src[ky] = valid ? input + y * row + (lo - params->pad_left) * ch : (const int8_t *)zero4;
        r.step[ky] = valid ? ch : 0;
        r.inside &= valid;
    }
    return r;
}

/* Gather columns [lo, end) of the rows r, channels c..c+3, into cols (column x: 6 words from
 * cols + 6 * x): input column x - pad_left of the three rows, or the zero point for a row
 * outside the input. The padding columns around them hold the zero point from the start. */
static EK_INLINE void ek_dw_gather(const ek_dw_rows *r, int32_t c, int32_t row, uint32_t *cols,
                                   int32_t lo, int32_t end)
{
    uint32_t *dst = cols + 6 * lo;
    int32_t x;
    if (r->inside) {
        const int8_t *s = r->src[0] + c;
        const int32_t step = r->step[0], row2 = 2 * row;
        for (x = lo; x < end; ++x, s += step) {
            dst = ek_dw_column(ek_load4(s), ek_load4(s + row), ek_load4(s + row2), dst);
        }
    } else {
        const int8_t *s0 = r->src[0] + (r->step[0] ? c : 0);
        const int8_t *s1 = r->src[1] + (r->step[1] ? c : 0);
        const int8_t *s2 = r->src[2] + (r->step[2] ? c : 0);
        for (x = lo; x < end; ++x, s0 += r->step[0], s1 += r->step[1], s2 += r->step[2]) {
            dst = ek_dw_column(ek_load4(s0), ek_load4(s1), ek_load4(s2), dst);
        }
    }
}

/* ek_dw_gather for the last group, of n < 4 channels (the other bytes are the zero point). */
static void ek_dw_gather_tail(const ek_depthwise_conv_params *params, const int8_t *input,
                              int32_t oy, int32_t c, int32_t n, uint32_t zero4, uint32_t *cols,
                              int32_t width)
{
    const int32_t ch = params->input_c, in_w = params->input_w;
    int32_t ky, x, j;
    for (x = 0; x < width; ++x) {
        uint32_t v[3];
        const int32_t ix = x - params->pad_left;
        for (ky = 0; ky < 3; ++ky) {
            const int32_t y = oy * params->stride_h - params->pad_top + ky;
            v[ky] = zero4;
            if (y >= 0 && y < params->input_h && ix >= 0 && ix < in_w) {
                const int8_t *src = input + (y * in_w + ix) * ch + c;
                for (j = 0; j < n; ++j) {
                    v[ky] = (v[ky] & ~(0xFFu << (8 * j))) | ((uint32_t)(uint8_t)src[j] << (8 * j));
                }
            }
        }
        (void)ek_dw_column(v[0], v[1], v[2], cols + 6 * x);
    }
}

/* One filter column (byte offset K into the gathered column and the weights) for the group's
 * four channels: SMLAD takes rows 0 and 1, SMLABB / SMLATT row 2. In assembly: GCC 12 splits
 * the LDRDs and spills the accumulators when it schedules the intrinsics itself. */
#define EK_DW_COLUMN(K0, K1, K2)                                                                \
    "ldrd %[x0], %[x1], [%[p], #" K0 "]\n\t"                                                    \
    "ldrd %[w0], %[w1], [%[w], #" K0 "]\n\t"                                                    \
    "smlad %[a0], %[x0], %[w0], %[a0]\n\t"                                                      \
    "smlad %[a1], %[x1], %[w1], %[a1]\n\t"                                                      \
    "ldrd %[x0], %[x1], [%[p], #" K1 "]\n\t"                                                    \
    "ldrd %[w0], %[w1], [%[w], #" K1 "]\n\t"                                                    \
    "smlad %[a2], %[x0], %[w0], %[a2]\n\t"                                                      \
    "smlad %[a3], %[x1], %[w1], %[a3]\n\t"                                                      \
    "ldrd %[x0], %[x1], [%[p], #" K2 "]\n\t"                                                    \
    "ldrd %[w0], %[w1], [%[w], #" K2 "]\n\t"                                                    \
    "smlabb %[a0], %[x0], %[w0], %[a0]\n\t"                                                     \
    "smlatt %[a2], %[x0], %[w0], %[a2]\n\t"                                                     \
    "smlabb %[a1], %[x1], %[w1], %[a1]\n\t"                                                     \
    "smlatt %[a3], %[x1], %[w1], %[a3]\n\t"

/* The accumulators of one pixel: the group's bias (52 bytes before w), then the three gathered
 * columns from p against the weights w. */
static EK_INLINE void ek_dw_taps(const uint32_t *p, const uint32_t *w, int32_t *a0, int32_t *a1,
                                 int32_t *a2, int32_t *a3)
{
    uint32_t x0, x1, w0, w1;
    __asm__("ldrd %[a0], %[a1], [%[w], #-52]\n\t"
            "ldrd %[a2], %[a3], [%[w], #-44]\n\t"
            EK_DW_COLUMN("0", "8", "16") EK_DW_COLUMN("24", "32", "40")
                EK_DW_COLUMN("48", "56", "64")
            : [a0] "=&r"(*a0), [a1] "=&r"(*a1), [a2] "=&r"(*a2), [a3] "=&r"(*a3), [x0] "=&r"(x0),
              [x1] "=&r"(x1), [w0] "=&r"(w0), [w1] "=&r"(w1)
            : [p] "r"(p), [w] "r"(w)
            : "memory");
}

/* Output byte J of the doubled accumulator A in one step (ek_requantize_doubled): the channel's
 * multiplier and rounding constant (M bytes before w) and its shift byte (E bytes before w). */
#define EK_DW_OUT(A, J, M, E)                                                                   \
    "ldrd %[x0], %[x1], [%[w], #-" M "]\n\t"                                                    \
    "ldrb %[w0], [%[w], #-" E "]\n\t"                                                            \
    "smmlar %[x0], " A ", %[x0], %[x1]\n\t"                                                     \
    "sub %[x0], %[x0], " A ", lsr #31\n\t"                                                      \
    "asr %[x0], %[x0], %[w0]\n\t"                                                               \
    "ssat %[x0], #8, %[x0]\n\t"                                                                 \
    "strb %[x0], [%[out], #" J "]\n\t"

/* One pixel, every shift in [-23, -1] and the int8 clamp: ek_dw_taps, then the four output
 * bytes at out. */
static EK_INLINE void ek_dw_pixel(const uint32_t *p, const uint32_t *w, int8_t *out)
{
    uint32_t a0, a1, a2, a3, x0, x1, w0, w1;
    __asm__ volatile("ldrd %[a0], %[a1], [%[w], #-52]\n\t"
                     "ldrd %[a2], %[a3], [%[w], #-44]\n\t"
                     EK_DW_COLUMN("0", "8", "16") EK_DW_COLUMN("24", "32", "40")
                         EK_DW_COLUMN("48", "56", "64")
                     EK_DW_OUT("%[a0]", "0", "36", "4") EK_DW_OUT("%[a1]", "1", "28", "3")
                         EK_DW_OUT("%[a2]", "2", "20", "2") EK_DW_OUT("%[a3]", "3", "12", "1")
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3),
                       [x0] "=&r"(x0), [x1] "=&r"(x1), [w0] "=&r"(w0), [w1] "=&r"(w1)
                     : [p] "r"(p), [w] "r"(w), [out] "r"(out)
                     : "memory");
}

/* The output pixels of one row for one group of n channels, from the gathered columns; fast:
 * a fast layer, and with once the int8 clamp (the pixel loop in assembly). */
static EK_INLINE void ek_dw_pixels(const ek_depthwise_conv_params *params, const int32_t *blk,
                                   const uint32_t *cols, int8_t *out, int32_t n, int fast,
                                   int once, int32_t stride)
{
    const int32_t ch = params->input_c, step = 6 * stride;
    const int32_t offset = params->output_offset, lo = params->act_min, hi = params->act_max;
    const uint32_t *w = (const uint32_t *)(blk + EK_DW_W);
    const uint32_t *p = cols;
    int32_t ox, j;
    if (once && n == 4) {
        for (ox = params->output_w; ox > 0; --ox, p += step, out += ch) {
            ek_dw_pixel(p, w, out);
        }
        return;
    }
    for (ox = params->output_w; ox > 0; --ox, p += step, out += ch) {
        int32_t acc[4];
        ek_dw_taps(p, w, &acc[0], &acc[1], &acc[2], &acc[3]);
        for (j = 0; j < n; ++j) {
            out[j] = ek_dw_output(blk, j, acc[j], fast, offset, lo, hi);
        }
    }
}

static EK_INLINE void ek_dw_run(const ek_depthwise_conv_params *params, const int8_t *input,
                                const int32_t *blocks, int8_t *output, uint32_t *cols, int fast,
                                int once)
{
    const int32_t ch = params->input_c, out_w = params->output_w, pad = params->pad_left;
    const int32_t width = (out_w - 1) * params->stride_w + 3, row = params->input_w * ch;
    const int32_t lo = pad < width ? pad : width;
    const int32_t end = params->input_w + pad < width ? params->input_w + pad : width;
    const uint32_t zero4 = (uint32_t)(uint8_t)(-params->input_offset) * 0x01010101u;
    int32_t oy, c, x;
    for (x = 0; x < width; ++x) { /* the padding columns keep these */
        (void)ek_dw_column(zero4, zero4, zero4, cols + 6 * x);
    }
    for (oy = 0; oy < params->output_h; ++oy) {
        const ek_dw_rows r = ek_dw_rows_at(params, input, oy, lo, &zero4);
        int8_t *out_row = output + oy * out_w * ch;
        const int32_t *blk = blocks;
        for (c = 0; c < ch; c += 4, blk += EK_DW_WORDS) {
            const int32_t n = ch - c < 4 ? ch - c : 4;
            if (n < 4) {
                ek_dw_gather_tail(params, input, oy, c, n, zero4, cols, width);
                ek_dw_pixels(params, blk, cols, out_row + c, n, fast, 0, params->stride_w);
                continue;
            }
            ek_dw_gather(&r, c, row, cols, lo, end);
            if (params->stride_w == 1) {
                ek_dw_pixels(params, blk, cols, out_row + c, 4, fast, once, 1);
            } else {
                ek_dw_pixels(params, blk, cols, out_row + c, 4, fast, once, 2);
            }
        }
    }
}

void ek_depthwise_conv2d_3x3_s8_dsp(const ek_depthwise_conv_params *params,
                                    const ek_channel_quant *quant, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, int8_t *output,
                                    int8_t *scratch)
{
    const int32_t groups = (params->input_c + 3) / 4;
    uint32_t *cols = (uint32_t *)(void *)scratch;
    (void)quant;
    (void)filter;
    const int fast = bias[groups * EK_DW_WORDS] != 0;
    if (fast && params->act_min == INT8_MIN && params->act_max == INT8_MAX) {
        ek_dw_run(params, input, bias, output, cols, 1, 1);
    } else {
        ek_dw_run(params, input, bias, output, cols, fast, 0);
    }
}
