/* CONV_2D for cores with Helium (MVE), as a matrix multiply of pixels [P, K] by weights
 * [C_out, K] (K = filter_h * filter_w * C_in): VMLADAVA.S8 adds 16 products of a pixel's
 * inputs and a channel's weights to a scalar accumulator. The weights come tiled at build time
 * (codegen.tiled_weights): for each block of four output channels, each run of 16 of K holds
 * the four channels' 16 weights one after the other, zero-padded to whole blocks and runs, so
 * one pointer walks a block and every weight load is whole. The input offset is folded into
 * the bias at build time, as in the DSP variant, so the products are plain int8 ones. A block's
 * four accumulators become one vector, are requantized together (ek_mve_requantize) and stored
 * with one narrowing store: the four channels of a pixel are adjacent in the output.
 *
 * - K <= 16: the block's weights stay in four registers over all pixels.
 * - K > 16: one pixel at a time; the last pixel's last run of K reads only the input bytes that
 *   exist (a predicated load: the lanes past K read zero).
 * - ek_conv2d_im2col_s8_mve: any window, one output row's windows at a time copied into
 *   scratch (output_w * K bytes), padding filled with the input zero point so that it adds
 *   zero, as in the reference kernel.
 * - ek_conv2d_im2col_dilated_s8_mve: the same with a dilated window. */
#include "ek_im2col.h"
#include "ek_mve.h"

/* What turns a block's accumulators into output bytes, kept in registers over the pixels. */
typedef struct {
    ek_mve_quant q;
    int32x4_t bias;
    mve_pred16_t lanes; /* the block's output channels (fewer than four in the last block) */
} ek_block;

static EK_INLINE ek_block ek_block_at(const ek_conv_params *params, const ek_channel_quant *quant,
                                      const int32_t *bias, int32_t oc)
{
    ek_block b;
    const int32_t n = params->output_c - oc < 4 ? params->output_c - oc : 4;
    b.q = ek_mve_quant_at(quant->multiplier, quant->shift, oc, n, params->output_offset,
                          params->act_min, params->act_max);
    b.lanes = vctp32q((uint32_t)n);
    b.bias = vldrwq_z_s32(bias + oc, b.lanes);
    return b;
}

/* {a0, a1, a2, a3} in two instructions (VMOV of two general registers into two lanes); GCC 12
 * goes through the stack for a vector initializer. */
static EK_INLINE int32x4_t ek_vector4(int32_t a0, int32_t a1, int32_t a2, int32_t a3)
{
#if defined(__GNUC__)
    int32x4_t v;
    __asm__("vmov %q0[2], %q0[0], %1, %3\n\tvmov %q0[3], %q0[1], %2, %4"
            : "=w"(v)
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3));
    return v;
#else
    const int32x4_t v = {a0, a1, a2, a3};
    return v;
#endif
}

/* One pixel's four accumulators into its four output bytes (partial: the block has fewer than
 * four channels, so the store is predicated). */
static EK_INLINE void ek_put4(const ek_block *b, int8_t *y, int32_t a0, int32_t a1, int32_t a2,
                              int32_t a3, int mode, int partial)
{
    const int32x4_t acc = vaddq_s32(ek_vector4(a0, a1, a2, a3), b->bias);
    const int32x4_t out = ek_mve_requantize_as(acc, &b->q, mode);
    if (partial) {
        vstrbq_p_s32(y, out, b->lanes);
    } else {
        vstrbq_s32(y, out);
    }
}

/* One block of four output channels over every pixel, K <= 16, its weights in four registers.
 * A pixel's 16-byte load runs into the next pixel, which the zero weights past K cancel; the
 * last pixel's load is predicated so that nothing past the input is read. */
