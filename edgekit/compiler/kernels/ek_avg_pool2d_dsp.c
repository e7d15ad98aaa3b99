/* AVERAGE_POOL_2D, int8, for cores with the DSP extension: eight channels per pass over the
 * window, each loaded word split by SXTB16 into two int16 pairs and summed with SADD16. A
 * window of at most 256 values keeps each sum in int16 (256 * -128 = -32768), so the sums are
 * exact and the bytes those of ek_avg_pool2d_s8_ref; a larger window, and the channels left
 * after the last whole four, take the reference's int32 loop. */
#include "ek_dsp.h"

/* The reference's division (to nearest, ties away from zero) and clamp of one channel's sum. */
static EK_INLINE int8_t ek_avg_out(int32_t acc, int32_t count, int32_t lo, int32_t hi)
{
    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
    return (int8_t)ek_clamp(acc, lo, hi);
}

/* The two int16 lanes of a pair of sums. */
static inline int32_t ek_lo16(uint32_t v)
{
    return (int16_t)(v & 0xFFFFu);
}

static inline int32_t ek_hi16(uint32_t v)
{
    return (int16_t)(v >> 16);
}

void ek_avg_pool2d_s8_dsp(const ek_avg_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_w = params->input_w, channels = params->channels;
    const int32_t row = in_w * channels, lo = params->act_min, hi = params->act_max;
    int32_t oy, ox, c, y, x;

    for (oy = 0; oy < params->output_h; ++oy) {
        for (ox = 0; ox < params->output_w; ++ox) {
            const ek_pool_window w = ek_pool_window_at(params, oy, ox);
            const int8_t *corner =
                input + ((w.in_y0 + w.y_start) * in_w + (w.in_x0 + w.x_start)) * channels;
            const int32_t rows = w.y_end - w.y_start, cols = w.x_end - w.x_start;
            const int32_t count = rows * cols;
            int8_t *out = output + (oy * params->output_w + ox) * channels;
            c = 0;
            if (count > 0 && count <= 256) {
                for (; c + 8 <= channels; c += 8) {
                    uint32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                    for (y = 0; y < rows; ++y) {
                        const int8_t *p = corner + y * row + c;
                        for (x = 0; x < cols; ++x, p += channels) {
                            const uint32_t v = ek_load4(p), u = ek_load4(p + 4);
                            s0 = (uint32_t)__sadd16((int16x2_t)s0, __sxtb16(v));
                            s1 = (uint32_t)__sadd16((int16x2_t)s1, ek_sxtb16_ror8(v));
                            s2 = (uint32_t)__sadd16((int16x2_t)s2, __sxtb16(u));
                            s3 = (uint32_t)__sadd16((int16x2_t)s3, ek_sxtb16_ror8(u));
                        }
                    }
                    out[c] = ek_avg_out(ek_lo16(s0), count, lo, hi);
                    out[c + 1] = ek_avg_out(ek_lo16(s1), count, lo, hi);
                    out[c + 2] = ek_avg_out(ek_hi16(s0), count, lo, hi);
                    out[c + 3] = ek_avg_out(ek_hi16(s1), count, lo, hi);
                    out[c + 4] = ek_avg_out(ek_lo16(s2), count, lo, hi);
                    out[c + 5] = ek_avg_out(ek_lo16(s3), count, lo, hi);
                    out[c + 6] = ek_avg_out(ek_hi16(s2), count, lo, hi);
                    out[c + 7] = ek_avg_out(ek_hi16(s3), count, lo, hi);
                }
                for (; c + 4 <= channels; c += 4) {
                    uint32_t s0 = 0, s1 = 0;
                    for (y = 0; y < rows; ++y) {
                        const int8_t *p = corner + y * row + c;
                        for (x = 0; x < cols; ++x, p += channels) {
                            const uint32_t v = ek_load4(p);
                            s0 = (uint32_t)__sadd16((int16x2_t)s0, __sxtb16(v));
                            s1 = (uint32_t)__sadd16((int16x2_t)s1, ek_sxtb16_ror8(v));
                        }
                    }
                    out[c] = ek_avg_out(ek_lo16(s0), count, lo, hi);
                    out[c + 1] = ek_avg_out(ek_lo16(s1), count, lo, hi);
                    out[c + 2] = ek_avg_out(ek_hi16(s0), count, lo, hi);
                    out[c + 3] = ek_avg_out(ek_hi16(s1), count, lo, hi);
                }
            }
            for (; c < channels; ++c) { /* as ek_avg_pool2d_s8_ref */
                int32_t acc = 0;
                for (y = 0; y < rows; ++y) {
                    const int8_t *p = corner + y * row + c;
                    for (x = 0; x < cols; ++x, p += channels) {
                        acc += *p;
                    }
                }
                out[c] = count > 0 ? ek_avg_out(acc, count, lo, hi) : (int8_t)ek_clamp(0, lo, hi);
            }
        }
    }
}
