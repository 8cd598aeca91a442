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
 * Pages: requests of at most AK_HEAP_PAGE_MAX (16 KiB) bytes with
 * alignment <= 16, by a thread with its own state, come from that
 * thread's pages: spans of one size class (64 KiB for classes up to 1 KiB,
 * 256 KiB above) with a bitmap of free blocks and no per-block header; a free by another thread
 * sets a bit with one atomic OR, and the owner collects those bits when it runs out
 * (hosted/README.md, "How it works"). AK_HEAP_NO_PAGES turns them off.
 *
 * Per-block bookkeeping (blocks outside the pages): free() gets no size,
 * so every block carries a 16-byte header just below the pointer
 * (requested size, alignment, kind, a check word). Requests of at most cache_max bytes
 * (AK_HEAP_SMALL_MAX by default) with alignment <= 16 are class blocks: header + size rounded up to
 * one of allockit's size classes (16 bytes to 64 KiB: 16-byte steps to 128, then four per power of
 * two), so that freed blocks can be reused by any request of the class. So the per-block overhead
 * is 16 bytes + class rounding (under 16 bytes up to 128, under 25% above) + the allocator's own
 * overhead; test_heap prints the measured total per allocator.
 *
 * The per-thread cache: the magazine layer (allockit/magazine.h) sits
 * in front of the allocator, one per heap. Each thread has its own
 * magazines (an ak_mag_cpu: two magazines per class, a magazine being a
 * stack of up to 64 freed blocks of one class, fewer for big classes:
 * at most 64 KiB of blocks, 16 KiB when pages serve the small requests,
 * at least one), set up on its first call and flushed back when it
 * exits. A class malloc or free that its magazines can serve takes no
 * lock; otherwise the thread trades a full or empty magazine with the
 * depot, shared by all threads, under the heap's mutex (once per run of
 * up to 64 allocations or frees of one class at most), or calls the
 * allocator. The layer holds at most cache_limit bytes in all (8 MiB by
 * default): cached blocks at their class size, plus the magazines; a
 * free beyond the bound goes to the allocator. A miss (no full magazine
 * anywhere) takes the block and half a magazine more of its class from
 * the allocator under one lock. Memory goes back: every 1024 times the
 * layer takes the lock, the depot gives back the magazines that sat
 * idle in it all along (Bonwick's working set); when the allocator is
 * full, the layer gives back the calling thread's magazines and the
 * depot before the heap grows; ak_heap_flush_thread_cache (and
 * malloc_trim in libakmalloc) returns the caller's magazines and the
 * depot; the depot is trimmed when the last thread with magazines
 * exits. The layer needs the allocator's cache hooks
 * (ak_byte_can_cache); without them, or with AK_HEAP_NO_THREAD_CACHE,
 * every block is asked of the allocator under the lock, at its exact
 * size. A thread holds magazines for at most AK_HEAP_TLS_SLOTS heaps at
 * once; further heaps (and a thread inside its own set-up or exit)
 * share one more state under a mutex.
 *
 * Fork: every heap's locks are taken across fork() (pthread_atfork); in
 * the child the magazines of the threads that do not exist there are
 * abandoned (their blocks are lost to the child: a thread may have
 * stopped halfway through a lock-free magazine operation, so they cannot
 * be read safely).
 *
 * Pointers that are not live blocks of the heap (never handed out, or
 * already freed): ak_heap_free ignores them and counts them,
 * ak_heap_malloc_usable_size gives 0, ak_heap_realloc returns NULL with
 * errno = EINVAL; none of them changes the heap or the memory at the
 * pointer, and none reads memory the heap has not mapped itself. A pointer
 * is told apart by address (the pool, the chunks committed in the OS
 * reservation, or the hash set of directly mapped blocks), then by the
 * header (check word, kind, class and size). A freed block's header no
 * longer checks: the allocator's cache mark covers it while a magazine
 * holds the block (and can never read as a live header), and other freed
 * blocks carry a flipped check word and a copy in their first user bytes.
 * So a double free is detected, counted and ignored, exactly for a block
 * in a magazine. Over an allocator that publishes its mark
 * (ak_byte_cache_key: TLSF, buddy, slab) the header is the whole check of
 * a class block's free and the mark is written inline; over others the
 * allocator's cache hook then checks the block exactly.
 */
#ifndef ALLOCKIT_HEAP_H
#define ALLOCKIT_HEAP_H

#include <allockit/core.h>
#include <allockit/magazine.h>
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
/** Largest request served from the size classes and the magazines by
 *  default (config .cache_max): its class, header included, is 16 KiB. */
#define AK_HEAP_SMALL_MAX 16368u
/** Requests of at most this many bytes (alignment <= 16) are served from
 *  per-thread pages, without a header (see "Pages" above). */
#define AK_HEAP_PAGE_MAX 16384u
/** The size classes pages serve: 16 bytes to AK_HEAP_PAGE_MAX. */
#define AK_HEAP_PAGE_CLASSES 36u
/** How many heaps one thread can hold caches for at the same time. */
#define AK_HEAP_TLS_SLOTS 4u

/** ak_heap_config.flags: serve every call under the lock, no magazines. */
#define AK_HEAP_NO_THREAD_CACHE 1u
/** ak_heap_config.flags: no pages; small requests are class blocks with
 *  a header in the magazines, as larger ones are. */
#define AK_HEAP_NO_PAGES 4u
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
    /** Largest request (bytes) served from the size classes and the
     *  magazines (default AK_HEAP_SMALL_MAX; at most 65520). Requests up to
     *  its class, less the 16-byte header, are served. */
    size_t cache_max;
    /** The magazines' bound: most bytes they and the depot may hold,
     *  blocks at their class size plus the magazines (default 8 MiB;
     *  SIZE_MAX: no bound). */
    size_t cache_limit;
    /** AK_HEAP_NO_THREAD_CACHE, AK_HEAP_FIXED_THRESHOLD, AK_HEAP_NO_PAGES. */
    unsigned flags;
} ak_heap_config;

