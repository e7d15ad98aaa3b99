/* Tick counter on the SSE-300 system counter (Corstone-300, mps3-an547): a 64-bit up-counter,
 * enabled through CNTCR in the secure control frame and read from the status frame. */
#include "ek_board.h"

#define CNTCR (*(volatile uint32_t *)0x58100000u)
#define CNTCV_LO (*(volatile uint32_t *)0x58101000u)
#define CNTCV_HI (*(volatile uint32_t *)0x58101004u)

static uint64_t start_count;

static uint64_t read_count(void)
{
    uint32_t hi, lo;
    do { /* re-read if the low word wrapped between the two reads */
        hi = CNTCV_HI;
        lo = CNTCV_LO;
    } while (hi != CNTCV_HI);
    return (uint64_t)hi << 32 | lo;
}

void ek_counter_start(void)
{
    CNTCR |= 1u; /* EN */
    start_count = read_count();
}

uint64_t ek_counter_read(void)
{
    return read_count() - start_count;
}
