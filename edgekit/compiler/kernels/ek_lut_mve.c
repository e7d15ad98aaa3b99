/* The int8 -> int8 table ops (ek_lut.c) for cores with Helium (MVE): 16 elements per vector,
 * their table indices (x + 128: the bytes with their top bit flipped) looked up in the 256-byte
 * table by one byte gather (VLDRB.U8 with a vector of offsets); the last partial vector
 * predicated. The same lookups as ek_lut_s8_ref, so the same bytes. Each vector is loaded
 * before it is stored over: the output may alias the input. */
#include "ek_mve.h"

void ek_lut_s8_mve(const ek_lut_params *params, const int8_t *input, int8_t *output)
{
    const uint8_t *table = (const uint8_t *)params->table;
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    const uint8x16_t flip = vdupq_n_u8(0x80);
    int32_t n = params->size;

    for (; n >= 16; n -= 16, in += 16, out += 16) {
        const uint8x16_t index = veorq_u8(vld1q_u8(in), flip);
        vst1q_u8(out, vldrbq_gather_offset_u8(table, index));
    }
    if (n > 0) {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        const uint8x16_t index = veorq_u8(vld1q_z_u8(in, p), flip);
        vstrbq_p_u8(out, vldrbq_gather_offset_z_u8(table, index, p), p);
    }
}