struct ak_heap_thread;
struct ak_page;

/** A heap. The fields are private; the type is complete so that a heap can
 *  live in static storage. Initialise with ak_heap_init. */
typedef struct ak_heap {
    pthread_mutex_t lock;
    ak_byte_allocator backend;
    uint64_t id;      /* unique for the process lifetime; names the heap in TLS */
    uint64_t fast_id; /* id, or UINT64_MAX: the fast paths are off (see thread_fast) */
    unsigned flags;
    bool os; /* OS source (else fixed pool) */
    bool backend_has_memory;
    bool key_ok;
    bool layered;       /* the magazines serve the class blocks */
    unsigned nclasses;  /* classes 0 .. nclasses - 1 are cached (0: none) */
    size_t class_limit; /* requests below this (align <= 16) are class blocks */
    size_t class_shift; /* 0 or 8: bytes asked less than each class size */
    size_t class_bias;  /* header + shift + 15: see class_of */
    pthread_key_t key;  /* its destructor flushes a thread's magazines */
    /* Range holding every allocator block: the pool or the reservation. */
    uintptr_t lo, hi, span; /* span = hi - lo */
    uintptr_t brk;          /* OS: end of the committed chunks */
    size_t next_chunk, chunk_max, mmap_threshold, page;
    /* OS: one bit per chunk_size granule of the reservation, set once the
     * granule belongs to a committed chunk (only those are ever read).
     * chunk_bits: where the map's word for granule 0 would be (granules
     * counted from address 0); a pool maps to one word of ones. */
    uint64_t *chunk_map;
    size_t chunk_map_bytes;
    uintptr_t chunk_bits;
    unsigned granule_log2;
    /* Directly mapped blocks: open-addressing set of user pointers. */
    uintptr_t *direct_tab;
    size_t direct_cap, direct_used, direct_live, direct_bytes;
    struct ak_heap_thread *threads; /* every thread's magazines */
    struct ak_heap *next_heap;      /* in the process-wide list used by fork */
    /* statistics: under the lock, but those of the second line atomic */
    size_t committed, peak_backend_used, peak_direct_bytes;
    uint64_t direct_allocs, flushes, trims, lock_takes, failed, foreign_frees, bad_frees,
        double_frees;
    uint64_t slow_allocs, slow_frees, realloc_in_place, realloc_moved;
    /* The magazine layer; its lock hooks take `lock`. The shared state
     * (its CPU 0) serves threads without magazines of their own, under
     * shared_lock (taken before `lock`, never inside it). */
    pthread_mutex_t shared_lock;
    ak_mag mag;
    /* Pages: two words per 64 KiB of the reservation, four pairs for a
     * 256 KiB span (the entry: the owning thread's record, or a static
     * placeholder's address for a page no thread owns, | colour | class
     * + 1, 0: not a page; then the page's descriptor), one byte per 64
     * KiB (set in a page's first: frees by other threads are waiting in
     * the page), the number of the reservation's first 64 KiB and how
     * many there are (0: pages are off). */
    uintptr_t *page_tab;
    uint8_t *page_flag;
    uintptr_t page_base;
    size_t page_spans, page_tab_bytes;
    /* Span groups (heap.c): a record per MiB of the reservation, after
     * the side table; the first group of each kind with a span free. */
    void *page_groups;
    uintptr_t group_base;
    uint32_t group_avail[2];
    /* OS source: groups are committed downward from the reservation's
     * top (chunks stop at group_floor); emptied ones stay committed and
     * idle on group_idle. group_bytes: committed for groups. */
    uint32_t group_idle;
    size_t group_n, group_idle_n, group_bytes;
    uintptr_t group_floor;
    size_t page_lim; /* requests below this go to pages (0: off) */
    /* Spans of each kind (64 KiB, 256 KiB): held for pages, spares and
     * pool included (atomic); the empty ones kept for pages (under lock). */
    size_t pages_held[2];
    size_t page_orphan_count;
    struct ak_page *span_pool[2];
    size_t span_pool_n[2];
    struct ak_page *orphans[AK_HEAP_PAGE_CLASSES]; /* pages of exited threads */
    /* The class of a request of n < class_limit bytes:
     * class_of[(n + class_bias) / 16], one load on malloc's fast path. */
    uint8_t class_of[AK_MAG_MAX_CLASS_SIZE / 16 + 1];
} ak_heap;

