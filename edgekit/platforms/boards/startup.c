/* Reset path for edgekit firmware on any Cortex-M: the vector table, .data and .bss set-up, the
 * FPU (and on the M55, MVE) switched on, then main(). Nothing else is configured: no clocks, no
 * caches, no interrupts; firmware that needs them sets them up itself. */
#include "ek_board.h"

#include <string.h>

/* Defined by sections.ld. */
extern uint32_t __stack_top[];
extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];

int main(void);

void ek_reset_handler(void) __attribute__((noreturn));
void ek_fault_handler(void) __attribute__((noreturn));

#define CPACR (*(volatile uint32_t *)0xE000ED88u)

void ek_reset_handler(void)
{
    memcpy(__data_start, __data_load, (size_t)((char *)__data_end - (char *)__data_start));
    memset(__bss_start, 0, (size_t)((char *)__bss_end - (char *)__bss_start));
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* Full access to coprocessors 10 and 11: the FPU, and MVE which shares its registers. */
    CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    ek_exit(main());
}

/* A fault or an unexpected interrupt ends the run with a message, rather than hanging. */
void ek_fault_handler(void)
{
    ek_puts("edgekit: unexpected exception (fault or interrupt); stopping\n");
    ek_exit(1);
}

/* The sixteen Armv7-M/Armv8-M system exception entries; edgekit firmware enables no interrupts. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top,
    ek_reset_handler,
    ek_fault_handler, /* NMI */
    ek_fault_handler, /* HardFault */
    ek_fault_handler, /* MemManage */
    ek_fault_handler, /* BusFault */
    ek_fault_handler, /* UsageFault */
    ek_fault_handler, /* SecureFault (Armv8-M) */
    0,
    0,
    0,
    ek_fault_handler, /* SVCall */
    ek_fault_handler, /* DebugMonitor */
    0,
    ek_fault_handler, /* PendSV */
    ek_fault_handler, /* SysTick */
};
