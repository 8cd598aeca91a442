/* Bitmap page allocator: pages are the units of one hierarchical bitmap
 * (src/hbitmap.c) of AK_PAGE_ALLOC_CAPACITY_PAGES + 64 bits kept inside
 * the object; bit i is the page at address (base + i) * page_size, where
 * base is the lowest managed page number rounded down to a multiple of 64
 * (the 64 spare bits pay for the rounding, so the full capacity is usable
 * from any first page, and no capacity goes to reaching a 1 GiB boundary).
 *   alloc one page: O(L), inline; alloc n pages aligned: one ak_hb_find
 *   (worst case O(capacity/64) word tests, typically a few); alloc_at and
 *   dealloc: O(n/64 + L + log regions). L = bitmap levels (<= 5).
 * Address alignment is turned into a residue on indices: the address of
 * index i is a multiple of A pages iff i = -base (mod A); with base a
 * multiple of 64 that residue is 0 for A <= 64 and a multiple of 64 above,
 * so aligned starts fall on bit 0 of bitmap words.
 * Invariants (ak_bitmap_page_check): the bitmap's own (ak_hb_check); free
 * bits only inside region records; the records sorted, disjoint,
 * non-adjacent, inside the capacity window from the lowest managed page,
 * and base that page rounded down to 64; total = pages of the records;
 * used = total - free bits.
 */
#include "ak_ops.h"
#include "hbitmap.h"
#include <allockit/bitmap_page.h>

#define CAPACITY ((size_t)AK_PAGE_ALLOC_CAPACITY_PAGES)

_Static_assert(AK_HB_FITS(AK_BITMAP_PAGE_BITS), "page capacity must be 1..2^36-64 pages");
_Static_assert(AK_BITMAP_PAGE_MAX_REGIONS >= 1, "at least one region record");

static const ak_hb_geom geom = AK_HB_GEOM(AK_BITMAP_PAGE_BITS);

static inline size_t page_size_of(const ak_bitmap_page *a)
{
    return a->page_size ? a->page_size : AK_BITMAP_PAGE_DEFAULT_PAGE_SIZE;
}

static inline unsigned page_shift_of(const ak_bitmap_page *a)
{
    return ak_ffs_size(page_size_of(a));
}

/* The contract's alignment rule: a power of two, at least a page, <= 1 GiB. */
static inline bool align_ok(size_t align, size_t page_size)
{
    return ak_is_pow2(align) && align >= page_size && align <= AK_BITMAP_PAGE_MAX_ALIGN;
}

/* A failed allocation: counted for the stats. Out of line, off the fast
 * path. */
static AK_NOINLINE ak_error no_memory(ak_bitmap_page *a)
{
    a->failed_allocs++;
    return AK_ERR_NO_MEMORY;
}

ak_error ak_bitmap_page_new(ak_bitmap_page *a, size_t page_size)
{
    if (!ak_is_pow2(page_size) || page_size < AK_BITMAP_PAGE_MIN_PAGE_SIZE ||
        page_size > AK_BITMAP_PAGE_MAX_ALIGN)
        return AK_ERR_INVALID_PARAM;
    a->page_size = page_size;
    a->base = 0;
    a->total = 0;
    a->used = 0;
    a->nregions = 0;
    a->low_word = 0;
    a->failed_allocs = 0;
    for (size_t i = 0; i < 2 * AK_BITMAP_PAGE_MAX_REGIONS; i++)
        a->regions[i] = 0;
    ak_hb_clear(&geom, a->bits);
    return AK_OK;
}

/* Add a planned region: re-base if it lies below the bitmap's base, then
 * mark its new pages free. The base is kept a multiple of 64 pages, so
 * that alignments of 64 pages and more start at bit 0 of a word. */
static void add_planned(ak_bitmap_page *a, const ak_hb_add_plan *p)
{
    const uintptr_t base = p->lowest & ~(uintptr_t)63;
    if (a->nregions == 0) {
        a->base = base;
    } else if (base < a->base) {
        ak_hb_shift_up(&geom, a->bits, (size_t)(a->base - base));
        a->low_word = 0;
        a->base = base;
    }
    ak_hb_ranges_commit(a->regions, &a->nregions, p);
    size_t n = (size_t)(p->new_end - p->new_first);
    const size_t first = (size_t)(p->new_first - a->base);
    ak_hb_set_free(&geom, a->bits, first, n);
    if (first >> 6 < a->low_word)
        a->low_word = first >> 6;
    a->total += n;
}

ak_error ak_bitmap_page_init(ak_bitmap_page *a, uintptr_t start, size_t size)
{
    ak_hb_add_plan p;
    ak_error e = ak_hb_ranges_plan(a->regions, 0, AK_BITMAP_PAGE_MAX_REGIONS, start, size,
                                   page_shift_of(a), CAPACITY, &p);
    if (e != AK_OK)
        return e;
    a->base = 0;
    a->total = 0;
    a->used = 0;
    a->nregions = 0;
    a->low_word = 0;
    a->failed_allocs = 0;
    ak_hb_clear(&geom, a->bits);
    add_planned(a, &p);
    return AK_OK;
}

