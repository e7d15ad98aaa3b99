/* DEPTHWISE_CONV_2D with a 3x3 filter, depth multiplier 1, for cores with Helium (MVE).
 * Sixteen channels at a time, in the lanes: a tap is one 16-byte load of the input and one of
 * the weights, and VMULLB.S8 / VMULLT.S8 multiply the even and the odd channels into 16-bit
 * products. Two taps' products are summed in 16 bits (|x * w| <= 128 * 127: TFLite's int8
 * weights lie in [-127, 127], so two products fit) before VMOVLB / VMOVLT widen them into four
 * 32-bit accumulators; accumulator r then holds channel 4 * i + r in lane i. The four are
 * requantized as ek_mve_requantize_as does and narrowed back into channel order by two
 * saturating narrowings to 16 bits (the output offset is added there, saturating) and one to
 * 8, so that a block's 16 bytes are one store.
 *
 * Everything but the input comes in one int32 array laid out at build time
 * (codegen.lanes16_depthwise), 100 words per block of 16 channels: the folded bias, the
 * multipliers, the left and the right shifts, four vectors each in the accumulators' lane
 * order, then the block's weights [9][16]; the channels are zero-padded to whole blocks. After
 * the blocks come 16 bytes of the input zero point per block, which a tap in the padding reads
 * (so that a border pixel runs the same code as the others), then a word of the requantization
 * steps the shifts need.
 *
 * The usual layer (right shifts only, the int8 range, 16 channels or more) runs its whole
 * blocks in an asm loop, 126 instructions a block (0.875 per MAC), 118 (0.82) where the output
 * offset is -128, as after a ReLU or ReLU6: there TFLite's nudge of negative ties is left out,
 * since every negative product gives the output -128 however it rounds. The usual layer's
 * last, partial block and the border pixels of the paired 8-channel layer run the same asm one
 * block at a time, its loads and store predicated; any other layer (and every layer of an
 * unoptimized build) runs the same arithmetic through intrinsics. Output rows are written in
 * order and row y reads input rows from y * stride - pad_top on, so the reference kernel's
 * in-place rule holds. */
#include <stddef.h>

#include "ek_mve.h"

/* The asm needs GCC's extended asm and nearly every register: no frame pointer (-O1 and up). */
#if defined(__GNUC__) && defined(__OPTIMIZE__)
#define EK_DW_ASM 1
#else
#define EK_DW_ASM 0
#endif

#define EK_DW_BLOCK 16   /* channels per block */
#define EK_DW_RECORD 100 /* int32 per block: bias, multiplier, left, right [4][4][4]; weights */
#define EK_DW_WEIGHTS 64 /* int32 offset of a block's weights */

/* What every pixel of a layer shares. */
typedef struct {
    int32_t full;     /* whole blocks */
    int32_t tail;     /* channels in the last, partial block (0: none) */
    int32_t offset;   /* output offset */
    int up;           /* it is -128: no nudge of negative ties (EK_DW_ASM_SCALE_UP says why) */
    int usual;        /* right shifts only and the int8 range: the asm's arithmetic */
    int8x16_t lo, hi; /* clamp bounds */
} ek_dw_layer;

/* ---------------------------------------------------------------- one block, any layer */

/* acc_r += the widened 16-bit sums e (even channels) and o (odd channels). */
#define EK_DW_WIDEN(e, o)                                                                       \
    do {                                                                                        \
        a0 = vaddq_s32(a0, vmovlbq_s16(e));                                                     \
        a2 = vaddq_s32(a2, vmovltq_s16(e));                                                     \
        a1 = vaddq_s32(a1, vmovlbq_s16(o));                                                     \
        a3 = vaddq_s32(a3, vmovltq_s16(o));                                                     \
    } while (0)

#define EK_DW_X(p) (tail ? vldrbq_z_s8((p), pred) : vldrbq_s8(p))

/* Keeps GCC from hoisting every load of a block ahead of the arithmetic, which needs more
 * registers than there are and spills: each pair of taps is loaded where it is used. */
#if defined(__GNUC__)
#define EK_DW_ORDER() __asm__ volatile("" ::: "memory")
#else
#define EK_DW_ORDER() ((void)0)
#endif

