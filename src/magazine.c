/* Magazines and a depot in front of any byte allocator (Bonwick and Adams,
 * "Magazines and Vmem", USENIX 2001). The manual is
 * include/allockit/magazine.h; this file tells the algorithm top-down:
 * the magazines, the budget, the backend calls, the depot, then alloc and
 * free (fast path first, then the slow path under the lock), flush and
 * trim, the byte interface, and the checker.
 *
 * Bounds: an alloc or free that hits a CPU's loaded or previous magazine
 * is O(1) with no lock and one cache-hook call; a depot exchange is O(1)
 * under the lock; a miss is one backend call under the lock (up to
 * miss_batch more to fill a magazine, when configured); flush, trim
 * and a memory-pressure release are O(blocks returned).
 *
 * Invariants (checked by ak_mag_check):
 *   - a state's slots point at no_magazine or at a magazine of that class
 *     with n <= cap == the class's rounds; the previous one is empty or
 *     full; a state's held == the sum of n * class size over its slots,
 *     and held <= credit; its mags and mag_bytes count the magazines in
 *     its slots;
 *   - the depot's full magazines have n == cap, its empty ones n == 0,
 *     and the lists are as long as their counts;
 *   - depot_bytes == the blocks of the full list, mag_bytes == every
 *     magazine, granted == every state's credit, and depot_bytes +
 *     mag_bytes + granted <= limit: the bound;
 *   - every block in a magazine is live in the backend and marked cached,
 *     and no block is in two places.
 * Freestanding. */
#include <allockit/magazine.h>

#include "ak_internal.h"
#include "ak_sizeclass.h"

_Static_assert(AK_MAG_CLASSES == AK_SC_COUNT, "magazine.h and ak_sizeclass.h disagree");
_Static_assert(AK_MAG_MAX_CLASS_SIZE == AK_SC_MAX, "magazine.h and ak_sizeclass.h disagree");

/* ------------------------------------------------------------------ */
/* Magazines                                                           */
/* ------------------------------------------------------------------ */

/* A stack of n cached blocks of one class, room for cap (struct
 * ak_mag_magazine in magazine.h, for the inline hit paths; the rounds
 * follow it). Taken from the backend, and itself marked cached there for
 * as long as it lives: a bad free that lands on a magazine is refused like
 * one of a cached block, instead of freeing the layer's own memory. The
 * mark takes the first two words. `next` links it into a depot list. */
typedef struct ak_mag_magazine magazine;

#define MAG_HEADER (sizeof(magazine))
#define MAG_ALIGN  (_Alignof(magazine))
#define CLASS_PASS AK_MAG_CLASSES /* route(): not a cached class */

/* What every empty slot of a state points at: no rounds, so a pop finds it
 * empty and a push finds it full, and the fast paths need no NULL test.
 * Never written. */
static magazine no_magazine;

/* Per-CPU counters are written by their CPU alone and read by others
 * (stats, used_bytes): relaxed word accesses, plain loads and stores on
 * every target, and no data race. */
