/* allockit magazines: one cache layer in front of any byte allocator, after
 * Bonwick and Adams, "Magazines and Vmem" (USENIX 2001).
 *
 * The algorithm
 * -------------
 * Requests are rounded up to the size classes of allockit (16 bytes to
 * 64 KiB: 16-byte steps to 128, then four per power of two). A magazine
 * is a small stack of freed blocks of one class. Every CPU (or thread) has
 * two magazines per class, the loaded one and the previous one, in an
 * ak_mag_cpu that only that CPU touches:
 *   - alloc pops the loaded magazine; if it is empty and the previous one
 *     is full, the two swap;
 *   - free pushes onto the loaded magazine; if it is full and the previous
 *     one is empty, the two swap.
 * Only when both are unusable does the CPU go to the depot, under the
 * lock: an alloc trades its empty previous magazine for a full one, a free
 * trades its full previous magazine for an empty one (a new one if the
 * depot has none). So a CPU takes the lock at most once per M allocations
 * or frees in a row of one class (M = the magazine's rounds), and a run
 * that alternates alloc and free never does. An alloc that finds no full
 * magazine anywhere takes one block from the backend (a miss), and with
 * config .miss_batch up to that many more into the CPU's magazine; a
 * free that cannot cache its block (the bound, or no magazine to be had)
 * gives it back to the backend.
 *
 * Blocks of class c are taken from the backend with the class size (the
 * series' size less config .class_shift, 0 by default: "class size" means
 * that below) and an alignment of min(class alignment, max_align), and go
 * back with the same, so any cached block of a class serves any request
 * of that class.
 * Requests above the largest cached class (max_size) or with a larger
 * alignment than their class has go straight to the backend, as does
 * everything when the backend has no cache hooks (see below).
 *
 * Keeping the contract
 * --------------------
 * A free first hands the block to the backend's ak_byte_cache, which
 * checks it exactly as the backend's dealloc would and marks it cached; a
 * block already cached (in any magazine of any CPU) or not allocated is
 * refused there, so a double free, or a free of a block that sits in a
 * magazine, is still refused with AK_ERR_NOT_ALLOCATED, and a foreign
 * pointer too. A free that goes past the classes asks the hook the same
 * question before the backend's dealloc, and the magazines themselves are
 * held marked cached, so no free reaches a block the layer holds, whatever
 * size and align it gives. An alloc that takes a block from a magazine calls
 * ak_byte_uncache. Both hooks only read the backend's shared state, which
 * is what keeps the per-CPU path free of locks (core.h). A backend
 * without the hooks (ak_byte_can_cache false) gets no caching at all: the
 * layer passes every call through under its lock.
 * Where the backend publishes its mark (core.h's ak_byte_cache_key: the
 * kit's TLSF, buddy and slab do), the layer writes and clears it inline
 * instead of calling the hooks on its hit paths, and offers a caller that
 * checks its blocks by its own means (the hosted heap, by its header) a
 * take without the backend's check (ak_mag_take_class_trusted) and a
 * hit with no call at all (ak_mag_pop_class): a hit is then a few loads
 * and stores.
 * The layer tells sizes apart by class, as the slab does: a free or
 * usable_size gives the size and align that alloc was given, or another
 * size of the same class. A size of another class is refused when the
 * backend's check catches it (a size above the block's usable size, or of
 * another buddy order or slab class); one the backend accepts (a smaller
 * size, over TLSF) is a misuse that moves the block to that class and
 * leaves used_bytes off by the difference.
 *
 * What used_bytes counts
 * ----------------------
 * The contract of core.h, with each block at its usable size through the
 * layer: a cached-class block at its class size (what
 * ak_mag_usable_size returns for it), a block passed through at the
 * backend's usable size. So it equals the backend's used_bytes minus what
 * the layer holds: the cached blocks, the magazines themselves, and the
 * difference between the backend's usable size and the class size of the
 * class blocks (0 for the slab, whose classes are these).
 *
 * The memory bound
 * ----------------
 * The layer holds at most limit_bytes: the cached blocks, counted at their
 * class sizes, plus the magazines (32 bytes + 1 pointer per round on
 * 64-bit targets, 20 + 1 pointer on 32-bit ones), which are taken from
 * the backend too and held there marked cached, so that no free reaches
 * them. The backend's own footprint of a cached block (its header and
 * rounding) is not counted. To keep the fast path free of locks the
 * budget is handed out as credit: a CPU caches without the lock up to its
 * credit and asks for more, under the lock, when it runs out. Whenever it
 * takes the lock it gives back the credit beyond what it holds plus one
 * magazine of the class at hand (at most config .magazine_bytes), and a
 * new magazine is paid first from its unused credit, then by freeing the
 * depot's idle empty magazines. The depot's blocks, the magazines and
 * every CPU's credit never sum to more than the limit (ak_mag_check
 * verifies it). Under the limit, the depot's idle part goes back too,
 * with config .reap_period (Bonwick's working set, on a clock that counts
 * the operations taking the lock instead of time): every reap_period of
 * them, each class gives back the magazines its depot held throughout
 * the period, with their blocks. A magazine of class c holds
 * min(rounds, max(min_rounds, magazine_bytes / class size)) blocks
 * (config .magazine_bytes, AK_MAG_MAGAZINE_BYTES by default; config
 * .min_rounds, 1 by default).
 * Objects: sizeof(ak_mag) is about 3.8 KiB and sizeof(ak_mag_cpu) 784
 * bytes on 64-bit targets; nothing else is allocated but magazines.
 *
 * Bounds
 * ------
 * alloc and free that hit the loaded or previous magazine: O(1), no lock,
 * one class mapping and one cache-hook call (or the mark inline). With a depot exchange: O(1)
 * under the lock (a few list operations; when the bound is short, also
 * the freeing of idle empty magazines, each once). A miss: one backend
 * call under the lock (with miss_batch: up to miss_batch + 1 calls, and
 * the hook calls that mark the extra blocks). Release under memory
 * pressure (see ak_mag_alloc): O(blocks held by that CPU and the depot)
 * under the lock, at most once per alloc. A reap (reap_period): O(classes
 * + blocks given back), once per reap_period locked operations, inside
 * one of them. ak_mag_flush: O(blocks in that CPU's magazines);
 * ak_mag_trim: O(blocks in the depot); ak_mag_check: O(every cached
 * block and magazine), a few backend calls each.
 *
 * CPUs, threads and the lock
 * --------------------------
 * Per-CPU state is an ak_mag_cpu that the caller owns: an array given at
 * ak_mag_init (then a CPU is named by its index, ak_mag_alloc), and any
 * number attached later (ak_mag_cpu_attach: e.g. a thread-local one for a
 * per-thread cache; then ak_mag_alloc_on takes the state itself). Nothing
 * is allocated from an OS: the layer needs no OS at all.
 *   - A state is used by one CPU or thread at a time. A kernel keeps the
 *     caller on its CPU (preemption or migration off) from the call to its
 *     return; the layer does no atomic read-modify-write.
 *   - The lock hooks (config .lock / .unlock, or none for single-threaded
 *     use) guard the depot and the backend: the layer takes the lock
 *     around every backend call except the cache hooks of a class free
 *     (a free or resize past the classes runs them under the lock), never
 *     recursively, and always releases it before returning. Code that also
 *     calls the backend directly must do it under the same lock.
 *   - ak_mag_flush of a CPU runs on that CPU or while it is stopped;
 *     ak_mag_check, ak_mag_init and the init of ak_mag_as_byte run while
 *     no other CPU is inside the layer. Everything else may run anywhere.
 *   - ak_mag_stats and ak_mag_used_bytes read other CPUs' counters
 *     without stopping them: exact when no other CPU is inside the layer,
 *     a recent snapshot otherwise.
 *
 * Not done: the layer does not shrink or grow magazines as Bonwick's does
 * (the rounds are fixed at init); memory in another CPU's magazines is
 * not reachable from a CPU under memory pressure (a kernel can ask that
 * CPU to call ak_mag_flush); memory is not zero-filled.
 */
