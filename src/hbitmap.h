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
 * The top level is a single word. Beside them, one bit per level-0 word:
 *   cls[c] bit k (c = 1..6): a free run of at least 2^c units starts in
 *                  word k (it may continue into word k+1);
 *   pfx[c] bit k (c = 0..5): the lowest 2^c units of word k are free (the
 *                  starts that an alignment of 64 or more allows, when
 *                  the caller keeps index 0 at such a boundary);
 *   dirty[1] bit k: word k changed since cls[] was brought up to date,
 *                  with dirty[l] summarising dirty[l-1] as any[] does.
 * cls[] and pfx[] let a run search skip every word in which no long
 * enough run starts, however fragmented the low part is. Single-unit changes only
 * mark their word dirty (a few instructions); a run search first brings
 * the dirty words' classes up to date (amortised O(1) per change).
 * Bits past the end (units >= nbits, bits for words that do not exist) are
 * always 0, so an all-zero array is a valid, entirely-in-use bitmap.
 *
 * Costs (L = number of levels, <= 6; 4 for 2^20 units, 5 for 2^28):
 *   next free / next in-use unit from a position: O(L) (climb, descend)
 *   mark one unit: O(L) worst, O(1) typically (a summary changes only when
 *     a word becomes empty, non-empty, full or non-full);
 *   mark a run: O(n/64 + L) word operations;
 *   find a free run of n units at index = phase (mod align), lowest first:
 *     n = 1, align = 1: O(L);
 *     otherwise: walk the words of cls[] (pfx[] when the aligned starts
 *     are at bit 0 of words) for the class of n, 64 words of level 0 per
 *     step, masked to the words that hold an aligned start when align >=
 *     64, and test only words where a long enough run starts:
 *     one word-parallel test for n < 64, one "next in-use unit" query
 *     (O(L), crossing free blocks through full[]) for n >= 64.
 *     Worst case O(nbits/64) word tests; typically a few.
 *
 * Also here: the managed-range records shared by both allocators (sorted,
 * disjoint, non-adjacent [start, end) pairs kept in a flat array).
 */
#ifndef AK_HBITMAP_H
#define AK_HBITMAP_H

#include "ak_internal.h"

#include <allockit/hbitmap_size.h>

#define AK_HB_MAX_LEVELS   6
#define AK_HB_CLASSES      6  /* cls[1..6]: runs of 2, 4, ..., 64 */
#define AK_HB_CLASS_ARRAYS 12 /* cls[1..6], then pfx[0..5] */
#define AK_HB_NONE         SIZE_MAX

/* Where each array lives in the storage. Level 0 is at offset 0 and serves
 * as its own any[] and full[] (any[0] == full[0] == 0). The class arrays
 * are interleaved from `cls`: word j of array i (cls[i+1] for i < 6,
 * pfx[i-6] after) is at cls + 12*j + i. Levels that do not exist have 0
 * words. */
typedef struct ak_hb_geom {
    size_t nbits;                   /* units */
    size_t levels;                  /* 1..6, level 0 included */
    size_t words[AK_HB_MAX_LEVELS]; /* words per level */
    size_t any[AK_HB_MAX_LEVELS];   /* offset of any[l] */
    size_t full[AK_HB_MAX_LEVELS];  /* offset of full[l] */
    size_t dirty[AK_HB_MAX_LEVELS]; /* offset of dirty[l], l >= 1 */
    size_t cls;                     /* offset of cls[1] */
} ak_hb_geom;

#define AK_HB_LEVELS_(n)                                                                           \
    (1u + (AK_HB_W0_(n) > 1u) + (AK_HB_W1_(n) > 1u) + (AK_HB_W2_(n) > 1u) + (AK_HB_W3_(n) > 1u) +  \
     (AK_HB_W4_(n) > 1u))
