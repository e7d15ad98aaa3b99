/*
 * edgekit int8 reference kernels.
 *
 * Each kernel reproduces, bit for bit, what TFLite's reference int8 kernels compute (LiteRT 2.3
 * with OpResolverType.BUILTIN_REF): the same integer accumulation, the same requantization and
 * rounding, the same saturating clamps. Where the reference kernel rescales in double precision
 * (FULLY_CONNECTED), the kernel reproduces that double rounding exactly with integers. They are
 * plain C99: no allocation, no floating point (but in QUANTIZE and DEQUANTIZE of a model's float
 * inputs and outputs), int32_t accumulators. Everything a kernel needs
 * from float scales (multipliers, shifts, exact double factors, clamp bounds) is precomputed on
 * the host by edgekit/compiler/fixedpoint.py.
 *
 * Conventions
 * - Activation tensors are NHWC with batch 1 (edgekit converts models with batch 1), stored
 *   densely; "offset" fields hold the negated zero point of an input and the zero point of an
 *   output, as TFLite's Prepare does.
 * - Per-channel weights are symmetric (zero point 0), as TFLite's int8 spec requires.
 * - multiplier/shift pairs stand for multiplier * 2^(shift - 31): multiplier is in Q31,
 *   shift > 0 shifts left, shift < 0 shifts right.
 * - act_min/act_max are the fused activation as clamp bounds in output units
 *   (-128/127 for no activation).
 * - Kernels named *_ref are the simple reference variants; faster variants for a target's
 *   features register under the same (op, features) key and must produce the same bytes.
 * - Signed right shifts are arithmetic (every compiler edgekit targets: gcc, clang, arm-none-eabi).
 */
#ifndef EK_KERNELS_H
#define EK_KERNELS_H

#include <stdint.h>

/* TFLite has two requantization variants. The default build, and the one the LiteRT reference
 * kernels use, rounds twice: a rounding doubling high multiply, then a rounding right shift.
 * Builds with TFLITE_SINGLE_ROUNDING round once in 64 bits; define EK_SINGLE_ROUNDING=1 to
 * match such a build (the host precomputation must then match it too). */
#ifndef EK_SINGLE_ROUNDING
#define EK_SINGLE_ROUNDING 0
#endif

/* Inlined into each caller, so that flags passed as constants specialize the loops (the DSP
 * and MVE variants). */
#if defined(__GNUC__)
#define EK_INLINE inline __attribute__((always_inline))
#else
#define EK_INLINE inline
#endif

/* ---- fixed-point helpers (inline: kernels call them once per element) ---------------------- */

static inline int32_t ek_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* round(a * b / 2^31), ties away from zero, saturating the one overflowing case
 * (INT32_MIN * INT32_MIN). gemmlowp's SaturatingRoundingDoublingHighMul. */
static inline int32_t ek_saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero; exponent in [0, 31]. */
static inline int32_t ek_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^(shift - 31), rounded as TFLite's MultiplyByQuantizedMultiplier. */
static inline int32_t ek_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier,
                                                          int32_t shift)
{
#if EK_SINGLE_ROUNDING
    const int32_t total_shift = 31 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    return (int32_t)(((int64_t)x * multiplier + round) >> total_shift);
#else
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    /* TFLite multiplies by 2^left_shift in int32 and lets it wrap; so does this. */
    const int32_t shifted = (int32_t)((uint32_t)x << left_shift);
    return ek_rounding_divide_by_pot(ek_saturating_rounding_doubling_high_mul(shifted, multiplier),
                                     right_shift);
#endif
}

/* x * 2^exponent saturated to int32, exponent in [1, 30] (gemmlowp's
 * SaturatingRoundingMultiplyByPOT for a positive exponent). */
static inline int32_t ek_saturating_shift_left(int32_t x, int32_t exponent)
{
    const int32_t threshold = ((int32_t)1 << (31 - exponent)) - 1;
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return x * ((int32_t)1 << exponent);
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out, as int8 SOFTMAX's reciprocal of its sum:
 * three Newton-Raphson steps on the half denominator, starting from 48/17 - 32/17 * d. */
static inline int32_t ek_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t forty_eight_seventeenths = 1515870810;      /* Q2.29 */
    const int32_t minus_thirty_two_seventeenths = -1010580540; /* Q2.29 */
    int32_t x = forty_eight_seventeenths +
                ek_saturating_rounding_doubling_high_mul(half_denominator,
                                                         minus_thirty_two_seventeenths);
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus =
            ((int32_t)1 << 29) - ek_saturating_rounding_doubling_high_mul(half_denominator, x);
        x = x + ek_saturating_shift_left(ek_saturating_rounding_doubling_high_mul(x, one_minus), 2);
    }
    return ek_saturating_shift_left(x, 1);
}

/* Number of significant bits of x (0 for 0). */
static inline int32_t ek_bit_length(uint64_t x)
{
    int32_t bits = 0;
    while (x != 0) {
        x >>= 1;
        ++bits;
    }
    return bits;
}

/* round(acc * scale) for a scale given exactly as the IEEE double mantissa * 2^exponent
 * (mantissa in [2^52, 2^53), or 0), the way C computes it in double: the product is rounded to
 * 53 significant bits (ties to even), then to an integer (ties away from zero). Integer
 * arithmetic only. LiteRT's reference FULLY_CONNECTED rescales its accumulators this way.
 * Results beyond the int32 range saturate (TFLite's float-to-int conversion is undefined there;
 * no int8 model gets near it). */
static inline int32_t ek_multiply_by_double_scale(int32_t acc, int64_t mantissa,
                                                  int32_t exponent)
{
    const uint64_t magnitude = acc < 0 ? (uint64_t)0 - (uint64_t)(int64_t)acc : (uint64_t)acc;
    const uint64_t m = (uint64_t)mantissa;
    /* the exact product, < 2^85, as two 64-bit words */
    const uint64_t low = magnitude * (m & 0xFFFFFFFFu);
    const uint64_t mid = magnitude * (m >> 32);
    const uint64_t lo = low + (mid << 32);
    const uint64_t hi = (mid >> 32) + (lo < low ? 1u : 0u);
    const int32_t bits = hi != 0 ? 64 + ek_bit_length(hi) : ek_bit_length(lo);
    const int32_t dropped = bits > 53 ? bits - 53 : 0; /* at most 32 */
    uint64_t q = lo;
    uint64_t n;
    int32_t g;

    if (magnitude == 0 || m == 0) {
        return 0;
    }
    if (dropped > 0) { /* round to 53 bits, ties to even */
        const uint64_t rest = lo & (((uint64_t)1 << dropped) - 1);
        const uint64_t half = (uint64_t)1 << (dropped - 1);
        q = (lo >> dropped) | (hi << (64 - dropped));
        if (rest > half || (rest == half && (q & 1u) != 0)) {
            ++q;
        }
    }
    g = -(exponent + dropped); /* the rounded product is q / 2^g */
    if (g <= 0) {
        n = INT32_MAX;
    } else if (g > 55) {
        n = 0; /* q <= 2^53: below one half */
    } else {
        n = (q >> g) + ((q >> (g - 1)) & 1u); /* ties away from zero */
    }
    if (n > INT32_MAX) {
        n = INT32_MAX;
    }
    return acc < 0 ? -(int32_t)n : (int32_t)n;
}

/* ---- parameters --------------------------------------------------------------------------- */

/* One multiplier/shift per output channel (or a single entry where a kernel says so). */
typedef struct {
    const int32_t *multiplier; /* Q31 multipliers */
    const int32_t *shift;      /* matching shifts: > 0 left, < 0 right */
} ek_channel_quant;

/* CONV_2D: input [1, input_h, input_w, input_c], filter [output_c, filter_h, filter_w, input_c]
 * (OHWI, as TFLite stores it), bias [output_c] int32 or NULL, output [1, output_h, output_w,
 * output_c]. One group; dilation 1 (ek_dilated_conv_params dilates). */
typedef struct {
    int32_t input_h, input_w, input_c;    /* input tensor dimensions */
    int32_t output_h, output_w, output_c; /* output tensor dimensions */
    int32_t filter_h, filter_w;           /* kernel window */
    int32_t stride_h, stride_w;           /* strides */
    int32_t pad_top, pad_left;            /* implicit zero padding before the first row/column */
    int32_t input_offset;                 /* minus the input zero point */
    int32_t output_offset;                /* the output zero point */
    int32_t act_min, act_max;             /* fused activation as clamp bounds */
} ek_conv_params;

/* DEPTHWISE_CONV_2D: input [1, input_h, input_w, input_c], filter [1, filter_h, filter_w,
 * input_c * depth_multiplier], bias [output_c] int32 or NULL, output [1, output_h, output_w,
 * input_c * depth_multiplier]; output channel c * depth_multiplier + m reads input channel c.
 * Dilation 1 (ek_dilated_depthwise_conv_params dilates). */
