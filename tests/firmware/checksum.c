/* Test firmware for edgekit.emulate. Input: a little-endian uint32 loop count, then data bytes.
 * Output: each data byte mixed with a table held in .data (written as it goes, so it must be
 * in RAM with its initial values copied there at reset), then four little-endian uint32:
 * the byte sum computed in float (exercises the FPU the start-up enables), a .bss word that must
 * still be zero, the state of an LCG run for the loop count, and the loop count itself. */
#include "ek_board.h"

#include <stdint.h>

static uint8_t table[4] = {0x11, 0x22, 0x44, 0x88}; /* .data */
static uint32_t zero;                               /* .bss */
static uint8_t buf[4096 + 16];

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int main(void)
{
    long n = ek_read_file(EK_INPUT_FILE, buf, sizeof buf - 16);
    if (n < 4)
        return 1;
    uint32_t loops = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
                     (uint32_t)buf[3] << 24;
    long size = n - 4;
    uint8_t *data = buf + 4;

    ek_counter_start();
    float sum = 0.0f;
    for (long i = 0; i < size; i++) {
        sum += (float)data[i] * 0.5f;
        data[i] = (uint8_t)((data[i] ^ table[i & 3]) + 7);
        table[i & 3]++;
    }
    uint32_t x = 1;
    for (uint32_t i = 0; i < loops; i++)
        x = x * 1103515245u + 12345u;
    uint64_t ticks[1] = {ek_counter_read()};

    put_u32(data + size, (uint32_t)(sum * 2.0f));
    put_u32(data + size + 4, zero);
    put_u32(data + size + 8, x);
    put_u32(data + size + 12, loops);
    if (ek_write_file(EK_TICKS_FILE, ticks, sizeof ticks) != 0)
        return 2;
    return ek_write_file(EK_OUTPUT_FILE, data, (size_t)size + 16) == 0 ? 0 : 3;
}
