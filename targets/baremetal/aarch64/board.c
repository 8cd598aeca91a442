/* QEMU `virt` board, AArch64 (cortex-a53 or max), EL1 or EL2 with the MMU
 * off: console on the PL011 UART at 0x09000000, exit through Arm
 * semihosting (SYS_EXIT; QEMU needs -semihosting). Built with
 * -mgeneral-regs-only, so the FP/SIMD unit is never touched and needs no
 * enabling, and with -mstrict-align because with the MMU off all data
 * accesses are Device memory, where an unaligned access faults. */
#include "../common/bm.h"

#define UART_BASE    0x09000000u
#define UART_DR      0x00  /* data register */
#define UART_FR      0x18  /* flag register */
#define UART_FR_TXFF 0x20u /* transmit FIFO full */

#define SEMIHOSTING_SYS_EXIT         0x18u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

#ifdef __AARCH64EB__
const char bm_target_name[] = "aarch64_be";
#else
const char bm_target_name[] = "aarch64";
#endif

/* Byte accesses: the PL011's registers are little-endian words, and a byte
 * access to their low byte reads and writes the same bits whatever the
 * CPU's data endianness (the aarch64_be image runs with SCTLR.EE set). */
void bm_uart_putc(char c)
{
    volatile uint8_t *uart = (volatile uint8_t *)(uintptr_t)UART_BASE;
    while (uart[UART_FR] & UART_FR_TXFF)
        ;
    uart[UART_DR] = (uint8_t)c;
}

_Noreturn void bm_exit(int code)
{
    /* AArch64 SYS_EXIT takes a pointer to {reason, exit status}. */
#ifdef __AARCH64EB__
    /* QEMU reads the block in little-endian order whatever SCTLR.EE says. */
    volatile uint64_t block[2] = {__builtin_bswap64(ADP_STOPPED_APPLICATION_EXIT),
                                  __builtin_bswap64((uint64_t)(unsigned)code)};
#else
    volatile uint64_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint64_t)(unsigned)code};
#endif
    register uint64_t op __asm__("x0") = SEMIHOSTING_SYS_EXIT;
    register uint64_t arg __asm__("x1") = (uint64_t)(uintptr_t)block;
    __asm__ volatile("hlt #0xf000" : : "r"(op), "r"(arg) : "memory");
    /* Without -semihosting QEMU treats hlt as undefined: we end up in the
     * vector and park there, and the caller's timeout turns it into a failure. */
    for (;;)
        __asm__ volatile("wfe");
}

/* Called from the vector table in start.S with the vector index and the
 * syndrome registers of the current exception level. */
void bm_trap(uint64_t vector, uint64_t esr, uint64_t elr, uint64_t far);
void bm_trap(uint64_t vector, uint64_t esr, uint64_t elr, uint64_t far)
{
    bm_printf("\n%s: exception vector=%lu esr=%lx elr=%lx far=%lx\n", bm_target_name,
              (unsigned long)vector, (unsigned long)esr, (unsigned long)elr, (unsigned long)far);
    bm_exit(3);
}
