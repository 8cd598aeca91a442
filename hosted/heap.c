/* ak_heap: the malloc family over an allockit byte allocator (hosted).
 *
 * Layout of a block: [allocator block ... | header (16 B) | user bytes].
 * The allocator is asked for A + size bytes aligned to A, where A =
 * max(16, requested alignment); the user pointer is block + A and the
 * header sits in the 16 bytes just below it. The header records the size
 * the allocator was asked for (so free can pass it back, as the byte
 * interface requires), log2(A), the size class, the kind (allocator block
 * or direct mapping) and a check word that catches most wild frees. The
 * check word has a second value for a freed block (in a thread cache or
 * given back to the allocator), so a double free is seen and ignored.
 * Only headers inside memory the heap mapped itself are read: the pool,
 * the committed chunks (a bitmap over the reservation says which parts
 * those are) or a directly mapped block found in its hash set.
 *
 * Small blocks (<= 1024 B, alignment <= 16) use 20 size classes. Each
 * thread keeps per-class singly linked lists of free blocks (the link is in
 * the user bytes); an empty list is refilled with a batch under one lock
 * acquisition, an overfull one gives half back the same way. So a thread
 * churning small objects takes the lock about once per batch/2 operations.
 *
 * Costs: malloc/free of a small block with a warm cache: O(1), no lock, no
 * atomic read-modify-write. Otherwise: the allocator's cost under the heap
 * mutex, plus an mprotect when a new chunk is committed (O(log of the heap
 * size) times in the heap's life, chunks doubling) or an mmap/munmap for a
 * direct block. Direct blocks are tracked in an open-addressing hash set:
 * O(1) expected per lookup. Telling a pointer into a chunk from one into
 * an uncommitted hole of the reservation: one bit test, no lock.
 */
#define _GNU_SOURCE 1
#include <allockit/heap.h>

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Constants                                                           */
/* ------------------------------------------------------------------ */

#define MIN_ALIGN             ((size_t)AK_HEAP_HEADER)
#define KIND_BACKEND          1u
#define KIND_DIRECT           2u
#define CHECK_MAGIC           0xa110c8edu
#define FREE_FLIP             0x5eedf4eeu /* check word ^ this: the block is free */
#define DEFAULT_CHUNK         ((size_t)1 << 20)
#define DEFAULT_THRESHOLD     ((size_t)256 << 10)
#define DYN_THRESHOLD_MAX     ((size_t)32 << 20)
#define CACHE_BYTES_PER_CLASS 16384u /* a class's list holds about this much */
#define CACHE_MIN_COUNT       8u
#define CACHE_MAX_COUNT       64u

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

/* Thread-local storage in a library that may be LD_PRELOADed must not go
 * through __tls_get_addr, which can call malloc on first use. */
#if defined(__GNUC__)
#define TLS_IE __attribute__((tls_model("initial-exec")))
#else
#define TLS_IE
#endif

/* Class sizes: 16..128 by 16, then four steps per power of two. */
static const uint16_t class_size[AK_HEAP_CLASSES] = {
    16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024,
};

/* ------------------------------------------------------------------ */
/* Block header                                                        */
/* ------------------------------------------------------------------ */

typedef struct blk_hdr {
    size_t size; /* user size; for class blocks the class size */
#if SIZE_MAX <= 0xffffffffu
    uint32_t pad;
#endif
    uint32_t info;  /* log2(A) | (class + 1) << 8 | kind << 16 */
    uint32_t check; /* CHECK_MAGIC ^ info ^ address bits; ^ FREE_FLIP when free */
} blk_hdr;

_Static_assert(sizeof(blk_hdr) == AK_HEAP_HEADER, "the header fills exactly 16 bytes");
_Static_assert(AK_HEAP_CLASSES < 255, "class index fits the info byte");

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

static inline uint32_t hdr_check_word(const void *p, uint32_t info)
{
    uintptr_t a = (uintptr_t)p >> 4;
    return CHECK_MAGIC ^ info ^ (uint32_t)a ^ (uint32_t)((uint64_t)a >> 32);
}

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

/* A block freed by the heap (in a thread cache or back in the allocator)
 * whose header nothing has overwritten since. */
static inline bool hdr_free(const void *p)
{
    const blk_hdr *hd = hdr_of(p);
    return hd->check == (hdr_check_word(p, hd->info) ^ FREE_FLIP);
}

