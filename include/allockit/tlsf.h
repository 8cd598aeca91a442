/* allockit TLSF: a two-level segregated-fit byte allocator for real-time
 * use. alloc, free and in-place resize run in constant time with a bounded
 * worst case; fragmentation stays low because blocks are split on alloc and
 * coalesced immediately on free.
 *
 * The algorithm
 * -------------
 * Free blocks sit in size-class lists. A size s >= AK_TLSF_SMALL_BLOCK maps
 * to first level fl = fls(s) - (AK_TLSF_FL_SHIFT - 1) (one level per power of
 * two) and second level sl = the AK_TLSF_SL_LOG2 bits below the top bit, so
 * each power-of-two range is cut into AK_TLSF_SL_COUNT equal slices; sizes
 * below AK_TLSF_SMALL_BLOCK go to fl 0, one list per AK_TLSF_ALIGN bytes. A
 * bitmap of non-empty first levels and one bitmap of non-empty second-level
 * lists per first level let alloc find a list by two find-first-set
 * instructions. alloc rounds the request up to the next list boundary
 * ("good fit"), so the head of any list it finds is big enough; if that
 * finds nothing it also tries two single blocks that may fit exactly: the
 * head of the request's own list and the first block of the largest
 * region (which is the whole region once everything there is free). The
 * block found is split and the tail goes back to a list. free merges the
 * block with its free neighbours (boundary tags: every block header holds
 * its size and the free bits of itself and of its physical predecessor;
 * a free block stores a link to itself at the end of its space so its
 * successor can find it) and inserts the result.
 *
 * Constants (64-bit / 32-bit targets)
 * -----------------------------------
 *   AK_TLSF_ALIGN      16 / 8   granule: block sizes and payload addresses
 *                               are multiples of it (2 * pointer size, so
 *                               malloc-style 16-byte alignment is free)
 *   AK_TLSF_SL_LOG2    5        32 second-level lists per power of two, so a
 *                               list's sizes differ by at most 1/32 (3.1%)
 *   AK_TLSF_FL_SHIFT   9 / 8    log2(ALIGN) + SL_LOG2: below 2^FL_SHIFT the
 *                               lists are exactly ALIGN apart (fl 0)
 *   AK_TLSF_MAX_BLOCK  2^44-16 / 2^32-8  the largest block: the size field
 *                               has 44 bits; the rest of the header word
 *                               holds flags, the slack and a check tag
 *   AK_TLSF_FL_COUNT   36 / 25  first levels to cover every size up to
 *                               MAX_BLOCK: fls(MAX_BLOCK) - FL_SHIFT + 2
 * The allocator object is about 9.3 KiB on 64-bit targets (list heads for
 * 36 x 32 lists) and 3.3 KiB on 32-bit targets, plus the magazines (see
 * AK_TLSF_MAGAZINE below): 32 classes x AK_TLSF_MAGAZINE block addresses,
 * 4.1 KiB on 64-bit with the default of 16 (13.3 KiB in all).
 *
 * Overheads
 * ---------
 * Per used block: 8 bytes (one 64-bit header word in front of the payload),
 * plus rounding of the block to AK_TLSF_ALIGN and the minimum block size
 * AK_TLSF_MIN_BLOCK (32 / 24 bytes, room for the free-list links), so a
 * request of n bytes takes max(MIN_BLOCK, round_up(n + 8, ALIGN)) bytes, at
 * most MIN_BLOCK - ALIGN more when the leftover was too small to split off.
 * Per region: a record of five words at its start, the 8-byte sentinel
 * header at its end, and edge trimming to the granule: a region of n bytes
 * adds at least n - AK_TLSF_REGION_OVERHEAD (104 bytes on 64-bit targets,
 * 60 on 32-bit ones) to total_bytes.
 *
 * Bounds
 * ------
 * alloc: one mapping, at most three find-first-set, one list removal, at
 * most two splits: O(1). free: at most two merges and one insertion: O(1).
 * A small block's free into its class's magazine, and an alloc that takes
 * one back, are O(1) with no list work; a free into a full magazine also
 * frees the oldest block (one ordinary free). Only an allocation that
 * fails flushes every magazine (O(32 x AK_TLSF_MAGAZINE) frees) before
 * its retry: callers that need every call's bound with no exception turn
 * magazines off (ak_tlsf_set_magazine, or AK_TLSF_MAGAZINE=0).
 * resize: at most one merge and one split: O(1). The pointer check in free
 * and resize is O(1) for the region found last and O(number of regions)
 * otherwise. add_memory is O(regions) (overlap check); check, walk and the
 * largest_free statistic walk blocks or a list.
 * Failure bound: an alloc of n bytes (align <= AK_TLSF_ALIGN) succeeds
 * whenever some free block holds at least r = max(MIN_BLOCK, round_up(n +
 * 8, ALIGN)) rounded up to the next list boundary, i.e. less than
 * r * (1 + 2^-SL_LOG2) + ALIGN bytes; a block of exactly r suffices when it
 * heads its list or is the largest region's first block. An aligned alloc
 * first tries the good fit for r alone (enough when that block has room at
 * the alignment), then asks the same of r + align - ALIGN + MIN_BLOCK.
 * The front gap of an aligned block becomes a free block; nothing is lost.
 * As for every allocator that does not move blocks, the heap needed for a
 * live set of M bytes can in the worst case exceed M by a factor growing
 * with log2 of the largest-to-smallest block ratio (Robson, 1974); this
 * allocator promises no better. In practice splitting and immediate
 * coalescing keep it small: with random allocs and frees (two to one) of
 * log-uniform sizes into a 16 MiB pool, the first failure came with this
 * share of the pool in live requested bytes: 8 B..4 KiB 97%, 8 B..64 KiB
 * 98% (94% with alignments up to 4 KiB), 8 B..1 MiB 87-93%, and 8..256 B
 * 80%, where the 8-byte header and 16-byte rounding dominate.
 *
 * Safety checks
 * -------------
 * free and resize check the pointer before touching anything: it must lie
 * inside a region, and the header word in front of it and the header of
 * the next block must carry a 14-bit tag derived from their addresses (and
 * a per-allocator salt) with the right flags and a size that fits the
 * region. A pointer outside every region is always rejected, and so is a
 * pointer freed before, as long as its memory has not been handed out
 * again (its header then says free, or was cleared when the block merged
 * with a neighbour). A random interior pointer passes all of the checks
 * with probability about 2^-28; nothing is read outside the pointer's
 * region, and the link to a free predecessor is followed only if it points
 * inside the region at a free block that ends where this one starts. After
 * ak_tlsf_init the salt changes, so headers left from an earlier use of the
 * memory do not pass either.
 *
 * Configuration: AK_ASSERT (core.h) turns internal consistency checks into
 * traps; AK_PREFETCH(addr), defined before compiling tlsf.c, replaces the
 * cache prefetch hint free and alloc use (define it as ((void)0) to drop it).
 *
 * Not thread-safe: use one allocator per thread or an outside lock.
 * Memory is not zero-filled (that would not be constant time).
 */