#ifndef ALLOCKIT_MAGAZINE_H
#define ALLOCKIT_MAGAZINE_H

#include <allockit/core.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Size classes the layer can cache (the series of src/ak_sizeclass.h:
 *  16 bytes to 64 KiB). */
#define AK_MAG_CLASSES 44
/** Largest request a class can hold (the largest class). */
#define AK_MAG_MAX_CLASS_SIZE ((size_t)65536)
/** Most blocks a magazine may hold (config .rounds). */
#define AK_MAG_MAX_ROUNDS 256u
/** Defaults for the zero fields of ak_mag_config. */
#define AK_MAG_DEFAULT_ROUNDS 16u
#define AK_MAG_DEFAULT_LIMIT  ((size_t)4 << 20)
#define AK_MAG_DEFAULT_ALIGN  ((size_t)16)
/** A magazine of a big class holds at most this many bytes of blocks (at
 *  least one block), so a CPU's two magazines of 64 KiB blocks do not
 *  take the whole bound. */
#ifndef AK_MAG_MAGAZINE_BYTES
#define AK_MAG_MAGAZINE_BYTES ((size_t)65536)
#endif

struct ak_mag_magazine;
struct ak_mag;

/** One CPU's (or one thread's) magazines: complete so the caller can put
 *  it in an array, in thread-local storage or inside its own per-CPU
 *  area; the fields are private. */