/* acc_r += two taps' products (taps a and b, their weights at w + 16 * k, w + 16 * (k + 1)). */
#define EK_DW_PAIR(a, b, k)                                                                     \
    do {                                                                                        \
        const int8x16_t xa_ = EK_DW_X(a), wa_ = vldrbq_s8(w + 16 * (k));                        \
        const int8x16_t xb_ = EK_DW_X(b), wb_ = vldrbq_s8(w + 16 * (k) + 16);                   \
        EK_DW_WIDEN(vaddq_s16(vmullbq_int_s8(xa_, wa_), vmullbq_int_s8(xb_, wb_)),              \
                    vaddq_s16(vmulltq_int_s8(xa_, wa_), vmulltq_int_s8(xb_, wb_)));             \
    } while (0)

/* ek_mve_requantize_as for any layer up to the rounding shift (rec: the accumulator's bias;
 * up: the negative ties' nudge left out). */
static EK_INLINE int32x4_t ek_dw_scale(int32x4_t acc, const int32_t *rec, int up)
{
    const int32x4_t right = vldrwq_s32(rec + 48);
    const int32x4_t t = vqrdmulhq_s32(vshlq_s32(acc, vldrwq_s32(rec + 32)), vldrwq_s32(rec + 16));
    return vrshlq_s32(up ? t : vaddq_s32(t, vshrq_n_s32(vandq_s32(t, right), 31)), right);
}

/* One block of one pixel, its taps at t[0..8] and its record at rec (tail: only the first
 * lanes of pred are channels; the input loads and the store are predicated). */
static EK_INLINE void ek_dw_block(const int8_t *const *t, const int32_t *rec, int8_t *out,
                                  const ek_dw_layer *l, int tail, mve_pred16_t pred)
{
    const int8_t *w = (const int8_t *)(rec + EK_DW_WEIGHTS);
    int32x4_t a0 = vldrwq_s32(rec), a1 = vldrwq_s32(rec + 4);
    int32x4_t a2 = vldrwq_s32(rec + 8), a3 = vldrwq_s32(rec + 12);
    int16x8_t even, odd;
    int8x16_t y;
    EK_DW_PAIR(t[0], t[1], 0);
    EK_DW_ORDER();
    EK_DW_PAIR(t[2], t[3], 2);
    EK_DW_ORDER();
    EK_DW_PAIR(t[4], t[5], 4);
    EK_DW_ORDER();
    EK_DW_PAIR(t[6], t[7], 6);
    EK_DW_ORDER();
    {
        const int8x16_t x = EK_DW_X(t[8]), w8 = vldrbq_s8(w + 128);
        EK_DW_WIDEN(vmullbq_int_s8(x, w8), vmulltq_int_s8(x, w8));
    }
    /* back in channel order: accumulator r lane i is channel 4 * i + r. Saturating to 16 bits,
     * adding the offset there with saturation and saturating to 8 bits clamps the 32-bit sum
     * plus the offset to the int8 range. */
    even = vqmovnbq_s32(vreinterpretq_s16_s32(a0), ek_dw_scale(a0, rec, l->up));
    even = vqmovntq_s32(even, ek_dw_scale(a2, rec + 8, l->up));
    odd = vqmovnbq_s32(vreinterpretq_s16_s32(a1), ek_dw_scale(a1, rec + 4, l->up));
    odd = vqmovntq_s32(odd, ek_dw_scale(a3, rec + 12, l->up));
    even = vqaddq_n_s16(even, (int16_t)l->offset);
    odd = vqaddq_n_s16(odd, (int16_t)l->offset);
    y = vqmovntq_s16(vqmovnbq_s16(vreinterpretq_s8_s16(even), even), odd);
    y = vminq_s8(vmaxq_s8(y, l->lo), l->hi);
    if (tail) {
        vstrbq_p_s8(out, y, pred);
    } else {
        vstrbq_s8(out, y);
    }
}

#if EK_DW_ASM
static void ek_dw_block_asm(const int8_t *const *t, const int32_t *rec, int8_t *out,
                            int32_t offset, int up, uint32_t pred);
#endif

/* The same, not inlined: `lanes` channels (16 for a whole block); the usual layer's block in
 * asm. */
