/* allockit TLSF: a two-level segregated-fit byte allocator (Masmano,
 * Ripoll, Crespo, Real: "TLSF: a new dynamic memory allocator for
 * real-time systems", ECRTS 2004) for code that needs every call bounded.
 *
 * What it promises
 * ----------------
 * - alloc, dealloc and resize run in constant time: no loop depends on
 *   the heap's size, its contents or its history. The only exception is
 *   the region lookup of a pointer that is not in the region looked up
 *   last: O(log regions).
 * - Blocks are split on alloc and merged with their free neighbours at
 *   once on free; nothing is cached or deferred, so the heap is always in
 *   the state a plain TLSF would be in.
 * - Every dealloc, resize and usable_size checks its pointer before it
 *   touches anything (see "Bad input" below), and refuses bad input with
 *   the allocator unchanged, as core.h's contract says.
 * - Not thread-safe: one allocator per thread, or a lock around it. The
 *   cache hooks (ak_byte_cache) are the exception core.h describes.
 * - Memory is not zero-filled (that would not be constant time).
 *
 * The algorithm
 * -------------
 * Free blocks sit in size-class lists. A block of s bytes (header
 * included) with s >= AK_TLSF_SMALL_BLOCK belongs to first level
 * fl = fls(s) - AK_TLSF_FL_SHIFT + 1 (one level per power of two) and to
 * second level sl = the AK_TLSF_SL_LOG2 bits below its top bit, so each
 * power-of-two range is cut into AK_TLSF_SL_COUNT lists of equal width;
 * smaller blocks go to level 0, one list per AK_TLSF_ALIGN bytes. One
 * bitmap of non-empty first levels and one of non-empty lists per level
 * find a list in two find-first-set steps. alloc rounds its request up to
 * the next list boundary ("good fit"), so any block of the list found is
 * big enough; it takes the list's first block and, when the rest can be
 * a block, cuts the new block from that free block's end: the free block
 * keeps its address (and, when its size stays within its list, its list
 * place), so blocks carved one after another lie at falling addresses,
 * each in front of the one before it. (An aligned request is the
 * exception: its block starts at the first suitable address and the gap
 * in front of it stays free.) free merges the block with its free
 * neighbours (boundary tags: each header holds the block's size and
 * whether it and its predecessor are free; a free block keeps a link to
 * itself in its last word, for its successor) and puts the result on its
 * list.
 *
 * Constants (64-bit / 32-bit targets)
 * -----------------------------------
 *   AK_TLSF_ALIGN           16 / 8    granule: payload addresses and block
 *                                     sizes are multiples of it
 *   AK_TLSF_BLOCK_OVERHEAD  8         one 64-bit header word per block,
 *                                     just in front of its payload
 *   AK_TLSF_MIN_BLOCK       32 / 24   smallest block: header, two list
 *                                     links and the back link
 *   AK_TLSF_SL_LOG2         5         32 lists per power of two: the sizes
 *                                     of one list differ by < 1/32
 *   AK_TLSF_SMALL_BLOCK     512 / 256 blocks below it are in level 0
 *   AK_TLSF_MAX_BLOCK       2^44 - 16 / 2^32 - 8  largest block (regions
 *                                     larger than that are trimmed)
 *   AK_TLSF_FL_COUNT        36 / 25   first levels up to MAX_BLOCK
 *
 * Memory overhead
 * ---------------
 * - Per block: AK_TLSF_BLOCK_OVERHEAD bytes, plus rounding. A request of
 *   n bytes takes a block of r = max(MIN_BLOCK, round_up(n + 8, ALIGN))
 *   bytes, or up to MIN_BLOCK - ALIGN more when the rest of the free block
 *   it came from was too small to stand alone. Its usable size (what
 *   ak_tlsf_usable_size returns and used_bytes counts) is the block size
 *   less the header.
 * - Per region: a record of 8 words at its start, an 8-byte sentinel at its
 *   end and trimming to the granule: at most AK_TLSF_REGION_OVERHEAD bytes
 *   of a region do not count in total_bytes.
 * - The object: one list head per list (FL_COUNT x SL_COUNT words, and
 *   one spare), the bitmaps and a dozen words more: 9.25 KiB on 64-bit
 *   targets, 3.3 KiB on 32-bit ones.
 *
 * Fragmentation bound
 * -------------------
 * An alloc of n bytes (align <= AK_TLSF_ALIGN) succeeds whenever some
 * free block holds r rounded up to the next list boundary, i.e. less than
 * r * (1 + 2^-SL_LOG2) + ALIGN bytes; a block of exactly r suffices when it
 * is first on its list or is the first block of the largest region. So
 * once everything is freed, any request that fitted right after the
 * regions were added fits again. An aligned alloc needs, in the worst
 * case, a block of r + align - ALIGN + MIN_BLOCK bytes; the gap in front
 * of its block becomes a free block, so nothing is lost. As for every
 * allocator that does not move blocks, the heap needed for a live set of M
 * bytes may in the worst case exceed M by a factor growing with the log
 * of the largest-to-smallest block ratio (Robson, 1974); TLSF promises no
 * better, and immediate merging keeps it far from that in practice.
 *
 * Bad input
 * ---------
 * dealloc, resize, usable_size and the cache hook accept a pointer only
 * when it lies inside a region (nothing is read otherwise), is aligned to
 * the granule, and the header in front of it and the header after its
 * block both carry a tag derived from their address and a salt that is
 * new on every ak_tlsf_init, with flags saying the block is in use. So:
 * - a pointer outside every region is always refused;
 * - a pointer already freed is always refused while its memory is still
 *   free (its header says free; a header absorbed by a merge is marked
 *   free as well);
 * - a pointer freed and handed out again as part of another block, or a
 *   pointer into a block, is refused unless the words in front of it and
 *   at the size they claim both carry their tags: for data that does not
 *   depend on the salt, a chance of 2^-18 for each, about 2^-36 together;
 * - a pointer from before the last ak_tlsf_init is refused in the same
 *   way, even when the object was zeroed in between.
 * A wrong size (above the usable size) or an alignment the pointer does
 * not have is refused with AK_ERR_INVALID_PARAM. A double free of a block
 * that was handed out again at the same address cannot be told from a
 * correct free (no allocator that keeps no per-allocation record can).
 * What the allocator keeps in free memory (list links, the link a free
 * block leaves for its successor) is its own, like the object: a program
 * that writes to memory it has freed can corrupt the heap, which
 * ak_tlsf_check then reports. Only the link to a free predecessor is
 * checked before it is followed (inside the region, at a free block that
 * ends where the freed one starts).
 *
 * Configuration: AK_ASSERT (core.h) turns internal consistency checks
 * into traps. There is nothing else to configure.
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
/** Granule: payload addresses and block sizes are multiples of it
 *  (two pointers, so malloc-style alignment costs nothing). */