typedef struct {
    int32_t input_h, input_w, input_c; /* input tensor dimensions */
    int32_t output_h, output_w;        /* output spatial dimensions */
    int32_t depth_multiplier;          /* output channels per input channel (>= 1) */
    int32_t filter_h, filter_w;        /* kernel window */
    int32_t stride_h, stride_w;        /* strides */
    int32_t pad_top, pad_left;         /* implicit zero padding before the first row/column */
    int32_t input_offset;              /* minus the input zero point */
    int32_t output_offset;             /* the output zero point */
    int32_t act_min, act_max;          /* fused activation as clamp bounds */
} ek_depthwise_conv_params;

/* A dilated CONV_2D or DEPTHWISE_CONV_2D (dilation_h or dilation_w > 1; the reference kernels
 * and the im2col convolutions): filter tap (ky, kx) reads input pixel (y0 + ky * dilation_h,
 * x0 + kx * dilation_w), and the padding is TFLite's for the dilated window, (filter - 1) *
 * dilation + 1. A struct of its own, so that the undilated layers' parameters stay as they
 * are. */
typedef struct {
    ek_conv_params conv;
    int32_t dilation_h, dilation_w;
} ek_dilated_conv_params;

typedef struct {
    ek_depthwise_conv_params conv;
    int32_t dilation_h, dilation_w;
} ek_dilated_depthwise_conv_params;

/* Rescaling factors given exactly as IEEE doubles: scale = mantissa * 2^exponent. */
typedef struct {
    const int64_t *mantissa; /* significands in [2^52, 2^53) (0 for a zero scale) */
    const int32_t *exponent; /* matching powers of two */
} ek_double_scale;

/* FULLY_CONNECTED: input [batches, input_depth], filter [output_depth, input_depth],
 * bias [output_depth] int32 or NULL, output [batches, output_depth].
 * LiteRT's reference kernel rescales each accumulator as round(acc * s) in double precision,
 * s = input_scale * filter_scale / output_scale (fixedpoint.fully_connected_scales); this kernel
 * reproduces that rounding exactly with integers. (TFLite Micro and CMSIS-NN use the Q31
 * requantization instead, which differs by one LSB in roughly one output in 2^|shift|.) */
typedef struct {
    int32_t batches;      /* rows of the input */
    int32_t input_depth;  /* input features per row */
    int32_t output_depth; /* output features per row */
    int32_t input_offset; /* minus the input zero point */
    int32_t filter_offset; /* minus the filter zero point (0 for int8 weights) */
    int32_t output_offset; /* the output zero point */
    int32_t per_channel;   /* 1: scale holds output_depth entries; 0: one entry for all */
    int32_t act_min, act_max; /* fused activation as clamp bounds */
} ek_fully_connected_params;

/* ADD of two tensors of the same shape (no broadcasting), TFLite's int8 arithmetic: both inputs
 * are shifted left by left_shift, rescaled to a common scale, summed, and rescaled to the
 * output. The output may alias either input (in-place add). */
typedef struct {
    int32_t size;                                /* elements in each tensor */
    int32_t left_shift;                          /* 20 for int8 */
    int32_t input1_offset, input2_offset;        /* minus the input zero points */
    int32_t input1_multiplier, input1_shift;     /* input 1 to the common scale (shift <= 0) */
    int32_t input2_multiplier, input2_shift;     /* input 2 to the common scale (shift <= 0) */
    int32_t output_multiplier, output_shift;     /* common scale to the output (shift <= 0) */
    int32_t output_offset;                       /* the output zero point */
    int32_t act_min, act_max;                    /* fused activation as clamp bounds */
} ek_add_params;

/* MEAN over H and W of [1, input_h, input_w, channels] into [1, channels] (or [1,1,1,channels]
 * with keep_dims: same bytes). multiplier/shift already include the division by
 * input_h * input_w (fixedpoint.mean_params). */
typedef struct {
    int32_t input_h, input_w, channels; /* input tensor dimensions */
    int32_t input_offset;               /* minus the input zero point */
    int32_t output_offset;              /* the output zero point */
    int32_t multiplier, shift;          /* input_scale / (output_scale * input_h * input_w) */
} ek_mean_params;

/* AVERAGE_POOL_2D: input [1, input_h, input_w, channels], output [1, output_h, output_w,
 * channels] with the input's quantization (TFLite does not rescale). Padded positions are left
 * out of each average. */
typedef struct {
    int32_t input_h, input_w, channels; /* input tensor dimensions */
    int32_t output_h, output_w;         /* output spatial dimensions */
    int32_t filter_h, filter_w;         /* pooling window */
    int32_t stride_h, stride_w;         /* strides */
    int32_t pad_top, pad_left;          /* padding before the first row/column */
    int32_t act_min, act_max;           /* fused activation as clamp bounds */
} ek_avg_pool_params;

/* MAX_POOL_2D takes AVERAGE_POOL_2D's parameters; padded positions take no part in a max. */
typedef ek_avg_pool_params ek_max_pool_params;

/* A pooling window: its top-left input position and, relative to it, its rows and columns
 * clipped to the input (padded positions take no part in either pooling). */
typedef struct {
    int32_t in_y0, in_x0, y_start, y_end, x_start, x_end;
} ek_pool_window;

static EK_INLINE ek_pool_window ek_pool_window_at(const ek_avg_pool_params *p, int32_t oy,
                                                  int32_t ox)
{
    ek_pool_window w;
    w.in_y0 = oy * p->stride_h - p->pad_top;
    w.in_x0 = ox * p->stride_w - p->pad_left;
    w.y_start = w.in_y0 < 0 ? -w.in_y0 : 0;
    w.x_start = w.in_x0 < 0 ? -w.in_x0 : 0;
    w.y_end = p->filter_h < p->input_h - w.in_y0 ? p->filter_h : p->input_h - w.in_y0;
    w.x_end = p->filter_w < p->input_w - w.in_x0 ? p->filter_w : p->input_w - w.in_x0;
    return w;
}

/* CONCATENATION, one call per input: the output is outer rows of output_row elements (int8,
 * or int16 for 16x8); this input's row of input_row elements (its size along the axis times
 * the size of the axes after it) goes output_start elements into each output row. Every input
 * has the output's scale and zero point (TFLite's int8 and int16 kernels require it): a copy. */
typedef struct {
    int32_t outer;        /* product of the dimensions before the axis */
    int32_t input_row;    /* elements of one row of this input */
    int32_t output_row;   /* elements of one row of the output */
    int32_t output_start; /* where this input's row starts in an output row */
} ek_concatenation_params;

/* RESIZE_NEAREST_NEIGHBOR: output pixel (y, x) is input pixel (rows[y], cols[x]), the indices
 * computed on the host as TFLite's GetNearestNeighbor computes them (in float32, with
 * align_corners and half_pixel_centers). A copy: input and output share their quantization. */
typedef struct {
    int32_t input_w, channels;
    int32_t output_h, output_w;
    const int32_t *rows; /* output_h input rows */
    const int32_t *cols; /* output_w input columns */
} ek_resize_nearest_params;

/* RESIZE_BILINEAR, int8: TFLite's integer ResizeBilinear, 10-bit fixed-point positions and a
 * 20-bit weighted sum rounded half away from zero; no rescaling (input and output share their
 * quantization). */
typedef struct {
    int32_t input_h, input_w, channels;
    int32_t output_h, output_w;
    int32_t height_scale_10, width_scale_10; /* input / output size in Q10, as TFLite rounds it */
    int32_t half_pixel_centers;              /* 0 or 1 */
} ek_resize_bilinear_params;

/* TRANSPOSE_CONV, int8 with per-channel weights: input [1, input_h, input_w, input_c], filter
 * [output_c, filter_h, filter_w, input_c] (OHWI), bias [output_c] int32 or NULL, output [1,
 * output_h, output_w, output_c]. Each input pixel scatters into the output through the
 * filter; pad_top and pad_left are the padding TFLite computes from the output's size. */
typedef struct {
    int32_t input_h, input_w, input_c;
    int32_t output_h, output_w, output_c;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t input_offset, output_offset;
} ek_transpose_conv_params;

/* An int8 -> int8 element-wise op as a table: output = table[input + 128]. The output may
 * alias the input (in place). */
typedef struct {
    int32_t size;        /* elements */
    const int8_t *table; /* 256 entries, for inputs -128 to 127 (edgekit/compiler/tables.py) */
} ek_lut_params;

