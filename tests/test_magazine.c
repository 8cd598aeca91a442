/* Tests of the magazine layer (include/allockit/magazine.h): the API one
 * call at a time, Bonwick's magazine sequence step by step, the contract
 * (double frees, frees of cached or foreign pointers), the bound, flush
 * and trim, release under memory pressure, several simulated CPUs with one
 * depot lock, real threads, and a randomised model with a shadow of every
 * live block. ak_mag_check runs between operations throughout.
 *
 * Every test runs over every backend of the table below. The test double
 * (tests/mag_double.h) has the cache hooks; the kit's allocators are in
 * the table too and get the caching tests as soon as they have hooks
 * (ak_byte_can_cache); until then they run the tests that hold for a
 * layer passing everything through. Adding a backend is one line. */
#include "testlib.h"

#include "mag_double.h"
#include "model.h"
#include "walk_check.h"

#include <allockit.h>
#include <pthread.h>

/* ------------------------------------------------------------------ */
/* The lock hook: counts, and catches recursion and a lock left held    */
/* ------------------------------------------------------------------ */

typedef struct test_lock {
    pthread_mutex_t mutex; /* only when threads share the layer */
    bool threaded;
    int depth;
    unsigned long acquisitions, recursive, bad_unlocks;
} test_lock;

static void tl_lock(void *ctx)
{
    test_lock *l = ctx;
    if (l->threaded)
        pthread_mutex_lock(&l->mutex);
    if (l->depth != 0)
        l->recursive++;
    l->depth++;
    l->acquisitions++;
}

static void tl_unlock(void *ctx)
{
    test_lock *l = ctx;
    if (l->depth != 1)
        l->bad_unlocks++;
    l->depth--;
    if (l->threaded)
        pthread_mutex_unlock(&l->mutex);
}

/* ------------------------------------------------------------------ */
/* Backends                                                            */
/* ------------------------------------------------------------------ */

typedef struct backend_kind {
    const char *name;
    size_t obj_size;
    /* obj is zeroed; lock_depth is the test lock's depth, which the double
     * checks on every call that needs the lock. */
    ak_byte_allocator (*make)(void *obj, const int *lock_depth);
    void (*destroy)(void *obj);
    /* exact: used_bytes is the usable sizes summed (the double); else the
     * transitional range of core.h's move (requested .. usable). */
    bool exact;
    /* A free with a smaller class's size is refused (another length). */
    bool strict_classes;
} backend_kind;

static ak_byte_allocator make_double_strict(void *obj, const int *lock_depth)
{
    mag_double *d = obj;
    d->strict = true;
    d->lock_depth = lock_depth;
    return mag_double_as_byte(d);
}

static ak_byte_allocator make_double_slack(void *obj, const int *lock_depth)
{
    mag_double *d = obj;
    d->slack = 1; /* usable size above the class size, like a header */
    d->lock_depth = lock_depth;
    return mag_double_as_byte(d);
}

static void destroy_double(void *obj)
{
    mag_double_destroy(obj);
}

#if AK_HAVE_TLSF
static ak_byte_allocator make_tlsf(void *obj, const int *lock_depth)
{
    (void)lock_depth;
    return ak_tlsf_as_byte(obj);
}
#endif
#if AK_HAVE_BUDDY
static ak_byte_allocator make_buddy(void *obj, const int *lock_depth)
{
    (void)lock_depth;
    return ak_buddy_as_byte(obj);
}
#endif
#if AK_HAVE_SLAB
static ak_byte_allocator make_slab(void *obj, const int *lock_depth)
{
    (void)lock_depth;
    return ak_slab_as_byte(obj);
}
#endif

static const backend_kind backends[] = {
    {"double", sizeof(mag_double), make_double_strict, destroy_double, true, true},
    {"double_slack", sizeof(mag_double), make_double_slack, destroy_double, true, false},
#if AK_HAVE_TLSF
    {"tlsf", sizeof(ak_tlsf), make_tlsf, NULL, false, false},
#endif
#if AK_HAVE_BUDDY
    {"buddy", sizeof(ak_buddy), make_buddy, NULL, false, false},
#endif
#if AK_HAVE_SLAB
    {"slab", sizeof(ak_slab), make_slab, NULL, false, false},
#endif
};
#define NBACKENDS (sizeof backends / sizeof backends[0])

/* ------------------------------------------------------------------ */
/* The fixture: a backend on a region, a layer over it, NCPU states      */
/* ------------------------------------------------------------------ */

#define NCPU        4
#define REGION_MAX  ((size_t)16 << 20)
#define REGION_ALGN ((size_t)1 << 16)

static unsigned char *region_mem;

typedef struct fixture {
    const backend_kind *kind;
    void *obj;
    ak_byte_allocator backend;
    test_lock lock;
    ak_mag m;
    ak_mag_cpu cpus[NCPU];
    unsigned char *mem;
    size_t size;
    bool open;
} fixture;

static fixture fx;
static const backend_kind *cur_kind;

static void fx_close(void)
{
    if (!fx.open)
        return;
    if (fx.kind->destroy)
        fx.kind->destroy(fx.obj);
    free(fx.obj);
    if (fx.lock.threaded)
        pthread_mutex_destroy(&fx.lock.mutex);
    memset(&fx, 0, sizeof fx);
}

/* A fresh backend on `size` bytes of the region and a layer over it with
 * the given config (backend, states and lock filled in here; ncpu 0 gives
 * the layer's own single state). */
static void fx_open(size_t size, ak_mag_config cfg, bool with_lock)
{
    fx_close();
    if (!region_mem) {
        region_mem = aligned_alloc(REGION_ALGN, REGION_MAX);
        CHECK(region_mem != NULL);
    }
    CHECK(size <= REGION_MAX);
    fx.kind = cur_kind;
    fx.obj = calloc(1, cur_kind->obj_size);
    CHECK(fx.obj != NULL);
    fx.open = true;
    fx.backend = cur_kind->make(fx.obj, &fx.lock.depth);
    fx.mem = region_mem;
    fx.size = size;
    fx.lock.depth = 1; /* the backend is set up before the layer exists */
    CHECK_OK(ak_byte_init(fx.backend, (uintptr_t)fx.mem, size));
    fx.lock.depth = 0;
    cfg.backend = fx.backend;
    if (cfg.ncpu) {
        CHECK(cfg.ncpu <= NCPU);
        cfg.cpus = fx.cpus;
    }
    if (with_lock) {
        cfg.lock = tl_lock;
        cfg.unlock = tl_unlock;
        cfg.lock_ctx = &fx.lock;
    }
    CHECK_OK(ak_mag_init(&fx.m, &cfg));
}

/* Whether the current backend has the cache hooks (with or without an
 * open fixture: the ops table says it). */
static bool caching(void)
{
    if (fx.open)
        return ak_byte_can_cache(fx.backend);
    void *obj = calloc(1, cur_kind->obj_size);
    CHECK(obj != NULL);
    int depth = 0;
    bool can = ak_byte_can_cache(cur_kind->make(obj, &depth));
    if (cur_kind->destroy)
        cur_kind->destroy(obj);
    free(obj);
    return can;
}

/* The backend's own used_bytes, read as the layer would (under the lock
 * for the double's bookkeeping). */
static size_t backend_used(void)
{
    fx.lock.depth++;
    size_t u = ak_byte_used_bytes(fx.backend);
    fx.lock.depth--;
    return u;
}

static size_t backend_total(void)
{
    fx.lock.depth++;
    size_t t = ak_byte_total_bytes(fx.backend);
    fx.lock.depth--;
    return t;
}

/* The lock is free, was never taken twice, and the double saw every call
 * that needs the lock made under it. */
static void lock_sane(void)
{
    CHECKF(fx.lock.depth == 0, "lock left held (depth %d)", fx.lock.depth);
    CHECKF(fx.lock.recursive == 0, "lock taken recursively %lu times", fx.lock.recursive);
    CHECKF(fx.lock.bad_unlocks == 0, "unlock without the lock %lu times", fx.lock.bad_unlocks);
    if (fx.kind->destroy) {
        const mag_double *d = fx.obj;
        CHECKF(d->unlocked_calls == 0, "%lu backend calls without the lock", d->unlocked_calls);
    }
}

static void layer_sane(void)
{
    lock_sane();
    CHECK_INVARIANTS(ak_mag_check(&fx.m));
    lock_sane();
}

static ak_mag_stats_t stats(void)
{
    ak_mag_stats_t s;
    ak_mag_stats(&fx.m, &s);
    return s;
}

static bool in_region(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)fx.mem;
    return a >= lo && a - lo <= fx.size && n <= fx.size - (a - lo);
}

static void *xalloc(unsigned cpu, size_t size, size_t align)
{
    void *p = NULL;
    ak_error e = ak_mag_alloc(&fx.m, cpu, size, align, &p);
    CHECKF(e == AK_OK, "alloc(cpu %u, %zu, %zu) gave %s", cpu, size, align, ak_error_name(e));
    CHECKF(p && ak_is_aligned((uintptr_t)p, align), "alloc(%zu, %zu) gave %p", size, align, p);
    CHECKF(in_region(p, size ? size : 1), "alloc(%zu) gave %p outside the region", size, p);
    lock_sane();
    return p;
}

static void xfree(unsigned cpu, void *p, size_t size, size_t align)
{
    ak_error e = ak_mag_free(&fx.m, cpu, p, size, align);
    CHECKF(e == AK_OK, "free(cpu %u, %p, %zu, %zu) gave %s", cpu, p, size, align, ak_error_name(e));
    lock_sane();
}

/* used_bytes against the model: `usable` exactly over the double; over
 * the kit's allocators anything from `requested` to `usable` while they
 * move to core.h's rule. */
static void used_is(size_t requested, size_t usable)
{
    size_t u = ak_mag_used_bytes(&fx.m);
    if (fx.kind->exact)
        CHECKF(u == usable, "used_bytes %zu, expected %zu", u, usable);
    else
        CHECKF(u >= requested && u <= usable, "used_bytes %zu, expected %zu..%zu", u, requested,
               usable);
    lock_sane();
}

/* Everything back: every CPU flushed, the depot trimmed. */
static void drain(void)
{
    for (unsigned c = 0; c < fx.m.ncpu; c++)
        CHECK_OK(ak_mag_flush(&fx.m, c));
    ak_mag_trim(&fx.m);
    layer_sane();
    ak_mag_stats_t s = stats();
    CHECKF(s.cached_bytes == 0 && s.magazines == 0 && s.magazine_bytes == 0,
           "after flush and trim: %zu cached, %zu magazines", s.cached_bytes, s.magazines);
}

/* The class size a request of `size` gets (the series of ak_sizeclass.h,
 * written out here independently). */
static size_t class_of(size_t size)
{
    if (size <= 128)
        return size <= 16 ? 16 : (size + 15) / 16 * 16;
    size_t p = 128;
    while (p * 2 < size)
        p *= 2;
    size_t step = p / 4;
    return (size + step - 1) / step * step;
}

