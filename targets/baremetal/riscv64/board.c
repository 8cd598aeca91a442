/* QEMU `virt` board, RISC-V 64 (or 32: the riscv32 image is built from
 * these files too), machine mode, no firmware (-bios none):
 * console on the NS16550A UART at 0x10000000, exit through the SiFive test
 * device at 0x100000 (QEMU's own exit status becomes the code written). */
#include "../common/bm.h"

#define UART_BASE     0x10000000u
#define UART_THR      0 /* transmit holding register */
#define UART_LSR      5 /* line status register */
#define UART_LSR_THRE 0x20u
#define TEST_BASE     0x100000u
#define TEST_PASS     0x5555u
#define TEST_FAIL     0x3333u

#if __riscv_xlen == 64
const char bm_target_name[] = "riscv64";
#else
const char bm_target_name[] = "riscv32";
#endif

void bm_uart_putc(char c)
{
    volatile uint8_t *uart = (volatile uint8_t *)(uintptr_t)UART_BASE;
    while (!(uart[UART_LSR] & UART_LSR_THRE))
        ;
    uart[UART_THR] = (uint8_t)c;
}

_Noreturn void bm_exit(int code)
{
    volatile uint32_t *test = (volatile uint32_t *)(uintptr_t)TEST_BASE;
    /* A failing code must not be 0 in the upper half, or QEMU would exit 0. */
    uint32_t c = (uint32_t)code & 0xffffu;
    *test = code == 0 ? TEST_PASS : ((c ? c : 1u) << 16) | TEST_FAIL;
    for (;;)
        __asm__ volatile("wfi");
}

/* Called from the trap vector in start.S: any exception is a harness or
 * allocator fault (bad pointer, misaligned access the core should not do),
 * so report it and fail instead of hanging until the timeout. */
void bm_trap(uintptr_t mcause, uintptr_t mepc, uintptr_t mtval);
void bm_trap(uintptr_t mcause, uintptr_t mepc, uintptr_t mtval)
{
    bm_printf("\n%s: trap mcause=%lx mepc=%lx mtval=%lx\n", bm_target_name, (unsigned long)mcause,
              (unsigned long)mepc, (unsigned long)mtval);
    bm_exit(3);
}
