/* allockit slab: an object-caching byte allocator for small sizes, as
 * kernels use, with an internal TLSF as its page source and for large
 * requests.
 *
 * Size classes (AK_SLAB_CLASS_COUNT = 28), derived from two rules:
 *   - 16-byte steps up to 128:  16 32 48 64 80 96 112 128
 *   - four classes per power of two above that, in steps of a quarter of
 *     the lower power:          160 192 224 256, 320 384 448 512,
 *                               640 768 896 1024, 1280 1536 1792 2048,
 *                               2560 3072 3584 4096
 * A class of size c = k * 2^j (k odd) guarantees the alignment 2^j, its
 * lowest set bit: power-of-two classes are naturally aligned (64 -> 64,
 * 4096 -> 4096), the others less so (48 -> 16, 192 -> 64, 3072 -> 1024).
 * A request (size, align) takes the smallest class that is >= size
 * (size 0 counts as 1) and guarantees >= align. Requests above 4096 bytes
 * or with align above 4096 go "large": straight to the TLSF.
 *
 * Slabs: a slab is one power-of-two span taken from the TLSF, aligned to
 * its own size, so the slab of an object is align_down(ptr, slab_size).
 * Slab size: 4096 << max(0, log2(c) - 8), doubled for the classes from 320
 * up that are not powers of two: 4 KiB for classes 16..256, 8 KiB for
 * 320..512, 16 KiB for 640..1024, 32 KiB for 1280..2048, 64 KiB for
 * 2560..4096. The span is cut into object-sized slots; the last
 * AK_SLAB_TAIL bytes hold the TLSF header of the next block, so slabs the
 * TLSF places back to back tile memory exactly. A slab holds 15..255
 * objects; tail and slack cost at most 1/8 of a slab. The slab's metadata
 * is not in it: each region starts with a table of 64-byte descriptors,
 * one per 4 KiB frame (1/64 of the region, not counted in total_bytes),
 * and a slab's descriptor is the slot of its first frame.
 *
 * Waste, worst case: a request of s bytes uses its class size; the gap is
 * < 16 bytes up to 128 (size 1 in class 16 is the extreme) and < 25% of s
 * above (129 -> 160); add at most 12.5% of each slab for tail and slack, 1/64 of each
 * region for the descriptor table,
 * plus one empty slab cached per class (528 KiB if every class has one)
 * and the slabs that only magazine objects keep (at most AK_SLAB_MAGAZINE
 * per class), all given back whenever a TLSF allocation fails (and by
 * ak_slab_trim). Large blocks cost
 * what the TLSF costs. Nothing is reserved per class at init: slabs come
 * from, and go back to, the TLSF.
 *
 * Magazines: each class keeps up to AK_SLAB_MAGAZINE (16) freed objects in
 * a LIFO inside the ak_slab object. A free puts the object there (its
 * allocated bit cleared, so a second free is still caught) and an alloc
 * takes the newest one back (bit set again), so a churn of alloc and free
 * touches neither the slab lists nor the bitmap search. A free into a full
 * magazine first returns its older half to the slabs; an alloc with an
 * empty magazine takes from the slabs. The slabs count magazine objects as
 * in use, so a slab empties only when they go back (ak_slab_flush).
 *
 * Costs: alloc and free of a small object are O(1): a table lookup for
 * the class, then the magazine, or else a clear bit of the head slab's
 * allocated bitmap (looked for first in the word of its last free);
 * counters. A free into a full magazine returns AK_SLAB_MAGAZINE / 2
 * objects to their slabs (O(AK_SLAB_MAGAZINE)). Taking a new slab or
 * releasing an empty one is one TLSF call. A free validates its
 * pointer in O(1) (O(regions) when it lies in another region than the last
 * free's): the slab span inside a region, its frame's descriptor naming
 * a slab of the right class, an object slot start, and an allocated bit
 * (so a double free is
 * detected exactly).
 *
 * Not thread-safe: callers serialise access (wrap the byte interface). */
#ifndef ALLOCKIT_SLAB_H
#define ALLOCKIT_SLAB_H

#include <allockit/core.h>
#include <allockit/tlsf.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Number of size classes. */
#define AK_SLAB_CLASS_COUNT 28
/** Largest request served from a slab; larger ones go to the TLSF. */
#define AK_SLAB_MAX_SMALL 4096
/** Largest alignment a class can guarantee; larger aligns go to the TLSF. */
#define AK_SLAB_MAX_CLASS_ALIGN 4096
/** Bytes at the end of each slab span left to the TLSF (its next block's
 *  header): a slab of S bytes is a TLSF block of S - AK_SLAB_TAIL bytes. */
#define AK_SLAB_TAIL AK_TLSF_BLOCK_OVERHEAD

struct ak_slab_hdr; /* a slab's descriptor, in its region's frame table (in slab.c) */
struct ak_region_list;