static EK_INLINE void ek_block_small(const ek_block *b, const int8_t *x, int32_t pixels,
                                     int32_t depth, const int8_t *w, int32_t out_c, int8_t *y,
                                     int mode, int partial)
{
    const int8x16_t w0 = vldrbq_s8(w), w1 = vldrbq_s8(w + 16);
    const int8x16_t w2 = vldrbq_s8(w + 32), w3 = vldrbq_s8(w + 48);
    int32_t p;
    for (p = pixels - 1; p > 0; --p, x += depth, y += out_c) {
        const int8x16_t v = vldrbq_s8(x);
        ek_put4(b, y, vmladavq_s8(v, w0), vmladavq_s8(v, w1), vmladavq_s8(v, w2),
                vmladavq_s8(v, w3), mode, partial);
    }
    {
        const int8x16_t v = vldrbq_z_s8(x, vctp8q((uint32_t)depth));
        ek_put4(b, y, vmladavq_s8(v, w0), vmladavq_s8(v, w1), vmladavq_s8(v, w2),
                vmladavq_s8(v, w3), mode, partial);
    }
}

/* acc_j += the products of v and the next four weight runs w[0..63], j = 0..3. */
#define EK_RUN4(v, w)                                                                           \
    do {                                                                                        \
        a0 = vmladavaq_s8(a0, v, vldrbq_s8(w));                                                 \
        w += 16;                                                                                \
        a1 = vmladavaq_s8(a1, v, vldrbq_s8(w));                                                 \
        w += 16;                                                                                \
        a2 = vmladavaq_s8(a2, v, vldrbq_s8(w));                                                 \
        w += 16;                                                                                \
        a3 = vmladavaq_s8(a3, v, vldrbq_s8(w));                                                 \
        w += 16;                                                                                \
    } while (0)

/* One pixel against one block, K > 16: four accumulators (VMLADAVA adds into even registers,
 * of which there are seven, so blocking two pixels would spill). Every run but the last
 * pixel's last is a whole load, as in ek_block_small; final: this is the last pixel. */
static EK_INLINE void ek_pixel(const ek_block *b, const int8_t *x, int32_t depth,
                               const int8_t *w, int8_t *y, int final, int mode, int partial)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, r;
    for (r = final ? (depth - 1) >> 4 : (depth + 15) >> 4; r > 0; --r, x += 16) {
        const int8x16_t v = vldrbq_s8(x);
        EK_RUN4(v, w);
    }
    if (final) {
        const int8x16_t v = vldrbq_z_s8(x, vctp8q((uint32_t)(((depth - 1) & 15) + 1)));
        EK_RUN4(v, w);
    }
    ek_put4(b, y, a0, a1, a2, a3, mode, partial);
}

static EK_INLINE void ek_block_large(const ek_block *b, const int8_t *x, int32_t pixels,
                                     int32_t depth, const int8_t *w, int32_t out_c, int8_t *y,
                                     int mode, int partial)
{
    int32_t p;
    for (p = pixels - 1; p > 0; --p, x += depth, y += out_c) {
        ek_pixel(b, x, depth, w, y, 0, mode, partial);
    }
    ek_pixel(b, x, depth, w, y, 1, mode, partial);
}

static EK_INLINE void ek_block_run(const ek_block *b, const int8_t *x, int32_t pixels,
                                   int32_t depth, const int8_t *w, int32_t out_c, int8_t *y,
                                   int mode, int partial)
{
    if (depth <= 16) {
        ek_block_small(b, x, pixels, depth, w, out_c, y, mode, partial);
    } else {
        ek_block_large(b, x, pixels, depth, w, out_c, y, mode, partial);
    }
}

static EK_INLINE void ek_gemm_all(const ek_conv_params *params, const ek_channel_quant *quant,
                                  const int8_t *x, int32_t pixels, int32_t depth,
                                  const int8_t *filter, const int32_t *bias, int8_t *y, int mode)
{
    const int32_t out_c = params->output_c, block_bytes = ((depth + 15) & ~15) * 4;
    int32_t oc;
    for (oc = 0; oc + 4 <= out_c; oc += 4, filter += block_bytes) {
        const ek_block b = ek_block_at(params, quant, bias, oc);
        ek_block_run(&b, x, pixels, depth, filter, out_c, y + oc, mode, 0);
    }
    if (oc < out_c) {
        const ek_block b = ek_block_at(params, quant, bias, oc);
        ek_block_run(&b, x, pixels, depth, filter, out_c, y + oc, mode, 1);
    }
}

