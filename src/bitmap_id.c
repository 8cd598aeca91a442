/* Bitmap ID allocator: IDs are the units of one hierarchical bitmap
 * (src/hbitmap.c) of AK_ID_CAPACITY + 64 bits kept inside the object; bit
 * i is ID base + i, base being the lowest managed ID rounded down to a
 * multiple of 64 (the 64 spare bits pay for the rounding).
 *   alloc_id(1, 1): O(L), inline; alloc_id(n, align): one ak_hb_find
 *   (worst case O(capacity/64) word tests, typically a few);
 *   dealloc/fixed/is_allocated: O(n/64 + L + log ranges). L = levels.
 * Alignment of the ID value becomes a residue on indices: ID base + i is a
 * multiple of A iff i = -base (mod A).
 * Invariants (ak_bitmap_id_check): the bitmap's own (ak_hb_check); free
 * bits only inside range records; the records sorted, disjoint,
 * non-adjacent and inside the window from the lowest ID, and base that ID
 * rounded down to 64; size = IDs of the records; used = size - free bits.
 */
#include "ak_ops.h"
#include "hbitmap.h"
#include <allockit/bitmap_id.h>

#define CAPACITY ((size_t)AK_ID_CAPACITY)

_Static_assert(AK_HB_FITS(AK_BITMAP_ID_BITS) && AK_BITMAP_ID_BITS <= SIZE_MAX,
               "ID capacity must be 1..2^36-64 and fit size_t");
_Static_assert(AK_BITMAP_ID_MAX_RANGES >= 1, "at least one range record");

static const ak_hb_geom geom = AK_HB_GEOM(AK_BITMAP_ID_BITS);

/* A failed allocation: counted for the stats. Out of line, off the fast
 * path. */
static AK_NOINLINE ak_error no_memory(ak_bitmap_id *a)
{
    a->failed_allocs++;
    return AK_ERR_NO_MEMORY;
}

/* Add a planned range: re-base if it lies below the current base, then
 * mark its new IDs free. The base is kept a multiple of 64, so that
 * alignments of 64 and more start at bit 0 of a word. */
static void add_planned(ak_bitmap_id *a, const ak_hb_add_plan *p)
{
    const size_t base = p->lowest & ~(size_t)63;
    if (a->nranges == 0) {
        a->base = base;
    } else if (base < a->base) {
        ak_hb_shift_up(&geom, a->bits, a->base - base);
        a->base = base;
    }
    ak_hb_ranges_commit(a->ranges, &a->nranges, p);
    size_t n = (size_t)(p->new_end - p->new_first);
    ak_hb_set_free(&geom, a->bits, (size_t)(p->new_first - a->base), n);
    a->size += n;
}

ak_error ak_bitmap_id_init(ak_bitmap_id *a, uintptr_t start, size_t size)
{
    ak_hb_add_plan p;
    ak_error e =
        ak_hb_ranges_plan(a->ranges, 0, AK_BITMAP_ID_MAX_RANGES, start, size, 0, CAPACITY, &p);
    if (e != AK_OK)
        return e;
    a->base = 0;
    a->size = 0;
    a->used = 0;
    a->nranges = 0;
    a->failed_allocs = 0;
    for (size_t i = 0; i < 2 * AK_BITMAP_ID_MAX_RANGES; i++)
        a->ranges[i] = 0;
    ak_hb_clear(&geom, a->bits);
    add_planned(a, &p);
    return AK_OK;
}

ak_error ak_bitmap_id_add_memory(ak_bitmap_id *a, uintptr_t start, size_t size)
{
    ak_hb_add_plan p;
    ak_error e = ak_hb_ranges_plan(a->ranges, a->nranges, AK_BITMAP_ID_MAX_RANGES, start, size, 0,
                                   CAPACITY, &p);
    if (e != AK_OK)
        return e;
    add_planned(a, &p);
    return AK_OK;
}

