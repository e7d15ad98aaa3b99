/* CONV_2D for cores with the DSP extension, as a matrix multiply of pixels [P, K] by weights
 * [C_out, K] (K = filter_h * filter_w * C_in, the OHWI weights as they are), blocked 2 output
 * channels x 2 pixels so that each loaded word of input and of weights feeds two SMLADs. The
 * input offset is folded into the bias at build time (bias + input_offset * the sum of the
 * channel's weights), so the inner loop is a plain int8 dot product.
 *
 * - ek_conv2d_1x1_s8_dsp: 1x1 filter, stride 1: the input is already the pixel matrix.
 * - ek_conv2d_im2col_s8_dsp: any window: one output row's windows at a time are copied into
 *   scratch (output_w * K bytes), padding filled with the input zero point so that it adds
 *   zero, as in the reference kernel.
 * - ek_conv2d_im2col_dilated_s8_dsp: the same with a dilated window.
 * Output channels run in pairs over all pixels, so each channel's requantization is prepared
 * once (ek_dsp.h's fast path where every shift allows it). */
#include "ek_dsp.h"
#include "ek_im2col.h"

/* What turns an accumulator into an output byte, in locals the compiler can keep. */
typedef struct {
    const int32_t *multiplier, *shift;
    int32_t offset, lo, hi;
} ek_requant;

/* One output byte of channel ch (fast: see ek_fast_path). */
static EK_INLINE int8_t ek_out(const ek_requant *r, ek_channel ch, int32_t acc, int fast)
{
    return ek_requantize_to(ch, acc, r->lo, r->hi, fast);
}

static EK_INLINE ek_channel ek_channel_of(const ek_requant *r, int32_t c, int fast)
{
    return ek_channel_at(r->multiplier, r->shift, c, r->offset, fast);
}

/* acc + the dot product of x and w over depth int8 values. */
static EK_INLINE int32_t ek_dot(const int8_t *x, const int8_t *w, int32_t depth, int32_t acc)
{
    int32_t i;
    for (i = depth >> 2; i > 0; --i) {
        const uint32_t xv = ek_load4(x), wv = ek_load4(w);
        acc = __smlad(__sxtb16(xv), __sxtb16(wv), acc);
        acc = __smlad(ek_sxtb16_ror8(xv), ek_sxtb16_ror8(wv), acc);
        x += 4;
        w += 4;
    }
    for (i = depth & 3; i > 0; --i) {
        acc += (int32_t)*x++ * (int32_t)*w++;
    }
    return acc;
}

/* Four input channels from k on of pixels x, x + depth and weights w, w + depth into the 2 x 2
 * accumulators: four loads, eight SXTB16, eight SMLAD. */
#define EK_STEP_2X2(k)                                                                          \
    do {                                                                                        \
        const uint32_t xa = ek_load4(x + (k)), xb = ek_load4(x + depth + (k));                  \
        const uint32_t wa = ek_load4(w + (k)), wb = ek_load4(w + depth + (k));                  \
        const int16x2_t xa0 = __sxtb16(xa), xa1 = ek_sxtb16_ror8(xa);                           \
        const int16x2_t xb0 = __sxtb16(xb), xb1 = ek_sxtb16_ror8(xb);                           \
        int16x2_t v0 = __sxtb16(wa), v1 = ek_sxtb16_ror8(wa);                                   \
        a00 = __smlad(xa0, v0, a00);                                                            \
        a00 = __smlad(xa1, v1, a00);                                                            \
        a01 = __smlad(xb0, v0, a01);                                                            \
        a01 = __smlad(xb1, v1, a01);                                                            \
        v0 = __sxtb16(wb);                                                                      \
        v1 = ek_sxtb16_ror8(wb);                                                                \
        a10 = __smlad(xa0, v0, a10);                                                            \
        a10 = __smlad(xa1, v1, a10);                                                            \
        a11 = __smlad(xb0, v0, a11);                                                            \
        a11 = __smlad(xb1, v1, a11);                                                            \
    } while (0)

