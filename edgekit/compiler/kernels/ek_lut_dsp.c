/* The int8 -> int8 table ops (ek_lut.c) for cores with the DSP extension: four elements per
 * word, the four table indices (x + 128, the byte with its top bit flipped) taken from one
 * loaded word and the four looked-up bytes stored as one word; two words per iteration. The
 * same lookups as ek_lut_s8_ref, so the same bytes. Each word is loaded before it is stored
 * over: the output may alias the input. */
#include "ek_dsp.h"

/* The four bytes of word v looked up, packed in the same order. */
static EK_INLINE uint32_t ek_lut_word(const uint8_t *table, uint32_t v)
{
    const uint32_t u = v ^ 0x80808080u;
    return (uint32_t)table[u & 0xFFu] | ((uint32_t)table[(u >> 8) & 0xFFu] << 8) |
           ((uint32_t)table[(u >> 16) & 0xFFu] << 16) | ((uint32_t)table[u >> 24] << 24);
}

static inline void ek_store4(int8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

void ek_lut_s8_dsp(const ek_lut_params *params, const int8_t *input, int8_t *output)
{
    const uint8_t *table = (const uint8_t *)params->table;
    const int32_t n = params->size;
    int32_t i = 0;

    for (; i + 8 <= n; i += 8) {
        const uint32_t a = ek_load4(input + i), b = ek_load4(input + i + 4);
        ek_store4(output + i, ek_lut_word(table, a));
        ek_store4(output + i + 4, ek_lut_word(table, b));
    }
    for (; i < n; ++i) {
        output[i] = params->table[(int32_t)input[i] + 128];
    }
}
