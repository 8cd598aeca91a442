/* A tiny test harness shared by every test program: check macros that
 * report file, line and the failing expression; a seeded PRNG; command-line
 * options for the seed and the amount of work; and a closing line
 * "N passed, M failed" per program.
 *
 * Usage:
 *   static void test_foo(void) { CHECK(1 + 1 == 2); CHECK_OK(ak_...); }
 *   int main(int argc, char **argv) {
 *       ak_test_init(argc, argv, "test_core");
 *       RUN(test_foo);
 *       return ak_test_finish();
 *   }
 * Options: --seed=N (PRNG seed, default 1), --ops=N (work scale for
 * randomised tests; each test documents its default), --quick (small
 * scale, for sanitizer and emulator runs). The environment variables
 * AK_TEST_SEED, AK_TEST_OPS and AK_TEST_QUICK do the same.
 */
#ifndef AK_TESTLIB_H
#define AK_TESTLIB_H

#include "ak_rng.h"
#include <allockit/core.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ak_test_state {
    const char *program;
    const char *current;
    unsigned passed, failed;
    uint64_t seed;
    uint64_t ops; /* 0: use the test's default */
    int quick;
    jmp_buf on_fail;
} ak_test_state;

static ak_test_state ak_t;

static inline void ak_test_init(int argc, char **argv, const char *program)
{
    ak_t.program = program;
    ak_t.seed = 1;
    const char *e;
    if ((e = getenv("AK_TEST_SEED")) && *e)
        ak_t.seed = strtoull(e, NULL, 0);
    if ((e = getenv("AK_TEST_OPS")) && *e)
        ak_t.ops = strtoull(e, NULL, 0);
    if ((e = getenv("AK_TEST_QUICK")) && *e && strcmp(e, "0") != 0)
        ak_t.quick = 1;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--seed=", 7))
            ak_t.seed = strtoull(argv[i] + 7, NULL, 0);
        else if (!strncmp(argv[i], "--ops=", 6))
            ak_t.ops = strtoull(argv[i] + 6, NULL, 0);
        else if (!strcmp(argv[i], "--quick"))
            ak_t.quick = 1;
        else {
            fprintf(stderr, "%s: unknown option %s (--seed=N --ops=N --quick)\n", program, argv[i]);
            exit(2);
        }
    }
    printf("%s: seed=%llu%s\n", program, (unsigned long long)ak_t.seed,
           ak_t.quick ? " (quick)" : "");
    fflush(stdout);
}

/* The work scale for a randomised test: --ops if given, else `full`, or
 * `quick` under --quick. */
static inline uint64_t ak_test_ops(uint64_t full, uint64_t quick)
{
    if (ak_t.ops)
        return ak_t.ops;
    return ak_t.quick ? quick : full;
}

static inline void ak_test_fail(const char *file, int line, const char *what)
{
    printf("  FAIL %s (%s:%d): %s [replay: --seed=%llu]\n", ak_t.current ? ak_t.current : "?", file,
           line, what, (unsigned long long)ak_t.seed);
    fflush(stdout);
    longjmp(ak_t.on_fail, 1);
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ak_test_fail(__FILE__, __LINE__, #cond);                                               \
    } while (0)

/* CHECK with a printf-style explanation. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            char ak_msg_[512];                                                                     \
            int ak_n_ = snprintf(ak_msg_, sizeof ak_msg_, "%s: ", #cond);                          \
            snprintf(ak_msg_ + ak_n_, sizeof ak_msg_ - (size_t)ak_n_, __VA_ARGS__);                \
            ak_test_fail(__FILE__, __LINE__, ak_msg_);                                             \
        }                                                                                          \
    } while (0)

/* An ak_error-returning expression must give the expected code. */
#define CHECK_ERR(expr, expected)                                                                  \
    do {                                                                                           \
        ak_error ak_e_ = (expr);                                                                   \
        if (ak_e_ != (expected)) {                                                                 \
            char ak_msg_[512];                                                                     \
            snprintf(ak_msg_, sizeof ak_msg_, "%s gave %s, expected %s", #expr,                    \
                     ak_error_name(ak_e_), ak_error_name(expected));                               \
            ak_test_fail(__FILE__, __LINE__, ak_msg_);                                             \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, AK_OK)

/* A *_check result (NULL = all invariants hold) must be NULL. */
#define CHECK_INVARIANTS(check_expr)                                                               \
    do {                                                                                           \
        const char *ak_why_ = (check_expr);                                                        \
        if (ak_why_) {                                                                             \
            char ak_msg_[512];                                                                     \
            snprintf(ak_msg_, sizeof ak_msg_, "%s: broken invariant: %s", #check_expr, ak_why_);   \
            ak_test_fail(__FILE__, __LINE__, ak_msg_);                                             \
        }                                                                                          \
    } while (0)

static inline void ak_test_run(const char *name, void (*fn)(void))
{
    ak_t.current = name;
    printf("  %s ... ", name);
    fflush(stdout);
    if (setjmp(ak_t.on_fail) == 0) {
        fn();
        printf("ok\n");
        ak_t.passed++;
    } else {
        ak_t.failed++;
    }
    fflush(stdout);
    ak_t.current = NULL;
}

#define RUN(fn) ak_test_run(#fn, fn)

static inline int ak_test_finish(void)
{
    printf("%s: %u passed, %u failed\n", ak_t.program, ak_t.passed, ak_t.failed);
    return ak_t.failed ? 1 : 0;
}

/* ---- PRNG (ak_rng.h) helpers ---- */

/* Uniform in [0, n); n > 0. (Modulo; the bias is < n / 2^64, and it
 * avoids 128-bit arithmetic so the tests build for 32-bit targets.) */
static inline uint64_t ak_rng_below(ak_rng *r, uint64_t n)
{
    return ak_rng_next(r) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t ak_rng_range(ak_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + ak_rng_below(r, hi - lo + 1);
}

/* Log-uniform in [lo, hi] (lo >= 1): every power-of-two band equally likely. */
static inline uint64_t ak_rng_log_uniform(ak_rng *r, uint64_t lo, uint64_t hi)
{
    unsigned lo_bits = 63u - (unsigned)__builtin_clzll(lo);
    unsigned hi_bits = 63u - (unsigned)__builtin_clzll(hi);
    for (;;) {
        unsigned b = (unsigned)ak_rng_range(r, lo_bits, hi_bits);
        uint64_t base = 1ull << b;
        uint64_t v = base + ak_rng_below(r, base);
        if (v >= lo && v <= hi)
            return v;
    }
}

/* ---- content patterns for live-block verification ---- */

/* Fill [p, p+n) with bytes derived from tag; verify with ak_pattern_ok. */
static inline void ak_pattern_fill(void *p, size_t n, uint64_t tag)
{
    unsigned char *b = (unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)((tag * 0x9e3779b97f4a7c15ull + i * 131u) >> 24);
}

static inline int ak_pattern_ok(const void *p, size_t n, uint64_t tag)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)((tag * 0x9e3779b97f4a7c15ull + i * 131u) >> 24))
            return 0;
    return 1;
}

#endif /* AK_TESTLIB_H */
