/* Tick counter on the CMSDK APB timer0 of the MPS2 boards (0x40000000): a 32-bit down-counter
 * that reloads from RELOAD when it reaches zero. Clocked at 25 MHz on mps2-an386/an500 and
 * 20 MHz on mps2-an505; a 32-bit count covers over 170 s of virtual time. */
#include "ek_board.h"

#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

static uint32_t start_value;

void ek_counter_start(void)
{
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1; /* enable */
    start_value = TIMER0_VALUE;
}

uint64_t ek_counter_read(void)
{
    return (uint32_t)(start_value - TIMER0_VALUE);
}
