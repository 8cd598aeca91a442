/* Entry for qemu-system-riscv64 (and riscv32) -machine virt -bios none: the reset ROM
 * jumps to the start of RAM (0x80000000) in machine mode with a0 = hart id.
 * Hart 0 sets up a trap vector and the stack, clears .bss and calls
 * bm_main; other harts (with -smp > 1) park. */
#if __riscv_xlen == 64
#define STORE_WORD sd
#define WORD_BYTES 8
#else
#define STORE_WORD sw
#define WORD_BYTES 4
#endif
    .section .text.start, "ax"
    .globl _start
_start:
    csrr    t0, mhartid
    bnez    t0, park
    /* No F/D extensions in the build (-march=rv64imac), so mstatus.FS stays off. */
    la      t0, trap_vector
    csrw    mtvec, t0
    la      sp, __stack_top
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    STORE_WORD zero, 0(t0)
    addi    t0, t0, WORD_BYTES
    j       1b
2:  call    bm_main
    call    bm_exit
park:
    wfi
    j       park

    .balign 4
trap_vector:
    /* Fresh stack: the fault may have come from a corrupt sp. */
    la      sp, __stack_top
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    bm_trap
    j       park
