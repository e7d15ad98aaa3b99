/* The data-movement ops: TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK and UNPACK as one
 * strided copy each (one per output of SPLIT, SPLIT_V and UNPACK, one per input of PACK), of
 * int8 or (16x8) int16 elements. TFLite's reference kernels for them move values without
 * rescaling; the host computes which element goes where (edgekit/compiler/oprules.py,
 * copy_views) and the loop only walks it. */
#include "ek_kernels.h"

/* One loop for both element types: T is a constant in each caller, which gets its own
 * specialized copy. */
#define EK_STRIDED_COPY(T)                                                                       \
    {                                                                                            \
        const int32_t *n = params->dims;                                                         \
        const int32_t *si = params->input_strides;                                               \
        const int32_t *so = params->output_strides;                                              \
        int32_t i0, i1, i2, i3, i4, i5;                                                          \
        for (i0 = 0; i0 < n[0]; ++i0) {                                                          \
            for (i1 = 0; i1 < n[1]; ++i1) {                                                      \
                for (i2 = 0; i2 < n[2]; ++i2) {                                                  \
                    for (i3 = 0; i3 < n[3]; ++i3) {                                              \
                        for (i4 = 0; i4 < n[4]; ++i4) {                                          \
                            const int32_t a = params->input_start + i0 * si[0] + i1 * si[1] +    \
                                              i2 * si[2] + i3 * si[3] + i4 * si[4];              \
                            const int32_t b = params->output_start + i0 * so[0] + i1 * so[1] +   \
                                              i2 * so[2] + i3 * so[3] + i4 * so[4];              \
                            const T *src = input + a;                                            \
                            T *dst = output + b;                                                 \
                            if (si[5] == 1 && so[5] == 1) {                                      \
                                for (i5 = 0; i5 < n[5]; ++i5) {                                  \
                                    dst[i5] = src[i5];                                           \
                                }                                                                \
                            } else {                                                             \
                                for (i5 = 0; i5 < n[5]; ++i5) {                                  \
                                    dst[i5 * so[5]] = src[i5 * si[5]];                           \
                                }                                                                \
                            }                                                                    \
                        }                                                                        \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }

void ek_strided_copy_s8_ref(const ek_strided_copy_params *params, const int8_t *input,
                            int8_t *output)
EK_STRIDED_COPY(int8_t)

void ek_strided_copy_s16_ref(const ek_strided_copy_params *params, const int16_t *input,
                             int16_t *output)
EK_STRIDED_COPY(int16_t)