/* SOFTMAX along the last axis of [rows, depth], int8 output with zero point -128 and scale
 * 1/256 (TFLite's int8 softmax output quantization). Fixed point throughout. Like TFLite, a
 * row where 512 or more entries tie for the maximum is outside the supported range. */
typedef struct {
    int32_t rows;             /* independent rows (product of the leading dimensions) */
    int32_t depth;            /* entries per row */
    int32_t input_multiplier; /* beta * input_scale * 2^26 as Q31 multiplier ... */
    int32_t input_left_shift; /* ... and its left shift (fixedpoint.softmax_params) */
    int32_t diff_min;         /* differences to the row maximum below this give exp = 0 */
} ek_softmax_params;

/* PAD of a 4-D tensor with a constant: output dim d = input_dims[d] + before[d] + after[d].
 * TFLite pads int8 with the output zero point when the model gives no constant. */
typedef struct {
    int32_t input_dims[4]; /* input tensor dimensions */
    int32_t before[4];     /* elements added before each dimension */
    int32_t after[4];      /* elements added after each dimension */
    int32_t pad_value;     /* value of the added elements (the tensor type's range) */
} ek_pad_params;

/* Binary ops with broadcasting (ek_binary.c): the output is [dims[0], .., dims[3]] (shapes
 * padded to 4-D with leading 1s), input k's element at output index (i0, i1, i2, i3) is
 * inputk[i0 * stridesk[0] + .. + i3 * stridesk[3]], the stride 0 on axes it is broadcast along.
 * The arithmetic fields are those of TFLite's ArithmeticParams for the op (fixedpoint.py);
 * MAXIMUM and MINIMUM read only act_min and act_max (-128 and 127). */
typedef struct {
    int32_t dims[4];                         /* output dimensions, outermost first */
    int32_t strides1[4], strides2[4];        /* element strides of each input per dimension */
    int32_t left_shift;                      /* ADD/SUB 20, SQUARED_DIFFERENCE 7, else 0 */
    int32_t input1_offset, input2_offset;    /* minus the input zero points */
    int32_t input1_multiplier, input1_shift; /* input 1 to the common scale (ADD/SUB/SQDIFF) */
    int32_t input2_multiplier, input2_shift; /* input 2 likewise (negated for SUB) */
    int32_t output_multiplier, output_shift; /* to the output scale */
    int32_t output_offset;                   /* the output zero point */
    int32_t act_min, act_max;                /* fused activation as clamp bounds */
} ek_binary_params;

/* A strided copy (ek_strided_copy.c), for TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK
 * and UNPACK: for every index (i0, .., i5) below dims, output[output_start + sum ik *
 * output_strides[k]] = input[input_start + sum ik * input_strides[k]]. Strides are in elements,
 * negative to walk backwards; unused leading dimensions are 1. Input and output do not overlap. */
#define EK_COPY_RANK 6
typedef struct {
    int32_t dims[EK_COPY_RANK];
    int32_t input_strides[EK_COPY_RANK];
    int32_t output_strides[EK_COPY_RANK];
    int32_t input_start, output_start;
} ek_strided_copy_params;

/* ---- kernels ------------------------------------------------------------------------------ */

void ek_conv2d_s8_ref(const ek_conv_params *params, const ek_channel_quant *quant,
                      const int8_t *input, const int8_t *filter, const int32_t *bias,
                      int8_t *output);

void ek_depthwise_conv2d_s8_ref(const ek_depthwise_conv_params *params,
                                const ek_channel_quant *quant, const int8_t *input,
                                const int8_t *filter, const int32_t *bias, int8_t *output);

void ek_conv2d_dilated_s8_ref(const ek_dilated_conv_params *params,
                              const ek_channel_quant *quant, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, int8_t *output);

void ek_depthwise_conv2d_dilated_s8_ref(const ek_dilated_depthwise_conv_params *params,
                                        const ek_channel_quant *quant, const int8_t *input,
                                        const int8_t *filter, const int32_t *bias,
                                        int8_t *output);

void ek_fully_connected_s8_ref(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, int8_t *output);

void ek_add_s8_ref(const ek_add_params *params, const int8_t *input1, const int8_t *input2,
                   int8_t *output);

void ek_mean_hw_s8_ref(const ek_mean_params *params, const int8_t *input, int8_t *output);

void ek_avg_pool2d_s8_ref(const ek_avg_pool_params *params, const int8_t *input, int8_t *output);

void ek_max_pool2d_s8_ref(const ek_max_pool_params *params, const int8_t *input, int8_t *output);

void ek_concatenation_s8_ref(const ek_concatenation_params *params, const int8_t *input,
                             int8_t *output);

void ek_lut_s8_ref(const ek_lut_params *params, const int8_t *input, int8_t *output);

void ek_resize_nearest_neighbor_s8_ref(const ek_resize_nearest_params *params,
                                       const int8_t *input, int8_t *output);

void ek_resize_bilinear_s8_ref(const ek_resize_bilinear_params *params, const int8_t *input,
                               int8_t *output);

/* scratch holds output_h * output_w * output_c int32 accumulators (word aligned). */
void ek_transpose_conv_s8_ref(const ek_transpose_conv_params *params,
                              const ek_channel_quant *quant, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, int8_t *output,
                              void *scratch);

void ek_softmax_s8_ref(const ek_softmax_params *params, const int8_t *input, int8_t *output);

void ek_pad_s8_ref(const ek_pad_params *params, const int8_t *input, int8_t *output);

void ek_strided_copy_s8_ref(const ek_strided_copy_params *params, const int8_t *input,
                            int8_t *output);

/* Binary ops with broadcasting; the output may alias an input of the output's shape. */
void ek_add_broadcast_s8_ref(const ek_binary_params *params, const int8_t *input1,
                             const int8_t *input2, int8_t *output);
void ek_sub_s8_ref(const ek_binary_params *params, const int8_t *input1, const int8_t *input2,
                   int8_t *output);
void ek_mul_s8_ref(const ek_binary_params *params, const int8_t *input1, const int8_t *input2,
                   int8_t *output);
void ek_squared_difference_s8_ref(const ek_binary_params *params, const int8_t *input1,
                                  const int8_t *input2, int8_t *output);
void ek_maximum_s8_ref(const ek_binary_params *params, const int8_t *input1,
                       const int8_t *input2, int8_t *output);
void ek_minimum_s8_ref(const ek_binary_params *params, const int8_t *input1,
                       const int8_t *input2, int8_t *output);

/* ---- reductions, PRELU, ARG_MAX, BATCH_MATMUL, QUANTIZE and DEQUANTIZE of float ------------- */

/* MEAN, SUM and REDUCE_MAX over any axes (ek_reduce.c). The input's axes, neighbours merged
 * where both are kept or both reduced, are the kept ones (outer, in the output's order) and the
 * reduced ones (inner), each list padded with size 1 to four; strides are in elements. MEAN and
 * SUM are TFLite's QuantizedMeanOrSum: the sum less count times the input zero point, rescaled
 * by multiplier/shift (MEAN's includes the division by count, fixedpoint.mean_params).
 * REDUCE_MAX reads no arithmetic field: its input and output share their quantization. */
typedef struct {
    int32_t outer[4], outer_strides[4]; /* kept axes, outermost first */
    int32_t inner[4], inner_strides[4]; /* reduced axes */
    int32_t count;                      /* input elements per output value */
    int32_t input_zero_point;
    int32_t multiplier, shift;          /* the rescale of the sum to the output */
    int32_t output_offset;              /* the output zero point */
} ek_reduce_params;

void ek_reduce_mean_s8_ref(const ek_reduce_params *params, const int8_t *input, int8_t *output);
void ek_reduce_sum_s8_ref(const ek_reduce_params *params, const int8_t *input, int8_t *output);
void ek_reduce_max_s8_ref(const ek_reduce_params *params, const int8_t *input, int8_t *output);

/* PRELU (ek_prelu.c): output = input rescaled where input >= its zero point, else input times
 * alpha rescaled; alpha is read through its strides (0 along the axes it is broadcast on). The
 * output may alias the input. */
typedef struct {
    int32_t dims[4];                      /* input (= output) dims, padded with leading 1s */
    int32_t alpha_strides[4];             /* alpha's element strides per dimension */
    int32_t input_offset, alpha_offset;   /* minus the zero points */
    int32_t output_offset;                /* the output zero point */
    int32_t multiplier_1, shift_1;        /* input_scale / output_scale */
    int32_t multiplier_2, shift_2;        /* input_scale * alpha_scale / output_scale */
} ek_prelu_params;

void ek_prelu_s8_ref(const ek_prelu_params *params, const int8_t *input, const int8_t *alpha,
                     int8_t *output);

/* ARG_MAX along one axis of an int8 tensor seen as [outer, axis_size, inner]; the output holds
 * outer * inner indices, int32 or int64 (ek_arg_max.c). */
