/* ak_heap: the malloc family over an allockit byte allocator (hosted).
 *
 * Requests of at most AK_HEAP_PAGE_MAX bytes (alignment <= 16) by a thread
 * with its own state come from that thread's pages, blocks without a
 * header found by address (section "Pages" below: alloc and a free by the
 * owner O(1) with no lock and no atomic read-modify-write, a free by
 * another thread one atomic OR). Everything else has a header:
 *
 * Layout of a block: [allocator block ... | header (16 B) | user bytes].
 * The allocator is asked for A + size bytes aligned to A, where A =
 * max(16, requested alignment); the user pointer is block + A and the
 * header sits in the 16 bytes just below it. The header records the size
 * asked for (so free can pass the allocator block's size back, as the
 * byte interface requires), log2(A), the kind (class block, other
 * allocator block, or direct mapping) and a check word that catches most
 * wild frees.
 *
 * The per-thread cache is the magazine layer (allockit/magazine.h) in
 * front of the allocator, one per heap: requests of at most cache_max
 * bytes with alignment <= 16 become class blocks (header + size rounded
 * up to a size class of src/ak_sizeclass.h), which the layer keeps in
 * per-thread magazines (an ak_mag_cpu per thread, attached on the
 * thread's first call and flushed at its exit) and a depot shared by the
 * threads; every other allocator block passes through the layer to the
 * allocator. The layer needs the allocator's cache hooks; without them,
 * or with AK_HEAP_NO_THREAD_CACHE, the heap asks the allocator directly
 * under its lock and rounds nothing.
 *
 * Frees are checked by the header: its check word, kind, class and size.
 * A block in a magazine carries the allocator's cache mark in its first
 * two words, which are the header (on 64-bit targets all of it; on 32-bit
 * ones the heap flips the check word too), and a mark never reads as a
 * live class header (class_header_ok), so a double free, or the free of a
 * block a magazine holds, is refused exactly, and recognised as a double
 * free by its mark (hdr_cached). Where the allocator publishes its mark
 * (ak_byte_cache_key: TLSF, buddy, slab) the layer writes it inline and
 * the header is the whole check; over another allocator with cache hooks
 * the hook checks the block exactly first, and a free tag (the flipped
 * check word in the first user bytes) tells a second free from a wild
 * pointer. Blocks outside the classes get the tag too, and the hook's
 * check before the allocator's free. Only headers and tags inside memory
 * the heap mapped itself are read: the pool, the committed chunks (a
 * bitmap over the reservation says which parts those are) or a directly
 * mapped block found in its hash set.
 *
 * Costs: malloc/free of a class block that hits the thread's magazines:
 * O(1), no lock, no atomic read-modify-write, no call (over an allocator
 * that publishes its mark; else one cache-hook call). Otherwise one depot
 * exchange or one allocator call under the heap mutex, plus an mprotect
 * when a new chunk is committed (O(log of the heap size) times in the
 * heap's life, chunks doubling) or an mmap/munmap for a direct block.
 * Direct blocks are tracked in an open-addressing hash set: O(1) expected
 * per lookup. Telling a pointer into a chunk from one into an uncommitted
 * hole of the reservation: one bit test, no lock.
 */
#define _GNU_SOURCE 1
#include <allockit/heap.h>

#include "ak_sizeclass.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Constants                                                           */
/* ------------------------------------------------------------------ */

#define MIN_ALIGN         ((size_t)AK_HEAP_HEADER)
#define KIND_BACKEND      1u /* an allocator block outside the classes */
#define KIND_DIRECT       2u /* mapped directly */
#define KIND_CLASS        3u /* an allocator block of a size class: magazines */
#define CHECK_MAGIC       0xa110c8edu
#define FREE_FLIP         0x5eedf4eeu /* check word ^ this: the block is free */
#define DEFAULT_CHUNK     ((size_t)1 << 20)
#define DEFAULT_THRESHOLD ((size_t)256 << 10)
#define DYN_THRESHOLD_MAX ((size_t)32 << 20)

/* The magazines: at most CACHE_ROUNDS blocks and CACHE_MAGAZINE_BYTES of
 * them per magazine (so 64 blocks up to 1 KiB, then fewer: 8 of 8 KiB,
 * 4 of 16 KiB), two magazines per class per thread. A miss brings half a
 * magazine (the layer's miss_batch), so that a thread that allocates
 * without freeing takes the lock once per 32 blocks of a small class.
 * Measured on mimalloc-bench's glibc-thread, larson and xmalloc at 2
 * threads, these sizes took 35-40% less time than 32 blocks and 8 KiB;
 * the layer's cache_limit still bounds what all of them hold. */
#define CACHE_ROUNDS         64u
#define CACHE_MAGAZINE_BYTES ((size_t)65536)
#define DEFAULT_CACHE_LIMIT  ((size_t)8 << 20)
/* With pages (every class up to 16 KiB), the magazines see only aligned
 * requests and those of threads without a state of their own, and hold
 * 16 KiB of blocks each (16 of 1 KiB, 2 of 8 KiB, 1 of 16 KiB). When
 * pages stopped at 1 KiB, this against 64 KiB took the max RSS of
 * mimalloc-bench's glibc-thread from 4.1 to 3.0-3.2 MiB and of espresso
 * from 4.1 to 3.3-3.6, and rptest from 1.67x to 2.03x mimalloc. */
#define CACHE_MAGAZINE_BYTES_PAGED ((size_t)16384)
/* Every this many acquisitions of the lock by the layer, the depot gives
 * back the magazines that sat idle in it all along (the layer's
 * reap_period). */
#define CACHE_REAP_PERIOD 1024u

/* The largest chunk. What a big chunk costs is address space, of which a
 * 64-bit process has plenty: its untouched pages are neither resident nor
 * (with the reservation's MAP_NORESERVE under the default overcommit
 * policy) charged. Its gain is a short region list, which TLSF, buddy and
 * slab search on the slow path: with an 8 GiB heap a slow malloc+free
 * pair took 152/77/264 ns (tlsf/buddy/slab) with 64 MiB chunks (~130
 * regions) and 52/54/46 ns with 1 GiB chunks (~17 regions). The price
 * measured at 1.1 GiB live: the same RSS for tlsf, +11 MiB (buddy) and
 * +14 MiB (slab) of allocator bookkeeping, and up to twice the live size
 * in committed address space. On 32-bit targets the whole reservation is
 * 1 GiB, so chunks stop at 64 MiB. */
#if SIZE_MAX > 0xffffffffu
#define DEFAULT_CHUNK_MAX ((size_t)1 << 30)
#define DEFAULT_RESERVE   ((size_t)256 << 30)
#else
#define DEFAULT_CHUNK_MAX ((size_t)64 << 20)
#define DEFAULT_RESERVE   ((size_t)1 << 30)
#endif
#define MIN_RESERVE ((size_t)16 << 20)

_Static_assert(AK_HEAP_SMALL_MAX + AK_HEAP_HEADER <= AK_MAG_MAX_CLASS_SIZE,
               "the default cached size fits the largest class");

/* Pages (section "Pages" below) come in two kinds of span: 64 KiB for
 * the classes up to 1 KiB, 256 KiB above, up to AK_HEAP_PAGE_MAX. The
 * side table has one entry per 64 KiB (PAGE_SHIFT). */
#define PAGE_SHIFT         16u
#define PAGE_BYTES         ((size_t)1 << PAGE_SHIFT)
#define PAGE_BIG_SHIFT     18u
#define PAGE_SMALL_CLASSES 20u /* classes of at most 1 KiB */
#define PAGE_KINDS         2u

static inline unsigned span_shift(unsigned kind)
{
    return kind ? PAGE_BIG_SHIFT : PAGE_SHIFT;
}

/* Thread-local storage in a library that may be LD_PRELOADed must not go
 * through __tls_get_addr, which can call malloc on first use. */
#if defined(__GNUC__)
#define TLS_IE __attribute__((tls_model("initial-exec")))
#else
#define TLS_IE
#endif

/* ------------------------------------------------------------------ */
/* Block header and free tag                                           */
/* ------------------------------------------------------------------ */

typedef struct blk_hdr {
    size_t size; /* user size asked for (class blocks: at least 1) */
#if SIZE_MAX <= 0xffffffffu
    uint32_t pad;
#endif
    uint32_t info;  /* log2(A) | (class + 1) << 8 | kind << 16 */
    uint32_t check; /* CHECK_MAGIC ^ info ^ address bits; ^ FREE_FLIP when free */
} blk_hdr;

_Static_assert(sizeof(blk_hdr) == AK_HEAP_HEADER, "the header fills exactly 16 bytes");

/* The free tag, in a freed block's first user bytes: its info and its
 * flipped check word. Class blocks have at least 16 user bytes; other
 * allocator blocks get a tag when they have 8. */
typedef struct free_tag {
    uint32_t info, check;
} free_tag;

static inline blk_hdr *hdr_of(const void *p)
{
    return (blk_hdr *)((uintptr_t)p - AK_HEAP_HEADER);
}

static inline bool add_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

static inline bool mul_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

/* Of the address, bits 4 to 35 (a header is 16-aligned): one shift. Two
 * headers 64 GiB apart share them, which does not matter: a header that
 * checks is one the heap wrote at that very address. */
static inline uint32_t hdr_check_word(const void *p, uint32_t info)
{
    return CHECK_MAGIC ^ info ^ (uint32_t)((uintptr_t)p >> 4);
}

/* cls_plus1: a class block's class + 1, else 0. */
static inline void hdr_set(void *p, size_t size, unsigned align_log2, unsigned cls_plus1,
                           unsigned kind)
{
    blk_hdr *hd = hdr_of(p);
    uint32_t info = (uint32_t)align_log2 | (uint32_t)cls_plus1 << 8 | (uint32_t)kind << 16;
    hd->size = size;
    hd->info = info;
    hd->check = hdr_check_word(p, info);
}

/* A live block: handed out and not freed since. */
static inline bool hdr_valid(const void *p)
{
    const blk_hdr *hd = hdr_of(p);
    return hd->check == hdr_check_word(p, hd->info);
}

/* A block freed by the heap whose header nothing has overwritten since. */
static inline bool hdr_free(const void *p)
{
    const blk_hdr *hd = hdr_of(p);
    return hd->check == (hdr_check_word(p, hd->info) ^ FREE_FLIP);
}

static inline size_t hdr_align(const blk_hdr *hd)
{
    return (size_t)1 << (hd->info & 0xffu);
}

static inline unsigned hdr_class_plus1(const blk_hdr *hd)
{
    return (hd->info >> 8) & 0xffu;
}

static inline unsigned hdr_kind(const blk_hdr *hd)
{
    return (hd->info >> 16) & 0xffu;
}

/* The lowest n bits set (n <= 64; more counts as 64). */
static inline uint64_t low_bits(unsigned n)
{
    return n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
}

static unsigned log2_size(size_t x)
{
    return (unsigned)(sizeof(size_t) * 8 - 1) - (unsigned)__builtin_clzl((unsigned long)x);
}

/* The user bytes of a class block: its class less the header and the
 * heap's class shift. */
static inline size_t class_usable(const ak_heap *h, const blk_hdr *hd)
{
    return ak_sc_size(hdr_class_plus1(hd) - 1) - MIN_ALIGN - h->class_shift;
}

/* The class of a request of size < class_limit: header + size + shift,
 * at least the 32-byte class, so that every class block has room for the
 * free tag. From the table cache_setup fills (classes are multiples of
 * 16, so the 16-byte step of the index loses nothing). */
static inline unsigned class_for(const ak_heap *h, size_t size)
{
    return h->class_of[(size + h->class_bias) / 16];
}

static unsigned class_compute(const ak_heap *h, size_t size)
{
    unsigned c = ak_sc_index(size + MIN_ALIGN + h->class_shift);
    return c + (c == 0);
}

/* Mark a live allocator block freed, before it leaves our hands: the
 * header's check word flipped, and the same in the tag if the block has
 * room for one. *saved gets the bytes the tag covers. */
static inline void mark_freed(void *p, blk_hdr *hd, bool tag, free_tag *saved)
{
    free_tag t = {hd->info, hd->check ^ FREE_FLIP};
    hd->check = t.check;
    if (tag) {
        memcpy(saved, p, sizeof *saved);
        memcpy(p, &t, sizeof t);
    }
}

/* The allocator refused the block after all (bytes that only looked like
 * a header): put back what mark_freed changed. */
static void unmark_freed(void *p, blk_hdr *hd, bool tag, const free_tag *saved)
{
    hd->check ^= FREE_FLIP;
    if (tag)
        memcpy(p, saved, sizeof *saved);
}

/* ------------------------------------------------------------------ */
/* Threads, their magazines and the lock                               */
/* ------------------------------------------------------------------ */

/* A thread's magazines for one heap, allocated from the heap's allocator
 * (outside the layer) and linked in heap->threads. */
typedef struct ak_heap_thread {
    ak_mag_cpu mags; /* attached to heap->mag */
    struct ak_heap_thread *next, *prev;
    ak_heap *heap;
    pthread_t owner;
    /* Pages (see "Pages" below), per class: the current one (PAGE_NONE
     * if none), those with free blocks, the full ones; and empty spans
     * kept for the next pages. */
    struct ak_page *cur[AK_HEAP_PAGE_CLASSES];
    struct ak_page *avail[AK_HEAP_PAGE_CLASSES];
    struct ak_page *full[AK_HEAP_PAGE_CLASSES];
    struct ak_page *spare[PAGE_KINDS];
    unsigned nspare[PAGE_KINDS];
} ak_heap_thread;

typedef struct tls_slot {
    uint64_t heap_id;  /* 0: free slot */
    ak_heap_thread *t; /* NULL: this thread has no magazines for that heap */
} tls_slot;

static _Thread_local tls_slot tls_slots[AK_HEAP_TLS_SLOTS] TLS_IE;
/* Set while a thread sets up its magazines: pthread_setspecific may call
 * calloc, which (in the LD_PRELOAD library) comes back here and must not
 * recurse. */
static _Thread_local int tls_busy TLS_IE;

static uint64_t next_heap_id;
static pthread_mutex_t heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static ak_heap *heaps;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Every acquisition of the heap mutex goes through here, the layer's
 * included, so the statistics can say how often it was taken. */
static void heap_lock(ak_heap *h)
{
    pthread_mutex_lock(&h->lock);
    h->lock_takes++;
}

static void heap_unlock(ak_heap *h)
{
    pthread_mutex_unlock(&h->lock);
}

static void note_backend_peak(ak_heap *h)
{
    size_t u = ak_byte_used_bytes(h->backend);
    if (u > h->peak_backend_used)
        h->peak_backend_used = u;
}

/* The layer's lock hooks: the heap mutex. The layer takes it around every
 * allocator call it makes, so the peak is noted on the way out. */
static void layer_lock(void *ctx)
{
    heap_lock(ctx);
}

/* Defined below, with the OS source. */
static bool os_grow(ak_heap *h, size_t total, size_t align);

/* The layer's grow hook: pressure that came back soon after a release is
 * met by a new chunk (under the heap's lock, which the layer holds), so
 * that a heap whose allocator is nearly all in magazines does not empty
 * and refill them on every miss. */
static bool layer_grow(void *ctx, size_t size, size_t align)
{
    ak_heap *h = ctx;
    return h->os && os_grow(h, size, align);
}

static void layer_unlock(void *ctx)
{
    note_backend_peak(ctx);
    heap_unlock(ctx);
}

static inline void count_relaxed(uint64_t *counter)
{
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}
/* ------------------------------------------------------------------ */
/* OS source: reservation and chunks                                   */
/* ------------------------------------------------------------------ */

static void *os_map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static bool os_reserve(ak_heap *h, size_t want)
{
    for (size_t size = want; size >= MIN_RESERVE; size /= 2) {
        void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            h->lo = (uintptr_t)p;
            h->hi = (uintptr_t)p + size;
            h->span = size;
            return true;
        }
    }
    return false;
}

/* The chunk map: one bit per granule (chunk_size bytes) of the
 * reservation, set when the granule becomes part of a committed chunk.
 * Chunks are multiples of the granule and aligned to at least one, so the
 * bits are exact. The rest of the reservation is PROT_NONE: a pointer into
 * it must be recognised as foreign without reading its header. Granules
 * are numbered from address 0 (u >> granule_log2) and the map's first
 * word holds those from the multiple of 64 at or below the reservation's
 * first: chunk_bits is the address word 0 would have, so that a lookup is
 * a shift and a load. */
