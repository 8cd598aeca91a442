/* Internal machinery shared by the allocators: bit tricks, checked
 * arithmetic, and the region list. Not installed; freestanding. */
#ifndef AK_INTERNAL_H
#define AK_INTERNAL_H

#include <allockit/core.h>

#define AK_SIZE_BITS ((unsigned)(sizeof(size_t) * CHAR_BIT))

/* Branch and inlining hints: the fast paths stay short and save few
 * registers when their rare cases are out of line. */
#if defined(__GNUC__) || defined(__clang__)
#define AK_LIKELY(x)     __builtin_expect(!!(x), 1)
#define AK_UNLIKELY(x)   __builtin_expect(!!(x), 0)
#define AK_NOINLINE      __attribute__((noinline))
#define AK_ALWAYS_INLINE __attribute__((always_inline)) inline
#define AK_COLD          __attribute__((noinline, cold))
#else
#define AK_LIKELY(x)   (x)
#define AK_UNLIKELY(x) (x)
#define AK_NOINLINE
#define AK_ALWAYS_INLINE inline
#define AK_COLD
#endif

_Static_assert(sizeof(size_t) == sizeof(uintptr_t), "size_t and uintptr_t must have one width");
_Static_assert(sizeof(unsigned long long) == 8, "64-bit unsigned long long expected");

/* ---- bit tricks (callers guarantee x != 0 where noted) ---- */

/* Index of the lowest set bit of a non-zero 64-bit word. */
static inline unsigned ak_ffs64(uint64_t x)
{
    return (unsigned)__builtin_ctzll(x);
}

/* Index of the highest set bit of a non-zero 64-bit word. XOR rather
 * than subtract: the same value, which compilers turn into one bit-scan. */
static inline unsigned ak_fls64(uint64_t x)
{
    return 63u ^ (unsigned)__builtin_clzll(x);
}

/* Index of the lowest set bit of a non-zero 32-bit word. */
static inline unsigned ak_ffs32(uint32_t x)
{
    return (unsigned)__builtin_ctz(x);
}

/* Index of the highest set bit of a non-zero 32-bit word. */
static inline unsigned ak_fls32(uint32_t x)
{
    return 31u ^ (unsigned)__builtin_clz(x);
}

/* Index of the highest set bit of a non-zero size_t. */
static inline unsigned ak_fls_size(size_t x)
{
    return (unsigned)(sizeof(size_t) == 8 ? ak_fls64((uint64_t)x) : ak_fls32((uint32_t)x));
}

/* Index of the lowest set bit of a non-zero size_t. */
static inline unsigned ak_ffs_size(size_t x)
{
    return (unsigned)(sizeof(size_t) == 8 ? ak_ffs64((uint64_t)x) : ak_ffs32((uint32_t)x));
}

/* Number of set bits. Written out (SWAR) rather than __builtin_popcountll,
 * which on targets without a popcount instruction (rv64imac, armv7-m)
 * becomes a call into the compiler runtime that bare-metal images lack. */
static inline unsigned ak_popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* ---- checked arithmetic ---- */

/* *out = a + b; returns true (and *out is unspecified) on overflow. */
static inline bool ak_add_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

/* *out = a * b; returns true (and *out is unspecified) on overflow. */
static inline bool ak_mul_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

/* The end of [start, start+size), or false if size is 0 or the range wraps
 * around the address space (the contract's AK_ERR_INVALID_PARAM case). */
static inline bool ak_range_end(uintptr_t start, size_t size, uintptr_t *end)
{
    if (size == 0)
        return false;
    return !__builtin_add_overflow(start, (uintptr_t)size, end);
}

/* [a0, a1) and [b0, b1) share a byte. */
static inline bool ak_ranges_overlap(uintptr_t a0, uintptr_t a1, uintptr_t b0, uintptr_t b1)
{
    return a0 < b1 && b0 < a1;
}

#endif /* AK_INTERNAL_H */
