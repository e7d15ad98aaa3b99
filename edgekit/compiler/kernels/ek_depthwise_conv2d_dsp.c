/* DEPTHWISE_CONV_2D with any window and strides, depth multiplier 1, undilated, for cores with
 * the DSP extension (the 3x3 layers have ek_depthwise_conv2d_3x3_dsp.c).
 *
 * Four channels at a time, as the 3x3 kernel: for each output row and group of four channels,
 * the filter_h input rows the row reads are gathered into scratch, padding included (the input
 * zero point: the input offset is folded into the bias), one input column after the other. A
 * column holds its rows two by two, each channel's pair of rows as one 16-bit pair, so that one
 * SMLAD does two taps; an odd filter height gets a last row of zero weights (its input is the
 * zero point). A pixel's window is then filter_w consecutive columns, one contiguous run of
 * words, against the weights stored the same way (layouts.dsp_depthwise_window): per pair of
 * rows, two LDRDs of inputs, two of weights and four SMLADs for eight multiply-accumulates.
 * The doubled accumulator requantizes in one step, as in the 3x3 kernel. Output rows are
 * written in order, each after its input rows were gathered: the reference kernel's in-place
 * rule holds. */
#include "ek_dsp.h"

/* The per-group block the layout writes, in int32 words: [4] twice the folded bias, [4][2]
 * multiplier and rounding constant, one word of the four channels' shifts as bytes (the right
 * shift e in a fast layer, else the shift), then the weights [filter_w][pairs][4]. After the
 * groups, a word: 1 for a fast layer (every shift in [-23, -1]). */
#define EK_DWK_MR 4
#define EK_DWK_SHIFT 12
#define EK_DWK_W 13

/* One pair of rows of one column for channels 0..3, from the rows' input words a and b:
 * (a0, b0), (a1, b1), (a2, b2), (a3, b3) as 16-bit pairs at dst. */
static EK_INLINE void ek_dwk_pair(uint32_t a, uint32_t b, uint32_t *dst)
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
                     "strd %[t0], %[a], [%[dst]]\n\t"
                     "strd %[t2], %[t1], [%[dst], #8]\n\t"
                     : [a] "+r"(a), [b] "+r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2)
                     : [dst] "r"(dst)
                     : "memory");
}

/* The accumulators of one pixel: the bias b[0..3] plus n pairs of rows, from the gathered
 * columns p against the weights w (four words each). */