static inline const uint64_t *chunk_word(const ak_heap *h, uintptr_t g)
{
    return (const uint64_t *)(h->chunk_bits + (g / 64) * sizeof(uint64_t));
}

static bool chunk_map_create(ak_heap *h, size_t granule)
{
    h->granule_log2 = log2_size(granule);
    uintptr_t first = (h->lo >> h->granule_log2) / 64;
    size_t words = (size_t)(((h->hi - 1) >> h->granule_log2) / 64 - first + 1);
    size_t bytes = (words * sizeof(uint64_t) + h->page - 1) & ~(h->page - 1);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED)
        return false;
    h->chunk_map = m;
    h->chunk_map_bytes = bytes;
    h->chunk_bits = (uintptr_t)m - first * sizeof(uint64_t);
    return true;
}

/* A fixed pool is readable throughout: one word of ones, which every
 * granule of a pool maps to (a granule as large as the address space). */
static const uint64_t pool_map = ~(uint64_t)0;

static void pool_map_set(ak_heap *h)
{
    h->granule_log2 = sizeof(uintptr_t) * 8 - 1;
    h->chunk_bits = (uintptr_t)&pool_map;
}

/* Mark [pos, pos + len) committed. Under the lock, before brk is published
 * past it; readers take no lock, hence the atomics. Bits are never
 * cleared while the heap lives. */
static void chunk_map_set(ak_heap *h, uintptr_t pos, size_t len)
{
    uintptr_t g = pos >> h->granule_log2, end = ((pos + len - 1) >> h->granule_log2) + 1;
    while (g < end) {
        unsigned b = (unsigned)(g % 64);
        uintptr_t n = end - g < 64 - b ? end - g : 64 - b;
        uint64_t mask = low_bits((unsigned)n) << b;
        __atomic_fetch_or((uint64_t *)(uintptr_t)chunk_word(h, g), mask, __ATOMIC_RELAXED);
        g += n;
    }
}

/* Commit one more chunk big enough for a request of `total` bytes aligned
 * to `align`, and give it to the allocator. Chunks double up to chunk_max
 * and each is aligned to its size (up to chunk_max). Under the lock. */
static bool os_grow(ak_heap *h, size_t total, size_t align)
{
    size_t need;
    if (add_overflows(total, align, &need) || add_overflows(need, 65536, &need))
        return false;
    size_t c = h->next_chunk;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return false;
        c *= 2;
    }
    size_t al = c < h->chunk_max ? c : h->chunk_max;
    uintptr_t pos = (h->brk + al - 1) & ~(uintptr_t)(al - 1);
    if (pos < h->brk || pos > h->group_floor || h->group_floor - pos < c)
        return false;
    if (mprotect((void *)pos, c, PROT_READ | PROT_WRITE) != 0)
        return false;
    ak_error e = h->backend_has_memory ? ak_byte_add_memory(h->backend, pos, c)
                                       : ak_byte_init(h->backend, pos, c);
    if (e != AK_OK) {
        mmap((void *)pos, c, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
             0);
        return false;
    }
    h->backend_has_memory = true;
    chunk_map_set(h, pos, c);
    __atomic_store_n(&h->brk, pos + c, __ATOMIC_RELEASE);
    /* Read without the lock by block_alloc's retry test. */
    __atomic_store_n(&h->committed, h->committed + c, __ATOMIC_RELAXED);
    if (h->next_chunk < h->chunk_max)
        h->next_chunk *= 2;
    return true;
}

/* An allocator block, growing the OS source when it runs dry. Under the
 * lock. */
static void *backend_alloc_locked(ak_heap *h, size_t total, size_t align)
{
    void *p;
    if (ak_byte_alloc(h->backend, total, align, &p) == AK_OK)
        return p;
    if (!h->os)
        return NULL;
    /* A fresh chunk should fit it; if the allocator's bookkeeping needs
     * more than we guessed, try once more with a bigger one. */
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t want = attempt == 0 ? total : total * 2;
        if (want < total || !os_grow(h, want, align))
            return NULL;
        if (ak_byte_alloc(h->backend, total, align, &p) == AK_OK)
            return p;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Directly mapped blocks: a hash set of user pointers                 */
/* ------------------------------------------------------------------ */

#define SET_EMPTY ((uintptr_t)0)
#define SET_TOMB  ((uintptr_t)1)

static size_t set_slot(uintptr_t key, size_t cap)
{
    uint64_t x = (uint64_t)(key >> 12) * 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> 32) & (cap - 1);
}

static bool set_rehash(ak_heap *h, size_t cap)
{
    uintptr_t *t = os_map(cap * sizeof(uintptr_t));
    if (!t)
        return false;
    for (size_t i = 0; i < h->direct_cap; i++) {
        uintptr_t k = h->direct_tab[i];
        if (k == SET_EMPTY || k == SET_TOMB)
            continue;
        size_t j = set_slot(k, cap);
        while (t[j] != SET_EMPTY)
            j = (j + 1) & (cap - 1);
        t[j] = k;
    }
    if (h->direct_tab)
        munmap(h->direct_tab, h->direct_cap * sizeof(uintptr_t));
    h->direct_tab = t;
    h->direct_cap = cap;
    h->direct_used = h->direct_live;
    return true;
}

static bool set_insert(ak_heap *h, uintptr_t key)
{
    if ((h->direct_used + 1) * 2 > h->direct_cap) {
        size_t cap = 64;
        while (cap < (h->direct_live + 1) * 4)
            cap *= 2;
        if (!set_rehash(h, cap))
            return false;
    }
    size_t j = set_slot(key, h->direct_cap);
    while (h->direct_tab[j] != SET_EMPTY && h->direct_tab[j] != SET_TOMB)
        j = (j + 1) & (h->direct_cap - 1);
    if (h->direct_tab[j] == SET_EMPTY)
        h->direct_used++;
    h->direct_tab[j] = key;
    h->direct_live++;
    return true;
}

static size_t set_find(const ak_heap *h, uintptr_t key)
{
    if (!h->direct_cap)
        return SIZE_MAX;
    size_t j = set_slot(key, h->direct_cap);
    for (size_t n = 0; n < h->direct_cap; n++) {
        uintptr_t k = h->direct_tab[j];
        if (k == key)
            return j;
        if (k == SET_EMPTY)
            return SIZE_MAX;
        j = (j + 1) & (h->direct_cap - 1);
    }
    return SIZE_MAX;
}

static bool set_remove(ak_heap *h, uintptr_t key)
{
    size_t j = set_find(h, key);
    if (j == SIZE_MAX)
        return false;
    h->direct_tab[j] = SET_TOMB;
    h->direct_live--;
    return true;
}

static size_t direct_len(const ak_heap *h, size_t align, size_t size)
{
    return (align + size + h->page - 1) & ~(h->page - 1);
}

/* mmap a block of `size` bytes aligned to `align` (>= 16). */
static void *direct_alloc(ak_heap *h, size_t size, size_t align)
{
    size_t len;
    if (add_overflows(size, align, &len) || add_overflows(len, h->page - 1, &len))
        return NULL;
    len &= ~(h->page - 1);
    size_t extra = align > h->page ? align : 0;
    if (len + extra < len)
        return NULL;
    uint8_t *map = os_map(len + extra);
    if (!map)
        return NULL;
    uint8_t *base = map;
    if (extra) {
        /* Over-map, then trim so that base + align is aligned. */
        uintptr_t user = ((uintptr_t)map + align + align - 1) & ~(uintptr_t)(align - 1);
        base = (uint8_t *)(user - align);
        if (base > map)
            munmap(map, (size_t)(base - map));
        size_t tail = (size_t)((map + len + extra) - (base + len));
        if (tail)
            munmap(base + len, tail);
    }
    void *p = base + align;
    hdr_set(p, size, log2_size(align), 0, KIND_DIRECT);
    heap_lock(h);
    bool ok = set_insert(h, (uintptr_t)p);
    if (ok) {
        h->direct_bytes += len;
        if (h->direct_bytes > h->peak_direct_bytes)
            h->peak_direct_bytes = h->direct_bytes;
        h->direct_allocs++;
    }
    heap_unlock(h);
    if (!ok) {
        munmap(base, len);
        return NULL;
    }
    return p;
}

/* ------------------------------------------------------------------ */
/* Thread magazines: set-up, exit, fork                                */
/* ------------------------------------------------------------------ */

/* A thread's state is aligned so that the low 10 bits of a side-table
 * entry, which names it, are free for the page's class and colour. */
#define THREAD_ALIGN 1024u

static void thread_unlink_locked(ak_heap *h, ak_heap_thread *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        h->threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    ak_byte_dealloc(h->backend, t, sizeof *t, THREAD_ALIGN);
}

static void page_drop_thread(ak_heap *h, ak_heap_thread *t, bool keep_nonempty);

/* Pages are for a heap over the OS source on a 64-bit target that does
 * not opt out (and whose layer marks blocks inline: see page_setup). */
static bool pages_wanted(const ak_heap *h, const ak_heap_config *cfg)
{
    return h->os && !(cfg->flags & AK_HEAP_NO_PAGES) && SIZE_MAX > 0xffffffffu;
}
static void page_trim_orphans(ak_heap *h);
static void page_drain_pool(ak_heap *h);
#define PAGE_NONE ((struct ak_page *)page_none_mem)
static _Alignas(64) uint64_t page_none_mem[9];

/* Give back a thread's magazines (flushed, or abandoned when the thread
 * is gone and may have stopped inside the layer) and free its record. */
static void thread_release(ak_heap *h, ak_heap_thread *t, bool flush)
{
    if (h->page_spans)
        page_drop_thread(h, t, false);
    if (t->mags.owner == &h->mag) {
        if (flush)
            (void)ak_mag_cpu_detach(&h->mag, &t->mags);
        else
            (void)ak_mag_cpu_abandon(&h->mag, &t->mags);
    }
    heap_lock(h);
    if (flush)
        h->flushes++;
    thread_unlink_locked(h, t);
    heap_unlock(h);
}

/* Everything the threads without magazines of their own left in the
 * shared state (the layer's CPU 0), and the whole depot, back to the
 * allocator. */
static void cache_trim(ak_heap *h)
{
    pthread_mutex_lock(&h->shared_lock);
    (void)ak_mag_flush(&h->mag, 0);
    pthread_mutex_unlock(&h->shared_lock);
    ak_mag_trim(&h->mag);
    page_trim_orphans(h);
    if (h->page_spans)
        page_drain_pool(h);
    heap_lock(h);
    h->trims++;
    heap_unlock(h);
}

static void atfork_prepare(void)
{
    pthread_mutex_lock(&heaps_lock);
    for (ak_heap *h = heaps; h; h = h->next_heap) {
        pthread_mutex_lock(&h->shared_lock);
        pthread_mutex_lock(&h->lock);
    }
}

static void atfork_parent(void)
{
    for (ak_heap *h = heaps; h; h = h->next_heap) {
        pthread_mutex_unlock(&h->lock);
        pthread_mutex_unlock(&h->shared_lock);
    }
    pthread_mutex_unlock(&heaps_lock);
}

/* In the child only this thread exists. The others may have stopped
 * halfway through a magazine operation (those take no lock), so their
 * magazines are abandoned, not flushed: the blocks in them are lost to
 * the child, which is consistent, and bounded by the layer's limit. */
/* The heap's lock: held for short stretches (a magazine exchange, one
 * allocator call), so a waiter spins a little before it sleeps. */
static int heap_lock_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0)
        return pthread_mutex_init(m, NULL);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    (void)pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    int rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

static void atfork_child(void)
{
    pthread_t self = pthread_self();
    for (ak_heap *h = heaps; h; h = h->next_heap) {
        heap_lock_init(&h->lock);
        pthread_mutex_init(&h->shared_lock, NULL);
        ak_heap_thread *t = h->threads;
        while (t) {
            ak_heap_thread *next = t->next;
            if (!pthread_equal(t->owner, self))
                thread_release(h, t, false);
            t = next;
        }
    }
    pthread_mutex_init(&heaps_lock, NULL);
}