#define AK_HB_ANY1_(n) (AK_HB_W0_(n))
#define AK_HB_ANY2_(n) (AK_HB_ANY1_(n) + 2u * AK_HB_S1_(n))
#define AK_HB_ANY3_(n) (AK_HB_ANY2_(n) + 2u * AK_HB_S2_(n))
#define AK_HB_ANY4_(n) (AK_HB_ANY3_(n) + 2u * AK_HB_S3_(n))
#define AK_HB_ANY5_(n) (AK_HB_ANY4_(n) + 2u * AK_HB_S4_(n))
#define AK_HB_CLS_(n)  (AK_HB_W0_(n) + 2u * AK_HB_SUM_(n))
#define AK_HB_D1_(n)   (AK_HB_CLS_(n) + 12u * AK_HB_S1_(n))
#define AK_HB_D2_(n)   (AK_HB_D1_(n) + AK_HB_S1_(n))
#define AK_HB_D3_(n)   (AK_HB_D2_(n) + AK_HB_S2_(n))
#define AK_HB_D4_(n)   (AK_HB_D3_(n) + AK_HB_S3_(n))
#define AK_HB_D5_(n)   (AK_HB_D4_(n) + AK_HB_S4_(n))

/* A constant initialiser for the geometry of an n-unit bitmap. */
#define AK_HB_GEOM(n)                                                                              \
    {                                                                                              \
        (size_t)(n), (size_t)AK_HB_LEVELS_(n),                                                     \
            {AK_HB_W0_(n), AK_HB_S1_(n), AK_HB_S2_(n), AK_HB_S3_(n), AK_HB_S4_(n), AK_HB_S5_(n)},  \
            {0, AK_HB_ANY1_(n), AK_HB_ANY2_(n), AK_HB_ANY3_(n), AK_HB_ANY4_(n), AK_HB_ANY5_(n)},   \
            {0,                                                                                    \
             AK_HB_ANY1_(n) + AK_HB_S1_(n),                                                        \
             AK_HB_ANY2_(n) + AK_HB_S2_(n),                                                        \
             AK_HB_ANY3_(n) + AK_HB_S3_(n),                                                        \
             AK_HB_ANY4_(n) + AK_HB_S4_(n),                                                        \
             AK_HB_ANY5_(n) + AK_HB_S5_(n)},                                                       \
            {0, AK_HB_D1_(n), AK_HB_D2_(n), AK_HB_D3_(n), AK_HB_D4_(n), AK_HB_D5_(n)},             \
            AK_HB_CLS_(n)                                                                          \
    }

#define AK_HB_ONES (~(uint64_t)0)

/* ---- the bitmap (w has AK_HB_STORAGE_WORDS(g->nbits) words) ----
 * The hot calls are inline here so that, called with a constant geometry,
 * every offset folds into the code. */

/* Every unit in use (all words zero). O(storage words). */
void ak_hb_clear(const ak_hb_geom *g, uint64_t *w);

/* True if unit i (< nbits) is free. O(1). */
static inline bool ak_hb_is_free(const uint64_t *w, size_t i)
{
    return (w[i >> 6] >> (i & 63)) & 1u;
}

/* Lowest free unit overall, or AK_HB_NONE: one find-first-set per level,
 * top down. O(L). */
static inline size_t ak_hb_first_free(const ak_hb_geom *g, const uint64_t *w)
{
    size_t idx = 0;
    for (size_t l = g->levels - 1; l > 0; l--) {
        uint64_t m = w[g->any[l] + idx];
        if (!m)
            return AK_HB_NONE; /* only the top word can be empty here */
        idx = (idx << 6) + ak_ffs64(m);
    }
    uint64_t m = w[idx];
    return m ? (idx << 6) + ak_ffs64(m) : AK_HB_NONE;
}

/* Lowest free unit >= from, or AK_HB_NONE. O(L). */
size_t ak_hb_next_free(const ak_hb_geom *g, const uint64_t *w, size_t from);