#define AK_TLSF_ALIGN ((size_t)1 << AK_TLSF_ALIGN_LOG2)
/** log2 of the number of lists per first level. */
#define AK_TLSF_SL_LOG2 5
/** Lists per first level. */
#define AK_TLSF_SL_COUNT (1 << AK_TLSF_SL_LOG2)
/** log2 of AK_TLSF_SMALL_BLOCK: log2(ALIGN) + SL_LOG2. */
#define AK_TLSF_FL_SHIFT (AK_TLSF_ALIGN_LOG2 + AK_TLSF_SL_LOG2)
/** Blocks smaller than this are all in first level 0, whose lists are
 *  exactly AK_TLSF_ALIGN apart. */
#define AK_TLSF_SMALL_BLOCK ((size_t)1 << AK_TLSF_FL_SHIFT)
/** Per-block header bytes: one 64-bit word just in front of the payload.
 *  Fixed: code that tiles blocks (the slab allocator) relies on it. */
#define AK_TLSF_BLOCK_OVERHEAD 8u
/** Smallest block: header, two free-list links and the back link a free
 *  block keeps in its last word, rounded up to AK_TLSF_ALIGN. */
#define AK_TLSF_MIN_BLOCK                                                                          \
    ((AK_TLSF_BLOCK_OVERHEAD + 3 * sizeof(void *) + AK_TLSF_ALIGN - 1) & ~(AK_TLSF_ALIGN - 1))