typedef struct ak_mag_cpu {
    struct ak_mag_magazine *loaded[AK_MAG_CLASSES];
    struct ak_mag_magazine *previous[AK_MAG_CLASSES];
    size_t held;            /* bytes of blocks in these magazines, at class size */
    size_t credit;          /* held may grow to this without the lock */
    size_t mags, mag_bytes; /* magazines in the slots, and their bytes:
                               changed under the lock only */
    size_t alloc_hits, alloc_misses, free_hits, free_misses;
    struct ak_mag_cpu *next; /* the layer's list of states */
    struct ak_mag *owner;    /* NULL: not attached */
} ak_mag_cpu;

/** How to build a layer (ak_mag_init). Zero fields take the defaults. */
typedef struct ak_mag_config {
    /** The allocator behind the layer (required). Its cache hooks make the
     *  layer cache; without them it passes every call through. */
    ak_byte_allocator backend;
    /** Per-CPU states indexed by ak_mag_alloc's cpu argument, and their
     *  number. NULL and 0: one state inside the ak_mag object, CPU 0. */
    ak_mag_cpu *cpus;
    unsigned ncpu;
    /** Blocks per magazine, 1..AK_MAG_MAX_ROUNDS (0: 16). */
    unsigned rounds;
    /** Bytes of blocks a magazine of a big class may hold (0:
     *  AK_MAG_MAGAZINE_BYTES): class c's magazines hold min(rounds,
     *  max(1, magazine_bytes / class size)) blocks, so a smaller value
     *  keeps fewer big blocks per CPU. */
    size_t magazine_bytes;
    /** Largest request cached, rounded up to its class; larger ones pass
     *  through (0: AK_MAG_MAX_CLASS_SIZE; at most that). */
    size_t max_size;
    /** Bytes less than its class size that each class asks of the
     *  backend (0..15; 0: none), so class c's blocks hold requests up to
     *  size(c) - class_shift. For a backend that rounds a class size up by
     *  that much for its own header (TLSF: an 8-byte header in 16-byte
     *  granules takes a 32-byte request to 48 bytes, a 24-byte one to 32),
     *  so that the blocks fill the granules they take. */
    size_t class_shift;
    /** Blocks a miss takes from the backend beyond the caller's, into the
     *  CPU's empty magazines of the class (0..AK_MAG_MAX_ROUNDS, at most
     *  a magazine's rounds; 0: none, one block per miss as in Bonwick's
     *  design), within the bound. Under the same lock: a CPU that starts
     *  on a class, or allocates without freeing, takes the lock once per
     *  batch instead of once per block. */
    unsigned miss_batch;
    /** Give back the depot's idle magazines every reap_period operations
     *  that take the lock (misses, exchanges, calls passed through, frees
     *  sent on to the backend): those no such operation took from the
     *  depot since the previous reap, with their blocks (0: never; then
     *  only ak_mag_trim and memory pressure empty the depot). */
    unsigned reap_period;
    /** Largest alignment a class block is given (a power of two; 0: 16).
     *  Class c's blocks are aligned to min(its alignment, max_align), its
     *  alignment being the largest power of two dividing its size. */
    size_t max_align;
    /** The bound: most bytes the layer may hold, cached blocks at their
     *  class size plus the magazines (0: 4 MiB; SIZE_MAX: no bound). */
    size_t limit_bytes;
    /** The lock around the depot and the backend: both or neither (NULL:
     *  no locking, for use from one thread only). Not recursive. */
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
    void *lock_ctx;
    /** For ak_mag_as_byte: the index of the calling CPU (< ncpu). NULL:
     *  the handle always uses CPU 0. */
    unsigned (*cpu_index)(void *ctx);
    void *cpu_ctx;
    /** Memory pressure that comes back: when the backend is out of memory
     *  again within grow_window locked operations of the last release
     *  (0: AK_MAG_PRESSURE_WINDOW), the layer first calls grow (under the
     *  lock), which may add memory to the backend (ak_byte_add_memory)
     *  and return true; the request is then tried again and the
     *  magazines are kept. Without it
     *  (NULL, or false), the CPU's magazines and the depot go back, as on
     *  the first pressure. A pool that is nearly all in magazines would
     *  otherwise be emptied and refilled on almost every miss. */
    bool (*grow)(void *ctx, size_t size, size_t align);
    void *grow_ctx;
    unsigned grow_window;
    /** Blocks a magazine holds at least, whatever magazine_bytes says
     *  (0: 1; at most rounds): class c's magazines hold min(rounds,
     *  max(min_rounds, magazine_bytes / class size)) blocks. Big blocks
     *  freed on one CPU and allocated on another then still travel a few
     *  to a trip through the depot. */
    unsigned min_rounds;
} ak_mag_config;

