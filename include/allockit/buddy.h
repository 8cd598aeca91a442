/* allockit buddy: a binary buddy byte allocator.
 *
 * Algorithm
 *   Memory is handed out in naturally aligned power-of-two blocks. A block
 *   of order k is 2^k bytes at an address that is a multiple of 2^k; its
 *   buddy is the block at (address XOR 2^k), and the two together form
 *   their parent of order k+1. Orders run from AK_BUDDY_MIN_SHIFT (16-byte
 *   blocks on every target: a free block must hold two list links, 16
 *   bytes on 64-bit; 32-bit targets could go down to 8 but keep 16, which
 *   halves the bitmaps) up to the largest block a region holds.
 *   - Every region is carved into the maximal aligned power-of-two blocks
 *     that fit in it (as large as possible), whatever the alignment of its
 *     edges; those blocks never merge with anything outside the region.
 *   - alloc rounds max(size, align, 16) up to a power of two 2^k, finds
 *     the smallest non-empty free list of order >= k with one
 *     find-first-set on a bitmask of non-empty lists, and splits the block
 *     down to order k, putting each upper half on its free list.
 *   - free merges the block with its buddy for as long as the buddy is
 *     free at the same order, then puts the result on its free list.
 *   Free lists are intrusive and doubly linked (the links live in the free
 *   block itself), so taking a buddy out of its list is O(1); whether a
 *   buddy is free is read from bitmaps in the region's head. No free list
 *   is ever scanned.
 *
 * Bounds
 *   alloc, free, resize: O(orders) (at most one step per order, each a few
 *   bit operations), plus finding the pointer's region: O(1) when it is the
 *   region used last, else O(log regions) (regions form an AVL tree by
 *   address). No division anywhere. add_memory: O(log regions) for the
 *   overlap test plus clearing the new region's bitmap.
 *   Worst-case internal fragmentation: a request of 2^j + 1 bytes takes a
 *   block of 2^(j+1), so just under half of every block (50%) may be unused
 *   (requests under 16 bytes: up to 15 of 16). Alignment needs no padding,
 *   blocks being naturally aligned; an align above the size makes the block
 *   align bytes.
 *
 * Bookkeeping (inside each region, counted out of total_bytes)
 *   For a region [start, start+size): let s = start rounded up to the
 *   alignment of size_t, h = (start+size) rounded down to 16, and
 *   n0 = (h - s) / 16, W = bits of size_t. The head at s holds
 *     - a region record: AK_BUDDY_REGION_RECORD_BYTES (88 bytes on 64-bit,
 *       44 on 32-bit), the region's entry in the allocator's region index
 *       and where its table and bitmap lie;
 *     - a table of fls(n0) + 1 words: where each order's bits start;
 *     - a bitmap of ceil((even(n0) + 4 * (floor(n0/2) + fls(n0))) / W)
 *       words, even(x) being x rounded up to even: an "allocated block of
 *       this order" bit per possible block of 16 bytes, and that bit plus a
 *       "split" bit per possible block of each larger order -- 3 bits per
 *       16 bytes in all.
 *   Blocks start at lo = the end of the head rounded up to 16 and end at
 *   h, so
 *       total_bytes += h - lo,
 *       bookkeeping  = lo - start  (~ 3*n0/8 + 8*fls(n0) + 100 bytes,
 *                      3/128 of the region: 24,816 bytes for a 1 MiB
 *                      region, 2.37%),
 *       trimmed      = start + size - h  (< 16 bytes).
 *   ak_buddy_region_overhead() gives the exact figure for a region.
 *   Allocated blocks carry no header: the user gets the whole block.
 *
 * Contract
 *   As every byte allocator (core.h). Its buddy terms: a block's usable
 *   size is its whole power-of-two block, so used_bytes is the sum of the
 *   live blocks' sizes, and a free, resize or usable_size may name any
 *   (size, align) of the block's order (for a 128-byte block: sizes 65 to
 *   128 with an align up to 128, or a smaller size with align 128); those
 *   of another order are refused. Every free is checked against the
 *   bitmaps, which say exactly which blocks are live.
 *
 * Not thread-safe; wrap it in a lock for concurrent use. A zero-initialised
 * ak_buddy is a valid empty allocator.
 */
#ifndef ALLOCKIT_BUDDY_H
#define ALLOCKIT_BUDDY_H

#include <allockit/core.h>

