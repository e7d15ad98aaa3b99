/* RESIZE_NEAREST_NEIGHBOR, int8: TFLite's reference_ops::ResizeNearestNeighbor, with the
 * nearest input row and column of each output one precomputed on the host. */
#include "ek_kernels.h"

void ek_resize_nearest_neighbor_s8_ref(const ek_resize_nearest_params *params,
                                       const int8_t *input, int8_t *output)
{
    const int32_t channels = params->channels;
    int32_t y, x, c;

    for (y = 0; y < params->output_h; ++y) {
        const int8_t *row = input + params->rows[y] * params->input_w * channels;
        for (x = 0; x < params->output_w; ++x) {
            const int8_t *pixel = row + params->cols[x] * channels;
            for (c = 0; c < channels; ++c) {
                *output++ = pixel[c];
            }
        }
    }
}
