/* allockit hosted heap: the C malloc family over any allockit byte allocator.
 *
 * An ak_heap turns an ak_byte_allocator (TLSF, buddy, slab, or your own)
 * into malloc/free/calloc/realloc/aligned_alloc/posix_memalign/memalign/
 * valloc/pvalloc/malloc_usable_size with C and POSIX semantics, safe to call
 * from many threads. It is the hosted part of the kit: it uses pthreads,
 * mmap and errno, and lives outside the freestanding core.
 *
 * Memory source, chosen at ak_heap_init:
 *   - a fixed pool given by the caller (nothing else is ever used), or
 *   - the OS: the heap reserves a large range of address space once
 *     (PROT_NONE, no commit charge), commits chunks of it on demand and hands
 *     each to the allocator with add_memory (chunks double from chunk_size up
 *     to chunk_max, so a heap of N bytes has about log2(N / chunk_size)
 *     regions; each chunk is aligned to its size, which suits buddy);
 *     requests at or above mmap_threshold are mapped directly and unmapped on
 *     free. Committed chunks are kept for reuse, like a brk heap.
 *
 * Per-block bookkeeping: free() gets no size, so every block carries a
 * 16-byte header just below the pointer (requested size, alignment, kind,
 * a check word). Small requests (<= AK_HEAP_SMALL_MAX bytes, alignment <=
 * 16) are rounded up to one of AK_HEAP_CLASSES size classes so that blocks
 * can be recycled by the per-thread caches (an allocator that would round
 * header + class up by 8 bytes, like TLSF, is asked for 8 bytes less per
 * class; ak_heap_init probes for that). So the per-block overhead is
 * 16 bytes + class rounding (at most 25% above 128 bytes, at most 15 bytes
 * up to 128) + the allocator's own overhead; test_heap prints the measured
 * total per allocator.
 *
 * Threads: one mutex per heap guards the allocator. Each thread keeps a
 * cache of free small blocks per size class (refilled and flushed in
 * batches, so a thread takes the lock once per batch, not per call); the
 * cache is flushed back when the thread exits. A thread holds caches for
 * at most AK_HEAP_TLS_SLOTS heaps at once; further heaps are served under
 * the lock only.
 *
 * Fork: every heap's lock is taken across fork() (pthread_atfork); in the
 * child the caches of threads that no longer exist are returned to the
 * heap.
 *
 * Pointers that are not live blocks of the heap (never handed out, or
 * already freed): ak_heap_free ignores them and counts them,
 * ak_heap_malloc_usable_size gives 0, ak_heap_realloc returns NULL with
 * errno = EINVAL; none of them changes the heap or the memory at the
 * pointer, and none reads memory the heap has not mapped itself. A pointer
 * is told apart by address (the pool, the chunks committed in the OS
 * reservation, or the hash set of directly mapped blocks), then by the
 * header's check word, which also marks a freed block: a double free is
 * detected, counted and ignored.
 */
#ifndef ALLOCKIT_HEAP_H
#define ALLOCKIT_HEAP_H

#include <allockit/core.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Size of the header in front of every block (and the minimum alignment
 *  of every pointer the heap returns: alignof(max_align_t) on x86-64). */
#define AK_HEAP_HEADER 16u
/** Largest request served from the size classes and the thread caches. */
#define AK_HEAP_SMALL_MAX 1024u
/** Number of size classes: 16..128 by 16, then four per power of two up
 *  to 1024. */
#define AK_HEAP_CLASSES 20u
/** How many heaps one thread can hold caches for at the same time. */
#define AK_HEAP_TLS_SLOTS 4u

/** ak_heap_config.flags: serve every call under the lock, no caches. */
#define AK_HEAP_NO_THREAD_CACHE 1u
/** ak_heap_config.flags: keep mmap_threshold fixed (by default it rises to
 *  the size of the largest directly mapped block freed, up to 32 MiB, as
 *  glibc does, so a program that keeps allocating and freeing the same
 *  large buffer stops paying an mmap/munmap pair for it). */
#define AK_HEAP_FIXED_THRESHOLD 2u

/** How a heap gets its memory and behaves. Zero-initialise, set backend
 *  (and pool/pool_size for a fixed pool); every zero field means "default". */
