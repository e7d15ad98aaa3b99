/* Tick counter on real Cortex-M3/M4/M7/M33/M55 silicon: the DWT cycle counter, so a tick is one
 * core clock cycle. QEMU does not model it; QEMU boards use their timers instead. */
#include "ek_board.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

void ek_counter_start(void)
{
    DEMCR |= 1u << 24;      /* TRCENA: power the DWT */
    DWT_LAR = 0xC5ACCE55u; /* unlock, on cores (Cortex-M7) whose DWT has a lock */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;         /* CYCCNTENA */
}

uint64_t ek_counter_read(void)
{
    return DWT_CYCCNT;
}