/** Locked operations after a release within which the backend running
 *  out again counts as pressure that came back (config .grow_window's
 *  default). */
#define AK_MAG_PRESSURE_WINDOW 1024u

/** One size class of a layer (private; at file scope so that the inline
 *  functions below name the same type in C and C++). */
struct ak_mag_class {
    size_t size;     /* the class size */
    size_t align;    /* its blocks' alignment; 0: not cached */
    size_t mag_size; /* bytes of one magazine of the class */
    uint32_t rounds; /* blocks per magazine */
    uint32_t nfull, nempty;
    uint32_t min_full, min_empty;         /* their lowest since the last reap */
    struct ak_mag_magazine *full, *empty; /* the depot */
};

/** The layer. Complete so it can be static or embedded; the fields are
 *  private. Built by ak_mag_init; it owns no memory but its magazines. */
typedef struct ak_mag {
    ak_byte_allocator backend;
    ak_error (*cache)(void *self, void *ptr, size_t size, size_t align);
    void (*uncache)(void *self, void *ptr, size_t size, size_t align);
    const uintptr_t *mark_key; /* ak_byte_cache_key: the mark inline; NULL: the hooks */
    void *self;                /* backend.self */
    size_t class_max_request;  /* requests above pass through */
    size_t shift;              /* config .class_shift */
    unsigned miss_batch;       /* config .miss_batch */
    unsigned reap_period;      /* config .reap_period */
    unsigned ticks;            /* lock-taking operations since the last reap */
    uint64_t reaped;           /* magazines the reaps gave back */
    struct ak_mag_class cls[AK_MAG_CLASSES];
    ak_mag_cpu *cpus; /* indexed by cpu */
    unsigned ncpu;
    ak_mag_cpu *attached; /* every state, linked by ->next */
    size_t limit;
    size_t depot_bytes;   /* blocks in the depot, at class size */
    size_t mag_bytes;     /* every magazine */
    size_t granted;       /* every state's credit */
    size_t class_out;     /* class blocks taken from the backend, class size */
    size_t pass_used;     /* the backend's used_bytes of passed-through blocks */
    size_t magazines;     /* in existence */
    size_t failed_allocs; /* allocs that gave AK_ERR_NO_MEMORY */
    uint64_t exchanges, releases, pass_allocs, pass_frees;
    /* the hit and miss counts of states detached or abandoned */
    uint64_t gone_alloc_hits, gone_alloc_misses, gone_free_hits, gone_free_misses;
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
    void *lock_ctx;
    unsigned (*cpu_index)(void *ctx);
    void *cpu_ctx;
    bool (*grow)(void *ctx, size_t size, size_t align);
    void *grow_ctx;
    unsigned grow_window;   /* config .grow_window */
    uint64_t clock;         /* locked operations, never reset */
    uint64_t release_clock; /* clock at the last release */
    ak_mag_cpu own;         /* CPU 0 when the config gives no states */
} ak_mag;

/** Build a layer over cfg->backend, with no cached blocks; attach the
 *  states of cfg->cpus (which need not be initialised). O(ncpu).
 *  The backend may be initialised before or after (with ak_byte_init on
 *  the backend itself, or through ak_mag_as_byte); once the layer holds
 *  blocks, re-initialise the backend only through ak_mag_as_byte.
 *  Calling it on a layer in use forgets its magazines without returning
 *  them (flush and trim first).
 *  @retval AK_ERR_INVALID_PARAM cfg or its backend missing; rounds above
 *          AK_MAG_MAX_ROUNDS; max_size above AK_MAG_MAX_CLASS_SIZE;
 *          max_align not a power of two; only one of lock and unlock;
 *          cpus without ncpu or ncpu without cpus. m is unchanged. */
