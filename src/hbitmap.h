/* Hierarchical bitmap: the one bitmap primitive behind the page allocator
 * (src/bitmap_page.c) and the ID allocator (src/bitmap_id.c). Internal;
 * freestanding.
 *
 * Layout. The caller owns a uint64_t array of AK_HB_STORAGE_WORDS(nbits)
 * words (sized at compile time, inside the allocator object) and a
 * constant geometry built with AK_HB_GEOM(nbits). Level 0 holds one bit per
 * unit, 1 = free, 0 = in use or not managed. Each upper level l >= 1 has
 * two summary arrays with one bit per word of level l-1:
 *   any[l]  bit i: word i of any[l-1] (level 0: the units) has a set bit,
 *                  i.e. block i holds at least one free unit;
 *   full[l] bit i: word i of full[l-1] is all ones, i.e. every unit of
 *                  block i is free.
 * The top level is a single word. Bits past the end (units >= nbits,
 * summary bits for words that do not exist) are always 0, so an
 * all-zero array is a valid, entirely-in-use bitmap.
 *
 * Costs (L = number of levels, <= 6; 4 for 2^20 units, 5 for 2^28):
 *   next free / next in-use unit from a position: O(L) (climb, then descend)
 *   mark a run used or free: O(n/64 + L) word operations, O(L) for n = 1
 *   find a free run of n units at index = phase (mod align), lowest first:
 *     n = 1, align = 1: O(L);
 *     n < 64, align < 64: a word-parallel scan of each word that has a
 *       free unit (runs across a word boundary included), whole in-use
 *       words skipped through any[]; O(log n) per word visited;
 *     otherwise: candidate starts only where they can succeed (the free
 *       top of a word when n >= 64, one aligned index when align >= 64),
 *       each checked with one "next in-use unit" query that crosses free
 *       blocks through full[]; each candidate advances by at least a word
 *       or an alignment step.
 *     Worst case O(nbits/64) words (times L for the queries); typical is a
 *     few queries, because in-use prefixes are jumped over, not scanned.
 *
 * Also here: the managed-range records shared by both allocators (sorted,
 * disjoint, non-adjacent [start, end) pairs kept in a flat array).
 */
#ifndef AK_HBITMAP_H
#define AK_HBITMAP_H

#include "ak_internal.h"

/* Storage size of a bitmap of n units, in 64-bit words. These macros are
 * repeated, identically, in <allockit/bitmap_page.h> and
 * <allockit/bitmap_id.h> (public headers cannot include this one); the
 * guard makes whichever comes first the definition. */
#ifndef AK_HB_STORAGE_WORDS
#define AK_HB_DIV64_(x) (((x) >> 6) + (((x)&63u) != 0))
#define AK_HB_W0_(n)    AK_HB_DIV64_(n)
#define AK_HB_W1_(n)    AK_HB_DIV64_(AK_HB_W0_(n))
#define AK_HB_W2_(n)    AK_HB_DIV64_(AK_HB_W1_(n))
#define AK_HB_W3_(n)    AK_HB_DIV64_(AK_HB_W2_(n))
#define AK_HB_W4_(n)    AK_HB_DIV64_(AK_HB_W3_(n))
#define AK_HB_W5_(n)    AK_HB_DIV64_(AK_HB_W4_(n))
/* Summary level k exists when level k-1 has more than one word. */
#define AK_HB_S_(prev, cur) ((prev) > 1u ? (cur) : 0u)
#define AK_HB_S1_(n)        AK_HB_S_(AK_HB_W0_(n), AK_HB_W1_(n))
#define AK_HB_S2_(n)        AK_HB_S_(AK_HB_W1_(n), AK_HB_W2_(n))
#define AK_HB_S3_(n)        AK_HB_S_(AK_HB_W2_(n), AK_HB_W3_(n))
#define AK_HB_S4_(n)        AK_HB_S_(AK_HB_W3_(n), AK_HB_W4_(n))
#define AK_HB_S5_(n)        AK_HB_S_(AK_HB_W4_(n), AK_HB_W5_(n))
#define AK_HB_STORAGE_WORDS(n)                                                                     \
    (AK_HB_W0_(n) + 2u * (AK_HB_S1_(n) + AK_HB_S2_(n) + AK_HB_S3_(n) + AK_HB_S4_(n) + AK_HB_S5_(n)))
