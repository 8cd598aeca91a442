/* allockit bitmap page allocator: contiguous, aligned runs of pages from a
 * fixed-capacity hierarchical bitmap.
 *
 * What it manages: page numbers, not memory. It never reads or writes the
 * pages it hands out (they may be unmapped physical memory); all its
 * bookkeeping is inside the ak_bitmap_page object.
 *
 * Capacity: AK_PAGE_ALLOC_CAPACITY_PAGES pages (build option
 * AK_PAGE_ALLOC_CAPACITY: 256m, 4g, 64g, 1t of 4 KiB pages). Every managed
 * page must lie within that many pages of the lowest managed page (the
 * "window"); the window starts at the first managed page itself, so no
 * capacity is spent on reaching an alignment boundary. Several regions may
 * be added (up to AK_BITMAP_PAGE_MAX_REGIONS separate ones; regions that
 * touch are merged into one record); pages between regions are never
 * handed out, and freeing them is AK_ERR_NOT_ALLOCATED.
 *
 * Alignment is of the absolute address, up to 1 GiB, for any placement of
 * the regions: the search works on page indices with the required residue
 * index = phase (mod align) computed from the window's base.
 *
 * Costs (L = bitmap levels: 3 at 256m, 4 at 4g, 5 at 64g and 1t):
 *   alloc of one page, align = page size: O(L) (one find-first-set per
 *     level, also when every low page is taken);
 *   alloc of n pages or with a larger alignment: a walk over run-class
 *     bits (one bit per 64 pages, read 64 at a time) that tests only the
 *     64-page words where a long enough free run starts at an allowed
 *     alignment; worst case O(capacity/64) word tests, typically a few;
 *     plus bringing up to date the words changed by single-page calls
 *     since the last such search (amortised O(1) per change);
 *   alloc_pages_at, dealloc: O(n/64 + L + log regions);
 *   counters: O(1); ak_bitmap_page_check: O(capacity/64);
 *   ak_bitmap_page_walk and ak_bitmap_page_stats: O(R + L x the runs that
 *     cross a 64-page word) for R runs of free or allocated pages, at most
 *     O(R x L); a free or allocated stretch costs O(L) however long.
 *
 * Size of the object, sizeof(ak_bitmap_page) (64-bit, default
 * AK_BITMAP_PAGE_MAX_REGIONS = 16): one bit per page, plus about 24% for
 * the summaries (has-free, all-free, dirty) and the run-class bits that
 * let aligned searches skip fragmented stretches:
 *   256m:     10,576 bytes    (65,536 pages: 8 KiB of level-0 bitmap)
 *   4g:      162,376 bytes    (1,048,576 pages: 128 KiB)
 *   64g:   2,590,744 bytes    (16,777,216 pages: 2 MiB)
 *   1t:   41,444,224 bytes    (268,435,456 pages: 32 MiB)
 * It is large: keep it static or on the heap, not on a small stack.
 *
 * Not thread-safe: serialise calls on one object.
 */
#ifndef ALLOCKIT_BITMAP_PAGE_H
#define ALLOCKIT_BITMAP_PAGE_H

#include <allockit/core.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <allockit/hbitmap_size.h>

/** Separate regions one object can record (regions that touch merge into
 *  one record). Must be the same in every translation unit of a program. */
#ifndef AK_BITMAP_PAGE_MAX_REGIONS
#define AK_BITMAP_PAGE_MAX_REGIONS 16
#endif

/** The largest alignment alloc_pages accepts: 1 GiB. */
#define AK_BITMAP_PAGE_MAX_ALIGN ((size_t)1 << 30)

/** The smallest page size ak_bitmap_page_new accepts. */
#define AK_BITMAP_PAGE_MIN_PAGE_SIZE 16u

/** The page size of a zero-initialised object. */
#define AK_BITMAP_PAGE_DEFAULT_PAGE_SIZE 4096u

/** Bits of the bitmap: the capacity plus 64, so that bit 0 can sit on a
 *  64-page boundary below the first managed page (aligned starts then
 *  fall on bit 0 of bitmap words) without costing capacity. */
#define AK_BITMAP_PAGE_BITS (AK_PAGE_ALLOC_CAPACITY_PAGES + 64u)

/** Words of bitmap inside an ak_bitmap_page. */
#define AK_BITMAP_PAGE_WORDS AK_HB_STORAGE_WORDS(AK_BITMAP_PAGE_BITS)

/** The page allocator. Fields are private; a zero-initialised object is a
 *  valid empty allocator with 4096-byte pages. */
typedef struct ak_bitmap_page {
    size_t page_size;     /* 0 means AK_BITMAP_PAGE_DEFAULT_PAGE_SIZE */
    uintptr_t base;       /* page number of bit 0: the lowest managed page
                             rounded down to a multiple of 64 */
    size_t total;         /* managed pages */
    size_t used;          /* allocated pages */
    size_t nregions;      /* records in regions[] */
    size_t low_word;      /* no free page in bitmap words below this one */
    size_t failed_allocs; /* allocs that gave AK_ERR_NO_MEMORY since init */
    /* regions[2i], regions[2i+1]: [start, end) byte addresses as given,
     * sorted, disjoint, non-adjacent */
    uintptr_t regions[2 * AK_BITMAP_PAGE_MAX_REGIONS];
    uint64_t bits[AK_BITMAP_PAGE_WORDS];
} ak_bitmap_page;