static void ek_dw_block_at(const int8_t *const *t, const int32_t *rec, int8_t *out,
                           const ek_dw_layer *l, int32_t lanes)
{
#if EK_DW_ASM
    if (l->usual) {
        const uint32_t pred = lanes == EK_DW_BLOCK ? 0xFFFFu : vctp8q((uint32_t)lanes);
        ek_dw_block_asm(t, rec, out, l->offset, l->up, pred);
        return;
    }
#endif
    if (lanes == EK_DW_BLOCK) {
        ek_dw_block(t, rec, out, l, 0, 0);
    } else {
        ek_dw_block(t, rec, out, l, 1, vctp8q((uint32_t)lanes));
    }
}

/* ---------------------------------------------------------------- pixels, any layer */

/* One output row's geometry: row[ky] starts input row y0 + ky and step[ky] is the bytes of a
 * pixel there (the zero point's run and 0 for a row in the padding). */
typedef struct {
    const int8_t *row[3];
    int32_t step[3];
} ek_dw_rows;

/* Window row ky's three taps for the window starting at column x0, into t; inside: the
 * window lies inside the input's columns. */
#define EK_DW_TAPS3(t, r, ky, x0, in_w, zero, inside)                                           \
    do {                                                                                        \
        const int8_t *row_ = (r)->row[ky];                                                      \
        const int32_t step_ = (r)->step[ky];                                                    \
        if (inside) {                                                                           \
            (t)[0] = row_ + (x0) * step_;                                                       \
            (t)[1] = (t)[0] + step_;                                                            \
            (t)[2] = (t)[1] + step_;                                                            \
        } else {                                                                                \
            (t)[0] = (x0) >= 0 && (x0) < (in_w) ? row_ + (x0) * step_ : (zero);                 \
            (t)[1] = (x0) + 1 >= 0 && (x0) + 1 < (in_w) ? row_ + ((x0) + 1) * step_ : (zero);   \
            (t)[2] = (x0) + 2 >= 0 && (x0) + 2 < (in_w) ? row_ + ((x0) + 2) * step_ : (zero);   \
        }                                                                                       \
    } while (0)

static EK_INLINE void ek_dw_taps(const int8_t **t, const ek_dw_rows *r, int32_t x0,
                                 int32_t in_w, const int8_t *zero, int inside)
{
    EK_DW_TAPS3(t, r, 0, x0, in_w, zero, inside);
    EK_DW_TAPS3(t + 3, r, 1, x0, in_w, zero, inside);
    EK_DW_TAPS3(t + 6, r, 2, x0, in_w, zero, inside);
}

/* Every channel of `count` pixels of a row from out on, the first one's taps at t; between
 * pixels row ky's taps move on by stride * step[ky]. */
static int8_t *ek_dw_pixels(const int8_t **t, const ek_dw_rows *r, const int32_t *records,
                            int8_t *out, int32_t count, int32_t stride, const ek_dw_layer *l)
{
    int32_t b, k;
    for (; count > 0; --count) {
        const int32_t *rec = records;
        const int8_t *x[9];
        for (k = 0; k < 9; ++k) {
            x[k] = t[k];
            t[k] += stride * r->step[k / 3];
        }
        for (b = 0; b < l->full; ++b, rec += EK_DW_RECORD, out += EK_DW_BLOCK) {
            ek_dw_block_at(x, rec, out, l, EK_DW_BLOCK);
            for (k = 0; k < 9; ++k) {
                x[k] += EK_DW_BLOCK;
            }
        }
        if (l->tail) {
            ek_dw_block_at(x, rec, out, l, l->tail);
            out += l->tail;
        }
    }
    return out;
}

/* ---------------------------------------------------------------- the usual layer, in asm */

#if EK_DW_ASM
/* The whole blocks of a row's segments (runs of pixels whose taps move on alike) in one asm
 * loop: GCC's schedule of the intrinsics hoists the loads and spills. q0..q3 are the
 * accumulators, q4..q7 scratch (VMULL.S8 may write one of its sources); a pair's second input
 * is loaded twice so that both taps' products fit in the scratch registers. r0..r8 are the nine
 * tap pointers, one LDM per segment; the record pointer walks the constants with offsets and
 * the weights with post-increments; the rest waits in memory. */
#define EK_DW_ASM_WIDEN                                                                         \
    "vmovlb.s16 q4, q6\n\t"                                                                     \
    "vadd.i32 q0, q0, q4\n\t"                                                                   \
    "vmovlt.s16 q4, q6\n\t"                                                                     \
    "vadd.i32 q2, q2, q4\n\t"                                                                   \
    "vmovlb.s16 q4, q7\n\t"                                                                     \
    "vadd.i32 q1, q1, q4\n\t"                                                                   \
    "vmovlt.s16 q4, q7\n\t"                                                                     \
    "vadd.i32 q3, q3, q4\n\t"