/* Live -> free and back. Only on a header known to be in the other state. */
static inline void hdr_flip(void *p)
{
    hdr_of(p)->check ^= FREE_FLIP;
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

static unsigned log2_size(size_t x)
{
    return (unsigned)(sizeof(size_t) * 8 - 1) - (unsigned)__builtin_clzl((unsigned long)x);
}

/* The class of a small request (size <= AK_HEAP_SMALL_MAX). */
static inline unsigned class_of(size_t size)
{
    if (size <= 128)
        return size == 0 ? 0 : (unsigned)((size + 15) >> 4) - 1;
    unsigned b = log2_size(size - 1); /* 7, 8 or 9 */
    unsigned sub = (unsigned)((size - 1 - ((size_t)1 << b)) >> (b - 2));
    return 8 + (b - 7) * 4 + sub;
}

/* Bytes of user space asked for a block of class `cls` in heap h: the
 * class size, less the heap's class shift (see class_shift_probe). */
static inline size_t class_bytes(const ak_heap *h, unsigned cls)
{
    return (size_t)class_size[cls] - h->class_shift;
}

static inline unsigned cache_limit(unsigned cls)
{
    unsigned n = CACHE_BYTES_PER_CLASS / class_size[cls];
    return n < CACHE_MIN_COUNT ? CACHE_MIN_COUNT : n > CACHE_MAX_COUNT ? CACHE_MAX_COUNT : n;
}

/* ------------------------------------------------------------------ */
/* Thread caches                                                       */
/* ------------------------------------------------------------------ */

typedef struct ak_heap_tcache {
    struct ak_heap_tcache *next, *prev; /* in heap->caches */
    ak_heap *heap;
    pthread_t owner;
    void *bin[AK_HEAP_CLASSES];
    uint32_t count[AK_HEAP_CLASSES]; /* written by the owner, read by stats */
    uint64_t n_alloc, n_free;        /* likewise */
} ak_heap_tcache;

typedef struct tls_slot {
    uint64_t heap_id;      /* 0: free slot */
    ak_heap_tcache *cache; /* NULL: this thread has no cache for that heap */
} tls_slot;

static _Thread_local tls_slot tls_slots[AK_HEAP_TLS_SLOTS] TLS_IE;
/* Set while a thread builds its cache: pthread_setspecific may call calloc,
 * which (in the LD_PRELOAD library) comes back here and must not recurse. */
static _Thread_local int tls_busy TLS_IE;

static uint64_t next_heap_id;
static pthread_mutex_t heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static ak_heap *heaps;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static inline void bump(uint64_t *counter)
{
    __atomic_store_n(counter, *counter + 1, __ATOMIC_RELAXED);
}

static inline void set_count(uint32_t *c, uint32_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
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
            return true;
        }
    }
    return false;
}

/* The chunk map: one bit per granule (chunk_size bytes) of the
 * reservation, set when the granule becomes part of a committed chunk.
 * Chunks are multiples of the granule and aligned to at least one, so the
 * bits are exact. The rest of the reservation is PROT_NONE: a pointer into
 * it must be recognised as foreign without reading its header. */
static inline size_t granule_of(const ak_heap *h, uintptr_t u)
{
    return (size_t)((u >> h->granule_log2) - (h->lo >> h->granule_log2));
}

static bool chunk_map_create(ak_heap *h, size_t granule)
{
    h->granule_log2 = log2_size(granule);
    size_t words = granule_of(h, h->hi - 1) / 64 + 1;
    size_t bytes = (words * sizeof(uint64_t) + h->page - 1) & ~(h->page - 1);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED)
        return false;
    h->chunk_map = m;
    h->chunk_map_bytes = bytes;
    return true;
}

/* Mark [pos, pos + len) committed. Under the lock, before brk is published
 * past it; readers take no lock, hence the atomics. Bits are never
 * cleared while the heap lives. */
