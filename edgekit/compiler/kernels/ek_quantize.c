/* QUANTIZE float32 -> int8 and DEQUANTIZE int8 -> float32, the converter's ops at a model's
 * float inputs and outputs, as TFLite's reference kernels compute them (the only kernels here
 * with floating point).
 *
 * DEQUANTIZE is a table of the 256 results, computed on the host as reference_ops::Dequantize
 * does (in double, rounded to float): exact by construction. QUANTIZE is
 * reference_ops::AffineQuantize: the float32 quotient of the value and the scale, rounded half
 * away from zero, plus the zero point, clamped to int8. Where that quotient does not fit in
 * int32 (or is NaN) TFLite's cast is undefined; on the x86 hosts LiteRT's reference runs on it
 * gives INT32_MIN, and so does this kernel, whose sum with the zero point then clamps to -128
 * (or wraps past INT32_MAX to 127 for a negative zero point, as there). */
#include "ek_kernels.h"

void ek_dequantize_s8_ref(const ek_dequantize_params *params, const int8_t *input, float *output)
{
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        output[i] = params->table[(int32_t)input[i] + 128];
    }
}

/* (int32_t)roundf(q) where it is defined, INT32_MIN elsewhere (x86's cvttss2si). */
static int32_t ek_round_to_int32(float q)
{
    int32_t whole;
    float rest;

    if (!(q > -2147483648.0f && q < 2147483648.0f)) { /* NaN too */
        return INT32_MIN;
    }
    whole = (int32_t)q; /* toward zero */
    rest = q - (float)whole; /* exact: the fractional part of a float */
    if (rest >= 0.5f) {
        return whole + 1; /* whole < 2^31 - 1 here: q >= 2^23 has no fractional part */
    }
    if (rest <= -0.5f) {
        return whole - 1;
    }
    return whole;
}

void ek_quantize_float_s8_ref(const ek_quantize_params *params, const float *input,
                              int8_t *output)
{
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        const int32_t q = ek_round_to_int32(input[i] / params->scale);
        /* the sum wraps in 32 bits, as TFLite's does */
        const int32_t y = (int32_t)((uint32_t)q + (uint32_t)params->zero_point);
        output[i] = (int8_t)ek_clamp(y, INT8_MIN, INT8_MAX);
    }
}