/** What ak_heap_stats reports. Byte counts are as of the call; the
 *  magazine counts are read without stopping the threads that own them.
 *  (Before the magazine layer, the per-thread cache reported
 *  cached_blocks, refills and flushes of batches; cached_bytes,
 *  exchanges and flushes below replace them.) */
typedef struct ak_heap_stats {
    const char *backend;        /**< the allocator's name */
    size_t backend_total;       /**< bytes the allocator manages */
    size_t backend_used;        /**< bytes allocated from it: live blocks,
                                     cached blocks, magazines, headers */
    size_t peak_backend_used;   /**< highest backend_used seen under the lock */
    size_t committed;           /**< OS source: bytes of chunks committed,
                                     and of the pages' groups */
    size_t direct_blocks;       /**< live directly mapped blocks */
    size_t direct_bytes;        /**< their mapped bytes */
    size_t peak_direct_bytes;   /**< highest direct_bytes */
    size_t mmap_threshold;      /**< current threshold for direct mapping */
    bool caching;               /**< the magazines serve class blocks (false:
                                     AK_HEAP_NO_THREAD_CACHE, or an allocator
                                     without cache hooks) */
    size_t cache_max;           /**< largest request served by the magazines */
    size_t cache_limit;         /**< the magazines' bound */
    size_t thread_caches;       /**< threads with magazines for this heap */
    size_t cached_bytes;        /**< blocks held in magazines and the depot,
                                     at class size (headers included) */
    size_t depot_bytes;         /**< of which in the depot */
    size_t magazine_bytes;      /**< the magazines themselves */
    uint64_t cache_allocs;      /**< allocations served from a magazine */
    uint64_t cache_frees;       /**< frees kept in a magazine */
    uint64_t cache_misses;      /**< class allocations no magazine could serve */
    uint64_t cache_free_misses; /**< class frees sent on to the allocator
                                     (no room under the bound) */
    uint64_t exchanges;         /**< magazines traded with the depot */
    uint64_t releases;          /**< the layer gave back what it held because
                                     the allocator was full */
    uint64_t reaped;            /**< idle depot magazines given back */
    uint64_t flushes;           /**< a thread's magazines flushed (thread exit,
                                     ak_heap_flush_thread_cache) */
    uint64_t trims;             /**< the depot given back */
    uint64_t lock_takes;        /**< acquisitions of the heap's mutex */
    uint64_t slow_allocs;       /**< allocator blocks outside the classes (all
                                     of them without the magazines) */
    uint64_t slow_frees;        /**< their frees, and direct blocks' */
    uint64_t direct_allocs;     /**< blocks mapped directly */
    uint64_t realloc_in_place;  /**< realloc answered without moving */
    uint64_t realloc_moved;     /**< realloc that copied */
    uint64_t failed;            /**< requests answered with ENOMEM */
    uint64_t foreign_frees;     /**< free/realloc of pointers not from this heap */
    uint64_t bad_frees;         /**< free/realloc in the heap's range, bad header */
    uint64_t double_frees;      /**< free/realloc of a block already freed */
    bool paging;                /**< small requests are served from pages */
    size_t pages;               /**< memory held as pages, in 64 KiB
                                     units (in use, spare or left by
                                     exited threads) */
    size_t page_orphans;        /**< pages left by exited threads */
    size_t page_groups;         /**< 1 MiB groups the pages' spans are
                                     cut from, with a span in use */
    size_t page_groups_idle;    /**< OS source: groups committed with no
                                     span in use (their pages given back
                                     to the system), kept for the next */
    size_t page_group_bytes;    /**< OS source: bytes committed for groups
                                     (the others are the allocator's blocks) */
} ak_heap_stats;