typedef struct {
    int32_t outer, axis_size, inner;
    int32_t int64_output; /* 1: int64 indices; 0: int32 */
} ek_arg_max_params;

void ek_arg_max_s8_ref(const ek_arg_max_params *params, const int8_t *input, void *output);

/* BATCH_MATMUL of two int8 tensors (ek_batch_matmul.c): for each of the batches, output[row][col]
 * (rows x cols, dense) sums depth products; lhs (row, k) is at row * lhs_row_stride +
 * k * lhs_depth_stride, rhs (k, col) at k * rhs_depth_stride + col * rhs_col_stride, from each
 * operand's batch offset (stride 0 along the batch axes it is broadcast on). */
typedef struct {
    int32_t batches[3];                        /* output batch dims, padded with leading 1s */
    int32_t lhs_batch_strides[3], rhs_batch_strides[3];
    int32_t rows, cols, depth;
    int32_t lhs_row_stride, lhs_depth_stride;
    int32_t rhs_depth_stride, rhs_col_stride;
    int32_t lhs_offset, rhs_offset;            /* minus the zero points */
    int32_t multiplier, shift;                 /* lhs_scale * rhs_scale / output_scale */
    int32_t output_offset;                     /* the output zero point */
} ek_batch_matmul_params;

void ek_batch_matmul_s8_ref(const ek_batch_matmul_params *params, const int8_t *lhs,
                            const int8_t *rhs, int8_t *output);

/* DEQUANTIZE int8 -> float32 as a table of the 256 results (exact by construction), and
 * QUANTIZE float32 -> int8 (ek_quantize.c): the only kernels with floating point. */
typedef struct {
    int32_t size;       /* elements */
    const float *table; /* 256 entries, for inputs -128 to 127 (emitters.dequantize) */
} ek_dequantize_params;

typedef struct {
    int32_t size;       /* elements */
    float scale;        /* the output scale */
    int32_t zero_point; /* the output zero point */
} ek_quantize_params;

void ek_dequantize_s8_ref(const ek_dequantize_params *params, const int8_t *input, float *output);
void ek_quantize_float_s8_ref(const ek_quantize_params *params, const float *input,
                              int8_t *output);

/* ---- 16x8 element-wise, pooling, data movement, softmax, activations, QUANTIZE ------------- */
/* int16 activations have zero point 0 (TFLite's 16x8 scheme); each kernel is the arithmetic of
 * TFLite's reference kernel for int16 (LiteRT 2.3 BUILTIN_REF). They take the int8 kernels'
 * parameter structs where the fields are the same; clamp bounds are then in int16 units. */

/* ADD (left_shift 15, TFLite's general int16 path), SUB and MUL with broadcasting
 * (ek_binary.c); the output may alias an input of the output's shape. */
void ek_add_broadcast_s16_ref(const ek_binary_params *params, const int16_t *input1,
                              const int16_t *input2, int16_t *output);
void ek_sub_s16_ref(const ek_binary_params *params, const int16_t *input1, const int16_t *input2,
                    int16_t *output);
void ek_mul_s16_ref(const ek_binary_params *params, const int16_t *input1, const int16_t *input2,
                    int16_t *output);

/* MAX_POOL_2D and AVERAGE_POOL_2D (ek_pool_s16.c). */
void ek_max_pool2d_s16_ref(const ek_max_pool_params *params, const int16_t *input,
                           int16_t *output);
void ek_avg_pool2d_s16_ref(const ek_avg_pool_params *params, const int16_t *input,
                           int16_t *output);

/* MEAN over any axes (ek_reduce_s16.c), ek_reduce_params as for int8. */
void ek_reduce_mean_s16_ref(const ek_reduce_params *params, const int16_t *input,
                            int16_t *output);

/* The data-movement ops on 2-byte elements: the same parameters, counted in elements. */
void ek_strided_copy_s16_ref(const ek_strided_copy_params *params, const int16_t *input,
                             int16_t *output);
void ek_pad_s16_ref(const ek_pad_params *params, const int16_t *input, int16_t *output);
void ek_concatenation_s16_ref(const ek_concatenation_params *params, const int16_t *input,
                              int16_t *output);

/* LOGISTIC and TANH, int16 (ek_activation_s16.c): TFLite's interpolation in a 256-entry
 * sigmoid table; output scale 2^-15. input_multiplier 0 means a power-of-two input scale,
 * input_left_shift then the shift of TFLite's Prepare (0 or 1). */
typedef struct {
    int32_t size;
    int32_t input_multiplier, input_left_shift; /* as TFLite's Prepare computes them */
} ek_sigmoid_s16_params;

void ek_logistic_s16_ref(const ek_sigmoid_s16_params *params, const int16_t *input,
                         int16_t *output);
void ek_tanh_s16_ref(const ek_sigmoid_s16_params *params, const int16_t *input,
                     int16_t *output);

/* LEAKY_RELU, int16: non-negative inputs rescaled by identity, negative ones by alpha. The
 * output may alias the input. */
typedef struct {
    int32_t size;
    int32_t identity_multiplier, identity_shift; /* input_scale / output_scale */
    int32_t alpha_multiplier, alpha_shift;       /* input_scale * alpha / output_scale */
} ek_leaky_relu_s16_params;

void ek_leaky_relu_s16_ref(const ek_leaky_relu_s16_params *params, const int16_t *input,
                           int16_t *output);

/* SOFTMAX int16 -> int16 (ek_softmax_s16.c): TFLite's SoftmaxInt16, two 513-entry tables
 * (exp on [-10, 0] and 1 / (1 + x) on [0, 1]) computed at build time
 * (edgekit/compiler/tables.py) and read with linear interpolation. */
typedef struct {
    int32_t rows, depth;
    int32_t input_multiplier, input_left_shift; /* input_scale * beta / (10 / 65535) */
    const int16_t *exp_table;                   /* 513 entries */
    const int16_t *reciprocal_table;            /* 513 entries */
} ek_softmax_s16_params;

void ek_softmax_s16_ref(const ek_softmax_s16_params *params, const int16_t *input,
                        int16_t *output);

/* QUANTIZE between integer types (ek_quantize_s16.c): TFLite's Requantize, the input less its
 * zero point rescaled by input_scale / output_scale, plus the output zero point, clamped to the
 * output type (output_bytes 1, 2 or 4: int8, int16, int32). The s16 kernel reads int16, the s8
 * one int8 (for an int8 -> int16 or int32 QUANTIZE). */
typedef struct {
    int32_t size;
    int32_t input_offset;       /* minus the input zero point */
    int32_t multiplier, shift;  /* input_scale / output_scale */
    int32_t output_offset;      /* the output zero point */
    int32_t output_bytes;       /* 1, 2 or 4 */
} ek_requantize_params;

void ek_requantize_s16_ref(const ek_requantize_params *params, const int16_t *input,
                           void *output);
void ek_requantize_s8_ref(const ek_requantize_params *params, const int8_t *input, void *output);

/* QUANTIZE float32 -> int16 (AffineQuantize, as ek_quantize_float_s8_ref but clamped to
 * int16) and DEQUANTIZE int16 -> float32 (scale * (q - zero_point), one float rounding). */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} ek_dequantize_s16_params;

void ek_quantize_float16_s8_ref(const ek_quantize_params *params, const float *input,
                                int16_t *output);
void ek_dequantize_s16_ref(const ek_dequantize_s16_params *params, const int16_t *input,
                           float *output);

/* ---- SVDF, int8 with int16 state (ek_svdf*.c) ----------------------------------------------- */

/* SVDF of one frame, TFLite's integer SVDF: input [1, input_size] int8, weights_feature
 * [filters, input_size] int8, weights_time [filters, memory] int16, bias [units] int32 or NULL,
 * state [filters, memory] int16 (each filter's activations of the last `memory` frames, oldest
 * first; a variable tensor, kept between runs), output [1, units] int8; filters = units * rank,
 * unit u sums filters u * rank to u * rank + rank - 1. State and weights have zero point 0. */
typedef struct {
    int32_t input_size;                        /* features per frame */
    int32_t units, rank;                       /* filters = units * rank */
    int32_t memory;                            /* frames each filter keeps */
    int32_t input_offset;                      /* minus the input zero point */
    int32_t feature_multiplier, feature_shift; /* input x feature weights' scale / state's */
    int32_t output_multiplier, output_shift;   /* state x time weights' scale / output's */
    int32_t output_offset;                     /* the output zero point */
} ek_svdf_params;

void ek_svdf_s8_ref(const ek_svdf_params *params, const int8_t *input,
                    const int8_t *weights_feature, const int16_t *weights_time,
                    const int32_t *bias, int16_t *state, int8_t *output);