/* True if n units fit the six levels (top level one word): n <= 2^36. */
#define AK_HB_FITS(n) ((n) >= 1u && AK_HB_W5_(n) == 1u)
#endif

#define AK_HB_MAX_LEVELS 6
#define AK_HB_NONE       SIZE_MAX

/* Where each level lives in the storage array. Level 0 is at offset 0 and
 * serves as both its own any[] and full[] (any[0] == full[0] == 0). */
typedef struct ak_hb_geom {
    size_t nbits;                   /* units */
    size_t levels;                  /* 1..6, level 0 included */
    size_t words[AK_HB_MAX_LEVELS]; /* words per level */
    size_t any[AK_HB_MAX_LEVELS];   /* offset of any[l] */
    size_t full[AK_HB_MAX_LEVELS];  /* offset of full[l] */
} ak_hb_geom;

#define AK_HB_LEVELS_(n)                                                                           \
    (1u + (AK_HB_W0_(n) > 1u) + (AK_HB_W1_(n) > 1u) + (AK_HB_W2_(n) > 1u) + (AK_HB_W3_(n) > 1u) +  \
     (AK_HB_W4_(n) > 1u))
#define AK_HB_ANY1_(n) (AK_HB_W0_(n))
#define AK_HB_ANY2_(n) (AK_HB_ANY1_(n) + 2u * AK_HB_S1_(n))
#define AK_HB_ANY3_(n) (AK_HB_ANY2_(n) + 2u * AK_HB_S2_(n))
#define AK_HB_ANY4_(n) (AK_HB_ANY3_(n) + 2u * AK_HB_S3_(n))
#define AK_HB_ANY5_(n) (AK_HB_ANY4_(n) + 2u * AK_HB_S4_(n))

/* A constant initialiser for the geometry of an n-unit bitmap. */
#define AK_HB_GEOM(n)                                                                              \
    {                                                                                              \
        (size_t)(n), (size_t)AK_HB_LEVELS_(n),                                                     \
            {AK_HB_W0_(n), AK_HB_S1_(n), AK_HB_S2_(n), AK_HB_S3_(n), AK_HB_S4_(n), AK_HB_S5_(n)},  \
            {0, AK_HB_ANY1_(n), AK_HB_ANY2_(n), AK_HB_ANY3_(n), AK_HB_ANY4_(n), AK_HB_ANY5_(n)},   \
        {                                                                                          \
            0, AK_HB_ANY1_(n) + AK_HB_S1_(n), AK_HB_ANY2_(n) + AK_HB_S2_(n),                       \
                AK_HB_ANY3_(n) + AK_HB_S3_(n), AK_HB_ANY4_(n) + AK_HB_S4_(n),                      \
                AK_HB_ANY5_(n) + AK_HB_S5_(n)                                                      \
        }                                                                                          \
    }

/* ---- the bitmap (w has AK_HB_STORAGE_WORDS(g->nbits) words) ---- */

/* Every unit in use (all words zero). O(storage words). */
void ak_hb_clear(const ak_hb_geom *g, uint64_t *w);

/* True if unit i (< nbits) is free. O(1). */
static inline bool ak_hb_is_free(const uint64_t *w, size_t i)
{
    return (w[i >> 6] >> (i & 63)) & 1u;
}

/* Lowest free unit >= from, or AK_HB_NONE. O(levels). */
size_t ak_hb_next_free(const ak_hb_geom *g, const uint64_t *w, size_t from);

/* Lowest in-use unit >= from, or nbits if every unit from there is free.
 * O(levels). */
size_t ak_hb_next_used(const ak_hb_geom *g, const uint64_t *w, size_t from);

/* Mark [start, start+n) free / in use; n >= 1, start+n <= nbits. The units
 * need not all be in the opposite state. O(n/64 + levels). */