static void atfork_register(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* pthread key destructor: the thread is exiting. */
static void thread_exit(void *arg)
{
    ak_heap_thread *t = arg;
    ak_heap *h = t->heap;
    /* Keep the slot with no magazines: frees in this thread's remaining
     * destructors use the shared state instead of setting up new ones. */
    for (unsigned i = 0; i < AK_HEAP_TLS_SLOTS; i++)
        if (tls_slots[i].heap_id == h->id)
            tls_slots[i].t = NULL;
    thread_release(h, t, true);
    heap_lock(h);
    bool last = h->threads == NULL;
    heap_unlock(h);
    if (last)
        cache_trim(h); /* no thread left to use the depot soon */
}

/* This thread's first call on h: its magazines, or NULL (no cache hooks,
 * no free TLS slot, no memory, or called from inside the set-up). */
static __attribute__((noinline)) ak_heap_thread *thread_create(ak_heap *h)
{
    if (!h->layered || tls_busy)
        return NULL;
    unsigned slot = AK_HEAP_TLS_SLOTS;
    for (unsigned i = 0; i < AK_HEAP_TLS_SLOTS; i++)
        if (tls_slots[i].heap_id == 0) {
            slot = i;
            break;
        }
    if (slot == AK_HEAP_TLS_SLOTS)
        return NULL;
    tls_busy = 1;
    heap_lock(h);
    ak_heap_thread *t = backend_alloc_locked(h, sizeof *t, THREAD_ALIGN);
    if (t) {
        memset(t, 0, sizeof *t);
        for (unsigned c = 0; c < AK_HEAP_PAGE_CLASSES; c++)
            t->cur[c] = PAGE_NONE;
        t->heap = h;
        t->owner = pthread_self();
        t->next = h->threads;
        if (h->threads)
            h->threads->prev = t;
        h->threads = t;
    }
    heap_unlock(h);
    tls_slots[slot].heap_id = h->id;
    /* Without the destructor the magazines would outlive their thread. */
    if (t && (ak_mag_cpu_attach(&h->mag, &t->mags) != AK_OK || !h->key_ok ||
              pthread_setspecific(h->key, t) != 0)) {
        thread_release(h, t, true);
        t = NULL;
    }
    tls_slots[slot].t = t;
    tls_busy = 0;
    return t;
}

/* This thread's magazines for h, looked for in the other slots, or set
 * up. */
static __attribute__((noinline)) ak_heap_thread *thread_find(ak_heap *h)
{
    for (unsigned i = 1; i < AK_HEAP_TLS_SLOTS; i++)
        if (tls_slots[i].heap_id == h->id)
            return tls_slots[i].t;
    return thread_create(h);
}

/* The fast paths look in the first slot alone, where a program with one
 * heap (libakmalloc) finds its magazines, and only over an allocator
 * whose mark the layer writes inline (fast_id is the heap's id then, else
 * no slot's): NULL sends them to the slow paths, which look further. */
static inline ak_heap_thread *thread_fast(const ak_heap *h)
{
    return LIKELY(tls_slots[0].heap_id == h->fast_id) ? tls_slots[0].t : NULL;
}

/* The first slot inline, then the others. */
static inline ak_heap_thread *thread_get(ak_heap *h)
{
    if (LIKELY(tls_slots[0].heap_id == h->id))
        return tls_slots[0].t;
    return thread_find(h);
}

/* ------------------------------------------------------------------ */
/* Allocator blocks: through the magazines, or straight                */
/* ------------------------------------------------------------------ */

/* The layer, on this thread's magazines, or on the shared state (CPU 0,
 * under its own mutex) for a thread that has none. A class block (c <
 * h->nclasses) goes by its class, any other by its size. */
static ak_error layer_alloc(ak_heap *h, unsigned c, size_t total, size_t align, void **out)
{
    ak_heap_thread *t = thread_get(h);
    ak_mag_cpu *pc = t ? &t->mags : ak_mag_cpu_state(&h->mag, 0);
    if (!t)
        pthread_mutex_lock(&h->shared_lock);
    ak_error e = c < h->nclasses ? ak_mag_alloc_class(&h->mag, pc, c, out)
                                 : ak_mag_alloc_on(&h->mag, pc, total, align, out);
    if (!t)
        pthread_mutex_unlock(&h->shared_lock);
    return e;
}

/* A block outside the classes back through the layer. */
static ak_error layer_free(ak_heap *h, void *b, size_t total, size_t align)
{
    ak_heap_thread *t = thread_get(h);
    if (t)
        return ak_mag_free_on(&h->mag, &t->mags, b, total, align);
    pthread_mutex_lock(&h->shared_lock);
    ak_error e = ak_mag_free(&h->mag, 0, b, total, align);
    pthread_mutex_unlock(&h->shared_lock);
    return e;
}

/* An allocator block of class c (< h->nclasses), or else of `total`
 * bytes aligned to `align`, through the layer or straight, growing the OS
 * source when the allocator is full (the layer has given back what it
 * held by then). NULL if there is no memory. */
static void *block_alloc(ak_heap *h, unsigned c, size_t total, size_t align)
{
    void *b = NULL;
    if (!h->layered) {
        heap_lock(h);
        b = backend_alloc_locked(h, total, align);
        if (b)
            note_backend_peak(h);
        heap_unlock(h);
        return b;
    }
    for (int attempt = 0;; attempt++) {
        size_t seen = __atomic_load_n(&h->committed, __ATOMIC_RELAXED);
        ak_error e = layer_alloc(h, c, total, align, &b);
        if (e == AK_OK)
            return b;
        if (e != AK_ERR_NO_MEMORY || !h->os || attempt == 2)
            break;
        /* A fresh chunk should fit it; if the allocator's bookkeeping
         * needs more than guessed, try once more with a bigger one. Not
         * at all if another thread grew the heap in the meantime. */
        size_t want = attempt == 0 ? total : total * 2;
        heap_lock(h);
        bool grown = h->committed != seen || (want >= total && os_grow(h, want, align));
        heap_unlock(h);
        if (!grown)
            break;
    }
    return NULL;
}

static void *alloc_failed(ak_heap *h)
{
    heap_lock(h);
    h->failed++;
    heap_unlock(h);
    errno = ENOMEM;
    return NULL;
}

/* Free an allocator block outside the classes (user pointer p, header
 * checked). The layer, or the allocator, may still refuse it: then it was
 * not a live block, and nothing changes. */
static void block_free(ak_heap *h, void *p, blk_hdr *hd)
{
    size_t a = hdr_align(hd);
    size_t total = a + hd->size;
    bool tag = hd->size >= sizeof(free_tag);
    free_tag saved;
    mark_freed(p, hd, tag, &saved);
    ak_error e;
    if (h->layered) {
        e = layer_free(h, (uint8_t *)p - a, total, a);
        if (e == AK_OK)
            count_relaxed(&h->slow_frees);
    } else {
        heap_lock(h);
        e = ak_byte_dealloc(h->backend, (uint8_t *)p - a, total, a);
        if (e == AK_OK)
            count_relaxed(&h->slow_frees);
        heap_unlock(h);
    }
    if (UNLIKELY(e != AK_OK)) {
        unmark_freed(p, hd, tag, &saved);
        heap_lock(h);
        h->bad_frees++;
        heap_unlock(h);
    }
}

/* ------------------------------------------------------------------ */
/* Pages: small blocks without a header                                */
/* ------------------------------------------------------------------ */

/* Requests of at most AK_HEAP_PAGE_MAX bytes with alignment <= 16, by a
 * thread with its own state, come from pages: spans aligned to their
 * size, taken from the allocator under the heap's lock, each cut into
 * blocks of one size class and owned by one thread (after mimalloc's
 * free-list sharding, with bitmaps for lists). Spans are 64 KiB for the
 * classes up to 1 KiB and 256 KiB above, so that a page of 16 KiB blocks
 * holds 15 of them, not 3. Up to 1 KiB only, rptest (blocks of 8 to
 * 16000 bytes, many freed by the other thread) crossed the magazine
 * depot under the heap's mutex 130,000 times a run and took 1.7x
 * mimalloc's time; with pages up to 16 KiB it needs the mutex only for
 * spans (0.77-0.92 -> 0.32-0.50 in an A/B of 3 runs, mimalloc 0.47-0.57;
 * 1.16x mimalloc in the suite run of hosted/README.md). The page's
 * descriptor, near its start, holds two bitmaps with one bit per block:
 *   map:  set = free and known to the owner. Only the owner writes it;
 *         alloc takes the lowest set bit of the word at the cursor, a free
 *         by the owner tests and sets the block's bit.
 *   rmap: set = freed by another thread since the owner last looked.
 *         Others set bits with an atomic OR; the owner takes whole words
 *         with an atomic exchange when it needs blocks (collect).
 * Spans are 64 KiB-aligned, so descriptors at the same offset would all
 * fall in the same few sets of a cache indexed by address bits below 16:
 * a cache would hold only as many descriptors as it has ways. Each span
 * puts its descriptor at a colour of its own, 64 bytes times one of 16
 * (page_at) in (the blocks start past the last colour, at one offset for
 * every span of the class). On a larson-like churn of 5000 blocks under
 * cachegrind (1 MiB, 16-way last level) this took the last-level misses
 * from 3.0 to 0.17 an operation, its time from 0.54 to 0.50 s (20M
 * operations, median of 5).
 * The heap's side table, two words per 64 KiB of the reservation (a 256
 * KiB span has four pairs), says which spans are pages, of which class,
 * with which colour, which thread owns them and where their descriptor
 * is, so free finds a block's page and index by address alone: no
 * header, no lock, and the block's memory is never read or written by
 * the heap. A byte per span (its first 64
 * KiB's) tells the owner that a page has remote frees waiting (it is set
 * after the bit, and cleared by the owner before it collects, so none is
 * missed).
 * Each bit is the exact state of its block: a free of a block whose bit
 * is set (in map, or in rmap before it is collected) is a double free,
 * counted and refused; so is one found when collecting. Two threads
 * freeing one block at the same instant are not told apart.
 * A thread keeps per class a current page, a list of pages with free
 * blocks (first in, first out: see page_owner_note) and a list of full
 * ones. A page that empties goes back (kept as one of PAGE_SPARES empty
 * spans of the thread, or in the heap's pool of spans, or given to the
 * allocator: see page_release), unless it is the current one. When a
 * thread exits, its empty pages go back and the others are left to the
 * heap (orphans); the next thread that needs a page of that class adopts
 * one.
 * Costs: alloc from the current page, free by the owner: O(1), no lock,
 * no atomic read-modify-write. A free by another thread: one atomic OR.
 * When the current cursor word runs out: the next word with a free block
 * (O(1) amortised, through a summary of the nonempty words), then the
 * remote frees (O(words of the map)), then the first page with room (a
 * list pop), or a look at the waiting-frees byte of each full page of
 * the class, or an orphan (under the lock), or a span of the pool or a
 * new one from the allocator (under the lock). */

#define PAGE_MAP_OFF  64u
#define PAGE_SPARES   2u                /* empty spans of a kind a thread keeps */
#define PAGE_ADOPT    8u                /* orphans looked at by one allocation */
#define PAGE_POOL_MIN ((size_t)1 << 20) /* bytes a kind's pool may keep whatever is in use */
#define PAGE_COLOURS  16u               /* descriptor offsets, 64 bytes apart */
/* A side-table entry: the owner's address (THREAD_ALIGN-aligned), the
 * descriptor's colour times 64 (bits 6-9) and the class + 1 (bits 0-5;
 * never 0, so a page's entry never is). */
#define PAGE_OWNER        (~(uintptr_t)(THREAD_ALIGN - 1))
#define PAGE_ENTRY_COLOUR ((uintptr_t)(PAGE_COLOURS - 1) << 6)
_Static_assert(AK_HEAP_PAGE_CLASSES < 64 && PAGE_COLOURS * 64 <= THREAD_ALIGN,
               "a side-table entry's low bits hold the class and the colour");

/* The owner named by an orphan's side-table entry: no thread's state, and
 * not NULL, so that free's owner test needs no test of its own for a
 * thread without state. Never read or written. */
static _Alignas(THREAD_ALIGN) char page_orphan_owner;
#define PAGE_ORPHANED ((uintptr_t)&page_orphan_owner)

enum { PG_CUR = 1, PG_AVAIL, PG_FULL, PG_ORPHAN };

/* The descriptor's first 64 bytes; the map follows at PAGE_MAP_OFF. */
typedef struct ak_page {
    uint64_t nonempty; /* bit w set: map word w may have a free block */
    uint32_t cursor;   /* the map word allocations take from */
    /* Blocks handed out that the owner has not seen freed, less one
     * (page_used, page_set_used), with PAGE_USED_FULL while the page is
     * full; not kept while the page is current (PAGE_USED_CUR then, set
     * again when it stops being). */
    uint32_t used;
    /* The class's, where alloc and free read them (free reads nothing of
     * the class record: one line fewer) */
    uint32_t size, recip;
    uint8_t *first; /* block 0 */
    uint32_t nblocks;
    uint8_t cls, state;
    /* Map words 0 to reach - 1 have handed out blocks (the cursor is
     * below it); none of the words past it ever has (page_seek). */
    uint8_t reach;
    struct ak_page *next, *prev; /* in its owner's list, or the orphans' */
} ak_page;

_Static_assert(sizeof(ak_page) <= PAGE_MAP_OFF, "the descriptor's head fits its line");

/* The owner's free counts used down and calls page_owner_note when it
 * goes below 0 as a signed number: an available page that empties (the
 * count is kept less one, so that the test is of the sign, which the
 * subtraction on memory sets: 3 instructions fewer than a test for 0 or
 * less), a full page at its first free (its flag makes it negative), and
 * the current page never (it starts far above 0 and is set there again
 * if it gets down). One decrement and one test that hardly ever passes,
 * in place of a test of the state, which went either way often: on a
 * larson-like churn 60% of the owner's frees are off the current page. */
#define PAGE_USED_FULL (UINT32_C(1) << 31)
#define PAGE_USED_CUR  (UINT32_C(1) << 30)

static inline uint32_t page_used(const ak_page *pg)
{
    return (pg->used + 1) & ~PAGE_USED_FULL;
}

static inline void page_set_used(ak_page *pg, uint32_t n)
{
    pg->used = n - 1;
}

/* Does the count carry the full flag? (An empty page's count, less one,
 * is all ones.) */
static inline bool page_flagged_full(const ak_page *pg)
{
    return (pg->used & PAGE_USED_FULL) && pg->used != UINT32_MAX;
}

static inline void page_mark_full(ak_page *pg)
{
    pg->state = PG_FULL;
    pg->used |= PAGE_USED_FULL;
}

/* A class's page layout: block size, the reciprocal that turns an offset
 * into an index, where block 0 starts, how many blocks, map words, where
 * rmap starts (on a line of its own, away from the owner's), the span's
 * size less one and its kind. */
typedef struct page_class {
    uint32_t size, recip, first, nblocks, words, rmap_off, mask, kind;
} __attribute__((aligned(32))) page_class;

static page_class page_cls[AK_HEAP_PAGE_CLASSES];
static uint8_t page_class_of[AK_HEAP_PAGE_MAX / 16 + 1];

/* The "no page yet" page: its only map word is 0, so the alloc path's
 * first test sends the thread to the slow path. Never written. */
_Static_assert(sizeof page_none_mem == PAGE_MAP_OFF + 8, "the none page has one map word");

static inline uint64_t *page_map(const ak_page *pg)
{
    return (uint64_t *)((uintptr_t)pg + PAGE_MAP_OFF);
}

static inline uint64_t *page_rmap(const ak_page *pg, const page_class *L)
{
    return (uint64_t *)((uintptr_t)pg + L->rmap_off);
}

/* The bits of map word w that stand for blocks of class L. */
static inline uint64_t page_word_blocks(const page_class *L, unsigned w)
{
    return low_bits(L->nblocks - w * 64);
}

static void page_classes_init(void)
{
    for (unsigned c = 0; c < AK_HEAP_PAGE_CLASSES; c++) {
        page_class *L = &page_cls[c];
        uint32_t size = (uint32_t)ak_sc_size(c);
        L->kind = c >= PAGE_SMALL_CLASSES;
        size_t span = (size_t)1 << span_shift(L->kind);
        uint32_t words = (uint32_t)((span / size + 63) / 64);
        L->mask = (uint32_t)(span - 1);
        L->size = size;
        L->words = words;
        L->rmap_off = PAGE_MAP_OFF + ((words * 8 + 63) & ~63u);
        L->first = ((L->rmap_off + words * 8 + 63) & ~63u) + (PAGE_COLOURS - 1) * 64;
        L->nblocks = (uint32_t)((span - L->first) / size);
        L->words = (L->nblocks + 63) / 64; /* the layout left room for more */
        /* floor(2^32 / size) + 1: (off * recip) >> 32 is off / size for
         * every block's offset (see block_index). */
        L->recip = (uint32_t)(((uint64_t)1 << 32) / size + 1);
    }
    for (unsigned i = 0; i <= AK_HEAP_PAGE_MAX / 16; i++)
        page_class_of[i] = (uint8_t)ak_sc_index((size_t)i * 16);
}

/* The descriptor of the span at s (its colour), the page holding
 * address u, the span of a descriptor, and the class of a side-table
 * entry. The colour mixes the span number's bits 0-3 with
 * 2-5, so that consecutive spans of either kind (the 256 KiB ones have
 * bits 0-1 clear) take all 16 colours. */
static inline ak_page *page_at(uintptr_t s)
{
    return (ak_page *)(s | (((s >> PAGE_SHIFT) ^ (s >> (PAGE_SHIFT + 2))) & (PAGE_COLOURS - 1))
                               << 6);
}

/* The page holding address u, from its side-table entry e alone: the
 * span from u and a predicted test of e's class, the colour from e. Not
 * from the class record: with the span's mask loaded from it, the loads
 * from the descriptor that follow waited for it, and on a larson-like
 * churn of 5000 blocks (one thread) free's mispredictions cost more:
 * 0.44 s against 0.38 s (medians of 8). */
static inline ak_page *page_of(uintptr_t u, uintptr_t e)
{
    if (LIKELY((e & 63) <= PAGE_SMALL_CLASSES))
        return (ak_page *)((u & ~(uintptr_t)(PAGE_BYTES - 1)) | (e & PAGE_ENTRY_COLOUR));
    return (ak_page *)((u & ~(((uintptr_t)1 << PAGE_BIG_SHIFT) - 1)) | (e & PAGE_ENTRY_COLOUR));
}

static inline void *page_span(const ak_page *pg)
{
    return (void *)((uintptr_t)pg & ~(uintptr_t)page_cls[pg->cls].mask);
}

/* How many side-table entries a span of class L has. */
static inline unsigned page_entries(const page_class *L)
{
    return (L->mask >> PAGE_SHIFT) + 1;
}

static inline const page_class *entry_class(uintptr_t e)
{
    return &page_cls[(e & 63) - 1];
}

static inline size_t page_index(const ak_heap *h, uintptr_t u)
{
    return (u >> PAGE_SHIFT) - h->page_base;
}

/* The side-table entry of pg for owner, class c. */
static inline uintptr_t page_entry_for(const ak_page *pg, uintptr_t owner, unsigned c)
{
    return owner | ((uintptr_t)pg & PAGE_ENTRY_COLOUR) | (c + 1);
}

/* The side table's pair for the 64 KiB at index pi: the entry, then the
 * descriptor of the page there (0 if none). The owner's free takes the
 * descriptor from beside the entry (one load on the entry's line) rather
 * than computing it from the entry (the span's size by its class, the
 * colour, a branch between the two kinds of span). With the bit tests of
 * page_free, free went from 58 to 51 instructions on a larson-like churn
 * (callgrind). */
static inline uintptr_t *page_pair(const ak_heap *h, size_t pi)
{
    return &h->page_tab[2 * pi];
}

/* Set the side-table entries of pg's span (its class already set). The
 * descriptor's word first: a thread that reads the entry may read it. */
static inline void page_set_entry(ak_heap *h, const ak_page *pg, uintptr_t v)
{
    uintptr_t *e = page_pair(h, page_index(h, (uintptr_t)page_span(pg)));
    for (unsigned k = 0; k < page_entries(&page_cls[pg->cls]); k++) {
        __atomic_store_n(&e[2 * k + 1], v ? (uintptr_t)pg : 0, __ATOMIC_RELAXED);
        __atomic_store_n(&e[2 * k], v, __ATOMIC_RELEASE);
    }
}

static inline bool page_pending(const ak_heap *h, const ak_page *pg)
{
    return __atomic_load_n(&h->page_flag[page_index(h, (uintptr_t)pg)], __ATOMIC_SEQ_CST) != 0;
}

/* Page lists: linked by next, NULL-terminated; the head's prev is the
 * tail, so that a page can be appended in O(1). */
static void list_push(ak_page **head, ak_page *pg)
{
    ak_page *first = *head;
    pg->next = first;
    pg->prev = first ? first->prev : pg;
    if (first)
        first->prev = pg;
    *head = pg;
}

static void list_append(ak_page **head, ak_page *pg)
{
    ak_page *first = *head;
    pg->next = NULL;
    if (!first) {
        pg->prev = pg;
        *head = pg;
        return;
    }
    pg->prev = first->prev;
    first->prev->next = pg;
    first->prev = pg;
}

static void list_remove(ak_page **head, ak_page *pg)
{
    ak_page *first = *head;
    if (pg == first) {
        *head = pg->next;
        if (pg->next)
            pg->next->prev = pg->prev;
    } else {
        pg->prev->next = pg->next;
        (pg->next ? pg->next : first)->prev = pg->prev;
    }
    pg->next = pg->prev = NULL;
}

static unsigned page_free_blocks(const ak_page *pg)
{
    const uint64_t *map = page_map(pg);
    unsigned n = 0;
    for (unsigned w = 0; w < page_cls[pg->cls].words; w++)
        n += (unsigned)__builtin_popcountll(map[w]);
    return n;
}

/* Blocks found free twice (a double free that reached the page). */
static __attribute__((noinline)) void page_count_double(ak_heap *h, unsigned n)
{
    heap_lock(h);
    h->double_frees += n;
    heap_unlock(h);
}

static __attribute__((noinline)) void page_count_bad(ak_heap *h)
{
    heap_lock(h);
    h->bad_frees++;
    heap_unlock(h);
}

/* Take the page's remote frees into its map (the owner, or a thread that
 * holds the page alone). The waiting byte is cleared first: a bit set
 * after the words are read sets the byte again. Returns the double frees
 * found: bits set in both maps. */
static unsigned page_collect(ak_heap *h, ak_page *pg)
{
    const page_class *L = &page_cls[pg->cls];
    uint64_t *map = page_map(pg), *rmap = page_rmap(pg, L);
    unsigned dups = 0;
    (void)__atomic_exchange_n(&h->page_flag[page_index(h, (uintptr_t)pg)], 0, __ATOMIC_SEQ_CST);
    for (unsigned w = 0; w < L->words; w++) {
        if (!__atomic_load_n(&rmap[w], __ATOMIC_SEQ_CST))
            continue;
        uint64_t r = __atomic_exchange_n(&rmap[w], 0, __ATOMIC_ACQ_REL);
        uint64_t m = map[w], fresh = r & ~m;
        dups += (unsigned)__builtin_popcountll(r & m);
        if (fresh)
            pg->nonempty |= (uint64_t)1 << w;
        __atomic_store_n(&map[w], m | fresh, __ATOMIC_RELAXED);
        pg->used -= (uint32_t)__builtin_popcountll(fresh);
    }
    return dups;
}

/* Collect, then count the used blocks again from the map (for a page
 * whose owner is gone, may have stopped anywhere (fork), or is about to
 * change). Returns the double frees found. */
static unsigned page_recount(ak_heap *h, ak_page *pg)
{
    unsigned dups = page_collect(h, pg);
    page_set_used(pg, page_cls[pg->cls].nblocks - page_free_blocks(pg));
    return dups;
}

/* Move the cursor to word w, reached from now on. */
static inline void page_seek_to(ak_page *pg, unsigned w)
{
    pg->cursor = w;
    if (w >= pg->reach)
        pg->reach = (uint8_t)(w + 1);
}

/* Before the cursor reaches a word no block has been taken from: the
 * lowest word with at least SEEK_MIN free blocks, if one of the first
 * SEEK_LOOK with a free block has them (ne: the summary, the stale bits
 * met cleared). */
#define SEEK_LOOK 16u
#define SEEK_MIN  16u
static bool page_seek_low(ak_page *pg, uint64_t ne)
{
    const uint64_t *map = page_map(pg);
    uint64_t stale = 0, low = ne;
    for (unsigned looked = 0; low && looked < SEEK_LOOK; low &= low - 1) {
        unsigned w = (unsigned)__builtin_ctzll(low);
        uint64_t m = map[w];
        if (!m) {
            stale |= (uint64_t)1 << w;
        } else if (ak_popcount64(m) >= SEEK_MIN) {
            page_seek_to(pg, w);
            pg->nonempty = ne & ~stale;
            return true;
        } else {
            looked++;
        }
    }
    return false;
}

/* Make the cursor name a map word with a free block, if there is one.
 * Round robin from the cursor on, so that a word's frees pile up until
 * the cursor comes back (fewer, fuller visits than always taking the
 * lowest word), through the words already reached; before it goes on to
 * a word never reached, back to a low word that has gathered SEEK_MIN
 * free blocks (page_seek_low), if there is one. So a page's blocks stay
 * in the part already reached, whose memory is resident, while a churn
 * keeps the few words it needs: on mimalloc-bench's glibc-thread, where
 * round robin alone walked the small classes' pages over their whole
 * span, anonymous memory at exit went from 1,108-1,144 to 920-932 KiB.
 * Looking low on every seek did as well there but cost alloc-test (one
 * thread, under callgrind) 8.2G instructions more (15.6 -> 23.7G:
 * dense pages whose low words have a few free blocks each), and
 * looking at the lowest word alone 0.85G; going to the lowest word with
 * any free block made glibc-thread a third slower (visits that yield a
 * block or two).
 * A summary bit goes stale when its word is drained (the alloc path does
 * not clear it); those met on the way are cleared here, each once, so a
 * seek is O(1) amortised, and the look below the reach happens once per
 * round of the reached words at most. Each step is a bit of the summary
 * and a load of its word; the stale bits met are cleared in one mask at
 * the end. On alloc-test 43% of allocations seek, past about 5 stale
 * bits each: a seek took 93 instructions with one loop per bit, its next
 * start recomputed, inside page_alloc_slow, and 60 in page_alloc_next
 * before the reach (1.35G in all; 1.55G with it). */
static inline bool page_seek(ak_page *pg)
{
    const uint64_t *map = page_map(pg);
    uint64_t ne = pg->nonempty;
    if (!ne)
        return false; /* writes nothing: PAGE_NONE's is 0 */
    unsigned from = pg->cursor + 1;
    uint64_t after = from < 64 ? ne & (~(uint64_t)0 << from) : 0;
    for (uint64_t cand = after; cand; cand &= cand - 1) {
        unsigned w = (unsigned)__builtin_ctzll(cand);
        if (map[w]) {
            ne &= ~(after & low_bits(w)); /* those passed */
            if (w >= pg->reach && page_seek_low(pg, ne))
                return true;
            page_seek_to(pg, w);
            pg->nonempty = ne;
            return true;
        }
    }
    ne &= ~after; /* every word after the cursor was drained */
    for (uint64_t cand = ne; cand; cand &= cand - 1) {
        unsigned w = (unsigned)__builtin_ctzll(cand);
        if (map[w]) {
            page_seek_to(pg, w);
            pg->nonempty = ne & ~low_bits(w);
            return true;
        }
    }
    pg->nonempty = 0;
    return false;
}

/* Take the lowest free block of map word w, whose value m is not 0. */
static inline void *page_take(ak_page *pg, uint64_t *map, uint32_t w, uint64_t m)
{
    __atomic_store_n(&map[w], m & (m - 1), __ATOMIC_RELAXED);
    /* The offset in 32 bits (a span is at most 256 KiB) */
    uint32_t off = (w * 64 + (uint32_t)__builtin_ctzll(m)) * pg->size;
    return pg->first + off;
}

/* The alloc path: the lowest free block of the cursor's word, or NULL. */
static inline void *page_pop(ak_page *pg)
{
    uint64_t *map = page_map(pg);
    uint32_t w = pg->cursor;
    uint64_t m = map[w];
    return UNLIKELY(m == 0) ? NULL : page_take(pg, map, w, m);
}

/* Span groups. Spans are cut from groups of GROUP_BYTES, aligned to
 * their size: 16 spans of 64 KiB or 4 of 256 KiB, one kind a group.
 * Asked of the allocator one by one, each span cost a resident 4 KiB
 * page beside it for the allocator's header and the alignment gap's
 * links (the page before the span: often the last of the span before,
 * which its blocks had not reached). On a program with a few blocks of
 * each of 19 classes, the pages' memory had 3 resident 4 KiB pages a
 * span instead of 1-2. Asked of the allocator a group at a time, each
 * group still cost two (the allocator's header in the page below it, the
 * remainder's in the page above: on mimalloc-bench's espresso, 20 of the
 * 22 resident pages outside the spans and the allocator's blocks). So
 * with the OS source, groups are not the allocator's: they are committed
 * from the top of the reservation downward, a granule at a time (chunks
 * grow upward from its bottom and stop at the groups' floor), and a group
 * whose spans are all back stays committed, idle, for the next one (each
 * span's pages went back to the system when the span did: an idle group
 * is address space only). Over a fixed pool, or with the reservation
 * full, a group is a block of the allocator and goes back to it once its
 * spans are all back. A group's record (in the table after the side
 * table, one per GROUP_BYTES of the reservation) has a bit per span not
 * in use; the groups of a kind with such a span are on a list, the idle
 * ones on another. All under the heap lock. */
#define GROUP_SHIFT 20u
#define GROUP_BYTES ((size_t)1 << GROUP_SHIFT)

typedef struct span_group {
    uint16_t free; /* bit u: span u is not in use (0: full, idle, or no group) */
    uint8_t kind;
    uint8_t own;         /* committed by the heap (else the allocator's block) */
    uint32_t next, prev; /* on its kind's list (or next: the idle list):
                            group numbers + 1, 0 none */
} span_group;

static inline uint16_t group_all(unsigned k)
{
    return (uint16_t)low_bits(GROUP_BYTES >> span_shift(k));
}

static inline span_group *group_rec(const ak_heap *h, uint32_t gn)
{
    return &((span_group *)h->page_groups)[gn - 1];
}

static inline uint32_t group_num(const ak_heap *h, uintptr_t a)
{
    return (uint32_t)((a >> GROUP_SHIFT) - h->group_base + 1);
}

static inline uintptr_t group_addr(const ak_heap *h, uint32_t gn)
{
    return (uintptr_t)(gn - 1 + h->group_base) << GROUP_SHIFT;
}

static void group_unlist(ak_heap *h, span_group *g)
{
    if (g->prev)
        group_rec(h, g->prev)->next = g->next;
    else
        h->group_avail[g->kind] = g->next;
    if (g->next)
        group_rec(h, g->next)->prev = g->prev;
    g->next = g->prev = 0;
}

static void group_list(ak_heap *h, span_group *g, uint32_t gn)
{
    uint32_t first = h->group_avail[g->kind];
    g->prev = 0;
    g->next = first;
    if (first)
        group_rec(h, first)->prev = gn;
    h->group_avail[g->kind] = gn;
}

static void group_idle_push(ak_heap *h, span_group *g, uint32_t gn)
{
    g->free = 0;
    g->prev = 0;
    g->next = h->group_idle;
    h->group_idle = gn;
    h->group_idle_n++;
}

/* Commit the granule (at least a group) below the groups' floor and make
 * its groups idle, the highest to be taken first. Under the lock. */
static bool group_grow_locked(ak_heap *h)
{
    size_t run = (size_t)1 << h->granule_log2;
    if (run < GROUP_BYTES)
        run = GROUP_BYTES;
    uintptr_t top = h->group_floor & ~(uintptr_t)(run - 1);
    if (top < run || top - run < h->brk)
        return false;
    uintptr_t pos = top - run;
    if (mprotect((void *)pos, run, PROT_READ | PROT_WRITE) != 0)
        return false;
    chunk_map_set(h, pos, run);
    h->group_floor = pos;
    h->group_bytes += run;
    for (uintptr_t a = pos; a < top; a += GROUP_BYTES) {
        uint32_t gn = group_num(h, a);
        span_group *g = group_rec(h, gn);
        g->own = 1;
        group_idle_push(h, g, gn);
    }
    return true;
}

/* A span of kind k: from the first group of the kind with one free, else
 * from an idle group, a new one committed, or (no OS source, or the
 * reservation full) a block of the allocator. NULL if there is none. */
static void *span_take_locked(ak_heap *h, unsigned k)
{
    uint32_t gn = h->group_avail[k];
    uintptr_t base;
    span_group *g;
    if (gn) {
        g = group_rec(h, gn);
        base = group_addr(h, gn);
    } else {
        if (!h->group_idle && h->os)
            (void)group_grow_locked(h);
        gn = h->group_idle;
        if (gn) {
            g = group_rec(h, gn);
            h->group_idle = g->next;
            h->group_idle_n--;
            base = group_addr(h, gn);
        } else {
            void *m = backend_alloc_locked(h, GROUP_BYTES, GROUP_BYTES);
            if (!m)
                return NULL;
            note_backend_peak(h);
            base = (uintptr_t)m;
            gn = group_num(h, base);
            g = group_rec(h, gn);
            g->own = 0;
        }
        g->kind = (uint8_t)k;
        g->free = group_all(k);
        group_list(h, g, gn);
        h->group_n++;
    }
    unsigned u = (unsigned)__builtin_ctz(g->free);
    g->free &= (uint16_t)(g->free - 1);
    if (!g->free)
        group_unlist(h, g);
    return (void *)(base + ((uintptr_t)u << span_shift(k)));
}

/* Span s of kind k back to its group; the group back to the allocator
 * once all its spans are. */
static void span_give_locked(ak_heap *h, uintptr_t s, unsigned k)
{
    uint32_t gn = group_num(h, s);
    span_group *g = group_rec(h, gn);
    bool was_full = g->free == 0;
    g->free |= (uint16_t)(1u << ((s & (GROUP_BYTES - 1)) >> span_shift(k)));
    if (g->free == group_all(k)) {
        if (!was_full)
            group_unlist(h, g);
        h->group_n--;
        if (g->own) {
            group_idle_push(h, g, gn);
        } else {
            g->free = 0;
            (void)ak_byte_dealloc(h->backend, (void *)group_addr(h, gn), GROUP_BYTES, GROUP_BYTES);
        }
    } else if (was_full) {
        group_list(h, g, gn);
    }
}

/* A span given back to its group first gives its memory back to the
 * system (the group's next span taken may be another one, or the group
 * may go back to the allocator, whose good fit would rather cut from
 * memory not touched yet: either way the freed span's pages would stay
 * resident beside the new ones). */
static void page_span_to_backend(ak_heap *h, ak_page *pg)
{
    const page_class *L = &page_cls[pg->cls];
    void *span = page_span(pg);
    (void)madvise(span, (size_t)L->mask + 1, MADV_DONTNEED);
    heap_lock(h);
    span_give_locked(h, (uintptr_t)span, L->kind);
    heap_unlock(h);
    __atomic_sub_fetch(&h->pages_held[L->kind], 1, __ATOMIC_RELAXED);
}

/* A span back to the heap's pool of empty spans of its kind, the next
 * ones taken for pages; to its group once the pool holds four times as
 * many 64 KiB spans as are in use as pages (once as many 256 KiB ones),
 * and at least PAGE_POOL_MIN bytes of them. On xmalloc-test (waves of
 * 64-byte blocks' pages filled by one thread and emptied by another),
 * max RSS went from 53 MiB to 13-15 MiB, its time from 1.2 s to 1.5 s;
 * with the bound at once the spans in use, 9 MiB and 2.1 s (more spans
 * given back and faulted in again); with no bound, 36 MiB and 1.1 s. For
 * the 256 KiB spans, once rather than four times took rptest's max RSS
 * from 19-24 MiB to 18-20 (5 runs each), at the same time, and changed
 * neither time nor RSS of glibc-thread, alloc-test, mstress or espresso.
 * Spans are taken and given back under the heap lock, past the magazine
 * layer: nothing of the layer's is needed for them (they are never
 * cached), and its pass-through free would first run the allocator's
 * cache hook. */
static void page_release(ak_heap *h, ak_page *pg)
{
    const page_class *L = &page_cls[pg->cls];
    unsigned k = L->kind;
    heap_lock(h);
    size_t held = __atomic_load_n(&h->pages_held[k], __ATOMIC_RELAXED), n = h->span_pool_n[k];
    if (n < PAGE_POOL_MIN / (L->mask + 1) || n < (k ? 1u : 4u) * (held - n)) {
        pg->next = h->span_pool[k];
        h->span_pool[k] = pg;
        h->span_pool_n[k]++;
        heap_unlock(h);
        return;
    }
    heap_unlock(h);
    page_span_to_backend(h, pg);
}

/* The pool's spans back to the allocator (the last thread has gone, or a
 * flush). */
static void page_drain_pool(ak_heap *h)
{
    for (unsigned k = 0; k < PAGE_KINDS; k++) {
        heap_lock(h);
        ak_page *pg = h->span_pool[k];
        h->span_pool[k] = NULL;
        h->span_pool_n[k] = 0;
        heap_unlock(h);
        while (pg) {
            ak_page *next = pg->next;
            page_span_to_backend(h, pg);
            pg = next;
        }
    }
}

/* An empty page leaves the side table; t keeps the span if it has room
 * for a spare (t NULL: never). */
static void page_retire(ak_heap *h, ak_heap_thread *t, ak_page *pg)
{
    unsigned k = page_cls[pg->cls].kind;
    page_set_entry(h, pg, 0);
    if (t && t->nspare[k] < PAGE_SPARES) {
        pg->next = t->spare[k];
        t->spare[k] = pg;
        t->nspare[k]++;
        return;
    }
    page_release(h, pg);
}

static void page_init(ak_heap *h, ak_page *pg, unsigned c)
{
    const page_class *L = &page_cls[c];
    uint64_t *map = page_map(pg), *rmap = page_rmap(pg, L);
    pg->cursor = 0;
    pg->reach = 1;
    page_set_used(pg, 0);
    pg->nonempty = low_bits(L->words);
    pg->size = L->size;
    pg->recip = L->recip;
    pg->nblocks = L->nblocks;
    pg->cls = (uint8_t)c;
    pg->first = (uint8_t *)page_span(pg) + L->first;
    pg->next = pg->prev = NULL;
    for (unsigned w = 0; w < L->words; w++) {
        map[w] = page_word_blocks(L, w);
        rmap[w] = 0;
    }
    __atomic_store_n(&h->page_flag[page_index(h, (uintptr_t)pg)], 0, __ATOMIC_RELAXED);
}

/* A fresh page of class c for t: a spare span, else one of the pool,
 * else one from the allocator (which grows the heap if it must). */
static ak_page *page_new(ak_heap *h, ak_heap_thread *t, unsigned c)
{
    const page_class *L = &page_cls[c];
    unsigned k = L->kind;
    ak_page *pg = t->spare[k];
    if (pg) {
        t->spare[k] = pg->next;
        t->nspare[k]--;
    } else {
        heap_lock(h);
        pg = h->span_pool[k];
        if (pg) {
            h->span_pool[k] = pg->next;
            h->span_pool_n[k]--;
            heap_unlock(h);
        } else {
            void *span = span_take_locked(h, k);
            heap_unlock(h);
            if (!span)
                return NULL;
            pg = page_at((uintptr_t)span);
            __atomic_add_fetch(&h->pages_held[k], 1, __ATOMIC_RELAXED);
        }
    }
    page_init(h, pg, c);
    page_set_entry(h, pg, page_entry_for(pg, (uintptr_t)t, c));
    return pg;
}

/* An orphan of class c, adopted by t with its remote frees collected, or
 * NULL. Full ones go on t's full list; at most PAGE_ADOPT are taken. */
static ak_page *page_adopt(ak_heap *h, ak_heap_thread *t, unsigned c)
{
    if (!__atomic_load_n(&h->orphans[c], __ATOMIC_RELAXED))
        return NULL;
    for (unsigned k = 0; k < PAGE_ADOPT; k++) {
        heap_lock(h);
        ak_page *pg = h->orphans[c];
        if (pg) {
            list_remove(&h->orphans[c], pg);
            h->page_orphan_count--;
        }
        heap_unlock(h);
        if (!pg)
            return NULL;
        page_set_entry(h, pg, page_entry_for(pg, (uintptr_t)t, c));
        unsigned dups = page_recount(h, pg);
        if (dups)
            page_count_double(h, dups);
        pg->cursor = 0;
        pg->nonempty = low_bits(page_cls[c].words);
        if (page_used(pg) < page_cls[c].nblocks)
            return pg;
        page_mark_full(pg);
        list_push(&t->full[c], pg);
    }
    return NULL;
}

/* Collect every full page of class c whose remote frees wait: those with
 * room move to the list of pages with free blocks, empty ones go back. */
static void page_scan_full(ak_heap *h, ak_heap_thread *t, unsigned c)
{
    unsigned dups = 0;
    ak_page *next;
    for (ak_page *pg = t->full[c]; pg; pg = next) {
        next = pg->next;
        if (!page_pending(h, pg))
            continue;
        dups += page_collect(h, pg);
        if (page_used(pg) == page_cls[c].nblocks)
            continue;
        list_remove(&t->full[c], pg);
        page_set_used(pg, page_used(pg));
        if (page_used(pg) == 0 && t->avail[c]) {
            page_retire(h, t, pg);
        } else {
            pg->state = PG_AVAIL;
            list_append(&t->avail[c], pg);
        }
    }
    if (dups)
        page_count_double(h, dups);
}

/* The current page of class c has no free block: the next page. */
static ak_page *page_next(ak_heap *h, ak_heap_thread *t, unsigned c)
{
    if (!t->avail[c])
        page_scan_full(h, t, c);
    ak_page *pg = t->avail[c];
    if (pg) {
        list_remove(&t->avail[c], pg);
        return pg;
    }
    pg = page_adopt(h, t, c);
    return pg ? pg : page_new(h, t, c);
}

/* The alloc path's slow half, once the current page's other words have
 * no free block (page_alloc_next): its remote frees, then the next page.
 * NULL when there is no memory. */
static __attribute__((noinline)) void *page_alloc_slow(ak_heap *h, ak_heap_thread *t, unsigned c)
{
    ak_page *pg = t->cur[c];
    if (pg != PAGE_NONE) {
        if (page_pending(h, pg)) {
            unsigned dups = page_collect(h, pg);
            if (dups)
                page_count_double(h, dups);
            if (page_seek(pg))
                return page_pop(pg);
        }
        page_set_used(pg, page_cls[c].nblocks); /* its map is all clear */
        page_mark_full(pg);
        list_push(&t->full[c], pg);
        t->cur[c] = PAGE_NONE;
    }
    pg = page_next(h, t, c);
    if (!pg)
        return NULL;
    pg->state = PG_CUR;
    pg->used = PAGE_USED_CUR;
    t->cur[c] = pg;
    /* A fresh page starts at word 0; an adopted one may need a seek. */
    void *p = page_pop(pg);
    return p || !page_seek(pg) ? p : page_pop(pg);
}

/* The owner freed a block of a full page, or emptied a page (neither
 * its current one). A full page that gets room goes to the end of the
 * list of pages with room, which allocation takes from the front: by its
 * turn it has gathered the frees of a round, not the one block that let
 * it out (pushed to the front, it was taken back at once, filled by one
 * allocation and let out again by the next free). On a larson-like churn
 * (5000 blocks of 8-1000 bytes, a random one freed and replaced, 20M
 * times), page_alloc_slow ran for 6% of the allocations instead of 22%,
 * and the run took 0.38 s instead of 0.52 s (mimalloc: 0.20 s). */
static __attribute__((noinline)) void page_owner_note(ak_heap *h, ak_heap_thread *t, ak_page *pg)
{
    unsigned c = pg->cls;
    if (pg->state == PG_FULL) {
        list_remove(&t->full[c], pg);
        page_set_used(pg, page_used(pg));
        if (page_used(pg)) {
            pg->state = PG_AVAIL;
            list_append(&t->avail[c], pg);
            return;
        }
    } else if (pg->state == PG_AVAIL && page_used(pg) == 0) {
        list_remove(&t->avail[c], pg);
    } else {
        /* The current page stays, empty or not; its count, not kept, is
         * set far from 0 again. */
        if (pg->state == PG_CUR)
            pg->used = PAGE_USED_CUR;
        return;
    }
    page_retire(h, t, pg);
}

/* Where the block at u sits in a page whose block 0 is at first, of
 * nblocks blocks with the reciprocal recip: its index in *ip, false if u
 * is not the start of a block. */
static inline bool block_index(uintptr_t u, uintptr_t first, uint32_t recip, uint32_t nblocks,
                               size_t *ip)
{
    /* Below block 0 the offset wraps to at least 2^32 - 2^18, and its
     * index comes out far past the last block: one test covers both. */
    uint32_t off = (uint32_t)(u - first);
    uint64_t prod = (uint64_t)off * recip, i = prod >> 32;
    *ip = (size_t)i;
    /* recip = (2^32 + d) / size with 1 <= d <= size, so for off = q *
     * size + r the product is q * 2^32 + q * d + r * recip. Inside the
     * blocks (q < nblocks), d * (q * size + size) <= size * span <= 2^30
     * (a 64 KiB span's classes are at most 1 KiB) or 2^32 (256 KiB, 16
     * KiB), so the low half is q * d < recip when r = 0, and at least
     * recip, with no carry into the high half, when r > 0. So the low
     * half tells a block start without multiplying back; past the
     * blocks, i >= nblocks whatever it is. */
    return i < nblocks && (uint32_t)prod < recip;
}

/* block_index from the page's descriptor (for its owner: the line its
 * free writes anyway) or from the class record of side-table entry e
 * (for other threads: a line nobody writes, where reading the
 * descriptor's would pull the owner's line away from it). */
static inline bool page_block_index(uintptr_t u, const ak_page *pg, size_t *ip)
{
    return block_index(u, (uintptr_t)pg->first, pg->recip, pg->nblocks, ip);
}

static inline bool class_block_index(uintptr_t u, uintptr_t e, size_t *ip)
{
    const page_class *L = entry_class(e);
    return block_index(u, (u & ~(uintptr_t)L->mask) + L->first, L->recip, L->nblocks, ip);
}

/* A free or realloc of u refused: a block start whose bit says free is a
 * double free, anything else a bad pointer. */
static __attribute__((noinline)) void page_refused(ak_heap *h, uintptr_t u, uintptr_t e)
{
    size_t i;
    if (class_block_index(u, e, &i))
        page_count_double(h, 1);
    else
        page_count_bad(h);
}

/* A free by a thread that does not own the page (or by none: an orphan's,
 * or a thread without state). */
static __attribute__((noinline)) void page_free_remote(ak_heap *h, uintptr_t u, uintptr_t e)
{
    const page_class *L = entry_class(e);
    size_t i;
    if (!class_block_index(u, e, &i)) {
        page_count_bad(h);
        return;
    }
    ak_page *pg = page_of(u, e);
    size_t pi = page_index(h, (uintptr_t)pg);
    uint64_t bit = (uint64_t)1 << (i & 63);
    if (__atomic_load_n(&page_map(pg)[i >> 6], __ATOMIC_RELAXED) & bit) {
        page_count_double(h, 1);
        return;
    }
    if (__atomic_fetch_or(&page_rmap(pg, L)[i >> 6], bit, __ATOMIC_SEQ_CST) & bit) {
        page_count_double(h, 1);
        return;
    }
    if (!__atomic_load_n(&h->page_flag[pi], __ATOMIC_SEQ_CST))
        __atomic_store_n(&h->page_flag[pi], 1, __ATOMIC_SEQ_CST);
}

/* Free a block of a page (e: its side-table entry, nonzero); t is the
 * calling thread's state or NULL. */
static inline void page_free(ak_heap *h, uintptr_t u, const uintptr_t *pair, uintptr_t e,
                             ak_heap_thread *t)
{
    if (LIKELY((e & PAGE_OWNER) == (uintptr_t)t)) { /* entries never name NULL */
        /* t set the pair itself (page_set_entry): no ordering needed */
        ak_page *pg = (ak_page *)pair[1];
        size_t i;
        if (UNLIKELY(!page_block_index(u, pg, &i))) {
            page_count_bad(h);
            return;
        }
        /* The bit tested and set by shifts of m, not through a mask made
         * first: bt and bts on x86. */
        uint64_t *map = page_map(pg) + (i >> 6), m = *map;
        unsigned b = (unsigned)i & 63;
        if (UNLIKELY((m >> b) & 1)) {
            page_count_double(h, 1);
            return;
        }
        __atomic_store_n(map, m | (uint64_t)1 << b, __ATOMIC_RELAXED);
        pg->nonempty |= (uint64_t)1 << (i >> 6);
        /* The next allocation takes from this word: the block just freed
         * or one near it, still in the cache (LIFO-like reuse). */
        pg->cursor = (uint32_t)(i >> 6);
        /* Only a page off the current slot can move: one that had no
         * room (now it has) or that emptied (see PAGE_USED_FULL). */
        if (UNLIKELY((int32_t)--pg->used < 0))
            page_owner_note(h, t, pg);
        return;
    }
    page_free_remote(h, u, e);
}

/* Is u in the reservation's side table? Its index in *pi if so. (An
 * index, not a pointer to the pair: free's fast path would test the
 * pointer for NULL again.) */
static inline bool page_slot(const ak_heap *h, uintptr_t u, size_t *pi)
{
    /* page_spans first (set last, by page_setup): libakmalloc's free
     * comes here before it knows that the heap is ready. */
    size_t n = __atomic_load_n(&h->page_spans, __ATOMIC_ACQUIRE);
    *pi = page_index(h, u);
    return *pi < n;
}

/* The side-table entry of u's span if it is a page, else 0. */
static inline uintptr_t page_entry(const ak_heap *h, uintptr_t u)
{
    size_t pi;
    return page_slot(h, u, &pi) ? __atomic_load_n(&page_pair(h, pi)[0], __ATOMIC_ACQUIRE) : 0;
}

/* Is the block at u of the page with entry e live (handed out, not
 * freed)? Its usable size if so, else 0. */
static size_t page_live_size(uintptr_t u, uintptr_t e)
{
    const page_class *L = entry_class(e);
    size_t i;
    if (!class_block_index(u, e, &i))
        return 0;
    const ak_page *pg = page_of(u, e);
    uint64_t bit = (uint64_t)1 << (i & 63);
    if ((__atomic_load_n(&page_map(pg)[i >> 6], __ATOMIC_RELAXED) |
         __atomic_load_n(&page_rmap(pg, L)[i >> 6], __ATOMIC_RELAXED)) &
        bit)
        return 0;
    return L->size;
}

/* t's pages, their remote frees collected first (t is exiting, gone, or
 * the caller): empty ones and the spares go back to the allocator; the
 * others become orphans, or with keep_nonempty (a flush by t itself) stay
 * t's, sorted onto its lists. */
static void page_drop_thread(ak_heap *h, ak_heap_thread *t, bool keep_nonempty)
{
    unsigned dups = 0;
    for (unsigned c = 0; c < AK_HEAP_PAGE_CLASSES; c++) {
        ak_page *lists[3] = {t->cur[c] != PAGE_NONE ? t->cur[c] : NULL, t->avail[c], t->full[c]};
        if (lists[0])
            lists[0]->next = NULL;
        t->cur[c] = PAGE_NONE;
        t->avail[c] = t->full[c] = NULL;
        for (unsigned k = 0; k < 3; k++) {
            ak_page *next;
            for (ak_page *pg = lists[k]; pg; pg = next) {
                next = pg->next;
                dups += page_recount(h, pg);
                if (page_used(pg) == 0) {
                    page_retire(h, NULL, pg);
                } else if (keep_nonempty) {
                    bool room = page_used(pg) < page_cls[c].nblocks;
                    if (room)
                        pg->state = PG_AVAIL;
                    else
                        page_mark_full(pg);
                    list_push(room ? &t->avail[c] : &t->full[c], pg);
                } else {
                    page_set_entry(h, pg, page_entry_for(pg, PAGE_ORPHANED, c));
                    pg->state = PG_ORPHAN;
                    heap_lock(h);
                    list_push(&h->orphans[c], pg);
                    h->page_orphan_count++;
                    heap_unlock(h);
                }
            }
        }
    }
    for (unsigned k = 0; k < PAGE_KINDS; k++) {
        while (t->spare[k]) {
            ak_page *pg = t->spare[k];
            t->spare[k] = pg->next;
            page_release(h, pg);
        }
        t->nspare[k] = 0;
    }
    if (dups)
        page_count_double(h, dups);
}

/* Orphans that have emptied (every block freed by other threads) go back
 * to the allocator. */
static void page_trim_orphans(ak_heap *h)
{
    if (!h->page_spans)
        return;
    ak_page *empty = NULL;
    unsigned dups = 0;
    heap_lock(h);
    for (unsigned c = 0; c < AK_HEAP_PAGE_CLASSES; c++) {
        ak_page *next;
        for (ak_page *pg = h->orphans[c]; pg; pg = next) {
            next = pg->next;
            dups += page_recount(h, pg);
            if (page_used(pg) == 0) {
                list_remove(&h->orphans[c], pg);
                h->page_orphan_count--;
                page_set_entry(h, pg, 0);
                pg->next = empty;
                empty = pg;
            }
        }
    }
    h->double_frees += dups;
    heap_unlock(h);
    while (empty) {
        ak_page *pg = empty;
        empty = pg->next;
        page_release(h, pg);
    }
}

/* The side table over the reservation, when pages are on. */
static void page_setup(ak_heap *h, const ak_heap_config *cfg)
{
    if (!pages_wanted(h, cfg) || !h->layered || h->fast_id != h->id)
        return;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, page_classes_init);
    uintptr_t first = h->lo >> PAGE_SHIFT, last = (h->hi - 1) >> PAGE_SHIFT;
    size_t n = last - first + 1;
    size_t groups = ((h->hi - 1) >> GROUP_SHIFT) - (h->lo >> GROUP_SHIFT) + 1;
    size_t gofs = (2 * n * sizeof(uintptr_t) + n + 15) & ~(size_t)15;
    size_t bytes = gofs + groups * sizeof(span_group);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED)
        return; /* no pages; everything else works */
    h->page_tab = m;
    h->page_flag = (uint8_t *)m + 2 * n * sizeof(uintptr_t);
    h->page_groups = (uint8_t *)m + gofs;
    h->group_base = h->lo >> GROUP_SHIFT;
    h->page_tab_bytes = bytes;
    h->page_base = first;
    __atomic_store_n(&h->page_spans, n, __ATOMIC_RELEASE); /* see page_entry */
    h->page_lim = AK_HEAP_PAGE_MAX + 1;
}