#ifndef ALLOCKIT_TLSF_H
#define ALLOCKIT_TLSF_H

#include <allockit/core.h>

#ifdef __cplusplus
extern "C" {
#endif

#if UINTPTR_MAX > 0xffffffffu
#define AK_TLSF_ALIGN_LOG2 4
#define AK_TLSF_FL_COUNT   36
#else
#define AK_TLSF_ALIGN_LOG2 3
#define AK_TLSF_FL_COUNT   25
#endif
/** Granule: payload addresses and block sizes are multiples of it. */
#define AK_TLSF_ALIGN ((size_t)1 << AK_TLSF_ALIGN_LOG2)
/** log2 of the number of second-level lists per first level. */
#define AK_TLSF_SL_LOG2 5
/** Second-level lists per first level. */
#define AK_TLSF_SL_COUNT (1 << AK_TLSF_SL_LOG2)
/** Sizes below 2^FL_SHIFT all map to first level 0. */
#define AK_TLSF_FL_SHIFT (AK_TLSF_ALIGN_LOG2 + AK_TLSF_SL_LOG2)
/** Blocks smaller than this are all in first level 0 (linear classes). */
#define AK_TLSF_SMALL_BLOCK ((size_t)1 << AK_TLSF_FL_SHIFT)
/** Per-block header bytes (one 64-bit word). */
#define AK_TLSF_BLOCK_OVERHEAD 8u
/** Smallest block: header plus two free-list links plus the link to it
 *  that a free block keeps at its end, rounded up to AK_TLSF_ALIGN. */
#define AK_TLSF_MIN_BLOCK                                                                          \
    ((AK_TLSF_BLOCK_OVERHEAD + 3 * sizeof(void *) + AK_TLSF_ALIGN - 1) & ~(AK_TLSF_ALIGN - 1))
/** Largest block (and so the most a region can hold; larger regions are
 *  trimmed to it). */
#if UINTPTR_MAX > 0xffffffffu
#define AK_TLSF_MAX_BLOCK (((size_t)1 << 44) - AK_TLSF_ALIGN)
#else
#define AK_TLSF_MAX_BLOCK ((size_t)UINTPTR_MAX - AK_TLSF_ALIGN + 1)
#endif
/** Largest size alloc accepts; larger gives AK_ERR_INVALID_PARAM. */
#define AK_TLSF_MAX_ALLOC (AK_TLSF_MAX_BLOCK - AK_TLSF_BLOCK_OVERHEAD)
/** Largest alignment alloc accepts (the largest power of two not above
 *  AK_TLSF_MAX_BLOCK); larger gives AK_ERR_INVALID_PARAM. */
#if UINTPTR_MAX > 0xffffffffu
#define AK_TLSF_MAX_ALIGN ((size_t)1 << 43)
#else
#define AK_TLSF_MAX_ALIGN ((size_t)1 << 31)
#endif
/** Upper bound on what a region of n bytes does not add to total_bytes:
 *  its record, its sentinel, the first block's header and edge trimming
 *  (104 bytes on 64-bit targets, 60 on 32-bit ones). */
#define AK_TLSF_REGION_OVERHEAD                                                                    \
    (5 * sizeof(void *) + 2 * AK_TLSF_BLOCK_OVERHEAD + 3 * AK_TLSF_ALIGN)

/** The allocator. Complete so it can be static, on the stack or embedded;
 *  the fields are private. A zero-initialised object is a valid empty
 *  allocator. It does not own its regions: nothing needs tearing down. */
/** Freed blocks each small class keeps in its magazine (build option
 *  AK_TLSF_MAGAZINE in <allockit/config.h>: 0, which turns magazines off,
 *  or a power of two up to 128). A small class is one block size below
 *  AK_TLSF_SMALL_BLOCK (one per AK_TLSF_ALIGN bytes). A free of a small
 *  block puts it in its class's magazine, a ring of the most recent frees,
 *  marked cached in its header (used to its neighbours, so nothing merges
 *  with it; not allocated to a caller, so a second free is caught); an
 *  alloc of the class takes the newest back. A free into a full magazine
 *  first returns the oldest block to the lists (one ordinary free, so every
 *  call stays O(1)); an allocation that finds no block flushes every
 *  magazine and tries again, as ak_tlsf_flush does. It sizes ak_tlsf, so
 *  every file of a program must see the same value. */
#ifndef AK_TLSF_MAGAZINE
#define AK_TLSF_MAGAZINE 16
#endif
#if AK_TLSF_MAGAZINE < 0 || AK_TLSF_MAGAZINE > 128 ||                                              \
    (AK_TLSF_MAGAZINE & (AK_TLSF_MAGAZINE - 1)) != 0
#error "AK_TLSF_MAGAZINE must be 0 or a power of two up to 128"
#endif
/** Small classes: block sizes 0, AK_TLSF_ALIGN, ... below AK_TLSF_SMALL_BLOCK. */
#define AK_TLSF_MAG_CLASSES (AK_TLSF_SMALL_BLOCK / AK_TLSF_ALIGN)

typedef struct ak_tlsf {
    uintptr_t fl_bitmap;                  /* bit fl: sl_bitmap[fl] != 0 */
    uint32_t sl_bitmap[AK_TLSF_FL_COUNT]; /* bit sl: list [fl][sl] non-empty */
    uintptr_t salt;                       /* mixed into every block tag */
    void *regions;                        /* region records, newest first */
    void *hint;                           /* region of the last free */
    void *big_region;                     /* region with the largest span */
    size_t total_bytes, used_bytes, peak_used_bytes, free_bytes;
    size_t used_blocks, free_blocks, region_count, failed_allocs;
    uintptr_t generation;                                /* init count, feeds the salt */
    uintptr_t heads[AK_TLSF_FL_COUNT][AK_TLSF_SL_COUNT]; /* free-list heads */
#if AK_TLSF_MAGAZINE > 0
    unsigned mag_off; /* AK_TLSF_MAGAZINE less the blocks a magazine may hold: 0 (the
                         full size) in a zero-initialised object and after init */
    unsigned char mag_head[AK_TLSF_MAG_CLASSES];          /* ring start (the oldest) per class */
    unsigned char mag_n[AK_TLSF_MAG_CLASSES];             /* blocks in each magazine */
    uintptr_t mag[AK_TLSF_MAG_CLASSES][AK_TLSF_MAGAZINE]; /* block headers */
#endif
} ak_tlsf;

/** Diagnostics, filled by ak_tlsf_stats(). The function has the name of
 *  the struct tag, so the type is spelled `struct ak_tlsf_stats` (or
 *  ak_tlsf_stats_t); a typedef of the same name as the function cannot
 *  exist in C. */
typedef struct ak_tlsf_stats {
    size_t total_bytes;     /**< as ak_tlsf_total_bytes */
    size_t used_bytes;      /**< sum of live requested sizes */
    size_t peak_used_bytes; /**< highest used_bytes seen since init */
    size_t free_bytes;      /**< sum of free block sizes, headers included */
    size_t largest_free;    /**< payload bytes of the largest free block */
    size_t used_blocks;     /**< live allocations */
    size_t free_blocks;     /**< free blocks over all lists */
    size_t cached_blocks;   /**< freed blocks held in magazines (in neither count above) */
    size_t cached_bytes;    /**< their sizes, headers included */
    size_t region_count;    /**< regions added */
    size_t failed_allocs;   /**< allocations that gave AK_ERR_NO_MEMORY */
} ak_tlsf_stats_t;

/** Forget everything @p a managed and give it the region [start,
 *  start+size). Works on a zero-initialised object and on one in use (its
 *  regions are dropped, not touched). The region gets a record at its start
 *  and a sentinel at its end; unaligned edges are trimmed; a region larger
 *  than AK_TLSF_MAX_BLOCK plus overhead is trimmed to it. O(1).
 *  @retval AK_ERR_INVALID_PARAM the region is too small to hold one block
 *          after trimming, or wraps around the address space (the object is
 *          then unchanged). */
ak_error ak_tlsf_init(ak_tlsf *a, uintptr_t start, size_t size);

/** Add the region [start, start+size), as in ak_tlsf_init. Any number of
 *  regions; O(number of regions) for the overlap check.
 *  @retval AK_ERR_MEMORY_OVERLAP it shares a byte with a managed region
 *  @retval AK_ERR_INVALID_PARAM too small or wraps. Nothing changes on error. */
ak_error ak_tlsf_add_memory(ak_tlsf *a, uintptr_t start, size_t size);

/** Allocate @p size bytes aligned to @p align (a non-zero power of two).
 *  Size 0 gives a distinct pointer (a minimum block). Not zero-filled.
 *  O(1): no loops besides constant-bounded ones. Once everything is freed,
 *  any request that fitted right after the regions were added fits again.
 *  @retval AK_ERR_INVALID_PARAM align is not a power of two, or size >
 *          AK_TLSF_MAX_ALLOC, or align > AK_TLSF_MAX_ALIGN
 *  @retval AK_ERR_NO_MEMORY no free block is big enough (counted in
 *          failed_allocs; nothing else changes). */
ak_error ak_tlsf_alloc(ak_tlsf *a, size_t size, size_t align, void **out);

/** Free the block at @p ptr, allocated with @p size and @p align (or
 *  resized to @p size). The block merges with free neighbours at once.
 *  O(1), plus O(regions) to find the region when it is not the one found
 *  last. Nothing changes on error.
 *  @retval AK_ERR_NOT_ALLOCATED ptr is outside every region, already free,
 *          or not the start of a block (see "Safety checks" above)
 *  @retval AK_ERR_INVALID_PARAM align is not a power of two or ptr is not
 *          aligned to it, or @p size cannot belong to this block (the
 *          allocator accounts the size the block was allocated with). */
ak_error ak_tlsf_dealloc(ak_tlsf *a, void *ptr, size_t size, size_t align);

/** Grow or shrink the block at @p ptr in place from @p old_size to
 *  @p new_size (same @p align). Shrinking splits the tail off as a free
 *  block when it is big enough; growing takes space from the next block if
 *  it is free. O(1), with the pointer check of ak_tlsf_dealloc.
 *  @retval AK_OK the block now holds new_size bytes (free it with new_size)
 *  @retval AK_ERR_NO_MEMORY cannot be done in place (block unchanged)
 *  @retval AK_ERR_NOT_ALLOCATED, AK_ERR_INVALID_PARAM as ak_tlsf_dealloc;
 *          new_size > AK_TLSF_MAX_ALLOC also gives AK_ERR_NO_MEMORY. */
ak_error ak_tlsf_resize(ak_tlsf *a, void *ptr, size_t old_size, size_t align, size_t new_size);

/** Bytes usable at @p ptr (>= size): the block's payload. 0 if the block
 *  does not pass the checks of ak_tlsf_dealloc. O(1) + region lookup. */
size_t ak_tlsf_usable_size(const ak_tlsf *a, const void *ptr, size_t size, size_t align);

/** Bytes under management: per region, the payload of its first block
 *  (the region minus its record, sentinel, trimming and one header). O(1). */
size_t ak_tlsf_total_bytes(const ak_tlsf *a);
/** Sum of the sizes of live allocations, as requested. O(1). */
size_t ak_tlsf_used_bytes(const ak_tlsf *a);
/** total_bytes - used_bytes. O(1). Headers and rounding make the largest
 *  possible allocation smaller than this. */
size_t ak_tlsf_available_bytes(const ak_tlsf *a);

/** Fill @p out with diagnostics. O(length of the largest non-empty list)
 *  for largest_free; every other field is a counter. */
void ak_tlsf_stats(const ak_tlsf *a, struct ak_tlsf_stats *out);

/** Verify every invariant: each region walks from its first block to its
 *  sentinel with block sizes summing to the region, valid tags and flags,
 *  prev-physical links of blocks after free blocks, no two adjacent free
 *  blocks; every list holds free blocks of its class, doubly linked, and
 *  the bitmaps agree with the lists; every magazine holds blocks of its
 *  class marked cached, each once, and no other block is marked; the
 *  counters agree with the blocks.
 *  O(total blocks + regions * lists + magazine entries). Returns NULL if all hold, else a
 *  static string naming the first broken invariant. */
const char *ak_tlsf_check(const ak_tlsf *a);

/** Called by ak_tlsf_walk for each block: @p ptr its payload, @p size its
 *  payload bytes (block size minus the header), @p used whether allocated
 *  (a magazine's blocks are not). */
typedef void (*ak_tlsf_walker)(void *ptr, size_t size, bool used, void *ctx);

/** Call @p fn for every block of every region in address order within a
 *  region, regions newest first. O(total blocks). The callback must not
 *  allocate from or free into @p a. */
void ak_tlsf_walk(const ak_tlsf *a, ak_tlsf_walker fn, void *ctx);

/** Return every magazine's blocks to the free lists (merging them as a
 *  free does). O(AK_TLSF_MAG_CLASSES * AK_TLSF_MAGAZINE). Returns the
 *  number of blocks returned. */
size_t ak_tlsf_flush(ak_tlsf *a);

/** Set how many blocks each magazine of @p a may hold: 0 turns them off
 *  (every free goes straight to the lists, as classic TLSF; for callers
 *  that want its exact placement), up to AK_TLSF_MAGAZINE (the default,
 *  in a zero-initialised object and after init). Flushes the magazines first. Returns the previous
 * value (always 0 when built with AK_TLSF_MAGAZINE=0). O(flush). */
unsigned ak_tlsf_set_magazine(ak_tlsf *a, unsigned cap);

/** The byte-allocator handle for @p a (name "tlsf", every optional op). */
ak_byte_allocator ak_tlsf_as_byte(ak_tlsf *a);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_TLSF_H */
