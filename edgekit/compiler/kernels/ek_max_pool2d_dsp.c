/* MAX_POOL_2D, int8, for cores with the DSP extension: four channels per word, the running
 * maximum of each byte lane kept with SSUB8 (which sets each lane's GE flag where the new
 * value minus the maximum is >= 0, computed without overflow) and SEL (which takes those lanes
 * from the new value); 16 channels per pass over the window, then four, then the channels
 * left one by one. A maximum is exact whatever order it is taken in, so the bytes are those of
 * ek_max_pool2d_s8_ref; the fused clamp is a maximum and a minimum the same way. */
#include "ek_dsp.h"

/* Per byte lane: the larger of a and b, and the smaller. */
static EK_INLINE uint32_t ek_max4(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return __sel(a, b);
}

static EK_INLINE uint32_t ek_min4(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return __sel(b, a);
}

static inline uint32_t ek_splat4(int32_t v)
{
    return 0x01010101u * (uint32_t)(uint8_t)(int8_t)v;
}

static inline void ek_store4(int8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static EK_INLINE void ek_max_pool_run(const ek_max_pool_params *params, const int8_t *input,
                                      int8_t *output, int clamp)
{
    const int32_t in_w = params->input_w, channels = params->channels;
    const uint32_t lo = ek_splat4(params->act_min), hi = ek_splat4(params->act_max);
    const int32_t row = in_w * channels;
    int32_t oy, ox, c, y, x;

    for (oy = 0; oy < params->output_h; ++oy) {
        for (ox = 0; ox < params->output_w; ++ox) {
            const ek_pool_window w = ek_pool_window_at(params, oy, ox);
            const int8_t *corner =
                input + ((w.in_y0 + w.y_start) * in_w + (w.in_x0 + w.x_start)) * channels;
            const int32_t rows = w.y_end - w.y_start, cols = w.x_end - w.x_start;
            int8_t *out = output + (oy * params->output_w + ox) * channels;
            for (c = 0; c + 16 <= channels; c += 16) {
                uint32_t m0 = 0x80808080u, m1 = 0x80808080u, m2 = 0x80808080u;
                uint32_t m3 = 0x80808080u;
                for (y = 0; y < rows; ++y) {
                    const int8_t *p = corner + y * row + c;
                    for (x = 0; x < cols; ++x, p += channels) {
                        m0 = ek_max4(ek_load4(p), m0);
                        m1 = ek_max4(ek_load4(p + 4), m1);
                        m2 = ek_max4(ek_load4(p + 8), m2);
                        m3 = ek_max4(ek_load4(p + 12), m3);
                    }
                }
                if (clamp) {
                    m0 = ek_min4(ek_max4(m0, lo), hi);
                    m1 = ek_min4(ek_max4(m1, lo), hi);
                    m2 = ek_min4(ek_max4(m2, lo), hi);
                    m3 = ek_min4(ek_max4(m3, lo), hi);
                }
                ek_store4(out + c, m0);
                ek_store4(out + c + 4, m1);
                ek_store4(out + c + 8, m2);
                ek_store4(out + c + 12, m3);
            }
            for (; c + 4 <= channels; c += 4) {
                uint32_t m = 0x80808080u;
                for (y = 0; y < rows; ++y) {
                    const int8_t *p = corner + y * row + c;
                    for (x = 0; x < cols; ++x, p += channels) {
                        m = ek_max4(ek_load4(p), m);
                    }
                }
                if (clamp) {
                    m = ek_min4(ek_max4(m, lo), hi);
                }
                ek_store4(out + c, m);
            }
            for (; c < channels; ++c) {
                int32_t m = -128;
                for (y = 0; y < rows; ++y) {
                    const int8_t *p = corner + y * row + c;
                    for (x = 0; x < cols; ++x, p += channels) {
                        m = *p > m ? *p : m;
                    }
                }
                out[c] = (int8_t)ek_clamp(m, params->act_min, params->act_max);
            }
        }
    }
}

void ek_max_pool2d_s8_dsp(const ek_max_pool_params *params, const int8_t *input, int8_t *output)
{
    if (params->act_min == INT8_MIN && params->act_max == INT8_MAX) {
        ek_max_pool_run(params, input, output, 0);
    } else {
        ek_max_pool_run(params, input, output, 1);
    }
}