/* Output channels oc and oc + 1 for every pixel. */
static EK_INLINE void ek_gemm_pair(const ek_requant *r, const int8_t *input, int32_t pixels,
                                int32_t depth, const int8_t *w0, const int32_t *bias,
                                int32_t out_c, int32_t oc, int8_t *output, int fast)
{
    const ek_channel c0 = ek_channel_of(r, oc, fast), c1 = ek_channel_of(r, oc + 1, fast);
    const int32_t b0 = bias[oc], b1 = bias[oc + 1];
    const int8_t *x0 = input;
    int8_t *y = output + oc;
    int32_t p, i;
    for (p = pixels >> 1; p > 0; --p) {
        const int8_t *x = x0, *w = w0;
        int32_t a00 = b0, a01 = b0, a10 = b1, a11 = b1;
        for (i = depth >> 3; i > 0; --i) { /* eight input channels per turn */
            EK_STEP_2X2(0);
            EK_STEP_2X2(4);
            x += 8;
            w += 8;
        }
        if (depth & 4) {
            EK_STEP_2X2(0);
            x += 4;
            w += 4;
        }
        for (i = depth & 3; i > 0; --i) {
            const int32_t xa = x[0], xb = x[depth], wa = w[0], wb = w[depth];
            a00 += xa * wa;
            a01 += xb * wa;
            a10 += xa * wb;
            a11 += xb * wb;
            ++x;
            ++w;
        }
        y[0] = ek_out(r, c0, a00, fast);
        y[1] = ek_out(r, c1, a10, fast);
        y[out_c] = ek_out(r, c0, a01, fast);
        y[out_c + 1] = ek_out(r, c1, a11, fast);
        x0 += 2 * depth;
        y += 2 * out_c;
    }
    if (pixels & 1) { /* an odd last pixel: one input word feeds both channels */
        int32_t a0 = b0, a1 = b1;
        ek_dot_1x2(x0, w0, depth, &a0, &a1);
        y[0] = ek_out(r, c0, a0, fast);
        y[1] = ek_out(r, c1, a1, fast);
    }
}

/* output[p][c] for pixel rows [pixels][depth] and weights [out_c][depth]. */
static EK_INLINE void ek_gemm_all(const ek_requant *r, const int8_t *input, int32_t pixels,
                               int32_t depth, const int8_t *filter, const int32_t *bias,
                               int32_t out_c, int8_t *output, int fast)
{
    int32_t oc, p;
    for (oc = 0; oc + 2 <= out_c; oc += 2) {
        ek_gemm_pair(r, input, pixels, depth, filter + oc * depth, bias, out_c, oc, output, fast);
    }
    if (out_c & 1) { /* an odd last channel */
        const ek_channel c = ek_channel_of(r, oc, fast);
        for (p = 0; p < pixels; ++p) {
            const int32_t acc = ek_dot(input + p * depth, filter + oc * depth, depth, bias[oc]);
            output[p * out_c + oc] = ek_out(r, c, acc, fast);
        }
    }
}

static void ek_gemm(const ek_requant *r, const int8_t *input, int32_t pixels, int32_t depth,
                    const int8_t *filter, const int32_t *bias, int32_t out_c, int8_t *output)
{
    const ek_requant q = *r;
    if (ek_fast_path(q.shift, out_c, q.lo, q.hi)) {
        ek_gemm_all(&q, input, pixels, depth, filter, bias, out_c, output, 1);
    } else {
        ek_gemm_all(&q, input, pixels, depth, filter, bias, out_c, output, 0);
    }
}

static ek_requant ek_requant_of(const ek_conv_params *params, const ek_channel_quant *quant)
{
    ek_requant r;
    r.multiplier = quant->multiplier;
    r.shift = quant->shift;
    r.offset = params->output_offset;
    r.lo = params->act_min;
    r.hi = params->act_max;
    return r;
}

void ek_conv2d_1x1_s8_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                          const int8_t *input, const int8_t *filter, const int32_t *bias,
                          int8_t *output)
{
    const ek_requant r = ek_requant_of(params, quant);
    ek_gemm(&r, input, params->output_h * params->output_w, params->input_c, filter, bias,
            params->output_c, output);
}

void ek_conv2d_im2col_s8_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                             const int8_t *input, const int8_t *filter, const int32_t *bias,
                             int8_t *output, int8_t *scratch)
{
    const ek_requant r = ek_requant_of(params, quant);
    const int32_t depth = params->filter_h * params->filter_w * params->input_c;
    const int8_t zero = (int8_t)-params->input_offset;
    const int32_t out_w = params->output_w, row = out_w * params->output_c;
    int32_t oy, ox;
    for (oy = 0; oy < params->output_h; ++oy) {
        for (ox = 0; ox < out_w; ++ox) {
            ek_im2col(params, input, oy, ox, zero, scratch + ox * depth);
        }
        ek_gemm(&r, scratch, out_w, depth, filter, bias, params->output_c, output + oy * row);
    }
}

void ek_conv2d_im2col_dilated_s8_dsp(const ek_dilated_conv_params *params,
                                     const ek_channel_quant *quant, const int8_t *input,
                                     const int8_t *filter, const int32_t *bias, int8_t *output,
                                     int8_t *scratch)
{
    const ek_conv_params *conv = &params->conv;
    const ek_requant r = ek_requant_of(conv, quant);
    const int32_t depth = conv->filter_h * conv->filter_w * conv->input_c;
    const int8_t zero = (int8_t)-conv->input_offset;
    const int32_t out_w = conv->output_w, row = out_w * conv->output_c;
    int32_t oy, ox;
    for (oy = 0; oy < conv->output_h; ++oy) {
        for (ox = 0; ox < out_w; ++ox) {
            ek_im2col_dilated(conv, params->dilation_h, params->dilation_w, input, oy, ox, zero,
                              scratch + ox * depth);
        }
        ek_gemm(&r, scratch, out_w, depth, filter, bias, conv->output_c, output + oy * row);
    }
}