ak_error ak_mag_init(ak_mag *m, const ak_mag_config *cfg);

/** Attach a state of the caller's (e.g. thread-local): it starts empty,
 *  and is then used with the *_on calls. Takes the lock. O(1).
 *  @retval AK_ERR_INVALID_PARAM pc is NULL or already attached. */
ak_error ak_mag_cpu_attach(ak_mag *m, ak_mag_cpu *pc);

/** Return every block and magazine of an attached state to the backend
 *  (ak_mag_flush_on) and detach it; its memory may then be reused (e.g. at
 *  thread exit). Not for the states given at init. O(blocks it holds +
 *  states). @retval AK_ERR_INVALID_PARAM pc is not attached to m or was
 *  given at init. */
ak_error ak_mag_cpu_detach(ak_mag *m, ak_mag_cpu *pc);

/** Detach a state whose CPU or thread is gone and may have stopped inside
 *  the layer's lock-free paths (in a fork child: the threads fork did not
 *  copy), without reading its magazines: they and their blocks stay
 *  allocated in the backend, marked cached, and are lost; the layer stops
 *  counting them as its own (its blocks count in ak_mag_used_bytes, like
 *  blocks a caller never freed) and takes back the state's credit. Exact
 *  whatever the state's owner was doing, unless it held the lock. Not for
 *  the states given at init. Takes the lock. O(states).
 *  @retval AK_ERR_INVALID_PARAM pc is not attached to m or was given at
 *          init. */
ak_error ak_mag_cpu_abandon(ak_mag *m, ak_mag_cpu *pc);

/** The state of CPU @p cpu, or NULL if cpu >= the number of CPUs. O(1). */
ak_mag_cpu *ak_mag_cpu_state(ak_mag *m, unsigned cpu);

/** Allocate @p size bytes aligned to @p align on CPU @p cpu, as
 *  ak_byte_alloc does (core.h): size 0 gives a distinct block, the block
 *  is not zero-filled, align is a power of two.
 *  Hit (loaded or previous magazine): O(1), no lock. Else under the lock:
 *  a full magazine from the depot (O(1)), or one block from the backend.
 *  Memory pressure: if the backend has no room, the layer gives back
 *  everything this CPU and the depot hold and asks the backend once more
 *  (not for a request larger than the backend's total_bytes).
 *  @retval AK_ERR_INVALID_PARAM out is NULL, align is not a power of two,
 *          cpu is not a CPU of the layer, or the backend refuses the size
 *  @retval AK_ERR_NO_MEMORY the backend has no room even after the
 *          release (nothing the caller sees has changed) */
ak_error ak_mag_alloc(ak_mag *m, unsigned cpu, size_t size, size_t align, void **out);

/** Free a block on CPU @p cpu (any CPU, not only the one that allocated
 *  it), giving the size and align given to alloc (see "Keeping the
 *  contract" above). Hit: O(1), no lock; else one depot exchange or one
 *  backend call under the lock.
 *  @retval AK_ERR_NOT_ALLOCATED ptr is not a live block of the backend,
 *          or is in a magazine already (a double free)
 *  @retval AK_ERR_INVALID_PARAM the size or align cannot be the block's,
 *          align is not a power of two, or cpu is not a CPU of the layer.
 *          Nothing changes on error. */
ak_error ak_mag_free(ak_mag *m, unsigned cpu, void *ptr, size_t size, size_t align);

/** ak_mag_alloc with the state itself (attached to m). */
ak_error ak_mag_alloc_on(ak_mag *m, ak_mag_cpu *pc, size_t size, size_t align, void **out);
/** ak_mag_free with the state itself (attached to m). */
ak_error ak_mag_free_on(ak_mag *m, ak_mag_cpu *pc, void *ptr, size_t size, size_t align);

/* ---- The hit path inline, for a caller that maps sizes itself ----
 * A caller on a hot path (the hosted heap) finds a request's class once,
 * with ak_mag_class_of or the same series of its own, and calls the
 * inline functions below: a hit is then a few loads and stores and the
 * cache-hook call (none where the backend publishes its mark), with no
 * call into the layer. */

/** The class in which the layer caches a request of @p size bytes aligned
 *  to @p align (a power of two), or AK_MAG_CLASSES if the request passes
 *  through: larger than max_size's class, aligned beyond its class's
 *  blocks, or a backend without cache hooks. O(1). */
unsigned ak_mag_class_of(const ak_mag *m, size_t size, size_t align);

