/* TRANSPOSE_CONV, 16x8: TFLite's reference_integer_ops::TransposeConv for int16 input (zero
 * point 0) and int8 weights per channel: every input pixel scatters its products into
 * accumulators (scratch) of the bias's type, then each accumulator plus its bias is requantized
 * and clamped to int16. With an int64 bias (or none) the accumulators are int64 and the
 * requantization the 64-bit MultiplyByQuantizedMultiplier; with an int32 bias (the _b32
 * kernel) they are int32, wrapping, and the requantization the 32-bit one. */
#include <string.h>

#include "ek_kernels.h"

/* The arena aligns the scratch to 4 bytes only: int64 accumulators go through memcpy. */
static int64_t ek_load_s64(const unsigned char *at)
{
    int64_t v;
    memcpy(&v, at, sizeof v);
    return v;
}

static void ek_store_s64(unsigned char *at, int64_t v)
{
    memcpy(at, &v, sizeof v);
}

/* Accumulator i (8 bytes each, or 4 where narrow) plus value. */
static EK_INLINE void ek_accumulate(unsigned char *acc, int32_t i, int32_t value, int narrow)
{
    if (narrow) { /* int32, wrapping as TFLite's does */
        uint32_t *at = (uint32_t *)(void *)acc + i;
        *at += (uint32_t)value;
    } else {
        unsigned char *at = acc + (size_t)i * 8u;
        ek_store_s64(at, ek_load_s64(at) + value);
    }
}

static EK_INLINE void ek_transpose_conv_s16_run(const ek_transpose_conv_params *params,
                                                const ek_channel_quant *quant,
                                                const int16_t *input, const int8_t *filter,
                                                const int64_t *bias, const int32_t *bias32,
                                                int16_t *output, void *scratch, int narrow)
{
    unsigned char *acc = (unsigned char *)scratch;
    const int32_t in_c = params->input_c, out_c = params->output_c;
    const int32_t out_h = params->output_h, out_w = params->output_w;
    const int32_t filter_h = params->filter_h, filter_w = params->filter_w;
    const int32_t size = out_h * out_w * out_c;
    int32_t i, iy, ix, ic, ky, kx, oc;

    memset(acc, 0, (size_t)size * (narrow ? 4u : 8u));
    for (iy = 0; iy < params->input_h; ++iy) {
        const int32_t oy0 = iy * params->stride_h - params->pad_top;
        for (ix = 0; ix < params->input_w; ++ix) {
            const int32_t ox0 = ix * params->stride_w - params->pad_left;
            const int16_t *pixel = input + (iy * params->input_w + ix) * in_c;
            for (ic = 0; ic < in_c; ++ic) {
                const int32_t value = pixel[ic];
                for (ky = 0; ky < filter_h; ++ky) {
                    const int32_t oy = oy0 + ky;
                    if (oy < 0 || oy >= out_h) {
                        continue; /* outside the output: TFLite drops it */
                    }
                    for (kx = 0; kx < filter_w; ++kx) {
                        const int32_t ox = ox0 + kx;
                        const int8_t *w;
                        if (ox < 0 || ox >= out_w) {
                            continue;
                        }
                        w = filter + (ky * filter_w + kx) * in_c + ic;
                        for (oc = 0; oc < out_c; ++oc) {
                            ek_accumulate(acc, (oy * out_w + ox) * out_c + oc,
                                          value * w[oc * filter_h * filter_w * in_c], narrow);
                        }
                    }
                }
            }
        }
    }
    for (i = 0; i < size; ++i) {
        const int32_t c = i % out_c;
        int32_t v;
        if (narrow) {
            const uint32_t sum = ((const uint32_t *)(const void *)acc)[i] +
                                 (bias32 != 0 ? (uint32_t)bias32[c] : 0u);
            v = ek_multiply_by_quantized_multiplier((int32_t)sum, quant->multiplier[c],
                                                    quant->shift[c]);
        } else {
            const int64_t sum = ek_load_s64(acc + (size_t)i * 8u) + (bias != 0 ? bias[c] : 0);
            v = ek_multiply_by_quantized_multiplier_s64(sum, quant->multiplier[c],
                                                        quant->shift[c]);
        }
        output[i] = (int16_t)ek_clamp(v, -32768, 32767);
    }
}

void ek_transpose_conv_s16_ref(const ek_transpose_conv_params *params,
                               const ek_channel_quant *quant, const int16_t *input,
                               const int8_t *filter, const int64_t *bias, int16_t *output,
                               void *scratch)
{
    ek_transpose_conv_s16_run(params, quant, input, filter, bias, 0, output, scratch, 0);
}

void ek_transpose_conv_b32_s16_ref(const ek_transpose_conv_params *params,
                                   const ek_channel_quant *quant, const int16_t *input,
                                   const int8_t *filter, const int32_t *bias, int16_t *output,
                                   void *scratch)
{
    ek_transpose_conv_s16_run(params, quant, input, filter, 0, bias, output, scratch, 1);
}