#define CACHING_ONLY()                                                                             \
    do {                                                                                           \
        if (!caching()) {                                                                          \
            printf("(no cache hooks yet: passes through) ");                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static const ak_mag_config cfg_default = {0};

/* ------------------------------------------------------------------ */
/* API semantics, one call at a time                                   */
/* ------------------------------------------------------------------ */

static void test_init_errors(void)
{
    fx_open((size_t)1 << 20, cfg_default, true);
    ak_mag m2;
    memset(&m2, 0x5a, sizeof m2);
    unsigned char before[sizeof m2];
    memcpy(before, &m2, sizeof m2);
    ak_mag_config c = {
        .backend = fx.backend, .lock = tl_lock, .unlock = tl_unlock, .lock_ctx = &fx.lock};
    CHECK_ERR(ak_mag_init(NULL, &c), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_mag_init(&m2, NULL), AK_ERR_INVALID_PARAM);
    ak_mag_config bad = c;
    bad.backend.ops = NULL;
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    bad = c;
    bad.rounds = AK_MAG_MAX_ROUNDS + 1;
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    bad = c;
    bad.max_size = AK_MAG_MAX_CLASS_SIZE + 1;
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    bad = c;
    bad.max_align = 24;
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    bad = c;
    bad.unlock = NULL;
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    bad = c;
    bad.lock = NULL;
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    bad = c;
    bad.ncpu = 2;
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    bad = c;
    bad.cpus = fx.cpus;
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    bad = c;
    bad.class_shift = 16;
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    bad = c;
    bad.rounds = 8;
    bad.min_rounds = 9; /* more than rounds */
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    CHECK(memcmp(before, &m2, sizeof m2) == 0);
    /* The largest values accepted are accepted. */
    bad = c;
    bad.rounds = AK_MAG_MAX_ROUNDS;
    bad.max_size = AK_MAG_MAX_CLASS_SIZE;
    bad.max_align = 4096;
    bad.class_shift = 15;
    CHECK_OK(ak_mag_init(&m2, &bad));
    CHECK_INVARIANTS(ak_mag_check(&m2));
    /* Without states in the config the layer has one: CPU 0. */
    CHECK(ak_mag_cpu_state(&m2, 0) == &m2.own && ak_mag_cpu_state(&m2, 1) == NULL);
    lock_sane();
}

static void test_alloc_free_basics(void)
{
    ak_mag_config c = {.ncpu = 2, .rounds = 8};
    fx_open((size_t)2 << 20, c, true);
    void *p = NULL;
    CHECK_ERR(ak_mag_alloc(&fx.m, 0, 16, 8, NULL), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_mag_alloc(&fx.m, 0, 16, 3, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_mag_alloc(&fx.m, 0, 16, 0, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_mag_alloc(&fx.m, 2, 16, 8, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_mag_free(&fx.m, 2, &p, 16, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_mag_flush(&fx.m, 2), AK_ERR_INVALID_PARAM);
    CHECK(p == NULL);
    used_is(0, 0);
    CHECK(fx.lock.acquisitions == 1); /* used_is took it; the refusals did not */
    layer_sane();

    /* Size 0 gives distinct blocks, of class 16. */
    void *z1 = xalloc(0, 0, 1), *z2 = xalloc(0, 0, 1);
    CHECK(z1 != z2);
    size_t cls16 = caching() ? 16 : ak_mag_usable_size(&fx.m, z1, 0, 1);
    CHECK(ak_mag_usable_size(&fx.m, z1, 0, 1) == cls16);
    used_is(0, 2 * cls16);
    xfree(0, z1, 0, 1);
    xfree(1, z2, 0, 1);
    used_is(0, 0);
    layer_sane();

    /* A block of each class: usable size is the class size, class
     * alignment (16) is given, contents survive. */
    size_t sizes[] = {1, 17, 100, 129, 200, 1000, 4097, 30000, 65536};
    void *b[9];
    size_t req = 0, usable = 0;
    for (int i = 0; i < 9; i++) {
        b[i] = xalloc(0, sizes[i], 16);
        size_t u = ak_mag_usable_size(&fx.m, b[i], sizes[i], 16);
        CHECKF(!caching() || u == class_of(sizes[i]), "usable %zu for %zu", u, sizes[i]);
        CHECK(u >= sizes[i]);
        ak_pattern_fill(b[i], u, (uint64_t)i);
        req += sizes[i];
        usable += u;
        used_is(req, usable);
    }
    layer_sane();
    for (int i = 0; i < 9; i++) {
        size_t u = ak_mag_usable_size(&fx.m, b[i], sizes[i], 16);
        CHECK(ak_pattern_ok(b[i], u, (uint64_t)i));
        xfree((unsigned)i & 1, b[i], sizes[i], 16);
        req -= sizes[i];
        usable -= u;
        used_is(req, usable);
    }
    layer_sane();
    if (caching()) {
        /* Freed blocks are reused: the next alloc of a class on the CPU
         * that freed is the block it freed last (a hit, no backend call). */
        ak_mag_stats_t s0 = stats();
        void *again = xalloc(0, 5000, 16); /* class 5120, as 4097: freed on CPU 0 */
        CHECK(again == b[6]);
        ak_mag_stats_t s1 = stats();
        CHECK(s1.alloc_hits == s0.alloc_hits + 1 && s1.alloc_misses == s0.alloc_misses);
        xfree(0, again, 5000, 16);
    }
    drain();
    CHECK(backend_used() == 0);
}

/* Bonwick's sequence with 4 rounds, one CPU: the magazine states, the
 * depot and the counters after each step. */
static void test_magazine_sequence(void)
{
    CACHING_ONLY();
    ak_mag_config c = {.ncpu = 1, .rounds = 4};
    fx_open((size_t)1 << 20, c, true);
    void *b[12];
    for (int i = 0; i < 12; i++)
        b[i] = xalloc(0, 64, 16);
    ak_mag_stats_t s = stats();
    CHECK(s.alloc_misses == 12 && s.alloc_hits == 0 && s.magazines == 0);
    unsigned long acq = fx.lock.acquisitions;
    /* Free 1: no magazine yet: one is made (under the lock). */
    xfree(0, b[0], 64, 16);
    CHECK(fx.lock.acquisitions == acq + 1);
    /* Frees 2-4 fill it with no lock. */
    for (int i = 1; i < 4; i++)
        xfree(0, b[i], 64, 16);
    CHECK(fx.lock.acquisitions == acq + 1);
    s = stats();
    CHECK(s.free_hits == 4 && s.magazines == 1 && s.cached_bytes == 4 * 64);
    /* Free 5: loaded full, previous none: a second magazine; the full one
     * becomes the previous. */
    xfree(0, b[4], 64, 16);
    for (int i = 5; i < 8; i++)
        xfree(0, b[i], 64, 16);
    s = stats();
    CHECK(s.magazines == 2 && s.depot_bytes == 0 && s.cached_bytes == 8 * 64);
    /* Free 9: both full: the previous goes to the depot, a new one loads. */
    xfree(0, b[8], 64, 16);
    s = stats();
    CHECK(s.magazines == 3 && s.depot_bytes == 4 * 64 && s.cached_bytes == 9 * 64);
    layer_sane();
    /* Alloc 1 pops the last free (LIFO). */
    acq = fx.lock.acquisitions;
    CHECK(xalloc(0, 64, 16) == b[8]);
    /* Alloc 2: loaded empty, previous full: a swap, no lock; b[7] first. */
    CHECK(xalloc(0, 64, 16) == b[7]);
    CHECK(xalloc(0, 64, 16) == b[6]);
    CHECK(xalloc(0, 64, 16) == b[5]);
    CHECK(xalloc(0, 64, 16) == b[4]);
    CHECK(fx.lock.acquisitions == acq);
    /* Alloc 6: both empty: a full one from the depot, in exchange. */
    s = stats();
    uint64_t ex = s.exchanges;
    acq = fx.lock.acquisitions; /* stats() took it */
    CHECK(xalloc(0, 64, 16) == b[3]);
    CHECK(fx.lock.acquisitions == acq + 1);
    s = stats();
    CHECK(s.exchanges == ex + 1 && s.depot_bytes == 0 && s.cached_bytes == 3 * 64);
    for (int i = 2; i >= 0; i--)
        CHECK(xalloc(0, 64, 16) == b[i]);
    /* Alloc 10: nothing cached: a miss. */
    s = stats();
    CHECK(s.cached_bytes == 0 && s.alloc_hits == 9);
    void *fresh = xalloc(0, 64, 16);
    s = stats();
    CHECK(s.alloc_misses == 13);
    layer_sane();
    xfree(0, fresh, 64, 16);
    for (int i = 0; i < 12; i++)
        xfree(0, b[i], 64, 16);
    used_is(0, 0);
    drain();
    CHECK(backend_used() == 0);
}

/* What passes through: sizes above max_size, alignments above the
 * class's; and everything when the backend has no hooks. */
static void test_passthrough_routes(void)
{
    ak_mag_config c = {.ncpu = 1, .max_size = 1000, .max_align = 64};
    fx_open((size_t)4 << 20, c, true);
    ak_mag_stats_t s0 = stats();
    CHECK(s0.caching == caching());
    struct {
        size_t size, align;
        bool cached;
    } req[] = {
        {1000, 16, true},  /* rounds up to class 1024: cached */
        {1024, 16, true},  /* the largest cached class */
        {1025, 16, false}, /* above it */
        {64, 64, true},    /* class 64 has alignment 64 */
        {48, 32, false},   /* class 48 has only 16 */
        {256, 128, false}, /* class 256 capped at max_align 64 */
        {256, 64, true},   /* within it */
        {100000, 8, false},
    };
    const size_t n = sizeof req / sizeof req[0];
    void *p[8];
    size_t want_usable = 0, requested = 0;
    for (size_t i = 0; i < n; i++) {
        ak_mag_stats_t a = stats();
        p[i] = xalloc(0, req[i].size, req[i].align);
        ak_mag_stats_t b = stats();
        bool cached = caching() && req[i].cached;
        CHECKF((b.passed == a.passed + 1) == !cached, "request %zu/%zu passed %d", req[i].size,
               req[i].align, (int)(b.passed - a.passed));
        size_t u = ak_mag_usable_size(&fx.m, p[i], req[i].size, req[i].align);
        CHECK(u >= req[i].size);
        if (cached)
            CHECK(u == class_of(req[i].size));
        want_usable += u;
        requested += req[i].size;
        used_is(requested, want_usable);
    }
    layer_sane();
    for (size_t i = 0; i < n; i++) {
        ak_mag_stats_t a = stats();
        size_t u = ak_mag_usable_size(&fx.m, p[i], req[i].size, req[i].align);
        xfree(0, p[i], req[i].size, req[i].align);
        ak_mag_stats_t b = stats();
        bool cached = caching() && req[i].cached;
        CHECK((b.passed == a.passed + 1) == !cached);
        /* A passed-through block is gone at once; a cached one is held.
         * (Of the kit's allocators, not all answer 0 for a dead pointer
         * yet.) */
        if (fx.kind->exact)
            CHECK(ak_mag_usable_size(&fx.m, p[i], req[i].size, req[i].align) == (cached ? u : 0));
        want_usable -= u;
        requested -= req[i].size;
        used_is(requested, want_usable);
    }
    drain();
    CHECK(backend_used() == 0);
}

/* ------------------------------------------------------------------ */
/* The contract                                                        */
/* ------------------------------------------------------------------ */

static void test_contract_refusals(void)
{
    ak_mag_config c = {.ncpu = 2, .rounds = 4};
    fx_open((size_t)1 << 20, c, true);
    void *a = xalloc(0, 100, 16), *b = xalloc(0, 100, 16), *big = xalloc(0, 200000, 16);
    ak_pattern_fill(b, 100, 2);
    size_t used0 = ak_mag_used_bytes(&fx.m);
    int local;
    /* Foreign pointers. */
    CHECK_ERR(ak_mag_free(&fx.m, 0, &local, sizeof local, 4), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_mag_free(&fx.m, 0, NULL, 16, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_mag_free(&fx.m, 0, fx.mem + fx.size + 4096, 16, 16), AK_ERR_NOT_ALLOCATED);
    ak_error e = ak_mag_free(&fx.m, 1, (char *)a + 16, 16, 16);
    CHECKF(e == AK_ERR_NOT_ALLOCATED || e == AK_ERR_INVALID_PARAM, "interior free gave %s",
           ak_error_name(e));
    e = ak_mag_free(&fx.m, 0, (char *)big + 4096, 100000, 16);
    CHECKF(e == AK_ERR_NOT_ALLOCATED || e == AK_ERR_INVALID_PARAM, "interior free gave %s",
           ak_error_name(e));
    /* Bad sizes and aligns for a real block. */
    CHECK_ERR(ak_mag_free(&fx.m, 0, a, 100, 3), AK_ERR_INVALID_PARAM);
    e = ak_mag_free(&fx.m, 0, a, 5000, 16); /* another, bigger class */
    CHECKF(e == AK_ERR_INVALID_PARAM || e == AK_ERR_NOT_ALLOCATED, "bigger size gave %s",
           ak_error_name(e));
    if (fx.kind->strict_classes && caching()) {
        /* A smaller class's size: the backend's check catches it. */
        CHECK_ERR(ak_mag_free(&fx.m, 0, a, 50, 16), AK_ERR_INVALID_PARAM);
    }
    CHECK(ak_mag_used_bytes(&fx.m) == used0);
    layer_sane();
    /* Double free: on the same CPU and on another one, while the block is
     * in a magazine, and after it has gone back to the backend. */
    xfree(0, a, 100, 16);
    CHECK_ERR(ak_mag_free(&fx.m, 0, a, 100, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_mag_free(&fx.m, 1, a, 100, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_mag_free(&fx.m, 1, a, 112, 16), AK_ERR_NOT_ALLOCATED);
    layer_sane();
    CHECK_OK(ak_mag_flush(&fx.m, 0));
    CHECK_ERR(ak_mag_free(&fx.m, 1, a, 100, 16), AK_ERR_NOT_ALLOCATED);
    xfree(1, big, 200000, 16);
    CHECK_ERR(ak_mag_free(&fx.m, 0, big, 200000, 16), AK_ERR_NOT_ALLOCATED);
    if (fx.kind->exact) {
        CHECK(ak_mag_usable_size(&fx.m, big, 200000, 16) == 0);
        CHECK(ak_mag_usable_size(&fx.m, &local, 16, 16) == 0);
    }
    layer_sane();
    /* None of it touched the live block. */
    CHECK(ak_pattern_ok(b, 100, 2));
    /* A block freed into a magazine and allocated again is live again:
     * it can be freed once more, and only once. */
    xfree(1, b, 100, 16);
    void *b2 = xalloc(1, 100, 16);
    CHECK(!caching() || b2 == b);
    xfree(0, b2, 100, 16);
    CHECK_ERR(ak_mag_free(&fx.m, 1, b2, 100, 16), AK_ERR_NOT_ALLOCATED);
    layer_sane();
    used_is(0, 0);
    drain();
    CHECK(backend_used() == 0);
}

/* ------------------------------------------------------------------ */
/* The bound                                                           */
/* ------------------------------------------------------------------ */

static void test_bound(void)
{
    CACHING_ONLY();
    const size_t limits[] = {1, 600, 4096, 20000, 100000};
    for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
        ak_mag_config c = {.ncpu = 3, .rounds = 8, .limit_bytes = limits[li]};
        fx_open((size_t)8 << 20, c, true);
        enum { N = 1500 };
        static void *blk[N];
        static size_t sz[N];
        ak_rng r;
        ak_rng_seed(&r, ak_t.seed + li);
        for (size_t i = 0; i < N; i++) {
            sz[i] = (size_t)ak_rng_log_uniform(&r, 1, 2048);
            blk[i] = xalloc((unsigned)(i % 3), sz[i], 16);
        }
        for (size_t i = 0; i < N; i++) {
            xfree((unsigned)ak_rng_below(&r, 3), blk[i], sz[i], 16);
            ak_mag_stats_t s = stats();
            CHECKF(s.cached_bytes + s.magazine_bytes <= limits[li],
                   "limit %zu: the layer holds %zu + %zu", limits[li], s.cached_bytes,
                   s.magazine_bytes);
            if (i % 97 == 0)
                layer_sane();
        }
        ak_mag_stats_t s = stats();
        CHECK(s.limit_bytes == limits[li]);
        /* Under the smallest limits most frees go to the backend; under
         * the largest the layer keeps what fits. */
        if (limits[li] < 64)
            CHECK(s.free_hits == 0 && s.cached_bytes == 0);
        else
            CHECKF(s.free_hits > 0 && s.free_misses > 0, "limit %zu: %llu hits, %llu misses",
                   limits[li], (unsigned long long)s.free_hits, (unsigned long long)s.free_misses);
        used_is(0, 0);
        layer_sane();
        drain();
        CHECK(backend_used() == 0);
    }
    /* SIZE_MAX: no bound; everything freed is cached. */
    ak_mag_config c = {.ncpu = 1, .rounds = 16, .limit_bytes = SIZE_MAX};
    fx_open((size_t)4 << 20, c, true);
    void *blk[200];
    for (int i = 0; i < 200; i++)
        blk[i] = xalloc(0, 300, 16);
    for (int i = 0; i < 200; i++)
        xfree(0, blk[i], 300, 16);
    ak_mag_stats_t s = stats();
    CHECK(s.free_misses == 0 && s.cached_bytes == 200 * class_of(300));
    layer_sane();
    drain();
}

/* ------------------------------------------------------------------ */
/* flush and trim                                                      */
/* ------------------------------------------------------------------ */

static void test_flush_trim(void)
{
    ak_mag_config c = {.ncpu = NCPU, .rounds = 6};
    fx_open((size_t)8 << 20, c, true);
    enum { N = 800 };
    static void *blk[N];
    static size_t sz[N];
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < N; i++) {
            sz[i] = (size_t)ak_rng_log_uniform(&r, 1, 20000);
            blk[i] = xalloc((unsigned)ak_rng_below(&r, NCPU), sz[i], 16);
            ak_pattern_fill(blk[i], sz[i], i);
        }
        layer_sane();
        for (size_t i = 0; i < N; i++) {
            CHECK(ak_pattern_ok(blk[i], sz[i], i));
            xfree((unsigned)ak_rng_below(&r, NCPU), blk[i], sz[i], 16);
        }
        used_is(0, 0);
        layer_sane();
        ak_mag_stats_t s = stats();
        CHECK(!caching() || s.cached_bytes > 0);
        /* Flush one CPU at a time: only its part goes. */
        for (unsigned cpu = 0; cpu < NCPU; cpu++) {
            size_t before = stats().cached_bytes;
            CHECK_OK(ak_mag_flush(&fx.m, cpu));
            CHECK(stats().cached_bytes <= before);
            CHECK(fx.cpus[cpu].held == 0);
            layer_sane();
        }
        CHECK(stats().cached_bytes == stats().depot_bytes);
        ak_mag_trim(&fx.m);
        layer_sane();
        s = stats();
        CHECK(s.cached_bytes == 0 && s.magazines == 0 && s.magazine_bytes == 0);
        CHECKF(backend_used() == 0, "backend used_bytes %zu after flush and trim", backend_used());
        /* Flush and trim of an empty layer change nothing. */
        CHECK_OK(ak_mag_flush(&fx.m, 0));
        ak_mag_trim(&fx.m);
        CHECK(backend_used() == 0);
    }
}

/* ------------------------------------------------------------------ */
/* Release under memory pressure                                       */
/* ------------------------------------------------------------------ */

/* The size of the blocks that fill the backend: a magazine's (of the
 * small classes' 8 rounds), so that even a backend that never splits a
 * block can make magazines of freed blocks. */
static size_t fill_size;

/* Fill the backend with blocks of fill_size on `cpu`. */
static size_t fill(unsigned cpu, void **blk, size_t max)
{
    size_t n = 0;
    while (n < max && ak_mag_alloc(&fx.m, cpu, fill_size, 16, &blk[n]) == AK_OK)
        n++;
    lock_sane();
    return n;
}

static void test_memory_pressure(void)
{
    CACHING_ONLY();
    ak_mag_config c = {.ncpu = 2, .rounds = 8, .limit_bytes = SIZE_MAX};
    /* 256 KiB: every backend can then hold the 100000-byte block below once
     * the cache is given back (buddy needs a 128 KiB block for it). */
    fx_open((size_t)256 << 10, c, true);
    fill_size = class_of(fx.m.cls[0].mag_size); /* a private field: test only */
    enum { N = 16384 };                         /* more than 256 KiB of the smallest class fills */
    static void *blk[N];
    /* Everything in CPU 0's magazines and the depot. */
    size_t n = fill(0, blk, N);
    CHECK(n > 100 && n < N);
    for (size_t i = 0; i < n; i++)
        xfree(0, blk[i], fill_size, 16);
    ak_mag_stats_t s = stats();
    CHECK(s.cached_bytes > n * fill_size / 2 && s.depot_bytes > 0 && s.releases == 0);
    layer_sane();
    /* A request larger than the backend could ever hold: no release. */
    void *p;
    CHECK_ERR(ak_mag_alloc(&fx.m, 0, (size_t)1 << 30, 16, &p), AK_ERR_NO_MEMORY);
    CHECK(stats().releases == 0 && stats().cached_bytes == s.cached_bytes);
    lock_sane();
    /* Another class fits only once the cache is given back: one release,
     * then success. */
    void *q = xalloc(0, 3000, 16);
    s = stats();
    CHECK(s.releases == 1 && s.cached_bytes == 0 && s.magazines == 0);
    layer_sane();
    xfree(0, q, 3000, 16);
    CHECK_OK(ak_mag_flush(&fx.m, 0));
    /* The same for a passed-through block asked for on CPU 1, which holds
     * the cache. */
    n = fill(1, blk, N);
    for (size_t i = 0; i < n; i++)
        xfree(1, blk[i], fill_size, 16);
    void *big = xalloc(1, 100000, 16);
    CHECK(stats().releases == 2);
    xfree(1, big, 100000, 16);
    layer_sane();
    /* What another CPU holds is out of reach: CPU 1 keeps the blocks of 16
     * frees in its own two magazines (two of the frees become the
     * magazines), none in the depot, and CPU 0 cannot get them. */
    CHECK_OK(ak_mag_flush(&fx.m, 1));
    n = fill(1, blk, N);
    for (size_t i = 0; i < 16; i++)
        xfree(1, blk[i], fill_size, 16);
    s = stats();
    CHECK(s.depot_bytes == 0 && s.cached_bytes > 0);
    void *r;
    CHECK_ERR(ak_mag_alloc(&fx.m, 0, 2000, 16, &r), AK_ERR_NO_MEMORY);
    CHECK(stats().cached_bytes == s.cached_bytes && stats().releases == 2);
    lock_sane();
    for (size_t i = 16; i < n; i++)
        xfree(1, blk[i], fill_size, 16);
    layer_sane();
    drain();
    CHECK(backend_used() == 0);
}

/* ------------------------------------------------------------------ */
/* Several CPUs, one depot lock                                        */
/* ------------------------------------------------------------------ */

/* Four CPU indices take turns at random; blocks are freed on another CPU
 * than the one that allocated them more often than not. The lock hook
 * counts every acquisition: never recursive, never left held, at most one
 * per call, and none for a call served by the CPU's own magazines. */
static void test_per_cpu_lock(void)
{
    ak_mag_config c = {.ncpu = NCPU, .rounds = 4, .limit_bytes = 1 << 20};
    fx_open((size_t)16 << 20, c, true);
    enum { LIVE = 400 };
    static struct {
        void *p;
        size_t size;
        unsigned cpu;
        uint64_t tag;
    } live[LIVE];
    static const size_t sizes[] = {8, 48, 100, 700, 3000, 20000, 70000};
    size_t nlive = 0;
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    const uint64_t ops = ak_test_ops(40000, 6000);
    unsigned long lockfree = 0, locked = 0, cross = 0;
    uint64_t tag = 1;
    for (uint64_t op = 0; op < ops; op++) {
        const unsigned cpu = (unsigned)ak_rng_below(&r, NCPU);
        const bool do_alloc = nlive == 0 || (nlive < LIVE && ak_rng_below(&r, 100) < 52);
        ak_mag_stats_t before = stats();
        unsigned long acq = fx.lock.acquisitions;
        if (do_alloc) {
            size_t size = sizes[ak_rng_below(&r, sizeof sizes / sizeof sizes[0])];
            void *p = xalloc(cpu, size, 16);
            ak_pattern_fill(p, size, tag);
            live[nlive].p = p;
            live[nlive].size = size;
            live[nlive].cpu = cpu;
            live[nlive].tag = tag++;
            nlive++;
        } else {
            size_t i = (size_t)ak_rng_below(&r, nlive);
            CHECKF(ak_pattern_ok(live[i].p, live[i].size, live[i].tag), "block %p overwritten",
                   live[i].p);
            xfree(cpu, live[i].p, live[i].size, 16);
            cross += live[i].cpu != cpu;
            live[i] = live[--nlive];
        }
        const unsigned long taken = fx.lock.acquisitions - acq;
        CHECKF(taken <= 1, "one call took the lock %lu times", taken);
        ak_mag_stats_t after = stats();
        if (taken == 0) {
            /* Served by the CPU's magazines: a hit, with no backend call. */
            lockfree++;
            CHECK(after.alloc_hits + after.free_hits == before.alloc_hits + before.free_hits + 1);
            CHECK(after.alloc_misses == before.alloc_misses &&
                  after.free_misses == before.free_misses);
        } else {
            locked++;
        }
        if (op % 64 == 0)
            layer_sane();
    }
    layer_sane();
    ak_mag_stats_t s = stats();
    printf("[%llu ops: %lu without the lock, %lu with it, %lu freed on another CPU, %llu "
           "exchanges] ",
           (unsigned long long)ops, lockfree, locked, cross, (unsigned long long)s.exchanges);
    CHECK(cross > ops / 4);
    if (caching()) {
        CHECK(lockfree > ops / 3 && s.exchanges > 0 && s.alloc_hits > 0 && s.free_hits > 0);
    } else {
        CHECK(lockfree == 0);
    }
    /* The steady state of one CPU allocating and freeing in turn never
     * takes the lock. */
    void *p = xalloc(2, 100, 16);
    xfree(2, p, 100, 16);
    unsigned long acq = fx.lock.acquisitions;
    for (int i = 0; i < 1000; i++) {
        p = xalloc(2, 100, 16);
        xfree(2, p, 100, 16);
    }
    CHECK(!caching() || fx.lock.acquisitions == acq);
    while (nlive) {
        nlive--;
        CHECK(ak_pattern_ok(live[nlive].p, live[nlive].size, live[nlive].tag));
        xfree((unsigned)(nlive % NCPU), live[nlive].p, live[nlive].size, 16);
    }
    used_is(0, 0);
    drain();
    CHECK(backend_used() == 0);
    lock_sane();
}

/* ------------------------------------------------------------------ */
/* States the caller owns (a thread's)                                 */
/* ------------------------------------------------------------------ */

static void test_attach_detach(void)
{
    ak_mag_config c = {.ncpu = 1, .rounds = 4};
    fx_open((size_t)1 << 20, c, true);
    static ak_mag_cpu mine[3]; /* as a thread's, in storage the caller owns */
    memset(mine, 0xa5, sizeof mine);
    for (int i = 0; i < 3; i++)
        mine[i].owner = NULL;
    for (int i = 0; i < 3; i++)
        CHECK_OK(ak_mag_cpu_attach(&fx.m, &mine[i]));
    CHECK_ERR(ak_mag_cpu_attach(&fx.m, &mine[1]), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_mag_cpu_attach(&fx.m, NULL), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_mag_cpu_attach(&fx.m, &fx.cpus[0]), AK_ERR_INVALID_PARAM);
    layer_sane();
    void *blk[3][20];
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 20; i++) {
            CHECK_OK(ak_mag_alloc_on(&fx.m, &mine[t], 200, 16, &blk[t][i]));
            lock_sane();
        }
    /* Each frees another's blocks. */
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 20; i++) {
            CHECK_OK(ak_mag_free_on(&fx.m, &mine[t], blk[(t + 1) % 3][i], 200, 16));
            CHECK_ERR(ak_mag_free_on(&fx.m, &mine[(t + 2) % 3], blk[(t + 1) % 3][i], 200, 16),
                      AK_ERR_NOT_ALLOCATED);
        }
    layer_sane();
    CHECK(!caching() || mine[1].held > 0);
    /* Detach: its blocks and magazines go back; it is no longer walked. */
    size_t held = stats().cached_bytes;
    CHECK_OK(ak_mag_cpu_detach(&fx.m, &mine[1]));
    CHECK(mine[1].owner == NULL);
    CHECK(stats().cached_bytes <= held);
    CHECK_ERR(ak_mag_cpu_detach(&fx.m, &mine[1]), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_mag_cpu_detach(&fx.m, &fx.cpus[0]), AK_ERR_INVALID_PARAM); /* given at init */
    layer_sane();
    /* It can be attached again, empty. */
    CHECK_OK(ak_mag_cpu_attach(&fx.m, &mine[1]));
    CHECK(mine[1].held == 0);
    void *p;
    CHECK_OK(ak_mag_alloc_on(&fx.m, &mine[1], 200, 16, &p));
    CHECK_OK(ak_mag_free_on(&fx.m, &mine[0], p, 200, 16));
    for (int i = 0; i < 3; i++)
        CHECK_OK(ak_mag_cpu_detach(&fx.m, &mine[i]));
    layer_sane();
    used_is(0, 0);
    drain();
    CHECK(backend_used() == 0);
}

/* A state abandoned as a fork child abandons the threads it did not copy:
 * even torn halfway through a lock-free swap of its two magazines, the
 * layer stays sound; its blocks and magazines stay allocated and marked
 * cached (a free of one is still refused), its counts stay in the stats,
 * and they alone are left in the backend once everything else is back. */
static void test_abandon(void)
{
    ak_mag_config c = {.ncpu = 1, .rounds = 4};
    fx_open((size_t)1 << 20, c, true);
    static ak_mag_cpu gone, other;
    gone.owner = other.owner = NULL;
    CHECK_OK(ak_mag_cpu_attach(&fx.m, &gone));
    CHECK_OK(ak_mag_cpu_attach(&fx.m, &other));
    void *blk[24];
    for (int i = 0; i < 24; i++)
        CHECK_OK(ak_mag_alloc_on(&fx.m, &gone, 100, 16, &blk[i]));
    for (int i = 0; i < 24; i++)
        CHECK_OK(ak_mag_free_on(&fx.m, &gone, blk[i], 100, 16));
    void *p;
    CHECK_OK(ak_mag_alloc_on(&fx.m, &gone, 100, 16, &p)); /* a hit */
    layer_sane();
    const ak_mag_stats_t before = stats();
    const size_t gone_held = gone.held, gone_mags = gone.mags;
    CHECK(!caching() || (gone_held > 0 && gone_mags == 2));
    /* Torn: both slots name the loaded magazine, the previous one is in
     * neither. Abandon must not read the slots. */
    const unsigned c100 = 6; /* 100 B: the 112-byte class */
    CHECK(class_of(100) == 112);
    gone.previous[c100] = gone.loaded[c100];
    CHECK_OK(ak_mag_cpu_abandon(&fx.m, &gone));
    CHECK(gone.owner == NULL);
    CHECK_ERR(ak_mag_cpu_abandon(&fx.m, &gone), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_mag_cpu_abandon(&fx.m, &fx.cpus[0]), AK_ERR_INVALID_PARAM); /* given at init */
    CHECK_ERR(ak_mag_cpu_abandon(&fx.m, NULL), AK_ERR_INVALID_PARAM);
    layer_sane();
    const ak_mag_stats_t after = stats();
    CHECK(after.alloc_hits == before.alloc_hits && after.free_hits == before.free_hits);
    CHECK(after.alloc_misses == before.alloc_misses);
    CHECK(!caching() || after.magazines == before.magazines - gone_mags);
    CHECK(!caching() || after.cached_bytes == before.cached_bytes - gone_held);
    /* The lost blocks are still cached to the backend: a free of one, from
     * any state, is refused. (The depot may hold some of the 24 too.) */
    if (caching()) {
        unsigned refused = 0;
        for (int i = 0; i < 24; i++)
            if (blk[i] != p) {
                ak_error e = ak_mag_free_on(&fx.m, &other, blk[i], 100, 16);
                CHECK(e == AK_ERR_NOT_ALLOCATED);
                refused += e == AK_ERR_NOT_ALLOCATED;
            }
        CHECK(refused == 23);
    }
    CHECK_OK(ak_mag_free_on(&fx.m, &other, p, 100, 16));
    CHECK_OK(ak_mag_cpu_detach(&fx.m, &other));
    drain();
    /* What is left: the abandoned state's blocks (at least the class size
     * each) and its magazines. */
    CHECK(!caching() || backend_used() >= gone_held);
    CHECK(caching() || backend_used() == 0);
}

/* The class-indexed calls a caller with its own size mapping uses (the
 * hosted heap): ak_mag_class_of agrees with the series, the inline alloc
 * and free (and free as take + put) do what ak_mag_alloc_on and
 * ak_mag_free_on do, refusals included; and config .class_shift asks each
 * class that many bytes less of the backend. */
static void test_class_calls(void)
{
    CACHING_ONLY();
    for (size_t shift = 0; shift <= 8; shift += 8) {
        ak_mag_config c = {.ncpu = 1, .rounds = 4, .max_size = 1000, .class_shift = shift};
        fx_open((size_t)1 << 20, c, true);
        ak_mag *m = &fx.m;
        ak_mag_cpu *pc = &fx.cpus[0];
        CHECK(ak_mag_class_of(m, 0, 1) == 0);
        CHECK(ak_mag_class_of(m, 16 - shift, 16) == 0);
        CHECK(ak_mag_class_of(m, 17 - shift, 16) == 1);
        CHECK(ak_mag_class_of(m, 128 - shift, 16) == 7);
        CHECK(ak_mag_class_of(m, 129 - shift, 16) == 8);   /* 160 */
        CHECK(ak_mag_class_of(m, 1024 - shift, 16) == 19); /* max_size's class */
        CHECK(ak_mag_class_of(m, 1025 - shift, 16) == AK_MAG_CLASSES);
        CHECK(ak_mag_class_of(m, 100, 256) == AK_MAG_CLASSES); /* aligned beyond */
        CHECK(ak_mag_class_of(m, 100, 24) == AK_MAG_CLASSES);  /* not a power of two */
        void *blk[12];
        for (int i = 0; i < 12; i++) {
            CHECK_OK(ak_mag_alloc_class(m, pc, 2, &blk[i])); /* 48 - shift bytes */
            CHECK(in_region(blk[i], 48 - shift));
            CHECK(ak_mag_usable_size(m, blk[i], 40 - shift, 16) == 48 - shift);
            memset(blk[i], 0x5a, 48 - shift);
        }
        used_is(12 * (48 - shift), 12 * (48 - shift));
        lock_sane();
        for (int i = 0; i < 6; i++)
            CHECK_OK(ak_mag_free_class(m, pc, 2, blk[i]));
        for (int i = 6; i < 12; i++) {
            CHECK_OK(ak_mag_take_class(m, 2, blk[i]));
            /* The block is the layer's, its bytes past the mark untouched. */
            CHECK(((unsigned char *)blk[i])[16] == 0x5a);
            ak_mag_put_class(m, pc, 2, blk[i]);
        }
        /* Refused exactly, whichever call: a block in a magazine, by
         * class or by size; a pointer that is not a block. */
        CHECK_ERR(ak_mag_free_class(m, pc, 2, blk[3]), AK_ERR_NOT_ALLOCATED);
        CHECK_ERR(ak_mag_take_class(m, 2, blk[9]), AK_ERR_NOT_ALLOCATED);
        CHECK_ERR(ak_mag_free_on(m, pc, blk[9], 40 - shift, 16), AK_ERR_NOT_ALLOCATED);
        CHECK(ak_mag_free_class(m, pc, 2, (unsigned char *)blk[0] + 16) != AK_OK);
        layer_sane();
        used_is(0, 0);
        ak_mag_stats_t st = stats();
        CHECK(st.free_hits + st.free_misses == 12 && st.alloc_misses == 12);
        /* Allocations by size hit what the class frees left. */
        void *p = xalloc(0, 33 - shift, 16);
        CHECK(stats().alloc_hits == 1);
        xfree(0, p, 40 - shift, 16);
        /* The kit's allocators publish their mark: the inline calls write
         * exactly what the backend's own hook writes and recognises. */
        const bool kit = strcmp(fx.kind->name, "double") && strcmp(fx.kind->name, "double_slack");
        CHECK(ak_mag_marks_inline(m) == kit);
        CHECK((ak_byte_cache_key(fx.backend) != NULL) == kit);
        if (kit) {
            void *q, *r;
            CHECK_OK(ak_mag_alloc_class(m, pc, 2, &q));
            CHECK_OK(ak_byte_cache(fx.backend, q, 48 - shift, 16)); /* unmarked: accepted */
            ak_byte_uncache(fx.backend, q, 48 - shift, 16);
            ak_mag_take_class_trusted(m, q);
            CHECK_ERR(ak_byte_cache(fx.backend, q, 48 - shift, 16), AK_ERR_NOT_ALLOCATED);
            ak_mag_put_class(m, pc, 2, q);
            CHECK_ERR(ak_mag_free_class(m, pc, 2, q), AK_ERR_NOT_ALLOCATED);
            layer_sane(); /* the checker finds the block marked */
            r = ak_mag_pop_class(m, pc, 2);
            CHECK(r == q);
            CHECK(((const uintptr_t *)r)[0] != ~((const uintptr_t *)r)[1]); /* no mark left */
            CHECK_OK(ak_mag_free_class(m, pc, 2, r));
            layer_sane();
        }
        drain();
        CHECK(backend_used() == 0);
    }
}

/* config .miss_batch: a miss fills the CPU's magazine with that many more
 * blocks under the same lock, within the bound; they are cached blocks
 * like any other (marked, refused by a free), and allocations hit them. */
static void test_miss_batch(void)
{
    CACHING_ONLY();
    ak_mag_config c = {.ncpu = 1, .rounds = 8, .miss_batch = 4};
    fx_open((size_t)1 << 20, c, true);
    ak_mag m2;
    ak_mag_config bad = c;
    bad.backend = fx.backend;
    bad.cpus = NULL;
    bad.ncpu = 0;
    bad.miss_batch = AK_MAG_MAX_ROUNDS + 1;
    CHECK_ERR(ak_mag_init(&m2, &bad), AK_ERR_INVALID_PARAM);
    void *blk[20];
    unsigned long locks = fx.lock.acquisitions;
    for (int i = 0; i < 20; i++)
        blk[i] = xalloc(0, 100, 16);
    /* A miss, then the 4 blocks it brought: 4 misses, 4 locks, for 20. */
    CHECK(fx.lock.acquisitions - locks == 4);
    ak_mag_stats_t st = stats();
    CHECK(st.alloc_misses == 4 && st.alloc_hits == 16);
    layer_sane();
    used_is(20 * 112, 20 * 112);
    /* One more miss leaves 4 cached blocks; a free of one is refused. */
    void *extra = xalloc(0, 100, 16);
    CHECK(stats().cached_bytes == 4 * 112);
    layer_sane();
    for (int i = 0; i < 20; i++)
        xfree(0, blk[i], 100, 16);
    xfree(0, extra, 100, 16);
    layer_sane();
    used_is(0, 0);
    drain();
    CHECK(backend_used() == 0);
    /* Never beyond a magazine, nor beyond the bound. */
    c.miss_batch = 100;
    c.limit_bytes = 1024;
    fx_open((size_t)1 << 20, c, true);
    void *p = xalloc(0, 100, 16);
    st = stats();
    CHECK(st.cached_bytes + st.magazine_bytes <= 1024);
    CHECK(st.cached_bytes <= 8 * 112);
    layer_sane();
    xfree(0, p, 100, 16);
    drain();
    CHECK(backend_used() == 0);
}

/* Lock-taking operations on CPU 1 (big blocks passed through, each alloc
 * and each free a tick) until the layer's clock has just reaped. */
static void tick_until_reap(void)
{
    static void *big;
    for (;;) {
        const unsigned before = fx.m.ticks;
        if (big) {
            xfree(1, big, 100000, 16);
            big = NULL;
        } else {
            big = xalloc(1, 100000, 16);
        }
        if (fx.m.ticks < before)
            break;
    }
    if (big)
        xfree(1, big, 100000, 16); /* a tick too */
    big = NULL;
}

/* config .reap_period: the depot gives back what no lock-taking operation
 * took from it over a whole period, and keeps what was used. */
static void test_reap(void)
{
    CACHING_ONLY();
    ak_mag_config c = {.ncpu = 2, .rounds = 4, .reap_period = 500};
    fx_open((size_t)1 << 20, c, true);
    /* CPU 0 frees 40 blocks of 100 bytes and 40 of 300: two magazines of
     * each stay with it, the rest go to the depot, full. */
    void *a[40], *b[40];
    for (int i = 0; i < 40; i++) {
        a[i] = xalloc(0, 100, 16);
        b[i] = xalloc(0, 300, 16);
    }
    for (int i = 0; i < 40; i++) {
        xfree(0, a[i], 100, 16);
        xfree(0, b[i], 300, 16);
    }
    layer_sane();
    ak_mag_stats_t st = stats();
    CHECK(fx.m.ticks < 500 && st.reaped == 0);
    const size_t depot0 = st.depot_bytes;
    CHECK(depot0 == 32 * 112 + 32 * 320); /* 8 full magazines of each */
    /* The first reap gives back nothing the depot never had less of:
     * nothing was taken since init, and the depot started empty. */
    tick_until_reap();
    st = stats();
    CHECK(st.reaped == 0 && st.depot_bytes == depot0);
    /* Over the next period CPU 1 takes one full magazine of the 100-byte
     * class from the depot (it has none to give in exchange): the other 7
     * stay idle, and the 8 of the 300-byte class. */
    void *p = xalloc(1, 100, 16);
    CHECK(stats().depot_bytes == depot0 - 4 * 112);
    tick_until_reap();
    layer_sane();
    st = stats();
    CHECK(st.depot_bytes == 0 && st.reaped == 15);
    /* What CPUs hold is never reaped. */
    CHECK(st.cached_bytes == 8 * 112 + 8 * 320 + 3 * 112);
    tick_until_reap();
    CHECK(stats().reaped == 15 && stats().cached_bytes == st.cached_bytes);
    xfree(1, p, 100, 16);
    drain();
    CHECK(backend_used() == 0);
}

/* config .magazine_bytes sets how many blocks a big class's magazine
 * holds: min(rounds, max(1, magazine_bytes / class size)). */
static void test_magazine_bytes(void)
{
    ak_mag_config c = {.ncpu = 1, .rounds = 64, .magazine_bytes = 2048};
    fx_open((size_t)1 << 20, c, true);
    CHECK(fx.m.cls[0].rounds == 64); /* 16 B: 128 fit, rounds cap */
    CHECK(fx.m.cls[7].rounds == 16); /* 128 B */
    CHECK(fx.m.cls[11].rounds == 8); /* 256 B */
    CHECK(fx.m.cls[19].rounds == 2); /* 1024 B */
    CHECK(fx.m.cls[27].rounds == 1); /* 4096 B: at least one */
    CHECK(fx.m.cls[43].rounds == 1); /* 64 KiB */
    void *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = xalloc(0, 1000, 16);
    for (int i = 0; i < 3; i++)
        xfree(0, p[i], 1000, 16);
    layer_sane();
    /* Two magazines of two blocks on the CPU; the third block went on to
     * the depot in a full magazine, or back to the backend. */
    CHECK(!caching() || fx.cpus[0].held <= 4 * 1024);
    drain();
    CHECK(backend_used() == 0);
    /* config .min_rounds raises the big classes to that many blocks:
     * min(rounds, max(min_rounds, magazine_bytes / class size)). */
    ak_mag_config c2 = {.ncpu = 1, .rounds = 64, .magazine_bytes = 2048, .min_rounds = 4};
    fx_open((size_t)1 << 20, c2, true);
    CHECK(fx.m.cls[7].rounds == 16); /* 128 B: magazine_bytes decides */
    CHECK(fx.m.cls[19].rounds == 4); /* 1024 B: 2 fit, the floor is 4 */
    CHECK(fx.m.cls[43].rounds == 4); /* 64 KiB */
    for (int i = 0; i < 3; i++)
        p[i] = xalloc(0, 1000, 16);
    for (int i = 0; i < 3; i++)
        xfree(0, p[i], 1000, 16);
    layer_sane();
    /* All three fit the loaded magazine of four. */
    CHECK(!caching() || fx.cpus[0].held == 3 * 1024);
    drain();
    CHECK(backend_used() == 0);
}

/* ------------------------------------------------------------------ */
/* The byte interface                                                  */
/* ------------------------------------------------------------------ */

static unsigned current_cpu;
static unsigned cpu_of_caller(void *ctx)
{
    CHECK(ctx == &current_cpu);
    return current_cpu;
}

static void test_as_byte(void)
{
    ak_mag_config c = {.ncpu = 3, .rounds = 4, .cpu_index = cpu_of_caller, .cpu_ctx = &current_cpu};
    fx_open((size_t)2 << 20, c, true);
    ak_byte_allocator h = ak_mag_as_byte(&fx.m);
    CHECK(strcmp(ak_byte_name(h), "magazine") == 0);
    CHECK(!ak_byte_can_cache(h));
    size_t total = ak_byte_total_bytes(h);
    CHECK(total > 0 && total <= fx.size);
    CHECK(ak_byte_used_bytes(h) == 0 && ak_byte_available_bytes(h) == total);
    void *p[30];
    size_t usable = 0;
    for (int i = 0; i < 30; i++) {
        current_cpu = (unsigned)i % 3;
        CHECK_OK(ak_byte_alloc(h, 40 + (size_t)i * 10, 8, &p[i]));
        usable += ak_byte_usable_size(h, p[i], 40 + (size_t)i * 10, 8);
    }
    used_is(0, usable);
    CHECK(ak_byte_available_bytes(h) == total - ak_byte_used_bytes(h));
    CHECK_INVARIANTS(ak_byte_check(h));
    for (int i = 0; i < 30; i++) {
        current_cpu = (unsigned)(i + 1) % 3;
        CHECK_OK(ak_byte_dealloc(h, p[i], 40 + (size_t)i * 10, 8));
        CHECK_ERR(ak_byte_dealloc(h, p[i], 40 + (size_t)i * 10, 8), AK_ERR_NOT_ALLOCATED);
    }
    CHECK(ak_byte_used_bytes(h) == 0);
    /* A CPU index out of range is refused. */
    current_cpu = 7;
    void *q;
    CHECK_ERR(ak_byte_alloc(h, 16, 8, &q), AK_ERR_INVALID_PARAM);
    current_cpu = 0;
    /* resize: in place for a passed-through block; not for a class block. */
    void *big;
    CHECK_OK(ak_byte_alloc(h, 100000, 16, &big));
    ak_error e = ak_byte_resize(h, big, 100000, 16, 90000);
    CHECK(e == AK_OK || e == AK_ERR_NO_MEMORY);
    size_t now = e == AK_OK ? 90000 : 100000;
    CHECK(ak_byte_usable_size(h, big, now, 16) >= now);
    CHECK(ak_byte_used_bytes(h) == ak_byte_usable_size(h, big, now, 16) || !fx.kind->exact);
    void *small;
    CHECK_OK(ak_byte_alloc(h, 100, 16, &small));
    if (caching()) /* a class block is never resized, even within its class */
        CHECK_ERR(ak_byte_resize(h, small, 100, 16, 110), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_byte_resize(h, small, 100, 3, 110), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_byte_dealloc(h, small, 100, 16));
    CHECK_OK(ak_byte_dealloc(h, big, now, 16));
    CHECK(ak_byte_used_bytes(h) == 0);
    lock_sane();
    /* init through the handle forgets every cached block: pointers from
     * before are refused, and the backend starts over. */
    void *old;
    CHECK_OK(ak_byte_alloc(h, 64, 16, &old));
    CHECK_OK(ak_byte_dealloc(h, old, 64, 16));
    CHECK_ERR(ak_byte_init(h, (uintptr_t)fx.mem, 0), AK_ERR_INVALID_PARAM);
    CHECK_INVARIANTS(ak_byte_check(h)); /* a failed init kept everything */
    CHECK_OK(ak_byte_init(h, (uintptr_t)fx.mem, fx.size));
    lock_sane();
    ak_mag_stats_t s = stats();
    CHECK(s.cached_bytes == 0 && s.magazines == 0 && s.alloc_hits == 0);
    CHECK(ak_byte_used_bytes(h) == 0 && backend_used() == 0);
    CHECK_ERR(ak_byte_dealloc(h, old, 64, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_INVARIANTS(ak_byte_check(h));
    CHECK_ERR(ak_byte_add_memory(h, (uintptr_t)fx.mem, 4096), AK_ERR_MEMORY_OVERLAP);
    lock_sane();
}

/* Walk and the common stats: the walk is the backend's, so every live
 * block is a used block at least its usable size, and the blocks the
 * layer holds show as used too; the stats count for the callers (their
 * live blocks, the layer's used_bytes), with the backend's free figures,
 * which the walk shows exactly; the handle gives the same. A backend with
 * no walk gives none through the layer either. */
static void check_layer_walk(wc_block *live, size_t n, bool drained)
{
    static wc_walk w, wh;
    static wc_block sorted[1024];
    struct ak_byte_stats st, sh;
    ak_mag_byte_stats(&fx.m, &st);
    lock_sane();
    ak_byte_allocator h = ak_mag_as_byte(&fx.m);
    ak_byte_stats(h, &sh);
    CHECK(memcmp(&st, &sh, sizeof st) == 0);
    CHECK(st.used_bytes == ak_mag_used_bytes(&fx.m));
    CHECK(st.total_bytes == ak_byte_total_bytes(h));
    CHECKF(st.used_blocks == n, "used_blocks %zu, %zu blocks live", st.used_blocks, n);
    wc_reset(&w);
    CHECK_OK(ak_mag_walk(&fx.m, wc_collect, &w));
    lock_sane();
    if (n)
        memcpy(sorted, live, n * sizeof *live);
    const char *why = wc_check(&w, &st, sorted, n, WC_LAYER);
    CHECKF(why == NULL, "%s", why);
    wc_block region = {(uintptr_t)fx.mem, fx.size, false};
    why = wc_check_regions(&w, &region, 1);
    CHECKF(why == NULL, "%s", why);
    size_t used = 0;
    for (size_t i = 0; i < w.n; i++)
        used += w.v[i].used;
    if (drained)
        CHECKF(used == n, "after flush and trim the walk shows %zu used blocks, %zu live", used, n);
    else
        CHECK(used >= n);
    wc_reset(&wh);
    CHECK_OK(ak_byte_walk(h, wc_collect, &wh));
    CHECK(wc_equal(&w, &wh));
    lock_sane();
}

static void test_walk_stats(void)
{
    ak_mag_config c = {.ncpu = 2, .rounds = 4};
    fx_open((size_t)2 << 20, c, true);
    if (!fx.backend.ops->walk) {
        wc_walk w = {0};
        CHECK_ERR(ak_mag_walk(&fx.m, wc_collect, &w), AK_ERR_INVALID_PARAM);
        CHECK(w.n == 0);
        struct ak_byte_stats st;
        ak_mag_byte_stats(&fx.m, &st);
        fx.lock.depth++; /* the backend read as the layer reads it */
        size_t total = ak_byte_total_bytes(fx.backend);
        fx.lock.depth--;
        CHECK(st.used_bytes == 0 && st.total_bytes == total);
        lock_sane();
        printf("(the backend has no walk) ");
        return;
    }
    enum { N = 600 };
    static wc_block live[N];
    static size_t req[N];
    size_t n = 0, refused = 0;
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed + 3);
    uint64_t ops = ak_test_ops(6000, 1500);
    for (uint64_t i = 0; i < ops; i++) {
        unsigned cpu = (unsigned)ak_rng_below(&r, 2);
        if (n && (n == N || ak_rng_below(&r, 100) < 48)) {
            size_t k = ak_rng_below(&r, n);
            xfree(cpu, (void *)live[k].start, req[k], 16);
            live[k] = live[--n];
            req[k] = req[n];
        } else {
            size_t size = ak_rng_below(&r, 20) == 0 ? (size_t)ak_rng_range(&r, 70000, 90000)
                                                    : (size_t)ak_rng_below(&r, 2000);
            void *p;
            ak_error e = ak_mag_alloc(&fx.m, cpu, size, 16, &p);
            lock_sane();
            if (e == AK_ERR_NO_MEMORY) {
                refused++;
                continue;
            }
            CHECK_OK(e);
            live[n].start = (uintptr_t)p;
            live[n].size = ak_mag_usable_size(&fx.m, p, size, 16);
            req[n] = size;
            n++;
        }
        if (i % 53 == 0)
            check_layer_walk(live, n, false);
    }
    check_layer_walk(live, n, false);
    drain();
    check_layer_walk(live, n, true);
    while (n) {
        n--;
        xfree(0, (void *)live[n].start, req[n], 16);
    }
    drain();
    check_layer_walk(live, 0, true);
    /* failed_allocs: the layer's allocs that found no memory, after the
     * release under pressure; init through the handle starts over. */
    struct ak_byte_stats st;
    ak_mag_byte_stats(&fx.m, &st);
    CHECK(st.failed_allocs == refused);
    void *p;
    CHECK_ERR(ak_mag_alloc(&fx.m, 0, (size_t)64 << 20, 16, &p), AK_ERR_NO_MEMORY);
    size_t got = 0;
    static void *fill[8192];
    while (got < 8192 && ak_mag_alloc(&fx.m, 1, 1000, 16, &fill[got]) == AK_OK)
        got++;
    CHECK(got < 8192);
    ak_mag_byte_stats(&fx.m, &st);
    CHECK(st.failed_allocs == refused + 2 && st.used_blocks == got);
    lock_sane();
    while (got)
        xfree(0, fill[--got], 1000, 16);
    ak_byte_allocator h = ak_mag_as_byte(&fx.m);
    CHECK_OK(ak_byte_init(h, (uintptr_t)fx.mem, fx.size));
    ak_mag_byte_stats(&fx.m, &st);
    CHECK(st.failed_allocs == 0 && st.used_blocks == 0 && st.used_bytes == 0);
    layer_sane();
    wc_block none[1];
    check_layer_walk(none, 0, true);
}

/* Without states or lock in the config: one CPU, no locking. */
static void test_defaults(void)
{
    fx_open((size_t)1 << 20, cfg_default, false);
    if (fx.kind->destroy) /* nothing to check the lock against */
        ((mag_double *)fx.obj)->lock_depth = NULL;
    CHECK(fx.m.ncpu == 1 && ak_mag_cpu_state(&fx.m, 0) == &fx.m.own);
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = xalloc(0, (size_t)i * 7, 16);
    for (int i = 0; i < 100; i++)
        xfree(0, p[i], (size_t)i * 7, 16);
    ak_mag_stats_t s = stats();
    CHECK(s.limit_bytes == AK_MAG_DEFAULT_LIMIT);
    CHECK(!caching() || s.cached_bytes > 0);
    CHECK(fx.lock.acquisitions == 0);
    layer_sane();
    drain();
    CHECK(backend_used() == 0);
}

/* ------------------------------------------------------------------ */
/* The checker catches what it says it checks                          */
/* ------------------------------------------------------------------ */

static void test_check_catches(void)
{
    CACHING_ONLY();
    ak_mag_config c = {.ncpu = 2, .rounds = 4};
    fx_open((size_t)1 << 20, c, true);
    void *b[6];
    for (int i = 0; i < 6; i++)
        b[i] = xalloc(0, 64, 16);
    for (int i = 0; i < 3; i++)
        xfree(0, b[i], 64, 16);
    layer_sane();
    unsigned c64 = 3; /* class 64 */
    struct ak_mag_magazine *mg = fx.cpus[0].loaded[c64];
    CHECK(fx.m.cls[c64].size == 64 && fx.cpus[0].held == 3 * 64);
    /* One pointer twice. (The rounds follow the mark's two words, a link
     * and two 32-bit counts, in magazine.c.) */
    void **round = (void **)((uintptr_t)mg + 3 * sizeof(void *) + 8);
    void *saved = round[1];
    round[1] = round[0];
    CHECK(ak_mag_check(&fx.m) != NULL);
    round[1] = saved;
    CHECK_INVARIANTS(ak_mag_check(&fx.m));
    /* A live block in a magazine (not marked cached). */
    round[2] = b[4];
    CHECK(ak_mag_check(&fx.m) != NULL);
    /* The check marked it while looking; undo that as the layer would. */
    ak_byte_uncache(fx.backend, b[4], 64, 16);
    round[2] = b[2];
    CHECK_INVARIANTS(ak_mag_check(&fx.m));
    /* Counters. */
    fx.cpus[0].held += 64;
    CHECK(ak_mag_check(&fx.m) != NULL);
    fx.cpus[0].held -= 64;
    fx.m.granted++;
    CHECK(ak_mag_check(&fx.m) != NULL);
    fx.m.granted--;
    size_t limit = fx.m.limit;
    fx.m.limit = fx.m.granted + fx.m.mag_bytes - 1;
    CHECK(ak_mag_check(&fx.m) != NULL);
    fx.m.limit = limit;
    CHECK_INVARIANTS(ak_mag_check(&fx.m));
    for (int i = 3; i < 6; i++)
        xfree(1, b[i], 64, 16);
    drain();
    lock_sane();
}

/* ------------------------------------------------------------------ */
/* The randomised model                                                */
/* ------------------------------------------------------------------ */

#define MODEL_LIVE 700
static struct model_block {
    unsigned char *p;
    size_t size, align, usable;
    uint64_t tag;
} mlive[MODEL_LIVE];
static uint8_t *shadow; /* one bit per byte of the region: owned by a live block */

static bool shadow_any(size_t off, size_t n)
{
    for (size_t i = off; i < off + n; i++)
        if (shadow[i >> 3] & (1u << (i & 7)))
            return true;
    return false;
}

static void shadow_set(size_t off, size_t n, bool v)
{
    for (size_t i = off; i < off + n; i++) {
        if (v)
            shadow[i >> 3] |= (uint8_t)(1u << (i & 7));
        else
            shadow[i >> 3] &= (uint8_t) ~(1u << (i & 7));
    }
}

/* Random allocs and frees on random CPUs (never the allocating one by
 * design), with bad frees, flushes and trims mixed in. Every new block is
 * checked for alignment, bounds and overlap with every live one (over its
 * whole usable size, which the model writes); contents are verified
 * before each free; used_bytes is compared with the model's sum of usable
 * sizes; the layer's checker runs every few operations. */
static void run_model(uint64_t seed, uint64_t ops)
{
    ak_rng r;
    ak_rng_seed(&r, seed);
    const unsigned ncpu = 1 + (unsigned)ak_rng_below(&r, NCPU);
    static const size_t limits[] = {0, 2048, 32768, 1 << 20};
    ak_mag_config c = {
        .ncpu = ncpu,
        .rounds = 1 + (unsigned)ak_rng_below(&r, 12),
        .max_size = (size_t)ak_rng_log_uniform(&r, 16, 8192),
        .max_align = (size_t)1 << ak_rng_range(&r, 3, 8),
        .limit_bytes = limits[ak_rng_below(&r, 4)],
    };
    const size_t region = (size_t)8 << 20;
    fx_open(region, c, true);
    if (!shadow) {
        shadow = calloc(REGION_MAX / 8, 1);
        CHECK(shadow != NULL);
    }
    memset(shadow, 0, region / 8);
    size_t n = 0, req = 0, usable = 0;
    unsigned long allocs = 0, nomem = 0, bad = 0;
    for (uint64_t op = 0; op < ops; op++) {
        const unsigned cpu = (unsigned)ak_rng_below(&r, ncpu);
        const unsigned k = (unsigned)ak_rng_below(&r, 100);
        if (n == 0 || (k < 52 && n < MODEL_LIVE)) {
            size_t size;
            unsigned ks = (unsigned)ak_rng_below(&r, 100);
            if (ks < 4)
                size = 0;
            else if (ks < 70)
                size = (size_t)ak_rng_log_uniform(&r, 1, 512);
            else if (ks < 95)
                size = (size_t)ak_rng_log_uniform(&r, 1, c.max_size + c.max_size / 4);
            else /* passed through: a few sizes, so the double can reuse them */
                size = (size_t)ak_rng_range(&r, 17, 40) * 1024;
            unsigned ka = (unsigned)ak_rng_below(&r, 100);
            size_t align = ka < 80   ? (size_t)1 << ak_rng_below(&r, 5)
                           : ka < 97 ? (size_t)1 << ak_rng_range(&r, 5, 8)
                                     : (size_t)1 << ak_rng_range(&r, 9, 12);
            void *p = NULL;
            ak_error e = ak_mag_alloc(&fx.m, cpu, size, align, &p);
            lock_sane();
            if (e == AK_ERR_NO_MEMORY) {
                nomem++;
                continue;
            }
            CHECKF(e == AK_OK, "op %llu: alloc(%zu, %zu) gave %s", (unsigned long long)op, size,
                   align, ak_error_name(e));
            CHECKF(ak_is_aligned((uintptr_t)p, align), "alloc(%zu, %zu) gave %p", size, align, p);
            size_t u = ak_mag_usable_size(&fx.m, p, size, align);
            CHECKF(u >= size, "usable %zu < %zu", u, size);
            CHECKF(in_region(p, u ? u : 1), "block %p+%zu outside the region", p, u);
            size_t off = (size_t)((unsigned char *)p - fx.mem), span = u ? u : 1;
            CHECKF(!shadow_any(off, span), "op %llu: %p (usable %zu) overlaps a live block",
                   (unsigned long long)op, p, u);
            shadow_set(off, span, true);
            mlive[n] = (struct model_block){p, size, align, u, op + 1};
            ak_pattern_fill(p, u, op + 1); /* the slack too: usable must be true */
            n++;
            req += size;
            usable += u;
            allocs++;
        } else if (k < 90) {
            const size_t i = (size_t)ak_rng_below(&r, n);
            struct model_block b = mlive[i];
            CHECKF(ak_pattern_ok(b.p, b.usable, b.tag), "op %llu: block %p (%zu) overwritten",
                   (unsigned long long)op, (void *)b.p, b.size);
            xfree(cpu, b.p, b.size, b.align);
            shadow_set((size_t)(b.p - fx.mem), b.usable ? b.usable : 1, false);
            mlive[i] = mlive[--n];
            req -= b.size;
            usable -= b.usable;
            if (ak_rng_below(&r, 4) == 0) { /* a double free, on any CPU */
                CHECK_ERR(
                    ak_mag_free(&fx.m, (unsigned)ak_rng_below(&r, ncpu), b.p, b.size, b.align),
                    AK_ERR_NOT_ALLOCATED);
                bad++;
            }
        } else if (k < 96) { /* a bad free: changes nothing */
            size_t u0 = ak_mag_used_bytes(&fx.m);
            unsigned char local[32];
            void *q = local;
            size_t size = 16;
            if (n && ak_rng_below(&r, 2)) {
                const struct model_block *b = &mlive[ak_rng_below(&r, n)];
                if (b->usable > 16) { /* inside it: no block starts there */
                    q = b->p + 16;
                    size = b->size;
                }
            }
            ak_error e = ak_mag_free(&fx.m, cpu, q, size, 16);
            CHECKF(e == AK_ERR_NOT_ALLOCATED || e == AK_ERR_INVALID_PARAM, "bad free gave %s",
                   ak_error_name(e));
            CHECK(ak_mag_used_bytes(&fx.m) == u0);
            bad++;
        } else if (k < 99) {
            CHECK_OK(ak_mag_flush(&fx.m, cpu));
        } else {
            ak_mag_trim(&fx.m);
        }
        lock_sane();
        if (op % 8 == 0)
            used_is(req, usable);
        if (op % 32 == 0)
            layer_sane();
    }
    layer_sane();
    ak_mag_stats_t s = stats();
    printf("[%u CPUs, %u rounds, max %zu, limit %zu: %lu allocs, %lu out of memory, %lu bad, "
           "%llu hits, %llu exchanges] ",
           ncpu, c.rounds, c.max_size, fx.m.limit, allocs, nomem, bad,
           (unsigned long long)(s.alloc_hits + s.free_hits), (unsigned long long)s.exchanges);
    CHECK(allocs > ops / 3);
    CHECK(!caching() || s.alloc_hits > 0 || c.limit_bytes == 2048);
    while (n) {
        struct model_block b = mlive[--n];
        CHECK(ak_pattern_ok(b.p, b.usable, b.tag));
        xfree((unsigned)(n % ncpu), b.p, b.size, b.align);
    }
    used_is(0, 0);
    drain();
    CHECK(backend_used() == 0);
}

static void test_model(void)
{
    const uint64_t ops = ak_test_ops(30000, 4000);
    for (uint64_t i = 0; i < 4; i++)
        run_model(ak_t.seed * 1000 + i, ops);
}

/* ------------------------------------------------------------------ */
/* The conformance suite's model, over the layer on each backend        */
/* ------------------------------------------------------------------ */

/* The shared shadow model of tests/conformance (good and bad calls, every
 * answer checked) drives the layer through its byte handle, with small
 * magazines and a small bound so that every path runs. One CPU: the model
 * expects the largest block to fit again once everything is freed, which
 * a release under pressure gives only for the caller's own magazines (and
 * the depot). The conformance suite runs it over TLSF alone; here it runs
 * over every backend of the table, the double with its hooks included. */
typedef struct layer_obj {
    ak_mag m;
    _Alignas(64) unsigned char backend[];
} layer_obj;

static layer_obj *model_obj;

static ak_byte_allocator make_layer(void *obj)
{
    layer_obj *o = obj;
    ak_mag_config c = {
        .backend = cur_kind->make(o->backend, NULL), .rounds = 4, .limit_bytes = 256 << 10};
    CHECK_OK(ak_mag_init(&o->m, &c));
    model_obj = o;
    return ak_mag_as_byte(&o->m);
}

static void on_model_fail(const char *msg)
{
    ak_test_fail(__FILE__, __LINE__, msg);
}

static void test_conformance_model(void)
{
    const ak_byte_contender contender = {"magazine", sizeof(layer_obj) + cur_kind->obj_size,
                                         make_layer, true, true};
    ak_model_on_fail = on_model_fail;
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    ak_src src = {&r, NULL, 0, 0};
    ak_byte_model_cfg cfg = {(size_t)8 << 20, 4000, 16384, 64};
    model_obj = NULL;
    ak_byte_model *bm = ak_byte_model_new(&contender, &cfg, &src);
    CHECK(bm != NULL && model_obj != NULL);
    const uint64_t ops = ak_test_ops(300000, 20000);
    for (uint64_t i = 0; i < ops; i++)
        ak_byte_model_step(bm, &src);
    ak_byte_model_drain(bm);
    ak_model_counts n = ak_byte_model_counts(bm);
    ak_mag_stats_t s;
    ak_mag_stats(&model_obj->m, &s);
    printf("[%llu ops: %llu allocs, %llu out of memory, %llu bad calls, %llu regions; %llu "
           "hits, %llu exchanges, %llu releases] ",
           n.ops, n.ok, n.no_memory, n.bad_calls, n.regions,
           (unsigned long long)(s.alloc_hits + s.free_hits), (unsigned long long)s.exchanges,
           (unsigned long long)s.releases);
    CHECK(n.ok > ops / 4 && n.bad_calls > 0);
    CHECK(!caching() || s.alloc_hits > 0);
    if (cur_kind->destroy)
        cur_kind->destroy(model_obj->backend);
    ak_byte_model_free(bm);
}

/* ------------------------------------------------------------------ */
/* Real threads                                                        */
/* ------------------------------------------------------------------ */

#define T_THREADS 4
#define T_RING    256

static struct {
    pthread_mutex_t mutex;
    struct {
        void *p;
        size_t size;
        uint64_t tag;
    } ring[T_RING];
    unsigned n;
} handoff = {PTHREAD_MUTEX_INITIALIZER, {{0, 0, 0}}, 0};

static unsigned long thread_failures;
static uint64_t thread_ops;

static void thread_fail(void)
{
    __atomic_add_fetch(&thread_failures, 1, __ATOMIC_RELAXED);
}

/* One thread on its own CPU index: allocs, hands some blocks to the ring,
 * frees blocks from the ring (most of them another thread's). */
static void *thread_main(void *arg)
{
    const unsigned cpu = (unsigned)(uintptr_t)arg;
    static const size_t sizes[] = {16, 64, 200, 1000, 5000};
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed * 31 + cpu);
    void *mine[32];
    size_t mine_size[32], nmine = 0;
    for (uint64_t op = 0; op < thread_ops; op++) {
        size_t size = sizes[ak_rng_below(&r, 5)];
        uint64_t tag = ((uint64_t)cpu << 48) | op;
        void *p;
        if (ak_mag_alloc(&fx.m, cpu, size, 16, &p) != AK_OK) {
            thread_fail();
            break;
        }
        ak_pattern_fill(p, size, tag);
        if (nmine < 32 && ak_rng_below(&r, 3) == 0) {
            mine[nmine] = p;
            mine_size[nmine++] = size;
            ak_pattern_fill(p, size, 7);
        } else {
            pthread_mutex_lock(&handoff.mutex);
            if (handoff.n < T_RING) {
                handoff.ring[handoff.n].p = p;
                handoff.ring[handoff.n].size = size;
                handoff.ring[handoff.n++].tag = tag;
                p = NULL;
            }
            pthread_mutex_unlock(&handoff.mutex);
            if (p && ak_mag_free(&fx.m, cpu, p, size, 16) != AK_OK)
                thread_fail();
        }
        pthread_mutex_lock(&handoff.mutex);
        void *q = NULL;
        size_t qsize = 0;
        uint64_t qtag = 0;
        if (handoff.n && ak_rng_below(&r, 2)) {
            unsigned i = (unsigned)ak_rng_below(&r, handoff.n);
            q = handoff.ring[i].p;
            qsize = handoff.ring[i].size;
            qtag = handoff.ring[i].tag;
            handoff.ring[i] = handoff.ring[--handoff.n];
        }
        pthread_mutex_unlock(&handoff.mutex);
        if (q) {
            if (!ak_pattern_ok(q, qsize, qtag) || ak_mag_free(&fx.m, cpu, q, qsize, 16) != AK_OK)
                thread_fail();
        }
        if (nmine && ak_rng_below(&r, 8) == 0) {
            nmine--;
            if (!ak_pattern_ok(mine[nmine], mine_size[nmine], 7) ||
                ak_mag_free(&fx.m, cpu, mine[nmine], mine_size[nmine], 16) != AK_OK)
                thread_fail();
        }
    }
    while (nmine--)
        if (ak_mag_free(&fx.m, cpu, mine[nmine], mine_size[nmine], 16) != AK_OK)
            thread_fail();
    return NULL;
}

static void test_threads(void)
{
#ifdef AK_TEST_NO_THREADS
    /* Cross builds run under qemu-user, whose threads are not reliable
     * (qemu-i386 7.2 hangs in the first pthread_create). */
    printf("(skipped: emulated target) ");
    return;
#endif
    ak_mag_config c = {.ncpu = T_THREADS, .rounds = 8, .limit_bytes = 256 << 10};
    fx_open((size_t)16 << 20, c, true);
    /* The lock: a mutex behind the counting hooks. */
    CHECK(pthread_mutex_init(&fx.lock.mutex, NULL) == 0);
    fx.lock.threaded = true;
    thread_failures = 0;
    thread_ops = ak_test_ops(60000, 8000);
    handoff.n = 0;
    pthread_t t[T_THREADS];
    for (unsigned i = 0; i < T_THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)i) == 0);
    for (unsigned i = 0; i < T_THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    CHECKF(thread_failures == 0, "%lu failures in the threads", thread_failures);
    layer_sane();
    while (handoff.n) {
        handoff.n--;
        CHECK(ak_pattern_ok(handoff.ring[handoff.n].p, handoff.ring[handoff.n].size,
                            handoff.ring[handoff.n].tag));
        xfree(0, handoff.ring[handoff.n].p, handoff.ring[handoff.n].size, 16);
    }
    used_is(0, 0);
    ak_mag_stats_t s = stats();
    uint64_t calls = s.alloc_hits + s.alloc_misses + s.free_hits + s.free_misses;
    printf("[%d threads x %llu: %llu hits of %llu class calls, %lu lock acquisitions] ", T_THREADS,
           (unsigned long long)thread_ops, (unsigned long long)(s.alloc_hits + s.free_hits),
           (unsigned long long)calls, fx.lock.acquisitions);
    if (caching())
        CHECK(s.alloc_hits > 0 && fx.lock.acquisitions < calls);
    drain();
    CHECK(backend_used() == 0);
}

/* The grow hook: armed, it gives the backend one more 256 KiB region
 * (from the fixture's memory, well above the first region) once. */
static struct {
    bool armed;
    unsigned calls, grew;
} grow_state;

static bool grow_hook(void *ctx, size_t size, size_t align)
{
    (void)size;
    (void)align;
    CHECK(ctx == &grow_state);
    CHECK(fx.lock.depth > 0); /* called under the layer's lock */
    grow_state.calls++;
    if (!grow_state.armed || grow_state.grew)
        return false;
    CHECK_OK(
        ak_byte_add_memory(fx.backend, (uintptr_t)fx.mem + ((size_t)1 << 20), (size_t)256 << 10));
    fx.size = ((size_t)1 << 20) + ((size_t)256 << 10); /* blocks may lie there now */
    grow_state.grew++;
    return true;
}

/* Pressure that comes back within AK_MAG_PRESSURE_WINDOW of a release
 * asks the hook first, and the magazines are kept when it adds memory;
 * the first pressure, or a hook that adds nothing, releases as before. */
static void test_grow_hook(void)
{
    CACHING_ONLY();
    if (!strncmp(cur_kind->name, "double", 6)) {
        /* Its exact-length free lists cannot hold a new magazine in a full
         * pool, so its frees there bypass the magazines: nothing to keep. */
        printf("(skipped: the double caches nothing in a full pool) ");
        return;
    }
    memset(&grow_state, 0, sizeof grow_state);
    ak_mag_config c = {.ncpu = 2,
                       .rounds = 8,
                       .limit_bytes = SIZE_MAX,
                       .grow = grow_hook,
                       .grow_ctx = &grow_state};
    fx_open((size_t)256 << 10, c, true);
    /* Big blocks: few locked operations per fill, all inside the window. */
    fill_size = class_of(2048);
    enum { N = 1024 };
    static void *blk[N];
    /* The first pressure: no release yet, so no call; the cache goes. */
    size_t n = fill(0, blk, N);
    for (size_t i = 0; i < n; i++)
        xfree(0, blk[i], fill_size, 16);
    CHECK(grow_state.calls == 0);
    void *q = xalloc(0, 3000, 16);
    ak_mag_stats_t s = stats();
    CHECKF(s.releases == 1 && s.cached_bytes == 0 && grow_state.calls == 0,
           "releases %llu, cached %zu, calls %u", (unsigned long long)s.releases, s.cached_bytes,
           grow_state.calls);
    xfree(0, q, 3000, 16);
    CHECK_OK(ak_mag_flush(&fx.m, 0));
    /* Soon after: filling up asks the (disarmed) hook, which adds nothing,
     * so the layer releases what it holds (nothing: the blocks are live). */
    n = fill(0, blk, N);
    CHECK(n > 50 && grow_state.calls > 0 && grow_state.grew == 0);
    for (size_t i = 0; i < n; i++)
        xfree(0, blk[i], fill_size, 16);
    s = stats();
    CHECK(s.cached_bytes > 0);
    layer_sane();
    /* Armed: the next miss that finds the backend full grows it, and the
     * magazines keep their blocks. */
    grow_state.armed = true;
    size_t total = backend_total();
    q = xalloc(0, 3000, 16);
    ak_mag_stats_t t = stats();
    CHECK(grow_state.grew == 1 && t.releases == s.releases && t.cached_bytes == s.cached_bytes);
    CHECK(backend_total() > total);
    layer_sane();
    xfree(0, q, 3000, 16);
    drain();
    CHECK(backend_used() == 0);
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void run_for(const backend_kind *k, const char *what, void (*fn)(void))
{
    static char name[96];
    cur_kind = k;
    snprintf(name, sizeof name, "%s.%s", k->name, what);
    ak_test_run(name, fn);
    fx_close();
}

int main(int argc, char **argv)
{
    ak_test_init(argc, argv, "test_magazine");
    for (size_t i = 0; i < NBACKENDS; i++) {
        const backend_kind *k = &backends[i];
        run_for(k, "init_errors", test_init_errors);
        run_for(k, "alloc_free_basics", test_alloc_free_basics);
        run_for(k, "magazine_sequence", test_magazine_sequence);
        run_for(k, "passthrough_routes", test_passthrough_routes);
        run_for(k, "contract_refusals", test_contract_refusals);
        run_for(k, "bound", test_bound);
        run_for(k, "flush_trim", test_flush_trim);
        run_for(k, "memory_pressure", test_memory_pressure);
        run_for(k, "grow_hook", test_grow_hook);
        run_for(k, "per_cpu_lock", test_per_cpu_lock);
        run_for(k, "attach_detach", test_attach_detach);
        run_for(k, "abandon", test_abandon);
        run_for(k, "magazine_bytes", test_magazine_bytes);
        run_for(k, "class_calls", test_class_calls);
        run_for(k, "miss_batch", test_miss_batch);
        run_for(k, "reap", test_reap);
        run_for(k, "as_byte", test_as_byte);
        run_for(k, "walk_stats", test_walk_stats);
        run_for(k, "defaults", test_defaults);
        run_for(k, "check_catches", test_check_catches);
        run_for(k, "model", test_model);
        run_for(k, "conformance_model", test_conformance_model);
        run_for(k, "threads", test_threads);
    }
    free(region_mem);
    free(shadow);
    return ak_test_finish();
}
