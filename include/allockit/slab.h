/* allockit slab: a plain slab allocator (after Bonwick, 1994) for small
 * objects, with an internal TLSF as its page source and for everything
 * else.
 *
 * Size classes
 * ------------
 * The first AK_SLAB_CLASS_COUNT (28) classes of allockit's one size-class
 * series, 16 to 4096 bytes:
 *   - 16-byte steps up to 128:  16 32 48 64 80 96 112 128
 *   - four per power of two above, a quarter of the lower power apart:
 *                               160 192 224 256, 320 384 448 512, ...,
 *                               2560 3072 3584 4096
 * A class of size k * 2^j (k odd) guarantees the alignment 2^j: 48 -> 16,
 * 192 -> 64, 4096 -> 4096. A request (size, align) takes the smallest
 * class that holds size (size 0 counts as 16) and guarantees align. A
 * request above AK_SLAB_MAX_SMALL bytes or with an align above
 * AK_SLAB_MAX_CLASS_ALIGN is "large" and goes to the TLSF as it is.
 *
 * Slabs
 * -----
 * A slab is one block of the TLSF, of 2^S bytes less AK_SLAB_TAIL (the
 * TLSF's header of the next block), aligned to 2^S, cut into objects of
 * its class from its start. S = 12 (4 KiB) for the classes up to 128;
 * above, the largest S up to 16 (64 KiB) for which the class size is a
 * whole number of 2^(S-8)-byte granules: 8 + the class size's trailing
 * zero bits (8 KiB for 160 and 224, 16 KiB for 192, 320 and 448, 32 KiB
 * for 384, 640 and 896, 64 KiB for 256, 512, 768 and from 1024 up). That
 * gives 15 to 255 objects per slab, at least 31 up to 2048 bytes. A slab
 * holds nothing but its objects: its descriptor (a
 * map with one bit per 2^(S-8) bytes, the class, the list links) sits in a
 * table at the start of its region, 64 bytes for every 4 KiB frame of the
 * region, so a free finds its slab from the pointer and the class alone.
 * Each class allocates from the head of its list of slabs with free
 * objects; a slab that fills leaves the list, and rejoins it on its first
 * free. A slab that empties goes back to the TLSF, except that each class
 * keeps up to two empty slabs (the head of its list and one more), so
 * that an alloc and free that alternate at a slab boundary do not take and
 * return a slab each time. The kept slabs go back when the TLSF cannot
 * serve a request (and the request is retried once), and with
 * ak_slab_trim.
 *
 * Bounds
 * ------
 * alloc and free of a small object are O(1): allocation takes the highest
 * free object of one word of the head slab's map (up to 256 / word-width
 * words are looked at when that word has none); free checks the object's
 * bit and sets it back. Taking a new slab or giving one back is one TLSF call.
 * Large requests cost what the TLSF costs. A free whose pointer lies in
 * another region than the last one's first finds its region in
 * O(log regions).
 * Waste, worst case, for a request of s bytes: the class rounds s up by
 * less than 16 bytes up to 128 and by less than 25% of s above. Per slab:
 * the tail and the end of the slab that holds no whole object, at most
 * one object's size: 1/256 (class 16) to 1/16 (class 4096) of the slab.
 * Per class: the free objects of partly used slabs (nothing bounds how
 * many such slabs the frees leave, as in any allocator that does not move
 * objects) and at most two empty slabs (together at most 1.9 MiB over all
 * classes). Per region: a record of under 128 bytes and the descriptor
 * table, 1/64 of the region (not counted in total_bytes). Large blocks:
 * the TLSF's 8 bytes per block and its rounding.
 *
 * Checks
 * ------
 * Every free, resize and usable_size is checked exactly, from the
 * descriptor tables, which lie outside every block: a pointer outside
 * every region, into a region's own record and tables, into a released
 * slab, into the middle or the tail of a slab, or at an object that is
 * not live (a double free) is refused; so is a size or align of another
 * class than the object's. Apart from the cache hooks' marks, the slab
 * layer reads and writes no byte of any object: a write into a freed
 * object cannot mislead it. A large block is
 * checked by the TLSF (its header tag, see tlsf.h), after the slab layer
 * has made sure that the pointer is not inside a slab. Nothing is read
 * outside the regions.
 *
 * Not thread-safe: callers serialise access (wrap the byte interface),
 * except for the cache hooks (see core.h).
 */