/* A filter's feature product rescaled to the state's scale and saturated to int16. */
static inline int16_t ek_svdf_state_value(const ek_svdf_params *params, int32_t acc)
{
    acc = ek_multiply_by_quantized_multiplier(acc, params->feature_multiplier,
                                              params->feature_shift);
    return (int16_t)ek_clamp(acc, INT16_MIN, INT16_MAX);
}

/* A unit's time sum (bias included, wrapped to 32 bits as TFLite's int32 sums wrap) rescaled to
 * the output, plus the output offset (in int32, wrapping, as TFLite adds it), clamped to int8. */
static inline int8_t ek_svdf_output_value(const ek_svdf_params *params, uint32_t acc)
{
    const int32_t value = ek_multiply_by_quantized_multiplier((int32_t)acc,
                                                              params->output_multiplier,
                                                              params->output_shift);
    const int32_t shifted = (int32_t)((uint32_t)value + (uint32_t)params->output_offset);
    return (int8_t)ek_clamp(shifted, INT8_MIN, INT8_MAX);
}

/* The fast variants (ek_svdf_dsp.c, ek_svdf_mve.c) take feature_offsets, the input offset folded
 * in at build time: input_offset * the sum of each filter's feature weights. */
void ek_svdf_s8_dsp(const ek_svdf_params *params, const int8_t *input,
                    const int8_t *weights_feature, const int32_t *feature_offsets,
                    const int16_t *weights_time, const int32_t *bias, int16_t *state,
                    int8_t *output);
void ek_svdf_s8_mve(const ek_svdf_params *params, const int8_t *input,
                    const int8_t *weights_feature, const int32_t *feature_offsets,
                    const int16_t *weights_time, const int32_t *bias, int16_t *state,
                    int8_t *output);

/* ---- UNIDIRECTIONAL_SEQUENCE_LSTM, TFLite's 8x8_16 integer LSTM (ek_lstm*.c) --------------- */

/* One LSTM layer over `steps` time steps of batch 1: input [steps, input_size] int8, output
 * [steps, units] int8, output state [units] int8 and cell state [units] int16 (variable tensors,
 * kept between runs). Weights are int8, four [units, size] matrices in TFLite's gate order
 * (input, forget, cell, output), first the input weights, then the recurrent ones; bias holds
 * eight [units] int32 folded biases: each gate's input bias (its bias plus minus the input zero
 * point times its weights' row sums), then its recurrent bias (minus the output state's zero
 * point times the recurrent row sums). Multiplier/shift pairs rescale each product to the
 * gates' Q3.12; the cell state's scale is 2^cell_exponent. scratch holds 4 * units int16. */
typedef struct {
    int32_t steps, input_size, units;
    int32_t input_multiplier[4], input_shift[4];
    int32_t recurrent_multiplier[4], recurrent_shift[4];
    int32_t hidden_multiplier, hidden_shift; /* output gate x tanh(cell) to the output state */
    int32_t hidden_zero_point;               /* subtracted, as TFLite's kernel does */
    int32_t cell_exponent;                   /* in [-15, -9] */
    int32_t cell_clip;                       /* in cell state units; 0: no clipping */
} ek_lstm_params;

void ek_lstm_s8_ref(const ek_lstm_params *params, const int8_t *input,
                    const int8_t *input_weights, const int8_t *recurrent_weights,
                    const int32_t *bias, int8_t *output_state, int16_t *cell_state,
                    int8_t *output, void *scratch);

/* The parts every LSTM variant shares (ek_lstm.c): one gate's product accumulated into its
 * Q3.12 values, and the step after the gate products (gemmlowp's int16 sigmoid and tanh, the
 * cell and output state, the step's output). */
void ek_lstm_gate_s8(const int8_t *vector, int32_t size, const int8_t *weights,
                     const int32_t *bias, int32_t multiplier, int32_t shift, int32_t units,
                     int16_t *gate);
void ek_lstm_update_s8(const ek_lstm_params *params, int16_t *gates, int16_t *cell_state,
                       int8_t *output_state, int8_t *output);

/* One gate's product: gate[r] = saturate16(gate[r] + rescale(bias[r] + weights row r . vector)).
 * The variants differ in this product only; ek_lstm_steps_s8 runs the steps with one. */
typedef void (*ek_lstm_gate_fn)(const int8_t *vector, int32_t size, const int8_t *weights,
                                const int32_t *bias, int32_t multiplier, int32_t shift,
                                int32_t units, int16_t *gate);
void ek_lstm_steps_s8(const ek_lstm_params *params, const int8_t *input,
                      const int8_t *input_weights, const int8_t *recurrent_weights,
                      const int32_t *bias, int8_t *output_state, int16_t *cell_state,
                      int8_t *output, void *scratch, ek_lstm_gate_fn gate_product);

/* The gate products with SMLAD (two units per pass) and with Helium's VMLADAVA. */
void ek_lstm_s8_dsp(const ek_lstm_params *params, const int8_t *input,
                    const int8_t *input_weights, const int8_t *recurrent_weights,
                    const int32_t *bias, int8_t *output_state, int16_t *cell_state,
                    int8_t *output, void *scratch);
void ek_lstm_s8_mve(const ek_lstm_params *params, const int8_t *input,
                    const int8_t *input_weights, const int8_t *recurrent_weights,
                    const int32_t *bias, int8_t *output_state, int16_t *cell_state,
                    int8_t *output, void *scratch);

/* The 16x8 LSTM, TFLite Micro's (ek_lstm_s16*.c; LiteRT has none): input, output and output
 * state int16 (zero point 0), cell state int16, weights as for int8, bias four [units] int64
 * gate biases (the input products'; the recurrent ones have none). The params as for int8, the
 * hidden multiplier computed in double as TFLite Micro's Prepare does; hidden_zero_point is
 * added. scratch holds 4 * units int16. */
void ek_lstm_s16_ref(const ek_lstm_params *params, const int16_t *input,
                     const int8_t *input_weights, const int8_t *recurrent_weights,
                     const int64_t *bias, int16_t *output_state, int16_t *cell_state,
                     int16_t *output, void *scratch);

/* One 16x8 gate product: gate[r] = sat16(gate[r] + sat16(rescale(bias[r] + weights row r .
 * vector))), bias NULL for none, the int64 sum rescaled by TFLite's int64
 * MultiplyByQuantizedMultiplier (ek_lstm_gate_add_s16). The variants differ in this only. */
typedef void (*ek_lstm_gate_s16_fn)(const int16_t *vector, int32_t size, const int8_t *weights,
                                    const int64_t *bias, int32_t multiplier, int32_t shift,
                                    int32_t units, int16_t *gate);
int16_t ek_lstm_gate_add_s16(int16_t gate, int64_t acc, int32_t multiplier, int32_t shift);
void ek_lstm_gate_s16(const int16_t *vector, int32_t size, const int8_t *weights,
                      const int64_t *bias, int32_t multiplier, int32_t shift, int32_t units,
                      int16_t *gate);
void ek_lstm_update_s16(const ek_lstm_params *params, int16_t *gates, int16_t *cell_state,
                        int16_t *output_state, int16_t *output);
void ek_lstm_steps_s16(const ek_lstm_params *params, const int16_t *input,
                       const int8_t *input_weights, const int8_t *recurrent_weights,
                       const int64_t *bias, int16_t *output_state, int16_t *cell_state,
                       int16_t *output, void *scratch, ek_lstm_gate_s16_fn gate_product);

/* The 16x8 gate products with SMLALD (two units per pass) and with Helium's VMLALDAVA.S16. */
void ek_lstm_s16_dsp(const ek_lstm_params *params, const int16_t *input,
                     const int8_t *input_weights, const int8_t *recurrent_weights,
                     const int64_t *bias, int16_t *output_state, int16_t *cell_state,
                     int16_t *output, void *scratch);
void ek_lstm_s16_mve(const ek_lstm_params *params, const int16_t *input,
                     const int8_t *input_weights, const int8_t *recurrent_weights,
                     const int64_t *bias, int16_t *output_state, int16_t *cell_state,
                     int16_t *output, void *scratch);

/* ---- variants for cores with the DSP extension (ek_*_dsp.c; Arm only) ---------------------- */

/* CONV_2D with a 1x1 filter and stride 1, in layouts.py's channel_pairs layout: filter holds
 * the weights of each pair of output channels interleaved word by word (rows zero-padded to a
 * multiple of four), bias the mode word and each pair's accumulator starts (the folded bias)
 * and requantization constants; quant is read in the general mode only, params->input_offset
 * never. scratch holds 16 * ceil(K / 4) bytes, word-aligned (K = input_c). */