/* output[p][c] for pixel rows [pixels][depth] and tiled weights: built for the usual layer
 * (right shifts only, the int8 range) and for any other. */
static void ek_gemm(const ek_conv_params *params, const ek_channel_quant *quant, const int8_t *x,
                    int32_t pixels, int32_t depth, const int8_t *filter, const int32_t *bias,
                    int8_t *y)
{
    if (ek_mve_mode(quant->shift, params->output_c, params->act_min, params->act_max) == 0) {
        ek_gemm_all(params, quant, x, pixels, depth, filter, bias, y, 0);
    } else {
        ek_gemm_all(params, quant, x, pixels, depth, filter, bias, y, EK_MVE_GENERAL);
    }
}

void ek_conv2d_1x1_s8_mve(const ek_conv_params *params, const ek_channel_quant *quant,
                          const int8_t *input, const int8_t *filter, const int32_t *bias,
                          int8_t *output)
{
    ek_gemm(params, quant, input, params->output_h * params->output_w, params->input_c, filter,
            bias, output);
}

void ek_conv2d_im2col_s8_mve(const ek_conv_params *params, const ek_channel_quant *quant,
                             const int8_t *input, const int8_t *filter, const int32_t *bias,
                             int8_t *output, int8_t *scratch)
{
    const int32_t in_c = params->input_c, in_w = params->input_w, in_h = params->input_h;
    const int32_t filter_h = params->filter_h, filter_w = params->filter_w;
    const int32_t span = filter_w * in_c, depth = filter_h * span;
    const int8_t zero = (int8_t)-params->input_offset;
    const int32_t out_w = params->output_w, row = out_w * params->output_c;
    const mve_pred16_t run = vctp8q((uint32_t)span);
    int32_t oy, ox, ky;
    for (oy = 0; oy < params->output_h; ++oy) {
        const int32_t y0 = oy * params->stride_h - params->pad_top;
        const int rows_inside = y0 >= 0 && y0 + filter_h <= in_h;
        int8_t *column = scratch;
        for (ox = 0; ox < out_w; ++ox, column += depth) {
            const int32_t x0 = ox * params->stride_w - params->pad_left;
            if (rows_inside && span <= 16 && x0 >= 0 && x0 + filter_w <= in_w) {
                /* inside the input, each window row one predicated load and store */
                const int8_t *from = input + (y0 * in_w + x0) * in_c;
                for (ky = 0; ky < filter_h; ++ky, from += in_w * in_c) {
                    vstrbq_p_s8(column + ky * span, vldrbq_z_s8(from, run), run);
                }
            } else {
                ek_im2col(params, input, oy, ox, zero, column);
            }
        }
        ek_gemm(params, quant, scratch, out_w, depth, filter, bias, output + oy * row);
    }
}

void ek_conv2d_im2col_dilated_s8_mve(const ek_dilated_conv_params *params,
                                     const ek_channel_quant *quant, const int8_t *input,
                                     const int8_t *filter, const int32_t *bias, int8_t *output,
                                     int8_t *scratch)
{
    const ek_conv_params *conv = &params->conv;
    const int32_t depth = conv->filter_h * conv->filter_w * conv->input_c;
    const int8_t zero = (int8_t)-conv->input_offset;
    const int32_t out_w = conv->output_w, row = out_w * conv->output_c;
    int32_t oy, ox;
    for (oy = 0; oy < conv->output_h; ++oy) {
        for (ox = 0; ox < out_w; ++ox) {
            ek_im2col_dilated(conv, params->dilation_h, params->dilation_w, input, oy, ox, zero,
                              scratch + ox * depth);
        }
        ek_gemm(conv, quant, scratch, out_w, depth, filter, bias, output + oy * row);
    }
}