/* Lowest in-use unit >= from, or nbits if every unit from there is free.
 * O(L). */
size_t ak_hb_next_used(const ak_hb_geom *g, const uint64_t *w, size_t from);

/* A single-word update in two halves: the inline half changes the word
 * and its dirty[1] bit and returns what is left to do above (0 almost
 * always: a summary changes only when a dirty[1] word was clear, or the
 * word becomes empty, non-empty, full or non-full); the out-of-line half
 * does that (O(L)). Callers on a fast path can finish their own work first
 * and end in a tail call to the second half. */
enum { AK_HB_LEFT_DIRTY = 1u, AK_HB_LEFT_ANY = 2u, AK_HB_LEFT_FULL = 4u };

void ak_hb_finish_free(const ak_hb_geom *g, uint64_t *w, size_t idx, unsigned left);
void ak_hb_finish_use(const ak_hb_geom *g, uint64_t *w, size_t idx, unsigned left);

static inline unsigned ak_hb_dirty_word(const ak_hb_geom *g, uint64_t *w, size_t idx)
{
    if (g->levels < 2)
        return 0;
    uint64_t *d = &w[g->dirty[1] + (idx >> 6)];
    uint64_t old = *d;
    *d = old | (uint64_t)1 << (idx & 63);
    return old == 0 && g->levels > 2 ? AK_HB_LEFT_DIRTY : 0u;
}

/* Mark the units of level-0 word idx selected by mask free / in use: the
 * inline half. */
static inline unsigned ak_hb_free_word(const ak_hb_geom *g, uint64_t *w, size_t idx, uint64_t mask)
{
    uint64_t old = w[idx], now = old | mask;
    w[idx] = now;
    unsigned left = ak_hb_dirty_word(g, w, idx);
    if (g->levels > 1)
        left |= (old == 0 ? AK_HB_LEFT_ANY : 0u) | (now == AK_HB_ONES ? AK_HB_LEFT_FULL : 0u);
    return left;
}

static inline unsigned ak_hb_use_word(const ak_hb_geom *g, uint64_t *w, size_t idx, uint64_t mask)
{
    uint64_t old = w[idx], now = old & ~mask;
    w[idx] = now;
    unsigned left = ak_hb_dirty_word(g, w, idx);
    if (g->levels > 1)
        left |= (now == 0 ? AK_HB_LEFT_ANY : 0u) | (old == AK_HB_ONES ? AK_HB_LEFT_FULL : 0u);
    return left;
}

/* Both halves. */
static inline void ak_hb_free_mask(const ak_hb_geom *g, uint64_t *w, size_t idx, uint64_t mask)
{
    unsigned left = ak_hb_free_word(g, w, idx, mask);
    if (AK_UNLIKELY(left))
        ak_hb_finish_free(g, w, idx, left);
}

static inline void ak_hb_use_mask(const ak_hb_geom *g, uint64_t *w, size_t idx, uint64_t mask)
{
    unsigned left = ak_hb_use_word(g, w, idx, mask);
    if (AK_UNLIKELY(left))
        ak_hb_finish_use(g, w, idx, left);
}

/* Mark one unit free / in use. O(1) typically, O(L) worst. */
static inline void ak_hb_free_one(const ak_hb_geom *g, uint64_t *w, size_t i)
{
    ak_hb_free_mask(g, w, i >> 6, (uint64_t)1 << (i & 63));
}

static inline void ak_hb_use_one(const ak_hb_geom *g, uint64_t *w, size_t i)
{
    ak_hb_use_mask(g, w, i >> 6, (uint64_t)1 << (i & 63));
}

/* Mark [start, start+n) free / in use; n >= 1, start+n <= nbits. The units
 * need not all be in the opposite state. O(n/64 + L). */
void ak_hb_set_free(const ak_hb_geom *g, uint64_t *w, size_t start, size_t n);
void ak_hb_set_used(const ak_hb_geom *g, uint64_t *w, size_t start, size_t n);

