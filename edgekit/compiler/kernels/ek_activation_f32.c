/* The element-wise float32 ops (RELU, RELU6, RELU_N1_TO_1 as clamps, LOGISTIC, TANH, HARD_SWISH,
 * LEAKY_RELU) and SOFTMAX, as TFLite's reference float kernels compute them. exp and tanh are
 * edgekit's own (below), so that the generated C needs no libm: within a few float32 units in
 * the last place of the C library's, which the float comparison's tolerance covers. */
#include <math.h>

#include "ek_kernels.h"

/* 2^n as a float32, for n in [-126, 127]. */
static float ek_pow2_f32(int32_t n)
{
    union {
        uint32_t bits;
        float value;
    } u;
    u.bits = (uint32_t)(n + 127) << 23;
    return u.value;
}

/* exp(x) = 2^k exp(r), r = x - k ln 2 in [-ln 2 / 2, ln 2 / 2] (ln 2 in two parts, so that
 * k times the first is exact), exp(r) by its Taylor series to r^7 (truncation below 1e-8). */
static float ek_exp_f32(float x)
{
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682e-06f;
    float k, r, e;
    int32_t n;
    if (x > 88.7228394f)
        return INFINITY;
    if (x < -103.972084f)
        return 0.0f;
    n = (int32_t)(x * 1.44269504f + (x < 0.0f ? -0.5f : 0.5f));
    k = (float)n;
    r = (x - k * ln2_hi) - k * ln2_lo;
    e = 1.0f + r * (1.0f + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
        r * (1.0f / 720 + r * (1.0f / 5040)))))));
    if (n < -126) /* the result is subnormal: scale in two steps */
        return e * ek_pow2_f32(n + 64) * ek_pow2_f32(-64);
    if (n > 127)
        return e * ek_pow2_f32(n - 1) * 2.0f;
    return e * ek_pow2_f32(n);
}

/* exp(u) - 1 for u in [0, ln 2], by its Taylor series to u^9 (no cancellation near 0). */
static float ek_expm1_small_f32(float u)
{
    return u * (1.0f + u * (1.0f / 2 + u * (1.0f / 6 + u * (1.0f / 24 + u * (1.0f / 120 +
           u * (1.0f / 720 + u * (1.0f / 5040 + u * (1.0f / 40320 + u * (1.0f / 362880)))))))));
}

static float ek_tanh_value(float x)
{
    const float a = x < 0.0f ? -x : x;
    float t;
    if (a > 9.1f) {
        t = 1.0f;
    } else if (a < 0.3465736f) {
        const float e = ek_expm1_small_f32(2.0f * a);
        t = e / (e + 2.0f);
    } else {
        t = 1.0f - 2.0f / (ek_exp_f32(2.0f * a) + 1.0f);
    }
    return x < 0.0f ? -t : t;
}

void ek_clamp_f32_ref(const ek_unary_f32_params *params, const float *input, float *output)
{
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        const float x = input[i] < params->act.min ? params->act.min : input[i];
        output[i] = x > params->act.max ? params->act.max : x;
    }
}

void ek_logistic_f32_ref(const ek_unary_f32_params *params, const float *input, float *output)
{
    const float cutoff_upper = 16.619047164916992188f, cutoff_lower = -9.0f;
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        const float x = input[i];
        if (x > cutoff_upper)
            output[i] = 1.0f;
        else if (x < cutoff_lower)
            output[i] = ek_exp_f32(x);
        else
            output[i] = 1.0f / (1.0f + ek_exp_f32(-x));
    }
}

void ek_tanh_f32_ref(const ek_unary_f32_params *params, const float *input, float *output)
{
    int32_t i;
    for (i = 0; i < params->size; ++i)
        output[i] = ek_tanh_value(input[i]);
}

void ek_hard_swish_f32_ref(const ek_unary_f32_params *params, const float *input, float *output)
{
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        const float x = input[i];
        const float relu6 = x + 3.0f < 0.0f ? 0.0f : (x + 3.0f > 6.0f ? 6.0f : x + 3.0f);
        output[i] = x * relu6 / 6.0f;
    }
}

void ek_leaky_relu_f32_ref(const ek_unary_f32_params *params, const float *input, float *output)
{
    int32_t i;
    for (i = 0; i < params->size; ++i)
        output[i] = input[i] > 0.0f ? input[i] : input[i] * params->alpha;
}

void ek_softmax_f32_ref(const ek_softmax_f32_params *params, const float *input, float *output)
{
    int32_t r, c;
    for (r = 0; r < params->rows; ++r) {
        const float *in = input + r * params->depth;
        float *out = output + r * params->depth;
        float max = -3.40282347e+38f, sum = 0.0f, reciprocal;
        for (c = 0; c < params->depth; ++c)
            max = in[c] > max ? in[c] : max;
        for (c = 0; c < params->depth; ++c) {
            out[c] = ek_exp_f32((in[c] - max) * params->beta);
            sum += out[c];
        }
        reciprocal = 1.0f / sum;
        for (c = 0; c < params->depth; ++c)
            out[c] *= reciprocal;
    }
}