#ifndef ALLOCKIT_SLAB_H
#define ALLOCKIT_SLAB_H

#include <allockit/core.h>
#include <allockit/tlsf.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Number of size classes (16..4096 bytes). */
#define AK_SLAB_CLASS_COUNT 28
/** Largest request served from a slab; larger ones go to the TLSF. */
#define AK_SLAB_MAX_SMALL 4096
/** Largest alignment a class can guarantee; larger aligns go to the TLSF. */
#define AK_SLAB_MAX_CLASS_ALIGN 4096
/** Bytes at the end of each slab span left to the TLSF (its next block's
 *  header): a slab of S bytes asks the TLSF for S - AK_SLAB_TAIL bytes. */
#define AK_SLAB_TAIL AK_TLSF_BLOCK_OVERHEAD
/** Largest slab, and the least a region needs to serve the largest classes
 *  (plus its table and the TLSF's overhead). */
#define AK_SLAB_MAX_SLAB 65536
/** Words of a slab's object map (256 bits), as the object stores it. */
#define AK_SLAB_MAP_WORDS (256 / (sizeof(size_t) * CHAR_BIT))

struct ak_slab_desc; /* a slab's descriptor, in its region's table (slab.c) */

/** A slab allocator. A zero-initialised object is a valid empty allocator.
 *  Its fields are private. */
typedef struct ak_slab {
    /* The free fast path's view of the region found last: the first frame
       that can hold a slab, how many 16-byte granules from it are covered
       by ready descriptors, and that frame's descriptor. */
    uintptr_t hint_base;
    size_t hint_span;
    unsigned char *hint_tbl;
    /* Per align up to 16: size - 1 below this takes the fast paths (classes
       up to 128) or the other classes' paths; 0 until init. */
    size_t fast_limit[17];
    size_t class_limit[17];
    struct ak_slab_desc *head[AK_SLAB_CLASS_COUNT];      /* allocation takes from these */
    size_t live[AK_SLAB_CLASS_COUNT];                    /* objects allocated, per class */
    size_t rows[AK_SLAB_CLASS_COUNT][AK_SLAB_MAP_WORDS]; /* each class's object starts */
    /* Per-class constants, filled at init: slab and granule masks, granule
       shift, and the class of each 16-byte step of sizes up to 4096. */
    uintptr_t slab_mask[AK_SLAB_CLASS_COUNT];
    uintptr_t gran_mask[AK_SLAB_CLASS_COUNT];
    unsigned char gran_shift[AK_SLAB_CLASS_COUNT];
    unsigned char class_of[AK_SLAB_MAX_SMALL / 16];
    struct ak_slab_desc *spare[AK_SLAB_CLASS_COUNT]; /* a kept empty slab, off the list */
    size_t slabs[AK_SLAB_CLASS_COUNT];               /* slabs held, per class */
    size_t large_count;                              /* live large blocks */
    size_t large_bytes;                              /* and their usable bytes */
    size_t failed_allocs;                            /* allocs that found no memory */
    ak_region_index regions;
    ak_tlsf tlsf; /* page source and large-block allocator */
} ak_slab;

/** Diagnostics of one size class. */
typedef struct ak_slab_class_info {
    size_t object_size;      /**< class size: what a request of this class uses */
    size_t object_align;     /**< alignment every object of the class has */
    size_t slab_size;        /**< bytes per slab (also its alignment) */
    size_t objects_per_slab; /**< objects one slab holds */
    size_t objects_in_use;   /**< objects currently allocated */
    size_t slabs_partial;    /**< slabs with both free and allocated objects */
    size_t slabs_full;       /**< slabs with no free object */
    size_t slabs_empty;      /**< kept empty slabs (0..2) */
    size_t waste_bytes;      /**< bytes of the class's slabs not holding live objects */
} ak_slab_class_info;

/** The slab's own figures for the whole allocator, beside the common
 *  ones of ak_slab_stats (filled by ak_slab_usage_stats). */