/** A magazine: n blocks of one class, room for cap, the block pointers
 *  right after the struct. The layout is private; it is here for the
 *  inline functions. The first two words carry the backend's cache mark:
 *  a magazine is held marked cached, like the blocks in it. */
struct ak_mag_magazine {
    uintptr_t mark[2];
    struct ak_mag_magazine *next; /* in a depot list */
    uint32_t n, cap;
};

/* The out-of-line halves of ak_mag_alloc_class and ak_mag_put_class (a
 * miss, or a magazine exchange). Not for direct use. */
ak_error ak_mag_alloc_class_slow(ak_mag *m, ak_mag_cpu *pc, unsigned c, void **out);
ak_error ak_mag_free_class_slow(ak_mag *m, ak_mag_cpu *pc, unsigned c, void *ptr);

/* Private helpers of the inline functions: the rounds of a magazine, and
 * a block off or onto one with pc's counters. The counters are written by
 * pc's owner alone and read by others: relaxed stores, no read-modify-
 * write. */
static inline void **ak_mag_rounds_(struct ak_mag_magazine *mg)
{
    return (void **)(void *)(mg + 1);
}

static inline void *ak_mag_pop_(ak_mag_cpu *pc, const struct ak_mag_class *k,
                                struct ak_mag_magazine *mg)
{
    void *p = ak_mag_rounds_(mg)[--mg->n];
    __atomic_store_n(&pc->held, pc->held - k->size, __ATOMIC_RELAXED);
    __atomic_store_n(&pc->alloc_hits, pc->alloc_hits + 1, __ATOMIC_RELAXED);
    return p;
}

static inline void ak_mag_push_(ak_mag_cpu *pc, const struct ak_mag_class *k,
                                struct ak_mag_magazine *mg, void *p)
{
    ak_mag_rounds_(mg)[mg->n++] = p;
    __atomic_store_n(&pc->held, pc->held + k->size, __ATOMIC_RELAXED);
    __atomic_store_n(&pc->free_hits, pc->free_hits + 1, __ATOMIC_RELAXED);
}

/* The backend's mark on p (the form core.h's ak_byte_cache_key publishes),
 * or two words that are no mark, written inline. Byte copies: the caller
 * may write the same words through its own types right after. */
static inline void ak_mag_mark_(const struct ak_mag *m, void *p)
{
    uintptr_t w[2];
    w[0] = (uintptr_t)p * *m->mark_key;
    w[1] = ~w[0];
    __builtin_memcpy(p, w, sizeof w);
}

static inline void ak_mag_unmark_(void *p)
{
    const uintptr_t w[2] = {0, 0};
    __builtin_memcpy(p, w, sizeof w);
}

/** ak_mag_alloc_on for a request of class @p c, which must be a class
 *  ak_mag_class_of gives (not AK_MAG_CLASSES): a block of the class's
 *  size and alignment. Inline hit: pop the loaded magazine, then clear
 *  the mark (inline where the backend publishes it, else its uncache
 *  hook). Errors as ak_mag_alloc_on. */
static inline ak_error ak_mag_alloc_class(ak_mag *m, ak_mag_cpu *pc, unsigned c, void **out)
{
    struct ak_mag_magazine *mg = pc->loaded[c];
    if (__builtin_expect(mg->n != 0, 1)) {
        const struct ak_mag_class *k = &m->cls[c];
        void *p = ak_mag_pop_(pc, k, mg);
        *out = p;
        if (__builtin_expect(m->mark_key != NULL, 1))
            ak_mag_unmark_(p);
        else
            m->uncache(m->self, p, k->size, k->align);
        return AK_OK;
    }
    return ak_mag_alloc_class_slow(m, pc, c, out);
}

/** The first half of ak_mag_free_class, for a caller that has something
 *  to do between the two: the backend's cache hook checks the block as
 *  dealloc would, with class @p c's size and align, and marks it cached.
 *  On AK_OK the block is the layer's and must be given to
 *  ak_mag_put_class next (on any state); its bytes after the first two
 *  words stay as they were until the layer hands it out again (the layer
 *  writes nothing into a cached block but the mark), so the caller may
 *  write there first. Needs no state and no lock. Errors as
 *  ak_mag_free_on (nothing changes). */
static inline ak_error ak_mag_take_class(ak_mag *m, unsigned c, void *ptr)
{
    const struct ak_mag_class *k = &m->cls[c];
    return m->cache(m->self, ptr, k->size, k->align);
}

