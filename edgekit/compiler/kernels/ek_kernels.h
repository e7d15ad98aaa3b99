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

/* CONCATENATION, one call per input: the output is outer rows of output_row bytes; this
 * input's row of input_row bytes (its size along the axis times the size of the axes after
 * it) goes output_start bytes into each output row. Every input has the output's scale and
 * zero point (TFLite's int8 kernel requires it): a copy. */
typedef struct {
    int32_t outer;        /* product of the dimensions before the axis */
    int32_t input_row;    /* bytes of one row of this input */
    int32_t output_row;   /* bytes of one row of the output */
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
    int32_t pad_value;     /* value of the added elements (int8 range) */
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

/* ---- variants for cores with the DSP extension (ek_*_dsp.c; Arm only) ---------------------- */

/* CONV_2D with a 1x1 filter and stride 1; bias is the folded bias (bias + input_offset * the sum
 * of each output channel's weights, never NULL) and params->input_offset is not read. */
void ek_conv2d_1x1_s8_dsp(const ek_conv_params *params, const ek_channel_quant *quant,
                          const int8_t *input, const int8_t *filter, const int32_t *bias,
                          int8_t *output);

/* CONV_2D, any window, through im2col: scratch holds output_w * filter_h * filter_w * input_c
 * bytes (in the arena); bias is the folded bias, as for ek_conv2d_1x1_s8_dsp. */
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
 * weights, never NULL) and params->input_offset and filter_offset (0) are not read. */
void ek_fully_connected_s8_dsp(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, int8_t *output);

/* FULLY_CONNECTED for cores with Helium (MVE, ek_fully_connected_mve.c); bias is the folded
 * bias, as for ek_fully_connected_s8_dsp. */
void ek_fully_connected_s8_mve(const ek_fully_connected_params *params,
                               const ek_double_scale *scale, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, int8_t *output);

/* MEAN over height and width. */
void ek_mean_hw_s8_dsp(const ek_mean_params *params, const int8_t *input, int8_t *output);

/* MEAN over height and width, for cores with Helium (MVE, ek_mean_mve.c). */
void ek_mean_hw_s8_mve(const ek_mean_params *params, const int8_t *input, int8_t *output);

/* DEPTHWISE_CONV_2D with a 3x3 filter and depth multiplier 1; filter blocked as [C / 4][9][4]
 * then [9][C % 4]; bias is the folded bias, as for ek_conv2d_1x1_s8_dsp. Same in-place rule as
 * the reference kernel. */
void ek_depthwise_conv2d_3x3_s8_dsp(const ek_depthwise_conv_params *params,
                                    const ek_channel_quant *quant, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, int8_t *output);

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

#endif /* EK_KERNELS_H */