ak_error ak_bitmap_id_alloc_id(ak_bitmap_id *a, size_t count, size_t align_pow2, size_t *out)
{
    if (count == 0 || !ak_is_pow2(align_pow2))
        return AK_ERR_INVALID_PARAM;
    if (count > a->size - a->used)
        return no_memory(a);
    size_t i;
    if (count == 1 && align_pow2 == 1) {
        /* The common case, inline: one find-first-set per level. */
        i = ak_hb_first_free(&geom, a->bits);
        if (i == AK_HB_NONE)
            return no_memory(a);
        ak_hb_use_one(&geom, a->bits, i);
    } else {
        const size_t phase = (0 - a->base) & (align_pow2 - 1);
        i = ak_hb_find(&geom, a->bits, 0, count, align_pow2, phase);
        if (i == AK_HB_NONE)
            return no_memory(a);
        ak_hb_set_used(&geom, a->bits, i, count);
    }
    a->used += count;
    *out = a->base + i;
    return AK_OK;
}

ak_error ak_bitmap_id_dealloc_id(ak_bitmap_id *a, size_t start_id, size_t count)
{
    if (count == 0)
        return AK_ERR_INVALID_PARAM;
    if (ak_hb_ranges_find(a->ranges, a->nranges, start_id, count, 0) == a->nranges)
        return AK_ERR_NOT_ALLOCATED;
    const size_t i = start_id - a->base;
    if (count == 1 ? ak_hb_is_free(a->bits, i) : ak_hb_next_free(&geom, a->bits, i) - i < count)
        return AK_ERR_NOT_ALLOCATED;
    ak_hb_set_free(&geom, a->bits, i, count);
    a->used -= count;
    return AK_OK;
}

bool ak_bitmap_id_is_allocated(const ak_bitmap_id *a, size_t id)
{
    if (ak_hb_ranges_find(a->ranges, a->nranges, id, 1, 0) == a->nranges)
        return false;
    return !ak_hb_is_free(a->bits, id - a->base);
}

ak_error ak_bitmap_id_alloc_fixed_id(ak_bitmap_id *a, size_t id)
{
    if (ak_hb_ranges_find(a->ranges, a->nranges, id, 1, 0) == a->nranges)
        return AK_ERR_INVALID_PARAM;
    const size_t i = id - a->base;
    if (!ak_hb_is_free(a->bits, i))
        return no_memory(a);
    ak_hb_use_one(&geom, a->bits, i);
    a->used++;
    return AK_OK;
}

size_t ak_bitmap_id_size(const ak_bitmap_id *a)
{
    return a->size;
}

size_t ak_bitmap_id_used(const ak_bitmap_id *a)
{
    return a->used;
}

size_t ak_bitmap_id_available(const ak_bitmap_id *a)
{
    return a->size - a->used;
}

/* ---- walk and statistics ---- */

void ak_bitmap_id_walk(const ak_bitmap_id *a, ak_walker fn, void *ctx)
{
    ak_hb_ranges_walk(a->ranges, a->nranges, 0, a->base, &geom, a->bits, fn, ctx);
}

void ak_bitmap_id_stats(const ak_bitmap_id *a, struct ak_id_stats *out)
{
    ak_hb_runs runs;
    ak_hb_ranges_runs(a->ranges, a->nranges, 0, a->base, &geom, a->bits, &runs);
    out->total_ids = a->size;
    out->used_ids = a->used;
    out->free_ids = a->size - a->used;
    out->largest_free = runs.largest_free;
    out->used_runs = runs.used_runs;
    out->free_runs = runs.free_runs;
    out->region_count = a->nranges;
    out->failed_allocs = a->failed_allocs;
}

const char *ak_bitmap_id_check(const ak_bitmap_id *a)
{
    if (a->used > a->size)
        return "bitmap_id: more IDs used than managed";
    if (a->size > CAPACITY)
        return "bitmap_id: more IDs than the capacity";
    const char *why = ak_hb_check(&geom, a->bits);
    if (why)
        return why;
    why = ak_hb_ranges_check(a->ranges, a->nranges, AK_BITMAP_ID_MAX_RANGES, 0, a->base, CAPACITY,
                             a->size, &geom, a->bits);
    if (why)
        return why;
    if (ak_hb_count_all_free(&geom, a->bits) != a->size - a->used)
        return "bitmap_id: free bits do not match size - used";
    return (const char *)0;
}

/* ---- the generic interface ---- */

AK_DEFINE_ID_ALLOCATOR(ak_bitmap_id, "bitmap_id")