/** Freed objects each class keeps in its magazine (build option
 *  AK_SLAB_MAGAZINE, 2..255, in <allockit/config.h>): a LIFO of recently
 *  freed objects that the next allocations of the class take first, so
 *  that a churn of alloc and free stays off the slab lists and bitmaps.
 *  It sizes ak_slab, so every file of a program must see the same value. */
#ifndef AK_SLAB_MAGAZINE
#define AK_SLAB_MAGAZINE 16
#endif
#if AK_SLAB_MAGAZINE < 2 || AK_SLAB_MAGAZINE > 255
#error "AK_SLAB_MAGAZINE must be 2..255"
#endif

/** Per-class state (fields are private; read them through
 *  ak_slab_class_stats). */
typedef struct ak_slab_class {
    unsigned mag_n;              /* objects in the magazine */
    size_t held;                 /* objects the slabs count as taken: allocated to callers
                                    or in the magazine (so that neither fast path updates it) */
    struct ak_slab_hdr *partial; /* slabs with free and used objects; allocs take the head */
    size_t requested;          /* sum of the sizes requested by callers for theirs (apart from held,
                                  so that the two updates stay two plain adds) */
    struct ak_slab_hdr *empty; /* at most one cached empty slab */
    size_t partial_count;
    size_t slab_count; /* slabs held: partial, full (on no list) and the cached one */
    size_t pad_;       /* to 8 words: the record of class c is then at c << 6 */
} ak_slab_class;

/** A slab allocator. A zero-initialised object is a valid empty allocator.
 *  Its fields are private. */
typedef struct ak_slab {
    ak_slab_class cls[AK_SLAB_CLASS_COUNT];
    /* The magazines: entry i of class c is a freed object mag_p[c][i]
       (newest last) whose allocated bit is mag_bit[c][i] in the bitmap
       word *mag_word[c][i] of its slab's descriptor. Three arrays, so
       that one index addresses all three. */
    void *mag_p[AK_SLAB_CLASS_COUNT][AK_SLAB_MAGAZINE];
    size_t *mag_word[AK_SLAB_CLASS_COUNT][AK_SLAB_MAGAZINE];
    size_t mag_bit[AK_SLAB_CLASS_COUNT][AK_SLAB_MAGAZINE];
    struct ak_region_list *regions; /* records at the start of each region, newest first */
    unsigned char *tbl;             /* the frame table of the region the last free resolved */
    uintptr_t fbase;                /* (a hint): its first frame */
    size_t nframes;                 /* and its frame count */
    size_t region_count;
    size_t large_count;     /* live large blocks */
    size_t large_requested; /* and their requested bytes */
    ak_tlsf tlsf;           /* page source and large-block allocator */
} ak_slab;

/** Diagnostics of one size class. */
typedef struct ak_slab_class_info {
    size_t object_size;      /**< class size: what a request of this class uses */
    size_t object_align;     /**< alignment every object of the class has */
    size_t slab_size;        /**< bytes per slab (also its alignment) */
    size_t objects_per_slab; /**< objects one slab holds */
    size_t objects_in_use;   /**< objects currently allocated */
    size_t objects_cached;   /**< freed objects held in the class's magazine */
    size_t requested_bytes;  /**< sum of requested sizes of those objects */
    size_t slabs_partial;    /**< slabs with both free and used objects */
    size_t slabs_full;       /**< slabs with no free object */
    size_t slabs_empty;      /**< cached empty slabs (0 or 1) */
    size_t waste_bytes;      /**< slab bytes not holding requested data */
} ak_slab_class_info;

/** Diagnostics of the whole allocator. */
typedef struct ak_slab_stats_info {
    size_t total_bytes;     /**< as ak_slab_total_bytes */
    size_t used_bytes;      /**< as ak_slab_used_bytes */
    size_t small_objects;   /**< live objects in every class */
    size_t small_requested; /**< their requested bytes */
    size_t slabs;           /**< slabs held from the TLSF (partial + full + empty) */
    size_t slab_bytes;      /**< their bytes */
    size_t slabs_empty;     /**< cached empty slabs */
    size_t small_cached;    /**< freed objects held in magazines */
    size_t large_blocks;    /**< live large blocks */
    size_t large_requested; /**< their requested bytes */
    size_t waste_bytes;     /**< slab_bytes - small_requested */
    size_t tlsf_used_bytes; /**< TLSF used: slabs * (S - AK_SLAB_TAIL) + large */
    size_t region_count;    /**< regions added */
} ak_slab_stats_info;

/** Reset @p a and give it its first region [start, start+size). The
 *  region start holds a region record and the frame descriptor table
 *  (1/64 of the region); the rest goes to the
 *  TLSF. O(size / 4096) (the table is initialised).
 *  @retval AK_ERR_INVALID_PARAM the region wraps or is too small to hold
 *          anything (@p a is then a valid empty allocator). */
ak_error ak_slab_init(ak_slab *a, uintptr_t start, size_t size);