typedef struct ak_slab_usage {
    size_t small_objects;   /**< live objects in every class */
    size_t small_bytes;     /**< their class sizes summed */
    size_t slabs;           /**< slabs held from the TLSF */
    size_t slab_bytes;      /**< their bytes */
    size_t slabs_empty;     /**< kept empty slabs */
    size_t large_blocks;    /**< live large blocks */
    size_t large_bytes;     /**< their usable bytes */
    size_t waste_bytes;     /**< slab_bytes - small_bytes */
    size_t tlsf_used_bytes; /**< what the TLSF counts as used (slabs and large blocks) */
} ak_slab_usage;

/** Forget every region and block of @p a (zero-initialised or in use) and
 *  give it the region [start, start+size). The region's start holds its
 *  record and descriptor table (1/64 of the region); the rest goes to the
 *  TLSF. Pointers handed out before are refused afterwards. O(1): the
 *  table is filled as slabs reach into it.
 *  @retval AK_ERR_INVALID_PARAM the region wraps or is too small to hold
 *          anything (@p a is then unchanged) */
ak_error ak_slab_init(ak_slab *a, uintptr_t start, size_t size);

/** Add the region [start, start+size), laid out as for init.
 *  O(log regions), plus what ak_tlsf_add_memory costs.
 *  @retval AK_ERR_MEMORY_OVERLAP it shares a byte with a region already
 *          added @retval AK_ERR_INVALID_PARAM it wraps or is too small
 *  Nothing changes on error. */
ak_error ak_slab_add_memory(ak_slab *a, uintptr_t start, size_t size);

/** Allocate @p size bytes aligned to @p align and store the pointer in
 *  *out. Small requests (see the class rules above) come from a slab of
 *  their class, others from the TLSF. O(1), plus one TLSF call when a new
 *  slab is needed. When the TLSF cannot serve a request that some region
 *  could hold, the kept empty slabs are given back and the TLSF asked once
 *  more.
 *  @retval AK_ERR_INVALID_PARAM out is NULL, align is not a power of two,
 *          or size/align is too large to represent (nothing changed)
 *  @retval AK_ERR_NO_MEMORY nothing fits (no block changed; kept empty
 *          slabs may have been given back, unless no region could ever
 *          hold the request: then nothing changed at all) */
ak_error ak_slab_alloc(ak_slab *a, size_t size, size_t align, void **out);

/** Free a block, given the @p size and @p align passed to alloc, or any
 *  other pair that names the same class (for a large block: that the TLSF
 *  accepts for it). O(1); see Checks above.
 *  @retval AK_ERR_NOT_ALLOCATED ptr is outside every region, not the start
 *          of a live block (already free, interior, in a slab's tail or a
 *          region's tables, the start of a slab itself)
 *  @retval AK_ERR_INVALID_PARAM align is not a power of two, or the block
 *          is live but (size, align) cannot belong to it: a small object
 *          freed with a size of another class or as large, a large block
 *          freed with a small size (told apart from a pointer that is no
 *          block by a walk of the TLSF's blocks, O(blocks), on this error
 *          path only), a large block with a size the TLSF refuses
 *  Nothing changes on error. */
ak_error ak_slab_dealloc(ak_slab *a, void *ptr, size_t size, size_t align);

/** Resize in place from @p old_size to @p new_size (same @p align): a
 *  small block when new_size names the same class (nothing moves, nothing
 *  is counted again), a large block through ak_tlsf_resize when both
 *  sizes are large. O(1).
 *  @retval AK_ERR_NO_MEMORY not possible in place (block unchanged)
 *  @retval AK_ERR_NOT_ALLOCATED, AK_ERR_INVALID_PARAM as ak_slab_dealloc
 *          for (ptr, old_size, align) */
ak_error ak_slab_resize(ak_slab *a, void *ptr, size_t old_size, size_t align, size_t new_size);

/** Bytes usable at @p ptr: the class size for a small object, what the
 *  TLSF says for a large block; 0 if @p ptr is not a live block that
 *  (size, align) can belong to. O(1). */
size_t ak_slab_usable_size(const ak_slab *a, const void *ptr, size_t size, size_t align);

/** Bytes under management (the TLSF's total: regions less their records,
 *  tables and the TLSF's own overhead). O(1). */
