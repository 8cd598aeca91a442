/* The one size-class series of allockit, shared by the slab allocator,
 * the cache layer (magazine.c) and the hosted heap. Freestanding; not
 * installed.
 *
 * Two rules give AK_SC_COUNT = 44 classes from 16 bytes to 64 KiB:
 *   - 16-byte steps up to 128:  16 32 48 64 80 96 112 128 (classes 0..7)
 *   - four per power of two above, in steps of a quarter of the lower
 *     power: 160 192 224 256, 320 384 448 512, ..., 40960 49152 57344
 *     65536 (classes 8..43).
 * So a request of s bytes wastes under 16 bytes up to 128 and under 25%
 * of s above. A class of size c = k * 2^j (k odd) has 2^j as its lowest
 * set bit: blocks of that size laid end to end from an aligned start are
 * each aligned to 2^j (power-of-two classes to their size).
 * Both mappings are a few instructions, no table and no division.
 */
#ifndef AK_SIZECLASS_H
#define AK_SIZECLASS_H

#include "ak_internal.h"

#define AK_SC_COUNT 44u
#define AK_SC_MAX   ((size_t)65536)

/* The class of the smallest size >= size (size 0 is class 0);
 * size <= AK_SC_MAX. */
static AK_ALWAYS_INLINE unsigned ak_sc_index(size_t size)
{
    if (size <= 128) {
        unsigned q = (unsigned)((size + 15) >> 4);
        return q ? q - 1u : 0u;
    }
    unsigned t = ak_fls_size(size - 1); /* 7 .. 15 */
    return 8u + 4u * (t - 7u) + (unsigned)(((size - 1) >> (t - 2u)) & 3u);
}

/* The size of class c < AK_SC_COUNT. */
static AK_ALWAYS_INLINE size_t ak_sc_size(unsigned c)
{
    if (c < 8u)
        return (size_t)(c + 1u) << 4;
    unsigned j = (c - 8u) >> 2, k = (c - 8u) & 3u;
    return ((size_t)32 << j) * (5u + k);
}

/* The alignment every block of class c has when blocks of the class are
 * laid end to end from a start aligned to it: the size's lowest set bit. */
static AK_ALWAYS_INLINE size_t ak_sc_align(unsigned c)
{
    size_t s = ak_sc_size(c);
    return s & (~s + 1u);
}

#endif /* AK_SIZECLASS_H */