static void chunk_map_set(ak_heap *h, uintptr_t pos, size_t len)
{
    size_t g = granule_of(h, pos), end = granule_of(h, pos + len - 1) + 1;
    while (g < end) {
        unsigned b = (unsigned)(g % 64);
        size_t n = end - g < 64 - b ? end - g : 64 - b;
        uint64_t mask = (n == 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1) << b;
        __atomic_fetch_or(&h->chunk_map[g / 64], mask, __ATOMIC_RELAXED);
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
    if (pos < h->brk || pos > h->hi || h->hi - pos < c)
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
    h->committed += c;
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

static void note_backend_peak(ak_heap *h)
{
    size_t u = ak_byte_used_bytes(h->backend);
    if (u > h->peak_backend_used)
        h->peak_backend_used = u;
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
    pthread_mutex_lock(&h->lock);
    bool ok = set_insert(h, (uintptr_t)p);
    if (ok) {
        h->direct_bytes += len;
        if (h->direct_bytes > h->peak_direct_bytes)
            h->peak_direct_bytes = h->direct_bytes;
        h->direct_allocs++;
    }
    pthread_mutex_unlock(&h->lock);
    if (!ok) {
        munmap(base, len);
        return NULL;
    }
    return p;
}

/* ------------------------------------------------------------------ */
/* Fork and registration                                               */
/* ------------------------------------------------------------------ */

static void cache_release_locked(ak_heap *h, ak_heap_tcache *tc);

static void atfork_prepare(void)
{
    pthread_mutex_lock(&heaps_lock);
    for (ak_heap *h = heaps; h; h = h->next_heap)
        pthread_mutex_lock(&h->lock);
}

static void atfork_parent(void)
{
    for (ak_heap *h = heaps; h; h = h->next_heap)
        pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&heaps_lock);
}

/* In the child only this thread exists: the other threads' caches can
 * never be used again, so their blocks go back to the heap. */
static void atfork_child(void)
{
    pthread_t self = pthread_self();
    for (ak_heap *h = heaps; h; h = h->next_heap) {
        pthread_mutex_init(&h->lock, NULL);
        ak_heap_tcache *tc = h->caches;
        while (tc) {
            ak_heap_tcache *next = tc->next;
            if (!pthread_equal(tc->owner, self))
                cache_release_locked(h, tc);
            tc = next;
        }
    }
    pthread_mutex_init(&heaps_lock, NULL);
}

static void atfork_register(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ------------------------------------------------------------------ */
/* Thread caches                                                       */
/* ------------------------------------------------------------------ */

static void backend_free_small_locked(ak_heap *h, void *p, unsigned cls)
{
    ak_byte_dealloc(h->backend, (uint8_t *)p - MIN_ALIGN, MIN_ALIGN + class_bytes(h, cls),
                    MIN_ALIGN);
}

/* Give back up to `n` blocks of list `cls`. Under the lock. */
static void cache_drain_locked(ak_heap *h, ak_heap_tcache *tc, unsigned cls, uint32_t n)
{
    void *p = tc->bin[cls];
    uint32_t c = tc->count[cls];
    while (p && n--) {
        void *next = *(void **)p;
        backend_free_small_locked(h, p, cls);
        p = next;
        c--;
    }
    tc->bin[cls] = p;
    set_count(&tc->count[cls], c);
}

/* Empty a cache, unlink it and free it. Under the lock. */
static void cache_release_locked(ak_heap *h, ak_heap_tcache *tc)
{
    for (unsigned c = 0; c < AK_HEAP_CLASSES; c++)
        cache_drain_locked(h, tc, c, UINT32_MAX);
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        h->caches = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    h->retired_cache_allocs += tc->n_alloc; /* keep the totals once the cache is gone */
    h->retired_cache_frees += tc->n_free;
    ak_byte_dealloc(h->backend, tc, sizeof *tc, 64);
}

/* pthread key destructor: the thread is exiting. */
static void cache_thread_exit(void *arg)
{
    ak_heap_tcache *tc = arg;
    ak_heap *h = tc->heap;
    uint64_t id = h->id;
    pthread_mutex_lock(&h->lock);
    cache_release_locked(h, tc);
    pthread_mutex_unlock(&h->lock);
    /* Keep the slot with no cache: later frees in this thread's remaining
     * destructors go under the lock instead of building a new cache. */
    for (unsigned i = 0; i < AK_HEAP_TLS_SLOTS; i++)
        if (tls_slots[i].heap_id == id)
            tls_slots[i].cache = NULL;
}

static ak_heap_tcache *cache_create(ak_heap *h)
{
    if (h->flags & AK_HEAP_NO_THREAD_CACHE || tls_busy)
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
    pthread_mutex_lock(&h->lock);
    ak_heap_tcache *tc = backend_alloc_locked(h, sizeof *tc, 64);
    if (tc) {
        memset(tc, 0, sizeof *tc);
        tc->heap = h;
        tc->owner = pthread_self();
        tc->next = h->caches;
        if (h->caches)
            h->caches->prev = tc;
        h->caches = tc;
    }
    pthread_mutex_unlock(&h->lock);
    tls_slots[slot].heap_id = h->id;
    tls_slots[slot].cache = tc;
    if (tc && (!h->key_ok || pthread_setspecific(h->key, tc) != 0)) {
        /* Without the destructor the cache would outlive its thread. */
        pthread_mutex_lock(&h->lock);
        cache_release_locked(h, tc);
        pthread_mutex_unlock(&h->lock);
        tls_slots[slot].cache = tc = NULL;
    }
    tls_busy = 0;
    return tc;
}

static inline ak_heap_tcache *cache_get(ak_heap *h)
{
    for (unsigned i = 0; i < AK_HEAP_TLS_SLOTS; i++)
        if (tls_slots[i].heap_id == h->id)
            return tls_slots[i].cache;
    return cache_create(h);
}

/* One small block under the lock, header written. */
/* The header of a class block records the bytes usable in it (what the
 * allocator really gave, e.g. a whole power of two for buddy), so that
 * malloc_usable_size and realloc can use them; freeing uses the class
 * size. */
static void *small_alloc_locked(ak_heap *h, unsigned cls)
{
    size_t want = MIN_ALIGN + class_bytes(h, cls);
    uint8_t *b = backend_alloc_locked(h, want, MIN_ALIGN);
    if (!b)
        return NULL;
    size_t us = ak_byte_usable_size(h->backend, b, want, MIN_ALIGN);
    hdr_set(b + MIN_ALIGN, (us > want ? us : want) - MIN_ALIGN, 4, cls + 1, KIND_BACKEND);
    return b + MIN_ALIGN;
}

/* The list for `cls` is empty: take half a cache's worth in one go. */
static void *cache_refill(ak_heap *h, ak_heap_tcache *tc, unsigned cls)
{
    uint32_t want = cache_limit(cls) / 2;
    void *first;
    pthread_mutex_lock(&h->lock);
    first = small_alloc_locked(h, cls);
    uint32_t got = 0;
    if (first) {
        void *list = tc->bin[cls];
        for (; got + 1 < want; got++) {
            void *p = small_alloc_locked(h, cls);
            if (!p)
                break;
            hdr_flip(p); /* a cached block is free */
            *(void **)p = list;
            list = p;
        }
        tc->bin[cls] = list;
        set_count(&tc->count[cls], tc->count[cls] + got);
        h->refills++;
        note_backend_peak(h);
    } else {
        h->failed++;
    }
    pthread_mutex_unlock(&h->lock);
    return first;
}

/* ------------------------------------------------------------------ */
/* Allocation                                                          */
/* ------------------------------------------------------------------ */

/* Could u be an allocator block's user pointer: is it 16-aligned (every
 * block is) with its header inside the pool or a committed chunk? Only
 * then may the header be read. A 16-aligned u has all 16 header bytes in
 * one granule, so one bit answers. No lock (see chunk_map_set). */
static inline bool in_backend_range(const ak_heap *h, uintptr_t u)
{
    if ((u & (MIN_ALIGN - 1)) || u < h->lo + AK_HEAP_HEADER ||
        u >= __atomic_load_n(&h->brk, __ATOMIC_ACQUIRE))
        return false;
    if (!h->os)
        return true;
    size_t g = granule_of(h, u - AK_HEAP_HEADER);
    return (__atomic_load_n(&h->chunk_map[g / 64], __ATOMIC_RELAXED) >> (g % 64)) & 1;
}

/* Allocate `size` bytes aligned to `align` (a power of two). *fresh is set
 * when the memory is known to be zero (a new mapping). Sets errno on
 * failure. */
static void *heap_alloc(ak_heap *h, size_t size, size_t align, bool *fresh)
{
    if (align <= MIN_ALIGN && size <= AK_HEAP_SMALL_MAX - h->class_shift) {
        unsigned cls = class_of(size + h->class_shift);
        ak_heap_tcache *tc = cache_get(h);
        if (tc) {
            void *p = tc->bin[cls];
            bump(&tc->n_alloc);
            if (p) {
                tc->bin[cls] = *(void **)p;
                set_count(&tc->count[cls], tc->count[cls] - 1);
                hdr_flip(p); /* free -> live */
                return p;
            }
            p = cache_refill(h, tc, cls);
            if (!p)
                errno = ENOMEM;
            return p;
        }
        pthread_mutex_lock(&h->lock);
        void *p = small_alloc_locked(h, cls);
        if (p) {
            h->slow_allocs++;
            note_backend_peak(h);
        } else {
            h->failed++;
        }
        pthread_mutex_unlock(&h->lock);
        if (!p)
            errno = ENOMEM;
        return p;
    }
    size_t a = align < MIN_ALIGN ? MIN_ALIGN : align;
    size_t total;
    if (add_overflows(size, a, &total)) {
        pthread_mutex_lock(&h->lock);
        h->failed++;
        pthread_mutex_unlock(&h->lock);
        errno = ENOMEM;
        return NULL;
    }
    bool direct = h->os && total >= __atomic_load_n(&h->mmap_threshold, __ATOMIC_RELAXED);
    if (direct) {
        void *p = direct_alloc(h, size, a);
        if (p) {
            if (fresh)
                *fresh = true;
            return p;
        }
    }
    pthread_mutex_lock(&h->lock);
    uint8_t *b = backend_alloc_locked(h, total, a);
    if (b) {
        h->slow_allocs++;
        note_backend_peak(h);
    }
    pthread_mutex_unlock(&h->lock);
    if (b) {
        hdr_set(b + a, size, log2_size(a), 0, KIND_BACKEND);
        return b + a;
    }
    if (h->os && !direct) {
        /* The reservation is full: a mapping of its own may still work. */
        void *p = direct_alloc(h, size, a);
        if (p) {
            if (fresh)
                *fresh = true;
            return p;
        }
    }
    pthread_mutex_lock(&h->lock);
    h->failed++;
    pthread_mutex_unlock(&h->lock);
    errno = ENOMEM;
    return NULL;
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
    h->slow_frees++;
    if (!(h->flags & AK_HEAP_FIXED_THRESHOLD) && len >= h->mmap_threshold &&
        len <= DYN_THRESHOLD_MAX)
        __atomic_store_n(&h->mmap_threshold, len + h->page, __ATOMIC_RELAXED);
}

/* A pointer in the heap's range whose header is not live: count it as a
 * double free (the header carries the free mark) or a bad pointer. */
static void count_not_live(ak_heap *h, const void *ptr)
{
    bool twice = hdr_free(ptr);
    pthread_mutex_lock(&h->lock);
    if (twice)
        h->double_frees++;
    else
        h->bad_frees++;
    pthread_mutex_unlock(&h->lock);
}

void ak_heap_free(ak_heap *h, void *ptr)
{
    if (!ptr)
        return;
    uintptr_t u = (uintptr_t)ptr;
    if (in_backend_range(h, u)) {
        blk_hdr *hd = hdr_of(ptr);
        if (!hdr_valid(ptr) || hdr_kind(hd) != KIND_BACKEND) {
            count_not_live(h, ptr);
            return;
        }
        /* Marked free before the block leaves our hands, so that a second
         * free of it is seen, whether it then sits in a thread cache or
         * in the allocator. */
        hdr_flip(ptr);
        unsigned c1 = hdr_class_plus1(hd);
        if (c1) {
            unsigned cls = c1 - 1;
            ak_heap_tcache *tc = cache_get(h);
            if (tc) {
                *(void **)ptr = tc->bin[cls];
                tc->bin[cls] = ptr;
                uint32_t n = tc->count[cls] + 1;
                set_count(&tc->count[cls], n);
                bump(&tc->n_free);
                if (n > cache_limit(cls)) {
                    pthread_mutex_lock(&h->lock);
                    cache_drain_locked(h, tc, cls, n / 2);
                    h->flushes++;
                    pthread_mutex_unlock(&h->lock);
                }
                return;
            }
        }
        size_t a = hdr_align(hd);
        size_t size = c1 ? class_bytes(h, c1 - 1) : hd->size; /* as asked of the allocator */
        pthread_mutex_lock(&h->lock);
        ak_error e = ak_byte_dealloc(h->backend, (uint8_t *)ptr - a, a + size, a);
        if (e == AK_OK) {
            h->slow_frees++;
        } else {
            /* Not a block of the allocator after all (bytes that only look
             * like a header): put them back as they were. */
            hdr_flip(ptr);
            h->bad_frees++;
        }
        pthread_mutex_unlock(&h->lock);
        return;
    }
    pthread_mutex_lock(&h->lock);
    bool direct = set_remove(h, u);
    if (direct)
        direct_forget_locked(h, direct_len(h, hdr_align(hdr_of(ptr)), hdr_of(ptr)->size));
    else
        h->foreign_frees++;
    pthread_mutex_unlock(&h->lock);
    if (direct)
        direct_free(h, ptr);
}

/* ------------------------------------------------------------------ */
/* realloc and usable size                                             */
/* ------------------------------------------------------------------ */

/* The bytes the program may use in a live allocator block: what
 * malloc_usable_size reports. Under the lock for an unclassed block (the
 * allocator is asked). */
static size_t backend_usable_locked(ak_heap *h, const void *ptr)
{
    const blk_hdr *hd = hdr_of(ptr);
    if (hdr_class_plus1(hd))
        return hd->size; /* recorded when the block was made */
    size_t a = hdr_align(hd);
    size_t us = ak_byte_usable_size(h->backend, (const uint8_t *)ptr - a, a + hd->size, a);
    return us >= a + hd->size ? us - a : hd->size;
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
    pthread_mutex_lock(&h->lock);
    h->realloc_moved++;
    pthread_mutex_unlock(&h->lock);
    return q;
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
        pthread_mutex_lock(&h->lock);
        h->direct_bytes -= old_len - new_len;
        h->realloc_in_place++;
        pthread_mutex_unlock(&h->lock);
        return ptr;
    }
#ifdef MREMAP_MAYMOVE
    if (a <= h->page) {
        void *m = mremap(base, old_len, new_len, MREMAP_MAYMOVE);
        if (m != MAP_FAILED) {
            uint8_t *q = (uint8_t *)m + a;
            hdr_set(q, size, log2_size(a), 0, KIND_DIRECT);
            pthread_mutex_lock(&h->lock);
            set_remove(h, (uintptr_t)ptr);
            /* If the set cannot grow the block stays usable but is
             * forgotten: free then leaks it rather than crash. */
            if (set_insert(h, (uintptr_t)q))
                h->direct_bytes += new_len - old_len;
            else
                h->direct_bytes -= old_len;
            if (h->direct_bytes > h->peak_direct_bytes)
                h->peak_direct_bytes = h->direct_bytes;
            if (q == (uint8_t *)ptr)
                h->realloc_in_place++;
            else
                h->realloc_moved++;
            pthread_mutex_unlock(&h->lock);
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
        pthread_mutex_lock(&h->lock);
        h->foreign_frees++;
        pthread_mutex_unlock(&h->lock);
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
    if (!in_backend_range(h, u)) {
        pthread_mutex_lock(&h->lock);
        bool direct = set_find(h, u) != SIZE_MAX;
        pthread_mutex_unlock(&h->lock);
        if (direct)
            return realloc_direct(h, ptr, size);
        /* Not ours. Its size is unknown and there is no cheap, portable
         * way to tell how much of it is readable, so nothing is copied. */
        return realloc_refused(h, ptr, false);
    }
    blk_hdr *hd = hdr_of(ptr);
    if (!hdr_valid(ptr) || hdr_kind(hd) != KIND_BACKEND)
        return realloc_refused(h, ptr, true);
    size_t a = hdr_align(hd);
    size_t old = hd->size;
    unsigned c1 = hdr_class_plus1(hd);
    if (size <= old && (c1 || size >= old / 4)) {
        /* Shrinking: a class block keeps its class; a larger block gives
         * its tail back only when that is worth a call. */
        if (!c1 && size < old) {
            pthread_mutex_lock(&h->lock);
            if (ak_byte_resize(h->backend, (uint8_t *)ptr - a, a + old, a, a + size) == AK_OK)
                hdr_set(ptr, size, log2_size(a), 0, KIND_BACKEND);
            h->realloc_in_place++;
            pthread_mutex_unlock(&h->lock);
        }
        return ptr;
    }
    size_t total;
    if (add_overflows(size, a, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t asked = c1 ? class_bytes(h, c1 - 1) : old; /* what the allocator was asked for */
    pthread_mutex_lock(&h->lock);
    size_t usable = backend_usable_locked(h, ptr);
    if (ak_byte_resize(h->backend, (uint8_t *)ptr - a, a + asked, a, total) == AK_OK) {
        /* Resized in place; a class block becomes an ordinary one. */
        hdr_set(ptr, size, log2_size(a), 0, KIND_BACKEND);
        h->realloc_in_place++;
        note_backend_peak(h);
        pthread_mutex_unlock(&h->lock);
        return ptr;
    }
    pthread_mutex_unlock(&h->lock);
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
    if (in_backend_range(h, u)) {
        const blk_hdr *hd = hdr_of(ptr);
        if (!hdr_valid(ptr) || hdr_kind(hd) != KIND_BACKEND)
            return 0;
        if (hdr_class_plus1(hd))
            return hd->size;
        pthread_mutex_lock(&h->lock);
        size_t us = backend_usable_locked(h, ptr);
        pthread_mutex_unlock(&h->lock);
        return us;
    }
    pthread_mutex_lock(&h->lock);
    bool direct = set_find(h, u) != SIZE_MAX;
    pthread_mutex_unlock(&h->lock);
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
    if (in_backend_range(h, u))
        return hdr_valid(ptr) && hdr_kind(hdr_of(ptr)) == KIND_BACKEND;
    pthread_mutex_lock(&h->lock);
    bool direct = set_find(h, u) != SIZE_MAX;
    pthread_mutex_unlock(&h->lock);
    return direct;
}

/* ------------------------------------------------------------------ */
/* Set-up and tear-down                                                */
/* ------------------------------------------------------------------ */

/* Choose the class shift once, before any class block exists. Classes are
 * multiples of 16 so that, with the 16-byte header, the allocator is asked
 * for multiples of 16. An allocator that keeps its own 8-byte header in a
 * 16-byte granule (TLSF) then rounds every such request up by 8 bytes it
 * could have given us: asking for 8 bytes less per class (shift 8) costs
 * nothing there and saves 16 bytes on half the requests. The probe asks
 * for one 32-byte block and looks at the usable size; the choice affects
 * only the footprint, never correctness (each header records what the
 * block really holds). */
static void class_shift_probe(ak_heap *h)
{
    void *p;
    if (ak_byte_alloc(h->backend, 2 * MIN_ALIGN, MIN_ALIGN, &p) != AK_OK)
        return;
    if (ak_byte_usable_size(h->backend, p, 2 * MIN_ALIGN, MIN_ALIGN) >= 2 * MIN_ALIGN + 8)
        h->class_shift = 8;
    ak_byte_dealloc(h->backend, p, 2 * MIN_ALIGN, MIN_ALIGN);
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
        h->mmap_threshold = SIZE_MAX;
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
        uintptr_t al = cmax < h->hi - h->lo ? cmax : h->page;
        h->brk = (h->lo + al - 1) & ~(uintptr_t)(al - 1);
        /* The first chunk now, so that the class probe has memory. */
        if (!chunk_map_create(h, chunk) || !os_grow(h, MIN_ALIGN, MIN_ALIGN)) {
            if (h->chunk_map)
                munmap(h->chunk_map, h->chunk_map_bytes);
            munmap((void *)h->lo, h->hi - h->lo);
            return AK_ERR_NO_MEMORY;
        }
    }
    class_shift_probe(h);
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        if (h->os) {
            munmap(h->chunk_map, h->chunk_map_bytes);
            munmap((void *)h->lo, h->hi - h->lo);
        }
        return AK_ERR_NO_MEMORY;
    }
    if (!(h->flags & AK_HEAP_NO_THREAD_CACHE))
        h->key_ok = pthread_key_create(&h->key, cache_thread_exit) == 0;
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
            tls_slots[i].heap_id = 0, tls_slots[i].cache = NULL;
    pthread_mutex_lock(&h->lock);
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
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_destroy(&h->lock);
    memset(h, 0, sizeof *h);
}

void ak_heap_flush_thread_cache(ak_heap *h)
{
    for (unsigned i = 0; i < AK_HEAP_TLS_SLOTS; i++) {
        ak_heap_tcache *tc = tls_slots[i].cache;
        if (tls_slots[i].heap_id != h->id || !tc)
            continue;
        pthread_mutex_lock(&h->lock);
        for (unsigned c = 0; c < AK_HEAP_CLASSES; c++)
            cache_drain_locked(h, tc, c, UINT32_MAX);
        h->flushes++;
        pthread_mutex_unlock(&h->lock);
    }
}

/* ------------------------------------------------------------------ */
/* Statistics and checks                                               */
/* ------------------------------------------------------------------ */

void ak_heap_stats_get(ak_heap *h, ak_heap_stats *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&h->lock);
    s->backend = ak_byte_name(h->backend);
    s->backend_total = h->backend_has_memory ? ak_byte_total_bytes(h->backend) : 0;
    s->backend_used = h->backend_has_memory ? ak_byte_used_bytes(h->backend) : 0;
    s->peak_backend_used = h->peak_backend_used;
    s->committed = h->committed;
    s->direct_blocks = h->direct_live;
    s->direct_bytes = h->direct_bytes;
    s->peak_direct_bytes = h->peak_direct_bytes;
    s->mmap_threshold = h->mmap_threshold;
    s->cache_allocs = h->retired_cache_allocs;
    s->cache_frees = h->retired_cache_frees;
    for (ak_heap_tcache *tc = h->caches; tc; tc = tc->next) {
        s->thread_caches++;
        for (unsigned c = 0; c < AK_HEAP_CLASSES; c++) {
            uint32_t n = __atomic_load_n(&tc->count[c], __ATOMIC_RELAXED);
            s->cached_blocks += n;
            s->cached_bytes += (size_t)n * (MIN_ALIGN + class_bytes(h, c));
        }
        s->cache_allocs += __atomic_load_n(&tc->n_alloc, __ATOMIC_RELAXED);
        s->cache_frees += __atomic_load_n(&tc->n_free, __ATOMIC_RELAXED);
    }
    s->slow_allocs = h->slow_allocs;
    s->slow_frees = h->slow_frees;
    s->direct_allocs = h->direct_allocs;
    s->refills = h->refills;
    s->flushes = h->flushes;
    s->realloc_in_place = h->realloc_in_place;
    s->realloc_moved = h->realloc_moved;
    s->failed = h->failed;
    s->foreign_frees = h->foreign_frees;
    s->bad_frees = h->bad_frees;
    s->double_frees = h->double_frees;
    pthread_mutex_unlock(&h->lock);
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
    text_field(&t, "thread_caches", s.thread_caches);
    text_field(&t, "cached_blocks", s.cached_blocks);
    text_field(&t, "cached_bytes", s.cached_bytes);
    text_field(&t, "cache_allocs", s.cache_allocs);
    text_field(&t, "cache_frees", s.cache_frees);
    text_field(&t, "refills", s.refills);
    text_field(&t, "flushes", s.flushes);
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
    const char *why = NULL;
    pthread_mutex_lock(&h->lock);
    if (h->backend_has_memory)
        why = ak_byte_check(h->backend);
    /* Only this thread's cache: the others belong to running threads. */
    for (unsigned i = 0; !why && i < AK_HEAP_TLS_SLOTS; i++) {
        ak_heap_tcache *tc = tls_slots[i].cache;
        if (tls_slots[i].heap_id != h->id || !tc)
            continue;
        for (unsigned c = 0; !why && c < AK_HEAP_CLASSES; c++) {
            uint32_t n = 0;
            for (void *p = tc->bin[c]; p && !why; p = *(void **)p, n++) {
                if (!in_backend_range(h, (uintptr_t)p))
                    why = "heap: cached block outside the heap";
                else if (!hdr_free(p) || hdr_class_plus1(hdr_of(p)) != c + 1)
                    why = "heap: cached block without a free header";
                else if (n > tc->count[c])
                    why = "heap: cache list longer than its count";
            }
            if (!why && n != tc->count[c])
                why = "heap: cache count differs from its list";
        }
    }
    for (size_t i = 0; !why && i < h->direct_cap; i++) {
        uintptr_t k = h->direct_tab[i];
        if (k != SET_EMPTY && k != SET_TOMB &&
            (!hdr_valid((void *)k) || hdr_kind(hdr_of((void *)k)) != KIND_DIRECT))
            why = "heap: direct block with a bad header";
    }
    pthread_mutex_unlock(&h->lock);
    return why;
}
