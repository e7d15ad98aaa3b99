/* DEPTHWISE_CONV_2D with a 3x3 filter, depth multiplier 1, for cores with the DSP extension.
 * Four channels at a time: one word load takes a tap's four input channels, SXTB16 splits it
 * into channels (0, 2) and (1, 3), and SMLABB / SMLATT multiply-accumulate each halfword with
 * the matching weight. The weights come blocked at build time, the 9 taps of each group of four
 * channels together ([C / 4][9][4], then [9][C % 4] for the last channels), so one pointer
 * walks them. The input offset is folded into the bias at build time; a tap in the
 * padding reads the input zero point instead (it then adds zero, as in the reference kernel).
 * Output rows are written in order and row y reads input rows from y * stride - pad_top on, so
 * the reference kernel's in-place rule holds; within a row, each group of four channels runs
 * along the row, so that its requantization constants are prepared once per row. */
#include "ek_dsp.h"

/* What turns accumulators into output bytes, in locals the compiler can keep. */
typedef struct {
    const int32_t *multiplier, *shift;
    int32_t offset, lo, hi;
} ek_dw_requant;

/* One tap for channels c..c+3: input word xv, weight word wv. */
#define EK_DW_TAP(xv, wv)                                                                       \
    do {                                                                                        \
        const uint32_t x_ = (xv), w_ = (wv);                                                    \
        const int16x2_t x02 = __sxtb16(x_), x13 = ek_sxtb16_ror8(x_);                           \
        const int16x2_t w02 = __sxtb16(w_), w13 = ek_sxtb16_ror8(w_);                           \
        a0 = __smlabb(x02, w02, a0);                                                            \
        a2 = __smlatt(x02, w02, a2);                                                            \
        a1 = __smlabb(x13, w13, a1);                                                            \
        a3 = __smlatt(x13, w13, a3);                                                            \
    } while (0)

/* Accumulators of channels c..c+3 of an output pixel at the border, window at (y0, x0): taps
 * outside the input read zero4. w: the block's 9 x 4 weights. */
