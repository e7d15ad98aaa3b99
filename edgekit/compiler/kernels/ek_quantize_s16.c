/* QUANTIZE between int8, int16 and int32, QUANTIZE float32 -> int16 and DEQUANTIZE int16 ->
 * float32 (16x8), as TFLite's reference kernels compute them.
 *
 * Requantize (reference_ops::Requantize): the input less its zero point, times the Q31
 * multiplier of input_scale / output_scale (computed in double, as Prepare does), plus the
 * output zero point, clamped to the output type. AffineQuantize to int16: the float32 quotient
 * of the value and the scale, rounded half away from zero (INT32_MIN where it does not fit, as
 * LiteRT's x86 cast gives), plus the zero point (wrapping), clamped to int16. Dequantize: the
 * double product of the float32 scale and the integer is exact (24 by 17 bits), so its one
 * rounding to float equals the float32 product's. */
#include "ek_kernels.h"

static EK_INLINE void ek_requantize_store(const ek_requantize_params *p, int32_t i, int32_t x,
                                          void *output)
{
    const int32_t y =
        ek_multiply_by_quantized_multiplier(x + p->input_offset, p->multiplier, p->shift) +
        p->output_offset;
    if (p->output_bytes == 1) {
        ((int8_t *)output)[i] = (int8_t)ek_clamp(y, INT8_MIN, INT8_MAX);
    } else if (p->output_bytes == 2) {
        ((int16_t *)output)[i] = (int16_t)ek_clamp(y, INT16_MIN, INT16_MAX);
    } else {
        ((int32_t *)output)[i] = y;
    }
}

void ek_requantize_s16_ref(const ek_requantize_params *params, const int16_t *input,
                           void *output)
{
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        ek_requantize_store(params, i, input[i], output);
    }
}

void ek_requantize_s8_ref(const ek_requantize_params *params, const int8_t *input, void *output)
{
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        ek_requantize_store(params, i, input[i], output);
    }
}

/* (int32_t)roundf(q) where it is defined, INT32_MIN elsewhere (x86's cvttss2si), as in
 * ek_quantize.c. */
static int32_t ek_round_float(float q)
{
    int32_t whole;
    float rest;

    if (!(q > -2147483648.0f && q < 2147483648.0f)) { /* NaN too */
        return INT32_MIN;
    }
    whole = (int32_t)q;
    rest = q - (float)whole;
    if (rest >= 0.5f) {
        return whole + 1;
    }
    if (rest <= -0.5f) {
        return whole - 1;
    }
    return whole;
}

void ek_quantize_float16_s8_ref(const ek_quantize_params *params, const float *input,
                                int16_t *output)
{
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        const int32_t q = ek_round_float(input[i] / params->scale);
        const int32_t y = (int32_t)((uint32_t)q + (uint32_t)params->zero_point);
        output[i] = (int16_t)ek_clamp(y, INT16_MIN, INT16_MAX);
    }
}

void ek_dequantize_s16_ref(const ek_dequantize_s16_params *params, const int16_t *input,
                           float *output)
{
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        output[i] = (float)((int32_t)input[i] - params->zero_point) * params->scale;
    }
}