/** Add the region [start, start+size), laid out as for init.
 *  O(regions + size / 4096).
 *  @retval AK_ERR_MEMORY_OVERLAP it overlaps a region already added
 *  @retval AK_ERR_INVALID_PARAM it wraps or is too small (nothing changed) */
ak_error ak_slab_add_memory(ak_slab *a, uintptr_t start, size_t size);

/** Allocate @p size bytes aligned to @p align. Small requests (see the
 *  class rules above) come from a slab, others from the TLSF. O(1) (one
 *  TLSF call when a new slab is needed). If the TLSF runs out, every
 *  cached empty slab is released and the TLSF asked once more.
 *  @retval AK_ERR_INVALID_PARAM align is not a power of two, or size/align
 *          too large to represent (nothing changed)
 *  @retval AK_ERR_NO_MEMORY nothing fits (cached empty slabs may have been
 *          released; no live block changed) */
ak_error ak_slab_alloc(ak_slab *a, size_t size, size_t align, void **out);

/** Free a block, given the @p size and @p align passed to alloc (they pick
 *  the class, so the block's slab is found in O(1)).
 *  @retval AK_ERR_INVALID_PARAM align is not a power of two
 *  @retval AK_ERR_NOT_ALLOCATED ptr is outside every region, not the start
 *          of an object, already free, or (size, align) name a class the
 *          block does not belong to (a large block freed as small, another
 *          class, a slab's own start freed as large). Any other large free
 *          of something that is not a live large block (a small object, a
 *          wrong size) gives what ak_tlsf_dealloc gives:
 *          AK_ERR_NOT_ALLOCATED or AK_ERR_INVALID_PARAM.
 *  Nothing changes on error. used_bytes assumes @p size is the size that
 *  was allocated (another size of the same class is not detectable). */
ak_error ak_slab_dealloc(ak_slab *a, void *ptr, size_t size, size_t align);

/** Resize in place from @p old_size to @p new_size (same @p align): a
 *  small block when both sizes map to the same class; a large block
 *  through ak_tlsf_resize when both are large. O(1).
 *  @retval AK_ERR_NO_MEMORY not possible in place (block unchanged)
 *  @retval AK_ERR_NOT_ALLOCATED / AK_ERR_INVALID_PARAM as ak_slab_dealloc */
ak_error ak_slab_resize(ak_slab *a, void *ptr, size_t old_size, size_t align, size_t new_size);

/** Bytes usable at @p ptr: the class size for a small block, what the TLSF
 *  says for a large one; @p size if the block is not valid. O(1). */
size_t ak_slab_usable_size(const ak_slab *a, const void *ptr, size_t size, size_t align);

/** Bytes under management (the TLSF's total: regions minus records and
 *  frame tables). O(1). */
size_t ak_slab_total_bytes(const ak_slab *a);
/** Sum of the requested sizes of live blocks (small and large). O(classes). */
size_t ak_slab_used_bytes(const ak_slab *a);
/** total - used. O(classes). */
size_t ak_slab_available_bytes(const ak_slab *a);

/** The size of class @p class_index, or 0 if out of range. O(1). */
size_t ak_slab_class_size(unsigned class_index);

/** The class a request (size, align) uses: 0..AK_SLAB_CLASS_COUNT-1, or
 *  AK_SLAB_CLASS_COUNT for a large request, or -1 if align is not a power
 *  of two. O(1). */
int ak_slab_class_of(size_t size, size_t align);

/** Diagnostics of class @p class_index. O(1).
 *  @retval AK_ERR_INVALID_PARAM class_index >= AK_SLAB_CLASS_COUNT */
ak_error ak_slab_class_stats(const ak_slab *a, unsigned class_index, ak_slab_class_info *out);

/** Diagnostics of the whole allocator. O(classes). */
void ak_slab_stats(const ak_slab *a, ak_slab_stats_info *out);

/** Return every magazine's objects to their slabs (a slab that empties
 *  then follows the one-cached-slab rule). O(classes * AK_SLAB_MAGAZINE).
 *  Returns the number of objects returned. */
size_t ak_slab_flush(ak_slab *a);

/** Flush the magazines, then release every cached empty slab to the TLSF
 *  (as under memory pressure). O(classes * AK_SLAB_MAGAZINE). Returns the
 *  number of slabs released. */
size_t ak_slab_trim(ak_slab *a);

/** Walk every class, every slab (descriptor, list membership, counters,
 *  allocated bitmap), the region records and frame tables, and the TLSF
 *  (ak_tlsf_check), and cross-check the counters with the TLSF's.
 *  O(slabs * objects per slab + TLSF). NULL if every invariant holds, else
 *  a static string naming the first broken one. */
const char *ak_slab_check(const ak_slab *a);

/** The byte-allocator interface handle (name "slab"; resize, usable_size
 *  and check are provided). */
ak_byte_allocator ak_slab_as_byte(ak_slab *a);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_SLAB_H */