/** True if the backend publishes its mark (ak_byte_cache_key): then
 *  ak_mag_pop_class serves hits and ak_mag_take_class_trusted marks
 *  blocks inline, with no call. O(1). */
static inline bool ak_mag_marks_inline(const ak_mag *m)
{
    return m->mark_key != NULL;
}

/** The hit of ak_mag_alloc_class alone, with no call at all, for a caller
 *  whose hot path must stay a leaf, over a backend that publishes its
 *  mark (ak_mag_marks_inline, which the caller checks once): the top
 *  block of pc's loaded magazine of class @p c, unmarked, or NULL (the
 *  magazine is empty) with nothing changed: then call
 *  ak_mag_alloc_class. */
static inline void *ak_mag_pop_class(ak_mag *m, ak_mag_cpu *pc, unsigned c)
{
    struct ak_mag_magazine *mg = pc->loaded[c];
    if (__builtin_expect(mg->n == 0, 0))
        return NULL;
    void *p = ak_mag_pop_(pc, &m->cls[c], mg);
    ak_mag_unmark_(p);
    return p;
}

/** ak_mag_take_class without the backend's check, over a backend that
 *  publishes its mark (ak_mag_marks_inline, which the caller checks
 *  once), for a caller that has made sure by its own means that @p ptr is
 *  a live block of a class that the layer does not hold (the hosted heap
 *  does, with its checked header): the block is marked cached inline and
 *  is then the layer's, for ak_mag_put_class. Given any other pointer,
 *  the layer may later hand out memory that is not a free block: a misuse
 *  it does not detect. Needs no state and no lock. */
static inline void ak_mag_take_class_trusted(ak_mag *m, void *ptr)
{
    ak_mag_mark_(m, ptr);
}

/** The second half: a block ak_mag_take_class accepted goes onto pc's
 *  loaded magazine (inline hit), else as ak_mag_free_on's slow path has
 *  it (a depot exchange, or back to the backend). */
static inline void ak_mag_put_class(ak_mag *m, ak_mag_cpu *pc, unsigned c, void *ptr)
{
    const struct ak_mag_class *k = &m->cls[c];
    struct ak_mag_magazine *mg = pc->loaded[c];
    if (__builtin_expect(mg->n < mg->cap && pc->held + k->size <= pc->credit, 1))
        ak_mag_push_(pc, k, mg, ptr);
    else
        (void)ak_mag_free_class_slow(m, pc, c, ptr);
}

/** ak_mag_free_on for a block of class @p c (a class ak_mag_class_of
 *  gives for the size and align it was allocated with): take, then put.
 *  Errors as ak_mag_free_on (nothing changes). */
static inline ak_error ak_mag_free_class(ak_mag *m, ak_mag_cpu *pc, unsigned c, void *ptr)
{
    ak_error e = ak_mag_take_class(m, c, ptr);
    if (__builtin_expect(e != AK_OK, 0))
        return e;
    ak_mag_put_class(m, pc, c, ptr);
    return AK_OK;
}

/** Return every block in CPU @p cpu's magazines, and the magazines, to
 *  the backend, and its credit to the layer. Runs on that CPU or while it
 *  is stopped. O(blocks it holds), under the lock.
 *  @retval AK_ERR_INVALID_PARAM cpu is not a CPU of the layer */
ak_error ak_mag_flush(ak_mag *m, unsigned cpu);
/** ak_mag_flush with the state itself. */
void ak_mag_flush_on(ak_mag *m, ak_mag_cpu *pc);

/** Return the depot, every full magazine's blocks and every magazine, to
 *  the backend. CPUs keep their own magazines. O(blocks in the depot),
 *  under the lock. After ak_mag_flush of every CPU and ak_mag_trim the
 *  layer holds nothing: the backend's used_bytes is that of the live
 *  blocks alone. */
void ak_mag_trim(ak_mag *m);

/** Bytes usable at @p ptr, a block allocated with @p size and @p align:
 *  its class size for a cached class, the backend's usable_size for a
 *  block passed through; 0 if the backend says ptr is not a live block.
 *  A block in a magazine is live to the backend and reads as live here
 *  too (the layer has no cheap way to tell). Under the lock; O(the
 *  backend's usable_size). */
size_t ak_mag_usable_size(ak_mag *m, const void *ptr, size_t size, size_t align);

/** Resize in place: forwarded to the backend (under the lock) for a block
 *  that was passed through and stays so; a cached-class block, or a size
 *  that would move the block to or from a class, gives AK_ERR_NO_MEMORY
 *  (block unchanged: allocate, copy and free). Errors as ak_byte_resize. */
