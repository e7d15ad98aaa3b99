/* CONV_2D for cores with Helium (MVE), as a matrix multiply of pixels [P, K] by weights
 * [C_out, K] (K = filter_h * filter_w * C_in): VMLADAVA.S8 adds 16 products of a pixel's
 * inputs and a channel's weights to a scalar accumulator. The weights come tiled at build time
 * (codegen.tiled_weights): for each block of four output channels, each run of 16 of K holds
 * the four channels' 16 weights one after the other, zero-padded to whole blocks and runs, so
 * one pointer walks a block and every weight load is whole. The input offset is folded into
 * the bias at build time, as in the DSP variant, so the products are plain int8 ones.
 *
 * - K <= 16: a block of four channels at a time, its weights in four registers over all
 *   pixels; a pixel's four accumulators become one vector, are requantized together
 *   (ek_mve_requantize_as) and stored with one narrowing store (in asm for the usual layer:
 *   right shifts only, the int8 range, ek_small_asm).
 * - K > 16, the usual layer: tiles of two pixels by a block of four channels in asm
 *   (ek_quad_asm), whose weight loads serve two pixels and whose eight sums requantize as two
 *   whole vectors; a last pair of channels in tiles of three pixels by two (ek_pair_asm); the
 *   other layers and a last one or three channels, one pixel against a block of four at a
 *   time. The last run of K of the last pixels reads only the input bytes that exist (a
 *   predicated load: the lanes past K read zero).
 * - ek_conv2d_im2col_s8_mve: any window, the windows of one output row (or of a few narrow
 *   ones) at a time copied into scratch, padding filled with the input zero point so that it
 *   adds zero, as in the reference kernel. The windows inside the input of a filter three rows
 *   high are copied by straight-line asm where a window row is whole vectors (C_in a multiple
 *   of 16) or 8 to 16 bytes (a 3 x 3 filter on RGB).
 * - ek_conv2d_im2col_dilated_s8_mve: the same with a dilated window. */
#include "ek_im2col.h"
#include "ek_mve.h"

/* What turns a block's accumulators into output bytes, kept in registers over the pixels. */
typedef struct {
    ek_mve_quant q;
    int32x4_t bias;
    mve_pred16_t lanes; /* the block's output channels (fewer than four in the last block) */
} ek_block;

static EK_INLINE ek_block ek_block_at(const ek_conv_params *params, const ek_channel_quant *quant,
                                      const int32_t *bias, int32_t oc)
{
    ek_block b;
    const int32_t n = params->output_c - oc < 4 ? params->output_c - oc : 4;
    b.q = ek_mve_quant_at(quant->multiplier, quant->shift, oc, n, params->output_offset,
                          params->act_min, params->act_max);
    b.lanes = vctp32q((uint32_t)n);
    b.bias = vldrwq_z_s32(bias + oc, b.lanes);
    return b;
}

/* One pixel's four accumulators into its four output bytes (partial: the block has fewer than
 * four channels, so the store is predicated). */
static EK_INLINE void ek_put4(const ek_block *b, int8_t *y, int32_t a0, int32_t a1, int32_t a2,
                              int32_t a3, int mode, int partial)
{
    const int32x4_t acc = vaddq_s32(ek_mve_vector4(a0, a1, a2, a3), b->bias);
    const int32x4_t out = ek_mve_requantize_as(acc, &b->q, mode);
    if (partial) {
        vstrbq_p_s32(y, out, b->lanes);
    } else {
        vstrbq_s32(y, out);
    }
}

/* ---------------------------------------------------------------- K > 16: tiles of 3 x 2

 * Three pixels against two output channels: each run of 16 of K is three input loads and two
 * weight loads for six VMLADAVA, against one input and four weight loads for four products
 * with one pixel and a block of four. The usual layer's last pair of channels (a count of
 * 4n + 2; the blocks of four take tiles of 2 x 4 below), in asm. */

#if defined(__GNUC__) && defined(__OPTIMIZE__)
#include <stddef.h>

/* What the asm reads from memory: the layer's, then the pair's. */
typedef struct {
    uint16x8_t offsets;      /* the scatter offsets of a tile's narrowed lanes */
    uint16x8_t offsets_last; /* the same for the last tile, when it has fewer pixels */
    int16x8_t output_offset;
    const int8_t *x;  /* the first pixel */
    int32_t depth;    /* K */
    int32_t more;     /* runs of K between the first and the last */
    int32_t tail;     /* the predicate of the last run's lanes (VPR.P0) */
    int32_t advance;  /* from the end of a pixel's runs to the same pixel of the next tile */
    int32_t stride;   /* output bytes of three pixels */
    int32_t whole;    /* tiles of three pixels before the last tile */
    int32_t step1;    /* x1 - x0 in the last tile (0 where it has one pixel) */
    int32_t step2;    /* x2 - x0 in the last tile (x1 - x0 where it has fewer than three) */
    int32_t left;     /* tiles left (the asm's counter) */
    int32_t pairs;    /* pairs left, >= 1 (the asm's counter) */
    int32_t block;    /* bytes of a block of four channels' weights */
    int32_t next;     /* from this pair's weights to the next pair's: 32 or block - 32 */
    const int8_t *w;  /* the pair's weights */
    const int32_t *bias, *multiplier, *shift; /* the pair's first channel's */
    int8_t *y;        /* the pair's first channel in the first pixel */
} ek_pairs_asm;

/* The tiles' eight sums in q0 and q1 to output bytes: requantized up to the rounding shift as
 * ek_mve_requantize_as does (q3 bias, q4 multiplier, q5 right shift), narrowed saturating to 16
 * bits, the output offset (q7) added there with saturation, saturated to 8 bits (which clamps
 * the sum plus the offset to the int8 range), one byte scatter store of the 16-bit lanes
 * (offsets q6). */
#define EK_TILE_ASM_STORE                                                                       \
    "vadd.i32 q0, q0, q3\n\t"                                                                   \
    "vadd.i32 q1, q1, q3\n\t"                                                                   \
    "vqrdmulh.s32 q0, q0, q4\n\t"                                                               \
    "vqrdmulh.s32 q1, q1, q4\n\t"                                                               \
    "vshr.s32 q2, q0, #31\n\t"                                                                  \
    "vadd.i32 q0, q0, q2\n\t"                                                                   \
    "vshr.s32 q2, q1, #31\n\t"                                                                  \
    "vadd.i32 q1, q1, q2\n\t"                                                                   \
    "vrshl.s32 q0, q0, q5\n\t"                                                                  \
    "vrshl.s32 q1, q1, q5\n\t"                                                                  \
    "vqmovnb.s32 q2, q0\n\t"                                                                    \
    "vqmovnt.s32 q2, q1\n\t"                                                                    \
    "vqadd.s16 q2, q2, q7\n\t"                                                                  \
    "vqmovnb.s16 q0, q2\n\t"                                                                    \
    "vstrb.16 q0, [%[y], q6]\n\t"