/** Make @p a an empty allocator (no pages) with pages of @p page_size
 *  bytes. Works on uninitialised memory. O(capacity/64).
 *  @retval AK_ERR_INVALID_PARAM page_size is not a power of two, or is
 *          below AK_BITMAP_PAGE_MIN_PAGE_SIZE (16) or above
 *          AK_BITMAP_PAGE_MAX_ALIGN (1 GiB); @p a is then unchanged. */
ak_error ak_bitmap_page_new(ak_bitmap_page *a, size_t page_size);

/** Forget everything and manage the pages inside [start, start+size):
 *  start is rounded up and the end down to the page size. @p a must be
 *  zero-initialised or set up by ak_bitmap_page_new (its page size is
 *  kept). O(capacity/64).
 *  @retval AK_ERR_INVALID_PARAM size 0, the range wraps around the address
 *          space, it holds no whole page, or it holds more pages than the
 *          capacity. Nothing changes on error. */
ak_error ak_bitmap_page_init(ak_bitmap_page *a, uintptr_t start, size_t size);

/** Manage the pages inside [start, start+size) as well (edges trimmed to
 *  pages). A region that touches a managed one is merged with it, so a
 *  page split between the two becomes managed. On an empty object this is
 *  ak_bitmap_page_init. O(n/64 + L), or O(capacity/64) when the region
 *  lies below every managed page (the bitmap is re-based).
 *  @retval AK_ERR_MEMORY_OVERLAP the range shares an address with a region
 *          already given
 *  @retval AK_ERR_INVALID_PARAM size 0, the range wraps, it adds no whole
 *          page, or the managed pages would no longer fit the capacity
 *          window (lowest to highest managed page)
 *  @retval AK_ERR_NO_MEMORY AK_BITMAP_PAGE_MAX_REGIONS separate regions
 *          are already recorded and this one touches none of them
 *  Nothing changes on error. */
ak_error ak_bitmap_page_add_memory(ak_bitmap_page *a, uintptr_t start, size_t size);

/** Allocate @p num_pages contiguous pages whose first address is a multiple
 *  of @p align_pow2; the lowest such run is chosen. On success stores its
 *  address in *out. Cost: see the header comment.
 *  @retval AK_ERR_INVALID_PARAM num_pages is 0, or align_pow2 is not a
 *          power of two, is smaller than the page size or exceeds 1 GiB
 *  @retval AK_ERR_NO_MEMORY more pages than are available, or no free run
 *          of that length and alignment
 *  Nothing changes on error. */
ak_error ak_bitmap_page_alloc_pages(ak_bitmap_page *a, size_t num_pages, size_t align_pow2,
                                    uintptr_t *out);

/** Allocate exactly the @p num_pages pages at @p base, or fail.
 *  O(n/64 + L + log regions). On success stores base in *out.
 *  @retval AK_ERR_INVALID_PARAM num_pages is 0; align_pow2 invalid (as for
 *          alloc_pages); base is not a multiple of align_pow2; or the pages
 *          are not all inside one managed region (this includes any range
 *          that would wrap the address space)
 *  @retval AK_ERR_NO_MEMORY some of the pages are in use
 *  Nothing changes on error. */
ak_error ak_bitmap_page_alloc_pages_at(ak_bitmap_page *a, uintptr_t base, size_t num_pages,
                                       size_t align_pow2, uintptr_t *out);

/** Free @p num_pages pages starting at @p pos. Every page is checked
 *  before any is freed. O(n/64 + L + log regions).
 *  @retval AK_ERR_INVALID_PARAM num_pages is 0 or pos is not a multiple of
 *          the page size
 *  @retval AK_ERR_NOT_ALLOCATED some page of the range is free or not
 *          managed (double free, a page between regions, out of range)
 *  Nothing changes on error. */
ak_error ak_bitmap_page_dealloc_pages(ak_bitmap_page *a, uintptr_t pos, size_t num_pages);

/** Pages under management. O(1). */
size_t ak_bitmap_page_total_pages(const ak_bitmap_page *a);
/** Pages allocated. O(1). */
size_t ak_bitmap_page_used_pages(const ak_bitmap_page *a);
/** total_pages - used_pages. O(1). */
size_t ak_bitmap_page_available_pages(const ak_bitmap_page *a);
/** The page size in bytes (4096 for a zero-initialised object). O(1). */
size_t ak_bitmap_page_page_size(const ak_bitmap_page *a);

/** Call @p fn once per maximal run of free or allocated pages of each
 *  region, the regions in address order (see ak_walker in core.h): the
 *  run's first page address, its pages, whether they are allocated. Pages
 *  between regions are not reported. The bitmap keeps no boundaries
 *  between allocations: adjacent allocations are one run. @p fn must not
 *  call @p a. Cost: see the header comment. */
void ak_bitmap_page_walk(const ak_bitmap_page *a, ak_walker fn, void *ctx);

/** Fill @p out (struct ak_page_stats in core.h): the page counts, the
 *  region records and failed_allocs from counters (O(1)); the runs and the
 *  longest free run by the walk (its cost). An alloc_pages of largest_free
 *  pages at page alignment succeeds. */
void ak_bitmap_page_stats(const ak_bitmap_page *a, struct ak_page_stats *out);

/** Verify the object: summary levels against level 0, no free bit outside
 *  the managed regions, region records sorted/disjoint/in the window, and
 *  the counters against the bitmap. NULL if all hold, else a static string
 *  naming the first broken invariant. O(capacity/64). */
const char *ak_bitmap_page_check(const ak_bitmap_page *a);

/** The generic page-allocator handle (name "bitmap_page"; check, walk and
 *  stats filled in). */
ak_page_allocator ak_bitmap_page_as_page(ak_bitmap_page *a);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_BITMAP_PAGE_H */
