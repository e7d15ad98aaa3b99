/* AVERAGE_POOL_2D, int8, for cores with Helium (MVE): 16 channels per pass over the window,
 * loaded widened to two int16 vectors (VLDRB.S16) and summed; a window of at most 256 values
 * keeps each sum in int16 (256 * -128 = -32768), so the sums are exact. The reference's division
 * (to nearest, ties away from zero) is sign(s) * floor((|s| + count / 2) / count), and for
 * n = |s| + count / 2 < 2^16 and 2 <= count <= 256, floor(n / count) is the high word of n * m
 * with m = ceil(2^32 / count): n * m / 2^32 exceeds n / count by less than n * count / (count *
 * 2^32) < 1 / count, which cannot reach the next integer. So the bytes are those of
 * ek_avg_pool2d_s8_ref; a larger window takes the reference's int32 loop. The last partial
 * vector of channels is predicated. */
#include "ek_mve.h"

/* Four int32 sums divided as above (count >= 2), clamped. */
static EK_INLINE int32x4_t ek_avg_divide(int32x4_t s, uint32_t m, int32_t half, int32x4_t lo,
                                         int32x4_t hi)
{
    const mve_pred16_t negative = vcmpltq_n_s32(s, 0);
    const uint32x4_t n = vreinterpretq_u32_s32(vaddq_n_s32(vabsq_s32(s), half));
    const int32x4_t q = vreinterpretq_s32_u32(vmulhq_u32(n, vdupq_n_u32(m)));
    return vminq_s32(vmaxq_s32(vpselq_s32(vnegq_s32(q), q, negative), lo), hi);
}

/* Eight int16 sums (count >= 2 values each) to their averages, in order: the even lanes and the
 * odd lanes widened, divided and narrowed back into their places. */
static EK_INLINE int16x8_t ek_avg_eight(int16x8_t s, uint32_t m, int32_t half, int32x4_t lo,
                                        int32x4_t hi)
{
    const int32x4_t even = ek_avg_divide(vmovlbq_s16(s), m, half, lo, hi);
    const int32x4_t odd = ek_avg_divide(vmovltq_s16(s), m, half, lo, hi);
    return vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), even), odd);
}

void ek_avg_pool2d_s8_mve(const ek_avg_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_w = params->input_w, channels = params->channels;
    const int32_t row = in_w * channels, act_min = params->act_min, act_max = params->act_max;
    const int32x4_t lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
    int32_t oy, ox, c, y, x, known = 0;
    uint32_t m = 0;

    for (oy = 0; oy < params->output_h; ++oy) {
        for (ox = 0; ox < params->output_w; ++ox) {
            const ek_pool_window w = ek_pool_window_at(params, oy, ox);
            const int8_t *corner =
                input + ((w.in_y0 + w.y_start) * in_w + (w.in_x0 + w.x_start)) * channels;
            const int32_t rows = w.y_end - w.y_start, cols = w.x_end - w.x_start;
            const int32_t count = rows * cols;
            int8_t *out = output + (oy * params->output_w + ox) * channels;
            if (count >= 2 && count <= 256) {
                if (count != known) { /* the border windows' counts differ from the rest */
                    known = count;
                    m = (uint32_t)((((uint64_t)1 << 32) + (uint64_t)count - 1) / (uint64_t)count);
                }
                for (c = 0; c < channels; c += 16) {
                    const int32_t left = channels - c;
                    const mve_pred16_t p0 = vctp16q((uint32_t)left);
                    const mve_pred16_t p1 = vctp16q((uint32_t)(left > 8 ? left - 8 : 0));
                    int16x8_t s0 = vdupq_n_s16(0), s1 = vdupq_n_s16(0);
                    for (y = 0; y < rows; ++y) {
                        const int8_t *q = corner + y * row + c;
                        for (x = 0; x < cols; ++x, q += channels) {
                            s0 = vaddq_s16(s0, vldrbq_z_s16(q, p0));
                            s1 = vaddq_s16(s1, vldrbq_z_s16(q + 8, p1));
                        }
                    }
                    vstrbq_p_s16(out + c, ek_avg_eight(s0, m, count / 2, lo, hi), p0);
                    vstrbq_p_s16(out + c + 8, ek_avg_eight(s1, m, count / 2, lo, hi), p1);
                }
                continue;
            }
            for (c = 0; c < channels; ++c) { /* as ek_avg_pool2d_s8_ref */
                int32_t acc = 0;
                for (y = 0; y < rows; ++y) {
                    const int8_t *q = corner + y * row + c;
                    for (x = 0; x < cols; ++x, q += channels) {
                        acc += *q;
                    }
                }
                if (count > 0) {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                out[c] = (int8_t)ek_clamp(acc, act_min, act_max);
            }
        }
    }
}