/** Largest block, and so the most of a region that is used. */
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
/** The most of a region that does not count in total_bytes: its record
 *  (8 words), its sentinel, the first block's header and trimming to the
 *  granule at both ends (128 bytes on 64-bit targets, 72 on 32-bit ones).
 *  A region must be at least this plus AK_TLSF_MIN_BLOCK bytes. */
#define AK_TLSF_REGION_OVERHEAD                                                                    \
    (8 * sizeof(void *) + 2 * AK_TLSF_BLOCK_OVERHEAD + 3 * AK_TLSF_ALIGN)

/** The allocator object. Complete so that it can be static, on the stack
 *  or inside another object; every field is private to tlsf.c and may
 *  change. A zero-initialised object is a valid empty allocator. It does
 *  not own its regions: there is nothing to tear down. */
typedef struct ak_tlsf {
    ak_region_index regions_;                                  /* private */
    uintptr_t salt_;                                           /* private */
    size_t used_bytes_;                                        /* private */
    uintptr_t fl_bitmap_;                                      /* private */
    uint32_t sl_bitmap_[AK_TLSF_FL_COUNT + 1];                 /* private */
    uintptr_t mark_key_;                                       /* private */
    void *largest_region_;                                     /* private */
    size_t total_bytes_, failed_;                              /* private */
    uintptr_t heads_[AK_TLSF_FL_COUNT * AK_TLSF_SL_COUNT + 1]; /* private */
} ak_tlsf;

/** Forget everything @p a managed and give it the region [start,
 *  start+size). Works on a zero-initialised object, on one in use (its
 *  regions are dropped, not touched; their pointers are refused from now
 *  on) and on one whose contents are garbage. The region gets a record at
 *  its start and a sentinel at its end; unaligned edges are trimmed; a
 *  region larger than AK_TLSF_MAX_BLOCK plus overhead is trimmed to it.
 *  O(FL_COUNT x SL_COUNT) to clear the lists.
 *  @retval AK_ERR_INVALID_PARAM the region wraps around the address space
 *          or is smaller than AK_TLSF_REGION_OVERHEAD + AK_TLSF_MIN_BLOCK
 *          (the object is then unchanged). */
ak_error ak_tlsf_init(ak_tlsf *a, uintptr_t start, size_t size);

/** Add the region [start, start+size), laid out as in ak_tlsf_init. Any
 *  number of regions. O(log regions).
 *  @retval AK_ERR_MEMORY_OVERLAP it shares a byte with a managed region
 *  @retval AK_ERR_INVALID_PARAM too small or wraps. Nothing changes on error. */
ak_error ak_tlsf_add_memory(ak_tlsf *a, uintptr_t start, size_t size);

/** Allocate @p size bytes aligned to @p align (a non-zero power of two)
 *  and store the pointer in *out. Size 0 gives a distinct pointer (a
 *  minimum block). Not zero-filled. O(1).
 *  @retval AK_ERR_INVALID_PARAM out is NULL, align is not a power of two,
 *          size > AK_TLSF_MAX_ALLOC or align > AK_TLSF_MAX_ALIGN
 *  @retval AK_ERR_NO_MEMORY no free block is big enough (see the
 *          fragmentation bound above); only failed_allocs changes. */
ak_error ak_tlsf_alloc(ak_tlsf *a, size_t size, size_t align, void **out);

/** Free the block at @p ptr, allocated with @p align and a size of which
 *  @p size may be any value up to the block's usable size. The block
 *  merges with its free neighbours at once. O(1), plus O(log regions)
 *  when ptr is not in the region of the last free. Nothing changes on error.
 *  @retval AK_ERR_NOT_ALLOCATED ptr is outside every region, free, or not
 *          the start of a block (see "Bad input" above)
 *  @retval AK_ERR_INVALID_PARAM align is not a power of two, ptr is not
 *          aligned to it, or size exceeds the block's usable size. */
ak_error ak_tlsf_dealloc(ak_tlsf *a, void *ptr, size_t size, size_t align);