#define EK_DW_ASM_PAIR(a, b)                                                                    \
    "vldrb.8 q4, [" a "], #16\n\t"                                                              \
    "vldrb.8 q5, [%[rec]], #16\n\t"                                                             \
    "vmullb.s8 q6, q4, q5\n\t"                                                                  \
    "vmullt.s8 q7, q4, q5\n\t"                                                                  \
    "vldrb.8 q4, [" b "]\n\t"                                                                   \
    "vldrb.8 q5, [%[rec]], #16\n\t"                                                             \
    "vmullb.s8 q4, q4, q5\n\t"                                                                  \
    "vadd.i16 q6, q6, q4\n\t"                                                                   \
    "vldrb.8 q4, [" b "], #16\n\t"                                                              \
    "vmullt.s8 q4, q4, q5\n\t"                                                                  \
    "vadd.i16 q7, q7, q4\n\t" EK_DW_ASM_WIDEN
/* After the weights the record pointer is at the next block: multiplier r at -336 + 16 r,
 * right shift r at -208 + 16 r. */
#define EK_DW_ASM_SCALE(q, m, r)                                                                \
    "vldrw.32 q4, [%[rec], #" #m "]\n\t"                                                        \
    "vqrdmulh.s32 " q ", " q ", q4\n\t"                                                         \
    "vshr.s32 q4, " q ", #31\n\t"                                                               \
    "vadd.i32 " q ", " q ", q4\n\t"                                                             \
    "vldrw.32 q4, [%[rec], #" #r "]\n\t"                                                        \
    "vrshl.s32 " q ", " q ", q4\n\t"
/* The same without lowering a negative product by one before the rounding shift (the nudge
 * that makes its ties round away from zero), for a layer whose output offset is -128: there a
 * negative product rounds to 0 or below either way, and its output saturates to -128. */
#define EK_DW_ASM_SCALE_UP(q, m, r)                                                             \
    "vldrw.32 q4, [%[rec], #" #m "]\n\t"                                                        \
    "vqrdmulh.s32 " q ", " q ", q4\n\t"                                                         \
    "vldrw.32 q4, [%[rec], #" #r "]\n\t"                                                        \
    "vrshl.s32 " q ", " q ", q4\n\t"
/* The four accumulators rescaled and back in channel order in q6 (accumulator r lane i is
 * channel 4 * i + r): narrowed to 16 bits with saturation, the offset added with saturation,
 * narrowed to 8 bits with saturation, which clamps the 32-bit sum plus the offset to int8. */
#define EK_DW_ASM_OUT                                                                           \
    EK_DW_ASM_SCALE("q0", -336, -208) EK_DW_ASM_SCALE("q1", -320, -192)                         \
    EK_DW_ASM_SCALE("q2", -304, -176) EK_DW_ASM_SCALE("q3", -288, -160)                         \
    "vqmovnb.s32 q4, q0\n\t"                                                                    \
    "vqmovnt.s32 q4, q2\n\t"                                                                    \
    "vqmovnb.s32 q5, q1\n\t"                                                                    \
    "vqmovnt.s32 q5, q3\n\t"                                                                    \
    "vqadd.s16 q4, q4, %[off]\n\t"                                                              \
    "vqadd.s16 q5, q5, %[off]\n\t"                                                              \
    "vqmovnb.s16 q6, q4\n\t"                                                                    \
    "vqmovnt.s16 q6, q5\n\t"
/* The same for the offset -128: a sum r gives -128 for r <= 0, r - 128 up to 255 and 127
 * beyond, which is r saturated to uint8 (to uint16, then to uint8) plus -128 modulo 256. */
#define EK_DW_ASM_OUT_UP                                                                        \
    EK_DW_ASM_SCALE_UP("q0", -336, -208) EK_DW_ASM_SCALE_UP("q1", -320, -192)                   \
    EK_DW_ASM_SCALE_UP("q2", -304, -176) EK_DW_ASM_SCALE_UP("q3", -288, -160)                   \
    "vqmovunb.s32 q4, q0\n\t"                                                                   \
    "vqmovunt.s32 q4, q2\n\t"                                                                   \
    "vqmovunb.s32 q5, q1\n\t"                                                                   \
    "vqmovunt.s32 q5, q3\n\t"                                                                   \
    "vqmovnb.u16 q6, q4\n\t"                                                                    \
    "vqmovnt.u16 q6, q5\n\t"                                                                    \
    "vadd.i8 q6, q6, %[off]\n\t"