ak_error ak_mag_resize(ak_mag *m, void *ptr, size_t old_size, size_t align, size_t new_size);

/** The backend's used_bytes minus what the layer holds (see "What
 *  used_bytes counts"). Under the lock; O(states). */
size_t ak_mag_used_bytes(const ak_mag *m);

/** Diagnostics, filled by ak_mag_stats(). As for TLSF, the function has
 *  the struct's name. Counters summed over every state, those detached
 *  or abandoned since ak_mag_init included. */
typedef struct ak_mag_stats {
    uint64_t alloc_hits;   /**< allocs served from a magazine */
    uint64_t alloc_misses; /**< class allocs that went to the backend */
    uint64_t free_hits;    /**< frees that went into a magazine */
    uint64_t free_misses;  /**< class frees that went to the backend */
    uint64_t passed;       /**< allocs and frees passed through */
    uint64_t exchanges;    /**< trades of a magazine with the depot */
    uint64_t releases;     /**< memory-pressure releases */
    uint64_t reaped;       /**< idle depot magazines given back (reap_period) */
    size_t cached_bytes;   /**< blocks held, at class size (CPUs + depot) */
    size_t depot_bytes;    /**< of which in the depot */
    size_t magazine_bytes; /**< the magazines themselves */
    size_t limit_bytes;    /**< the bound */
    size_t magazines;      /**< magazines in existence */
    bool caching;          /**< false: the backend has no cache hooks */
} ak_mag_stats_t;

/** Fill @p out (see struct ak_mag_stats). O(states + classes). */
void ak_mag_stats(const ak_mag *m, struct ak_mag_stats *out);

/** The backend's walk (ak_byte_walk), under the lock: the blocks as the
 *  backend has them. The blocks the layer holds (cached blocks and the
 *  magazines) are allocated in the backend, so they are reported used,
 *  at the backend's sizes, although they are free to the layer's
 *  callers; after ak_mag_flush of every CPU and ak_mag_trim the used
 *  blocks are exactly the callers' live ones. @p fn must not call the
 *  layer or its backend. Cost: the backend's walk.
 *  @retval AK_ERR_INVALID_PARAM fn is NULL or the backend has no walk */
ak_error ak_mag_walk(const ak_mag *m, ak_walker fn, void *ctx);

/** The common statistics (struct ak_byte_stats in core.h) for the layer's
 *  callers, under the lock: used_bytes as ak_mag_used_bytes; used_blocks
 *  the backend's less the blocks the layer holds (cached blocks and
 *  magazines); failed_allocs the layer's allocs that gave
 *  AK_ERR_NO_MEMORY since ak_mag_init (or an init through the handle);
 *  total_bytes, free_bytes, largest_free, free_blocks and region_count
 *  the backend's (the blocks the layer holds are in neither the used nor
 *  the free figures). So the free figures agree with ak_mag_walk, and the
 *  used ones once the layer holds nothing. Other CPUs' magazines are read
 *  as ak_mag_stats reads them. O(states x classes) plus the backend's
 *  stats. */
void ak_mag_byte_stats(const ak_mag *m, struct ak_byte_stats *out);

/** Walk the layer: every magazine's count in range and its blocks of its
 *  class; every state's held bytes and credit; the depot's lists; every
 *  cached block live in the backend and marked cached, and none twice
 *  across all magazines and the depot; the held, magazine and credit
 *  counters against what the walk finds; the bound respected; then the
 *  backend's own check. NULL if all hold, else a static string naming the
 *  first broken one. Runs while no other CPU is inside the layer; takes
 *  the lock. O(every cached block): it re-marks each one through the
 *  hooks (the blocks' contents are the layer's while cached). */
const char *ak_mag_check(const ak_mag *m);

/** The layer behind the byte interface, so it can be used wherever a byte
 *  allocator can: alloc and dealloc run on the CPU config .cpu_index
 *  names (CPU 0 without it); init and add_memory go to the backend (init
 *  also forgets every cached block and magazine, as the backend forgets
 *  them); total_bytes is the backend's; used_bytes as ak_mag_used_bytes;
 *  resize, usable_size, check, walk and stats as the ak_mag_* calls
 *  (ak_mag_byte_stats for stats); no cache hooks of its own. */
ak_byte_allocator ak_mag_as_byte(ak_mag *m);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCKIT_MAGAZINE_H */