/* For ak_heap_check: t's pages (t NULL: the orphans) are where their
 * entries say, with counts that add up. Called under the heap lock with
 * no thread inside the heap. */
static const char *page_check_list(const ak_heap *h, const ak_page *pg, uintptr_t owner, unsigned c,
                                   unsigned state)
{
    size_t n = 0;
    const ak_page *first = pg, *last = NULL;
    for (; pg; last = pg, pg = pg->next) {
        const page_class *L = &page_cls[c];
        size_t pi = page_index(h, (uintptr_t)pg);
        if (pg != page_at((uintptr_t)pg & ~(uintptr_t)L->mask) ||
            pi + page_entries(L) > h->page_spans)
            return "heap: a page is not a span of the reservation";
        if (pg->cls != c || pg->state != state)
            return "heap: a page's class or state is wrong";
        for (unsigned k = 0; k < page_entries(L); k++)
            if (page_pair(h, pi + k)[0] != page_entry_for(pg, owner, c) ||
                page_pair(h, pi + k)[1] != (uintptr_t)pg)
                return "heap: a page's side-table entries are wrong";
        if (pg->reach == 0 || pg->reach > L->words || pg->cursor >= pg->reach)
            return "heap: a page's cursor is past its reach";
        if (pg->size != L->size || pg->first != (uint8_t *)page_span(pg) + L->first ||
            pg->recip != L->recip || pg->nblocks != L->nblocks)
            return "heap: a page's layout is not its class's";
        const uint64_t *map = page_map(pg), *rmap = page_rmap(pg, L);
        size_t free_now = 0, waiting = 0;
        for (unsigned w = 0; w < L->words; w++) {
            if ((map[w] | rmap[w]) & ~page_word_blocks(L, w))
                return "heap: a page's map has bits past its last block";
            if (w >= pg->reach && (map[w] != page_word_blocks(L, w) || rmap[w]))
                return "heap: a page has handed out a block past its reach";
            free_now += (size_t)__builtin_popcountll(map[w]);
            waiting += (size_t)__builtin_popcountll(rmap[w] & ~map[w]);
        }
        if ((state == PG_AVAIL || state == PG_FULL) &&
            page_used(pg) + free_now + waiting != L->nblocks)
            return "heap: a page's used count does not match its maps";
        if (state != PG_CUR && page_flagged_full(pg) != (state == PG_FULL))
            return "heap: a page's full mark disagrees with its list";
        if (state == PG_AVAIL && free_now + waiting == 0)
            return "heap: a page on the list with room has none";
        /* A page that empties goes back (page_owner_note), unless it came
         * to the list empty when the list was empty (page_scan_full). */
        if (state == PG_AVAIL && page_used(pg) == 0 && pg != first)
            return "heap: an empty page waits behind others on the list with room";
        if (pg->next && pg->next->prev != pg)
            return "heap: a page list's links disagree";
        if (++n > h->page_spans)
            return "heap: a page list loops";
    }
    if (first && state != PG_CUR && first->prev != last)
        return "heap: a page list's head does not name its tail";
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Allocation                                                          */
/* ------------------------------------------------------------------ */

/* Could u be an allocator block's user pointer: is it 16-aligned (every
 * block is) with its header inside the pool or a committed chunk? Only
 * then may the header be read. A 16-aligned u has all 16 header bytes in
 * one granule, so one bit answers (for a pool, the one word of ones). No
 * lock: a bit is set after its chunk is committed, never cleared while
 * the heap lives, and a pointer into a chunk reaches another thread only
 * through the heap's lock or the program's own synchronisation. */
static inline bool in_backend_range(const ak_heap *h, uintptr_t u)
{
    uintptr_t hd = u - AK_HEAP_HEADER;
    if ((u & (MIN_ALIGN - 1)) || hd - h->lo >= h->span)
        return false;
    uintptr_t g = hd >> h->granule_log2;
    return (__atomic_load_n(chunk_word(h, g), __ATOMIC_RELAXED) >> (g % 64)) & 1;
}

/* A block mapped of its own, marked fresh (its bytes are zero) for
 * calloc; NULL if the mapping failed. */
static void *direct_fresh(ak_heap *h, size_t size, size_t align, bool *fresh)
{
    void *p = direct_alloc(h, size, align);
    if (p && fresh)
        *fresh = true;
    return p;
}

/* The slow half of heap_alloc: blocks outside the classes (large, or
 * aligned beyond 16), and the retry of a class block when the allocator
 * was full. */
static __attribute__((noinline)) void *heap_alloc_slow(ak_heap *h, size_t size, size_t align,
                                                       bool *fresh)
{
    size_t a = align < MIN_ALIGN ? MIN_ALIGN : align;
    size_t total;
    /* At least one byte: a user pointer is inside its allocator block,
     * never at its end (where the next block, or a page, may start). */
    if (size == 0)
        size = 1;
    if (add_overflows(size, a, &total))
        return alloc_failed(h);
    bool direct = false;
    if (a == MIN_ALIGN && size < h->class_limit) {
        unsigned c = class_for(h, size);
        uint8_t *b = block_alloc(h, c, 0, 0);
        if (b) {
            hdr_set(b + MIN_ALIGN, size, 4, c + 1, KIND_CLASS);
            return b + MIN_ALIGN;
        }
    } else {
        direct = h->os && total >= __atomic_load_n(&h->mmap_threshold, __ATOMIC_RELAXED);
        void *p = direct ? direct_fresh(h, size, a, fresh) : NULL;
        if (p)
            return p;
        uint8_t *b = block_alloc(h, AK_MAG_CLASSES, total, a);
        if (b) {
            count_relaxed(&h->slow_allocs);
            hdr_set(b + a, size, log2_size(a), 0, KIND_BACKEND);
            return b + a;
        }
    }
    /* The reservation is full: a mapping of its own may still work (for
     * a class request too, a page's worth). */
    void *p = h->os && !direct ? direct_fresh(h, size, a, fresh) : NULL;
    return p ? p : alloc_failed(h);
}

/* The page path's slow half, then (no memory for a page) the rest. */
static __attribute__((noinline)) void *page_alloc_rest(ak_heap *h, ak_heap_thread *t, unsigned c,
                                                       size_t size, bool *fresh)
{
    void *p = page_alloc_slow(h, t, c);
    return p ? p : heap_alloc_slow(h, size, MIN_ALIGN, fresh);
}

/* The cursor's word is empty: another word of the current page (PAGE_NONE
 * has none), else the rest. Apart, so that the common case saves no
 * registers: on mimalloc-bench's alloc-test 43% of allocations come here,
 * and with the seek inside page_alloc_slow its entry and exit took 20 of
 * its 80 instructions. */
static __attribute__((noinline)) void *page_alloc_next(ak_heap *h, ak_heap_thread *t, size_t size,
                                                       bool *fresh)
{
    /* The class again rather than from the inline path, which would keep
     * it in a register for this call: one instruction on every malloc. */
    unsigned c = page_class_of[(size + 15) >> 4];
    ak_page *pg = t->cur[c];
    if (page_seek(pg)) {
        uint64_t *map = page_map(pg);
        return page_take(pg, map, pg->cursor, map[pg->cursor]);
    }
    return page_alloc_rest(h, t, c, size, fresh);
}

/* A block of size (below page_lim) for t, the calling thread's state:
 * its current page's inline, else the page path's slow half. */
static inline __attribute__((always_inline)) void *page_alloc(ak_heap *h, ak_heap_thread *t,
                                                              size_t size, bool *fresh)
{
    unsigned c = page_class_of[(size + 15) >> 4];
    ak_page *pg = t->cur[c];
    uint64_t *map = page_map(pg);
    uint32_t w = pg->cursor;
    uint64_t m = map[w];
    /* page_pop, with its test of m as the only one (the pointer made
     * from a block is never NULL, but the compiler tested it again) */
    if (LIKELY(m != 0))
        return page_take(pg, map, w, m);
    return page_alloc_next(h, t, size, fresh);
}

/* Allocate `size` bytes aligned to `align` (a power of two). *fresh is set
 * when the memory is known to be zero (a new mapping). Sets errno on
 * failure. The fast path, a leaf: a class block from the loaded magazine
 * of this thread, its class recorded in the header for free; anything
 * else (an empty magazine too) goes to the slow path. */
static inline __attribute__((always_inline)) void *heap_alloc(ak_heap *h, size_t size, size_t align,
                                                              bool *fresh)
{
    if (LIKELY(size < h->page_lim && align <= MIN_ALIGN)) {
        ak_heap_thread *t = thread_fast(h);
        if (LIKELY(t != NULL))
            return page_alloc(h, t, size, fresh);
    }
    if (LIKELY(size < h->class_limit && align <= MIN_ALIGN)) {
        unsigned c = class_for(h, size);
        ak_heap_thread *t = thread_fast(h);
        void *b;
        if (LIKELY(t != NULL) && LIKELY((b = ak_mag_pop_class(&h->mag, &t->mags, c)) != NULL)) {
            void *p = (uint8_t *)b + MIN_ALIGN;
            hdr_set(p, size, 4, c + 1, KIND_CLASS);
            return p;
        }
    }
    return heap_alloc_slow(h, size, align, fresh);
}

void *ak_heap_malloc(ak_heap *h, size_t size)
{
    return heap_alloc(h, size, MIN_ALIGN, NULL);
}

void *ak_heap_calloc(ak_heap *h, size_t n, size_t size)
{
    size_t total;
    if (mul_overflows(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    bool fresh = false;
    void *p = heap_alloc(h, total, MIN_ALIGN, &fresh);
    if (p && !fresh)
        memset(p, 0, total);
    return p;
}

void *ak_heap_memalign(ak_heap *h, size_t align, size_t size)
{
    if (align <= MIN_ALIGN)
        return heap_alloc(h, size, MIN_ALIGN, NULL);
    if (align & (align - 1)) {
        if (align > SIZE_MAX / 2 + 1) {
            errno = EINVAL;
            return NULL;
        }
        align = (size_t)1 << (log2_size(align) + 1);
    }
    return heap_alloc(h, size, align, NULL);
}

void *ak_heap_aligned_alloc(ak_heap *h, size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return heap_alloc(h, size, align, NULL);
}

int ak_heap_posix_memalign(ak_heap *h, void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    int saved = errno;
    void *p = heap_alloc(h, size, align, NULL);
    if (!p) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    return 0;
}

void *ak_heap_valloc(ak_heap *h, size_t size)
{
    return heap_alloc(h, size, h->page, NULL);
}

void *ak_heap_pvalloc(ak_heap *h, size_t size)
{
    size_t r;
    if (add_overflows(size, h->page - 1, &r)) {
        errno = ENOMEM;
        return NULL;
    }
    r &= ~(h->page - 1);
    return heap_alloc(h, r ? r : h->page, h->page, NULL);
}

/* ------------------------------------------------------------------ */
/* Free                                                                */
/* ------------------------------------------------------------------ */

static void direct_free(ak_heap *h, void *p)
{
    blk_hdr *hd = hdr_of(p);
    size_t a = hdr_align(hd);
    size_t len = direct_len(h, a, hd->size);
    munmap((uint8_t *)p - a, len);
}

/* Under the lock, after the block left the set. */
static void direct_forget_locked(ak_heap *h, size_t len)
{
    h->direct_bytes -= len;
    count_relaxed(&h->slow_frees);
    if (!(h->flags & AK_HEAP_FIXED_THRESHOLD) && len >= h->mmap_threshold &&
        len <= DYN_THRESHOLD_MAX)
        __atomic_store_n(&h->mmap_threshold, len + h->page, __ATOMIC_RELAXED);
}

/* Does p, whose header does not check, carry a free tag? Read only when
 * the tag's bytes lie in the pool or a committed chunk too. */
static bool tag_free(const ak_heap *h, const void *p)
{
    if (!in_backend_range(h, (uintptr_t)p + AK_HEAP_HEADER))
        return false;
    free_tag t;
    memcpy(&t, p, sizeof t);
    unsigned kind = (t.info >> 16) & 0xffu;
    return (kind == KIND_CLASS || kind == KIND_BACKEND) &&
           t.check == (hdr_check_word(p, t.info) ^ FREE_FLIP);
}

/* Does p's header hold the allocator's cache mark, where the allocator
 * publishes it: is the block in a magazine? The header is readable. */
static bool hdr_cached(const ak_heap *h, const void *p)
{
    const uintptr_t *key = h->layered ? ak_byte_cache_key(h->backend) : NULL;
    if (!key)
        return false;
    uintptr_t w[2], x = (uintptr_t)hdr_of(p) * *key;
    memcpy(w, hdr_of(p), sizeof w);
    return w[0] == x && w[1] == ~x;
}

/* A pointer in the heap's range whose header is not live, or whose block
 * the allocator refused: count it as a double free (the header or the tag
 * carries the free mark) or a bad pointer. */
static __attribute__((noinline)) void count_not_live(ak_heap *h, const void *ptr)
{
    bool twice = hdr_free(ptr) || hdr_cached(h, ptr) || tag_free(h, ptr);
    heap_lock(h);
    if (twice)
        h->double_frees++;
    else
        h->bad_frees++;
    heap_unlock(h);
}

/* The rest of a class block's header, once its check word and kind have
 * passed: its class, an index into the layer, and its size, below
 * class_limit (at most 64 KiB), as every class block's is. The size test
 * is what makes the header check exact against the allocator's mark,
 * which covers the header of a block in a magazine: a mark is the words
 * x, ~x (core.h, ak_byte_cache_key), and x below 2^16 makes ~x's kind
 * byte 0xff, so a marked header never passes for a live one and a double
 * free is refused whatever the mark. */
static inline bool class_header_ok(const ak_heap *h, const blk_hdr *hd, uint32_t info)
{
    return ((info >> 8) & 0xffu) - 1 < h->nclasses && hd->size < h->class_limit;
}

/* Free a class block whose header checked (info is its info word, and
 * class_header_ok held): the block is marked cached (the mark covers the
 * header's first two words: on 64-bit targets all of it), then the free
 * tag goes into its first user bytes, then the block onto t's magazines
 * (t NULL: the shared state's, under its mutex). The header is the check
 * (see class_header_ok): the layer writes the allocator's mark inline,
 * where the allocator publishes it, else the allocator's cache hook
 * checks the block exactly first. Nothing is written before the block is
 * accepted, so a refusal leaves everything as it was. */
static inline void class_free(ak_heap *h, void *ptr, uint32_t info, unsigned c, ak_heap_thread *t)
{
    void *b = (uint8_t *)ptr - MIN_ALIGN;
    if (LIKELY(ak_mag_marks_inline(&h->mag)))
        ak_mag_take_class_trusted(&h->mag, b);
    else if (UNLIKELY(ak_mag_take_class(&h->mag, c, b) != AK_OK)) {
        count_not_live(h, ptr);
        return;
    }
    free_tag tag = {info, hdr_check_word(ptr, info) ^ FREE_FLIP};
    memcpy(ptr, &tag, sizeof tag);
    /* Where the mark leaves the check word alone (32-bit targets: two
     * 4-byte words), the header says free too. */
    if (offsetof(blk_hdr, check) >= 2 * sizeof(uintptr_t))
        hdr_of(ptr)->check = tag.check;
    if (LIKELY(t != NULL)) {
        ak_mag_put_class(&h->mag, &t->mags, c, b);
        return;
    }
    pthread_mutex_lock(&h->shared_lock);
    ak_mag_put_class(&h->mag, ak_mag_cpu_state(&h->mag, 0), c, b);
    pthread_mutex_unlock(&h->shared_lock);
}

/* Every free but that of a class block by a thread with magazines. */
static __attribute__((noinline)) void heap_free_slow(ak_heap *h, void *ptr)
{
    if (!ptr)
        return;
    uintptr_t u = (uintptr_t)ptr;
    if (in_backend_range(h, u)) {
        blk_hdr *hd = hdr_of(ptr);
        unsigned kind = hdr_kind(hd);
        if (!hdr_valid(ptr) ||
            (kind == KIND_CLASS ? !class_header_ok(h, hd, hd->info) : kind != KIND_BACKEND))
            count_not_live(h, ptr);
        else if (kind == KIND_CLASS)
            class_free(h, ptr, hd->info, hdr_class_plus1(hd) - 1, thread_get(h));
        else
            block_free(h, ptr, hd);
        return;
    }
    heap_lock(h);
    bool direct = set_remove(h, u);
    if (direct)
        direct_forget_locked(h, direct_len(h, hdr_align(hdr_of(ptr)), hdr_of(ptr)->size));
    else
        h->foreign_frees++;
    heap_unlock(h);
    if (direct)
        direct_free(h, ptr);
}

static void heap_free_header(ak_heap *h, void *ptr);

/* Free ptr if it is a block of a page (true), else false with nothing
 * done. Also for libakmalloc's free, which has it inline. */
static inline __attribute__((always_inline)) bool heap_page_free(ak_heap *h, void *ptr)
{
    uintptr_t u = (uintptr_t)ptr;
    size_t pi;
    if (UNLIKELY(!page_slot(h, u, &pi)))
        return false;
    const uintptr_t *pair = page_pair(h, pi);
    uintptr_t e = __atomic_load_n(&pair[0], __ATOMIC_ACQUIRE);
    if (UNLIKELY(e == 0))
        return false;
    /* The first slot's state without the test that it is this heap's: an
     * entry names a state of this heap, and no other heap's state can be
     * equal to it (pages exist only where fast_id is id). */
    page_free(h, u, pair, e, tls_slots[0].t);
    return true;
}

/* A block of a page, found by address; anything else goes to
 * heap_free_header. */
void ak_heap_free(ak_heap *h, void *ptr)
{
    if (LIKELY(heap_page_free(h, ptr)))
        return;
    heap_free_header(h, ptr);
}

/* ak_heap_free of a block that is not in a page: the fast path of a live
 * class block (header, kind, class and size checked) by a thread whose
 * magazines are in the first slot, over an allocator whose mark the layer
 * writes inline (class_free written out for that case); the rest. */
static __attribute__((noinline)) void heap_free_header(ak_heap *h, void *ptr)
{
    uintptr_t u = (uintptr_t)ptr;
    if (LIKELY(in_backend_range(h, u))) {
        blk_hdr *hd = hdr_of(ptr);
        uint32_t info = hd->info, check = hd->check;
        ak_heap_thread *t = thread_fast(h);
        if (LIKELY(check == hdr_check_word(ptr, info) && info >> 16 == KIND_CLASS &&
                   class_header_ok(h, hd, info) && t != NULL)) {
            unsigned c = ((info >> 8) & 0xffu) - 1;
            void *b = (uint8_t *)ptr - MIN_ALIGN;
            /* Inline, so it cannot refuse; the mark it writes over the
             * header is what a second free finds (hdr_cached): no free
             * tag is needed. */
            ak_mag_take_class_trusted(&h->mag, b);
            if (offsetof(blk_hdr, check) >= 2 * sizeof(uintptr_t))
                hd->check = check ^ FREE_FLIP;
            ak_mag_put_class(&h->mag, &t->mags, c, b);
            return;
        }
    }
    heap_free_slow(h, ptr);
}

/* ------------------------------------------------------------------ */
/* realloc and usable size                                             */
/* ------------------------------------------------------------------ */

/* The bytes the program may use in a live allocator block outside the
 * classes: what malloc_usable_size reports. */
static size_t backend_usable(ak_heap *h, const void *ptr)
{
    const blk_hdr *hd = hdr_of(ptr);
    size_t a = hdr_align(hd), us;
    const uint8_t *b = (const uint8_t *)ptr - a;
    if (h->layered) {
        us = ak_mag_usable_size(&h->mag, b, a + hd->size, a);
    } else {
        heap_lock(h);
        us = ak_byte_usable_size(h->backend, b, a + hd->size, a);
        heap_unlock(h);
    }
    return us >= a + hd->size ? us - a : hd->size;
}

/* Resize an allocator block outside the classes in place. */
static ak_error block_resize(ak_heap *h, void *b, size_t old_total, size_t align, size_t total)
{
    if (h->layered)
        return ak_mag_resize(&h->mag, b, old_total, align, total);
    heap_lock(h);
    ak_error e = ak_byte_resize(h->backend, b, old_total, align, total);
    if (e == AK_OK)
        note_backend_peak(h);
    heap_unlock(h);
    return e;
}

static void count_realloc(ak_heap *h, bool in_place)
{
    count_relaxed(in_place ? &h->realloc_in_place : &h->realloc_moved);
}

/* Move a block: `keep` is its usable size, so every byte the program was
 * allowed to write survives, up to the new size. */
static void *realloc_move(ak_heap *h, void *ptr, size_t keep, size_t size)
{
    void *q = heap_alloc(h, size, MIN_ALIGN, NULL);
    if (!q)
        return NULL;
    memcpy(q, ptr, keep < size ? keep : size);
    ak_heap_free(h, ptr);
    count_realloc(h, false);
    return q;
}
/* realloc of a block with a fixed usable size (a class block, a page
 * block): it stays unless that would waste three quarters of it. */
static void *realloc_sized(ak_heap *h, void *ptr, size_t usable, size_t size)
{
    if (size <= usable && (size >= usable / 4 || usable - size < 256)) {
        count_realloc(h, true);
        return ptr;
    }
    void *q = realloc_move(h, ptr, usable, size);
    return q || size > usable ? q : ptr; /* a failed shrink keeps the block */
}

static void *realloc_direct(ak_heap *h, void *ptr, size_t size)
{
    blk_hdr *hd = hdr_of(ptr);
    size_t a = hdr_align(hd);
    size_t old = hd->size;
    size_t old_len = direct_len(h, a, old);
    size_t total;
    if (add_overflows(size, a, &total) || total > SIZE_MAX - h->page) {
        errno = ENOMEM;
        return NULL;
    }
    size_t new_len = direct_len(h, a, size);
    if (total < __atomic_load_n(&h->mmap_threshold, __ATOMIC_RELAXED) / 2)
        return realloc_move(h, ptr, old_len - a, size); /* small now: back to the allocator */
    uint8_t *base = (uint8_t *)ptr - a;
    if (new_len <= old_len) {
        if (new_len < old_len)
            munmap(base + new_len, old_len - new_len);
        hdr_set(ptr, size, log2_size(a), 0, KIND_DIRECT);
        heap_lock(h);
        h->direct_bytes -= old_len - new_len;
        count_relaxed(&h->realloc_in_place);
        heap_unlock(h);
        return ptr;
    }
#ifdef MREMAP_MAYMOVE
    if (a <= h->page) {
        void *m = mremap(base, old_len, new_len, MREMAP_MAYMOVE);
        if (m != MAP_FAILED) {
            uint8_t *q = (uint8_t *)m + a;
            hdr_set(q, size, log2_size(a), 0, KIND_DIRECT);
            heap_lock(h);
            set_remove(h, (uintptr_t)ptr);
            /* If the set cannot grow the block stays usable but is
             * forgotten: free then leaks it rather than crash. */
            if (set_insert(h, (uintptr_t)q))
                h->direct_bytes += new_len - old_len;
            else
                h->direct_bytes -= old_len;
            if (h->direct_bytes > h->peak_direct_bytes)
                h->peak_direct_bytes = h->direct_bytes;
            count_realloc(h, q == (uint8_t *)ptr);
            heap_unlock(h);
            return q;
        }
    }
#endif
    return realloc_move(h, ptr, old_len - a, size);
}

/* realloc of a pointer that is not a live block: refused, counted. */
static void *realloc_refused(ak_heap *h, const void *ptr, bool in_range)
{
    if (in_range) {
        count_not_live(h, ptr);
    } else {
        heap_lock(h);
        h->foreign_frees++;
        heap_unlock(h);
    }
    errno = EINVAL;
    return NULL;
}

void *ak_heap_realloc(ak_heap *h, void *ptr, size_t size)
{
    if (!ptr)
        return heap_alloc(h, size, MIN_ALIGN, NULL);
    if (size == 0) {
        ak_heap_free(h, ptr);
        return NULL;
    }
    uintptr_t u = (uintptr_t)ptr;
    uintptr_t e = page_entry(h, u);
    if (e) {
        size_t usable = page_live_size(u, e);
        if (!usable) {
            page_refused(h, u, e);
            errno = EINVAL;
            return NULL;
        }
        return realloc_sized(h, ptr, usable, size);
    }
    if (!in_backend_range(h, u)) {
        heap_lock(h);
        bool direct = set_find(h, u) != SIZE_MAX;
        heap_unlock(h);
        if (direct)
            return realloc_direct(h, ptr, size);
        /* Not ours. Its size is unknown and there is no cheap, portable
         * way to tell how much of it is readable, so nothing is copied. */
        return realloc_refused(h, ptr, false);
    }
    blk_hdr *hd = hdr_of(ptr);
    unsigned kind = hdr_kind(hd);
    if (!hdr_valid(ptr) || (kind != KIND_CLASS && kind != KIND_BACKEND))
        return realloc_refused(h, ptr, true);
    if (kind == KIND_CLASS)
        return realloc_sized(h, ptr, class_usable(h, hd), size);
    size_t a = hdr_align(hd);
    size_t old = hd->size;
    uint8_t *b = (uint8_t *)ptr - a;
    if (size <= old && (size >= old / 4 || old - size < 256)) {
        /* Shrinking by little: in place, the tail given back if the
         * allocator can; by much, the block moves to a smaller one. */
        if (size < old && block_resize(h, b, a + old, a, a + size) == AK_OK)
            hdr_set(ptr, size, log2_size(a), 0, KIND_BACKEND);
        count_realloc(h, true);
        return ptr;
    }
    size_t total;
    if (add_overflows(size, a, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t usable = backend_usable(h, ptr);
    if (block_resize(h, b, a + old, a, total) == AK_OK) {
        hdr_set(ptr, size, log2_size(a), 0, KIND_BACKEND);
        count_realloc(h, true);
        return ptr;
    }
    return realloc_move(h, ptr, usable, size);
}

void *ak_heap_reallocarray(ak_heap *h, void *ptr, size_t n, size_t size)
{
    size_t total;
    if (mul_overflows(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return ak_heap_realloc(h, ptr, total);
}

size_t ak_heap_malloc_usable_size(ak_heap *h, const void *ptr)
{
    if (!ptr)
        return 0;
    uintptr_t u = (uintptr_t)ptr;
    uintptr_t e = page_entry(h, u);
    if (e)
        return page_live_size(u, e);
    if (in_backend_range(h, u)) {
        const blk_hdr *hd = hdr_of(ptr);
        if (!hdr_valid(ptr))
            return 0;
        if (hdr_kind(hd) == KIND_CLASS)
            return class_usable(h, hd);
        return hdr_kind(hd) == KIND_BACKEND ? backend_usable(h, ptr) : 0;
    }
    heap_lock(h);
    bool direct = set_find(h, u) != SIZE_MAX;
    heap_unlock(h);
    if (!direct)
        return 0;
    const blk_hdr *hd = hdr_of(ptr);
    size_t a = hdr_align(hd);
    return direct_len(h, a, hd->size) - a;
}

bool ak_heap_owns(ak_heap *h, const void *ptr)
{
    uintptr_t u = (uintptr_t)ptr;
    if (!ptr)
        return false;
    uintptr_t e = page_entry(h, u);
    if (e)
        return page_live_size(u, e) != 0;
    if (in_backend_range(h, u)) {
        unsigned kind = hdr_kind(hdr_of(ptr));
        return hdr_valid(ptr) && (kind == KIND_CLASS || kind == KIND_BACKEND);
    }
    heap_lock(h);
    bool direct = set_find(h, u) != SIZE_MAX;
    heap_unlock(h);
    return direct;
}

/* ------------------------------------------------------------------ */
/* Set-up and tear-down                                                */
/* ------------------------------------------------------------------ */

/* Choose the class shift once, before any class block exists. Classes
 * are multiples of 16, and so, with the 16-byte header, would be the
 * requests. An allocator that keeps its own 8-byte header in a 16-byte
 * granule (TLSF) then rounds every such request up by 8 bytes it could
 * have given us: asking the layer for classes 8 bytes smaller (its
 * class_shift) costs nothing there and saves 16 bytes on half the
 * requests. The probe asks for one 32-byte block and looks at the usable
 * size; the choice affects only the footprint, never correctness. */
static size_t class_shift_probe(ak_heap *h)
{
    void *p;
    if (ak_byte_alloc(h->backend, 2 * MIN_ALIGN, MIN_ALIGN, &p) != AK_OK)
        return 0;
    size_t shift =
        ak_byte_usable_size(h->backend, p, 2 * MIN_ALIGN, MIN_ALIGN) >= 2 * MIN_ALIGN + 8;
    ak_byte_dealloc(h->backend, p, 2 * MIN_ALIGN, MIN_ALIGN);
    return shift * 8;
}

/* The magazine layer in front of the allocator, when it has the cache
 * hooks and the caller wants caching. Requests of at most cache_max user
 * bytes are cached: the class of the largest (header and shift included)
 * sets the real limit. */
static ak_error cache_setup(ak_heap *h, const ak_heap_config *cfg)
{
    h->layered = !(cfg->flags & AK_HEAP_NO_THREAD_CACHE) && ak_byte_can_cache(h->backend);
    if (!h->layered)
        return AK_OK;
    h->class_shift = class_shift_probe(h);
    const size_t over = MIN_ALIGN + h->class_shift; /* class size - user bytes */
    size_t max = cfg->cache_max ? cfg->cache_max : AK_HEAP_SMALL_MAX;
    if (max > AK_MAG_MAX_CLASS_SIZE - over)
        max = AK_MAG_MAX_CLASS_SIZE - over;
    unsigned top = ak_sc_index(max + over);
    ak_mag_config mc = {
        .backend = h->backend,
        .rounds = CACHE_ROUNDS,
        .magazine_bytes = pages_wanted(h, cfg) ? CACHE_MAGAZINE_BYTES_PAGED : CACHE_MAGAZINE_BYTES,
        .miss_batch = CACHE_ROUNDS / 2,
        .reap_period = CACHE_REAP_PERIOD,
        .max_size = ak_sc_size(top) - h->class_shift,
        .class_shift = h->class_shift,
        .max_align = MIN_ALIGN,
        .limit_bytes = cfg->cache_limit ? cfg->cache_limit : DEFAULT_CACHE_LIMIT,
        .lock = layer_lock,
        .unlock = layer_unlock,
        .lock_ctx = h,
        .grow = layer_grow,
        .grow_ctx = h,
        /* Short: only pressure that comes back at once (a release every
         * few misses) grows the heap. On mimalloc-bench the geometric mean
         * of max RSS was 10.0 MiB without the hook, 10.25 with a window
         * of 1024 and 10.17 with 64. */
        .grow_window = 64,
    };
    ak_error e = ak_mag_init(&h->mag, &mc);
    if (e != AK_OK)
        return e;
    /* The heap's classes are the layer's: every class up to top, cached
     * with align 16. */
    h->nclasses = top + 1;
    for (unsigned c = 0; c < h->nclasses; c++)
        if (ak_mag_class_of(&h->mag, ak_sc_size(c) - h->class_shift, MIN_ALIGN) != c)
            return AK_ERR_INVALID_PARAM;
    h->class_limit = ak_sc_size(top) - over + 1;
    h->class_bias = over + 15;
    for (size_t i = 0; i * 16 <= ak_sc_size(top); i++) {
        /* The largest request with index i, if any maps there. */
        size_t n = i * 16 + 15 - h->class_bias;
        if (i * 16 + 15 >= h->class_bias)
            h->class_of[i] = (uint8_t)class_compute(h, n < h->class_limit ? n : h->class_limit - 1);
    }
    return AK_OK;
}

ak_error ak_heap_init(ak_heap *h, const ak_heap_config *cfg)
{
    if (!h || !cfg || !cfg->backend.ops || !cfg->backend.self)
        return AK_ERR_INVALID_PARAM;
    memset(h, 0, sizeof *h);
    long pg = sysconf(_SC_PAGESIZE);
    h->page = pg > 0 ? (size_t)pg : 4096;
    h->backend = cfg->backend;
    h->flags = cfg->flags;
    h->id = __atomic_add_fetch(&next_heap_id, 1, __ATOMIC_RELAXED);
    if (cfg->pool) {
        uintptr_t start = (uintptr_t)cfg->pool, end;
        if (cfg->pool_size == 0 || __builtin_add_overflow(start, cfg->pool_size, &end))
            return AK_ERR_INVALID_PARAM;
        ak_error e = ak_byte_init(h->backend, start, cfg->pool_size);
        if (e != AK_OK)
            return e;
        h->backend_has_memory = true;
        h->lo = start;
        h->hi = h->brk = end;
        h->span = end - start;
        h->mmap_threshold = SIZE_MAX;
        pool_map_set(h);
    } else {
        h->os = true;
        size_t chunk = cfg->chunk_size ? cfg->chunk_size : DEFAULT_CHUNK;
        size_t cmax = cfg->chunk_max ? cfg->chunk_max : DEFAULT_CHUNK_MAX;
        if (chunk & (chunk - 1) || cmax & (cmax - 1) || chunk < h->page || cmax < chunk)
            return AK_ERR_INVALID_PARAM;
        h->next_chunk = chunk;
        h->chunk_max = cmax;
        h->mmap_threshold = cfg->mmap_threshold ? cfg->mmap_threshold : DEFAULT_THRESHOLD;
        if (!os_reserve(h, cfg->reserve ? cfg->reserve : DEFAULT_RESERVE))
            return AK_ERR_NO_MEMORY;
        h->group_floor = h->hi;
        uintptr_t al = cmax < h->hi - h->lo ? cmax : h->page;
        h->brk = (h->lo + al - 1) & ~(uintptr_t)(al - 1);
        /* The first chunk now, so that the allocator is set up before the
         * layer and the threads reach it. */
        if (!chunk_map_create(h, chunk) || !os_grow(h, MIN_ALIGN, MIN_ALIGN)) {
            if (h->chunk_map)
                munmap(h->chunk_map, h->chunk_map_bytes);
            munmap((void *)h->lo, h->hi - h->lo);
            return AK_ERR_NO_MEMORY;
        }
    }
    ak_error e = cache_setup(h, cfg);
    bool locks = e == AK_OK && heap_lock_init(&h->lock) == 0;
    if (locks && pthread_mutex_init(&h->shared_lock, NULL) != 0) {
        pthread_mutex_destroy(&h->lock);
        locks = false;
    }
    if (!locks) {
        if (h->os) {
            munmap(h->chunk_map, h->chunk_map_bytes);
            munmap((void *)h->lo, h->hi - h->lo);
        }
        return e != AK_OK ? e : AK_ERR_NO_MEMORY;
    }
    if (h->layered)
        h->key_ok = pthread_key_create(&h->key, thread_exit) == 0;
    h->fast_id = h->layered && ak_mag_marks_inline(&h->mag) ? h->id : UINT64_MAX;
    page_setup(h, cfg);
    pthread_mutex_lock(&heaps_lock);
    h->next_heap = heaps;
    heaps = h;
    pthread_mutex_unlock(&heaps_lock);
    pthread_once(&atfork_once, atfork_register);
    return AK_OK;
}

void ak_heap_destroy(ak_heap *h)
{
    pthread_mutex_lock(&heaps_lock);
    for (ak_heap **pp = &heaps; *pp; pp = &(*pp)->next_heap)
        if (*pp == h) {
            *pp = h->next_heap;
            break;
        }
    pthread_mutex_unlock(&heaps_lock);
    if (h->key_ok)
        pthread_key_delete(h->key);
    for (unsigned i = 0; i < AK_HEAP_TLS_SLOTS; i++)
        if (tls_slots[i].heap_id == h->id)
            tls_slots[i].heap_id = 0, tls_slots[i].t = NULL;
    heap_lock(h);
    for (size_t i = 0; i < h->direct_cap; i++) {
        uintptr_t k = h->direct_tab[i];
        if (k != SET_EMPTY && k != SET_TOMB)
            direct_free(h, (void *)k);
    }
    if (h->direct_tab)
        munmap(h->direct_tab, h->direct_cap * sizeof(uintptr_t));
    if (h->os) {
        munmap(h->chunk_map, h->chunk_map_bytes);
        munmap((void *)h->lo, h->hi - h->lo);
    }
    if (h->page_tab)
        munmap(h->page_tab, h->page_tab_bytes);
    heap_unlock(h);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->shared_lock);
    memset(h, 0, sizeof *h);
}

void ak_heap_flush_thread_cache(ak_heap *h)
{
    if (!h->layered)
        return;
    for (unsigned i = 0; i < AK_HEAP_TLS_SLOTS; i++) {
        ak_heap_thread *t = tls_slots[i].t;
        if (tls_slots[i].heap_id == h->id && t) {
            if (h->page_spans)
                page_drop_thread(h, t, true);
            ak_mag_flush_on(&h->mag, &t->mags);
            heap_lock(h);
            h->flushes++;
            heap_unlock(h);
        }
    }
    cache_trim(h);
}

/* ------------------------------------------------------------------ */
/* Statistics and checks                                               */
/* ------------------------------------------------------------------ */

void ak_heap_stats_get(ak_heap *h, ak_heap_stats *s)
{
    memset(s, 0, sizeof *s);
    ak_mag_stats_t ms;
    memset(&ms, 0, sizeof ms);
    if (h->layered)
        ak_mag_stats(&h->mag, &ms); /* takes the heap lock itself */
    heap_lock(h);
    s->backend = ak_byte_name(h->backend);
    s->backend_total = h->backend_has_memory ? ak_byte_total_bytes(h->backend) : 0;
    s->backend_used = h->backend_has_memory ? ak_byte_used_bytes(h->backend) : 0;
    s->peak_backend_used = h->peak_backend_used;
    s->committed = h->committed + h->group_bytes;
    s->direct_blocks = h->direct_live;
    s->direct_bytes = h->direct_bytes;
    s->peak_direct_bytes = h->peak_direct_bytes;
    s->mmap_threshold = h->mmap_threshold;
    s->caching = h->layered;
    s->cache_max = h->class_limit ? h->class_limit - 1 : 0;
    s->cache_limit = ms.limit_bytes;
    for (ak_heap_thread *t = h->threads; t; t = t->next)
        s->thread_caches++;
    s->cached_bytes = ms.cached_bytes;
    s->depot_bytes = ms.depot_bytes;
    s->magazine_bytes = ms.magazine_bytes;
    s->cache_allocs = ms.alloc_hits;
    s->cache_frees = ms.free_hits;
    s->cache_misses = ms.alloc_misses;
    s->cache_free_misses = ms.free_misses;
    s->exchanges = ms.exchanges;
    s->releases = ms.releases;
    s->reaped = ms.reaped;
    s->flushes = h->flushes;
    s->trims = h->trims;
    s->lock_takes = h->lock_takes;
    s->slow_allocs = __atomic_load_n(&h->slow_allocs, __ATOMIC_RELAXED);
    s->slow_frees = __atomic_load_n(&h->slow_frees, __ATOMIC_RELAXED);
    s->direct_allocs = h->direct_allocs;
    s->realloc_in_place = __atomic_load_n(&h->realloc_in_place, __ATOMIC_RELAXED);
    s->realloc_moved = __atomic_load_n(&h->realloc_moved, __ATOMIC_RELAXED);
    s->failed = h->failed;
    s->foreign_frees = h->foreign_frees;
    s->bad_frees = h->bad_frees;
    s->double_frees = h->double_frees;
    s->paging = h->page_spans != 0;
    s->pages =
        __atomic_load_n(&h->pages_held[0], __ATOMIC_RELAXED) +
        (__atomic_load_n(&h->pages_held[1], __ATOMIC_RELAXED) << (PAGE_BIG_SHIFT - PAGE_SHIFT));
    s->page_orphans = h->page_orphan_count;
    s->page_groups = h->group_n;
    s->page_groups_idle = h->group_idle_n;
    s->page_group_bytes = h->group_bytes;
    heap_unlock(h);
}

/* A little text buffer for write_stats: no stdio, no allocation. */
typedef struct text {
    char buf[2048];
    size_t len;
} text;

static void text_str(text *t, const char *s)
{
    while (*s && t->len < sizeof t->buf)
        t->buf[t->len++] = *s++;
}

static void text_u64(text *t, uint64_t v)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && t->len < sizeof t->buf)
        t->buf[t->len++] = d[--n];
}

static void text_field(text *t, const char *name, uint64_t v)
{
    text_str(t, " ");
    text_str(t, name);
    text_str(t, "=");
    text_u64(t, v);
}

void ak_heap_write_stats(ak_heap *h, int fd)
{
    ak_heap_stats s;
    ak_heap_stats_get(h, &s);
    text t = {.len = 0};
    text_str(&t, "akmalloc stats: backend=");
    text_str(&t, s.backend);
    text_field(&t, "backend_total", s.backend_total);
    text_field(&t, "backend_used", s.backend_used);
    text_field(&t, "peak_backend_used", s.peak_backend_used);
    text_field(&t, "committed", s.committed);
    text_str(&t, "\nakmalloc stats:");
    text_field(&t, "direct_blocks", s.direct_blocks);
    text_field(&t, "direct_bytes", s.direct_bytes);
    text_field(&t, "peak_direct_bytes", s.peak_direct_bytes);
    text_field(&t, "direct_allocs", s.direct_allocs);
    text_field(&t, "mmap_threshold", s.mmap_threshold);
    text_str(&t, "\nakmalloc stats:");
    text_field(&t, "caching", s.caching);
    text_field(&t, "cache_max", s.cache_max);
    text_field(&t, "cache_limit", s.cache_limit);
    text_field(&t, "thread_caches", s.thread_caches);
    text_field(&t, "cached_bytes", s.cached_bytes);
    text_field(&t, "depot_bytes", s.depot_bytes);
    text_field(&t, "magazine_bytes", s.magazine_bytes);
    text_field(&t, "paging", s.paging);
    text_field(&t, "pages", s.pages);
    text_field(&t, "page_orphans", s.page_orphans);
    text_field(&t, "page_groups", s.page_groups);
    text_field(&t, "page_groups_idle", s.page_groups_idle);
    text_field(&t, "page_group_bytes", s.page_group_bytes);
    text_str(&t, "\nakmalloc stats:");
    text_field(&t, "cache_allocs", s.cache_allocs);
    text_field(&t, "cache_frees", s.cache_frees);
    text_field(&t, "cache_misses", s.cache_misses);
    text_field(&t, "cache_free_misses", s.cache_free_misses);
    text_field(&t, "exchanges", s.exchanges);
    text_field(&t, "releases", s.releases);
    text_field(&t, "reaped", s.reaped);
    text_field(&t, "flushes", s.flushes);
    text_field(&t, "trims", s.trims);
    text_field(&t, "lock_takes", s.lock_takes);
    text_str(&t, "\nakmalloc stats:");
    text_field(&t, "slow_allocs", s.slow_allocs);
    text_field(&t, "slow_frees", s.slow_frees);
    text_field(&t, "realloc_in_place", s.realloc_in_place);
    text_field(&t, "realloc_moved", s.realloc_moved);
    text_field(&t, "failed", s.failed);
    text_field(&t, "foreign_frees", s.foreign_frees);
    text_field(&t, "bad_frees", s.bad_frees);
    text_field(&t, "double_frees", s.double_frees);
    text_str(&t, "\n");
    size_t off = 0;
    while (off < t.len) {
        ssize_t w = write(fd, t.buf + off, t.len - off);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            break;
        }
        off += (size_t)w;
    }
}

const char *ak_heap_check(ak_heap *h)
{
    /* The layer's checker walks every thread's magazines and the depot,
     * and ends with the allocator's own check. */
    const char *why = h->layered ? ak_mag_check(&h->mag) : NULL;
    heap_lock(h);
    if (!why && !h->layered && h->backend_has_memory)
        why = ak_byte_check(h->backend);
    size_t n = 0;
    for (ak_heap_thread *t = h->threads; !why && t; t = t->next) {
        if (t->heap != h || t->mags.owner != &h->mag || (t->next && t->next->prev != t))
            why = "heap: a thread's magazines are not attached to the heap";
        else if (++n > (size_t)1 << 24)
            why = "heap: the list of threads loops";
    }
    for (ak_heap_thread *t = h->threads; !why && h->page_spans && t; t = t->next)
        for (unsigned c = 0; !why && c < AK_HEAP_PAGE_CLASSES; c++) {
            if (t->cur[c] != PAGE_NONE) {
                if (t->cur[c]->next || t->cur[c]->prev)
                    why = "heap: a current page is on a list";
                else
                    why = page_check_list(h, t->cur[c], (uintptr_t)t, c, PG_CUR);
            }
            if (!why)
                why = page_check_list(h, t->avail[c], (uintptr_t)t, c, PG_AVAIL);
            if (!why)
                why = page_check_list(h, t->full[c], (uintptr_t)t, c, PG_FULL);
        }
    for (unsigned c = 0; !why && h->page_spans && c < AK_HEAP_PAGE_CLASSES; c++)
        why = page_check_list(h, h->orphans[c], PAGE_ORPHANED, c, PG_ORPHAN);
    size_t listed = 0;
    for (unsigned k = 0; !why && k < PAGE_KINDS; k++) {
        n = 0;
        for (const ak_page *pg = h->span_pool[k]; !why && pg; pg = pg->next) {
            /* The span's last class indexes the class records only in range. */
            bool ok = pg->cls < AK_HEAP_PAGE_CLASSES;
            const page_class *L = &page_cls[ok ? pg->cls : 0];
            size_t pi = page_index(h, (uintptr_t)pg);
            ok = ok && L->kind == k && pg == page_at((uintptr_t)pg & ~(uintptr_t)L->mask) &&
                 pi + page_entries(L) <= h->page_spans;
            for (unsigned j = 0; ok && j < page_entries(L); j++)
                ok = page_pair(h, pi + j)[0] == 0 && page_pair(h, pi + j)[1] == 0;
            if (!ok)
                why = "heap: a pooled span is not a free span of the reservation";
            else if (++n > h->span_pool_n[k])
                why = "heap: the span pool holds more than its count";
        }
        if (!why && n != h->span_pool_n[k])
            why = "heap: the span pool holds fewer than its count";
        n = 0;
        uint32_t prev = 0;
        for (uint32_t gn = h->group_avail[k]; !why && gn; prev = gn, gn = group_rec(h, gn)->next) {
            const span_group *g = group_rec(h, gn);
            if (g->kind != k || g->free == 0 || g->free == group_all(k) ||
                (g->free & ~group_all(k)))
                why = "heap: a span group on the list has no free span, or all, or another kind";
            else if (g->prev != prev)
                why = "heap: a span group list's links disagree";
            else if (++n > h->page_spans)
                why = "heap: a span group list loops";
            else if (!g->own && h->os && group_addr(h, gn) >= h->group_floor)
                why = "heap: a span group among the committed ones is marked the allocator's";
        }
        listed += n;
    }
    if (!why && listed > h->group_n)
        why = "heap: more span groups on the lists than in use";
    n = 0;
    for (uint32_t gn = h->group_idle; !why && gn; gn = group_rec(h, gn)->next) {
        const span_group *g = group_rec(h, gn);
        uintptr_t a = group_addr(h, gn);
        if (!g->own || g->free || !h->os || a < h->group_floor || a + GROUP_BYTES > h->hi)
            why = "heap: an idle span group has spans, or is not one the heap committed";
        else if (++n > h->group_idle_n)
            why = "heap: the idle span groups outnumber their count, or loop";
    }
    if (!why && n != h->group_idle_n)
        why = "heap: the idle span groups are fewer than their count";
    for (size_t i = 0; !why && i < h->direct_cap; i++) {
        uintptr_t k = h->direct_tab[i];
        if (k != SET_EMPTY && k != SET_TOMB &&
            (!hdr_valid((void *)k) || hdr_kind(hdr_of((void *)k)) != KIND_DIRECT))
            why = "heap: direct block with a bad header";
    }
    heap_unlock(h);
    return why;
}
