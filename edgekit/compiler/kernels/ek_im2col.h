/*
 * The window copy of edgekit's im2col convolutions (ek_conv2d_*_dsp.c, ek_conv2d_*_mve.c): one
 * output pixel's window, row after row of the filter, as one row of the pixel matrix that the
 * matrix multiply reads (dilated or not). Padding reads the input zero point, so that it adds
 * zero, as in the reference kernel.
 */
#ifndef EK_IM2COL_H
#define EK_IM2COL_H

#include <string.h>

#include "ek_kernels.h"

/* Kept out of line, so that the calling loops keep their registers (fewer instructions on
 * both the DSP and the MVE boards). */
#if defined(__GNUC__)
#define EK_IM2COL_NOINLINE __attribute__((noinline))
#else
#define EK_IM2COL_NOINLINE
#endif

/* One pixel's window, row after row of the filter, into column; padding reads zero. */
static EK_IM2COL_NOINLINE void ek_im2col(const ek_conv_params *params, const int8_t *input, int32_t oy, int32_t ox,
                      int8_t zero, int8_t *column)
{
    const int32_t in_c = params->input_c, in_w = params->input_w;
    const int32_t filter_w = params->filter_w, span = filter_w * in_c;
    const int32_t y0 = oy * params->stride_h - params->pad_top;
    const int32_t x0 = ox * params->stride_w - params->pad_left;
    int32_t ky, kx, c;
    for (ky = 0; ky < params->filter_h; ++ky, column += span) {
        const int32_t y = y0 + ky;
        if (y < 0 || y >= params->input_h) {
            memset(column, zero, (size_t)span);
        } else if (x0 >= 0 && x0 + filter_w <= in_w) { /* the window row is one run */
            memcpy(column, input + (y * in_w + x0) * in_c, (size_t)span);
        } else {
            for (kx = 0; kx < filter_w; ++kx) {
                const int32_t x = x0 + kx;
                for (c = 0; c < in_c; ++c) {
                    column[kx * in_c + c] = x < 0 || x >= in_w
                                                ? zero
                                                : input[(y * in_w + x) * in_c + c];
                }
            }
        }
    }
}

/* ek_im2col for a dilated window (ek_dilated_conv_params): filter tap (ky, kx) reads input
 * pixel (y0 + ky * dilation_h, x0 + kx * dilation_w); a tap outside the input reads zero. */
static inline void ek_im2col_dilated(const ek_conv_params *params, int32_t dilation_h,
                                     int32_t dilation_w, const int8_t *input, int32_t oy,
                                     int32_t ox, int8_t zero, int8_t *column)
{
    const int32_t in_c = params->input_c, in_w = params->input_w;
    const int32_t filter_w = params->filter_w, span = filter_w * in_c;
    const int32_t y0 = oy * params->stride_h - params->pad_top;
    const int32_t x0 = ox * params->stride_w - params->pad_left;
    int32_t ky, kx;
    for (ky = 0; ky < params->filter_h; ++ky, column += span) {
        const int32_t y = y0 + ky * dilation_h;
        if (y < 0 || y >= params->input_h) {
            memset(column, zero, (size_t)span);
            continue;
        }
        for (kx = 0; kx < filter_w; ++kx) {
            const int32_t x = x0 + kx * dilation_w;
            if (x < 0 || x >= in_w) {
                memset(column + kx * in_c, zero, (size_t)in_c);
            } else {
                memcpy(column + kx * in_c, input + (y * in_w + x) * in_c, (size_t)in_c);
            }
        }
    }
}

#endif /* EK_IM2COL_H */