ak_error ak_bitmap_page_add_memory(ak_bitmap_page *a, uintptr_t start, size_t size)
{
    ak_hb_add_plan p;
    ak_error e = ak_hb_ranges_plan(a->regions, a->nregions, AK_BITMAP_PAGE_MAX_REGIONS, start, size,
                                   page_shift_of(a), CAPACITY, &p);
    if (e != AK_OK)
        return e;
    add_planned(a, &p);
    return AK_OK;
}

/* Every request but one page at page alignment: a run search. Apart from
 * the single-page path, so that path saves no registers and calls
 * nothing. */
static AK_NOINLINE ak_error alloc_run(ak_bitmap_page *a, size_t num_pages, size_t align_pow2,
                                      uintptr_t *out)
{
    const size_t ps = page_size_of(a);
    const unsigned sh = page_shift_of(a);
    if (num_pages == 0 || !align_ok(align_pow2, ps))
        return AK_ERR_INVALID_PARAM;
    if (num_pages > a->total - a->used)
        return no_memory(a);
    const size_t align = align_pow2 >> sh;
    const size_t phase = (size_t)(0 - a->base) & (align - 1);
    size_t i = ak_hb_find(&geom, a->bits, 0, num_pages, align, phase);
    if (i == AK_HB_NONE)
        return no_memory(a);
    ak_hb_set_used(&geom, a->bits, i, num_pages);
    a->used += num_pages;
    *out = (a->base + i) << sh;
    return AK_OK;
}

/* The lowest free page when the hint word has none: one find-first-set
 * per level. */
static AK_NOINLINE size_t first_free_climb(ak_bitmap_page *a)
{
    size_t i = ak_hb_first_free(&geom, a->bits);
    if (i != AK_HB_NONE)
        a->low_word = i >> 6;
    return i;
}

/* The summary work a single-page change left (see ak_hb_use_word), as
 * the tail of the fast paths. */
static AK_NOINLINE ak_error finish_use(ak_bitmap_page *a, size_t word, unsigned left)
{
    ak_hb_finish_use(&geom, a->bits, word, left);
    return AK_OK;
}

static AK_NOINLINE ak_error finish_free(ak_bitmap_page *a, size_t word, unsigned left)
{
    ak_hb_finish_free(&geom, a->bits, word, left);
    return AK_OK;
}

ak_error ak_bitmap_page_alloc_pages(ak_bitmap_page *a, size_t num_pages, size_t align_pow2,
                                    uintptr_t *out)
{
    const size_t ps = page_size_of(a);
    if (AK_UNLIKELY(num_pages != 1 || align_pow2 != ps))
        return alloc_run(a, num_pages, align_pow2, out);
    /* The common case (the page size is always a valid alignment). The
     * lowest free page is in the word below which all are taken, if that
     * word has one (sequential allocation); else one find-first-set per
     * level finds it. */
    if (a->used == a->total)
        return no_memory(a);
    const size_t k = a->low_word;
    const uint64_t m = k < geom.words[0] ? a->bits[k] : 0;
    size_t i;
    if (AK_LIKELY(m != 0)) {
        i = (k << 6) + ak_ffs64(m);
    } else {
        i = first_free_climb(a);
        if (i == AK_HB_NONE) /* cannot happen while the counters hold */
            return no_memory(a);
    }
    unsigned left = ak_hb_use_word(&geom, a->bits, i >> 6, (uint64_t)1 << (i & 63));
    a->used++;
    *out = (a->base + i) << page_shift_of(a);
    if (AK_UNLIKELY(left))
        return finish_use(a, i >> 6, left);
    return AK_OK;
}

ak_error ak_bitmap_page_alloc_pages_at(ak_bitmap_page *a, uintptr_t base, size_t num_pages,
                                       size_t align_pow2, uintptr_t *out)
{
    const size_t ps = page_size_of(a);
    if (num_pages == 0 || !align_ok(align_pow2, ps) || !ak_is_aligned(base, align_pow2))
        return AK_ERR_INVALID_PARAM;
    const unsigned sh = page_shift_of(a);
    const uintptr_t page = base >> sh;
    if (ak_hb_ranges_find(a->regions, a->nregions, page, num_pages, sh) == a->nregions)
        return AK_ERR_INVALID_PARAM;
    const size_t i = (size_t)(page - a->base);
    if (ak_hb_next_used(&geom, a->bits, i) - i < num_pages)
        return no_memory(a);
    ak_hb_set_used(&geom, a->bits, i, num_pages);
    a->used += num_pages;
    *out = base;
    return AK_OK;
}

/* Every free but one page with a single region: the region search and
 * the run checks. */
