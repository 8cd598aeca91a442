/* allockit core: the error model, the alignment helpers and the three
 * allocator interfaces (byte, page, ID) that every allocator in the kit
 * implements.
 *
 * Freestanding: this header and everything in src/ use only <stddef.h>,
 * <stdint.h>, <stdbool.h>, <limits.h> and compiler builtins.
 *
 * Configuration: the build generates <allockit/config.h> (AK_HAVE_* and the
 * capacities). A project that vendors the sources without CMake can instead
 * define AK_CONFIG_HEADER to a header of its own, or define the macros on
 * the command line; every macro has a default below.
 */
#ifndef ALLOCKIT_CORE_H
#define ALLOCKIT_CORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(AK_CONFIG_HEADER)
#include AK_CONFIG_HEADER
#elif defined(__has_include)
#if __has_include(<allockit/config.h>)
#include <allockit/config.h>
#endif
#endif

/** Page-allocator capacity in pages of 4 KiB (build option
 *  AK_PAGE_ALLOC_CAPACITY: 256m = 65536, 4g = 1048576, 64g = 16777216,
 *  1t = 268435456). Sizes the bitmap inside every ak_bitmap_page object. */
#ifndef AK_PAGE_ALLOC_CAPACITY_PAGES
#define AK_PAGE_ALLOC_CAPACITY_PAGES 1048576u
#endif

/** ID-allocator capacity in IDs (build option AK_ID_CAPACITY). */
#ifndef AK_ID_CAPACITY
#define AK_ID_CAPACITY 65536u
#endif

/** Assertion hook for internal "cannot happen" states; off by default
 *  (a freestanding core has nowhere to report to). Define it to your
 *  kernel's assert to turn internal consistency checks into traps. */
#ifndef AK_ASSERT
#define AK_ASSERT(x) ((void)0)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/** Result of every fallible allockit call. Any call that returns an error
 *  other than AK_OK has left the allocator exactly as it was. */
typedef enum ak_error {
    AK_OK = 0,             /**< success */
    AK_ERR_INVALID_PARAM,  /**< bad size, count, alignment or address */
    AK_ERR_MEMORY_OVERLAP, /**< a region overlaps memory already managed */
    AK_ERR_NO_MEMORY,      /**< not enough free memory / pages / IDs */
    AK_ERR_NOT_ALLOCATED,  /**< freeing something that is not allocated */
} ak_error;

/** Number of ak_error values (for tables indexed by error). */
#define AK_ERROR_COUNT 5

/** A short, static, human-readable description of @p e.
 *  Never NULL: an unknown value gives "unknown error". O(1). */
const char *ak_strerror(ak_error e);

/** The enumerator's name ("AK_ERR_NO_MEMORY"), or "AK_ERR_?" if unknown. */
const char *ak_error_name(ak_error e);

/* ------------------------------------------------------------------ */
/* Alignment helpers                                                   */
/* ------------------------------------------------------------------ */

/* Macro forms, usable in constant expressions (array sizes, static
 * initialisers, _Static_assert). `a` must be a power of two. Like the inline
 * functions, AK_ALIGN_UP wraps modulo 2^N when x is within a-1 of the top of
 * its type; use ak_align_up_checked where that can happen. */
#define AK_IS_POW2(x)       ((x) != 0 && (((x) & ((x)-1)) == 0))
#define AK_ALIGN_DOWN(x, a) ((x) & ~((a)-1))
#define AK_ALIGN_UP(x, a)   (((x) + ((a)-1)) & ~((a)-1))
#define AK_IS_ALIGNED(x, a) (((x) & ((a)-1)) == 0)

/** Round @p pos down to a multiple of @p align (a power of two). */
static inline uintptr_t ak_align_down(uintptr_t pos, uintptr_t align)
{
    return pos & ~(align - 1);
}

/** Round @p pos up to a multiple of @p align (a power of two).
 *  Wraps modulo 2^N (returns 0) when the result does not fit in uintptr_t,
 *  as the bit formula does; see ak_align_up_checked. */