/* Window row ky's three taps move on by next[ky] between pixels. */
#define EK_DW_ASM_MOVE(a, b, c, next)                                                           \
    "ldr lr, %[" next "]\n\t"                                                                   \
    "add " a ", " a ", lr\n\t"                                                                  \
    "add " b ", " b ", lr\n\t"                                                                  \
    "add " c ", " c ", lr\n\t"
#define EK_DW_ASM_MOVES                                                                         \
    EK_DW_ASM_MOVE("r0", "r1", "r2", "next0")                                                   \
    EK_DW_ASM_MOVE("r3", "r4", "r5", "next1") EK_DW_ASM_MOVE("r6", "r7", "r8", "next2")
#define EK_DW_ASM_RUN(moves, out)                                                               \
    "0:\n\t" /* a segment: its end, then its taps */                                            \
    "ldr lr, %[seg]\n\t"                                                                        \
    "ldr %[rec], [lr], #4\n\t"                                                                  \
    "str %[rec], %[end]\n\t"                                                                    \
    "ldmia lr!, {r0-r8}\n\t"                                                                    \
    "str lr, %[seg]\n"                                                                          \
    "1:\n\t" /* a pixel */                                                                      \
    "ldr %[rec], %[records]\n\t"                                                                \
    "ldr lr, %[blocks]\n"                                                                       \
    "2:\n\t" /* a block */                                                                      \
    "vldrw.32 q0, [%[rec]], #256\n\t" /* the biases; then the pointer is at the weights */      \
    "vldrw.32 q1, [%[rec], #-240]\n\t"                                                          \
    "vldrw.32 q2, [%[rec], #-224]\n\t"                                                          \
    "vldrw.32 q3, [%[rec], #-208]\n\t"                                                          \
    EK_DW_ASM_PAIR("r0", "r1") EK_DW_ASM_PAIR("r2", "r3") EK_DW_ASM_PAIR("r4", "r5")             \
    EK_DW_ASM_PAIR("r6", "r7")                                                                  \
    "vldrb.8 q4, [r8], #16\n\t"                                                                 \
    "vldrb.8 q5, [%[rec]], #16\n\t"                                                             \
    "vmullb.s8 q6, q4, q5\n\t"                                                                  \
    "vmullt.s8 q7, q4, q5\n\t" EK_DW_ASM_WIDEN                                                  \
    out                                                                                         \
    "vstrb.8 q6, [%[out]], #16\n\t"                                                             \
    "le lr, 2b\n\t" moves                                                                       \
    "ldr lr, %[end]\n\t"                                                                        \
    "cmp %[out], lr\n\t"                                                                        \
    "bne 1b\n\t"                                                                                \
    "ldr lr, %[segments]\n\t"                                                                   \
    "subs lr, lr, #1\n\t"                                                                       \
    "str lr, %[segments]\n\t"                                                                   \
    "bne 0b"
#define EK_DW_ASM_OPERANDS                                                                      \
    : [rec] "=&r"(rec), [out] "+r"(out), [seg] "+m"(run->seg), [end] "=m"(run->end),            \
      [segments] "+m"(run->segments)                                                            \
    : [off] "r"(offset), [records] "m"(run->records), [blocks] "m"(run->blocks),                \
      [next0] "m"(run->next[0]), [next1] "m"(run->next[1]), [next2] "m"(run->next[2])           \
    : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "lr", "q0", "q1", "q2", "q3", "q4",  \
      "q5", "q6", "q7", "cc", "memory"

/* One block of one pixel as the loop computes it, for the blocks of the usual layer that the
 * loop does not run (a partial block; a pixel of the paired layer's border): the input loads
 * and the store predicated by pred (every lane for a whole block), the taps loaded with one
 * LDM. */
