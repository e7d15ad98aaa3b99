/* ADD, int8, same-shape inputs, for cores with the DSP extension: TFLite's arithmetic (both
 * inputs scaled up by 2^left_shift, rescaled to a common scale, summed, rescaled to the output),
 * with the three requantizations in the cheapest exact form of ek_dsp.h their shifts allow.
 * Element i is read before it is written: the output may alias either input. */
#include "ek_dsp.h"

static EK_INLINE void ek_add_run(const ek_add_params *params, const int8_t *input1,
                                 const int8_t *input2, int8_t *output, int fast1, int fast2,
                                 int fast)
{
    const int32_t off1 = params->input1_offset, off2 = params->input2_offset;
    const ek_channel c1 =
        ek_channel_at(&params->input1_multiplier, &params->input1_shift, 0, 0, fast1);
    const ek_channel c2 =
        ek_channel_at(&params->input2_multiplier, &params->input2_shift, 0, 0, fast2);
    const ek_channel co = ek_channel_at(&params->output_multiplier, &params->output_shift, 0,
                                        params->output_offset, fast);
    const int32_t shift = params->left_shift;
    const int32_t lo = params->act_min, hi = params->act_max, n = params->size;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t a = (int32_t)((uint32_t)((int32_t)input1[i] + off1) << shift);
        const int32_t b = (int32_t)((uint32_t)((int32_t)input2[i] + off2) << shift);
        const int32_t sum = ek_requantize_raw(c1, a, fast1) + ek_requantize_raw(c2, b, fast2);
        output[i] = ek_requantize_to(co, sum, lo, hi, fast);
    }
}

/* How an input's requantization can run: in one step (1), as a bare doubling high multiply
 * (EK_SHIFT_ZERO), or in general (0). */
static int ek_add_input_mode(int32_t shift)
{
    return shift == 0 ? EK_SHIFT_ZERO : ek_fast_path(&shift, 1, INT8_MIN, INT8_MAX);
}

void ek_add_s8_dsp(const ek_add_params *params, const int8_t *input1, const int8_t *input2,
                   int8_t *output)
{
    const int f1 = ek_add_input_mode(params->input1_shift);
    const int f2 = ek_add_input_mode(params->input2_shift);
    if (!ek_fast_path(&params->output_shift, 1, params->act_min, params->act_max)) {
        ek_add_run(params, input1, input2, output, 0, 0, 0);
    } else if (f1 == 1 && f2 == EK_SHIFT_ZERO) {
        ek_add_run(params, input1, input2, output, 1, EK_SHIFT_ZERO, 1);
    } else if (f1 == EK_SHIFT_ZERO && f2 == 1) {
        ek_add_run(params, input1, input2, output, EK_SHIFT_ZERO, 1, 1);
    } else {
        ek_add_run(params, input1, input2, output, 0, 0, 1);
    }
}