/** Set up @p h over cfg->backend. O(1) plus one mmap for the OS source.
 *  @retval AK_ERR_INVALID_PARAM cfg or its backend is NULL, the pool is
 *          too small for the allocator, or a size field cannot be used
 *  @retval AK_ERR_NO_MEMORY the OS refused the reservation or a pthread key */
ak_error ak_heap_init(ak_heap *h, const ak_heap_config *cfg);

/** Release everything: unmaps the OS reservation and every directly mapped
 *  block. Every pointer from @p h becomes invalid. Other threads must not
 *  use the heap any more; their magazines are discarded with the memory.
 *  O(direct blocks). */
void ak_heap_destroy(ak_heap *h);

/** malloc: @p size bytes aligned to AK_HEAP_HEADER. Size 0 gives a unique
 *  minimum-size block (not NULL: programs take NULL for failure). O(1)
 *  from this thread's magazines, else a depot exchange or the allocator's
 *  cost under the lock.
 *  @return the block, or NULL with errno = ENOMEM. */
void *ak_heap_malloc(ak_heap *h, size_t size);

/** free: NULL is a no-op; a pointer the heap did not hand out is ignored
 *  (and counted), and so is a block that is already free (a double free:
 *  counted in double_frees, never handed out twice). The free mark lives
 *  in the block's header (and, while the block is cached, in its first
 *  user bytes), so it is not seen once the allocator has handed the memory
 *  out again (a use after free, not detectable here), and two threads
 *  freeing the same block at the same instant are not detected. O(1) into
 *  this thread's magazines, else under the lock. */
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

/** Fill *out with the heap's statistics. O(threads + size classes). */
void ak_heap_stats_get(ak_heap *h, ak_heap_stats *out);

/** Write the statistics as text to file descriptor @p fd with write(2)
 *  only (no stdio, no allocation), so it is safe at process exit and
 *  inside a malloc replacement. */
void ak_heap_write_stats(ak_heap *h, int fd);

/** Check the heap: the magazine layer (ak_mag_check: every thread's
 *  magazines and the depot, each cached block live in the allocator and
 *  marked cached, none twice, the bound), the allocator's own invariants
 *  (ak_byte_check), the list of threads and the direct blocks' headers.
 *  NULL if all hold, else a static string naming the first broken one.
 *  Run it while no other thread is inside the heap (the magazines are
 *  used without a lock). Takes the lock. O(cached blocks + threads +
 *  direct blocks) plus the allocator's check. */
const char *ak_heap_check(ak_heap *h);

/** Give this thread's magazines for @p h back to the allocator now (it is
 *  also done at thread exit), and with them the shared state's and the
 *  depot's: afterwards only other threads' magazines hold cached blocks.
 *  Useful before measuring used bytes, and what malloc_trim does in
 *  libakmalloc. O(blocks returned), under the lock. */
void ak_heap_flush_thread_cache(ak_heap *h);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_HEAP_H */