static EK_INLINE void ek_dwk_taps(const uint32_t *p, const uint32_t *w, const int32_t *b,
                                  int32_t n, int32_t acc[4])
{
    int32_t a0, a1, a2, a3;
    uint32_t x0, x1, w0, w1;
    __asm__("ldrd %[a0], %[a1], [%[b]]\n\t"
            "ldrd %[a2], %[a3], [%[b], #8]\n\t"
            "1:\n\t"
            "ldrd %[x0], %[x1], [%[p]], #8\n\t"
            "ldrd %[w0], %[w1], [%[w]], #8\n\t"
            "smlad %[a0], %[x0], %[w0], %[a0]\n\t"
            "smlad %[a1], %[x1], %[w1], %[a1]\n\t"
            "ldrd %[x0], %[x1], [%[p]], #8\n\t"
            "ldrd %[w0], %[w1], [%[w]], #8\n\t"
            "smlad %[a2], %[x0], %[w0], %[a2]\n\t"
            "smlad %[a3], %[x1], %[w1], %[a3]\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b\n\t"
            : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [x0] "=&r"(x0),
              [x1] "=&r"(x1), [w0] "=&r"(w0), [w1] "=&r"(w1), [p] "+r"(p), [w] "+r"(w),
              [n] "+r"(n)
            : [b] "r"(b)
            : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* A doubled accumulator as one output byte of channel j of the group blk, clamped to [lo, hi]:
 * in one step in a fast layer (ek_requantize_doubled; [lo, hi] lies inside the int8 range, so
 * clamping after its SSAT is clamping once), else through ek_dsp.h's general requantization. */
static EK_INLINE int8_t ek_dwk_requantize(const int32_t *blk, int32_t j, int32_t a2, int fast,
                                          int32_t offset, int32_t lo, int32_t hi)
{
    const int32_t m = blk[EK_DWK_MR + 2 * j], shift = ((const int8_t *)(blk + EK_DWK_SHIFT))[j];
    if (fast) { /* 2: and the int8 clamp */
        const int8_t v = ek_requantize_doubled(a2, m, blk[EK_DWK_MR + 2 * j + 1], shift);
        return fast == 2 ? v : (int8_t)ek_clamp(v, lo, hi);
    }
    return ek_requantize_to(ek_channel_at(&m, &shift, 0, offset, 0), a2 >> 1, lo, hi, 0);
}

/* Gather the rows of output row oy, channels c..c+3 (n of them are real), columns [lo, end)
 * into cols (column x: 4 * pairs words from cols + 4 * pairs * x): row 2j and 2j + 1 of the
 * window as pair j. Rows outside the input, and the row after an odd filter height, read the
 * zero point through a pointer that does not move. */
static void ek_dwk_gather(const ek_depthwise_conv_params *params, const int8_t *input,
                          int32_t oy, int32_t c, int32_t n, uint32_t zero4, uint32_t *cols,
                          int32_t lo, int32_t end, int32_t pairs)
{
    const int32_t ch = params->input_c, row = params->input_w * ch;
    const int32_t y0 = oy * params->stride_h - params->pad_top;
    const int8_t *zero = (const int8_t *)&zero4;
    int32_t j, x, k;
    for (j = 0; j < pairs; ++j) {
        const int8_t *s[2];
        int32_t step[2];
        uint32_t *dst = cols + 4 * (pairs * lo + j);
        for (k = 0; k < 2; ++k) {
            const int32_t ky = 2 * j + k, y = y0 + ky;
            const int valid = ky < params->filter_h && y >= 0 && y < params->input_h;
            s[k] = valid ? input + y * row + (lo - params->pad_left) * ch + c : zero;
            step[k] = valid ? ch : 0;
        }
        if (n == 4) {
            for (x = lo; x < end; ++x, s[0] += step[0], s[1] += step[1], dst += 4 * pairs) {
                ek_dwk_pair(ek_load4(s[0]), ek_load4(s[1]), dst);
            }
        } else {
            for (x = lo; x < end; ++x, s[0] += step[0], s[1] += step[1], dst += 4 * pairs) {
                uint32_t v[2] = {zero4, zero4};
                for (k = 0; k < 2; ++k) {
                    if (step[k]) {
                        memcpy(&v[k], s[k], (size_t)n);
                    }
                }
                ek_dwk_pair(v[0], v[1], dst);
            }
        }
    }
}

static EK_INLINE void ek_dwk_run(const ek_depthwise_conv_params *params, const int8_t *input,
                                 const int32_t *blocks, int8_t *output, uint32_t *cols, int fast)
{
    const int32_t ch = params->input_c, out_w = params->output_w, pad = params->pad_left;
    const int32_t pairs = (params->filter_h + 1) / 2, words = 13 + 4 * pairs * params->filter_w;
    const int32_t width = (out_w - 1) * params->stride_w + params->filter_w;
    const int32_t lo = pad < width ? pad : width;
    const int32_t end = params->input_w + pad < width ? params->input_w + pad : width;
    const int32_t step = 4 * pairs * params->stride_w, taps = pairs * params->filter_w;
    const int32_t offset = params->output_offset, lo_out = params->act_min;
    const int32_t hi_out = params->act_max;
    const uint32_t zero4 = (uint32_t)(uint8_t)(-params->input_offset) * 0x01010101u;
    int32_t oy, ox, c, x, j;
    for (x = 0; x < width * pairs; ++x) { /* the padding columns keep these */
        ek_dwk_pair(zero4, zero4, cols + 4 * x);
    }
    for (oy = 0; oy < params->output_h; ++oy) {
        int8_t *out_row = output + oy * out_w * ch;
        const int32_t *blk = blocks;
        for (c = 0; c < ch; c += 4, blk += words) {
            const int32_t n = ch - c < 4 ? ch - c : 4;
            const uint32_t *w = (const uint32_t *)(blk + EK_DWK_W);
            const uint32_t *p = cols;
            int8_t *out = out_row + c;
            ek_dwk_gather(params, input, oy, c, n, zero4, cols, lo, end, pairs);
            for (ox = 0; ox < out_w; ++ox, p += step, out += ch) {
                int32_t acc[4];
                ek_dwk_taps(p, w, blk, taps, acc);
                if (n == 4) {
                    out[0] = ek_dwk_requantize(blk, 0, acc[0], fast, offset, lo_out, hi_out);
                    out[1] = ek_dwk_requantize(blk, 1, acc[1], fast, offset, lo_out, hi_out);
                    out[2] = ek_dwk_requantize(blk, 2, acc[2], fast, offset, lo_out, hi_out);
                    out[3] = ek_dwk_requantize(blk, 3, acc[3], fast, offset, lo_out, hi_out);
                } else {
                    for (j = 0; j < n; ++j) {
                        out[j] = ek_dwk_requantize(blk, j, acc[j], fast, offset, lo_out, hi_out);
                    }
                }
            }
        }
    }
}

void ek_depthwise_conv2d_s8_dsp(const ek_depthwise_conv_params *params,
                                const ek_channel_quant *quant, const int8_t *input,
                                const int8_t *filter, const int32_t *bias, int8_t *output,
                                int8_t *scratch)
{
    const int32_t groups = (params->input_c + 3) / 4, pairs = (params->filter_h + 1) / 2;
    const int32_t words = 13 + 4 * pairs * params->filter_w;
    uint32_t *cols = (uint32_t *)(void *)scratch;
    (void)quant;
    (void)filter;
    if (bias[groups * words] && params->act_min == INT8_MIN && params->act_max == INT8_MAX) {
        ek_dwk_run(params, input, bias, output, cols, 2);
    } else if (bias[groups * words]) {
        ek_dwk_run(params, input, bias, output, cols, 1);
    } else {
        ek_dwk_run(params, input, bias, output, cols, 0);
    }
}
