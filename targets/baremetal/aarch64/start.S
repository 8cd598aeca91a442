/* Entry for qemu-system-aarch64 -machine virt -kernel image.elf: QEMU loads
 * the ELF and starts the primary CPU at _start, at EL1 (or EL2 if the board
 * has virtualization on), MMU and caches off. Secondary CPUs park. */
    .section .text.start, "ax"
    .globl _start
_start:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    cbnz    x0, park
    adr     x0, vectors
    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.eq    1f
    msr     vbar_el1, x0
#ifdef __AARCH64EB__
    /* Big-endian data (SCTLR.EE) before the first load or store. */
    mrs     x0, sctlr_el1
    orr     x0, x0, #(1 << 25)
    msr     sctlr_el1, x0
#endif
    b       2f
1:  msr     vbar_el2, x0
#ifdef __AARCH64EB__
    mrs     x0, sctlr_el2
    orr     x0, x0, #(1 << 25)
    msr     sctlr_el2, x0
#endif
2:  isb
    ldr     x0, =__stack_top
    mov     sp, x0
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
3:  cmp     x0, x1
    b.hs    4f
    str     xzr, [x0], #8
    b       3b
4:  bl      bm_main
    b       bm_exit
park:
    wfe
    b       park

/* 16 vectors of 0x80 bytes: pass the index and the syndrome to bm_trap. */
    .macro  vector idx
    .balign 0x80
    mov     x0, #\idx
    b       trap_common
    .endm

    .balign 0x800
vectors:
    vector 0
    vector 1
    vector 2
    vector 3
    vector 4
    vector 5
    vector 6
    vector 7
    vector 8
    vector 9
    vector 10
    vector 11
    vector 12
    vector 13
    vector 14
    vector 15

trap_common:
    ldr     x1, =__stack_top
    mov     sp, x1
    mrs     x4, CurrentEL
    cmp     x4, #(2 << 2)
    b.eq    5f
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    b       6f
5:  mrs     x1, esr_el2
    mrs     x2, elr_el2
    mrs     x3, far_el2
6:  bl      bm_trap
    b       park