static AK_NOINLINE ak_error dealloc_general(ak_bitmap_page *a, uintptr_t pos, size_t num_pages)
{
    const size_t ps = page_size_of(a);
    if (num_pages == 0 || !ak_is_aligned(pos, ps))
        return AK_ERR_INVALID_PARAM;
    const unsigned sh = page_shift_of(a);
    const uintptr_t page = pos >> sh;
    if (ak_hb_ranges_find(a->regions, a->nregions, page, num_pages, sh) == a->nregions)
        return AK_ERR_NOT_ALLOCATED;
    const size_t i = (size_t)(page - a->base);
    if (num_pages == 1) {
        if (ak_hb_is_free(a->bits, i))
            return AK_ERR_NOT_ALLOCATED;
        ak_hb_free_one(&geom, a->bits, i);
    } else {
        if (ak_hb_next_free(&geom, a->bits, i) - i < num_pages)
            return AK_ERR_NOT_ALLOCATED;
        ak_hb_set_free(&geom, a->bits, i, num_pages);
    }
    if (i >> 6 < a->low_word)
        a->low_word = i >> 6;
    a->used -= num_pages;
    return AK_OK;
}

ak_error ak_bitmap_page_dealloc_pages(ak_bitmap_page *a, uintptr_t pos, size_t num_pages)
{
    if (AK_UNLIKELY(num_pages != 1 || a->nregions != 1))
        return dealloc_general(a, pos, num_pages);
    /* One page, one region (the common case): the region is tested
     * without a search. */
    const size_t ps = page_size_of(a);
    if (!ak_is_aligned(pos, ps))
        return AK_ERR_INVALID_PARAM;
    const unsigned sh = page_shift_of(a);
    const uintptr_t page = pos >> sh;
    if (page < ak_hb_unit_first(a->regions[0], sh) || page >= ak_hb_unit_end(a->regions[1], sh))
        return AK_ERR_NOT_ALLOCATED;
    const size_t i = (size_t)(page - a->base);
    if (ak_hb_is_free(a->bits, i))
        return AK_ERR_NOT_ALLOCATED;
    unsigned left = ak_hb_free_word(&geom, a->bits, i >> 6, (uint64_t)1 << (i & 63));
    if (i >> 6 < a->low_word)
        a->low_word = i >> 6;
    a->used--;
    if (AK_UNLIKELY(left))
        return finish_free(a, i >> 6, left);
    return AK_OK;
}

size_t ak_bitmap_page_total_pages(const ak_bitmap_page *a)
{
    return a->total;
}

size_t ak_bitmap_page_used_pages(const ak_bitmap_page *a)
{
    return a->used;
}

size_t ak_bitmap_page_available_pages(const ak_bitmap_page *a)
{
    return a->total - a->used;
}

size_t ak_bitmap_page_page_size(const ak_bitmap_page *a)
{
    return page_size_of(a);
}

/* ---- walk and statistics ---- */

void ak_bitmap_page_walk(const ak_bitmap_page *a, ak_walker fn, void *ctx)
{
    ak_hb_ranges_walk(a->regions, a->nregions, page_shift_of(a), a->base, &geom, a->bits, fn, ctx);
}

void ak_bitmap_page_stats(const ak_bitmap_page *a, struct ak_page_stats *out)
{
    ak_hb_runs runs;
    ak_hb_ranges_runs(a->regions, a->nregions, page_shift_of(a), a->base, &geom, a->bits, &runs);
    out->total_pages = a->total;
    out->used_pages = a->used;
    out->free_pages = a->total - a->used;
    out->largest_free = runs.largest_free;
    out->used_runs = runs.used_runs;
    out->free_runs = runs.free_runs;
    out->region_count = a->nregions;
    out->failed_allocs = a->failed_allocs;
}

const char *ak_bitmap_page_check(const ak_bitmap_page *a)
{
    const size_t ps = page_size_of(a);
    if (!ak_is_pow2(ps) || ps < AK_BITMAP_PAGE_MIN_PAGE_SIZE || ps > AK_BITMAP_PAGE_MAX_ALIGN)
        return "bitmap_page: invalid page size";
    if (a->used > a->total)
        return "bitmap_page: more pages used than managed";
    if (a->total > CAPACITY)
        return "bitmap_page: more pages than the capacity";
    const char *why = ak_hb_check(&geom, a->bits);
    if (why)
        return why;
    why = ak_hb_ranges_check(a->regions, a->nregions, AK_BITMAP_PAGE_MAX_REGIONS, page_shift_of(a),
                             a->base, CAPACITY, a->total, &geom, a->bits);
    if (why)
        return why;
    if (a->low_word && ak_hb_next_free(&geom, a->bits, 0) < (a->low_word << 6))
        return "bitmap_page: a free page below the lowest-free hint";
    if (ak_hb_count_all_free(&geom, a->bits) != a->total - a->used)
        return "bitmap_page: free bits do not match total - used";
    return (const char *)0;
}

/* ---- the generic interface ---- */

AK_DEFINE_PAGE_ALLOCATOR(ak_bitmap_page, "bitmap_page")
