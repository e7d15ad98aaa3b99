/* The data-movement ops on float32 elements: TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V,
 * PACK and UNPACK as strided copies, CONCATENATION's row copies and PAD, with the geometry the
 * host computes for the int8 kernels (edgekit/compiler/emitters.py). */
#include "ek_kernels.h"

void ek_strided_copy_f32_ref(const ek_strided_copy_params *params, const float *input,
                             float *output)
{
    const int32_t *n = params->dims, *si = params->input_strides, *so = params->output_strides;
    int32_t i[EK_COPY_RANK] = {0, 0, 0, 0, 0, 0};
    int32_t d;
    for (d = 0; d < EK_COPY_RANK; ++d)
        if (n[d] == 0)
            return;
    for (;;) {
        int32_t a = params->input_start, b = params->output_start;
        for (d = 0; d < EK_COPY_RANK; ++d) {
            a += i[d] * si[d];
            b += i[d] * so[d];
        }
        output[b] = input[a];
        for (d = EK_COPY_RANK - 1; d >= 0; --d) {
            if (++i[d] < n[d])
                break;
            i[d] = 0;
        }
        if (d < 0)
            return;
    }
}

void ek_concatenation_f32_ref(const ek_concatenation_params *params, const float *input,
                              float *output)
{
    int32_t r, k;
    for (r = 0; r < params->outer; ++r) {
        const float *src = input + r * params->input_row;
        float *dst = output + r * params->output_row + params->output_start;
        for (k = 0; k < params->input_row; ++k)
            dst[k] = src[k];
    }
}

void ek_pad_f32_ref(const ek_pad_f32_params *params, const float *input, float *output)
{
    const int32_t *n = params->input_dims, *lo = params->before, *hi = params->after;
    int32_t out[4], i0, i1, i2, i3, at = 0;
    for (i0 = 0; i0 < 4; ++i0)
        out[i0] = lo[i0] + n[i0] + hi[i0];
    for (i0 = 0; i0 < out[0]; ++i0)
        for (i1 = 0; i1 < out[1]; ++i1)
            for (i2 = 0; i2 < out[2]; ++i2)
                for (i3 = 0; i3 < out[3]; ++i3) {
                    const int32_t y0 = i0 - lo[0], y1 = i1 - lo[1], y2 = i2 - lo[2],
                                  y3 = i3 - lo[3];
                    const int inside = y0 >= 0 && y0 < n[0] && y1 >= 0 && y1 < n[1] &&
                                       y2 >= 0 && y2 < n[2] && y3 >= 0 && y3 < n[3];
                    output[at++] = inside ? input[((y0 * n[1] + y1) * n[2] + y2) * n[3] + y3]
                                          : params->pad_value;
                }
}