void ak_hb_set_free(const ak_hb_geom *g, uint64_t *w, size_t start, size_t n);
void ak_hb_set_used(const ak_hb_geom *g, uint64_t *w, size_t start, size_t n);

/* Lowest index i >= from with i = phase (mod align) and [i, i+n) all free,
 * or AK_HB_NONE. n >= 1; align a power of two; phase < align. See the
 * header comment for the cost. */
size_t ak_hb_find(const ak_hb_geom *g, const uint64_t *w, size_t from, size_t n, size_t align,
                  size_t phase);

/* Move every unit i to i + k (units below k become in use). The caller
 * guarantees that no free unit is at or above nbits - k. O(storage words). */
void ak_hb_shift_up(const ak_hb_geom *g, uint64_t *w, size_t k);

/* Number of free units in [start, start+n). O(n/64). */
size_t ak_hb_count_free(const uint64_t *w, size_t start, size_t n);

/* NULL if every summary bit agrees with level 0 and every bit past the end
 * is 0, else the first broken invariant. O(storage words). */
const char *ak_hb_check(const ak_hb_geom *g, const uint64_t *w);

/* ---- managed-range records ----
 * r[2i] = start, r[2i+1] = end (exclusive) of record i, as handed over by
 * the user (raw, before trimming to units of 2^shift). Sorted by start,
 * disjoint, and never adjacent: a range that touches a record is merged
 * into it. The units a record manages are the whole units inside it:
 * [ak_hb_unit_first(start), ak_hb_unit_end(end)). */

static inline uintptr_t ak_hb_unit_first(uintptr_t start, unsigned shift)
{
    return (start >> shift) + ((start & (((uintptr_t)1 << shift) - 1)) != 0);
}

static inline uintptr_t ak_hb_unit_end(uintptr_t end, unsigned shift)
{
    return end >> shift;
}

/* What adding a range would do; filled by ak_hb_ranges_plan. */
typedef struct ak_hb_add_plan {
    size_t pos;           /* index of the record (new or merged) */
    bool merge_prev;      /* record pos-1 absorbs the range... */
    bool merge_next;      /* ...and/or record pos (the next one) does */
    uintptr_t start, end; /* the resulting record */
    uintptr_t new_first;  /* units [new_first, new_end) become managed */
    uintptr_t new_end;
    uintptr_t lowest; /* lowest managed unit afterwards */
} ak_hb_add_plan;

/* Plan adding [start, start+size) to the n records of r (room for max).
 * Nothing is changed. @p cap is the window: all managed units must lie in
 * [lowest, lowest + cap).
 * @retval AK_ERR_INVALID_PARAM size 0, the range wraps, it adds no whole
 *         unit, or the managed units would not fit the window
 * @retval AK_ERR_MEMORY_OVERLAP it shares an address with a record
 * @retval AK_ERR_NO_MEMORY all max records are in use and it touches none */
ak_error ak_hb_ranges_plan(const uintptr_t *r, size_t n, size_t max, uintptr_t start, size_t size,
                           unsigned shift, size_t cap, ak_hb_add_plan *plan);

/* Apply a plan made on the same records. O(records). */
void ak_hb_ranges_commit(uintptr_t *r, size_t *n, const ak_hb_add_plan *plan);

/* Index of the record whose units contain [unit, unit+count), or n if no
 * single record does (count >= 1). O(log records). */
size_t ak_hb_ranges_find(const uintptr_t *r, size_t n, uintptr_t unit, size_t count,
                         unsigned shift);

/* NULL if the records are sorted, disjoint, non-adjacent, each holding at
 * least one unit, the first starting at unit @p lowest, all within
 * [lowest, lowest + cap), with @p total units in all; and if exactly the
 * managed units may be free in the bitmap (no free unit between records),
 * else the first broken invariant. */
const char *ak_hb_ranges_check(const uintptr_t *r, size_t n, size_t max, unsigned shift,
                               uintptr_t lowest, size_t cap, size_t total, const ak_hb_geom *g,
                               const uint64_t *w);

#endif /* AK_HBITMAP_H */
