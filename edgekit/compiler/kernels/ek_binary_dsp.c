/* Squeeze-and-excite MUL and ADD, int8, for cores with the DSP extension: one input of the
 * output's shape (pixels x channels), the other one value per channel (its strides 0 on every
 * other axis), in either order. Channel by channel: the per-channel operand's part (its value
 * plus its offset for MUL, its whole rescaled term for ADD) is computed once, then every pixel's
 * element of that channel; the requantizations are ek_dsp.h's exact forms, in one step where
 * the shifts allow (ek_add_dsp.c explains the modes). The integers are those of ek_binary.c's
 * arithmetic, so the bytes are the same. Each element is read before it is written: the output
 * may alias the input of its shape. */
#include "ek_dsp.h"

/* Which input has one value per channel: the one with a stride of 0 on an outer axis (with a
 * single pixel, either; both read the same elements). */
static inline int ek_channels_first(const ek_binary_params *p)
{
    return p->strides1[0] == 0 || p->strides1[1] == 0 || p->strides1[2] == 0;
}

static inline int32_t ek_pixels(const ek_binary_params *p)
{
    return p->dims[0] * p->dims[1] * p->dims[2];
}

static EK_INLINE void ek_mul_channels_run(const ek_binary_params *p, const int8_t *image,
                                          int32_t image_offset, const int8_t *vector,
                                          int32_t vector_offset, int8_t *output, int fast)
{
    const int32_t channels = p->dims[3], pixels = ek_pixels(p);
    const ek_channel ch =
        ek_channel_at(&p->output_multiplier, &p->output_shift, 0, p->output_offset, fast);
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t c, i;
    for (c = 0; c < channels; ++c) {
        const int32_t v = (int32_t)vector[c] + vector_offset;
        const int8_t *x = image + c;
        int8_t *y = output + c;
        for (i = pixels; i > 0; --i, x += channels, y += channels) {
            *y = ek_requantize_to(ch, ((int32_t)*x + image_offset) * v, lo, hi, fast);
        }
    }
}

void ek_mul_channels_s8_dsp(const ek_binary_params *params, const int8_t *input1,
                            const int8_t *input2, int8_t *output)
{
    const int first = ek_channels_first(params);
    const int8_t *image = first ? input2 : input1, *vector = first ? input1 : input2;
    const int32_t image_offset = first ? params->input2_offset : params->input1_offset;
    const int32_t vector_offset = first ? params->input1_offset : params->input2_offset;
    if (ek_fast_path(&params->output_shift, 1, params->act_min, params->act_max)) {
        ek_mul_channels_run(params, image, image_offset, vector, vector_offset, output, 1);
    } else {
        ek_mul_channels_run(params, image, image_offset, vector, vector_offset, output, 0);
    }
}

/* How an input term's requantization can run, as in ek_add_dsp.c. */
static int ek_term_mode(int32_t shift)
{
    return shift == 0 ? EK_SHIFT_ZERO : ek_fast_path(&shift, 1, INT8_MIN, INT8_MAX);
}

/* One input of ADD: its values, offset, multiplier and shift. */
typedef struct {
    const int8_t *values;
    int32_t offset;
    const int32_t *multiplier, *shift;
} ek_add_input;

static EK_INLINE void ek_add_channels_run(const ek_binary_params *p, ek_add_input image,
                                          ek_add_input vector, int8_t *output, int term,
                                          int fast)
{
    const int32_t channels = p->dims[3], pixels = ek_pixels(p), shift = p->left_shift;
    const ek_channel ci = ek_channel_at(image.multiplier, image.shift, 0, 0, term);
    const ek_channel cv = ek_channel_at(vector.multiplier, vector.shift, 0, 0, 0);
    const ek_channel co =
        ek_channel_at(&p->output_multiplier, &p->output_shift, 0, p->output_offset, fast);
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t c, i;
    for (c = 0; c < channels; ++c) {
        const int32_t b = (int32_t)((uint32_t)((int32_t)vector.values[c] + vector.offset) << shift);
        const int32_t vector_term = ek_requantize_raw(cv, b, 0);
        const int8_t *x = image.values + c;
        int8_t *y = output + c;
        for (i = pixels; i > 0; --i, x += channels, y += channels) {
            const int32_t a = (int32_t)((uint32_t)((int32_t)*x + image.offset) << shift);
            *y = ek_requantize_to(co, ek_requantize_raw(ci, a, term) + vector_term, lo, hi, fast);
        }
    }
}

void ek_add_channels_s8_dsp(const ek_binary_params *params, const int8_t *input1,
                            const int8_t *input2, int8_t *output)
{
    const ek_add_input in1 = {input1, params->input1_offset, &params->input1_multiplier,
                              &params->input1_shift};
    const ek_add_input in2 = {input2, params->input2_offset, &params->input2_multiplier,
                              &params->input2_shift};
    const int first = ek_channels_first(params);
    const ek_add_input image = first ? in2 : in1, vector = first ? in1 : in2;
    const int term = ek_term_mode(*image.shift);
    const int fast = ek_fast_path(&params->output_shift, 1, params->act_min, params->act_max);
    if (term == EK_SHIFT_ZERO && fast) {
        ek_add_channels_run(params, image, vector, output, EK_SHIFT_ZERO, 1);
    } else if (term == 1 && fast) {
        ek_add_channels_run(params, image, vector, output, 1, 1);
    } else {
        ek_add_channels_run(params, image, vector, output, 0, 0);
    }
}
