/* BATCH_MATMUL of two int8 tensors: TFLite's reference_ops::BatchMatMul, int32 sums of
 * (lhs - its zero point) * (rhs - its zero point) over the depth, requantized with one Q31
 * multiplier. adj_x and adj_y are strides (the host swaps them for a transposed operand), and
 * batch dimensions an operand is broadcast along have stride 0. */
#include "ek_kernels.h"

void ek_batch_matmul_s8_ref(const ek_batch_matmul_params *params, const int8_t *lhs,
                            const int8_t *rhs, int8_t *output)
{
    const ek_batch_matmul_params *p = params;
    int32_t a, b, c, row, col, k;

    for (a = 0; a < p->batches[0]; ++a) {
        for (b = 0; b < p->batches[1]; ++b) {
            for (c = 0; c < p->batches[2]; ++c) {
                const int8_t *x = lhs + a * p->lhs_batch_strides[0] +
                                  b * p->lhs_batch_strides[1] + c * p->lhs_batch_strides[2];
                const int8_t *y = rhs + a * p->rhs_batch_strides[0] +
                                  b * p->rhs_batch_strides[1] + c * p->rhs_batch_strides[2];
                for (row = 0; row < p->rows; ++row) {
                    for (col = 0; col < p->cols; ++col) {
                        int32_t acc = 0;
                        for (k = 0; k < p->depth; ++k) {
                            const int32_t u = (int32_t)x[row * p->lhs_row_stride +
                                                         k * p->lhs_depth_stride] +
                                              p->lhs_offset;
                            const int32_t v = (int32_t)y[k * p->rhs_depth_stride +
                                                         col * p->rhs_col_stride] +
                                              p->rhs_offset;
                            acc += u * v;
                        }
                        acc = ek_multiply_by_quantized_multiplier(acc, p->multiplier, p->shift);
                        *output++ = (int8_t)ek_clamp(acc + p->output_offset, INT8_MIN, INT8_MAX);
                    }
                }
            }
        }
    }
}