/** Grow or shrink the block at @p ptr in place, from @p old_size to
 *  @p new_size (same @p align). Shrinking splits the tail off as a free
 *  block when it is big enough to be one; growing takes what it needs from
 *  a free successor. Blocks are cut from the end of free blocks, so the
 *  block allocated last is usually followed by the one allocated before
 *  it, not by free space: it grows in place once that one is freed.
 *  O(1), with the checks of ak_tlsf_dealloc.
 *  @retval AK_OK the block now holds new_size bytes
 *  @retval AK_ERR_NO_MEMORY cannot be done in place, or new_size >
 *          AK_TLSF_MAX_ALLOC (the block is unchanged)
 *  @retval AK_ERR_NOT_ALLOCATED, AK_ERR_INVALID_PARAM as ak_tlsf_dealloc
 *          for ptr, old_size and align. */
ak_error ak_tlsf_resize(ak_tlsf *a, void *ptr, size_t old_size, size_t align, size_t new_size);

/** Bytes usable at @p ptr: its block's size less the header (>= size).
 *  0 if ptr, size and align do not pass the checks of ak_tlsf_dealloc.
 *  O(1) + region lookup. */
size_t ak_tlsf_usable_size(const ak_tlsf *a, const void *ptr, size_t size, size_t align);

/** Bytes under management: per region, the usable size of the one free
 *  block it starts as. O(1). */
size_t ak_tlsf_total_bytes(const ak_tlsf *a);
/** The usable sizes of the live blocks summed. O(1). */
size_t ak_tlsf_used_bytes(const ak_tlsf *a);
/** total_bytes - used_bytes. O(1). Headers of further blocks and
 *  fragmentation make the largest possible allocation smaller. */
size_t ak_tlsf_available_bytes(const ak_tlsf *a);

/** Fill @p out with the common statistics (struct ak_byte_stats in
 *  core.h). total_bytes, used_bytes, region_count and failed_allocs are
 *  counters, O(1); the rest is found by walking every block, O(blocks).
 *  free_bytes is the free blocks' usable sizes summed: the headers of the
 *  blocks are in neither it nor used_bytes. */
void ak_tlsf_stats(const ak_tlsf *a, struct ak_byte_stats *out);

/** Verify every invariant: the region index; each region walks from its
 *  first block to its sentinel with sizes summing to the region, every
 *  header tagged and flagged right, back links right, no two free blocks
 *  adjacent; every list holds free blocks of its class, doubly linked, and
 *  the bitmaps agree with the lists and with the free blocks found by the
 *  walk; the counters agree with the blocks. O(blocks + regions + lists).
 *  Returns NULL if all hold, else a static string naming the first broken
 *  invariant. */
const char *ak_tlsf_check(const ak_tlsf *a);

/** Call @p fn for every block of every region (ak_walker in core.h: its
 *  payload address, its usable size, whether it is live; a block held by a
 *  cache layer is live), in address order within a region, regions newest
 *  first. O(blocks). @p fn must not call @p a. */
void ak_tlsf_walk(const ak_tlsf *a, ak_walker fn, void *ctx);

/** The cache hooks core.h describes (ak_byte_cache, ak_byte_uncache):
 *  ak_tlsf_cache checks ptr, size and align as ak_tlsf_dealloc does (the
 *  region found by the tree, without moving the lookup hint), refuses a
 *  block already cached with AK_ERR_NOT_ALLOCATED, and writes the cached
 *  mark into the block's first two words. The block stays live (in
 *  used_bytes). O(log regions). ak_tlsf_uncache clears the mark. O(1). */
ak_error ak_tlsf_cache(ak_tlsf *a, void *ptr, size_t size, size_t align);
void ak_tlsf_uncache(ak_tlsf *a, void *ptr, size_t size, size_t align);
/** The mark's key (ak_byte_cache_key): the mark of a block at p is
 *  p * K and ~(p * K), K new at every init. O(1). */
const uintptr_t *ak_tlsf_cache_key(const ak_tlsf *a);

/** The byte-allocator handle for @p a (name "tlsf", every optional op:
 *  the cache hooks, walk and stats included). */
ak_byte_allocator ak_tlsf_as_byte(ak_tlsf *a);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_TLSF_H */
