/* MEAN over height and width, int8, for cores with the DSP extension: each channel's sum with
 * the input offset added once (count * input_offset), then the requantization of ek_dsp.h (the
 * one-step form when the shift allows it). Same bytes as ek_mean_hw_s8_ref. */
#include "ek_dsp.h"

static EK_INLINE void ek_mean_run(const ek_mean_params *params, const int8_t *input,
                                  int8_t *output, int fast)
{
    const int32_t channels = params->channels, count = params->input_h * params->input_w;
    const ek_channel ch =
        ek_channel_at(&params->multiplier, &params->shift, 0, params->output_offset, fast);
    const int32_t offset_sum = count * params->input_offset;
    int32_t c, i;
    for (c = 0; c < channels; ++c) {
        const int8_t *p = input + c;
        int32_t acc = offset_sum;
        for (i = 0; i < count; ++i, p += channels) {
            acc += *p;
        }
        output[c] = ek_requantize_to(ch, acc, INT8_MIN, INT8_MAX, fast);
    }
}

void ek_mean_hw_s8_dsp(const ek_mean_params *params, const int8_t *input, int8_t *output)
{
    if (ek_fast_path(&params->shift, 1, INT8_MIN, INT8_MAX)) {
        ek_mean_run(params, input, output, 1);
    } else {
        ek_mean_run(params, input, output, 0);
    }
}