typedef struct ak_heap_config {
    /** The allocator. Its object must be empty (zero-initialised) and stay
     *  alive as long as the heap; the heap gives it all its memory. */
    ak_byte_allocator backend;
    /** Fixed pool [pool, pool + pool_size): when non-NULL the heap never
     *  asks the OS for memory. */
    void *pool;
    size_t pool_size;
    /** OS source: first chunk size, a power of two of at least a page
     *  (default 1 MiB); it is also the granule of the chunk map. */
    size_t chunk_size;
    /** OS source: chunk growth stops at this size, a power of two (default
     *  1 GiB on 64-bit targets, 64 MiB on 32-bit). Few, large chunks keep
     *  the allocator's region list short (its free looks the region up);
     *  an untouched part of a chunk costs address space, not memory (no
     *  commit charge under the kernel's default overcommit policy; under
     *  strict overcommit, vm.overcommit_memory = 2, it is charged: choose a
     *  smaller value there). */
    size_t chunk_max;
    /** OS source: blocks of at least this many bytes (header included) are
     *  mapped directly (default 256 KiB; SIZE_MAX: never). */
    size_t mmap_threshold;
    /** OS source: address space reserved for chunks (default 256 GiB on
     *  64-bit targets, 1 GiB on 32-bit; halved until the OS agrees). */
    size_t reserve;
    /** AK_HEAP_NO_THREAD_CACHE, AK_HEAP_FIXED_THRESHOLD. */
    unsigned flags;
} ak_heap_config;

struct ak_heap_tcache;

/** A heap. The fields are private; the type is complete so that a heap can
 *  live in static storage. Initialise with ak_heap_init. */
typedef struct ak_heap {
    pthread_mutex_t lock;
    ak_byte_allocator backend;
    uint64_t id; /* unique for the process lifetime; names the heap in TLS */
    unsigned flags;
    bool os; /* OS source (else fixed pool) */
    bool backend_has_memory;
    bool key_ok;
    unsigned class_shift; /* 0 or 8: bytes asked less than the class size */
    pthread_key_t key;    /* its destructor flushes a thread's cache */
    /* Range holding every allocator block: the pool or the reservation. */
    uintptr_t lo, hi;
    uintptr_t brk; /* OS: end of the committed chunks */
    size_t next_chunk, chunk_max, mmap_threshold, page;
    /* OS: one bit per chunk_size granule of the reservation, set once the
     * granule belongs to a committed chunk (only those are ever read). */
    uint64_t *chunk_map;
    size_t chunk_map_bytes;
    unsigned granule_log2;
    /* Directly mapped blocks: open-addressing set of user pointers. */
    uintptr_t *direct_tab;
    size_t direct_cap, direct_used, direct_live, direct_bytes;
    struct ak_heap_tcache *caches;
    struct ak_heap *next_heap; /* in the process-wide list used by fork */
    /* statistics (under the lock) */
    size_t committed, peak_backend_used, peak_direct_bytes;
    uint64_t slow_allocs, slow_frees, direct_allocs, refills, flushes, failed, foreign_frees,
        bad_frees, double_frees, realloc_in_place, realloc_moved, retired_cache_allocs,
        retired_cache_frees;
} ak_heap;

/** What ak_heap_stats reports. Byte counts are as of the call; the cache
 *  counts are read without stopping the threads that own the caches. */
typedef struct ak_heap_stats {
    const char *backend;       /**< the allocator's name */
    size_t backend_total;      /**< bytes the allocator manages */
    size_t backend_used;       /**< bytes allocated from it (headers included) */
    size_t peak_backend_used;  /**< highest backend_used seen at a slow-path call */
    size_t committed;          /**< OS source: bytes of chunks committed */
    size_t direct_blocks;      /**< live directly mapped blocks */
    size_t direct_bytes;       /**< their mapped bytes */
    size_t peak_direct_bytes;  /**< highest direct_bytes */
    size_t mmap_threshold;     /**< current threshold for direct mapping */
    size_t cached_blocks;      /**< free small blocks held in thread caches */
    size_t cached_bytes;       /**< their sizes (headers included) */
    size_t thread_caches;      /**< live thread caches */
    uint64_t cache_allocs;     /**< allocations served by a thread cache */
    uint64_t cache_frees;      /**< frees absorbed by a thread cache */
    uint64_t slow_allocs;      /**< allocations under the lock */
    uint64_t slow_frees;       /**< frees under the lock */
    uint64_t direct_allocs;    /**< blocks mapped directly */
    uint64_t refills, flushes; /**< cache batches taken from / given back */
    uint64_t realloc_in_place; /**< realloc answered without moving */
    uint64_t realloc_moved;    /**< realloc that copied */
    uint64_t failed;           /**< requests answered with ENOMEM */
    uint64_t foreign_frees;    /**< free/realloc of pointers not from this heap */
    uint64_t bad_frees;        /**< free/realloc in the heap's range, bad header */
    uint64_t double_frees;     /**< free/realloc of a block already freed */
} ak_heap_stats;

/** Set up @p h over cfg->backend. O(1) plus one mmap for the OS source.
 *  @retval AK_ERR_INVALID_PARAM cfg or its backend is NULL, the pool is
 *          too small for the allocator, or a size field cannot be used
 *  @retval AK_ERR_NO_MEMORY the OS refused the reservation or a pthread key */
ak_error ak_heap_init(ak_heap *h, const ak_heap_config *cfg);