/* One run of 16 of K for the tile: the pair's two weight rows (post-increment to the next
 * run), each pixel's 16 inputs against both (vpst, t: the inputs' loads are predicated by
 * P0). */
#define EK_TILE_ASM_RUN(op, vpst, t)                                                            \
    "vldrb.8 q0, [%[w]], #16\n\t"                                                               \
    "vldrb.8 q1, [%[w]], #48\n\t" vpst "vldrb" t ".8 q2, [%[x0]], #16\n\t" op " r0, q2, q0\n\t" \
    op " r2, q2, q1\n\t" vpst "vldrb" t ".8 q2, [%[x1]], #16\n\t" op " r4, q2, q0\n\t" op       \
    " r6, q2, q1\n\t" vpst "vldrb" t ".8 q2, [%[x2]], #16\n\t" op " r8, q2, q0\n\t" op         \
    " r10, q2, q1\n\t"

/* One tile: every run of K (vpst, t: the last one's input loads predicated); the six sums into
 * {p0 c0, p0 c1, p1 c0, p1 c1} and {p2 c0, p2 c1, p2 c0, p2 c1}, requantized up to the
 * rounding shift as ek_mve_requantize_as does (q3 bias, q4 multiplier, q5 right shift), then
 * narrowed as in the depthwise kernel: saturating to 16 bits, adding the output offset there
 * (q7) with saturation and saturating to 8 bits clamps the sum plus the offset to the int8
 * range; one byte scatter store of the 16-bit lanes (offsets q6) writes the tile. */
#define EK_TILE_ASM(vpst, t)                                                                    \
    "ldr %[w], [%[k], %[o_w]]\n\t"                                                              \
    "ldr %[s], [%[k], %[o_more]]\n\t" EK_TILE_ASM_RUN("vmladav.s8", "", "")                     \
    "wls lr, %[s], 2f\n"                                                                        \
    "1:\n\t" EK_TILE_ASM_RUN("vmladava.s8", "", "") "le lr, 1b\n"                                \
    "2:\n\t" EK_TILE_ASM_RUN("vmladava.s8", vpst, t)                                            \
    "vmov q0[2], q0[0], r0, r4\n\t"                                                             \
    "vmov q0[3], q0[1], r2, r6\n\t"                                                             \
    "vmov q1[2], q1[0], r8, r8\n\t"                                                             \
    "vmov q1[3], q1[1], r10, r10\n\t"                                                           \
    EK_TILE_ASM_STORE

/* {a, b, a, b} into q from the two words at the pointer in field f (s and w: scratch). */
#define EK_PAIR_ASM_LOAD(q, f)                                                                  \
    "ldr %[s], [%[k], " f "]\n\t"                                                               \
    "ldrd %[w], %[s], [%[s]]\n\t"                                                               \
    "vmov " q "[2], " q "[0], %[w], %[w]\n\t"                                                   \
    "vmov " q "[3], " q "[1], %[s], %[s]\n\t"

/* The pointer in field f moved on by n bytes. */
#define EK_PAIR_ASM_NEXT(f, n)                                                                  \
    "ldr %[s], [%[k], " f "]\n\t"                                                               \
    "add %[s], %[s], " n "\n\t"                                                                 \
    "str %[s], [%[k], " f "]\n\t"

/* at->pairs pairs of output channels from the pair in at's fields on, over every pixel, for
 * the usual layer (right shifts only, the int8 range): 12 instructions a run of K, 32 a tile
 * besides and 53 a pair. VMLADAVA sums into even registers only, which GCC does not keep
 * across its own loops, so all of it is one asm block. A tile's last run reads 16 bytes of each pixel, running
 * into the next pixel where K is not a multiple of 16 (the zero weights cancel it), except in
 * the layer's last tile, whose loads stop at K (P0), so nothing past the input is read; a
 * last tile of fewer pixels repeats its last pixel, whose lanes the last offsets write to that
 * pixel's bytes again. */