size_t ak_slab_total_bytes(const ak_slab *a);
/** Usable bytes of the live blocks: class sizes of the small objects plus
 *  the large blocks' usable sizes. O(classes). */
size_t ak_slab_used_bytes(const ak_slab *a);
/** total - used. O(classes). */
size_t ak_slab_available_bytes(const ak_slab *a);

/** The size of class @p class_index, or 0 if out of range. O(1). */
size_t ak_slab_class_size(unsigned class_index);

/** The class a request (size, align) uses: 0..AK_SLAB_CLASS_COUNT-1, or
 *  AK_SLAB_CLASS_COUNT for a large request, or -1 if align is not a power
 *  of two. O(1). */
int ak_slab_class_of(size_t size, size_t align);

/** Diagnostics of class @p class_index. O(slabs of the class on its list).
 *  @retval AK_ERR_INVALID_PARAM class_index >= AK_SLAB_CLASS_COUNT */
ak_error ak_slab_class_stats(const ak_slab *a, unsigned class_index, ak_slab_class_info *out);

/** The common statistics (struct ak_byte_stats in core.h). From counters:
 *  total_bytes, region_count and failed_allocs in O(1), used_bytes and
 *  used_blocks (live objects and large blocks) in O(classes). The free
 *  side, by a walk of the TLSF's blocks: a slab's free objects (read from
 *  its map, O(1) per slab) and the TLSF's free blocks, each at its usable
 *  size; O(TLSF blocks). free_bytes leaves out the ends of slabs that hold
 *  no whole object and the TLSF's headers. */
void ak_slab_stats(const ak_slab *a, struct ak_byte_stats *out);

/** The slab's own figures (struct ak_slab_usage). O(classes + slabs on the
 *  class lists). */
void ak_slab_usage_stats(const ak_slab *a, ak_slab_usage *out);

/** Give every kept empty slab back to the TLSF (as memory pressure does).
 *  O(classes). Returns the number of slabs given back. */
size_t ak_slab_trim(ak_slab *a);

/** Walk the regions, their tables and every slab (descriptor, class, map,
 *  list membership), each class's list, spare and counters, the TLSF
 *  (ak_tlsf_check) and its blocks (every slab a TLSF block of its size,
 *  the large blocks' count and bytes). O(frames + blocks + objects).
 *  NULL if every invariant holds, else a static string naming the first
 *  broken one. */
const char *ak_slab_check(const ak_slab *a);

/** Call @p fn for every block (ak_walker in core.h): each object slot of
 *  each slab (size: the class size; used: allocated, or held by a cache
 *  layer), and every other block of the TLSF (large blocks and free space,
 *  at their usable sizes), in address order within a region, regions
 *  newest first. A slab's end that holds no whole object is not reported.
 *  O(TLSF blocks + objects in slabs). @p fn must not call @p a. */
void ak_slab_walk(const ak_slab *a, ak_walker fn, void *ctx);

/** The cache hooks of core.h (ak_byte_cache): check the live block like
 *  ak_slab_dealloc, refuse it if it is already cached, and mark it cached
 *  (its first two words). Reads the allocator and writes only into the
 *  block, so it may run without the allocator's lock (see core.h); the
 *  one difference from dealloc: a live large block given with a size of a
 *  slab class gives AK_ERR_NOT_ALLOCATED (dealloc's walk of the TLSF is not
 *  made). O(log regions). */
ak_error ak_slab_cache(ak_slab *a, void *ptr, size_t size, size_t align);
/** The block cached by ak_slab_cache is live again (the mark is cleared).
 *  Trusted. O(1). */
void ak_slab_uncache(ak_slab *a, void *ptr, size_t size, size_t align);
/** The mark's key (ak_byte_cache_key): that of the slab's internal TLSF,
 *  which marks its large blocks, so small and large blocks carry the same
 *  form of mark, p * K and ~(p * K), K new at every init. O(1). */
const uintptr_t *ak_slab_cache_key(const ak_slab *a);

/** The byte-allocator interface handle (name "slab"; every optional op:
 *  resize, usable_size, check, the cache hooks, walk and stats). */
ak_byte_allocator ak_slab_as_byte(ak_slab *a);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_SLAB_H */