void ek_conv2d_1x1_s8_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                          const int8_t *input, const int8_t *filter, const int32_t *bias,
                          int8_t *output, int8_t *scratch);

/* CONV_2D, any window, through im2col, in the channel_pairs layout as ek_conv2d_1x1_s8_dsp:
 * scratch holds 24 * ceil(K / 4) + 8 bytes, word-aligned (K = filter_h * filter_w * input_c).
 */
void ek_conv2d_im2col_s8_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                             const int8_t *input, const int8_t *filter, const int32_t *bias,
                             int8_t *output, int8_t *scratch);

/* CONV_2D with a dilated window through im2col, as ek_conv2d_im2col_s8_dsp. */
void ek_conv2d_im2col_dilated_s8_dsp(const ek_dilated_conv_params *params,
                                     const ek_channel_quant *quant, const int8_t *input,
                                     const int8_t *filter, const int32_t *bias, int8_t *output,
                                     int8_t *scratch);

/* ADD, same shape; the output may alias either input, as for ek_add_s8_ref. */
void ek_add_s8_dsp(const ek_add_params *params, const int8_t *input1, const int8_t *input2,
                   int8_t *output);

/* ADD for cores with Helium (MVE, ek_add_mve.c); the output may alias either input. */
void ek_add_s8_mve(const ek_add_params *params, const int8_t *input1, const int8_t *input2,
                   int8_t *output);

/* FULLY_CONNECTED; bias is the folded bias (bias + input_offset * the sum of each unit's
 * weights, never NULL) and params->input_offset and filter_offset (0) are not read. The _dsp
 * kernel takes its weights as layouts.fc_quads words, the folded bias in layouts.fc_quad_fields
 * (with each unit's fast-rescaling fields) and 16 * ceil(input_depth / 8) bytes of word-aligned
 * scratch; the _x2_dsp kernel the weights as stored. */
void ek_fully_connected_s8_dsp(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, const int8_t *input,
                               const int32_t *filter, const int32_t *bias, int8_t *output,
                               void *scratch);
void ek_fully_connected_x2_s8_dsp(const ek_fully_connected_params *params,
                                  const ek_double_scale *scale, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, int8_t *output);

/* AVERAGE_POOL_2D for cores with the DSP extension (ek_avg_pool2d_dsp.c) and with Helium
 * (ek_avg_pool2d_mve.c). */
void ek_avg_pool2d_s8_dsp(const ek_avg_pool_params *params, const int8_t *input, int8_t *output);
void ek_avg_pool2d_s8_mve(const ek_avg_pool_params *params, const int8_t *input, int8_t *output);

/* SOFTMAX for cores with the DSP extension (ek_softmax_dsp.c): ek_softmax_s8_ref's arithmetic
 * with the exp of each difference to the row maximum looked up. */
typedef struct {
    int32_t rows;              /* independent rows (product of the leading dimensions) */
    int32_t depth;             /* entries per row */
    const int32_t *exp_table;  /* 256 Q0.31 exps of the differences 0, -1, ..., -255 (0 below
                                  diff_min; edgekit/compiler/tables.py softmax_exp_table) */
} ek_softmax_table_params;

void ek_softmax_s8_dsp(const ek_softmax_table_params *params, const int8_t *input,
                       int8_t *output);

/* FULLY_CONNECTED for cores with Helium (MVE, ek_fully_connected_mve.c); filter and bias are
 * laid out by layouts.fc_rows4_weights and fc_rows4_fields (four units' weights run by run,
 * their folded biases and fast-rescaling constants). */
void ek_fully_connected_s8_mve(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, int8_t *output);

/* MEAN over height and width. */
void ek_mean_hw_s8_dsp(const ek_mean_params *params, const int8_t *input, int8_t *output);

/* MEAN over height and width, for cores with Helium (MVE, ek_mean_mve.c). */
void ek_mean_hw_s8_mve(const ek_mean_params *params, const int8_t *input, int8_t *output);

/* DEPTHWISE_CONV_2D with a 3x3 filter and depth multiplier 1; filter is NULL and bias holds,
 * per group of four channels (the last one zero-padded), the doubled folded bias, the one-step
 * requantization constants and the weights widened to 16-bit pairs (layouts.dsp_depthwise_3x3);
 * scratch holds 12 * ((output_w - 1) * stride_w + 3) bytes, word-aligned. Same in-place rule as
 * the reference kernel. */
void ek_depthwise_conv2d_3x3_s8_dsp(const ek_depthwise_conv_params *params,
                                    const ek_channel_quant *quant, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, int8_t *output,
                                    int8_t *scratch);

/* DEPTHWISE_CONV_2D with any window and strides, depth multiplier 1, undilated; filter is NULL
 * and bias holds, per group of four channels, the 3x3 kernel's requantization header and the
 * doubled weights as pairs of rows (layouts.dsp_depthwise_window); scratch holds
 * 16 * ceil(filter_h / 2) * ((output_w - 1) * stride_w + filter_w) bytes, word-aligned. Same
 * in-place rule as the reference kernel. */
void ek_depthwise_conv2d_s8_dsp(const ek_depthwise_conv_params *params,
                                const ek_channel_quant *quant, const int8_t *input,
                                const int8_t *filter, const int32_t *bias, int8_t *output,
                                int8_t *scratch);

/* The int8 -> int8 table ops, four elements per word; the output may alias the input. */
void ek_lut_s8_dsp(const ek_lut_params *params, const int8_t *input, int8_t *output);

/* MAX_POOL_2D, four channels per word (SSUB8 and SEL). */
void ek_max_pool2d_s8_dsp(const ek_max_pool_params *params, const int8_t *input, int8_t *output);

/* Squeeze-and-excite MUL and ADD: one input of the output's shape, the other one value per
 * channel, in either order (ek_binary_params); the output may alias the input of its shape. */
void ek_mul_channels_s8_dsp(const ek_binary_params *params, const int8_t *input1,
                            const int8_t *input2, int8_t *output);
void ek_add_channels_s8_dsp(const ek_binary_params *params, const int8_t *input1,
                            const int8_t *input2, int8_t *output);

/* TRANSPOSE_CONV gathered per output pixel (no scratch): two output channels per input word. */
void ek_transpose_conv_s8_dsp(const ek_transpose_conv_params *params,
                              const ek_channel_quant *quant, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, int8_t *output);

/* ---- variants for cores with Helium, MVE (ek_*_mve.c; Arm only) --------------------------- */

/* DEPTHWISE_CONV_2D with a 3x3 filter and depth multiplier 1. bias is the layer's array from
 * codegen.lanes16_depthwise (per block of 16 channels the folded bias, multipliers, shifts and
 * weights, then the input zero point and the shifts' flags); quant and filter are not read
 * (the emitter passes NULL for both). Same in-place rule as the reference kernel. */
void ek_depthwise_conv2d_3x3_s8_mve(const ek_depthwise_conv_params *params,
                                    const ek_channel_quant *quant, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, int8_t *output);

/* CONV_2D with a 1x1 filter and stride 1, weights tiled (codegen.tiled_weights); bias is the
 * folded bias, as for ek_conv2d_1x1_s8_dsp. */
void ek_conv2d_1x1_s8_mve(const ek_conv_params *params, const ek_channel_quant *quant,
                          const int8_t *input, const int8_t *filter, const int32_t *bias,
                          int8_t *output);

/* CONV_2D with any window through im2col, weights tiled; scratch holds output_w * filter_h *
 * filter_w * input_c bytes (in the arena); bias is the folded bias. */
void ek_conv2d_im2col_s8_mve(const ek_conv_params *params, const ek_channel_quant *quant,
                             const int8_t *input, const int8_t *filter, const int32_t *bias,
                             int8_t *output, int8_t *scratch);

/* CONV_2D with a dilated window through im2col, as ek_conv2d_im2col_s8_mve. */
void ek_conv2d_im2col_dilated_s8_mve(const ek_dilated_conv_params *params,
                                     const ek_channel_quant *quant, const int8_t *input,
                                     const int8_t *filter, const int32_t *bias, int8_t *output,
                                     int8_t *scratch);

/* The int8 -> int8 table ops, a 16-byte gather from the table per 16 elements; the output may
 * alias the input. */
void ek_lut_s8_mve(const ek_lut_params *params, const int8_t *input, int8_t *output);

/* MAX_POOL_2D, 16 channels per vector. */
void ek_max_pool2d_s8_mve(const ek_max_pool_params *params, const int8_t *input, int8_t *output);

/* Squeeze-and-excite MUL and ADD, four channels per vector, as ek_mul_channels_s8_dsp. */
void ek_mul_channels_s8_mve(const ek_binary_params *params, const int8_t *input1,
                            const int8_t *input2, int8_t *output);