__attribute__((noinline)) static void ek_pair_asm(ek_pairs_asm *at)
{
    const int8_t *x0, *x1, *x2, *w;
    int8_t *y;
    int32_t s;
    __asm__ volatile(
        "vldrw.32 q7, [%[k], %[o_out]]\n\t"
        "ldr %[s], [%[k], %[o_tail]]\n\t"
        "vmsr p0, %[s]\n"
        "5:\n\t" EK_PAIR_ASM_LOAD("q3", "%[o_bias]") EK_PAIR_ASM_LOAD("q4", "%[o_mul]")
            EK_PAIR_ASM_LOAD("q5", "%[o_shift]")
        "vmov.i32 q2, #0\n\t"
        "vmin.s32 q5, q5, q2\n\t"
        "vldrw.32 q6, [%[k], %[o_off]]\n\t"
        "ldr %[x0], [%[k], %[o_x]]\n\t"
        "ldr %[s], [%[k], %[o_depth]]\n\t"
        "add %[x1], %[x0], %[s]\n\t"
        "add %[x2], %[x1], %[s]\n\t"
        "ldr %[y], [%[k], %[o_y]]\n\t"
        "ldr %[s], [%[k], %[o_whole]]\n\t"
        "str %[s], [%[k], %[o_left]]\n\t"
        "cmp %[s], #0\n\t"
        "beq 3f\n"
        "0:\n\t" EK_TILE_ASM("", "")
        "ldr %[s], [%[k], %[o_adv]]\n\t"
        "add %[x0], %[x0], %[s]\n\t"
        "add %[x1], %[x1], %[s]\n\t"
        "add %[x2], %[x2], %[s]\n\t"
        "ldr %[s], [%[k], %[o_stride]]\n\t"
        "add %[y], %[y], %[s]\n\t"
        "ldr %[s], [%[k], %[o_left]]\n\t"
        "subs %[s], %[s], #1\n\t"
        "str %[s], [%[k], %[o_left]]\n\t"
        "bne 0b\n"
        "3:\n\t"
        "ldr %[s], [%[k], %[o_step1]]\n\t"
        "add %[x1], %[x0], %[s]\n\t"
        "ldr %[s], [%[k], %[o_step2]]\n\t"
        "add %[x2], %[x0], %[s]\n\t"
        "vldrw.32 q6, [%[k], %[o_offl]]\n\t" EK_TILE_ASM("vpst\n\t", "t")
        /* the next pair: its constants two words on, its output two bytes on */
        EK_PAIR_ASM_NEXT("%[o_bias]", "#8") EK_PAIR_ASM_NEXT("%[o_mul]", "#8")
            EK_PAIR_ASM_NEXT("%[o_shift]", "#8") EK_PAIR_ASM_NEXT("%[o_y]", "#2")
        "ldr %[s], [%[k], %[o_w]]\n\t"
        "ldr %[w], [%[k], %[o_next]]\n\t"
        "add %[s], %[s], %[w]\n\t"
        "str %[s], [%[k], %[o_w]]\n\t"
        "ldr %[s], [%[k], %[o_block]]\n\t"
        "sub %[s], %[s], %[w]\n\t"
        "str %[s], [%[k], %[o_next]]\n\t"
        "ldr %[s], [%[k], %[o_pairs]]\n\t"
        "subs %[s], %[s], #1\n\t"
        "str %[s], [%[k], %[o_pairs]]\n\t"
        "bne 5b"
        : [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [y] "=&r"(y), [w] "=&r"(w),
          [s] "=&r"(s)
        : [k] "r"(at), [o_off] "i"(offsetof(ek_pairs_asm, offsets)),
          [o_offl] "i"(offsetof(ek_pairs_asm, offsets_last)),
          [o_out] "i"(offsetof(ek_pairs_asm, output_offset)),
          [o_x] "i"(offsetof(ek_pairs_asm, x)), [o_depth] "i"(offsetof(ek_pairs_asm, depth)),
          [o_more] "i"(offsetof(ek_pairs_asm, more)), [o_tail] "i"(offsetof(ek_pairs_asm, tail)),
          [o_adv] "i"(offsetof(ek_pairs_asm, advance)),
          [o_stride] "i"(offsetof(ek_pairs_asm, stride)),
          [o_whole] "i"(offsetof(ek_pairs_asm, whole)),
          [o_step1] "i"(offsetof(ek_pairs_asm, step1)),
          [o_step2] "i"(offsetof(ek_pairs_asm, step2)), [o_left] "i"(offsetof(ek_pairs_asm, left)),
          [o_w] "i"(offsetof(ek_pairs_asm, w)), [o_bias] "i"(offsetof(ek_pairs_asm, bias)),
          [o_mul] "i"(offsetof(ek_pairs_asm, multiplier)),
          [o_shift] "i"(offsetof(ek_pairs_asm, shift)), [o_y] "i"(offsetof(ek_pairs_asm, y)),
          [o_pairs] "i"(offsetof(ek_pairs_asm, pairs)),
          [o_block] "i"(offsetof(ek_pairs_asm, block)), [o_next] "i"(offsetof(ek_pairs_asm, next))
        : "r0", "r2", "r4", "r6", "r8", "r10", "lr", "q0", "q1", "q2", "q3", "q4", "q5", "q6",
          "q7", "cc", "memory"); /* and P0: a call clobbers VPR, and nothing here holds it */
    (void)x0;
    (void)x1;
    (void)x2;
    (void)w;
    (void)y;
    (void)s;
}

/* The scatter offsets of a tile's 16-bit lanes (lane 2i: vector 0 lane i, {p0 c0, p0 c1,
 * p1 c0, p1 c1}; 2i + 1: vector 1 lane i, {p2 c0, p2 c1} twice), pixel 2 written as pixel
 * `p2` (2 in a whole tile; the last one of a shorter last tile). */
static uint16x8_t ek_tile_offsets(int32_t out_c, int32_t p1, int32_t p2)
{
    const uint16_t pixel[8] = {0, (uint16_t)p2, 0, (uint16_t)p2,
                               (uint16_t)p1, (uint16_t)p2, (uint16_t)p1, (uint16_t)p2};
    static const uint16_t channel[8] = {0, 0, 1, 1, 0, 0, 1, 1};
    return vaddq_u16(vmulq_n_u16(vld1q_u16(pixel), (uint16_t)out_c), vld1q_u16(channel));
}

/* The pairs of output channels from `first` (a multiple of four) below `end` of the usual
 * layer, K > 16. */
static void ek_pairs_fast(const ek_conv_params *params, const ek_channel_quant *quant,
                          const int8_t *x, int32_t pixels, int32_t depth, const int8_t *filter,
                          const int32_t *bias, int8_t *y, int32_t first, int32_t end)
{
    const int32_t out_c = params->output_c, runs = (depth + 15) >> 4, block_bytes = runs * 64;
    const int32_t last = pixels - 3 * ((pixels - 1) / 3); /* 1 to 3 */
    ek_pairs_asm a;
    a.offsets = ek_tile_offsets(out_c, 1, 2);
    a.offsets_last = ek_tile_offsets(out_c, last > 1 ? 1 : 0, last - 1);
    a.output_offset = vdupq_n_s16((int16_t)params->output_offset);
    a.x = x;
    a.depth = depth;
    a.more = runs - 2;
    a.tail = (int32_t)vctp8q((uint32_t)(depth - 16 * (runs - 1)));
    a.advance = 3 * depth - 16 * runs;
    a.stride = 3 * out_c;
    a.whole = (pixels - 1) / 3;
    a.step1 = last > 1 ? depth : 0;
    a.step2 = (last - 1) * depth;
    if (end > first) {
        a.pairs = (end - first) / 2;
        a.block = block_bytes;
        a.next = 32;
        a.w = filter + (first >> 2) * block_bytes;
        a.bias = bias + first;
        a.multiplier = quant->multiplier + first;
        a.shift = quant->shift + first;
        a.y = y + first;
        ek_pair_asm(&a);
    }
}

/* ------------------------------------------------------------ K > 16: tiles of 2 x 4

 * Two pixels against a block of four output channels: each run of 16 of K is two input loads
 * and four weight loads (one pointer walks the block) for eight VMLADAVA, 14 instructions for
 * 128 products against 11 for 96 in a tile of three by two, and the eight sums requantize as
 * two whole vectors of the block's four channels. The eight accumulators take every even
 * register (lr too), so the runs loop on SUBS/BNE, two runs an iteration; K of two runs
 * (17 to 32) has tiles with no loop. */

/* One run of K for the tile (vpst, t: the inputs' loads predicated by P0). */
#define EK_QUAD_ASM_RUN(op, vpst, t)                                                            \
    vpst "vldrb" t ".8 q0, [%[x0]], #16\n\t"                                                    \
    "vldrb" t ".8 q1, [%[x1]], #16\n\t"                                                         \
    "vldrb.8 q2, [%[w]], #16\n\t" op " r0, q0, q2\n\t" op " r8, q1, q2\n\t"                     \
    "vldrb.8 q2, [%[w]], #16\n\t" op " r2, q0, q2\n\t" op " r10, q1, q2\n\t"                    \
    "vldrb.8 q2, [%[w]], #16\n\t" op " r4, q0, q2\n\t" op " r12, q1, q2\n\t"                    \
    "vldrb.8 q2, [%[w]], #16\n\t" op " r6, q0, q2\n\t" op " lr, q1, q2\n\t"

/* One tile: every run of K, then the eight sums as {p0 c0..c3} and {p1 c0..c3}, requantized
 * and narrowed as in EK_TILE_ASM, one byte scatter store (offsets q6). */
#define EK_QUAD_ASM(vpst, t)                                                                    \
    "ldr %[w], [%[k], %[o_w]]\n\t"                                                              \
    "ldr %[s], [%[k], %[o_more]]\n\t" EK_QUAD_ASM_RUN("vmladav.s8", "", "")                     \
    "lsrs %[s], %[s], #1\n\t"                                                                   \
    "bcc 6f\n\t" EK_QUAD_ASM_RUN("vmladava.s8", "", "")                                          \
    "6:\n\t"                                                                                    \
    "beq 2f\n"                                                                                  \
    "1:\n\t" EK_QUAD_ASM_RUN("vmladava.s8", "", "") EK_QUAD_ASM_RUN("vmladava.s8", "", "")      \
    "subs %[s], %[s], #1\n\t"                                                                   \
    "bne 1b\n"                                                                                  \
    "2:\n\t" EK_QUAD_ASM_RUN("vmladava.s8", vpst, t) EK_QUAD_ASM_OUT

/* The same where K has two runs (K <= 32: the first layer on RGB), with no loop over them. */
#define EK_QUAD_ASM2(vpst, t)                                                                   \
    "ldr %[w], [%[k], %[o_w]]\n\t" EK_QUAD_ASM_RUN("vmladav.s8", "", "")                        \
        EK_QUAD_ASM_RUN("vmladava.s8", vpst, t) EK_QUAD_ASM_OUT

/* A tile's sums into output bytes. */
#define EK_QUAD_ASM_OUT                                                                         \
    "vmov q0[2], q0[0], r0, r4\n\t"                                                             \
    "vmov q0[3], q0[1], r2, r6\n\t"                                                             \
    "vmov q1[2], q1[0], r8, r12\n\t"                                                            \
    "vmov q1[3], q1[1], r10, lr\n\t"                                                            \
    EK_TILE_ASM_STORE

/* The tiles of two pixels (tile) and the last one (last), labels a and b. */
#define EK_QUAD_ASM_TILES(tile, last, a, b)                                                     \
    "ldr %[s], [%[k], %[o_whole]]\n\t"                                                          \
    "str %[s], [%[k], %[o_left]]\n\t"                                                           \
    "cmp %[s], #0\n\t"                                                                          \
    "beq " b "f\n" a ":\n\t" tile "ldr %[s], [%[k], %[o_adv]]\n\t"                              \
    "add %[x0], %[x0], %[s]\n\t"                                                                \
    "add %[x1], %[x1], %[s]\n\t"                                                                \
    "ldr %[s], [%[k], %[o_stride]]\n\t"                                                         \
    "add %[y], %[y], %[s]\n\t"                                                                  \
    "ldr %[s], [%[k], %[o_left]]\n\t"                                                           \
    "subs %[s], %[s], #1\n\t"                                                                   \
    "str %[s], [%[k], %[o_left]]\n\t"                                                           \
    "bne " a "b\n" b ":\n\t"                                                                    \
    "ldr %[s], [%[k], %[o_step1]]\n\t"                                                          \
    "add %[x1], %[x0], %[s]\n\t"                                                                \
    "vldrw.32 q6, [%[k], %[o_offl]]\n\t" last

/* The four words at the pointer in field f into q (s: scratch). */
#define EK_QUAD_ASM_LOAD(q, f)                                                                  \
    "ldr %[s], [%[k], " f "]\n\t"                                                               \
    "vldrw.32 " q ", [%[s]]\n\t"

/* at->pairs blocks of four output channels from the block in at's fields on (at->more: the
 * runs of K between the first and the last), over every pixel, for the usual layer: 14
 * instructions a run of K, about 31 a tile besides (27 where K has two runs) and 35 a block. The tiles' loads run past K as in
 * ek_pair_asm, except in the last tile's last run; a last tile of one pixel computes it twice
 * and the last offsets write both to its bytes. */
__attribute__((noinline)) static void ek_quad_asm(ek_pairs_asm *at)
{
    const int8_t *x0, *x1, *w;
    int8_t *y;
    int32_t s;
    __asm__ volatile(
        "vldrw.32 q7, [%[k], %[o_out]]\n\t"
        "ldr %[s], [%[k], %[o_tail]]\n\t"
        "vmsr p0, %[s]\n"
        "5:\n\t" EK_QUAD_ASM_LOAD("q3", "%[o_bias]") EK_QUAD_ASM_LOAD("q4", "%[o_mul]")
            EK_QUAD_ASM_LOAD("q5", "%[o_shift]")
        "vmov.i32 q2, #0\n\t"
        "vmin.s32 q5, q5, q2\n\t"
        "vldrw.32 q6, [%[k], %[o_off]]\n\t"
        "ldr %[x0], [%[k], %[o_x]]\n\t"
        "ldr %[s], [%[k], %[o_depth]]\n\t"
        "add %[x1], %[x0], %[s]\n\t"
        "ldr %[y], [%[k], %[o_y]]\n\t"
        "ldr %[s], [%[k], %[o_more]]\n\t"
        "cmp %[s], #0\n\t"
        "beq 8f\n\t" EK_QUAD_ASM_TILES(EK_QUAD_ASM("", ""), EK_QUAD_ASM("vpstt\n\t", "t"), "0", "3")
        "b 4f\n"
        "8:\n\t" EK_QUAD_ASM_TILES(EK_QUAD_ASM2("", ""), EK_QUAD_ASM2("vpstt\n\t", "t"), "9", "7")
        "4:\n\t"
        /* the next block: its constants four words on, its output four bytes on */
        EK_PAIR_ASM_NEXT("%[o_bias]", "#16") EK_PAIR_ASM_NEXT("%[o_mul]", "#16")
            EK_PAIR_ASM_NEXT("%[o_shift]", "#16") EK_PAIR_ASM_NEXT("%[o_y]", "#4")
        "ldr %[s], [%[k], %[o_w]]\n\t"
        "ldr %[w], [%[k], %[o_block]]\n\t"
        "add %[s], %[s], %[w]\n\t"
        "str %[s], [%[k], %[o_w]]\n\t"
        "ldr %[s], [%[k], %[o_pairs]]\n\t"
        "subs %[s], %[s], #1\n\t"
        "str %[s], [%[k], %[o_pairs]]\n\t"
        "bne 5b"
        : [x0] "=&r"(x0), [x1] "=&r"(x1), [y] "=&r"(y), [w] "=&r"(w), [s] "=&l"(s)
        : [k] "r"(at), [o_off] "i"(offsetof(ek_pairs_asm, offsets)),
          [o_offl] "i"(offsetof(ek_pairs_asm, offsets_last)),
          [o_out] "i"(offsetof(ek_pairs_asm, output_offset)),
          [o_x] "i"(offsetof(ek_pairs_asm, x)), [o_depth] "i"(offsetof(ek_pairs_asm, depth)),
          [o_more] "i"(offsetof(ek_pairs_asm, more)), [o_tail] "i"(offsetof(ek_pairs_asm, tail)),
          [o_adv] "i"(offsetof(ek_pairs_asm, advance)),
          [o_stride] "i"(offsetof(ek_pairs_asm, stride)),
          [o_whole] "i"(offsetof(ek_pairs_asm, whole)),
          [o_step1] "i"(offsetof(ek_pairs_asm, step1)), [o_left] "i"(offsetof(ek_pairs_asm, left)),
          [o_w] "i"(offsetof(ek_pairs_asm, w)), [o_bias] "i"(offsetof(ek_pairs_asm, bias)),
          [o_mul] "i"(offsetof(ek_pairs_asm, multiplier)),
          [o_shift] "i"(offsetof(ek_pairs_asm, shift)), [o_y] "i"(offsetof(ek_pairs_asm, y)),
          [o_pairs] "i"(offsetof(ek_pairs_asm, pairs)),
          [o_block] "i"(offsetof(ek_pairs_asm, block))
        : "r0", "r2", "r4", "r6", "r8", "r10", "r12", "lr", "q0", "q1", "q2", "q3", "q4", "q5",
          "q6", "q7", "cc", "memory"); /* and P0, as in ek_pair_asm */
    (void)x0;
    (void)x1;
    (void)w;
    (void)y;
    (void)s;
}

/* The scatter offsets of a 2 x 4 tile's 16-bit lanes (lane 2i: pixel 0's channel i, 2i + 1:
 * pixel 1's, written as pixel p1: 1 in a whole tile, 0 in a last tile of one pixel). */
static uint16x8_t ek_quad_offsets(int32_t out_c, int32_t p1)
{
    static const uint16_t pixel[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    static const uint16_t channel[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    return vaddq_u16(vmulq_n_u16(vld1q_u16(pixel), (uint16_t)(out_c * p1)), vld1q_u16(channel));
}

/* The blocks of four output channels below `end` of the usual layer, K > 16. */
static void ek_quads_fast(const ek_conv_params *params, const ek_channel_quant *quant,
                          const int8_t *x, int32_t pixels, int32_t depth, const int8_t *filter,
                          const int32_t *bias, int8_t *y, int32_t end)
{
    const int32_t out_c = params->output_c, runs = (depth + 15) >> 4;
    ek_pairs_asm a;
    a.offsets = ek_quad_offsets(out_c, 1);
    a.offsets_last = ek_quad_offsets(out_c, pixels & 1 ? 0 : 1);
    a.output_offset = vdupq_n_s16((int16_t)params->output_offset);
    a.x = x;
    a.depth = depth;
    a.more = runs - 2;
    a.tail = (int32_t)vctp8q((uint32_t)(depth - 16 * (runs - 1)));
    a.advance = 2 * depth - 16 * runs;
    a.stride = 2 * out_c;
    a.whole = (pixels - 1) / 2;
    a.step1 = pixels & 1 ? 0 : depth;
    a.pairs = end / 4;
    a.block = runs * 64;
    a.w = filter;
    a.bias = bias;
    a.multiplier = quant->multiplier;
    a.shift = quant->shift;
    a.y = y;
    ek_quad_asm(&a);
}
#define EK_CONV_ASM 1
#else
#define EK_CONV_ASM 0
#endif

#if EK_CONV_ASM
/* One pixel of ek_small_asm, its input loaded by `load` into q7. */
#define EK_SMALL_ASM_PIXEL(load)                                                                \
    load "vmladav.s8 r0, q7, %q[w0]\n\t"                                                        \
         "vmladav.s8 r2, q7, %q[w1]\n\t"                                                        \
         "vmladav.s8 r4, q7, %q[w2]\n\t"                                                        \
         "vmladav.s8 r6, q7, %q[w3]\n\t"                                                        \
         "vmov q7[2], q7[0], r0, r4\n\t"                                                        \
         "vmov q7[3], q7[1], r2, r6\n\t"                                                        \
         "vadd.i32 q7, q7, %q[b]\n\t"                                                           \
         "vqrdmulh.s32 q7, q7, %q[m]\n\t"                                                       \
         "vpt.s32 lt, q7, zr\n\t"                                                               \
         "vsubt.i32 q7, q7, %[one]\n\t"                                                         \
         "vrshl.s32 q7, q7, %q[s]\n\t"                                                          \
         "vadd.i32 q7, q7, %[off]\n\t"                                                          \
         "vqshl.s32 q7, q7, #24\n\t"                                                            \
         "vshr.s32 q7, q7, #24\n\t"                                                             \
         "vstrb.32 q7, [%[y]]\n\t"                                                              \
         "add %[y], %[y], %[oc]\n\t"

/* The pixels two at a time (an odd count's first alone), each input loaded by `load`. */
#define EK_SMALL_ASM(load)                                                                      \
    __asm__ volatile("lsrs %[n], %[n], #1\n\t"                                                  \
                     "bcc 1f\n\t" EK_SMALL_ASM_PIXEL(load) "1:\n\t"                              \
                     "wls lr, %[n], 2f\n"                                                       \
                     "0:\n\t" EK_SMALL_ASM_PIXEL(load) EK_SMALL_ASM_PIXEL(load) "le lr, 0b\n"   \
                     "2:"                                                                       \
                     : [x] "+r"(x), [y] "+l"(y), [n] "+r"(count)                                \
                     : [d] "r"(depth), [oc] "r"(out_c), [off] "r"(b->q.offset_n), [one] "r"(1), \
                       [w0] "w"(w0), [w1] "w"(w1), [w2] "w"(w2), [w3] "w"(w3), [b] "w"(b->bias), \
                       [m] "w"(b->q.multiplier), [s] "w"(b->q.right)                            \
                     : "r0", "r2", "r4", "r6", "lr", "q7", "cc", "memory")

/* ek_block_small over `count` >= 1 pixels (not the last one) of the usual layer, a whole block:
 * 17 to 18 instructions a pixel, the sums' sign correction (as in ek_mve_requantize_as) a
 * predicated subtraction so that one vector register does the work, the input a
 * post-incremented load where K is 8 or 16. A call, so that no predicate of the caller's is
 * live in VPR. */
__attribute__((noinline)) static void ek_small_asm(const ek_block *b, const int8_t *w,
                                                   const int8_t *x, int32_t count,
                                                   int32_t depth, int32_t out_c, int8_t *y)
{
    const int8x16_t w0 = vldrbq_s8(w), w1 = vldrbq_s8(w + 16);
    const int8x16_t w2 = vldrbq_s8(w + 32), w3 = vldrbq_s8(w + 48);
    if (depth == 8) {
        EK_SMALL_ASM("vldrb.8 q7, [%[x]], #8\n\t");
    } else if (depth == 16) {
        EK_SMALL_ASM("vldrb.8 q7, [%[x]], #16\n\t");
    } else {
        EK_SMALL_ASM("vldrb.8 q7, [%[x]]\n\tadd %[x], %[x], %[d]\n\t");
    }
}
#endif

/* One block of four output channels over every pixel, K <= 16, its weights in four registers.
 * A pixel's 16-byte load runs into the next pixel, which the zero weights past K cancel; the
 * last pixel's load is predicated so that nothing past the input is read. */
static EK_INLINE void ek_block_small(const ek_block *b, const int8_t *x, int32_t pixels,
                                     int32_t depth, const int8_t *w, int32_t out_c, int8_t *y,
                                     int mode, int partial)
{
    const int8x16_t w0 = vldrbq_s8(w), w1 = vldrbq_s8(w + 16);
    const int8x16_t w2 = vldrbq_s8(w + 32), w3 = vldrbq_s8(w + 48);
    int32_t p = pixels - 1;
#if EK_CONV_ASM
    if (mode == 0 && !partial && p > 0) {
        ek_small_asm(b, w, x, p, depth, out_c, y);
        x += p * depth;
        y += p * out_c;
        p = 0;
    }
#endif
    for (; p > 0; --p, x += depth, y += out_c) {
        const int8x16_t v = vldrbq_s8(x);
        ek_put4(b, y, vmladavq_s8(v, w0), vmladavq_s8(v, w1), vmladavq_s8(v, w2),
                vmladavq_s8(v, w3), mode, partial);
    }
    {
        const int8x16_t v = vldrbq_z_s8(x, vctp8q((uint32_t)depth));
        ek_put4(b, y, vmladavq_s8(v, w0), vmladavq_s8(v, w1), vmladavq_s8(v, w2),
                vmladavq_s8(v, w3), mode, partial);
    }
}

/* acc_j += the products of v and the next four weight runs w[0..63], j = 0..3. */
#define EK_RUN4(v, w)                                                                           \
    do {                                                                                        \
        a0 = vmladavaq_s8(a0, v, vldrbq_s8(w));                                                 \
        w += 16;                                                                                \
        a1 = vmladavaq_s8(a1, v, vldrbq_s8(w));                                                 \
        w += 16;                                                                                \
        a2 = vmladavaq_s8(a2, v, vldrbq_s8(w));                                                 \
        w += 16;                                                                                \
        a3 = vmladavaq_s8(a3, v, vldrbq_s8(w));                                                 \
        w += 16;                                                                                \
    } while (0)

/* One pixel against one block, K > 16, any layer: four accumulators. Every run but the last
 * pixel's last is a whole load, as in ek_block_small; final: this is the last pixel. */
static EK_INLINE void ek_pixel(const ek_block *b, const int8_t *x, int32_t depth,
                               const int8_t *w, int8_t *y, int final, int mode, int partial)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, r;
    for (r = final ? (depth - 1) >> 4 : (depth + 15) >> 4; r > 0; --r, x += 16) {
        const int8x16_t v = vldrbq_s8(x);
        EK_RUN4(v, w);
    }
    if (final) {
        const int8x16_t v = vldrbq_z_s8(x, vctp8q((uint32_t)(((depth - 1) & 15) + 1)));
        EK_RUN4(v, w);
    }
    ek_put4(b, y, a0, a1, a2, a3, mode, partial);
}

static EK_INLINE void ek_block_large(const ek_block *b, const int8_t *x, int32_t pixels,
                                     int32_t depth, const int8_t *w, int32_t out_c, int8_t *y,
                                     int mode, int partial)
{
    int32_t p;
    for (p = pixels - 1; p > 0; --p, x += depth, y += out_c) {
        ek_pixel(b, x, depth, w, y, 0, mode, partial);
    }
    ek_pixel(b, x, depth, w, y, 1, mode, partial);
}

static EK_INLINE void ek_gemm_all(const ek_conv_params *params, const ek_channel_quant *quant,
                                  const int8_t *x, int32_t pixels, int32_t depth,
                                  const int8_t *filter, const int32_t *bias, int8_t *y, int mode)
{
    const int32_t out_c = params->output_c, block_bytes = ((depth + 15) & ~15) * 4;
    int32_t oc = 0;
#if EK_CONV_ASM
    if (depth > 16 && mode == 0) { /* blocks of four, a last pair, and a last one or three */
        oc = out_c & ~3;
        if (oc > 0) {
            ek_quads_fast(params, quant, x, pixels, depth, filter, bias, y, oc);
        }
        if ((out_c & 3) == 2) {
            ek_pairs_fast(params, quant, x, pixels, depth, filter, bias, y, oc, out_c);
            oc = out_c;
        }
        filter += (oc >> 2) * block_bytes;
    }
#endif
    for (; oc + 4 <= out_c; oc += 4, filter += block_bytes) {
        const ek_block b = ek_block_at(params, quant, bias, oc);
        if (depth <= 16) {
            ek_block_small(&b, x, pixels, depth, filter, out_c, y + oc, mode, 0);
        } else {
            ek_block_large(&b, x, pixels, depth, filter, out_c, y + oc, mode, 0);
        }
    }
    if (oc < out_c) {
        const ek_block b = ek_block_at(params, quant, bias, oc);
        if (depth <= 16) {
            ek_block_small(&b, x, pixels, depth, filter, out_c, y + oc, mode, 1);
        } else {
            ek_block_large(&b, x, pixels, depth, filter, out_c, y + oc, mode, 1);
        }
    }
}

/* The layer is the usual one: right shifts only, the int8 range (once a layer, not a call of
 * ek_gemm). */
static int ek_usual(const ek_conv_params *params, const ek_channel_quant *quant)
{
    return ek_mve_mode(quant->shift, params->output_c, params->act_min, params->act_max) == 0;
}

/* output[p][c] for pixel rows [pixels][depth] and tiled weights: built for the usual layer
 * and for any other. */
static void ek_gemm(const ek_conv_params *params, const ek_channel_quant *quant, const int8_t *x,
                    int32_t pixels, int32_t depth, const int8_t *filter, const int32_t *bias,
                    int8_t *y, int usual)
{
    if (usual) {
        ek_gemm_all(params, quant, x, pixels, depth, filter, bias, y, 0);
    } else {
        ek_gemm_all(params, quant, x, pixels, depth, filter, bias, y, EK_MVE_GENERAL);
    }
}

void ek_conv2d_1x1_s8_mve(const ek_conv_params *params, const ek_channel_quant *quant,
                          const int8_t *input, const int8_t *filter, const int32_t *bias,
                          int8_t *output)
{
    ek_gemm(params, quant, input, params->output_h * params->output_w, params->input_c, filter,
            bias, output, ek_usual(params, quant));
}

/* n bytes from src to dst (src NULL: n bytes of v), 16 at a time, the last store predicated. */
static EK_INLINE void ek_copy_run(int8_t *dst, const int8_t *src, int8x16_t v, int32_t n)
{
    for (; n > 0; n -= 16, dst += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        if (src != NULL) {
            v = vldrbq_z_s8(src, p);
            src += 16;
        }
        vstrbq_p_s8(dst, v, p);
    }
}

/* A window inside the input into column: filter_h rows of span bytes, row bytes apart, each
 * whole vectors and a predicated tail. */
static void ek_window_inside(const int8_t *from, int32_t row, int32_t filter_h, int32_t span,
                             int8_t *column)
{
    const mve_pred16_t tail = vctp8q((uint32_t)(span & 15));
    int32_t ky, i;
    for (ky = 0; ky < filter_h; ++ky, from += row - (span & ~15)) {
        for (i = span >> 4; i > 0; --i, from += 16, column += 16) {
            vstrbq_s8(column, vldrbq_s8(from));
        }
        vstrbq_p_s8(column, vldrbq_z_s8(from, tail), tail);
        column += span & 15;
    }
}

#if defined(__GNUC__) && defined(__OPTIMIZE__)
/* A window row of R whole vectors from f into column, both moved on past it (GCC does not
 * unroll the intrinsics' form without spilling its pointers). */
#define EK_WHOLE_V "vldrb.8 q0, [%[f]], #16\n\tvstrb.8 q0, [%[c]], #16\n\t"
#define EK_WHOLE_V2 EK_WHOLE_V EK_WHOLE_V
#define EK_WHOLE_V3 EK_WHOLE_V2 EK_WHOLE_V
#define EK_WHOLE_V4 EK_WHOLE_V2 EK_WHOLE_V2
#define EK_WHOLE_V6 EK_WHOLE_V3 EK_WHOLE_V3

/* The windows of count >= 1 pixels of a filter three rows high, each row the vectors `row`. */
#define EK_WHOLE_ASM(row)                                                                       \
    __asm__ volatile("0:\n\t" row "add %[f], %[f], %[skip]\n\t" row "add %[f], %[f], %[skip]\n\t" \
                     row "add %[f], %[f], %[next]\n\t"                                           \
                     "subs %[n], %[n], #1\n\t"                                                  \
                     "bne 0b"                                                                   \
                     : [f] "+r"(from), [c] "+r"(column), [n] "+r"(count)                        \
                     : [skip] "r"(skip), [next] "r"(step - 2 * line - 16 * runs)                \
                     : "q0", "cc", "memory")
#define EK_WHOLE_FAST 1
#else
#define EK_WHOLE_FAST 0
#endif

#if EK_WHOLE_FAST
/* The windows of count >= 1 pixels of a filter three rows high inside the input, `step` bytes
 * apart, whose rows are 8 <= span <= 16 bytes (a 3 x 3 filter on RGB): each row one load that
 * stops at span (P0) and a whole store past it that the next row's store overwrites, the last
 * row's store stopping at span (so, span >= 8, nothing past the window is written). A call,
 * so that no predicate of the caller's is live in VPR. */
__attribute__((noinline)) static void ek_windows_narrow(const int8_t *from, int32_t step,
                                                        int32_t line, int32_t span,
                                                        int32_t count, int8_t *column)
{
    const int8_t *f1 = from + line, *f2 = from + 2 * line;
    __asm__ volatile("vmsr p0, %[p]\n"
                     "0:\n\t"
                     "vpsttt\n\t"
                     "vldrbt.8 q0, [%[f0]]\n\t"
                     "vldrbt.8 q1, [%[f1]]\n\t"
                     "vldrbt.8 q2, [%[f2]]\n\t"
                     "add %[f0], %[f0], %[step]\n\t"
                     "add %[f1], %[f1], %[step]\n\t"
                     "add %[f2], %[f2], %[step]\n\t"
                     "vstrb.8 q0, [%[c]]\n\t"
                     "add %[c], %[c], %[span]\n\t"
                     "vstrb.8 q1, [%[c]]\n\t"
                     "add %[c], %[c], %[span]\n\t"
                     "vpst\n\t"
                     "vstrbt.8 q2, [%[c]]\n\t"
                     "add %[c], %[c], %[span]\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 0b"
                     : [f0] "+r"(from), [f1] "+r"(f1), [f2] "+r"(f2), [c] "+r"(column),
                       [n] "+r"(count)
                     : [p] "r"((uint32_t)vctp8q((uint32_t)span)), [step] "r"(step),
                       [span] "r"(span)
                     : "q0", "q1", "q2", "cc", "memory");
}
#endif

/* The windows of count >= 1 pixels inside the input, `step` bytes apart, into column, where a
 * window row is `runs` whole vectors (C_in a multiple of 16): for a filter three rows high and
 * the usual counts, straight-line copies of the rows. */
static void ek_windows_whole(const int8_t *from, int32_t step, int32_t line, int32_t filter_h,
                             int32_t runs, int32_t count, int8_t *column)
{
#if EK_WHOLE_FAST
    const int32_t skip = line - 16 * runs;
    if (filter_h == 3) {
        switch (runs) {
        case 2: /* a row of one vector took the copies of span <= 16 */
            EK_WHOLE_ASM(EK_WHOLE_V2);
            return;
        case 3:
            EK_WHOLE_ASM(EK_WHOLE_V3);
            return;
        case 4:
            EK_WHOLE_ASM(EK_WHOLE_V4);
            return;
        case 6:
            EK_WHOLE_ASM(EK_WHOLE_V6);
            return;
        default:
            break;
        }
    }
#endif
    for (; count > 0; --count, from += step, column += filter_h * 16 * runs) {
        ek_window_inside(from, line, filter_h, 16 * runs, column);
    }
}

/* One output pixel's window into column, row after row of the filter (as ek_im2col): the
 * taps outside the input read the input zero point. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void ek_window(const ek_conv_params *params, const int8_t *input, int32_t y0, int32_t x0,
                      int8_t *column)
{
    const int8x16_t zero = vdupq_n_s8((int8_t)-params->input_offset);
    const int32_t in_c = params->input_c, in_w = params->input_w, filter_w = params->filter_w;
    const int32_t span = filter_w * in_c;
    const int32_t kx0 = x0 < 0 ? -x0 : 0;
    int32_t kx1 = in_w - x0 < filter_w ? in_w - x0 : filter_w, ky;
    if (kx1 < kx0) {
        kx1 = kx0;
    }
    for (ky = 0; ky < params->filter_h; ++ky, column += span) {
        const int32_t y = y0 + ky;
        if (y < 0 || y >= params->input_h) {
            ek_copy_run(column, NULL, zero, span);
        } else {
            ek_copy_run(column, NULL, zero, kx0 * in_c);
            ek_copy_run(column + kx0 * in_c, input + (y * in_w + x0 + kx0) * in_c, zero,
                        (kx1 - kx0) * in_c);
            ek_copy_run(column + kx1 * in_c, NULL, zero, (filter_w - kx1) * in_c);
        }
    }
}

/* Output rows whose windows the scratch holds at once: as many as make 48 pixels where they
 * fit in 4 KiB, else one (ops.py's _im2col_rows_bytes sizes the scratch so), so that a narrow
 * layer's matrix multiply runs over more pixels at a time. */
static int32_t ek_im2col_rows(int32_t out_w, int32_t out_h, int32_t depth)
{
    int32_t rows = 48 / out_w;
    if (rows > 4096 / (out_w * depth)) {
        rows = 4096 / (out_w * depth);
    }
    if (rows > out_h) {
        rows = out_h;
    }
    return rows > 1 ? rows : 1;
}

void ek_conv2d_im2col_s8_mve(const ek_conv_params *params, const ek_channel_quant *quant,
                             const int8_t *input, const int8_t *filter, const int32_t *bias,
                             int8_t *output, int8_t *scratch)
{
    const int32_t in_c = params->input_c, in_w = params->input_w, in_h = params->input_h;
    const int32_t filter_h = params->filter_h, filter_w = params->filter_w;
    const int32_t span = filter_w * in_c, depth = filter_h * span, line = in_w * in_c;
    const int32_t sw = params->stride_w, pad = params->pad_left;
    const int32_t out_w = params->output_w, out_h = params->output_h;
    const int32_t row = out_w * params->output_c, rows = ek_im2col_rows(out_w, out_h, depth);
    /* the pixels whose window lies inside the input's columns: [inner, stop) */
    const int32_t inner = (pad + sw - 1) / sw < out_w ? (pad + sw - 1) / sw : out_w;
    const int32_t last = in_w - filter_w + pad; /* the last window's first column, plus pad */
    const int32_t outer = last < 0 ? inner : (last / sw + 1 < inner ? inner : last / sw + 1);
    const int32_t stop = outer < out_w ? outer : out_w;
    const mve_pred16_t run = vctp8q((uint32_t)span);
    const int usual = ek_usual(params, quant);
    int32_t oy, ox, ky, n;
    for (oy = 0; oy < out_h; oy += rows) {
        int8_t *column = scratch;
        const int32_t count = out_h - oy < rows ? out_h - oy : rows;
        for (n = 0; n < count; ++n) {
            const int32_t y0 = (oy + n) * params->stride_h - params->pad_top;
            const int32_t a = y0 >= 0 && y0 + filter_h <= in_h ? inner : out_w;
            const int8_t *from = input + y0 * line + (a * sw - pad) * in_c;
            for (ox = 0; ox < a; ++ox, column += depth) {
                ek_window(params, input, y0, ox * sw - pad, column);
            }
#if EK_WHOLE_FAST
            if (filter_h == 3 && span >= 8 && span <= 16 && ox < stop) {
                ek_windows_narrow(from, sw * in_c, line, span, stop - ox, column);
                column += (stop - ox) * depth;
                ox = stop;
            }
#endif
            for (; ox < stop && span <= 16; ++ox, column += depth, from += sw * in_c) {
                /* inside the input, each window row one predicated load and store */
                const int8_t *f = from;
                for (ky = 0; ky < filter_h; ++ky, f += line) {
                    vstrbq_p_s8(column + ky * span, vldrbq_z_s8(f, run), run);
                }
            }
            if ((span & 15) == 0 && ox < stop) {
                ek_windows_whole(from, sw * in_c, line, filter_h, span >> 4, stop - ox, column);
                column += (stop - ox) * depth;
                ox = stop;
            }
            for (; ox < stop; ++ox, column += depth, from += sw * in_c) {
                ek_window_inside(from, line, filter_h, span, column);
            }
            for (; ox < out_w; ++ox, column += depth) {
                ek_window(params, input, y0, ox * sw - pad, column);
            }
        }
        ek_gemm(params, quant, scratch, count * out_w, depth, filter, bias, output + oy * row,
                usual);
    }
}

void ek_conv2d_im2col_dilated_s8_mve(const ek_dilated_conv_params *params,
                                     const ek_channel_quant *quant, const int8_t *input,
                                     const int8_t *filter, const int32_t *bias, int8_t *output,
                                     int8_t *scratch)
{
    (void)ek_im2col; /* ek_im2col.h's undilated copy: ek_window does its work here */
    const ek_conv_params *conv = &params->conv;
    const int32_t depth = conv->filter_h * conv->filter_w * conv->input_c;
    const int8_t zero = (int8_t)-conv->input_offset;
    const int32_t out_w = conv->output_w, row = out_w * conv->output_c;
    const int usual = ek_usual(conv, quant);
    int32_t oy, ox;
    for (oy = 0; oy < conv->output_h; ++oy) {
        for (ox = 0; ox < out_w; ++ox) {
            ek_im2col_dilated(conv, params->dilation_h, params->dilation_w, input, oy, ox, zero,
                              scratch + ox * depth);
        }
        ek_gemm(conv, quant, scratch, out_w, depth, filter, bias, output + oy * row, usual);
    }
}
