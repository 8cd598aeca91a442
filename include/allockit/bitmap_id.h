/* allockit bitmap ID allocator: contiguous, aligned runs of IDs (thread or
 * process IDs, file descriptors, ASIDs, slot numbers) from a
 * fixed-capacity hierarchical bitmap, lowest first.
 *
 * IDs come from ranges given to init/add_memory (start = first ID, size =
 * number of IDs); they may start anywhere, but all of them must lie within
 * AK_ID_CAPACITY IDs of the lowest one (the "window"). Up to
 * AK_BITMAP_ID_MAX_RANGES separate ranges (ranges that touch are merged
 * into one record). IDs between ranges are never handed out.
 *
 * Costs (L = bitmap levels: 3 for the default 65536 IDs):
 *   alloc_id(1, 1): O(L), also when the low IDs are all taken (the
 *     summaries are used to jump over them);
 *   alloc_id(n, align): a walk over run-class bits that tests only the
 *     64-ID words where a long enough free run starts at an allowed
 *     alignment; worst case O(capacity/64) word tests, typically a few;
 *   dealloc_id, alloc_fixed_id, is_allocated: O(n/64 + L + log ranges);
 *   counters O(1); ak_bitmap_id_check O(capacity/64);
 *   ak_bitmap_id_walk and ak_bitmap_id_stats: O(R + L x the runs that
 *     cross a 64-ID word) for R runs of free or allocated IDs, at most
 *     O(R x L); a free or allocated stretch costs O(L) however long.
 * Size of the object: 8 * AK_BITMAP_ID_WORDS bytes of bitmap (one bit per
 * ID plus about 24% of summaries and run classes, for capacity + 64 bits)
 * plus 5 + 2 * AK_BITMAP_ID_MAX_RANGES words: 10,560 bytes for the default
 * 65536 IDs on 64-bit.
 *
 * Not thread-safe: serialise calls on one object.
 */
#ifndef ALLOCKIT_BITMAP_ID_H
#define ALLOCKIT_BITMAP_ID_H

#include <allockit/core.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <allockit/hbitmap_size.h>

/** Separate ID ranges one object can record (ranges that touch merge into
 *  one record). Must be the same in every translation unit of a program. */
#ifndef AK_BITMAP_ID_MAX_RANGES
#define AK_BITMAP_ID_MAX_RANGES 16
#endif

/** Bits of the bitmap: the capacity plus 64, so that bit 0 can sit on a
 *  multiple of 64 at or below the lowest ID without costing capacity. */
#define AK_BITMAP_ID_BITS ((AK_ID_CAPACITY) + (uint64_t)64)

/** Words of bitmap inside an ak_bitmap_id. */
#define AK_BITMAP_ID_WORDS AK_HB_STORAGE_WORDS(AK_BITMAP_ID_BITS)

/** The ID allocator. Fields are private; a zero-initialised object is a
 *  valid empty allocator (no IDs). */
typedef struct ak_bitmap_id {
    size_t base;          /* the ID of bit 0: the lowest managed ID rounded down
                             to a multiple of 64 */
    size_t size;          /* managed IDs */
    size_t used;          /* allocated IDs */
    size_t nranges;       /* records in ranges[] */
    size_t failed_allocs; /* allocs that gave AK_ERR_NO_MEMORY since init */
    /* ranges[2i], ranges[2i+1]: [first, end) IDs, sorted, disjoint,
     * non-adjacent */
    uintptr_t ranges[2 * AK_BITMAP_ID_MAX_RANGES];
    uint64_t bits[AK_BITMAP_ID_WORDS];
} ak_bitmap_id;

/** Forget everything and make IDs [start, start+size) allocatable. Works on
 *  uninitialised memory. O(capacity/64).
 *  @retval AK_ERR_INVALID_PARAM size 0, start+size wraps around, or size
 *          exceeds AK_ID_CAPACITY. Nothing changes on error. */
ak_error ak_bitmap_id_init(ak_bitmap_id *a, uintptr_t start, size_t size);