void ek_add_channels_s8_mve(const ek_binary_params *params, const int8_t *input1,
                            const int8_t *input2, int8_t *output);

/* TRANSPOSE_CONV gathered per output pixel (no scratch), 16 input channels per vector. */
void ek_transpose_conv_s8_mve(const ek_transpose_conv_params *params,
                              const ek_channel_quant *quant, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, int8_t *output);

/* ---- 16x8 convolutions and fully connected layers (ek_*_s16*.c) --------------------------- */
/* int16 activations (zero point 0, so the params' input_offset and output_offset are 0 and
 * not read), int8 weights (per channel or per tensor, zero point 0), int64 bias or NULL. The
 * accumulators are int64, as in TFLite's reference_integer_ops for int16. CONV_2D,
 * DEPTHWISE_CONV_2D and TRANSPOSE_CONV requantize with ek_multiply_by_quantized_multiplier_s64,
 * FULLY_CONNECTED with ek_multiply_by_double_scale_s64; act_min/act_max are in int16 units. */

/* TFLite's MultiplyByQuantizedMultiplier for an int64 accumulator: the Q31 multiplier rounded
 * to 16 bits (half up; 0x7FFF at the top), then one rounding right shift by 15 - shift (half
 * up). The 64-bit product wraps and the result is truncated to 32 bits, as TFLite's is. */
static inline int32_t ek_multiply_by_quantized_multiplier_s64(int64_t x, int32_t multiplier,
                                                              int32_t shift)
{
    const int64_t reduced =
        multiplier < 0x7FFF0000 ? ((int64_t)multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int32_t total_shift = 15 - shift;
    const uint64_t sum = (uint64_t)x * (uint64_t)reduced + ((uint64_t)1 << (total_shift - 1));
    return (int32_t)(uint32_t)(uint64_t)((int64_t)sum >> total_shift);
}

/* round(acc * scale) as C computes it in double for an int64 acc (LiteRT's reference
 * FULLY_CONNECTED for int16): acc converted to double (rounded to 53 significant bits, ties to
 * even), the product rounded to 53 bits (ties to even), then to an integer (ties away from
 * zero); scale = mantissa * 2^exponent exactly (fixedpoint.exact_double). Results beyond the
 * int32 range saturate. Integer arithmetic only. */
static inline int32_t ek_multiply_by_double_scale_s64(int64_t acc, int64_t mantissa,
                                                      int32_t exponent)
{
    uint64_t a = acc < 0 ? (uint64_t)0 - (uint64_t)acc : (uint64_t)acc;
    const uint64_t m = (uint64_t)mantissa;
    uint64_t a_lo, a_hi, m_lo, m_hi, ll, lh, hl, hh, mid, lo, hi, q, n;
    int32_t e = exponent, bits, dropped, g;

    if (a == 0 || m == 0) {
        return 0;
    }
    bits = ek_bit_length(a);
    if (bits > 53) { /* (double)acc */
        const int32_t d = bits - 53;
        const uint64_t rest = a & (((uint64_t)1 << d) - 1), half = (uint64_t)1 << (d - 1);
        a >>= d;
        if (rest > half || (rest == half && (a & 1u) != 0)) {
            ++a;
        }
        e += d;
    }
    /* the exact product a * m (< 2^107) as hi:lo */
    a_lo = a & 0xFFFFFFFFu, a_hi = a >> 32, m_lo = m & 0xFFFFFFFFu, m_hi = m >> 32;
    ll = a_lo * m_lo, lh = a_lo * m_hi, hl = a_hi * m_lo, hh = a_hi * m_hi;
    mid = (ll >> 32) + (lh & 0xFFFFFFFFu) + (hl & 0xFFFFFFFFu);
    lo = (ll & 0xFFFFFFFFu) | (mid << 32);
    hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    bits = hi != 0 ? 64 + ek_bit_length(hi) : ek_bit_length(lo);
    dropped = bits > 53 ? bits - 53 : 0; /* at most 54 */
    q = lo;
    if (dropped > 0) { /* round to 53 bits, ties to even */
        const uint64_t rest = lo & (((uint64_t)1 << dropped) - 1);
        const uint64_t half = (uint64_t)1 << (dropped - 1);
        q = (lo >> dropped) | (hi << (64 - dropped));
        if (rest > half || (rest == half && (q & 1u) != 0)) {
            ++q;
        }
    }
    g = -(e + dropped); /* the rounded product is q / 2^g, q >= 2^52 */
    if (g <= 0) {
        n = INT32_MAX;
    } else if (g > 55) {
        n = 0;
    } else {
        n = (q >> g) + ((q >> (g - 1)) & 1u); /* ties away from zero */
    }
    if (n > INT32_MAX) {
        n = INT32_MAX;
    }
    return acc < 0 ? -(int32_t)n : (int32_t)n;
}

/* CONV_2D, 16x8 (ek_conv2d_s16.c); the dilated one as its int8 counterpart. */
void ek_conv2d_s16_ref(const ek_conv_params *params, const ek_channel_quant *quant,
                       const int16_t *input, const int8_t *filter, const int64_t *bias,
                       int16_t *output);
void ek_conv2d_dilated_s16_ref(const ek_dilated_conv_params *params,
                               const ek_channel_quant *quant, const int16_t *input,
                               const int8_t *filter, const int64_t *bias, int16_t *output);

/* DEPTHWISE_CONV_2D, 16x8 (ek_depthwise_conv2d_s16.c); never in place. */
void ek_depthwise_conv2d_s16_ref(const ek_depthwise_conv_params *params,
                                 const ek_channel_quant *quant, const int16_t *input,
                                 const int8_t *filter, const int64_t *bias, int16_t *output);
void ek_depthwise_conv2d_dilated_s16_ref(const ek_dilated_depthwise_conv_params *params,
                                         const ek_channel_quant *quant, const int16_t *input,
                                         const int8_t *filter, const int64_t *bias,
                                         int16_t *output);

/* FULLY_CONNECTED, 16x8 (ek_fully_connected_s16.c): int64 accumulators rescaled in double as
 * LiteRT's reference kernel does (ek_multiply_by_double_scale_s64). */
void ek_fully_connected_s16_ref(const ek_fully_connected_params *params,
                                const ek_double_scale *scale, const int16_t *input,
                                const int8_t *filter, const int64_t *bias, int16_t *output);

/* The 16x8 dot-product kernels for cores with the DSP extension (ek_dot_s16_dsp.c: SMLALD,
 * weights in layouts.pairs order) and with Helium (ek_dot_s16_mve.c: VMLALDAVA.S16, weights as
 * stored). The 1x1 ones need a 1x1 filter and stride 1; the im2col ones any undilated window,
 * their scratch holding filter_h * filter_w * input_c int16 (one output pixel's window). */
void ek_fully_connected_s16_dsp(const ek_fully_connected_params *params,
                                const ek_double_scale *scale, const int16_t *input,
                                const int8_t *filter, const int64_t *bias, int16_t *output);
void ek_conv2d_1x1_s16_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                           const int16_t *input, const int8_t *filter, const int64_t *bias,
                           int16_t *output);
void ek_conv2d_im2col_s16_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                              const int16_t *input, const int8_t *filter, const int64_t *bias,
                              int16_t *output, void *scratch);
void ek_fully_connected_s16_mve(const ek_fully_connected_params *params,
                                const ek_double_scale *scale, const int16_t *input,
                                const int8_t *filter, const int64_t *bias, int16_t *output);
void ek_conv2d_1x1_s16_mve(const ek_conv_params *params, const ek_channel_quant *quant,
                           const int16_t *input, const int8_t *filter, const int64_t *bias,
                           int16_t *output);
void ek_conv2d_im2col_s16_mve(const ek_conv_params *params, const ek_channel_quant *quant,
                              const int16_t *input, const int8_t *filter, const int64_t *bias,
                              int16_t *output, void *scratch);

/* TRANSPOSE_CONV, 16x8 with an int64 bias or none, gathered per output pixel (no scratch),
 * in the same files: DSP weights paired tap by tap (layouts.pairs), MVE weights as stored. */
void ek_transpose_conv_s16_dsp(const ek_transpose_conv_params *params,
                               const ek_channel_quant *quant, const int16_t *input,
                               const int8_t *filter, const int64_t *bias, int16_t *output);
void ek_transpose_conv_s16_mve(const ek_transpose_conv_params *params,
                               const ek_channel_quant *quant, const int16_t *input,
                               const int8_t *filter, const int64_t *bias, int16_t *output);

/* DEPTHWISE_CONV_2D, 16x8, depth multiplier 1, at most 511 taps (their sum fits in int32),
 * undilated, for cores with the DSP extension (ek_depthwise_conv2d_s16_dsp.c) and with Helium
 * (ek_depthwise_conv2d_s16_mve.c); never in place. */