/* Lowest index i >= from with i = phase (mod align) and [i, i+n) all free,
 * or AK_HB_NONE. n >= 1; align a power of two; phase < align. Brings the
 * run classes up to date first (hence w is not const). See the header
 * comment for the cost. */
size_t ak_hb_find(const ak_hb_geom *g, uint64_t *w, size_t from, size_t n, size_t align,
                  size_t phase);

/* Move every unit i to i + k (units below k become in use). The caller
 * guarantees that no free unit is at or above nbits - k. O(storage words). */
void ak_hb_shift_up(const ak_hb_geom *g, uint64_t *w, size_t k);

/* Number of free units in [start, start+n). O(n/64). */
size_t ak_hb_count_free(const uint64_t *w, size_t start, size_t n);

/* Number of free units in the whole bitmap, visiting only the words that
 * any[1] shows to have one. O(nbits/4096 + such words). */
size_t ak_hb_count_all_free(const ak_hb_geom *g, const uint64_t *w);

/* The end of the run unit i (< end <= nbits) belongs to, read from i on:
 * the lowest index in (i, end) whose state differs from unit i's, or end.
 * O(1) when that index is in i's word, else O(L) (the summaries cross
 * whole free or whole in-use stretches at once). */
size_t ak_hb_run_end(const ak_hb_geom *g, const uint64_t *w, size_t i, size_t end);

/* NULL if every summary bit agrees with level 0, every run class of a word
 * not pending (neither it nor the next word dirty) is right, the dirty
 * summaries agree, and every bit past the end is 0; else the first broken
 * invariant. O(storage words). */
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
static inline size_t ak_hb_ranges_find(const uintptr_t *r, size_t n, uintptr_t unit, size_t count,
                                       unsigned shift)
{
    /* The last record whose first unit is <= unit. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ak_hb_unit_first(r[2 * mid], shift) <= unit)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return n;
    size_t i = lo - 1;
    uintptr_t end = ak_hb_unit_end(r[2 * i + 1], shift);
    if (unit >= end || count > end - unit)
        return n;
    return i;
}

/* NULL if the records are sorted, disjoint, non-adjacent, each holding at
 * least one unit, all within [lowest, lowest + cap) where lowest is the
 * first unit of the first record, with @p total units in all; if @p base
 * (the unit of bit 0) is lowest rounded down to a multiple of 64; and if
 * exactly the managed units may be free in the bitmap (no free unit below,
 * between or above the records); else the first broken invariant. */
const char *ak_hb_ranges_check(const uintptr_t *r, size_t n, size_t max, unsigned shift,
                               uintptr_t base, size_t cap, size_t total, const ak_hb_geom *g,
                               const uint64_t *w);

/* The walk of the page and ID allocators, written once: call fn once per
 * maximal run of free or in-use units inside each of the n records of r,
 * the records in order, each run from its first unit: start = (base + i)
 * << shift for bit i (base: the unit of bit 0), size = its units, used =
 * in use. R runs cost O(R + L x the runs that cross a 64-unit word), at
 * most O(R x L); a free or in-use stretch costs O(L) however long. */
void ak_hb_ranges_walk(const uintptr_t *r, size_t n, unsigned shift, uintptr_t base,
                       const ak_hb_geom *g, const uint64_t *w, ak_walker fn, void *ctx);

/* What that walk finds, for the allocators' stats. */
typedef struct ak_hb_runs {
    size_t used_runs, free_runs, largest_free;
} ak_hb_runs;

/* Count the runs of ak_hb_ranges_walk and the longest free one. Same cost. */
void ak_hb_ranges_runs(const uintptr_t *r, size_t n, unsigned shift, uintptr_t base,
                       const ak_hb_geom *g, const uint64_t *w, ak_hb_runs *out);

#endif /* AK_HBITMAP_H */