#define EK_DW_ASM_PAIR_P(a, b)                                                                  \
    "vpst\n\tvldrbt.8 q4, [" a "]\n\t"                                                          \
    "vldrb.8 q5, [%[rec]], #16\n\t"                                                             \
    "vmullb.s8 q6, q4, q5\n\t"                                                                  \
    "vmullt.s8 q7, q4, q5\n\t"                                                                  \
    "vpst\n\tvldrbt.8 q4, [" b "]\n\t"                                                          \
    "vldrb.8 q5, [%[rec]], #16\n\t"                                                             \
    "vmullb.s8 q4, q4, q5\n\t"                                                                  \
    "vadd.i16 q6, q6, q4\n\t"                                                                   \
    "vpst\n\tvldrbt.8 q4, [" b "]\n\t"                                                          \
    "vmullt.s8 q4, q4, q5\n\t"                                                                  \
    "vadd.i16 q7, q7, q4\n\t" EK_DW_ASM_WIDEN
#define EK_DW_ASM_ONE(out)                                                                      \
    "ldr lr, %[p]\n\t"                                                                          \
    "vmsr p0, lr\n\t"                                                                           \
    "ldm %[t], {r0-r8}\n\t"                                                                     \
    "vldrw.32 q0, [%[rec]], #256\n\t"                                                           \
    "vldrw.32 q1, [%[rec], #-240]\n\t"                                                          \
    "vldrw.32 q2, [%[rec], #-224]\n\t"                                                          \
    "vldrw.32 q3, [%[rec], #-208]\n\t"                                                          \
    EK_DW_ASM_PAIR_P("r0", "r1") EK_DW_ASM_PAIR_P("r2", "r3") EK_DW_ASM_PAIR_P("r4", "r5")     \
    EK_DW_ASM_PAIR_P("r6", "r7")                                                                \
    "vpst\n\tvldrbt.8 q4, [r8]\n\t"                                                             \
    "vldrb.8 q5, [%[rec]], #16\n\t"                                                             \
    "vmullb.s8 q6, q4, q5\n\t"                                                                  \
    "vmullt.s8 q7, q4, q5\n\t" EK_DW_ASM_WIDEN out                                              \
    "vpst\n\tvstrbt.8 q6, [%[out]]"
#define EK_DW_ASM_ONE_OPERANDS                                                                  \
    : [rec] "+r"(rec)                                                                           \
    : [t] "r"(t), [out] "r"(out), [off] "r"(offset), [p] "m"(pred)                              \
    : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "lr", "q0", "q1", "q2", "q3", "q4",  \
      "q5", "q6", "q7", "memory"

__attribute__((noinline)) static void ek_dw_block_asm(const int8_t *const *t, const int32_t *rec,
                                                      int8_t *out, int32_t offset, int up,
                                                      uint32_t pred)
{
    if (up) {
        __asm__ volatile(EK_DW_ASM_ONE(EK_DW_ASM_OUT_UP) EK_DW_ASM_ONE_OPERANDS);
    } else {
        __asm__ volatile(EK_DW_ASM_ONE(EK_DW_ASM_OUT) EK_DW_ASM_ONE_OPERANDS);
    }
}

/* A segment: the output byte it ends at and its first pixel's taps (the order the asm loads). */
typedef struct {
    int8_t *end;
    const int8_t *t[9];
} ek_dw_segment;

/* What the asm reads from memory. */
typedef struct {
    const int32_t *records;   /* the layer's records */
    int32_t blocks;           /* whole blocks per pixel, >= 1 */
    int32_t offset;           /* the output offset */
    int32_t up;               /* it is -128: EK_DW_ASM_SCALE_UP gives the same bytes */
    int32_t next[3];          /* what window row ky's taps move on by between pixels */
    const ek_dw_segment *seg; /* the next segment */
    int32_t segments;         /* segments left, >= 1 */
    int8_t *end;              /* where the segment being run ends */
} ek_dw_run_at;

/* The whole blocks of every pixel of `segments` segments from out on (moves: some next[ky] is
 * not 0); returns the output pointer after them. Not inlined: the asm needs nearly every
 * register, and its state on this function's stack. */
