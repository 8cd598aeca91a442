/* The region index shared by the byte allocators: which region, if any,
 * holds a pointer, and whether a new region overlaps the ones managed.
 * Freestanding; not installed (the allocator headers see only the
 * ak_region_index struct in core.h).
 *
 * Each region's record lives inside the region (so an allocator object
 * stays fixed-size however many regions it is given) and starts with an
 * ak_region. Records form an AVL tree ordered by address and a list,
 * newest first, for walks. The index remembers the span of the region of
 * the last successful lookup inline in itself, so a lookup in that region
 * (nearly every one, with a single region) is two compares on the index
 * and no pointer chase.
 *
 * Costs: lookup O(1) in the last region, else O(log regions) (tree height
 * <= 1.44 log2(regions + 2)); overlap test and insertion O(log regions);
 * ak_region_check O(regions). Regions are never removed.
 */
#ifndef AK_REGION_H
#define AK_REGION_H

#include "ak_internal.h"

/* The head of every region record. [start, end) is the range the user
 * handed over, before any trimming: overlap is judged on it, so a new
 * region can never share a byte with an old one, not even in trimmed
 * edges. [lo, hi) is the part where the allocator's blocks lie, inside
 * [start, end): a pointer is looked up there. */
typedef struct ak_region {
    struct ak_region *left, *right; /* the tree, by address */
    struct ak_region *next;         /* every region, newest first */
    uintptr_t start, end;           /* as given (end exclusive) */
    uintptr_t lo, hi;               /* the block area (hi exclusive) */
    size_t height;                  /* of the subtree rooted here */
} ak_region;

/* Empty the index (the records stay where they are, untouched). */
static inline void ak_region_index_clear(ak_region_index *ix)
{
    ix->root = ix->list = ix->last = (void *)0;
    ix->last_lo = 0;
    ix->last_span = 0;
    ix->count = 0;
}

/* True if [start, end) shares a byte with some region's [start, end). */
bool ak_region_overlaps(const ak_region_index *ix, uintptr_t start, uintptr_t end);

/* Add r, whose start, end, lo and hi are set and whose [start, end)
 * overlaps no region of ix (the caller checked). r becomes the last
 * region looked up. */
void ak_region_insert(ak_region_index *ix, ak_region *r);

/* The region whose [lo, hi) holds p, by the tree. */
ak_region *ak_region_search(const ak_region_index *ix, uintptr_t p);

/* The region whose [lo, hi) holds p, or NULL; the last region found is
 * tried first, inline. Does not move the hint: see ak_region_remember. */
static AK_ALWAYS_INLINE ak_region *ak_region_find(const ak_region_index *ix, uintptr_t p)
{
    if (AK_LIKELY(p - ix->last_lo < ix->last_span))
        return (ak_region *)ix->last;
    return ak_region_search(ix, p);
}

/* True if p lies in the last region found: the one-compare test a fast
 * path can use before falling back to ak_region_find. */
static AK_ALWAYS_INLINE bool ak_region_in_last(const ak_region_index *ix, uintptr_t p)
{
    return p - ix->last_lo < ix->last_span;
}

/* Make r the region tried first by the next lookups. */
static inline void ak_region_remember(ak_region_index *ix, ak_region *r)
{
    ix->last = r;
    ix->last_lo = r->lo;
    ix->last_span = r->hi - r->lo;
}

/* The first region of the list (newest first); walk with ->next. */
static inline ak_region *ak_region_first(const ak_region_index *ix)
{
    return (ak_region *)ix->list;
}

/* NULL if the index is sound: an AVL tree of exactly the listed regions
 * (count of them), ordered, disjoint, each with start <= lo < hi <= end,
 * and the hint one of them with its span copied right. Else the first
 * broken invariant. O(regions). */
const char *ak_region_check(const ak_region_index *ix);

#endif /* AK_REGION_H */
