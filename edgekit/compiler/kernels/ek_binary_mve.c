/* Squeeze-and-excite MUL and ADD, int8, for cores with Helium (MVE): one input of the output's
 * shape (pixels x channels), the other one value per channel (its strides 0 on every other
 * axis), in either order. Four channels at a time (the last partial group predicated): the
 * per-channel operand's part (its values plus offset for MUL, its rescaled term for ADD) is
 * loaded and computed once, then every pixel's four elements of those channels, widened to
 * int32 lanes, multiplied or rescaled and summed, requantized as ek_mve_requantize does and
 * stored narrowed. The integers are those of ek_binary.c's arithmetic, so the bytes are the
 * same. Each element is read before it is written: the output may alias the input of its
 * shape. */
#include "ek_mve.h"

/* Which input has one value per channel: the one with a stride of 0 on an outer axis (with a
 * single pixel, either; both read the same elements). */
static inline int ek_channels_first(const ek_binary_params *p)
{
    return p->strides1[0] == 0 || p->strides1[1] == 0 || p->strides1[2] == 0;
}

/* The same requantization constants in every lane. */
static ek_mve_quant ek_uniform_quant(int32_t multiplier, int32_t shift, int32_t offset,
                                     int32_t lo, int32_t hi)
{
    ek_mve_quant q = ek_mve_quant_at(&multiplier, &shift, 0, 1, offset, lo, hi);
    q.multiplier = vdupq_n_s32(multiplier);
    q.left = vdupq_n_s32(shift > 0 ? shift : 0);
    q.right = vdupq_n_s32(shift > 0 ? 0 : shift);
    return q;
}

/* The output's requantization mode as a constant: the usual case without a left shift, clamp
 * or zero shift; or the general form, right for every op. */
#define EK_CHANNELS_DISPATCH(run, mode, ...)                                                   \
    do {                                                                                       \
        if ((mode) == 0) {                                                                     \
            run(__VA_ARGS__, 0);                                                               \
        } else if ((mode) == EK_MVE_CLAMP) {                                                   \
            run(__VA_ARGS__, EK_MVE_CLAMP);                                                    \
        } else {                                                                               \
            run(__VA_ARGS__, EK_MVE_GENERAL);                                                  \
        }                                                                                      \
    } while (0)

static EK_INLINE void ek_mul_channels_run(const ek_binary_params *p, const int8_t *image,
                                          int32_t image_offset, const int8_t *vector,
                                          int32_t vector_offset, int8_t *output, int mode)
{
    const int32_t channels = p->dims[3], pixels = p->dims[0] * p->dims[1] * p->dims[2];
    const ek_mve_quant q = ek_uniform_quant(p->output_multiplier, p->output_shift,
                                            p->output_offset, p->act_min, p->act_max);
    int32_t c, i;
    for (c = 0; c < channels; c += 4) {
        const mve_pred16_t lanes = vctp32q((uint32_t)(channels - c));
        const int32x4_t v = vaddq_n_s32(vldrbq_z_s32(vector + c, lanes), vector_offset);
        const int8_t *x = image + c;
        int8_t *y = output + c;
        for (i = pixels; i > 0; --i, x += channels, y += channels) {
            const int32x4_t a = vaddq_n_s32(vldrbq_z_s32(x, lanes), image_offset);
            vstrbq_p_s32(y, ek_mve_requantize_as(vmulq_s32(a, v), &q, mode), lanes);
        }
    }
}

void ek_mul_channels_s8_mve(const ek_binary_params *params, const int8_t *input1,
                            const int8_t *input2, int8_t *output)
{
    const int first = ek_channels_first(params);
    const int8_t *image = first ? input2 : input1, *vector = first ? input1 : input2;
    const int32_t image_offset = first ? params->input2_offset : params->input1_offset;
    const int32_t vector_offset = first ? params->input1_offset : params->input2_offset;
    const int mode =
        ek_mve_mode(&params->output_shift, 1, params->act_min, params->act_max);
    EK_CHANNELS_DISPATCH(ek_mul_channels_run, mode, params, image, image_offset, vector,
                         vector_offset, output);
}

/* ek_multiply_by_quantized_multiplier of four lanes, without offset or clamp
 * (ek_mve_requantize_as's steps: a left shift, VQRDMULH, the rounding right shift with ties
 * away from zero). */
static EK_INLINE int32x4_t ek_term(int32x4_t acc, const ek_mve_quant *q)
{
    const int32x4_t t = vqrdmulhq_s32(vshlq_s32(acc, q->left), q->multiplier);
    return vrshlq_s32(vaddq_s32(t, vshrq_n_s32(vandq_s32(t, q->right), 31)), q->right);
}

static EK_INLINE void ek_add_channels_run(const ek_binary_params *p, const int8_t *image,
                                          const ek_mve_quant *qi, int32_t image_offset,
                                          const int8_t *vector, const ek_mve_quant *qv,
                                          int32_t vector_offset, int8_t *output, int mode)
{
    const int32_t channels = p->dims[3], pixels = p->dims[0] * p->dims[1] * p->dims[2];
    const int32_t shift = p->left_shift;
    const ek_mve_quant q = ek_uniform_quant(p->output_multiplier, p->output_shift,
                                            p->output_offset, p->act_min, p->act_max);
    int32_t c, i;
    for (c = 0; c < channels; c += 4) {
        const mve_pred16_t lanes = vctp32q((uint32_t)(channels - c));
        const int32x4_t b = vaddq_n_s32(vldrbq_z_s32(vector + c, lanes), vector_offset);
        const int32x4_t vector_term = ek_term(vshlq_r_s32(b, shift), qv);
        const int8_t *x = image + c;
        int8_t *y = output + c;
        for (i = pixels; i > 0; --i, x += channels, y += channels) {
            const int32x4_t a = vaddq_n_s32(vldrbq_z_s32(x, lanes), image_offset);
            const int32x4_t sum = vaddq_s32(ek_term(vshlq_r_s32(a, shift), qi), vector_term);
            vstrbq_p_s32(y, ek_mve_requantize_as(sum, &q, mode), lanes);
        }
    }
}

void ek_add_channels_s8_mve(const ek_binary_params *params, const int8_t *input1,
                            const int8_t *input2, int8_t *output)
{
    const int first = ek_channels_first(params);
    const ek_mve_quant q1 = ek_uniform_quant(params->input1_multiplier, params->input1_shift,
                                             0, INT8_MIN, INT8_MAX);
    const ek_mve_quant q2 = ek_uniform_quant(params->input2_multiplier, params->input2_shift,
                                             0, INT8_MIN, INT8_MAX);
    const int mode =
        ek_mve_mode(&params->output_shift, 1, params->act_min, params->act_max);
    if (first) {
        EK_CHANNELS_DISPATCH(ek_add_channels_run, mode, params, input2, &q2,
                             params->input2_offset, input1, &q1, params->input1_offset, output);
    } else {
        EK_CHANNELS_DISPATCH(ek_add_channels_run, mode, params, input1, &q1,
                             params->input1_offset, input2, &q2, params->input2_offset, output);
    }
}