static inline uintptr_t ak_align_up(uintptr_t pos, uintptr_t align)
{
    return (pos + align - 1) & ~(align - 1);
}

/** True if @p addr is a multiple of @p align (a power of two). */
static inline bool ak_is_aligned(uintptr_t addr, uintptr_t align)
{
    return (addr & (align - 1)) == 0;
}

/** True if @p x is a non-zero power of two. */
static inline bool ak_is_pow2(uintptr_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/** Overflow-checked round-up: stores the rounded value in *out and returns
 *  true, or returns false (and leaves *out alone) if it would exceed
 *  UINTPTR_MAX or @p align is not a power of two. */
static inline bool ak_align_up_checked(uintptr_t pos, uintptr_t align, uintptr_t *out)
{
    if (!ak_is_pow2(align))
        return false;
    uintptr_t r = ak_align_down(pos, align);
    if (r != pos) {
        if (r > UINTPTR_MAX - align)
            return false;
        r += align;
    }
    *out = r;
    return true;
}

/* ------------------------------------------------------------------ */
/* Shared bookkeeping inside allocator objects                         */
/* ------------------------------------------------------------------ */

/** The index of an allocator's regions (fields private: src/ak_region.h).
 *  The records live inside the regions; this holds the tree's root, the
 *  list of regions and the span of the region looked up last. */
typedef struct ak_region_index {
    void *root;        /* AVL tree of region records, by address */
    void *list;        /* every region, newest first */
    void *last;        /* the region of the last successful lookup */
    uintptr_t last_lo; /* its block area: [last_lo, last_lo + last_span) */
    uintptr_t last_span;
    size_t count; /* regions */
} ak_region_index;

/* ------------------------------------------------------------------ */
/* Walking and statistics, the same for every allocator                */
/* ------------------------------------------------------------------ */

/** The walker of every allocator in the kit (ak_byte_walk, ak_page_walk,
 *  ak_id_walk and each allocator's ak_X_walk): called once per block or
 *  run, in address order within a region, region after region.
 *    - byte allocators: @p start is the block's pointer, @p size its
 *      usable bytes (for a live block what usable_size returns for it;
 *      for a free one what the allocator counts it as), @p used whether
 *      it is live (a block a cache layer holds is live to the allocator);
 *      the order of the regions is the allocator's own (newest first);
 *    - page allocator: @p start is the first page's address, @p size the
 *      number of pages of the run, @p used whether they are allocated;
 *    - ID allocator: @p start is the run's first ID, @p size its count.
 *  Page and ID runs are maximal: the bitmaps keep no boundaries between
 *  allocations, so two adjacent allocations show as one used run; their
 *  regions come in address order. The callback must not call the
 *  allocator being walked. */
typedef void (*ak_walker)(uintptr_t start, size_t size, bool used, void *ctx);

/** Statistics of a byte allocator (ak_byte_stats, ak_X_stats). The struct
 *  has the function's name, so the type is spelled `struct ak_byte_stats`
 *  (or ak_byte_stats_t). Each figure agrees with a walk made at the same
 *  moment: the used blocks' sizes sum to used_bytes, the free blocks'
 *  to free_bytes, and so on. total_bytes, used_bytes, region_count and
 *  failed_allocs come from counters in every allocator; how the others are
 *  found (counters, free lists or a walk) and at what cost each header
 *  says. The cache layer, whose walk is its backend's, says how its
 *  figures relate to it (magazine.h). */
typedef struct ak_byte_stats {
    size_t total_bytes;   /**< as total_bytes */
    size_t used_bytes;    /**< as used_bytes: the live blocks' usable sizes */
    size_t free_bytes;    /**< the free blocks' sizes, as the walk gives them;
                               at most total - used, the rest being what the
                               allocator keeps between blocks (headers, slab
                               tails) */
    size_t largest_free;  /**< the largest free block's size (0: none) */
    size_t used_blocks;   /**< live blocks */
    size_t free_blocks;   /**< free blocks */
    size_t region_count;  /**< regions under management */
    size_t failed_allocs; /**< allocs that gave AK_ERR_NO_MEMORY since init */
} ak_byte_stats_t;

/** Statistics of a page allocator (ak_page_stats, ak_X_stats), in pages,
 *  agreeing with its walk. Type `struct ak_page_stats` or ak_page_stats_t. */
typedef struct ak_page_stats {
    size_t total_pages;   /**< as total_pages */
    size_t used_pages;    /**< as used_pages */
    size_t free_pages;    /**< total_pages - used_pages: the free runs' pages */
    size_t largest_free;  /**< pages of the longest free run (0: none) */
    size_t used_runs;     /**< maximal runs of allocated pages */
    size_t free_runs;     /**< maximal runs of free pages */
    size_t region_count;  /**< region records (regions that touch are one) */
    size_t failed_allocs; /**< alloc_pages and alloc_pages_at that gave
                               AK_ERR_NO_MEMORY since init */
} ak_page_stats_t;

/** Statistics of an ID allocator (ak_id_stats, ak_X_stats), in IDs,
 *  agreeing with its walk. Type `struct ak_id_stats` or ak_id_stats_t. */
typedef struct ak_id_stats {
    size_t total_ids;     /**< as size */
    size_t used_ids;      /**< as used */
    size_t free_ids;      /**< total_ids - used_ids: the free runs' IDs */
    size_t largest_free;  /**< IDs of the longest free run (0: none) */
    size_t used_runs;     /**< maximal runs of allocated IDs */
    size_t free_runs;     /**< maximal runs of free IDs */
    size_t region_count;  /**< range records (ranges that touch are one) */
    size_t failed_allocs; /**< alloc_id and alloc_fixed_id that gave
                               AK_ERR_NO_MEMORY since init */
} ak_id_stats_t;

/* ------------------------------------------------------------------ */
/* The byte-allocator interface                                        */
/* ------------------------------------------------------------------ */

/** Operations of a byte allocator. Every allocator in the kit provides one
 *  const instance; user code may provide its own (a test double, a wrapper
 *  that locks). The first eight entries are mandatory, the rest may be
 *  NULL; the ak_byte_* calls then give the documented fallback. */
typedef struct ak_byte_allocator_ops {
    const char *name;
    ak_error (*init)(void *self, uintptr_t start, size_t size);
    ak_error (*add_memory)(void *self, uintptr_t start, size_t size);
    ak_error (*alloc)(void *self, size_t size, size_t align, void **out);
    ak_error (*dealloc)(void *self, void *ptr, size_t size, size_t align);
    size_t (*total_bytes)(const void *self);
    size_t (*used_bytes)(const void *self);
    size_t (*available_bytes)(const void *self);
    /* optional */
    ak_error (*resize)(void *self, void *ptr, size_t old_size, size_t align, size_t new_size);
    size_t (*usable_size)(const void *self, const void *ptr, size_t size, size_t align);
    const char *(*check)(const void *self);
    /* optional, both or neither: what a cache layer over the allocator
     * needs to keep the contract (see ak_byte_cache) */
    ak_error (*cache)(void *self, void *ptr, size_t size, size_t align);
    void (*uncache)(void *self, void *ptr, size_t size, size_t align);
    /* optional: see ak_byte_walk (AK_OK once walked, or why not) and
     * ak_byte_stats */
    ak_error (*walk)(const void *self, ak_walker fn, void *ctx);
    void (*stats)(const void *self, struct ak_byte_stats *out);
    /* optional, with the cache hooks: see ak_byte_cache_key (last, so that
     * tables written in order need not name it) */
    const uintptr_t *(*cache_key)(const void *self);
} ak_byte_allocator_ops;

/* The contract every byte allocator keeps (TLSF, buddy, slab, and the
 * cache layer over them), written once here; each header adds only what
 * is its own.
 *
 * Sizes a free may give. dealloc, resize and usable_size take the size
 * and align that were passed to alloc. An allocator refuses a pointer that
 * is not the start of a live block with AK_ERR_NOT_ALLOCATED, and a size
 * or align that the block could not have been allocated with (a size above
 * the block's usable size, one of another buddy order or slab class, an
 * align the pointer does not have) with AK_ERR_INVALID_PARAM. Sizes that
 * the same block could have served are not told apart, and need not be:
 * nothing the allocator keeps depends on which one is given.
 *
 * What used_bytes counts. Each live block counts at its usable size (what
 * usable_size returns for it: at least the size requested, at most the
 * request rounded up to the allocator's granule, order or class). So
 * used_bytes is exact whatever size a free passes, and 0 once every block
 * is freed.
 *
 * usable_size of a pointer that is not a live block is 0; for a live block
 * it is at least the size requested.
 *
 * Bad input changes nothing. A call that returns an error leaves every
 * block, region and counter as it was, except the count of failed
 * allocations that some statistics report. A failed init or add_memory
 * keeps the allocator's earlier regions and blocks.
 *
 * init on a live allocator forgets every region and block it managed and
 * starts over with the one region given; pointers handed out before are
 * refused afterwards (AK_ERR_NOT_ALLOCATED) as for any other pointer that
 * is not a live block. The memory of the old regions is not touched.
 *
 * alloc with out == NULL gives AK_ERR_INVALID_PARAM. A request that no
 * region could ever hold gives AK_ERR_NO_MEMORY and changes nothing.
 */

/** A handle: an allocator object and its operations. Passed by value. */
typedef struct ak_byte_allocator {
    const struct ak_byte_allocator_ops *ops;
    void *self;
} ak_byte_allocator;

/* The calls made on every allocation and free are defined here as well,
 * for inlining, so that one through a handle costs one indirect call.
 * GNU-style extern inline: this copy is only ever inlined, and src/core.c
 * holds the library's own (for a pointer to the function, or a build that
 * does not inline). Elsewhere (C++, other compilers) plain inline, whose
 * external definition is the library's. */
#if defined(__GNUC__) && !defined(__cplusplus)
#define AK_DISPATCH_INLINE extern __inline__ __attribute__((__gnu_inline__))
#else
#define AK_DISPATCH_INLINE inline
#endif

/** Give the allocator its first region [start, start+size). Unaligned
 *  edges are trimmed. @retval AK_ERR_INVALID_PARAM too small or wraps. */
ak_error ak_byte_init(ak_byte_allocator h, uintptr_t start, size_t size);
/** Add a further region. @retval AK_ERR_MEMORY_OVERLAP overlaps a managed
 *  region (nothing changed). @retval AK_ERR_INVALID_PARAM too small/wraps. */
ak_error ak_byte_add_memory(ak_byte_allocator h, uintptr_t start, size_t size);
/** Allocate @p size bytes aligned to @p align (a non-zero power of two).
 *  Size 0 gives a distinct valid pointer. On success stores it in *out.
 *  @retval AK_ERR_INVALID_PARAM align is not a power of two, or size/align
 *          too large to represent @retval AK_ERR_NO_MEMORY nothing fits. */
AK_DISPATCH_INLINE ak_error ak_byte_alloc(ak_byte_allocator h, size_t size, size_t align,
                                          void **out)
{
    return h.ops->alloc(h.self, size, align, out);
}
/** Free a block, given the size and align passed to alloc (or another
 *  size the same block could have served: see the contract above).
 *  @retval AK_ERR_NOT_ALLOCATED ptr is outside every region or not
 *          allocated (already free) @retval AK_ERR_INVALID_PARAM the size or
 *          align cannot belong to that block. Nothing changes on error. */
AK_DISPATCH_INLINE ak_error ak_byte_dealloc(ak_byte_allocator h, void *ptr, size_t size,
                                            size_t align)
{
    return h.ops->dealloc(h.self, ptr, size, align);
}
/** Bytes under management (after trimming and in-region bookkeeping). */
size_t ak_byte_total_bytes(ak_byte_allocator h);
/** Bytes currently allocated: the usable sizes of the live blocks summed. */
size_t ak_byte_used_bytes(ak_byte_allocator h);
/** total_bytes - used_bytes. */
size_t ak_byte_available_bytes(ak_byte_allocator h);
/** The allocator's name, e.g. "tlsf". Never NULL. */
const char *ak_byte_name(ak_byte_allocator h);
/** Resize the block at @p ptr in place from @p old_size to @p new_size
 *  (same @p align). AK_OK: the block now holds new_size bytes and must be
 *  freed with new_size. AK_ERR_NO_MEMORY: cannot be done in place (block
 *  unchanged; also the answer when the allocator has no resize). */
ak_error ak_byte_resize(ak_byte_allocator h, void *ptr, size_t old_size, size_t align,
                        size_t new_size);
/** Bytes actually usable at @p ptr (>= size) for a block allocated with
 *  @p size and @p align; 0 if @p ptr is not a live block; @p size if the
 *  allocator has no usable_size. */
size_t ak_byte_usable_size(ak_byte_allocator h, const void *ptr, size_t size, size_t align);
/** Walk the allocator's structures: NULL if every invariant holds, else a
 *  static string naming the first broken one. NULL if there is no checker. */
const char *ak_byte_check(ak_byte_allocator h);

/** For a cache layer in front of the allocator (allockit/magazine.h):
 *  take a live block out of the callers' hands without freeing it. The
 *  block is checked exactly as dealloc checks it and gives the same
 *  errors, and a block that is already cached gives AK_ERR_NOT_ALLOCATED;
 *  on AK_OK the block stays allocated (it still counts in used_bytes: the
 *  layer subtracts what it holds) and is marked cached until
 *  ak_byte_uncache. So a layer that keeps freed blocks for reuse still
 *  refuses a double free and a free of a block it holds. While cached the
 *  block belongs to the layer: giving it to the allocator's own dealloc or
 *  resize is a misuse that is not detected. O(1) where dealloc's check is.
 *
 *  Concurrency: cache and uncache only read the allocator's shared state
 *  and write only inside the block (its first two words carry the mark,
 *  so a cached block's contents are undefined). Calls on different blocks
 *  may run at the same time as each other and as any other call made under
 *  the allocator's lock, except init and add_memory: what a per-CPU cache
 *  needs to keep its fast path free of locks. The mark is derived from the
 *  block's address and the allocator; a live block whose first two words
 *  happen to hold it is taken for cached (probability 2^-128 on 64-bit
 *  targets, 2^-64 on 32-bit ones).
 *  @retval AK_ERR_INVALID_PARAM also when the allocator has no cache op
 *          (see ak_byte_can_cache) */
ak_error ak_byte_cache(ak_byte_allocator h, void *ptr, size_t size, size_t align);
/** A block cached by ak_byte_cache with this size and align becomes live
 *  again, as if just allocated with them (its first bytes undefined).
 *  Also valid on any live block, where it clears whatever its first words
 *  hold that could pass for a mark: a layer does so for every block it
 *  takes fresh from the allocator, whose memory may hold a mark from an
 *  earlier life. Trusted: only the layer that owns the block may call
 *  it. O(1). */
void ak_byte_uncache(ak_byte_allocator h, void *ptr, size_t size, size_t align);
/** True if the allocator provides ak_byte_cache and ak_byte_uncache. */
bool ak_byte_can_cache(ak_byte_allocator h);
/** Where the allocator publishes its cache mark: the address of a word K
 *  such that the mark ak_byte_cache writes on a block at p is the two
 *  words p * K and ~(p * K), and any other two words are no mark (so
 *  overwriting them with anything else is ak_byte_uncache). K changes at
 *  init (its address does not); read it at each use. With it a caller
 *  that has made sure by its own means that a block is live, fits the
 *  size and align, and is not cached (the hosted heap does, with its
 *  checked block header) may mark and unmark the block inline, without
 *  the allocator's check; the same concurrency rules apply. NULL if the
 *  allocator has no cache hooks or does not say how it marks. O(1). */
const uintptr_t *ak_byte_cache_key(ak_byte_allocator h);

/** Call @p fn once for every block, free or live, as ak_walker says. The
 *  cost is the allocator's walk (each header gives it; O(blocks) or so).
 *  @retval AK_ERR_INVALID_PARAM fn is NULL, or the allocator has no walk
 *          (then fn is not called) */
ak_error ak_byte_walk(ak_byte_allocator h, ak_walker fn, void *ctx);
/** Fill @p out (see struct ak_byte_stats). An allocator without a stats
 *  op gets total_bytes and used_bytes from its counters and the rest from
 *  a walk (region_count and failed_allocs 0); without a walk either,
 *  free_bytes is available_bytes and the rest 0. */
void ak_byte_stats(ak_byte_allocator h, struct ak_byte_stats *out);

/* ------------------------------------------------------------------ */
/* The page-allocator interface                                        */
/* ------------------------------------------------------------------ */

/** Operations of a page allocator (see ak_byte_allocator_ops). */
typedef struct ak_page_allocator_ops {
    const char *name;
    ak_error (*init)(void *self, uintptr_t start, size_t size);
    ak_error (*add_memory)(void *self, uintptr_t start, size_t size);
    ak_error (*alloc_pages)(void *self, size_t num_pages, size_t align_pow2, uintptr_t *out);
    ak_error (*alloc_pages_at)(void *self, uintptr_t base, size_t num_pages, size_t align_pow2,
                               uintptr_t *out);
    ak_error (*dealloc_pages)(void *self, uintptr_t pos, size_t num_pages);
    size_t (*total_pages)(const void *self);
    size_t (*used_pages)(const void *self);
    size_t (*available_pages)(const void *self);
    size_t (*page_size)(const void *self);
    /* optional */
    const char *(*check)(const void *self);
    ak_error (*walk)(const void *self, ak_walker fn, void *ctx);
    void (*stats)(const void *self, struct ak_page_stats *out);
} ak_page_allocator_ops;

/** A page-allocator handle: an object and its operations, by value. */
typedef struct ak_page_allocator {
    const struct ak_page_allocator_ops *ops;
    void *self;
} ak_page_allocator;

/** Manage [start, start+size) (edges trimmed to pages). */
ak_error ak_page_init(ak_page_allocator h, uintptr_t start, size_t size);
/** Add a further range. @retval AK_ERR_MEMORY_OVERLAP, AK_ERR_INVALID_PARAM. */
ak_error ak_page_add_memory(ak_page_allocator h, uintptr_t start, size_t size);
/** Allocate @p num_pages contiguous pages whose address is a multiple of
 *  @p align_pow2. @retval AK_ERR_INVALID_PARAM num_pages 0 or bad align
 *  @retval AK_ERR_NO_MEMORY no such run is free. */
ak_error ak_page_alloc_pages(ak_page_allocator h, size_t num_pages, size_t align_pow2,
                             uintptr_t *out);
/** Allocate exactly at @p base or fail (AK_ERR_NO_MEMORY if in use). */
ak_error ak_page_alloc_pages_at(ak_page_allocator h, uintptr_t base, size_t num_pages,
                                size_t align_pow2, uintptr_t *out);
/** Free @p num_pages pages at @p pos. @retval AK_ERR_NOT_ALLOCATED some page
 *  is not allocated @retval AK_ERR_INVALID_PARAM pos unaligned / count 0. */
ak_error ak_page_dealloc_pages(ak_page_allocator h, uintptr_t pos, size_t num_pages);
/** Pages under management. O(1). */
size_t ak_page_total_pages(ak_page_allocator h);
/** Pages currently allocated. O(1). */
size_t ak_page_used_pages(ak_page_allocator h);
/** total_pages - used_pages. O(1). */
size_t ak_page_available_pages(ak_page_allocator h);
/** The page size in bytes (a power of two). O(1). */
size_t ak_page_page_size(ak_page_allocator h);
/** The allocator's name, e.g. "bitmap_page". Never NULL. */
const char *ak_page_name(ak_page_allocator h);
/** NULL if every invariant holds, else the first broken one. */
const char *ak_page_check(ak_page_allocator h);
/** Call @p fn once per maximal run of free or allocated pages, as
 *  ak_walker says. @retval AK_ERR_INVALID_PARAM fn is NULL or the
 *  allocator has no walk (fn is then not called). */
ak_error ak_page_walk(ak_page_allocator h, ak_walker fn, void *ctx);
/** Fill @p out (see struct ak_page_stats). Without a stats op: the page
 *  counts from the counters, the runs from a walk (region_count and
 *  failed_allocs 0); without a walk either, the runs 0. */
void ak_page_stats(ak_page_allocator h, struct ak_page_stats *out);

/* ------------------------------------------------------------------ */
/* The ID-allocator interface                                          */
/* ------------------------------------------------------------------ */

/** Operations of an ID allocator (see ak_byte_allocator_ops). */
typedef struct ak_id_allocator_ops {
    const char *name;
    ak_error (*init)(void *self, uintptr_t start, size_t size);
    ak_error (*add_memory)(void *self, uintptr_t start, size_t size);
    ak_error (*alloc_id)(void *self, size_t count, size_t align_pow2, size_t *out);
    ak_error (*dealloc_id)(void *self, size_t start_id, size_t count);
    bool (*is_allocated)(const void *self, size_t id);
    ak_error (*alloc_fixed_id)(void *self, size_t id);
    size_t (*size)(const void *self);
    size_t (*used)(const void *self);
    size_t (*available)(const void *self);
    /* optional */
    const char *(*check)(const void *self);
    ak_error (*walk)(const void *self, ak_walker fn, void *ctx);
    void (*stats)(const void *self, struct ak_id_stats *out);
} ak_id_allocator_ops;

/** An ID-allocator handle: an object and its operations, by value. */
typedef struct ak_id_allocator {
    const struct ak_id_allocator_ops *ops;
    void *self;
} ak_id_allocator;

/** IDs [start, start+size) become allocatable. */
ak_error ak_id_init(ak_id_allocator h, uintptr_t start, size_t size);
/** Add a further range of IDs. @retval AK_ERR_MEMORY_OVERLAP overlaps a
 *  managed range @retval AK_ERR_INVALID_PARAM empty, wrapping or too far
 *  from the others for the capacity. */
ak_error ak_id_add_memory(ak_id_allocator h, uintptr_t start, size_t size);
/** @p count contiguous IDs, the first a multiple of @p align_pow2, lowest
 *  first. @retval AK_ERR_INVALID_PARAM count 0 / bad align
 *  @retval AK_ERR_NO_MEMORY no such run is free. */
ak_error ak_id_alloc_id(ak_id_allocator h, size_t count, size_t align_pow2, size_t *out);
/** @retval AK_ERR_NOT_ALLOCATED some ID of the range is not allocated. */
ak_error ak_id_dealloc_id(ak_id_allocator h, size_t start_id, size_t count);
/** True if @p id is allocated (false for IDs outside every range). */
bool ak_id_is_allocated(ak_id_allocator h, size_t id);
/** @retval AK_ERR_NO_MEMORY taken @retval AK_ERR_INVALID_PARAM outside
 *  every range. */
ak_error ak_id_alloc_fixed_id(ak_id_allocator h, size_t id);
/** IDs under management. O(1). */
size_t ak_id_size(ak_id_allocator h);
/** IDs currently allocated. O(1). */
size_t ak_id_used(ak_id_allocator h);
/** size - used. O(1). */
size_t ak_id_available(ak_id_allocator h);
/** The allocator's name, e.g. "bitmap_id". Never NULL. */
const char *ak_id_name(ak_id_allocator h);
/** NULL if every invariant holds, else the first broken one. */
const char *ak_id_check(ak_id_allocator h);
/** Call @p fn once per maximal run of free or allocated IDs, as
 *  ak_walker says. @retval AK_ERR_INVALID_PARAM fn is NULL or the
 *  allocator has no walk (fn is then not called). */
ak_error ak_id_walk(ak_id_allocator h, ak_walker fn, void *ctx);
/** Fill @p out (see struct ak_id_stats). Without a stats op: the ID
 *  counts from the counters, the runs from a walk (region_count and
 *  failed_allocs 0); without a walk either, the runs 0. */
void ak_id_stats(ak_id_allocator h, struct ak_id_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_CORE_H */