/** Release everything: unmaps the OS reservation and every directly mapped
 *  block. Every pointer from @p h becomes invalid. Other threads must not
 *  use the heap any more; their caches are discarded with the memory.
 *  O(direct blocks + caches). */
void ak_heap_destroy(ak_heap *h);

/** malloc: @p size bytes aligned to AK_HEAP_HEADER. Size 0 gives a unique
 *  minimum-size block (not NULL: programs take NULL for failure). O(1) from
 *  a thread cache, else the allocator's cost under the lock.
 *  @return the block, or NULL with errno = ENOMEM. */
void *ak_heap_malloc(ak_heap *h, size_t size);

/** free: NULL is a no-op; a pointer the heap did not hand out is ignored
 *  (and counted), and so is a block that is already free (a double free:
 *  counted in double_frees, never handed out twice). The free mark lives
 *  in the block's header, so it is not seen once the allocator has handed
 *  the memory out again (a use after free, not detectable here), and two
 *  threads freeing the same block at the same instant are not detected.
 *  O(1) into a thread cache, else under the lock. */
void ak_heap_free(ak_heap *h, void *ptr);

/** calloc: @p n * @p size zeroed bytes. NULL with errno = ENOMEM when the
 *  product overflows or memory runs out. Fresh directly mapped blocks are
 *  not cleared again (the OS gives zero pages). */
void *ak_heap_calloc(ak_heap *h, size_t n, size_t size);

/** realloc. realloc(NULL, n) is malloc(n). realloc(p, 0) frees p and
 *  returns NULL (glibc's behaviour; C23 leaves it undefined). Grows or
 *  shrinks in place when the block's size class still fits or the
 *  allocator can resize the block (ak_byte_resize); large mapped blocks
 *  are moved with mremap; otherwise allocates, copies min(usable size,
 *  @p size) bytes (all that malloc_usable_size allowed the program to
 *  write), frees. On failure returns NULL with errno = ENOMEM and @p ptr
 *  is untouched. A @p ptr that is not a live block of @p h (foreign,
 *  interior, already freed) gives NULL with errno = EINVAL: nothing is
 *  read from or written to it, nothing is allocated, and it is counted. */
void *ak_heap_realloc(ak_heap *h, void *ptr, size_t size);

/** reallocarray: realloc(ptr, n * size) with the product overflow-checked
 *  (NULL, errno = ENOMEM on overflow, ptr untouched). */
void *ak_heap_reallocarray(ak_heap *h, void *ptr, size_t n, size_t size);

/** aligned_alloc: @p align must be a power of two (else NULL, errno =
 *  EINVAL); @p size need not be a multiple of it (C17 DR 460). */
void *ak_heap_aligned_alloc(ak_heap *h, size_t align, size_t size);

/** posix_memalign: stores the block in *out and returns 0; returns EINVAL
 *  when @p align is not a power of two multiple of sizeof(void *), ENOMEM
 *  when memory runs out (*out untouched on error; errno untouched). */
int ak_heap_posix_memalign(ak_heap *h, void **out, size_t align, size_t size);

/** memalign (glibc): an alignment that is not a power of two is rounded up
 *  to the next one; one too large for that gives NULL, errno = EINVAL. */
void *ak_heap_memalign(ak_heap *h, size_t align, size_t size);

/** valloc: memalign(page size, size). */
void *ak_heap_valloc(ak_heap *h, size_t size);

/** pvalloc: memalign(page size, size rounded up to pages); NULL with
 *  errno = ENOMEM if the rounding overflows. pvalloc(0) allocates a page. */
void *ak_heap_pvalloc(ak_heap *h, size_t size);

/** malloc_usable_size: bytes that may be used at @p ptr (>= the size asked
 *  for); 0 for NULL, for pointers the heap did not hand out and for freed
 *  blocks. */
size_t ak_heap_malloc_usable_size(ak_heap *h, const void *ptr);

/** True if @p ptr is a live block handed out by @p h (by address: the pool
 *  or a committed chunk with a live header, or a live directly mapped
 *  block). */
bool ak_heap_owns(ak_heap *h, const void *ptr);

/** Fill *out with the heap's statistics. O(caches + size classes). */
void ak_heap_stats_get(ak_heap *h, ak_heap_stats *out);

/** Write the statistics as text to file descriptor @p fd with write(2)
 *  only (no stdio, no allocation), so it is safe at process exit and
 *  inside a malloc replacement. */
void ak_heap_write_stats(ak_heap *h, int fd);

/** Check the heap: the allocator's own invariants (ak_byte_check) and the
 *  header of every block held in a thread cache. NULL if all hold, else a
 *  static string naming the first broken one. Takes the lock. */
const char *ak_heap_check(ak_heap *h);

/** Give this thread's cache for @p h back to the heap now (it is also done
 *  at thread exit). Useful before measuring used bytes. */
void ak_heap_flush_thread_cache(ak_heap *h);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_HEAP_H */
