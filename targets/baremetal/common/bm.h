/* Bare-metal runtime for the allockit boot harness: what a kernel would
 * have to provide and nothing more. Console output through the board's
 * UART, an exit that reports pass/fail to the emulator, the three memory
 * functions the allocator core may call, number formatting, a seeded PRNG
 * and the test bookkeeping. No libc: only compiler-provided headers. */
#ifndef AK_BM_H
#define AK_BM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- provided by the board file (targets/baremetal/<arch>/board.c) ---- */

/** Name of the target, printed in the closing line ("riscv64"). */
extern const char bm_target_name[];
/** Send one byte to the console UART (blocking). */
void bm_uart_putc(char c);
/** Tell the emulator the run is over: code 0 passes, anything else fails. */
_Noreturn void bm_exit(int code);

/* ---- provided by the linker script ---- */

/** The RAM the harness hands to the allocators: from the first page past
 *  the image (code, data, bss, stack) for AK_BM_HEAP_SIZE bytes. */
extern char __heap_start[], __heap_end[];

/* ---- runtime (common/rt.c) ---- */

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void bm_puts(const char *s);
/** printf subset: %s %c %d %u %x %p %%, with l, ll and z length modifiers
 *  and a field width (e.g. %8u, %016llx). */
void bm_printf(const char *fmt, ...);
/** Format into buf (always NUL-terminated); returns the length written. */
size_t bm_snprintf(char *buf, size_t cap, const char *fmt, ...);
size_t bm_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap);

/* ---- test bookkeeping ----
 * A test is a void function; CHECK records a failure and returns from the
 * function it appears in. Helpers called by a test return early once
 * bm_failed() is set, so one failure ends the test. */
extern unsigned bm_passed, bm_failed_count;
extern int bm_test_failed;
void bm_fail(const char *file, int line, const char *fmt, ...);
void bm_run(const char *name, void (*fn)(void));
#define bm_failed() (bm_test_failed != 0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            bm_fail(__FILE__, __LINE__, "%s", #cond);                                              \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            bm_fail(__FILE__, __LINE__, __VA_ARGS__);                                              \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_ERR(expr, expected)                                                                  \
    do {                                                                                           \
        ak_error bm_e_ = (expr);                                                                   \
        if (bm_e_ != (expected)) {                                                                 \
            bm_fail(__FILE__, __LINE__, "%s gave %s, expected %s", #expr, ak_error_name(bm_e_),    \
                    ak_error_name(expected));                                                      \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, AK_OK)

#define CHECK_INVARIANTS(expr)                                                                     \
    do {                                                                                           \
        const char *bm_why_ = (expr);                                                              \
        if (bm_why_) {                                                                             \
            bm_fail(__FILE__, __LINE__, "%s: broken invariant: %s", #expr, bm_why_);               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Propagate a failure out of a helper call. */
#define TRY(call)                                                                                  \
    do {                                                                                           \
        call;                                                                                      \
        if (bm_failed())                                                                           \
            return;                                                                                \
    } while (0)

/* ---- PRNG: the project's one generator (tests/ak_rng.h) ---- */
#include "ak_rng.h"

typedef ak_rng bm_rng;

void bm_rng_seed(bm_rng *r, uint64_t seed);
uint64_t bm_rng_next(bm_rng *r);
/** Uniform in [0, n), n > 0. */
uint64_t bm_rng_below(bm_rng *r, uint64_t n);

#endif /* AK_BM_H */