void ek_depthwise_conv2d_s16_dsp(const ek_depthwise_conv_params *params,
                                 const ek_channel_quant *quant, const int16_t *input,
                                 const int8_t *filter, const int64_t *bias, int16_t *output);
void ek_depthwise_conv2d_s16_mve(const ek_depthwise_conv_params *params,
                                 const ek_channel_quant *quant, const int16_t *input,
                                 const int8_t *filter, const int64_t *bias, int16_t *output);

/* TRANSPOSE_CONV, 16x8 (ek_transpose_conv_s16.c): scratch holds output_h * output_w *
 * output_c int64 accumulators (8 bytes each, read and written with memcpy: the arena aligns
 * to 4 bytes), int32 ones for the _b32 kernel. */
void ek_transpose_conv_s16_ref(const ek_transpose_conv_params *params,
                               const ek_channel_quant *quant, const int16_t *input,
                               const int8_t *filter, const int64_t *bias, int16_t *output,
                               void *scratch);

/* The 16x8 kernels of a layer with an int32 bias (TFLite's quantized_bias_type INT32: the
 * accumulators are int32, wrapping; CONV_2D and TRANSPOSE_CONV requantize with the 32-bit
 * ek_multiply_by_quantized_multiplier, FULLY_CONNECTED with ek_multiply_by_double_scale).
 * TFLite's DEPTHWISE_CONV_2D takes no int32 bias in 16x8. */
void ek_conv2d_b32_s16_ref(const ek_conv_params *params, const ek_channel_quant *quant,
                           const int16_t *input, const int8_t *filter, const int32_t *bias,
                           int16_t *output);
void ek_conv2d_b32_dilated_s16_ref(const ek_dilated_conv_params *params,
                                   const ek_channel_quant *quant, const int16_t *input,
                                   const int8_t *filter, const int32_t *bias, int16_t *output);
void ek_fully_connected_b32_s16_ref(const ek_fully_connected_params *params,
                                    const ek_double_scale *scale, const int16_t *input,
                                    const int8_t *filter, const int32_t *bias, int16_t *output);
void ek_transpose_conv_b32_s16_ref(const ek_transpose_conv_params *params,
                                   const ek_channel_quant *quant, const int16_t *input,
                                   const int8_t *filter, const int32_t *bias, int16_t *output,
                                   void *scratch);

/* ---- float32 reference kernels (ek_*_f32.c) ------------------------------------------------
 * The float model's kernels, for the float32 figures a build reports beside the int8 ones: the
 * arithmetic of TFLite's reference float kernels (sums in float32, in their order; bias added
 * after the sum; fused activations as clamps), plain loops, no tuning. Equal to LiteRT's float
 * results to within float rounding (exp and tanh are edgekit's own, without libm). */

/* A fused activation as float clamp bounds (-FLT_MAX and FLT_MAX for none). */
typedef struct {
    float min, max;
} ek_f32_range;

/* CONV_2D and DEPTHWISE_CONV_2D; a tap at (y0 + ky * dilation_h, x0 + kx * dilation_w) outside
 * the input reads nothing. depth_multiplier is DEPTHWISE_CONV_2D's (output_c = input_c * it). */
typedef struct {
    int32_t input_h, input_w, input_c;
    int32_t output_h, output_w, output_c;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t depth_multiplier;
    ek_f32_range act;
} ek_conv_f32_params;

/* filter: CONV_2D [output_c][filter_h][filter_w][input_c], DEPTHWISE_CONV_2D
 * [filter_h][filter_w][output_c]; bias may be NULL. */
void ek_conv2d_f32_ref(const ek_conv_f32_params *params, const float *input, const float *filter,
                       const float *bias, float *output);
void ek_depthwise_conv2d_f32_ref(const ek_conv_f32_params *params, const float *input,
                                 const float *filter, const float *bias, float *output);

typedef struct {
    int32_t batches, input_depth, output_depth;
    ek_f32_range act;
} ek_fully_connected_f32_params;

/* filter [output_depth][input_depth]; bias may be NULL. */
void ek_fully_connected_f32_ref(const ek_fully_connected_f32_params *params, const float *input,
                                const float *filter, const float *bias, float *output);

/* Binary ops with broadcasting (ek_binary_f32.c), up to 6-D: ek_binary_params' strides; the
 * output may alias an input of the output's shape. */
#define EK_F32_RANK 6
typedef struct {
    int32_t dims[EK_F32_RANK];                         /* output dims, padded with leading 1s */
    int32_t strides1[EK_F32_RANK], strides2[EK_F32_RANK]; /* 0 along broadcast axes */
    ek_f32_range act;
} ek_binary_f32_params;

void ek_add_f32_ref(const ek_binary_f32_params *params, const float *input1, const float *input2,
                    float *output);
void ek_sub_f32_ref(const ek_binary_f32_params *params, const float *input1, const float *input2,
                    float *output);
void ek_mul_f32_ref(const ek_binary_f32_params *params, const float *input1, const float *input2,
                    float *output);
void ek_maximum_f32_ref(const ek_binary_f32_params *params, const float *input1,
                        const float *input2, float *output);
void ek_minimum_f32_ref(const ek_binary_f32_params *params, const float *input1,
                        const float *input2, float *output);
void ek_squared_difference_f32_ref(const ek_binary_f32_params *params, const float *input1,
                                   const float *input2, float *output);

/* AVERAGE_POOL_2D and MAX_POOL_2D (ek_pool_f32.c): the average over the window's positions
 * inside the input. */
typedef struct {
    int32_t input_h, input_w, channels;
    int32_t output_h, output_w;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    ek_f32_range act;
} ek_pool_f32_params;

void ek_avg_pool2d_f32_ref(const ek_pool_f32_params *params, const float *input, float *output);
void ek_max_pool2d_f32_ref(const ek_pool_f32_params *params, const float *input, float *output);

/* MEAN, SUM and REDUCE_MAX over any axes (ek_reduce_f32.c), ek_reduce_params' geometry: the
 * sum of each output's inputs in the input's order (MEAN divides it by count). */
typedef struct {
    int32_t outer[4], outer_strides[4];
    int32_t inner[4], inner_strides[4];
    int32_t count;
} ek_reduce_f32_params;

void ek_reduce_mean_f32_ref(const ek_reduce_f32_params *params, const float *input,
                            float *output);
void ek_reduce_sum_f32_ref(const ek_reduce_f32_params *params, const float *input,
                           float *output);
void ek_reduce_max_f32_ref(const ek_reduce_f32_params *params, const float *input,
                           float *output);

/* Element-wise ops (ek_activation_f32.c); the output may alias the input. clamp runs RELU,
 * RELU6 and RELU_N1_TO_1 (bounds in act); alpha is LEAKY_RELU's. */
typedef struct {
    int32_t size;
    ek_f32_range act;
    float alpha;
} ek_unary_f32_params;

void ek_clamp_f32_ref(const ek_unary_f32_params *params, const float *input, float *output);
void ek_logistic_f32_ref(const ek_unary_f32_params *params, const float *input, float *output);
void ek_tanh_f32_ref(const ek_unary_f32_params *params, const float *input, float *output);
void ek_hard_swish_f32_ref(const ek_unary_f32_params *params, const float *input,
                           float *output);
void ek_leaky_relu_f32_ref(const ek_unary_f32_params *params, const float *input, float *output);

/* SOFTMAX along the last axis of [rows, depth], exp((x - max) * beta) / sum. */
typedef struct {
    int32_t rows, depth;
    float beta;
} ek_softmax_f32_params;

void ek_softmax_f32_ref(const ek_softmax_f32_params *params, const float *input, float *output);

/* The data-movement ops on float32 elements (ek_copy_f32.c): ek_strided_copy_params,
 * ek_concatenation_params as for int8; PAD with a float value. */
typedef struct {
    int32_t input_dims[4];
    int32_t before[4];
    int32_t after[4];
    float pad_value;
} ek_pad_f32_params;

void ek_strided_copy_f32_ref(const ek_strided_copy_params *params, const float *input,
                             float *output);
void ek_concatenation_f32_ref(const ek_concatenation_params *params, const float *input,
                              float *output);
void ek_pad_f32_ref(const ek_pad_f32_params *params, const float *input, float *output);

/* TRANSPOSE_CONV in float32 (ek_transpose_conv_f32.c): ek_transpose_conv_params' geometry (its
 * offsets unused), filter [output_c][filter_h][filter_w][input_c], bias NULL or output_c. */
void ek_transpose_conv_f32_ref(const ek_transpose_conv_params *params, const float *input,
                               const float *filter, const float *bias, float *output);

#endif /* EK_KERNELS_H */