#ifdef __cplusplus
extern "C" {
#endif

/** log2 of the smallest block (16 bytes on every target). */
#define AK_BUDDY_MIN_SHIFT 4
/** The smallest block, in bytes. */
#define AK_BUDDY_MIN_BLOCK ((size_t)1 << AK_BUDDY_MIN_SHIFT)
/** Number of order slots: one per bit of size_t (orders below
 *  AK_BUDDY_MIN_SHIFT stay empty), so a block size 2^k has slot k. */
#define AK_BUDDY_ORDERS (sizeof(size_t) * CHAR_BIT)
/** Size of the record at the head of every region (before its order table
 *  and bitmap): the region index's links and bounds, then three words. */
#define AK_BUDDY_REGION_RECORD_BYTES (11 * sizeof(size_t))

struct ak_buddy_block; /* a free block's list links (internal) */

/** A buddy allocator. Complete so it can live anywhere; treat the fields
 *  as private. About 0.6 KiB on 64-bit. Zero-initialised = valid and empty. */
typedef struct ak_buddy {
    struct ak_buddy_block *free_head[AK_BUDDY_ORDERS]; /* free list per order */
    size_t nonempty;                                   /* bit k: free_head[k] != NULL */
    ak_region_index regions;  /* the regions, and the one of the last successful call */
    size_t total_bytes;       /* sum of region spans */
    size_t used_bytes;        /* sum of allocated block sizes */
    size_t peak_used_bytes;   /* highest used_bytes seen */
    size_t live_blocks;       /* allocated blocks */
    size_t bookkeeping_bytes; /* region heads (record, table, bitmap, padding) */
    size_t trimmed_bytes;     /* region tails below 16 bytes */
    size_t failed_allocs;     /* allocs that gave AK_ERR_NO_MEMORY since init */
    uintptr_t salt;           /* of the cache marks; new at every init */
} ak_buddy;

/** The buddy's own figures, beside the common ones of ak_buddy_stats:
 *  filled by ak_buddy_order_stats(), so spelled `struct
 *  ak_buddy_order_stats` (or ak_buddy_order_stats_t). */
typedef struct ak_buddy_order_stats {
    /** Free blocks of each order: free_blocks[k] counts blocks of 2^k bytes. */
    size_t free_blocks[AK_BUDDY_ORDERS];
    size_t peak_used_bytes;   /**< highest used_bytes since init */
    size_t bookkeeping_bytes; /**< region heads: records, bitmaps, padding */
    size_t trimmed_bytes;     /**< unusable region tails (< 16 bytes each) */
} ak_buddy_order_stats_t;

/** Reset @p a and give it its first region [start, start+size): any earlier
 *  state of @p a is forgotten (its memory is not touched). The region head
 *  holds the bookkeeping (see the file comment); the rest is carved into
 *  maximal aligned power-of-two blocks (at most two per order). O(size/256)
 *  word stores to clear the bitmap, plus O(orders) to carve.
 *  @retval AK_ERR_INVALID_PARAM size 0, the range wraps around the address
 *          space, or nothing is left after the head and trimming (then @p a
 *          is left as it was). */
ak_error ak_buddy_init(ak_buddy *a, uintptr_t start, size_t size);

/** Add the region [start, start+size) to @p a. Regions may be many and of
 *  any alignment; blocks never span two regions. Cost as ak_buddy_init plus
 *  O(regions) for the overlap test.
 *  @retval AK_ERR_INVALID_PARAM size 0, wraps, or too small to hold one
 *          16-byte block after its head
 *  @retval AK_ERR_MEMORY_OVERLAP shares a byte with a region already managed
 *  Nothing changes on error. */
ak_error ak_buddy_add_memory(ak_buddy *a, uintptr_t start, size_t size);

/** Allocate @p size bytes aligned to @p align: a block of
 *  2^ceil(log2(max(size, align, 16))) bytes, naturally aligned; used_bytes
 *  grows by the block's size. Size 0 gives a distinct 16-byte block.
 *  Contents are not cleared.
 *  O(orders) plus O(log regions) to find the region of the block taken when it
 *  is not the region used last.
 *  @retval AK_ERR_INVALID_PARAM align is not a power of two, @p out is NULL,
 *          or max(size, align) is above the largest power of two in size_t
 *  @retval AK_ERR_NO_MEMORY no free block is large enough
 *  Nothing changes on error. */
ak_error ak_buddy_alloc(ak_buddy *a, size_t size, size_t align, void **out);

/** Free the block at @p ptr, allocated with @p size and @p align (or any
 *  size and align of the same order), merging it with its buddy for as
 *  long as the buddy is free. used_bytes drops by the block's size.
 *  O(orders) plus O(log regions) to find the pointer's region (O(1) if it is
 *  the region used last).
 *  @retval AK_ERR_NOT_ALLOCATED ptr is outside every block area (outside
 *          every region, or in a region head or tail), is not the start of
 *          an allocated block (inside one, or already free)
 *  @retval AK_ERR_INVALID_PARAM align is not a power of two, max(size,
 *          align) is above the largest power of two in size_t, or an
 *          allocated block starts at ptr but size/align name another order
 *  Nothing changes on error. */
ak_error ak_buddy_dealloc(ak_buddy *a, void *ptr, size_t size, size_t align);

/** Resize the block at @p ptr in place from @p old_size to @p new_size
 *  (same @p align), as ak_byte_resize. Shrinking below half the block
 *  splits off the unused upper halves and frees them; growing succeeds when
 *  the block's size still fits, or when the block is the lower buddy at
 *  each order it must grow through and those buddies are free.
 *  O(orders) plus the region lookup.
 *  @retval AK_OK the block holds new_size bytes; free it with new_size
 *  @retval AK_ERR_NO_MEMORY cannot grow in place (or new_size is too large
 *          to represent); the block is unchanged
 *  @retval AK_ERR_NOT_ALLOCATED, AK_ERR_INVALID_PARAM as ak_buddy_dealloc
 *  Nothing changes on error. */
ak_error ak_buddy_resize(ak_buddy *a, void *ptr, size_t old_size, size_t align, size_t new_size);

/** The usable size of the live block at @p ptr, allocated with @p size
 *  and @p align: its whole power-of-two block. 0 if ak_buddy_dealloc would
 *  refuse the same arguments (@p ptr is not the start of a live block, or
 *  size/align name another order). O(1) plus the region lookup. */
size_t ak_buddy_usable_size(const ak_buddy *a, const void *ptr, size_t size, size_t align);

/** For a cache layer (ak_byte_cache in core.h): checks the block at @p ptr
 *  exactly as ak_buddy_dealloc does and, if it is live and not cached
 *  already, writes the cached mark into its first two words. The block
 *  stays allocated. Reads the allocator and writes only the block, so
 *  calls on different blocks may run at the same time as each other and
 *  as calls made under the allocator's lock, except init and add_memory.
 *  O(orders) at worst (a refused block), else O(1) plus the region lookup.
 *  @retval AK_ERR_NOT_ALLOCATED, AK_ERR_INVALID_PARAM as ak_buddy_dealloc;
 *          AK_ERR_NOT_ALLOCATED also for a block already cached
 *  Nothing changes on error. */
ak_error ak_buddy_cache(ak_buddy *a, void *ptr, size_t size, size_t align);

/** The block at @p ptr, cached by ak_buddy_cache, is live again: its mark
 *  is cleared (its first two words become 0). Trusted: no check. O(1). */
void ak_buddy_uncache(ak_buddy *a, void *ptr, size_t size, size_t align);

/** The mark's key (ak_byte_cache_key): the mark of a block at p is
 *  p * K and ~(p * K), K (the salt, odd) new at every init. O(1). */
const uintptr_t *ak_buddy_cache_key(const ak_buddy *a);

/** Bytes in blocks under management (regions minus heads and tails). O(1). */
size_t ak_buddy_total_bytes(const ak_buddy *a);
/** Bytes in live blocks, each counted at its power-of-two size (its
 *  usable size). O(1). */
size_t ak_buddy_used_bytes(const ak_buddy *a);
/** total_bytes - used_bytes. O(1). Rounding means not all of it can be
 *  allocated; see ak_buddy_stats for the largest free block. */
size_t ak_buddy_available_bytes(const ak_buddy *a);

/** Bytes of the region [start, start+size) that would not be in blocks if
 *  it were added: head (record, order table, bitmap, padding) plus the
 *  trimmed tail.
 *  O(1). Returns SIZE_MAX if the region is unusable (wraps, too small). */
size_t ak_buddy_region_overhead(uintptr_t start, size_t size);

/** Fill @p out with the common statistics (struct ak_byte_stats in
 *  core.h). The free blocks tile with the live ones: free_bytes is
 *  total_bytes - used_bytes. From counters in O(1): all but free_blocks;
 *  largest_free is the block of the highest non-empty order (an alloc of
 *  that size succeeds). free_blocks is counted on the free lists:
 *  O(orders + free blocks). */
void ak_buddy_stats(const ak_buddy *a, struct ak_byte_stats *out);

/** Fill @p out with the buddy's own figures (struct ak_buddy_order_stats):
 *  O(orders + free blocks), the free blocks counted on the lists. */
void ak_buddy_order_stats(const ak_buddy *a, struct ak_buddy_order_stats *out);

/** Call @p fn once for every block, free or allocated (ak_walker in
 *  core.h: its address, its power-of-two size, whether it is allocated; a
 *  block a cache layer holds is allocated), region by region (newest
 *  region first), in address order within a region. The blocks of a region
 *  tile its block area exactly. @p fn must not call @p a.
 *  O(blocks * orders). */
void ak_buddy_walk(const ak_buddy *a, ak_walker fn, void *ctx);

/** Verify every invariant: non-empty mask agrees with the lists; every list
 *  is well linked and holds exactly the free blocks the bitmaps describe,
 *  each aligned, inside its region, at the right order; no two free buddies
 *  are left unmerged; no stray allocated or split bit; the blocks tile each
 *  region; counters add up (used_bytes is exactly the allocated blocks'
 *  sizes summed); the region index is sound and every record and order
 *  table consistent.
 *  O(regions + bitmap words + blocks * (orders + log regions)).
 *  @return NULL if all hold, else a static string naming the first broken
 *          invariant. */
const char *ak_buddy_check(const ak_buddy *a);

/** The ak_byte_allocator handle for @p a (name "buddy"; every optional op:
 *  resize, usable_size, check, cache, uncache, walk and stats). O(1). */
ak_byte_allocator ak_buddy_as_byte(ak_buddy *a);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_BUDDY_H */