__attribute__((noinline)) static int8_t *ek_dw_run_fast(const ek_dw_run_at *at,
                                                        const ek_dw_segment *seg,
                                                        int32_t segments, int8_t *out, int moves)
{
    ek_dw_run_at here = *at, *run = &here;
    const int32_t offset = at->offset; /* GCC finds no register for it read from `here` */
    const int32_t *rec;
    run->seg = seg;
    run->segments = segments;
    if (moves && at->up) {
        __asm__ volatile(EK_DW_ASM_RUN(EK_DW_ASM_MOVES, EK_DW_ASM_OUT_UP) EK_DW_ASM_OPERANDS);
    } else if (moves) {
        __asm__ volatile(EK_DW_ASM_RUN(EK_DW_ASM_MOVES, EK_DW_ASM_OUT) EK_DW_ASM_OPERANDS);
    } else if (at->up) {
        __asm__ volatile(EK_DW_ASM_RUN("", EK_DW_ASM_OUT_UP) EK_DW_ASM_OPERANDS);
    } else {
        __asm__ volatile(EK_DW_ASM_RUN("", EK_DW_ASM_OUT) EK_DW_ASM_OPERANDS);
    }
    (void)rec;
    return out;
}

#define EK_DW_SEGMENTS 4 /* segments per asm run; a row has at most three for a 3x3 window */

/* One output row of the usual layer: its border pixels one segment each and the pixels inside
 * the input's columns one segment; with a partial block, one pixel a segment, the partial
 * block after it. inner..stop: the pixels inside the input's columns. */
static void ek_dw_row_fast(ek_dw_run_at *run, const ek_dw_rows *r, int8_t *out,
                           const ek_dw_layer *l, int32_t inner, int32_t stop, int32_t out_w,
                           int32_t s, int32_t pad, int32_t in_w, const int8_t *zero)
{
    const int32_t whole = l->full * EK_DW_BLOCK, ch = whole + l->tail;
    const int moves = run->next[0] != 0 || run->next[1] != 0 || run->next[2] != 0;
    ek_dw_segment seg[EK_DW_SEGMENTS];
    int8_t *at = out;
    int32_t ox = 0, n = 0, k;
    while (ox < out_w) {
        const int inside = ox >= inner && ox < stop;
        const int32_t count = inside && !l->tail ? stop - ox : 1;
        ek_dw_taps(seg[n].t, r, ox * s - pad, in_w, zero, inside);
        at += count * ch;
        seg[n].end = at - l->tail;
        ox += count;
        if (l->tail) {
            const int8_t *u[9];
            out = ek_dw_run_fast(run, seg, 1, out, 0);
            for (k = 0; k < 9; ++k) {
                u[k] = seg[0].t[k] + whole;
            }
            ek_dw_block_at(u, run->records + l->full * EK_DW_RECORD, out, l, l->tail);
            out += l->tail;
        } else if (++n == EK_DW_SEGMENTS || ox == out_w) {
            out = ek_dw_run_fast(run, seg, n, out, moves);
            n = 0;
        }
    }
}

/* One output row of the usual layer with 8 channels and stride 1: the pixels inside the
 * input's columns two at a time, as one block of 16 lanes (the taps of a pixel and its right
 * neighbour are 16 adjacent bytes, and so are their outputs) with the paired record; the
 * border pixels, and the last one of an odd count inside, one at a time. */
static void ek_dw_row_paired(ek_dw_run_at *run, const ek_dw_rows *r, const int32_t *records,
                             int8_t *out, const ek_dw_layer *l, int32_t inner, int32_t stop,
                             int32_t out_w, int32_t pad, int32_t in_w, const int8_t *zero)
{
    const int32_t pairs = (stop - inner) / 2;
    const int8_t *t[9];
    int32_t ox = 0, ky;
    for (; ox < inner; ++ox) {
        ek_dw_taps(t, r, ox - pad, in_w, zero, 0);
        out = ek_dw_pixels(t, r, records, out, 1, 1, l);
    }
    if (pairs > 0) {
        ek_dw_segment seg;
        int moves = 0;
        for (ky = 0; ky < 3; ++ky) { /* two pixels on, from where the asm leaves the taps */
            run->next[ky] = 2 * r->step[ky] - EK_DW_BLOCK;
            moves |= run->next[ky] != 0;
        }
        ek_dw_taps(seg.t, r, ox - pad, in_w, zero, 1);
        seg.end = out + pairs * EK_DW_BLOCK;
        out = ek_dw_run_fast(run, &seg, 1, out, moves);
        ox += 2 * pairs;
    }
    for (; ox < out_w; ++ox) {
        ek_dw_taps(t, r, ox - pad, in_w, zero, ox < stop);
        out = ek_dw_pixels(t, r, records, out, 1, 1, l);
    }
}
#endif