/** Make IDs [start, start+size) allocatable as well. A range touching a
 *  managed one is merged with it. On an empty object this is init.
 *  O(size/64 + L), or O(capacity/64) when the range lies below every
 *  managed ID (the bitmap is re-based).
 *  @retval AK_ERR_MEMORY_OVERLAP some ID is already managed
 *  @retval AK_ERR_INVALID_PARAM size 0, the range wraps, or the managed IDs
 *          would no longer fit the window (lowest to highest managed ID at
 *          most AK_ID_CAPACITY)
 *  @retval AK_ERR_NO_MEMORY AK_BITMAP_ID_MAX_RANGES separate ranges are
 *          already recorded and this one touches none of them
 *  Nothing changes on error. */
ak_error ak_bitmap_id_add_memory(ak_bitmap_id *a, uintptr_t start, size_t size);

/** Allocate @p count contiguous IDs, the first a multiple of @p align_pow2,
 *  the lowest such run. On success stores the first ID in *out.
 *  @retval AK_ERR_INVALID_PARAM count is 0 or align_pow2 is not a power of
 *          two
 *  @retval AK_ERR_NO_MEMORY more IDs than are available, or no free run of
 *          that length and alignment
 *  Nothing changes on error. */
ak_error ak_bitmap_id_alloc_id(ak_bitmap_id *a, size_t count, size_t align_pow2, size_t *out);

/** Free @p count IDs from @p start_id. Every ID is checked before any is
 *  freed. O(count/64 + L + log ranges).
 *  @retval AK_ERR_INVALID_PARAM count is 0
 *  @retval AK_ERR_NOT_ALLOCATED some ID of the range is free or outside
 *          every range. Nothing changes on error. */
ak_error ak_bitmap_id_dealloc_id(ak_bitmap_id *a, size_t start_id, size_t count);

/** True if @p id is managed and allocated; false otherwise (free, or
 *  outside every range). O(log ranges). */
bool ak_bitmap_id_is_allocated(const ak_bitmap_id *a, size_t id);

/** Allocate exactly @p id. O(L + log ranges).
 *  @retval AK_ERR_INVALID_PARAM id is outside every range
 *  @retval AK_ERR_NO_MEMORY id is taken. Nothing changes on error. */
ak_error ak_bitmap_id_alloc_fixed_id(ak_bitmap_id *a, size_t id);

/** IDs under management. O(1). */
size_t ak_bitmap_id_size(const ak_bitmap_id *a);
/** IDs allocated. O(1). */
size_t ak_bitmap_id_used(const ak_bitmap_id *a);
/** size - used. O(1). */
size_t ak_bitmap_id_available(const ak_bitmap_id *a);

/** Call @p fn once per maximal run of free or allocated IDs of each range,
 *  the ranges in order (see ak_walker in core.h): the run's first ID, its
 *  count, whether they are allocated. IDs between ranges are not
 *  reported; adjacent allocations are one run. @p fn must not call @p a.
 *  Cost: see the header comment. */
void ak_bitmap_id_walk(const ak_bitmap_id *a, ak_walker fn, void *ctx);

/** Fill @p out (struct ak_id_stats in core.h): the ID counts, the range
 *  records and failed_allocs from counters (O(1)); the runs and the
 *  longest free run by the walk (its cost). An alloc_id of largest_free
 *  IDs with align 1 succeeds. */
void ak_bitmap_id_stats(const ak_bitmap_id *a, struct ak_id_stats *out);

/** Verify the object: summary levels against level 0, no free bit outside
 *  the ranges, range records sorted/disjoint/in the window, and the
 *  counters against the bitmap. NULL if all hold, else a static string
 *  naming the first broken invariant. O(capacity/64). */
const char *ak_bitmap_id_check(const ak_bitmap_id *a);

/** The generic ID-allocator handle (name "bitmap_id"; check, walk and
 *  stats filled in). */
ak_id_allocator ak_bitmap_id_as_id(ak_bitmap_id *a);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_BITMAP_ID_H */