static inline size_t counter_get(const size_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static inline void counter_set(size_t *c, size_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static inline void lock(const ak_mag *m)
{
    if (m->lock)
        m->lock(m->lock_ctx);
}

static inline void unlock(const ak_mag *m)
{
    if (m->unlock)
        m->unlock(m->lock_ctx);
}

static void state_clear(ak_mag_cpu *pc)
{
    for (unsigned c = 0; c < AK_MAG_CLASSES; c++)
        pc->loaded[c] = pc->previous[c] = &no_magazine;
    pc->held = pc->credit = pc->mags = pc->mag_bytes = 0;
    pc->alloc_hits = pc->alloc_misses = pc->free_hits = pc->free_misses = 0;
}

/* A magazine of class k enters or leaves pc's slots. Under the lock, so
 * that the counts are exact whatever pc's owner is doing without it (see
 * ak_mag_cpu_abandon). */
static void state_mag_in(ak_mag_cpu *pc, const struct ak_mag_class *k)
{
    pc->mags++;
    pc->mag_bytes += k->mag_size;
}

static void state_mag_out(ak_mag_cpu *pc, const struct ak_mag_class *k)
{
    pc->mags--;
    pc->mag_bytes -= k->mag_size;
}

/* A state's hit and miss counts stay in the totals once it is gone. */
static void state_retire(ak_mag *m, const ak_mag_cpu *pc)
{
    m->gone_alloc_hits += counter_get(&pc->alloc_hits);
    m->gone_alloc_misses += counter_get(&pc->alloc_misses);
    m->gone_free_hits += counter_get(&pc->free_hits);
    m->gone_free_misses += counter_get(&pc->free_misses);
}

/* The class that serves (size, align), or CLASS_PASS. */
static inline unsigned route(const ak_mag *m, size_t size, size_t align)
{
    if (size <= m->class_max_request) {
        unsigned c = ak_sc_index(size + m->shift);
        if (align <= m->cls[c].align)
            return c;
    }
    return CLASS_PASS;
}

unsigned ak_mag_class_of(const ak_mag *m, size_t size, size_t align)
{
    return ak_is_pow2(align) ? route(m, size, align) : CLASS_PASS;
}

/* ------------------------------------------------------------------ */
/* The budget                                                          */
/* ------------------------------------------------------------------ */

/* Bytes of the bound nobody has: neither the depot's blocks, the
 * magazines, nor any state's credit. Under the lock. */
static size_t budget_left(const ak_mag *m)
{
    size_t taken;
    if (ak_add_overflows(m->depot_bytes, m->mag_bytes, &taken) ||
        ak_add_overflows(taken, m->granted, &taken) || taken >= m->limit)
        return 0;
    return m->limit - taken;
}

/* Set pc's credit towards what it holds plus one magazine of class k:
 * give back the excess, or take what the budget has. True if it then has
 * room for one more block of k. Under the lock. */
static bool credit_fit(ak_mag *m, ak_mag_cpu *pc, const struct ak_mag_class *k)
{
    size_t want = pc->held + (size_t)k->rounds * k->size;
    if (pc->credit > want) {
        m->granted -= pc->credit - want;
        pc->credit = want;
    } else if (pc->credit < want) {
        size_t more = want - pc->credit, left = budget_left(m);
        if (more > left)
            more = left;
        pc->credit += more;
        m->granted += more;
    }
    return pc->held + k->size <= pc->credit;
}

/* pc keeps credit for at most `keep` bytes beyond what it holds. Under
 * the lock. */
static void credit_trim(ak_mag *m, ak_mag_cpu *pc, size_t keep)
{
    if (pc->credit - pc->held > keep) {
        m->granted -= pc->credit - pc->held - keep;
        pc->credit = pc->held + keep;
    }
}

/* ------------------------------------------------------------------ */
/* The backend (under the lock)                                        */
/* ------------------------------------------------------------------ */

static inline size_t backend_used(const ak_mag *m)
{
    return m->backend.ops->used_bytes(m->self);
}

/* A cached block goes back: live again, then freed with its class's size
 * and alignment (what it was allocated with). */
static void block_return(ak_mag *m, const struct ak_mag_class *k, void *p)
{
    m->uncache(m->self, p, k->size, k->align);
    ak_error e = m->backend.ops->dealloc(m->self, p, k->size, k->align);
    AK_ASSERT(e == AK_OK); /* the cache hook checked it as dealloc would */
    (void)e;
    m->class_out -= k->size;
}

static void magazine_free(ak_mag *m, const struct ak_mag_class *k, magazine *mg)
{
    m->uncache(m->self, mg, k->mag_size, MAG_ALIGN);
    ak_error e = m->backend.ops->dealloc(m->self, mg, k->mag_size, MAG_ALIGN);
    AK_ASSERT(e == AK_OK);
    (void)e;
    m->mag_bytes -= k->mag_size;
    m->magazines--;
}

/* Every block of mg back to the backend; returns how many. */
static size_t magazine_empty_out(ak_mag *m, const struct ak_mag_class *k, magazine *mg)
{
    size_t n = mg->n;
    while (mg->n)
        block_return(m, k, ak_mag_rounds_(mg)[--mg->n]);
    return n;
}

/* Everything pc holds back to the backend, its credit back to the
 * layer. Returns the number of backend frees. */
static size_t flush_locked(ak_mag *m, ak_mag_cpu *pc)
{
    size_t freed = 0;
    for (unsigned c = 0; c < AK_MAG_CLASSES; c++) {
        const struct ak_mag_class *k = &m->cls[c];
        magazine *slot[2] = {pc->loaded[c], pc->previous[c]};
        for (int i = 0; i < 2; i++)
            if (slot[i] != &no_magazine) {
                freed += magazine_empty_out(m, k, slot[i]) + 1;
                magazine_free(m, k, slot[i]);
            }
        pc->loaded[c] = pc->previous[c] = &no_magazine;
    }
    counter_set(&pc->held, 0);
    m->granted -= pc->credit;
    pc->credit = pc->mags = pc->mag_bytes = 0;
    return freed;
}

/* The whole depot back to the backend. Returns the number of frees. */
static size_t trim_locked(ak_mag *m)
{
    size_t freed = 0;
    for (unsigned c = 0; c < AK_MAG_CLASSES; c++) {
        struct ak_mag_class *k = &m->cls[c];
        while (k->full) {
            magazine *mg = k->full;
            k->full = mg->next;
            m->depot_bytes -= (size_t)mg->n * k->size;
            freed += magazine_empty_out(m, k, mg) + 1;
            magazine_free(m, k, mg);
        }
        while (k->empty) {
            magazine *mg = k->empty;
            k->empty = mg->next;
            magazine_free(m, k, mg);
            freed++;
        }
        k->nfull = k->nempty = k->min_full = k->min_empty = 0;
    }
    return freed;
}

/* Memory pressure: what this CPU and the depot hold goes back. True if
 * anything did. */
static bool release_locked(ak_mag *m, ak_mag_cpu *pc)
{
    size_t freed = flush_locked(m, pc) + trim_locked(m);
    if (freed)
        m->releases++;
    return freed != 0;
}

/* A backend alloc; if the backend is out of memory, release and ask once
 * more (not for a request above everything the backend has). *grown gets
 * the growth of the backend's used_bytes, when asked for. */
static ak_error backend_alloc(ak_mag *m, ak_mag_cpu *pc, size_t size, size_t align, void **out,
                              size_t *grown)
{
    const ak_byte_allocator_ops *ops = m->backend.ops;
    size_t before = grown ? backend_used(m) : 0;
    ak_error e = ops->alloc(m->self, size, align, out);
    /* Pressure again soon after a release: the caller may add memory
     * rather than have the magazines emptied once more (config .grow). */
    if (e == AK_ERR_NO_MEMORY && m->grow && m->releases &&
        m->clock - m->release_clock < m->grow_window && m->grow(m->grow_ctx, size, align))
        e = ops->alloc(m->self, size, align, out);
    if (e == AK_ERR_NO_MEMORY && m->cache && size <= ops->total_bytes(m->self) &&
        release_locked(m, pc)) {
        m->release_clock = m->clock;
        before = grown ? backend_used(m) : 0;
        e = ops->alloc(m->self, size, align, out);
    }
    if (e == AK_ERR_NO_MEMORY)
        m->failed_allocs++;
    if (e == AK_OK && grown)
        *grown = backend_used(m) - before;
    /* A fresh block's first words are whatever its memory held: clear any
     * mark left there by an earlier life of the memory, so that its free
     * is not taken for the free of a cached block. */
    if (e == AK_OK && m->cache)
        m->uncache(m->self, *out, size, align);
    return e;
}

/* ------------------------------------------------------------------ */
/* The depot (under the lock)                                          */
/* ------------------------------------------------------------------ */

/* Free the depot's empty magazines, of any class, until the budget has
 * `room` bytes or there are none left. */
static void depot_make_room(ak_mag *m, size_t room)
{
    for (unsigned c = 0; c < AK_MAG_CLASSES && budget_left(m) < room; c++) {
        struct ak_mag_class *k = &m->cls[c];
        while (k->empty && budget_left(m) < room) {
            magazine *mg = k->empty;
            k->empty = mg->next;
            k->nempty--;
            magazine_free(m, k, mg);
        }
        if (k->min_empty > k->nempty)
            k->min_empty = k->nempty;
    }
}

/* An empty magazine of class c: the depot's, or a new one if the budget
 * has room for it (after freeing idle empty ones of other classes). NULL
 * if neither. */
static magazine *depot_take_empty(ak_mag *m, unsigned c)
{
    struct ak_mag_class *k = &m->cls[c];
    magazine *mg = k->empty;
    if (mg) {
        k->empty = mg->next;
        k->nempty--;
        if (k->min_empty > k->nempty)
            k->min_empty = k->nempty;
        return mg;
    }
    void *p;
    if (k->mag_size > budget_left(m))
        depot_make_room(m, k->mag_size);
    if (k->mag_size > budget_left(m) ||
        m->backend.ops->alloc(m->self, k->mag_size, MAG_ALIGN, &p) != AK_OK)
        return NULL;
    m->uncache(m->self, p, k->mag_size, MAG_ALIGN); /* no stale mark: see backend_alloc */
    if (m->cache(m->self, p, k->mag_size, MAG_ALIGN) != AK_OK) {
        /* Cannot happen (a fresh block), but then it is not a magazine. */
        (void)m->backend.ops->dealloc(m->self, p, k->mag_size, MAG_ALIGN);
        return NULL;
    }
    mg = p;
    mg->next = NULL;
    mg->n = 0;
    mg->cap = k->rounds;
    m->mag_bytes += k->mag_size;
    m->magazines++;
    return mg;
}

static void depot_put_empty(struct ak_mag_class *k, magazine *mg)
{
    mg->next = k->empty;
    k->empty = mg;
    k->nempty++;
}

/* A full magazine leaves pc for the depot, and its blocks' credit with it. */
static void depot_put_full(ak_mag *m, ak_mag_cpu *pc, struct ak_mag_class *k, magazine *mg)
{
    size_t bytes = (size_t)mg->n * k->size;
    mg->next = k->full;
    k->full = mg;
    k->nfull++;
    m->depot_bytes += bytes;
    counter_set(&pc->held, pc->held - bytes);
    pc->credit -= bytes;
    m->granted -= bytes;
}

/* A full magazine leaves the depot for pc, with credit for its blocks. */
static magazine *depot_take_full(ak_mag *m, ak_mag_cpu *pc, struct ak_mag_class *k)
{
    magazine *mg = k->full;
    size_t bytes = (size_t)mg->n * k->size;
    k->full = mg->next;
    k->nfull--;
    if (k->min_full > k->nfull)
        k->min_full = k->nfull;
    m->depot_bytes -= bytes;
    counter_set(&pc->held, pc->held + bytes);
    pc->credit += bytes;
    m->granted += bytes;
    return mg;
}

/* The idle part of the depot goes back (Bonwick's working set, with the
 * layer's own clock: no OS, no time). Every operation that takes the lock
 * (a miss, an exchange, a call passed through, a free sent on to the
 * backend) is a tick; every reap_period ticks, each class gives back the
 * full and the empty magazines of its depot that no tick took since the
 * last reap (the lowest counts its lists had meanwhile), blocks and all.
 * Under the lock: O(classes + blocks given back), once per period. */
static void depot_reap(ak_mag *m)
{
    for (unsigned c = 0; c < AK_MAG_CLASSES; c++) {
        struct ak_mag_class *k = &m->cls[c];
        for (; k->min_full; k->min_full--) {
            magazine *mg = k->full;
            k->full = mg->next;
            k->nfull--;
            m->depot_bytes -= (size_t)mg->n * k->size;
            (void)magazine_empty_out(m, k, mg);
            magazine_free(m, k, mg);
            m->reaped++;
        }
        for (; k->min_empty; k->min_empty--) {
            magazine *mg = k->empty;
            k->empty = mg->next;
            k->nempty--;
            magazine_free(m, k, mg);
            m->reaped++;
        }
        k->min_full = k->nfull;
        k->min_empty = k->nempty;
    }
}

/* One tick of that clock, at the end of a locked section. */
static inline void tick(ak_mag *m)
{
    m->clock++;
    if (m->reap_period && ++m->ticks >= m->reap_period) {
        m->ticks = 0;
        depot_reap(m);
    }
}

/* ------------------------------------------------------------------ */
/* alloc                                                               */
/* ------------------------------------------------------------------ */

/* The top block of a non-empty magazine becomes live and goes to *out.
 * The hook comes last, so that nothing has to survive the call. */
static AK_ALWAYS_INLINE void magazine_pop(ak_mag *m, ak_mag_cpu *pc, const struct ak_mag_class *k,
                                          magazine *mg, void **out)
{
    void *p = ak_mag_pop_(pc, k, mg);
    *out = p;
    m->uncache(m->self, p, k->size, k->align);
}

/* Not a class request: straight to the backend. */
static AK_NOINLINE ak_error pass_alloc(ak_mag *m, ak_mag_cpu *pc, size_t size, size_t align,
                                       void **out)
{
    size_t grown = 0;
    lock(m);
    ak_error e = backend_alloc(m, pc, size, align, out, &grown);
    if (e == AK_OK) {
        m->pass_used += grown;
        m->pass_allocs++;
    }
    tick(m);
    unlock(m);
    return e;
}

/* The loaded magazine is empty. Bonwick's order: the previous one if it
 * is full (a swap, no lock), else a full one from the depot in exchange
 * for an empty one, else one block from the backend. */
/* After a miss, while the lock is held anyway: fill pc's empty magazines
 * of class c with up to config .miss_batch fresh blocks (at most one
 * magazine's worth), as far as pc's credit and the budget allow, so that
 * a CPU that starts on a class, or keeps allocating without freeing,
 * takes the lock once per batch rather than once per block. The blocks
 * are marked cached like any other in a magazine. */
static void miss_refill(ak_mag *m, ak_mag_cpu *pc, unsigned c)
{
    struct ak_mag_class *k = &m->cls[c];
    const uint32_t want = m->miss_batch < k->rounds ? m->miss_batch : k->rounds;
    magazine *mg = pc->loaded[c];
    if (mg == &no_magazine && pc->previous[c] != &no_magazine) {
        pc->loaded[c] = mg = pc->previous[c]; /* both are empty */
        pc->previous[c] = &no_magazine;
    }
    if (mg == &no_magazine) {
        credit_trim(m, pc, 0); /* so that its unused credit can pay for a magazine */
        mg = depot_take_empty(m, c);
        if (!mg)
            return;
        state_mag_in(pc, k);
        pc->loaded[c] = mg;
    }
    (void)credit_fit(m, pc, k);
    const ak_byte_allocator_ops *ops = m->backend.ops;
    while (mg->n < want && pc->held + k->size <= pc->credit) {
        void *p;
        if (ops->alloc(m->self, k->size, k->align, &p) != AK_OK)
            break;
        m->uncache(m->self, p, k->size, k->align); /* no stale mark: see backend_alloc */
        if (m->cache(m->self, p, k->size, k->align) != AK_OK) {
            (void)ops->dealloc(m->self, p, k->size, k->align); /* cannot happen: fresh */
            break;
        }
        ak_mag_rounds_(mg)[mg->n++] = p;
        counter_set(&pc->held, pc->held + k->size);
        m->class_out += k->size;
    }
}

AK_NOINLINE ak_error ak_mag_alloc_class_slow(ak_mag *m, ak_mag_cpu *pc, unsigned c, void **out)
{
    struct ak_mag_class *k = &m->cls[c];
    magazine *mg = pc->loaded[c], *prev = pc->previous[c];
    if (prev->n) {
        pc->loaded[c] = prev;
        pc->previous[c] = mg;
        magazine_pop(m, pc, k, prev, out);
        return AK_OK;
    }
    lock(m);
    if (!k->full) {
        ak_error e = backend_alloc(m, pc, k->size, k->align, out, NULL);
        if (e == AK_OK) {
            m->class_out += k->size;
            counter_set(&pc->alloc_misses, pc->alloc_misses + 1);
            if (m->miss_batch)
                miss_refill(m, pc, c);
        }
        tick(m);
        unlock(m);
        return e;
    }
    /* Both of pc's magazines are empty: one stays as the previous, the
     * other (if it is a real one) goes to the depot. */
    magazine *keep = mg != &no_magazine ? mg : prev, *give = keep == mg ? prev : mg;
    if (give != &no_magazine) {
        depot_put_empty(k, give);
        state_mag_out(pc, k);
    }
    magazine *full = depot_take_full(m, pc, k);
    state_mag_in(pc, k);
    pc->previous[c] = keep;
    pc->loaded[c] = full;
    m->exchanges++;
    credit_trim(m, pc, (size_t)k->rounds * k->size);
    tick(m);
    unlock(m);
    magazine_pop(m, pc, k, full, out);
    return AK_OK;
}

/* The fast path, written once for both entry points. */
static AK_ALWAYS_INLINE ak_error alloc_on(ak_mag *m, ak_mag_cpu *pc, size_t size, size_t align,
                                          void **out)
{
    if (AK_UNLIKELY(!out || !ak_is_pow2(align)))
        return AK_ERR_INVALID_PARAM;
    if (AK_LIKELY(size <= m->class_max_request)) {
        unsigned c = ak_sc_index(size + m->shift);
        if (AK_LIKELY(align <= m->cls[c].align))
            return ak_mag_alloc_class(m, pc, c, out);
    }
    return pass_alloc(m, pc, size, align, out);
}

ak_error ak_mag_alloc_on(ak_mag *m, ak_mag_cpu *pc, size_t size, size_t align, void **out)
{
    return alloc_on(m, pc, size, align, out);
}

ak_error ak_mag_alloc(ak_mag *m, unsigned cpu, size_t size, size_t align, void **out)
{
    if (AK_UNLIKELY(cpu >= m->ncpu))
        return AK_ERR_INVALID_PARAM;
    return alloc_on(m, &m->cpus[cpu], size, align, out);
}

/* ------------------------------------------------------------------ */
/* free                                                                */
/* ------------------------------------------------------------------ */

static AK_ALWAYS_INLINE void magazine_push(ak_mag_cpu *pc, const struct ak_mag_class *k,
                                           magazine *mg, void *p)
{
    ak_mag_push_(pc, k, mg, p);
}

/* A block that sits in a magazine must not reach the backend's dealloc,
 * which does not look at the mark, even when a bad free's size or align
 * routes it past the classes: the cache hook refuses it (and checks the
 * rest as dealloc would), then the mark comes off again. Called with the
 * lock held: the hooks read the backend's structures, which another
 * thread's locked dealloc may be changing next to this block. */
static ak_error refuse_cached(ak_mag *m, void *ptr, size_t size, size_t align)
{
    if (!m->cache)
        return AK_OK; /* no hooks: nothing is ever cached */
    ak_error e = m->cache(m->self, ptr, size, align);
    if (e == AK_OK)
        m->uncache(m->self, ptr, size, align);
    return e;
}

static AK_NOINLINE ak_error pass_free(ak_mag *m, void *ptr, size_t size, size_t align)
{
    lock(m);
    ak_error e = refuse_cached(m, ptr, size, align);
    if (e != AK_OK) {
        unlock(m);
        return e;
    }
    size_t before = backend_used(m);
    e = m->backend.ops->dealloc(m->self, ptr, size, align);
    if (e == AK_OK) {
        m->pass_used -= before - backend_used(m);
        m->pass_frees++;
    }
    tick(m);
    unlock(m);
    return e;
}

/* The block is checked and marked cached, but the loaded magazine is full
 * or pc's credit is used up. Bonwick's order: swap with an empty previous
 * magazine (no lock), else trade the full previous one for an empty one
 * at the depot; if there is no magazine or no budget, the block goes back
 * to the backend. */
AK_NOINLINE ak_error ak_mag_free_class_slow(ak_mag *m, ak_mag_cpu *pc, unsigned c, void *ptr)
{
    struct ak_mag_class *k = &m->cls[c];
    magazine *mg = pc->loaded[c], *prev = pc->previous[c];
    const bool full = mg->n == mg->cap, prev_empty = prev != &no_magazine && prev->n == 0;
    if (full && prev_empty && pc->held + k->size <= pc->credit) {
        pc->loaded[c] = prev;
        pc->previous[c] = mg;
        magazine_push(pc, k, prev, ptr);
        return AK_OK;
    }
    lock(m);
    credit_trim(m, pc, 0); /* so that its unused credit can pay for a magazine */
    if (full) {
        if (prev_empty) {
            pc->loaded[c] = prev;
            pc->previous[c] = mg;
            mg = prev;
        } else {
            magazine *fresh = depot_take_empty(m, c);
            if (!fresh)
                goto to_backend;
            state_mag_in(pc, k);
            if (prev != &no_magazine) {
                depot_put_full(m, pc, k, prev);
                state_mag_out(pc, k);
            }
            pc->previous[c] = mg;
            pc->loaded[c] = fresh;
            mg = fresh;
            m->exchanges++;
        }
    }
    if (!credit_fit(m, pc, k))
        goto to_backend;
    tick(m);
    unlock(m);
    magazine_push(pc, k, mg, ptr);
    return AK_OK;
to_backend:
    block_return(m, k, ptr);
    counter_set(&pc->free_misses, pc->free_misses + 1);
    tick(m);
    unlock(m);
    return AK_OK;
}

/* The fast path, written once for both entry points. */
static AK_ALWAYS_INLINE ak_error free_on(ak_mag *m, ak_mag_cpu *pc, void *ptr, size_t size,
                                         size_t align)
{
    if (AK_UNLIKELY(!ak_is_pow2(align)))
        return AK_ERR_INVALID_PARAM;
    if (AK_LIKELY(size <= m->class_max_request)) {
        unsigned c = ak_sc_index(size + m->shift);
        /* The hook checks it as dealloc would, and marks it: from there a
         * second free of it is refused. */
        if (AK_LIKELY(align <= m->cls[c].align))
            return ak_mag_free_class(m, pc, c, ptr);
    }
    return pass_free(m, ptr, size, align);
}

ak_error ak_mag_free_on(ak_mag *m, ak_mag_cpu *pc, void *ptr, size_t size, size_t align)
{
    return free_on(m, pc, ptr, size, align);
}

ak_error ak_mag_free(ak_mag *m, unsigned cpu, void *ptr, size_t size, size_t align)
{
    if (AK_UNLIKELY(cpu >= m->ncpu))
        return AK_ERR_INVALID_PARAM;
    return free_on(m, &m->cpus[cpu], ptr, size, align);
}

/* ------------------------------------------------------------------ */
/* Setup, states, flush and trim                                       */
/* ------------------------------------------------------------------ */

ak_error ak_mag_init(ak_mag *m, const ak_mag_config *cfg)
{
    if (!m || !cfg)
        return AK_ERR_INVALID_PARAM;
    const ak_byte_allocator_ops *ops = cfg->backend.ops;
    if (!ops || !ops->init || !ops->add_memory || !ops->alloc || !ops->dealloc ||
        !ops->total_bytes || !ops->used_bytes || !ops->available_bytes)
        return AK_ERR_INVALID_PARAM;
    const unsigned rounds = cfg->rounds ? cfg->rounds : AK_MAG_DEFAULT_ROUNDS;
    const size_t max_size = cfg->max_size ? cfg->max_size : AK_MAG_MAX_CLASS_SIZE;
    const size_t max_align = cfg->max_align ? cfg->max_align : AK_MAG_DEFAULT_ALIGN;
    const size_t mag_bytes = cfg->magazine_bytes ? cfg->magazine_bytes : AK_MAG_MAGAZINE_BYTES;
    const unsigned min_rounds = cfg->min_rounds ? cfg->min_rounds : 1;
    if (rounds > AK_MAG_MAX_ROUNDS || min_rounds > rounds || max_size > AK_MAG_MAX_CLASS_SIZE ||
        !ak_is_pow2(max_align) || !cfg->lock != !cfg->unlock || !cfg->cpus != !cfg->ncpu ||
        cfg->class_shift > 15 || cfg->miss_batch > AK_MAG_MAX_ROUNDS)
        return AK_ERR_INVALID_PARAM;

    const bool caching = ops->cache && ops->uncache;
    m->backend = cfg->backend;
    m->self = cfg->backend.self;
    m->cache = caching ? ops->cache : NULL;
    m->uncache = caching ? ops->uncache : NULL;
    m->mark_key = caching ? ak_byte_cache_key(cfg->backend) : NULL;
    const size_t shift = cfg->class_shift;
    const unsigned top = ak_sc_index(max_size > AK_SC_MAX - shift ? AK_SC_MAX : max_size + shift);
    m->shift = shift;
    m->miss_batch = cfg->miss_batch;
    m->class_max_request = caching ? ak_sc_size(top) - shift : 0;
    for (unsigned c = 0; c < AK_MAG_CLASSES; c++) {
        struct ak_mag_class *k = &m->cls[c];
        k->size = ak_sc_size(c) - shift;
        size_t per = mag_bytes / k->size;
        k->rounds = (uint32_t)(per < min_rounds ? min_rounds : per > rounds ? rounds : per);
        k->mag_size = MAG_HEADER + (size_t)k->rounds * sizeof(void *);
        k->align = 0;
        if (caching && c <= top) {
            size_t a = ak_sc_align(c);
            k->align = a < max_align ? a : max_align;
        }
        k->full = k->empty = NULL;
        k->nfull = k->nempty = k->min_full = k->min_empty = 0;
    }
    m->reap_period = cfg->reap_period;
    m->ticks = 0;
    m->reaped = 0;
    m->limit = cfg->limit_bytes ? cfg->limit_bytes : AK_MAG_DEFAULT_LIMIT;
    m->depot_bytes = m->mag_bytes = m->granted = m->class_out = m->pass_used = 0;
    m->magazines = m->failed_allocs = 0;
    m->exchanges = m->releases = m->pass_allocs = m->pass_frees = 0;
    m->gone_alloc_hits = m->gone_alloc_misses = m->gone_free_hits = m->gone_free_misses = 0;
    m->lock = cfg->lock;
    m->unlock = cfg->unlock;
    m->lock_ctx = cfg->lock_ctx;
    m->cpu_index = cfg->cpu_index;
    m->cpu_ctx = cfg->cpu_ctx;
    m->grow = cfg->grow;
    m->grow_ctx = cfg->grow_ctx;
    m->grow_window = cfg->grow_window ? cfg->grow_window : AK_MAG_PRESSURE_WINDOW;
    m->clock = m->release_clock = 0;
    m->cpus = cfg->cpus ? cfg->cpus : &m->own;
    m->ncpu = cfg->cpus ? cfg->ncpu : 1;
    m->attached = NULL;
    for (unsigned i = m->ncpu; i-- > 0;) {
        ak_mag_cpu *pc = &m->cpus[i];
        state_clear(pc);
        pc->owner = m;
        pc->next = m->attached;
        m->attached = pc;
    }
    return AK_OK;
}

ak_error ak_mag_cpu_attach(ak_mag *m, ak_mag_cpu *pc)
{
    if (!pc || pc->owner)
        return AK_ERR_INVALID_PARAM;
    state_clear(pc);
    lock(m);
    pc->owner = m;
    pc->next = m->attached;
    m->attached = pc;
    unlock(m);
    return AK_OK;
}

/* Where pc is linked among m's states, if it is an attached one that was
 * not given at init; NULL if not. Under the lock. */
static ak_mag_cpu **attached_link(ak_mag *m, const ak_mag_cpu *pc)
{
    const uintptr_t at = (uintptr_t)pc, first = (uintptr_t)m->cpus;
    if (at >= first && at < first + m->ncpu * sizeof *pc)
        return NULL;
    ak_mag_cpu **link = &m->attached;
    while (*link && *link != pc)
        link = &(*link)->next;
    return *link ? link : NULL;
}

/* Detach pc, flushed or abandoned; either way its counts join the
 * layer's totals. */
static ak_error detach(ak_mag *m, ak_mag_cpu *pc, bool flush)
{
    if (!pc || pc->owner != m)
        return AK_ERR_INVALID_PARAM;
    lock(m);
    ak_mag_cpu **link = attached_link(m, pc);
    if (!link) {
        unlock(m);
        return AK_ERR_INVALID_PARAM;
    }
    if (flush) {
        (void)flush_locked(m, pc);
    } else {
        /* Its magazines and blocks are lost. Only counters that change
         * under the lock are read: exact, whatever its owner was doing
         * without the lock. */
        m->mag_bytes -= pc->mag_bytes;
        m->magazines -= pc->mags;
        m->granted -= pc->credit;
    }
    state_retire(m, pc);
    *link = pc->next;
    pc->next = NULL;
    pc->owner = NULL;
    unlock(m);
    return AK_OK;
}

ak_error ak_mag_cpu_detach(ak_mag *m, ak_mag_cpu *pc)
{
    return detach(m, pc, true);
}

ak_error ak_mag_cpu_abandon(ak_mag *m, ak_mag_cpu *pc)
{
    return detach(m, pc, false);
}

ak_mag_cpu *ak_mag_cpu_state(ak_mag *m, unsigned cpu)
{
    return cpu < m->ncpu ? &m->cpus[cpu] : NULL;
}

void ak_mag_flush_on(ak_mag *m, ak_mag_cpu *pc)
{
    lock(m);
    (void)flush_locked(m, pc);
    unlock(m);
}

ak_error ak_mag_flush(ak_mag *m, unsigned cpu)
{
    if (cpu >= m->ncpu)
        return AK_ERR_INVALID_PARAM;
    ak_mag_flush_on(m, &m->cpus[cpu]);
    return AK_OK;
}

void ak_mag_trim(ak_mag *m)
{
    lock(m);
    (void)trim_locked(m);
    unlock(m);
}

/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

static size_t held_total(const ak_mag *m)
{
    size_t h = m->depot_bytes;
    for (const ak_mag_cpu *pc = m->attached; pc; pc = pc->next)
        h += counter_get(&pc->held);
    return h;
}

static size_t used_locked(const ak_mag *m)
{
    if (!m->cache)
        return backend_used(m);
    return m->pass_used + m->class_out - held_total(m);
}

size_t ak_mag_used_bytes(const ak_mag *m)
{
    lock(m);
    size_t u = used_locked(m);
    unlock(m);
    return u;
}

size_t ak_mag_usable_size(ak_mag *m, const void *ptr, size_t size, size_t align)
{
    unsigned c = ak_is_pow2(align) ? route(m, size, align) : CLASS_PASS;
    lock(m);
    size_t u = c == CLASS_PASS
                   ? ak_byte_usable_size(m->backend, ptr, size, align)
                   : (ak_byte_usable_size(m->backend, ptr, m->cls[c].size, m->cls[c].align)
                          ? m->cls[c].size
                          : 0);
    unlock(m);
    return u;
}

ak_error ak_mag_resize(ak_mag *m, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    if (route(m, old_size, align) != CLASS_PASS || route(m, new_size, align) != CLASS_PASS)
        return AK_ERR_NO_MEMORY;
    lock(m);
    if (m->cache) {
        /* Not a block in a magazine (see refuse_cached), and its contents
         * kept: the hook's mark lands on its first two words. */
        if (!ak_byte_usable_size(m->backend, ptr, old_size, align)) {
            unlock(m);
            return AK_ERR_NOT_ALLOCATED;
        }
        uintptr_t *w = ptr, keep0 = w[0], keep1 = w[1];
        ak_error e = refuse_cached(m, ptr, old_size, align);
        if (e != AK_OK) {
            unlock(m);
            return e; /* the hook wrote nothing */
        }
        w[0] = keep0;
        w[1] = keep1;
    }
    size_t before = backend_used(m);
    ak_error e = ak_byte_resize(m->backend, ptr, old_size, align, new_size);
    if (e == AK_OK)
        m->pass_used = m->pass_used - before + backend_used(m);
    unlock(m);
    return e;
}

void ak_mag_stats(const ak_mag *m, struct ak_mag_stats *out)
{
    /* Field by field: a struct cleared at once becomes a call to the
     * compiler's runtime (__aeabi_memclr8) on some targets. */
    lock(m);
    out->alloc_hits = m->gone_alloc_hits;
    out->alloc_misses = m->gone_alloc_misses;
    out->free_hits = m->gone_free_hits;
    out->free_misses = m->gone_free_misses;
    out->caching = m->cache != NULL;
    for (const ak_mag_cpu *pc = m->attached; pc; pc = pc->next) {
        out->alloc_hits += counter_get(&pc->alloc_hits);
        out->alloc_misses += counter_get(&pc->alloc_misses);
        out->free_hits += counter_get(&pc->free_hits);
        out->free_misses += counter_get(&pc->free_misses);
    }
    out->magazines = m->magazines;
    out->passed = m->pass_allocs + m->pass_frees;
    out->exchanges = m->exchanges;
    out->releases = m->releases;
    out->reaped = m->reaped;
    out->cached_bytes = held_total(m);
    out->depot_bytes = m->depot_bytes;
    out->magazine_bytes = m->mag_bytes;
    out->limit_bytes = m->limit;
    unlock(m);
}

/* Blocks the layer holds in the backend: the cached ones and the
 * magazines. Other CPUs' slots are read without stopping them (relaxed
 * loads; under the lock no magazine is freed or moved to the depot, only
 * swapped within its state): exact when no other CPU is inside the
 * layer. Under the lock. O(states x classes). */
static size_t held_blocks(const ak_mag *m)
{
    size_t n = m->magazines;
    for (const ak_mag_cpu *pc = m->attached; pc; pc = pc->next)
        for (unsigned c = 0; c < AK_MAG_CLASSES; c++) {
            const magazine *l = __atomic_load_n(&pc->loaded[c], __ATOMIC_RELAXED);
            const magazine *v = __atomic_load_n(&pc->previous[c], __ATOMIC_RELAXED);
            n += __atomic_load_n(&l->n, __ATOMIC_RELAXED);
            n += __atomic_load_n(&v->n, __ATOMIC_RELAXED);
        }
    for (unsigned c = 0; c < AK_MAG_CLASSES; c++)
        n += (size_t)m->cls[c].nfull * m->cls[c].rounds;
    return n;
}

ak_error ak_mag_walk(const ak_mag *m, ak_walker fn, void *ctx)
{
    lock(m);
    ak_error e = ak_byte_walk(m->backend, fn, ctx);
    unlock(m);
    return e;
}

void ak_mag_byte_stats(const ak_mag *m, struct ak_byte_stats *out)
{
    lock(m);
    ak_byte_stats(m->backend, out);
    size_t held = m->cache ? held_blocks(m) : 0;
    out->used_bytes = used_locked(m);
    out->used_blocks = out->used_blocks > held ? out->used_blocks - held : 0;
    out->failed_allocs = m->failed_allocs;
    unlock(m);
}

/* ------------------------------------------------------------------ */
/* The byte interface                                                  */
/* ------------------------------------------------------------------ */

/* The caller's state when config .cpu_index names it; NULL if out of
 * range. Out of line: the common case (no callback, CPU 0) saves nothing
 * around a call. */
static AK_NOINLINE ak_mag_cpu *cpu_by_callback(ak_mag *m)
{
    unsigned i = m->cpu_index(m->cpu_ctx);
    return i < m->ncpu ? &m->cpus[i] : NULL;
}

/* The backend forgot every block: so does the layer (the magazines lived
 * in the backend's memory too). */
static void forget_locked(ak_mag *m)
{
    for (ak_mag_cpu *pc = m->attached; pc; pc = pc->next)
        state_clear(pc);
    for (unsigned c = 0; c < AK_MAG_CLASSES; c++) {
        m->cls[c].full = m->cls[c].empty = NULL;
        m->cls[c].nfull = m->cls[c].nempty = m->cls[c].min_full = m->cls[c].min_empty = 0;
    }
    m->ticks = 0;
    m->reaped = 0;
    m->depot_bytes = m->mag_bytes = m->granted = m->class_out = m->pass_used = 0;
    m->magazines = m->failed_allocs = 0;
    m->exchanges = m->releases = m->pass_allocs = m->pass_frees = 0;
    m->gone_alloc_hits = m->gone_alloc_misses = m->gone_free_hits = m->gone_free_misses = 0;
}

static ak_error mag_op_init(void *self, uintptr_t start, size_t size)
{
    ak_mag *m = self;
    lock(m);
    ak_error e = m->backend.ops->init(m->self, start, size);
    if (e == AK_OK)
        forget_locked(m);
    unlock(m);
    return e;
}

static ak_error mag_op_add_memory(void *self, uintptr_t start, size_t size)
{
    ak_mag *m = self;
    lock(m);
    ak_error e = m->backend.ops->add_memory(m->self, start, size);
    unlock(m);
    return e;
}

static ak_error mag_op_alloc(void *self, size_t size, size_t align, void **out)
{
    ak_mag *m = self;
    if (!m->cpu_index)
        return alloc_on(m, &m->cpus[0], size, align, out);
    ak_mag_cpu *pc = cpu_by_callback(m);
    return pc ? alloc_on(m, pc, size, align, out) : AK_ERR_INVALID_PARAM;
}

static ak_error mag_op_dealloc(void *self, void *ptr, size_t size, size_t align)
{
    ak_mag *m = self;
    if (!m->cpu_index)
        return free_on(m, &m->cpus[0], ptr, size, align);
    ak_mag_cpu *pc = cpu_by_callback(m);
    return pc ? free_on(m, pc, ptr, size, align) : AK_ERR_INVALID_PARAM;
}

static size_t mag_op_total_bytes(const void *self)
{
    const ak_mag *m = self;
    lock(m);
    size_t t = m->backend.ops->total_bytes(m->self);
    unlock(m);
    return t;
}

static size_t mag_op_used_bytes(const void *self)
{
    return ak_mag_used_bytes(self);
}

static size_t mag_op_available_bytes(const void *self)
{
    const ak_mag *m = self;
    lock(m);
    size_t a = m->backend.ops->total_bytes(m->self) - used_locked(m);
    unlock(m);
    return a;
}

static ak_error mag_op_resize(void *self, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    return ak_mag_resize(self, ptr, old_size, align, new_size);
}

/* The interface's const object is taken for the lock only. */
static size_t mag_op_usable_size(const void *self, const void *ptr, size_t size, size_t align)
{
    return ak_mag_usable_size((ak_mag *)(uintptr_t)self, ptr, size, align);
}

static const char *mag_op_check(const void *self)
{
    return ak_mag_check(self);
}

static ak_error mag_op_walk(const void *self, ak_walker fn, void *ctx)
{
    return ak_mag_walk(self, fn, ctx);
}

static void mag_op_stats(const void *self, struct ak_byte_stats *out)
{
    ak_mag_byte_stats(self, out);
}

static const ak_byte_allocator_ops mag_byte_ops = {
    .name = "magazine",
    .init = mag_op_init,
    .add_memory = mag_op_add_memory,
    .alloc = mag_op_alloc,
    .dealloc = mag_op_dealloc,
    .total_bytes = mag_op_total_bytes,
    .used_bytes = mag_op_used_bytes,
    .available_bytes = mag_op_available_bytes,
    .resize = mag_op_resize,
    .usable_size = mag_op_usable_size,
    .check = mag_op_check,
    .walk = mag_op_walk,
    .stats = mag_op_stats,
};

ak_byte_allocator ak_mag_as_byte(ak_mag *m)
{
    ak_byte_allocator h = {&mag_byte_ops, m};
    return h;
}

/* ------------------------------------------------------------------ */
/* The checker                                                         */
/* ------------------------------------------------------------------ */

/* A magazine in one of a state's slots: NULL if sound, else why not. */
static const char *check_slot(const struct ak_mag_class *k, const magazine *mg, bool previous)
{
    if (!mg)
        return "magazine: a state's slot is NULL";
    if (mg == &no_magazine)
        return NULL;
    if (!k->align)
        return "magazine: a state has a magazine of a class that is not cached";
    if (mg->cap != k->rounds || mg->n > mg->cap)
        return "magazine: a state's magazine has the wrong capacity or too many blocks";
    if (previous && mg->n != 0 && mg->n != mg->cap)
        return "magazine: a previous magazine is neither empty nor full";
    return NULL;
}

/* One depot list of class k: `count` magazines, each with n == want_full
 * ? cap : 0. Adds their blocks' bytes to *bytes and their own to
 * *mag_bytes. */
static const char *check_depot_list(const struct ak_mag_class *k, const magazine *mg,
                                    uint32_t count, bool want_full, size_t *bytes,
                                    size_t *mag_bytes, size_t *mags)
{
    uint32_t seen = 0;
    for (; mg; mg = mg->next) {
        if (++seen > count)
            return "depot: a list is longer than its count (or loops)";
        if (mg == &no_magazine || mg->cap != k->rounds)
            return "depot: a magazine has the wrong capacity";
        if (want_full ? mg->n != mg->cap : mg->n != 0)
            return want_full ? "depot: a magazine on the full list is not full"
                             : "depot: a magazine on the empty list is not empty";
        *bytes += (size_t)mg->n * k->size;
        *mag_bytes += k->mag_size;
        ++*mags;
    }
    if (seen != count)
        return "depot: a list is shorter than its count";
    if ((want_full ? k->min_full : k->min_empty) > count)
        return "depot: a list's lowest count since the last reap is above its count";
    if (!k->align && count)
        return "depot: magazines for a class that is not cached";
    return NULL;
}

/* One state: its slots, and its held bytes against them. */
static const char *check_state(const ak_mag *m, const ak_mag_cpu *pc, size_t *mag_bytes,
                               size_t *mags)
{
    size_t held = 0, own = 0, own_bytes = 0;
    for (unsigned c = 0; c < AK_MAG_CLASSES; c++) {
        const struct ak_mag_class *k = &m->cls[c];
        const magazine *lo = pc->loaded[c], *pr = pc->previous[c];
        const char *why = check_slot(k, lo, false);
        if (!why)
            why = check_slot(k, pr, true);
        if (why)
            return why;
        if (lo == pr && lo != &no_magazine)
            return "magazine: one magazine is both loaded and previous";
        held += (size_t)(lo->n + pr->n) * k->size;
        const size_t here = (size_t)(lo != &no_magazine) + (pr != &no_magazine);
        own_bytes += here * k->mag_size;
        own += here;
    }
    if (own != pc->mags || own_bytes != pc->mag_bytes)
        return "magazine: a state's count of magazines does not match its slots";
    *mag_bytes += own_bytes;
    *mags += own;
    if (held != counter_get(&pc->held))
        return "magazine: a state's held bytes do not match its magazines";
    if (held > pc->credit)
        return "magazine: a state holds more than its credit";
    return NULL;
}

/* The structures and counters, before any block is looked at. */
static const char *check_structure(const ak_mag *m)
{
    size_t depot = 0, mag_bytes = 0, mags = 0, credit = 0, held = 0;
    if ((m->cache == NULL) != (m->uncache == NULL))
        return "magazine: only one cache hook";
    for (unsigned c = 0; c < AK_MAG_CLASSES; c++) {
        const struct ak_mag_class *k = &m->cls[c];
        if (k->size != ak_sc_size(c) - m->shift || (k->align && !ak_is_pow2(k->align)) ||
            k->rounds < 1 || k->rounds > AK_MAG_MAX_ROUNDS ||
            k->mag_size != MAG_HEADER + (size_t)k->rounds * sizeof(void *))
            return "magazine: a class's parameters are wrong";
        if (k->align &&
            (!m->cache || k->size > m->class_max_request || (k->size + m->shift) % k->align))
            return "magazine: a class is cached that cannot be";
        const char *why = check_depot_list(k, k->full, k->nfull, true, &depot, &mag_bytes, &mags);
        if (!why)
            why = check_depot_list(k, k->empty, k->nempty, false, &depot, &mag_bytes, &mags);
        if (why)
            return why;
    }
    if (m->ncpu == 0 || !m->cpus)
        return "magazine: no CPU";
    for (unsigned i = 0; i < m->ncpu; i++)
        if (m->cpus[i].owner != m)
            return "magazine: a CPU's state is not attached";
    /* Every attached state; a second pointer at half speed catches a loop. */
    const ak_mag_cpu *slow = m->attached;
    size_t states = 0;
    for (const ak_mag_cpu *pc = m->attached; pc; pc = pc->next) {
        if (pc->owner != m)
            return "magazine: an attached state belongs to another layer";
        if (++states % 2 == 0) {
            slow = slow->next;
            if (slow == pc->next)
                return "magazine: the list of states loops";
        }
        const char *why = check_state(m, pc, &mag_bytes, &mags);
        if (why)
            return why;
        held += counter_get(&pc->held);
        credit += pc->credit;
    }
    if (states < m->ncpu)
        return "magazine: fewer attached states than CPUs";
    if (depot != m->depot_bytes)
        return "depot: depot_bytes does not match the full magazines";
    if (mag_bytes != m->mag_bytes || mags != m->magazines)
        return "magazine: mag_bytes or the count of magazines does not match the magazines";
    if (credit != m->granted)
        return "magazine: granted does not match the states' credit";
    size_t taken;
    if (ak_add_overflows(m->depot_bytes, m->mag_bytes, &taken) ||
        ak_add_overflows(taken, m->granted, &taken) || taken > m->limit)
        return "magazine: the bound is exceeded";
    if (held + m->depot_bytes > m->class_out)
        return "magazine: more class bytes cached than taken from the backend";
    if (!m->cache && (held || m->depot_bytes || m->mag_bytes || m->class_out))
        return "magazine: a layer without cache hooks holds something";
    return NULL;
}

/* The blocks, through the backend: each one live, of its class and marked
 * cached; none twice. A first pass re-marks each block: a cached block is
 * refused by the cache hook, then unmarked, so that its second appearance
 * is accepted and gives it away. A second pass marks every live block
 * again, which leaves the backend as it was. */
typedef struct block_walk {
    const char *why;
    bool restore;
} block_walk;

static void check_blocks_of(ak_mag *m, const struct ak_mag_class *k, magazine *mg, block_walk *w)
{
    for (uint32_t i = 0; i < mg->n; i++) {
        void *p = ak_mag_rounds_(mg)[i];
        size_t usable = ak_byte_usable_size(m->backend, p, k->size, k->align);
        if (w->restore) {
            if (usable)
                (void)m->cache(m->self, p, k->size, k->align);
            continue;
        }
        if (w->why)
            continue;
        if (!ak_is_aligned((uintptr_t)p, k->align))
            w->why = "magazine: a block lacks its class's alignment";
        else if (usable < k->size)
            w->why = "magazine: a block in a magazine is not live in the backend, or too small";
        if (w->why)
            continue;
        ak_error e = m->cache(m->self, p, k->size, k->align);
        if (e == AK_OK)
            w->why = "magazine: a block is in two places, or was not marked cached";
        else if (e != AK_ERR_NOT_ALLOCATED)
            w->why = "magazine: the backend refuses a block for its class";
        else
            m->uncache(m->self, p, k->size, k->align);
    }
}

/* A magazine itself: live in the backend and marked cached (the hook
 * refuses it). Nothing to restore: the hook changes nothing when it
 * refuses, and a magazine it accepts is left marked, as it should be. */
static void check_magazine_marked(ak_mag *m, const struct ak_mag_class *k, magazine *mg,
                                  block_walk *w)
{
    if (w->restore || w->why || mg == &no_magazine)
        return;
    if (ak_byte_usable_size(m->backend, mg, k->mag_size, MAG_ALIGN) < k->mag_size)
        w->why = "magazine: a magazine is not a live block of the backend";
    else if (m->cache(m->self, mg, k->mag_size, MAG_ALIGN) != AK_ERR_NOT_ALLOCATED)
        w->why = "magazine: a magazine is not marked cached";
}

static void walk_blocks(ak_mag *m, block_walk *w)
{
    for (ak_mag_cpu *pc = m->attached; pc; pc = pc->next)
        for (unsigned c = 0; c < AK_MAG_CLASSES; c++) {
            const struct ak_mag_class *k = &m->cls[c];
            check_magazine_marked(m, k, pc->loaded[c], w);
            check_magazine_marked(m, k, pc->previous[c], w);
            check_blocks_of(m, k, pc->loaded[c], w);
            check_blocks_of(m, k, pc->previous[c], w);
        }
    for (unsigned c = 0; c < AK_MAG_CLASSES; c++) {
        const struct ak_mag_class *k = &m->cls[c];
        for (magazine *mg = k->full; mg; mg = mg->next) {
            check_magazine_marked(m, k, mg, w);
            check_blocks_of(m, k, mg, w);
        }
        for (magazine *mg = k->empty; mg; mg = mg->next)
            check_magazine_marked(m, k, mg, w);
    }
}

const char *ak_mag_check(const ak_mag *cm)
{
    /* Const to the caller: the walk changes the blocks' marks and puts
     * them back. */
    ak_mag *m = (ak_mag *)(uintptr_t)cm;
    lock(m);
    const char *why = check_structure(m);
    if (!why && m->cache && m->backend.ops->usable_size) {
        block_walk w = {NULL, false};
        walk_blocks(m, &w);
        w.restore = true;
        walk_blocks(m, &w);
        why = w.why;
    }
    if (!why)
        why = ak_byte_check(m->backend);
    unlock(m);
    return why;
}