/* ---------------------------------------------------------------- rows */

static void ek_dw_run(const ek_depthwise_conv_params *params, const int8_t *input,
                      const int32_t *records, int8_t *output, const ek_dw_layer *l, int fast,
                      const int32_t *paired)
{
    const int32_t ch = params->input_c, in_w = params->input_w, in_h = params->input_h;
    const int32_t out_w = params->output_w, s = params->stride_w, pad = params->pad_left;
    const int8_t *zero = (const int8_t *)(records + (l->full + (l->tail != 0)) * EK_DW_RECORD);
    /* the pixels whose window lies inside the input's columns: [inner, stop) */
    const int32_t inner = (pad + s - 1) / s < out_w ? (pad + s - 1) / s : out_w;
    const int32_t last = in_w - 3 + pad; /* the last window's first column, plus pad */
    const int32_t outer = last < 0 ? inner : (last / s + 1 < inner ? inner : last / s + 1);
    const int32_t stop = outer < out_w ? outer : out_w;
    int32_t oy, ox, ky;
#if EK_DW_ASM
    ek_dw_run_at run;
    run.records = paired != NULL ? paired : records;
    run.blocks = paired != NULL ? 1 : l->full;
    run.offset = l->offset;
    run.up = l->up;
#else
    (void)fast;
    (void)paired;
#endif

    for (oy = 0; oy < params->output_h; ++oy) {
        const int32_t y0 = oy * params->stride_h - params->pad_top;
        const int8_t *t[9];
        ek_dw_rows r;
        int8_t *out = output + oy * out_w * ch;
        for (ky = 0; ky < 3; ++ky) {
            const int32_t y = y0 + ky;
            const int inside = y >= 0 && y < in_h;
            r.row[ky] = inside ? input + y * in_w * ch : zero;
            r.step[ky] = inside ? ch : 0;
        }
#if EK_DW_ASM
        if (paired != NULL) {
            ek_dw_row_paired(&run, &r, records, out, l, inner, stop, out_w, pad, in_w, zero);
            continue;
        }
        if (fast) {
            for (ky = 0; ky < 3; ++ky) { /* from one pixel's taps, as the asm leaves them */
                run.next[ky] = s * r.step[ky] - l->full * EK_DW_BLOCK;
            }
            ek_dw_row_fast(&run, &r, out, l, inner, stop, out_w, s, pad, in_w, zero);
            continue;
        }
#endif
        for (ox = 0; ox < out_w;) { /* border pixels alone, the pixels inside together */
            const int inside = ox >= inner && ox < stop;
            const int32_t count = inside ? stop - ox : 1;
            ek_dw_taps(t, &r, ox * s - pad, in_w, zero, inside);
            out = ek_dw_pixels(t, &r, records, out, count, s, l);
            ox += count;
        }
    }
}

void ek_depthwise_conv2d_3x3_s8_mve(const ek_depthwise_conv_params *params,
                                    const ek_channel_quant *quant, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const int32_t blocks = (params->input_c + EK_DW_BLOCK - 1) / EK_DW_BLOCK;
    /* after the records and the zero point's run: EK_MVE_LEFT | EK_MVE_ZERO as the shifts
     * need them */
    const int32_t shifts = bias[blocks * (EK_DW_RECORD + EK_DW_BLOCK / 4)];
    const int clamp = params->act_min != INT8_MIN || params->act_max != INT8_MAX;
    ek_dw_layer l;
    (void)quant;
    (void)filter;
    l.full = params->input_c / EK_DW_BLOCK;
    l.tail = params->input_c % EK_DW_BLOCK;
    l.offset = params->output_offset;
    l.up = params->output_offset == INT8_MIN;
    l.usual = shifts == 0 && !clamp;
    l.lo = vdupq_n_s8((int8_t)params->act_min);
    l.hi = vdupq_n_s8((int8_t)params->act_max);
    /* 8 channels, stride 1: the paired record after the flags word (layouts.lanes16_depthwise) */
    ek_dw_run(params, input, bias, output, &l, shifts == 0 && !clamp && l.full > 0,
              shifts == 0 && !clamp && params->input_c == 8 && params->stride_w == 1
                  ? bias + blocks * (EK_DW_RECORD + EK_DW_BLOCK / 4) + 1
                  : NULL);
}