static void ek_dw_edge4(const ek_depthwise_conv_params *params, const int8_t *input,
                        const int8_t *w, int32_t y0, int32_t x0, int32_t c, uint32_t zero4,
                        int32_t acc[4])
{
    const int32_t ch = params->input_c, in_w = params->input_w, in_h = params->input_h;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t ky;
    for (ky = 0; ky < 3; ++ky, w += 12) {
        const int32_t y = y0 + ky;
        if (y >= 0 && y < in_h) {
            const int8_t *p = input + y * in_w * ch + c; /* the row; x0 >= -1 (3x3 padding) */
            EK_DW_TAP(x0 >= 0 ? ek_load4(p + x0 * ch) : zero4, ek_load4(w));
            EK_DW_TAP(x0 + 1 >= 0 && x0 + 1 < in_w ? ek_load4(p + (x0 + 1) * ch) : zero4,
                      ek_load4(w + 4));
            EK_DW_TAP(x0 + 2 < in_w ? ek_load4(p + (x0 + 2) * ch) : zero4, ek_load4(w + 8));
        } else {
            EK_DW_TAP(zero4, ek_load4(w));
            EK_DW_TAP(zero4, ek_load4(w + 4));
            EK_DW_TAP(zero4, ek_load4(w + 8));
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The output pixels of a row whose window lies inside the input columns, [lo, hi): the loop
 * over them checks no padding. */
static void ek_dw_interior(const ek_depthwise_conv_params *params, int32_t *lo, int32_t *hi)
{
    const int32_t s = params->stride_w, pad = params->pad_left, last = params->input_w - 3 + pad;
    int32_t a = (pad + s - 1) / s, b = last >= 0 ? last / s + 1 : 0;
    if (b > params->output_w) {
        b = params->output_w;
    }
    if (a > b) {
        a = b;
    }
    *lo = a;
    *hi = b;
}

/* Channels c..c+3 of output row oy (window rows from y0), every pixel of the row: the border
 * pixels through ek_dw_edge4, the interior ones with one pointer stepping along the row. */
static EK_INLINE void ek_dw_row4(const ek_depthwise_conv_params *params, const ek_dw_requant *r,
                                 const int8_t *input, const int8_t *w, const int32_t *bias,
                                 int8_t *out_row, int32_t y0, int32_t c, int row_edge,
                                 uint32_t zero4, int32_t in_lo, int32_t in_hi, int fast)
{
    const int32_t ch = params->input_c, row = params->input_w * ch;
    const int32_t out_w = params->output_w, step = params->stride_w * ch;
    const int32_t offset = r->offset, lo = r->lo, hi = r->hi;
    const ek_channel q0 = ek_channel_at(r->multiplier, r->shift, c, offset, fast);
    const ek_channel q1 = ek_channel_at(r->multiplier, r->shift, c + 1, offset, fast);
    const ek_channel q2 = ek_channel_at(r->multiplier, r->shift, c + 2, offset, fast);
    const ek_channel q3 = ek_channel_at(r->multiplier, r->shift, c + 3, offset, fast);
    const int32_t b0 = bias[c], b1 = bias[c + 1], b2 = bias[c + 2], b3 = bias[c + 3];
    int8_t *out = out_row + c;
    int32_t ox = 0;
    if (row_edge) {
        in_lo = in_hi = out_w;
    }
    while (ox < out_w) {
        if (ox == in_lo && in_lo < in_hi) {
            const int8_t *r0 =
                input + y0 * row + (ox * params->stride_w - params->pad_left) * ch + c;
            for (; ox < in_hi; ++ox, r0 += step, out += ch) {
                const int8_t *r1 = r0 + row, *r2 = r1 + row;
                int32_t a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                EK_DW_TAP(ek_load4(r0), ek_load4(w));
                EK_DW_TAP(ek_load4(r0 + ch), ek_load4(w + 4));
                EK_DW_TAP(ek_load4(r0 + 2 * ch), ek_load4(w + 8));
                EK_DW_TAP(ek_load4(r1), ek_load4(w + 12));
                EK_DW_TAP(ek_load4(r1 + ch), ek_load4(w + 16));
                EK_DW_TAP(ek_load4(r1 + 2 * ch), ek_load4(w + 20));
                EK_DW_TAP(ek_load4(r2), ek_load4(w + 24));
                EK_DW_TAP(ek_load4(r2 + ch), ek_load4(w + 28));
                EK_DW_TAP(ek_load4(r2 + 2 * ch), ek_load4(w + 32));
                out[0] = ek_requantize_to(q0, a0, lo, hi, fast);
                out[1] = ek_requantize_to(q1, a1, lo, hi, fast);
                out[2] = ek_requantize_to(q2, a2, lo, hi, fast);
                out[3] = ek_requantize_to(q3, a3, lo, hi, fast);
            }
        } else {
            int32_t acc[4];
            acc[0] = b0;
            acc[1] = b1;
            acc[2] = b2;
            acc[3] = b3;
            ek_dw_edge4(params, input, w, y0, ox * params->stride_w - params->pad_left, c, zero4,
                        acc);
            out[0] = ek_requantize_to(q0, acc[0], lo, hi, fast);
            out[1] = ek_requantize_to(q1, acc[1], lo, hi, fast);
            out[2] = ek_requantize_to(q2, acc[2], lo, hi, fast);
            out[3] = ek_requantize_to(q3, acc[3], lo, hi, fast);
            ++ox;
            out += ch;
        }
    }
}

/* One channel of one output pixel (the channels after the last group of four). */
static void ek_dw_one(const ek_depthwise_conv_params *params, const ek_dw_requant *r,
                      const int8_t *input, const int8_t *tail, const int32_t *bias, int8_t *out,
                      int32_t y0, int32_t x0, int32_t c, int32_t zero)
{
    const int32_t channels = params->input_c, rem = channels & 3;
    int32_t acc = bias[c], ky, kx;
    for (ky = 0; ky < 3; ++ky) {
        for (kx = 0; kx < 3; ++kx) {
            const int32_t y = y0 + ky, x = x0 + kx;
            const int32_t v = (y < 0 || y >= params->input_h || x < 0 || x >= params->input_w)
                                  ? zero
                                  : input[(y * params->input_w + x) * channels + c];
            acc += v * tail[(ky * 3 + kx) * rem + c - (channels - rem)];
        }
    }
    out[c] = ek_requantize_to(ek_channel_at(r->multiplier, r->shift, c, r->offset, 0), acc, r->lo,
                              r->hi, 0);
}

static EK_INLINE void ek_dw_run(const ek_depthwise_conv_params *params, const ek_dw_requant *r,
                                const int8_t *input, const int8_t *filter, const int32_t *bias,
                                int8_t *output, int fast)
{
    const int32_t channels = params->input_c, blocks = channels & ~3;
    const int32_t out_w = params->output_w;
    const int32_t zero = -params->input_offset;
    const uint32_t zero4 = (uint32_t)(uint8_t)zero * 0x01010101u;
    int32_t oy, ox, c, in_lo, in_hi;

    ek_dw_interior(params, &in_lo, &in_hi);
    for (oy = 0; oy < params->output_h; ++oy) {
        const int32_t y0 = oy * params->stride_h - params->pad_top;
        const int row_edge = y0 < 0 || y0 + 3 > params->input_h;
        int8_t *out_row = output + oy * out_w * channels;
        for (c = 0; c < blocks; c += 4) {
            ek_dw_row4(params, r, input, filter + c * 9, bias, out_row, y0, c, row_edge, zero4,
                       in_lo, in_hi, fast);
        }
        for (c = blocks; c < channels; ++c) {
            for (ox = 0; ox < out_w; ++ox) {
                ek_dw_one(params, r, input, filter + blocks * 9, bias, out_row + ox * channels,
                          y0, ox * params->stride_w - params->pad_left, c, zero);
            }
        }
    }
}

void ek_depthwise_conv2d_3x3_s8_dsp(const ek_depthwise_conv_params *params,
                                    const ek_channel_quant *quant, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, int8_t *output)
{
    ek_dw_requant r;
    r.multiplier = quant->multiplier;
    r.shift = quant->shift;
    r.offset = params->output_offset;
    r.lo = params->act_min;
    r.hi = params->act_max;
    if (ek_fast_path(r.shift, params->input_c, r.lo, r.hi)) {
        ek_dw_run(params, &r, input, filter, bias, output, 1);
    } else {
        ek_dw_run(params, &r, input, filter, bias, output, 0);
    }
}
