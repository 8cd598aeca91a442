/* Buddy allocator tests. Built twice: test_buddy runs the API-semantics
 * unit tests (split/merge chains, odd and many regions, every kind of bad
 * free with the state compared before and after, huge sizes, resize, the
 * interface handle); test_buddy_model (AK_BUDDY_TEST_MODEL) runs the
 * randomised model test: 1M operations by default (--ops=N, --quick for
 * 20K), sizes 0..1 MiB log-uniform, aligns 1..4096, several regions, every
 * live block tracked and its contents, alignment, bounds and disjointness
 * verified, bad frees (wrong size class, inside a block, twice) refused,
 * ak_buddy_check run periodically, and at the end every region back to
 * its initial blocks. */
#include "testlib.h"
#include "walk_check.h"

#include <allockit/buddy.h>
#include <stdlib.h>
#ifdef AK_TEST_THREADS
#include <pthread.h>
#include <stdatomic.h>
#endif

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* ---- helpers ---- */

/* A heap buffer of `size` bytes at an aligned base. */
typedef struct arena {
    unsigned char *raw;
    uintptr_t base; /* aligned */
    size_t size;
} arena;

static void arena_new(arena *ar, size_t size, size_t align)
{
    /* Align to the size rounded up to a power of two, so that the block
     * layout (which depends on absolute alignment) and so every result is
     * the same from run to run, whatever address the host hands out. */
    while (align < size)
        align <<= 1;
    ar->raw = malloc(size + align);
    if (!ar->raw) {
        printf("out of host memory\n");
        exit(2);
    }
    ar->base = ak_align_up((uintptr_t)ar->raw, align);
    ar->size = size;
}

static void arena_free(arena *ar)
{
    free(ar->raw);
    ar->raw = NULL;
}

/* The list of blocks the walker reports, for comparing whole states. */
#define MAX_WALK 200000
typedef struct walk_rec {
    uintptr_t p;
    size_t size;
    bool used;
} walk_rec;

typedef struct walk_list {
    walk_rec *v;
    size_t n;
    int overflow;
} walk_list;

static void walk_collect(uintptr_t start, size_t size, bool used, void *ctx)
{
    walk_list *l = ctx;
    if (l->n == MAX_WALK) {
        l->overflow = 1;
        return;
    }
    l->v[l->n].p = start;
    l->v[l->n].size = size;
    l->v[l->n].used = used;
    l->n++;
}

static void walk_take(const ak_buddy *a, walk_list *l)
{
    if (!l->v)
        l->v = malloc(sizeof(walk_rec) * MAX_WALK);
    l->n = 0;
    l->overflow = 0;
    ak_buddy_walk(a, walk_collect, l);
}

/* The common statistics and the buddy's own, read together. They agree
 * with each other (every free block is on its order's list) and with a
 * walk: the live blocks' and the free blocks' counts and sizes. */
typedef struct buddy_stats {
    struct ak_byte_stats c;
    struct ak_buddy_order_stats o;
} buddy_stats;

static void stats_get(const ak_buddy *a, buddy_stats *s)
{
    ak_buddy_stats(a, &s->c);
    ak_buddy_order_stats(a, &s->o);
    size_t listed = 0, largest = 0;
    for (unsigned k = 0; k < AK_BUDDY_ORDERS; k++) {
        listed += s->o.free_blocks[k];
        if (s->o.free_blocks[k])
            largest = (size_t)1 << k;
    }
    CHECK(listed == s->c.free_blocks && largest == s->c.largest_free);
    CHECK(s->c.free_bytes == s->c.total_bytes - s->c.used_bytes);
    CHECK(s->c.used_bytes == ak_buddy_used_bytes(a) && s->c.total_bytes == ak_buddy_total_bytes(a));
    walk_list w = {0};
    walk_take(a, &w);
    size_t used_n = 0, used_sum = 0, free_n = 0, free_sum = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (w.v[i].used) {
            used_n++;
            used_sum += w.v[i].size;
        } else {
            free_n++;
            free_sum += w.v[i].size;
        }
    }
    CHECK(!w.overflow);
    CHECK(used_n == s->c.used_blocks && used_sum == s->c.used_bytes);
    CHECK(free_n == s->c.free_blocks && free_sum == s->c.free_bytes);
    free(w.v);
}

#ifndef AK_BUDDY_TEST_MODEL

static int walk_equal(const walk_list *x, const walk_list *y)
{
    if (x->overflow || y->overflow || x->n != y->n)
        return 0;
    for (size_t i = 0; i < x->n; i++)
        if (x->v[i].p != y->v[i].p || x->v[i].size != y->v[i].size || x->v[i].used != y->v[i].used)
            return 0;
    return 1;
}

/* Everything observable about the allocator, to show an error changed
 * nothing: stats, the object itself and the block map. */
typedef struct snapshot {
    buddy_stats st;
    ak_buddy obj;
    walk_list walk;
} snapshot;

static void snap(const ak_buddy *a, snapshot *s)
{
    stats_get(a, &s->st);
    s->obj = *a;
    walk_take(a, &s->walk);
}

static int snap_same(const ak_buddy *a, snapshot *before)
{
    snapshot now = {0};
    snap(a, &now);
    int same = memcmp(&now.st, &before->st, sizeof now.st) == 0 &&
               memcmp(&now.obj, &before->obj, sizeof now.obj) == 0 &&
               walk_equal(&now.walk, &before->walk);
    free(now.walk.v);
    return same;
}

static void snap_free(snapshot *s)
{
    free(s->walk.v);
    s->walk.v = NULL;
}

/* Region [start, start+size) whose block area is exactly [x, x + len) for
 * an x aligned as wanted: search the head size. Returns the start. */
static uintptr_t region_start_for_area(uintptr_t x, size_t len, size_t *size_out)
{
    for (size_t d = 64; d < 64 * KiB; d += 8) {
        size_t size = d + len;
        size_t ov = ak_buddy_region_overhead(x - d, size);
        if (ov != SIZE_MAX && size - ov == len && ov == d) {
            *size_out = size;
            return x - d;
        }
    }
    return 0;
}

/* ---- unit tests ---- */

static void test_zero_initialised(void)
{
    ak_buddy a;
    memset(&a, 0, sizeof a);
    void *p = (void *)1;
    CHECK_INVARIANTS(ak_buddy_check(&a));
    CHECK(ak_buddy_total_bytes(&a) == 0);
    CHECK(ak_buddy_used_bytes(&a) == 0);
    CHECK(ak_buddy_available_bytes(&a) == 0);
    CHECK_ERR(ak_buddy_alloc(&a, 16, 8, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_buddy_alloc(&a, 0, 1, &p), AK_ERR_NO_MEMORY);
    CHECK(p == (void *)1);
    int x;
    CHECK_ERR(ak_buddy_dealloc(&a, &x, 4, 4), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, NULL, 0, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_resize(&a, &x, 4, 4, 8), AK_ERR_NOT_ALLOCATED);
    walk_list w = {0};
    walk_take(&a, &w);
    CHECK(w.n == 0);
    free(w.v);
    buddy_stats st;
    stats_get(&a, &st);
    CHECK(st.c.region_count == 0 && st.c.largest_free == 0 && st.c.free_bytes == 0);
    /* A static one too. */
    static ak_buddy s;
    CHECK_INVARIANTS(ak_buddy_check(&s));
    CHECK_ERR(ak_buddy_alloc(&s, 1, 1, &p), AK_ERR_NO_MEMORY);
    /* And it accepts memory without init. */
    arena ar;
    arena_new(&ar, 64 * KiB, 4096);
    CHECK_OK(ak_buddy_add_memory(&a, ar.base, ar.size));
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &p));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    CHECK_OK(ak_buddy_dealloc(&a, p, 100, 8));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    arena_free(&ar);
}

/* Accounting of one region: total + bookkeeping + trimmed == size, the
 * blocks tile the area, and every initial block is maximal. */
static void check_fresh_region(const ak_buddy *a, uintptr_t start, size_t size)
{
    buddy_stats st;
    stats_get(a, &st);
    CHECK(st.c.total_bytes + st.o.bookkeeping_bytes + st.o.trimmed_bytes == size);
    CHECK(st.o.trimmed_bytes < 16);
    CHECK(st.c.total_bytes == size - ak_buddy_region_overhead(start, size));
    CHECK(st.c.used_bytes == 0 && st.c.used_blocks == 0 && st.c.free_bytes == st.c.total_bytes);
    walk_list w = {0};
    walk_take(a, &w);
    CHECK(w.n > 0 && !w.overflow);
    uintptr_t lo = w.v[0].p, hi = w.v[w.n - 1].p + w.v[w.n - 1].size;
    CHECK(lo >= start && hi <= start + size);
    CHECK(hi - lo == st.c.total_bytes);
    CHECK(lo - start == st.o.bookkeeping_bytes);
    size_t per_order[AK_BUDDY_ORDERS] = {0};
    for (size_t i = 0; i < w.n; i++) {
        uintptr_t p = w.v[i].p;
        size_t bs = w.v[i].size;
        CHECK(!w.v[i].used);
        CHECK(ak_is_pow2(bs) && bs >= AK_BUDDY_MIN_BLOCK);
        CHECK(ak_is_aligned(p, bs));
        if (i + 1 < w.n)
            CHECK(p + bs == w.v[i + 1].p);
        /* Maximal: the parent does not fit in the area. */
        uintptr_t parent = p & ~(uintptr_t)bs;
        CHECK(parent < lo || parent + 2 * bs > hi);
        per_order[__builtin_ctzll((unsigned long long)bs)]++;
    }
    for (unsigned k = 0; k < AK_BUDDY_ORDERS; k++)
        CHECK(per_order[k] == st.o.free_blocks[k]);
    /* At most two maximal blocks of any order (one rising, one falling). */
    for (unsigned k = 0; k < AK_BUDDY_ORDERS; k++)
        CHECK(st.o.free_blocks[k] <= 2);
    free(w.v);
}

static void test_init_accounting(void)
{
    arena ar;
    arena_new(&ar, 4 * MiB, 4096);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, ar.base, MiB));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    check_fresh_region(&a, ar.base, MiB);
    buddy_stats st;
    stats_get(&a, &st);
    /* Documented: record, fls(n0) + 1 words of order table, a map of
     * even(n0) + 4 * (n0 / 2 + fls(n0)) bits in whole words, then rounded
     * up to 16 (n0 = 65536 granules here, fls(n0) = 16). */
    const size_t n0 = MiB / 16, wbits = sizeof(size_t) * 8;
    const size_t map_bits = n0 + 4 * (n0 / 2 + 16);
    size_t expect_head = AK_BUDDY_REGION_RECORD_BYTES + 17 * sizeof(size_t) +
                         (map_bits + wbits - 1) / wbits * sizeof(size_t);
    expect_head = (expect_head + 15) & ~(size_t)15;
    CHECK(st.o.bookkeeping_bytes == expect_head);
    CHECK(st.o.bookkeeping_bytes <= MiB * 3 / 128 + 256);
    CHECK(st.c.region_count == 1);
    printf("(1 MiB region: %zu bytes of bookkeeping) ", st.o.bookkeeping_bytes);
    /* Re-init forgets the old state. */
    void *p;
    CHECK_OK(ak_buddy_alloc(&a, 1000, 8, &p));
    CHECK_OK(ak_buddy_init(&a, ar.base + MiB + 3, MiB - 7));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    check_fresh_region(&a, ar.base + MiB + 3, MiB - 7);
    CHECK(ak_buddy_used_bytes(&a) == 0);
    /* A failed init leaves the allocator as it was. */
    snapshot s = {0};
    snap(&a, &s);
    CHECK_ERR(ak_buddy_init(&a, ar.base, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_init(&a, ar.base, 40), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_init(&a, UINTPTR_MAX - 10, 100), AK_ERR_INVALID_PARAM);
    CHECK(snap_same(&a, &s));
    snap_free(&s);
    arena_free(&ar);
}

static void test_region_errors(void)
{
    arena ar;
    arena_new(&ar, 2 * MiB, 4096);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, ar.base + 1000, 100 * KiB));
    snapshot s = {0};
    snap(&a, &s);
    /* Overlaps: inside, straddling either edge, covering, touching the head. */
    CHECK_ERR(ak_buddy_add_memory(&a, ar.base + 2000, 10 * KiB), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_buddy_add_memory(&a, ar.base, 2 * KiB), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_buddy_add_memory(&a, ar.base + 1000 + 100 * KiB - 1, 64 * KiB),
              AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_buddy_add_memory(&a, ar.base, MiB), AK_ERR_MEMORY_OVERLAP);
    /* Invalid: empty, wrapping, too small for a head and one block. */
    CHECK_ERR(ak_buddy_add_memory(&a, ar.base + MiB, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_add_memory(&a, UINTPTR_MAX - 100, 1000), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_add_memory(&a, UINTPTR_MAX, SIZE_MAX), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_add_memory(&a, ar.base + MiB, 40), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_add_memory(&a, ar.base + MiB + 1, AK_BUDDY_REGION_RECORD_BYTES + 16),
              AK_ERR_INVALID_PARAM);
    CHECK(ak_buddy_region_overhead(ar.base, 40) == SIZE_MAX);
    CHECK(ak_buddy_region_overhead(UINTPTR_MAX - 100, 1000) == SIZE_MAX);
    CHECK(snap_same(&a, &s));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Adjacent regions are fine (no shared byte). */
    CHECK_OK(ak_buddy_add_memory(&a, ar.base + 1000 + 100 * KiB, 100 * KiB));
    CHECK_OK(ak_buddy_add_memory(&a, ar.base + 500, 500));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* The smallest region that works holds exactly one 16-byte block. */
    ak_buddy b = {0};
    uintptr_t st = ar.base + MiB;
    size_t sz = 1;
    while (ak_buddy_region_overhead(st, sz) == SIZE_MAX)
        sz++;
    CHECK_ERR(ak_buddy_add_memory(&b, st, sz - 1), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_buddy_add_memory(&b, st, sz));
    CHECK(ak_buddy_total_bytes(&b) == 16);
    void *p, *q;
    CHECK_OK(ak_buddy_alloc(&b, 16, 16, &p));
    CHECK_ERR(ak_buddy_alloc(&b, 0, 1, &q), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_buddy_dealloc(&b, p, 16, 16));
    CHECK_INVARIANTS(ak_buddy_check(&b));
    snap_free(&s);
    arena_free(&ar);
}

/* One block of 64 KiB: a 16-byte alloc splits it all the way down, frees
 * merge it all the way up. */
static void test_split_merge_chain(void)
{
    arena ar;
    arena_new(&ar, 512 * KiB, 128 * KiB);
    size_t size = 0;
    uintptr_t x = ar.base + 128 * KiB;
    uintptr_t start = region_start_for_area(x, 64 * KiB, &size);
    CHECK(start != 0);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, start, size));
    buddy_stats st;
    stats_get(&a, &st);
    CHECK(st.c.total_bytes == 64 * KiB);
    CHECK(st.o.free_blocks[16] == 1 && st.c.largest_free == 64 * KiB);

    void *p, *q, *r;
    CHECK_OK(ak_buddy_alloc(&a, 1, 1, &p));
    CHECK((uintptr_t)p == x);
    stats_get(&a, &st);
    for (unsigned k = 4; k < 16; k++)
        CHECK(st.o.free_blocks[k] == 1);
    CHECK(st.o.free_blocks[16] == 0);
    CHECK(st.c.used_bytes == 16 && st.c.used_blocks == 1); /* the whole block counts */
    CHECK_INVARIANTS(ak_buddy_check(&a));

    CHECK_OK(ak_buddy_alloc(&a, 16, 1, &q)); /* the buddy of p */
    CHECK((uintptr_t)q == x + 16);
    CHECK_OK(ak_buddy_alloc(&a, 32 * KiB, 1, &r)); /* the upper half */
    CHECK((uintptr_t)r == x + 32 * KiB);
    stats_get(&a, &st);
    CHECK(st.o.free_blocks[4] == 0 && st.o.free_blocks[15] == 0);
    for (unsigned k = 5; k < 15; k++)
        CHECK(st.o.free_blocks[k] == 1);
    CHECK_INVARIANTS(ak_buddy_check(&a));

    /* Freeing p cannot merge (q is in use). */
    CHECK_OK(ak_buddy_dealloc(&a, p, 1, 1));
    stats_get(&a, &st);
    CHECK(st.o.free_blocks[4] == 1 && st.o.free_blocks[5] == 1);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Freeing q merges up to 32 KiB (r still holds the other half). */
    CHECK_OK(ak_buddy_dealloc(&a, q, 16, 1));
    stats_get(&a, &st);
    for (unsigned k = 4; k < 16; k++)
        CHECK(st.o.free_blocks[k] == (k == 15));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    CHECK_OK(ak_buddy_dealloc(&a, r, 32 * KiB, 1));
    stats_get(&a, &st);
    CHECK(st.o.free_blocks[16] == 1 && st.c.free_bytes == 64 * KiB);
    CHECK(st.c.used_bytes == 0 && st.c.used_blocks == 0);
    CHECK(st.o.peak_used_bytes == 16 + 16 + 32 * KiB);
    CHECK_INVARIANTS(ak_buddy_check(&a));

    /* The whole area, then nothing more; freed, the whole area again. */
    CHECK_OK(ak_buddy_alloc(&a, 64 * KiB, 64 * KiB, &p));
    CHECK((uintptr_t)p == x);
    CHECK_ERR(ak_buddy_alloc(&a, 0, 1, &q), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_buddy_alloc(&a, 128 * KiB, 1, &q), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_buddy_dealloc(&a, p, 64 * KiB, 64 * KiB));

    /* Fill with 16-byte blocks: exactly total/16 of them, in address
     * order (lowest halves first), then free in a shuffled order. */
    size_t n = 64 * KiB / 16;
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(ak_buddy_alloc(&a, i & 15, 1, &v[i]));
        CHECK((uintptr_t)v[i] == x + 16 * i);
    }
    CHECK_ERR(ak_buddy_alloc(&a, 0, 1, &q), AK_ERR_NO_MEMORY);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = ak_rng_below(&rng, i + 1);
        void *t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        size_t idx = ((uintptr_t)v[i] - x) / 16;
        CHECK_OK(ak_buddy_dealloc(&a, v[i], idx & 15, 1));
        if (i % 512 == 0)
            CHECK_INVARIANTS(ak_buddy_check(&a));
    }
    stats_get(&a, &st);
    CHECK(st.o.free_blocks[16] == 1 && st.c.free_bytes == 64 * KiB);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    free(v);
    arena_free(&ar);
}

static void test_alloc_semantics(void)
{
    arena ar;
    arena_new(&ar, 2 * MiB, 4096);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, ar.base + 7, 2 * MiB - 7));
    /* Alignment and rounding. */
    for (size_t align = 1; align <= 64 * KiB; align <<= 1) {
        void *p;
        CHECK_OK(ak_buddy_alloc(&a, 24, align, &p));
        CHECK(ak_is_aligned((uintptr_t)p, align));
        size_t expect = align > 32 ? align : 32;
        CHECK(ak_buddy_usable_size(&a, p, 24, align) == expect);
        CHECK(ak_is_aligned((uintptr_t)p, expect)); /* natural alignment */
        memset(p, 0xab, expect);                    /* the whole block is usable */
        CHECK_OK(ak_buddy_dealloc(&a, p, 24, align));
    }
    /* The usable size is the whole block, for any size of its order. */
    const size_t reqs[][3] = {{0, 1, 16},      {17, 1, 32},     {4096, 1, 4096},
                              {4097, 8, 8192}, {100, 256, 256}, {3000, 4096, 4096}};
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        void *p;
        CHECK_OK(ak_buddy_alloc(&a, reqs[i][0], reqs[i][1], &p));
        CHECK(ak_buddy_usable_size(&a, p, reqs[i][0], reqs[i][1]) == reqs[i][2]);
        CHECK(ak_buddy_usable_size(&a, p, reqs[i][2], 1) == reqs[i][2]);
        CHECK(ak_buddy_usable_size(&a, p, reqs[i][2] / 2 + 1, 1) == reqs[i][2]);
        /* Another order, a bad align, a pointer inside: 0. */
        CHECK(ak_buddy_usable_size(&a, p, 2 * reqs[i][2], 1) == 0);
        CHECK(ak_buddy_usable_size(&a, p, reqs[i][0], 3) == 0);
        CHECK(ak_buddy_usable_size(&a, (char *)p + 16, 16, 1) == 0);
        CHECK(ak_buddy_used_bytes(&a) == reqs[i][2]);
        CHECK_OK(ak_buddy_dealloc(&a, p, reqs[i][0], reqs[i][1]));
        /* Freed: 0, whatever the size. */
        CHECK(ak_buddy_usable_size(&a, p, reqs[i][0], reqs[i][1]) == 0);
    }
    CHECK(ak_buddy_used_bytes(&a) == 0);
    /* Zero-size allocations are distinct and freed with size 0. */
    void *z[64];
    for (int i = 0; i < 64; i++) {
        CHECK_OK(ak_buddy_alloc(&a, 0, 1, &z[i]));
        for (int j = 0; j < i; j++)
            CHECK(z[i] != z[j]);
    }
    CHECK(ak_buddy_used_bytes(&a) == 64 * 16);
    buddy_stats st;
    stats_get(&a, &st);
    CHECK(st.c.used_blocks == 64 && st.c.used_bytes == 64 * 16);
    for (int i = 0; i < 64; i++)
        CHECK_OK(ak_buddy_dealloc(&a, z[i], 0, 1));
    /* used/available/peak. */
    void *p, *q;
    CHECK_OK(ak_buddy_alloc(&a, 1000, 8, &p));
    CHECK_OK(ak_buddy_alloc(&a, 3000, 8, &q));
    CHECK(ak_buddy_used_bytes(&a) == 1024 + 4096);
    CHECK(ak_buddy_available_bytes(&a) == ak_buddy_total_bytes(&a) - (1024 + 4096));
    stats_get(&a, &st);
    CHECK(st.c.free_bytes == st.c.total_bytes - (1024 + 4096));
    CHECK_OK(ak_buddy_dealloc(&a, p, 1000, 8));
    CHECK_OK(ak_buddy_dealloc(&a, q, 3000, 8));
    stats_get(&a, &st);
    CHECK(st.c.used_bytes == 0 && st.o.peak_used_bytes >= 1024 + 4096);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Invalid requests change nothing. */
    snapshot s = {0};
    snap(&a, &s);
    CHECK_ERR(ak_buddy_alloc(&a, 8, 0, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_alloc(&a, 8, 3, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_alloc(&a, 8, 48, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_alloc(&a, 8, 8, NULL), AK_ERR_INVALID_PARAM);
    CHECK(snap_same(&a, &s));
    snap_free(&s);
    arena_free(&ar);
}

static void test_huge_requests(void)
{
    arena ar;
    arena_new(&ar, MiB, 4096);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, ar.base, MiB));
    snapshot s = {0};
    snap(&a, &s);
    const size_t top = (size_t)1 << (sizeof(size_t) * 8 - 1);
    void *p = NULL;
    /* Not representable as a power of two: invalid. */
    CHECK_ERR(ak_buddy_alloc(&a, SIZE_MAX, 1, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_alloc(&a, SIZE_MAX - 15, 16, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_alloc(&a, top + 1, 1, &p), AK_ERR_INVALID_PARAM);
    /* Representable but larger than any region: no memory. */
    CHECK_ERR(ak_buddy_alloc(&a, top, 1, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_buddy_alloc(&a, 1, top, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_buddy_alloc(&a, top / 2 + 1, 1, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_buddy_alloc(&a, 0, top >> 1, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_buddy_alloc(&a, MiB, 1, &p), AK_ERR_NO_MEMORY); /* head takes some */
    CHECK_ERR(ak_buddy_alloc(&a, 16, 2 * MiB, &p), AK_ERR_NO_MEMORY);
    CHECK(p == NULL);
    /* Frees and resizes with such sizes are refused too. */
    void *q;
    CHECK_OK(ak_buddy_alloc(&a, 64, 8, &q));
    snapshot s2 = {0};
    snap(&a, &s2);
    CHECK_ERR(ak_buddy_dealloc(&a, q, SIZE_MAX, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, q, 64, top), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_resize(&a, q, 64, 8, SIZE_MAX), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_buddy_resize(&a, q, 64, 8, top), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_buddy_resize(&a, q, SIZE_MAX, 8, 64), AK_ERR_INVALID_PARAM);
    CHECK(snap_same(&a, &s2));
    CHECK_OK(ak_buddy_dealloc(&a, q, 64, 8));
    /* Back to the first state (only the peak remembers q). */
    snapshot s3 = {0};
    snap(&a, &s3);
    CHECK(walk_equal(&s3.walk, &s.walk));
    CHECK(s3.st.o.peak_used_bytes == 64);
    s3.st.o.peak_used_bytes = 0;
    /* ... and the count of failed allocations: the six above. */
    CHECK(s3.st.c.failed_allocs == s.st.c.failed_allocs + 6);
    s3.st.c.failed_allocs = s.st.c.failed_allocs;
    CHECK(memcmp(&s3.st, &s.st, sizeof s.st) == 0);
    snap_free(&s3);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    snap_free(&s);
    snap_free(&s2);
    arena_free(&ar);
}

static void test_bad_frees(void)
{
    arena ar;
    arena_new(&ar, 2 * MiB, 4096);
    ak_buddy a;
    uintptr_t start = ar.base + 3;
    size_t size = MiB + MiB / 2 - 5;
    /* Two regions, each with a live block, so that the bad frees below hit
     * a region other than the one a lookup tried first. Region 2 (its
     * largest block is 128 KiB) gets `other`; only region 1 has a 512 KiB
     * block, so `huge1` lands there. */
    const uintptr_t start2 = ar.base + MiB + MiB / 2 + 4096;
    const size_t size2 = 256 * KiB;
    CHECK_OK(ak_buddy_init(&a, start2, size2));
    void *other, *huge1;
    CHECK_OK(ak_buddy_alloc(&a, 48, 16, &other));
    CHECK_OK(ak_buddy_add_memory(&a, start, size));
    CHECK_OK(ak_buddy_alloc(&a, 300 * KiB, 1, &huge1));
    CHECK((uintptr_t)huge1 >= start && (uintptr_t)huge1 < start + size);
    CHECK((uintptr_t)other >= start2 && (uintptr_t)other < start2 + size2);
    void *p64, *p256, *p16, *pfree, *big;
    CHECK_OK(ak_buddy_alloc(&a, 64, 8, &p64));
    CHECK_OK(ak_buddy_alloc(&a, 200, 8, &p256));
    CHECK_OK(ak_buddy_alloc(&a, 5, 1, &p16));
    CHECK_OK(ak_buddy_alloc(&a, 64, 8, &pfree));
    CHECK_OK(ak_buddy_alloc(&a, 5000, 4096, &big));
    CHECK_OK(ak_buddy_dealloc(&a, pfree, 64, 8));
    CHECK_INVARIANTS(ak_buddy_check(&a));

    buddy_stats st;
    stats_get(&a, &st);
    walk_list w = {0};
    walk_take(&a, &w);
    /* Region 1's block area, and a free 256-byte block somewhere. */
    uintptr_t lo = UINTPTR_MAX, hi = 0, a_free = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (w.v[i].p >= start && w.v[i].p < start + size) {
            if (w.v[i].p < lo)
                lo = w.v[i].p;
            if (w.v[i].p + w.v[i].size > hi)
                hi = w.v[i].p + w.v[i].size;
        }
        if (!w.v[i].used && w.v[i].size == 256)
            a_free = w.v[i].p;
    }
    free(w.v);

    snapshot s = {0};
    snap(&a, &s);
    int local;
    unsigned char *c64 = p64, *c256 = p256;
    /* Outside every region. */
    CHECK_ERR(ak_buddy_dealloc(&a, &local, 4, 4), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, NULL, 0, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, (void *)(ar.base + 2 * MiB - 64), 64, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, (void *)(uintptr_t)(UINTPTR_MAX & ~(uintptr_t)15), 16, 1),
              AK_ERR_NOT_ALLOCATED);
    /* In the region's head and its trimmed tail. */
    CHECK_ERR(ak_buddy_dealloc(&a, (void *)start, 16, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, (void *)(lo - 16), 16, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, (void *)hi, 0, 1), AK_ERR_NOT_ALLOCATED);
    CHECK(hi <= start + size);
    /* Not a block start: inside blocks, misaligned. */
    CHECK_ERR(ak_buddy_dealloc(&a, c64 + 16, 16, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, c64 + 32, 32, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, c64 + 1, 64, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, c256 + 128, 128, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, (unsigned char *)big + 4096, 4096, 4096), AK_ERR_NOT_ALLOCATED);
    /* Already free (the same block twice, a block that merged away, any
     * free block). */
    CHECK_ERR(ak_buddy_dealloc(&a, pfree, 64, 8), AK_ERR_NOT_ALLOCATED);
    CHECK(a_free != 0);
    CHECK_ERR(ak_buddy_dealloc(&a, (void *)a_free, 256, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, (void *)a_free, 16, 1), AK_ERR_NOT_ALLOCATED);
    /* Wrong size class: smaller, larger, by size or by align. */
    CHECK_ERR(ak_buddy_dealloc(&a, p64, 32, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, p64, 16, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, p64, 65, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, p64, 64, 128), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, p256, 100, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, p256, 300, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, p16, 17, 1), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, big, 4096, 4096), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, big, 16384, 4096), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, big, 5000, 2 * MiB), AK_ERR_INVALID_PARAM);
    /* Bad align. */
    CHECK_ERR(ak_buddy_dealloc(&a, p64, 64, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, p64, 64, 24), AK_ERR_INVALID_PARAM);
    /* The same through resize. */
    CHECK_ERR(ak_buddy_resize(&a, pfree, 64, 8, 32), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_resize(&a, c64 + 16, 16, 8, 32), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_resize(&a, p64, 200, 8, 32), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_resize(&a, &local, 4, 4, 8), AK_ERR_NOT_ALLOCATED);
    /* Blocks of both regions, whichever one a lookup tries first. */
    CHECK_ERR(ak_buddy_dealloc(&a, other, 100, 16), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, other, 16, 16), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_dealloc(&a, (char *)other + 16, 16, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, huge1, 100 * KiB, 1), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_resize(&a, huge1, 100 * KiB, 1, 5), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_resize(&a, other, 48, 16, 1024 * KiB), AK_ERR_NO_MEMORY);
    CHECK(snap_same(&a, &s));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    snap_free(&s);

    /* The right frees still work afterwards. */
    CHECK_OK(ak_buddy_dealloc(&a, p64, 64, 8));
    CHECK_ERR(ak_buddy_dealloc(&a, p64, 64, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_buddy_dealloc(&a, p256, 200, 8));
    CHECK_OK(ak_buddy_dealloc(&a, p16, 5, 1));
    CHECK_OK(ak_buddy_dealloc(&a, big, 5000, 4096));
    CHECK_OK(ak_buddy_dealloc(&a, other, 48, 16));
    CHECK_OK(ak_buddy_dealloc(&a, huge1, 300 * KiB, 1));
    CHECK(st.c.region_count == 2);
    stats_get(&a, &st);
    CHECK(st.c.used_bytes == 0 && st.c.used_blocks == 0);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Both regions are back to their initial blocks: the same map as a
     * fresh allocator over the same memory. */
    walk_list now = {0}, fresh = {0};
    walk_take(&a, &now);
    ak_buddy b;
    CHECK_OK(ak_buddy_init(&b, start2, size2));
    CHECK_OK(ak_buddy_add_memory(&b, start, size));
    walk_take(&b, &fresh);
    CHECK(walk_equal(&now, &fresh));
    free(now.v);
    free(fresh.v);
    arena_free(&ar);
}

static void test_resize(void)
{
    arena ar;
    arena_new(&ar, 512 * KiB, 128 * KiB);
    size_t size = 0;
    uintptr_t x = ar.base + 128 * KiB;
    uintptr_t start = region_start_for_area(x, 64 * KiB, &size);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, start, size));
    void *p, *q;
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &p));
    CHECK((uintptr_t)p == x);
    ak_pattern_fill(p, 100, 7);
    /* Same order: only the count changes. */
    CHECK_OK(ak_buddy_resize(&a, p, 100, 8, 128));
    CHECK(ak_buddy_used_bytes(&a) == 128);
    CHECK_OK(ak_buddy_resize(&a, p, 128, 8, 65));
    /* Grow through free upper buddies: 128 -> 4096. */
    CHECK_OK(ak_buddy_resize(&a, p, 65, 8, 4000));
    CHECK(ak_pattern_ok(p, 65, 7));
    buddy_stats st;
    stats_get(&a, &st);
    CHECK(st.c.used_bytes == 4096 && st.c.used_blocks == 1);
    CHECK(st.o.free_blocks[7] == 0 && st.o.free_blocks[12] == 1);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Freed with the new size only. */
    snapshot s = {0};
    snap(&a, &s);
    CHECK_ERR(ak_buddy_dealloc(&a, p, 100, 8), AK_ERR_INVALID_PARAM);
    CHECK(snap_same(&a, &s));
    snap_free(&s);
    /* Shrink splits off upper halves, which can be allocated again. */
    CHECK_OK(ak_buddy_resize(&a, p, 4000, 8, 20));
    stats_get(&a, &st);
    CHECK(st.c.used_bytes == 32 && st.c.used_blocks == 1);
    CHECK(st.o.free_blocks[5] == 1 && st.o.free_blocks[11] == 1);
    CHECK(ak_pattern_ok(p, 20, 7));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    CHECK_OK(ak_buddy_alloc(&a, 32, 1, &q));
    CHECK((uintptr_t)q == x + 32);
    /* Growing now fails: the buddy at 32 is in use. Nothing changes. */
    snap(&a, &s);
    CHECK_ERR(ak_buddy_resize(&a, p, 20, 8, 33), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_buddy_resize(&a, p, 20, 8, 64 * KiB), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_buddy_resize(&a, p, 20, 8, 128 * KiB), AK_ERR_NO_MEMORY);
    /* q is the upper buddy: it can never grow past its own order. */
    CHECK_ERR(ak_buddy_resize(&a, q, 32, 1, 64), AK_ERR_NO_MEMORY);
    CHECK(snap_same(&a, &s));
    snap_free(&s);
    CHECK_OK(ak_buddy_resize(&a, q, 32, 1, 0));
    CHECK_OK(ak_buddy_resize(&a, p, 20, 8, 16)); /* 32 -> 16: p's upper half frees */
    CHECK_OK(ak_buddy_dealloc(&a, q, 0, 1));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Grow to the whole area. */
    CHECK_OK(ak_buddy_resize(&a, p, 16, 8, 64 * KiB));
    stats_get(&a, &st);
    CHECK(st.c.free_bytes == 0 && st.c.used_blocks == 1);
    CHECK(ak_pattern_ok(p, 16, 7));
    CHECK_OK(ak_buddy_dealloc(&a, p, 64 * KiB, 8));
    stats_get(&a, &st);
    CHECK(st.o.free_blocks[16] == 1 && st.c.used_bytes == 0);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    arena_free(&ar);
}

/* Many regions of odd sizes and alignments: every one carved maximally,
 * all used, and all back to their initial blocks after freeing. */
static void test_many_regions(void)
{
    arena ar;
    arena_new(&ar, 32 * MiB, 4096);
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed ^ 0x5eed);
    ak_buddy a = {0};
    /* Lay the regions out in address order, then add them in a shuffled
     * order (the region search tree sees every kind of rebalancing). */
    enum { MAXREG = 400 };
    uintptr_t rs[MAXREG];
    size_t rz[MAXREG], nlaid = 0;
    uintptr_t pos = ar.base;
    while (nlaid < MAXREG) {
        pos += ak_rng_below(&rng, 200);
        size_t len = (size_t)ak_rng_log_uniform(&rng, 100, 128 * KiB);
        if (pos + len > ar.base + ar.size)
            break;
        rs[nlaid] = pos;
        rz[nlaid++] = len;
        pos += len;
    }
    for (size_t i = nlaid - 1; i > 0; i--) {
        size_t j = ak_rng_below(&rng, i + 1);
        uintptr_t t = rs[i];
        size_t tz = rz[i];
        rs[i] = rs[j];
        rz[i] = rz[j];
        rs[j] = t;
        rz[j] = tz;
    }
    size_t nreg = 0, user_bytes = 0;
    for (size_t i = 0; i < nlaid; i++) {
        ak_error e = ak_buddy_add_memory(&a, rs[i], rz[i]);
        if (ak_buddy_region_overhead(rs[i], rz[i]) == SIZE_MAX) {
            CHECK_ERR(e, AK_ERR_INVALID_PARAM);
        } else {
            CHECK_OK(e);
            nreg++;
            user_bytes += rz[i];
        }
        if (i % 37 == 0)
            CHECK_INVARIANTS(ak_buddy_check(&a));
    }
    CHECK(nreg >= 300);
    buddy_stats st;
    stats_get(&a, &st);
    CHECK(st.c.region_count == nreg);
    CHECK(st.c.total_bytes + st.o.bookkeeping_bytes + st.o.trimmed_bytes == user_bytes);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    walk_list initial = {0};
    walk_take(&a, &initial);

    /* Allocate until full with random sizes; record everything. */
    size_t cap = 1 << 20, n = 0;
    void **v = malloc(cap * sizeof *v);
    size_t *sz = malloc(cap * sizeof *sz);
    size_t fails = 0;
    while (n < cap && fails < 200) {
        size_t s = (size_t)ak_rng_log_uniform(&rng, 1, 64 * KiB);
        void *p;
        ak_error e = ak_buddy_alloc(&a, s, 1, &p);
        if (e == AK_ERR_NO_MEMORY) {
            fails++;
            continue;
        }
        CHECK_OK(e);
        v[n] = p;
        sz[n] = s;
        memset(p, (int)(n & 0xff), s);
        n++;
    }
    /* Nothing left but blocks smaller than the requests that failed: the
     * smallest blocks are all handed out at the end. */
    void *p;
    while (ak_buddy_alloc(&a, 0, 1, &p) == AK_OK) {
        v[n] = p;
        sz[n] = 0;
        n++;
    }
    stats_get(&a, &st);
    CHECK(st.c.free_bytes == 0 && st.c.largest_free == 0);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    for (size_t i = 0; i < n; i++)
        if (sz[i]) {
            unsigned char *c = v[i];
            CHECK(c[0] == (unsigned char)(i & 0xff) && c[sz[i] - 1] == (unsigned char)(i & 0xff));
        }
    for (size_t i = n; i-- > 0;) {
        CHECK_OK(ak_buddy_dealloc(&a, v[i], sz[i], 1));
        if (i % 4096 == 0)
            CHECK_INVARIANTS(ak_buddy_check(&a));
    }
    walk_list after = {0};
    walk_take(&a, &after);
    CHECK(walk_equal(&initial, &after));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    free(initial.v);
    free(after.v);
    free(v);
    free(sz);
    arena_free(&ar);
}

/* Regions whose edges take every alignment 0..63 and sizes around powers
 * of two: accounting, maximal carving, fill completely, free, restore. */
static void test_odd_regions(void)
{
    arena ar;
    arena_new(&ar, 4 * MiB, 4096);
    const size_t sizes[] = {97, 128, 255, 1000, 4096, 4097, 65535, 65536, 65600, MiB + 77};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (uintptr_t off = 0; off < 64; off += (si < 5 ? 1 : 7)) {
            ak_buddy a;
            uintptr_t start = ar.base + 4096 + off;
            ak_error e = ak_buddy_init(&a, start, sizes[si]);
            if (ak_buddy_region_overhead(start, sizes[si]) == SIZE_MAX) {
                CHECK_ERR(e, AK_ERR_INVALID_PARAM);
                continue;
            }
            CHECK_OK(e);
            CHECK_INVARIANTS(ak_buddy_check(&a));
            check_fresh_region(&a, start, sizes[si]);
            walk_list initial = {0};
            walk_take(&a, &initial);
            size_t total = ak_buddy_total_bytes(&a), got = 0, n = 0;
            void **v = malloc((total / 16) * sizeof *v);
            size_t *ord = malloc((total / 16) * sizeof *ord);
            /* Largest first, so every block is used exactly. */
            for (size_t bs = (size_t)1 << 30; bs >= 16; bs >>= 1) {
                void *p;
                while (ak_buddy_alloc(&a, bs, 1, &p) == AK_OK) {
                    CHECK(ak_is_aligned((uintptr_t)p, bs));
                    v[n] = p;
                    ord[n++] = bs;
                    got += bs;
                }
            }
            CHECK(got == total);
            CHECK_INVARIANTS(ak_buddy_check(&a));
            for (size_t i = 0; i < n; i++)
                CHECK_OK(ak_buddy_dealloc(&a, v[i], ord[i], 1));
            walk_list after = {0};
            walk_take(&a, &after);
            CHECK(walk_equal(&initial, &after));
            CHECK_INVARIANTS(ak_buddy_check(&a));
            free(initial.v);
            free(after.v);
            free(v);
            free(ord);
        }
    arena_free(&ar);
}

/* The largest block that fits at the start fits again once all is freed,
 * after a random mix (the contract's no-leaked-fragmentation rule). */
static void test_no_leaked_fragmentation(void)
{
    arena ar;
    arena_new(&ar, 8 * MiB, 4096);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, ar.base + 5, 8 * MiB - 11));
    buddy_stats st0, st;
    stats_get(&a, &st0);
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed + 99);
    void *v[2000];
    size_t s[2000], al[2000];
    size_t n = 0;
    for (int i = 0; i < 20000; i++) {
        if (n < 2000 && (n == 0 || ak_rng_below(&rng, 3) != 0)) {
            s[n] = (size_t)ak_rng_log_uniform(&rng, 1, 32 * KiB);
            al[n] = (size_t)1 << ak_rng_below(&rng, 8);
            if (ak_buddy_alloc(&a, s[n], al[n], &v[n]) == AK_OK)
                n++;
        } else {
            /* Free a random one (swap it to the end). */
            size_t j = ak_rng_below(&rng, n);
            CHECK_OK(ak_buddy_dealloc(&a, v[j], s[j], al[j]));
            n--;
            v[j] = v[n];
            s[j] = s[n];
            al[j] = al[n];
        }
    }
    stats_get(&a, &st);
    CHECK(st.c.used_blocks == n);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    while (n > 0) {
        n--;
        CHECK_OK(ak_buddy_dealloc(&a, v[n], s[n], al[n]));
    }
    stats_get(&a, &st);
    CHECK(memcmp(st.o.free_blocks, st0.o.free_blocks, sizeof st.o.free_blocks) == 0);
    void *p;
    CHECK_OK(ak_buddy_alloc(&a, st0.c.largest_free, 1, &p));
    CHECK_OK(ak_buddy_dealloc(&a, p, st0.c.largest_free, 1));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    arena_free(&ar);
}

/* alloc and free take a short path when the block lies in the region
 * used last and needs no split or merge; everything else (another region,
 * a split, a merge, a bad free) goes a slower way. Alternate between two
 * regions so that nearly every call changes region, fill both with
 * 16-byte blocks, make bad frees from the other region, then free in an
 * order that merges on nearly every call: every region must come back to
 * its maximal blocks. */
static void test_region_switching(void)
{
    enum { N = 2 * 8192 / 16 };
    arena ar;
    arena_new(&ar, 64 * KiB, 4096);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, ar.base, 8 * KiB));
    CHECK_OK(ak_buddy_add_memory(&a, ar.base + 32 * KiB, 8 * KiB + 16));
    buddy_stats st0, st;
    stats_get(&a, &st0);
    static void *v[N];
    size_t n = 0;
    while (n < N && ak_buddy_alloc(&a, 16, 1, &v[n]) == AK_OK)
        n++;
    CHECK(n > 256 && n < N); /* both regions' 16-byte blocks, and then no memory */
    CHECK(a.nonempty == 0);
    bool lo_seen = false, hi_seen = false;
    for (size_t i = 0; i < n; i++) {
        uintptr_t p = (uintptr_t)v[i];
        lo_seen |= p < ar.base + 32 * KiB;
        hi_seen |= p >= ar.base + 32 * KiB;
    }
    CHECK(lo_seen && hi_seen);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Pair blocks of the two regions so that frees alternate. */
    size_t nlo = 0, nhi = 0;
    static void *lo[N], *hi[N];
    for (size_t i = 0; i < n; i++) {
        if ((uintptr_t)v[i] < ar.base + 32 * KiB)
            lo[nlo++] = v[i];
        else
            hi[nhi++] = v[i];
    }
    /* Bad frees, each into the region other than the last used. */
    CHECK_OK(ak_buddy_dealloc(&a, lo[0], 16, 1));
    CHECK_ERR(ak_buddy_dealloc(&a, hi[0], 17, 1), AK_ERR_INVALID_PARAM); /* wrong class */
    CHECK_OK(ak_buddy_dealloc(&a, hi[0], 16, 1));
    CHECK_ERR(ak_buddy_dealloc(&a, lo[0], 16, 1), AK_ERR_NOT_ALLOCATED); /* twice */
    CHECK_ERR(ak_buddy_dealloc(&a, (char *)hi[1] + 8, 8, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, lo[0], 16, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_dealloc(&a, hi[0], 16, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Take them back, alternating regions: no split needed, region changes. */
    CHECK_OK(ak_buddy_alloc(&a, 16, 16, &lo[0]));
    CHECK_OK(ak_buddy_alloc(&a, 16, 16, &hi[0]));
    CHECK(((uintptr_t)lo[0] < ar.base + 32 * KiB) != ((uintptr_t)hi[0] < ar.base + 32 * KiB));
    if ((uintptr_t)lo[0] >= ar.base + 32 * KiB) {
        void *t = lo[0];
        lo[0] = hi[0];
        hi[0] = t;
    }
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Free in address order from each region in turn: every second free
     * merges, up to the region's top blocks. */
    for (size_t i = 0; i < nlo || i < nhi; i++) {
        if (i < nlo)
            CHECK_OK(ak_buddy_dealloc(&a, lo[i], 16, 1));
        if (i < nhi)
            CHECK_OK(ak_buddy_dealloc(&a, hi[i], 16, 1));
        if (i % 64 == 0)
            CHECK_INVARIANTS(ak_buddy_check(&a));
    }
    stats_get(&a, &st);
    CHECK(st.c.used_blocks == 0 && st.c.used_bytes == 0);
    CHECK(memcmp(st.o.free_blocks, st0.o.free_blocks, sizeof st.o.free_blocks) == 0);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    arena_free(&ar);
}

/* The checker must notice corruption (a checker that cannot fail is no
 * checker). Each case breaks one thing on a copy of the state and restores
 * it afterwards. */
static void test_check_detects(void)
{
    arena ar;
    arena_new(&ar, 512 * KiB, 128 * KiB);
    size_t size = 0;
    uintptr_t start = region_start_for_area(ar.base + 128 * KiB, 64 * KiB, &size);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, start, size)); /* one block of 64 KiB */
    void *p, *q, *z;
    /* p and q are buddies; z splits a 256 and leaves a free 128; freeing
     * p gives a second free 128: a list of two. */
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &p));
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &q));
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &z));
    CHECK_OK(ak_buddy_dealloc(&a, p, 100, 8));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    buddy_stats st;
    stats_get(&a, &st);
    CHECK(st.o.free_blocks[7] >= 2);
    ak_buddy saved = a;

    a.nonempty ^= (size_t)1 << 3;
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    a.total_bytes += 16;
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    a.live_blocks++;
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    a.used_bytes += 1; /* used_bytes must be the blocks' sizes exactly */
    a.peak_used_bytes = a.used_bytes;
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    a.used_bytes -= 16;
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    a.peak_used_bytes = a.used_bytes - 1;
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    a.regions.count = 2;
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    a.regions.root = NULL; /* the region drops out of the search tree */
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    a.regions.last_span += 16; /* the hint's copy of the block area */
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    /* Drop a free block from its list (a leak). */
    /* (A free block begins with its next and prev links.) */
    const unsigned k = 7;
    struct ak_buddy_block *h = a.free_head[k];
    a.free_head[k] = *(struct ak_buddy_block **)h; /* h->next */
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    /* Break a back link. */
    struct ak_buddy_block **links = (struct ak_buddy_block **)saved.free_head[k];
    struct ak_buddy_block **next_links = (struct ak_buddy_block **)links[0];
    struct ak_buddy_block *old = next_links[1];
    next_links[1] = NULL;
    CHECK(ak_buddy_check(&a) != NULL);
    next_links[1] = old;
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Free q behind the allocator's back: its bit says allocated but the
     * counters say otherwise. */
    a.live_blocks--;
    a.used_bytes -= 128;
    CHECK(ak_buddy_check(&a) != NULL);
    a = saved;
    CHECK_INVARIANTS(ak_buddy_check(&a));
    CHECK_OK(ak_buddy_dealloc(&a, z, 100, 8));
    CHECK_OK(ak_buddy_dealloc(&a, q, 100, 8));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    check_fresh_region(&a, start, size);
    arena_free(&ar);
}

/* Every single flipped bit of a region's map is noticed: a stray A or S
 * bit, a lost one, a leaf turned into a split node or back. */
static void test_check_detects_bit_flips(void)
{
    arena ar;
    arena_new(&ar, 64 * KiB, 4096);
    ak_buddy a;
    const uintptr_t start = ar.base + 8; /* the record goes at start */
    CHECK_OK(ak_buddy_init(&a, start, 16 * KiB));
    void *p[6];
    const size_t sizes[6] = {16, 100, 700, 33, 2000, 0};
    for (int i = 0; i < 6; i++)
        CHECK_OK(ak_buddy_alloc(&a, sizes[i], 1, &p[i]));
    CHECK_OK(ak_buddy_dealloc(&a, p[1], 100, 1)); /* leave a hole */
    CHECK_INVARIANTS(ak_buddy_check(&a));
    buddy_stats st;
    stats_get(&a, &st);
    /* The order table and the map follow the record; the head may end in
     * up to 15 bytes of padding, so stay 15 bytes short of its end. */
    size_t *map = (size_t *)(start + AK_BUDDY_REGION_RECORD_BYTES);
    size_t words = (st.o.bookkeeping_bytes - AK_BUDDY_REGION_RECORD_BYTES - 15) / sizeof(size_t);
    CHECK(words >= 4);
    size_t flips = 0;
    for (size_t w = 0; w < words; w++)
        for (unsigned b = 0; b < sizeof(size_t) * 8; b++) {
            map[w] ^= (size_t)1 << b;
            const char *why = ak_buddy_check(&a);
            map[w] ^= (size_t)1 << b;
            CHECKF(why != NULL, "flip of word %zu bit %u unnoticed", w, b);
            flips++;
        }
    CHECK_INVARIANTS(ak_buddy_check(&a));
    CHECK(flips == words * sizeof(size_t) * 8);
    for (int i = 0; i < 6; i++)
        if (i != 1)
            CHECK_OK(ak_buddy_dealloc(&a, p[i], sizes[i], 1));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    arena_free(&ar);
}

/* A free may name any size of the block's order: used_bytes counts the
 * whole block, so which size is given changes nothing. Regression: a free
 * of x (65 bytes) with 128 once subtracted 128 from a count of requested
 * sizes (165), and the right free of y (100) was then refused because 100
 * exceeded what was left, so y could never be freed. */
static void test_free_any_size_of_the_order(void)
{
    arena ar;
    arena_new(&ar, 256 * KiB, 4096);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, ar.base, 256 * KiB));
    void *x, *y;
    CHECK_OK(ak_buddy_alloc(&a, 65, 8, &x));
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &y));
    CHECK_OK(ak_buddy_dealloc(&a, x, 128, 8));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    CHECK_OK(ak_buddy_dealloc(&a, y, 100, 8));
    CHECK(ak_buddy_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* The same, counting: each block at its 128 bytes. */
    CHECK_OK(ak_buddy_alloc(&a, 65, 8, &x));
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &y));
    CHECK(ak_buddy_used_bytes(&a) == 256);
    CHECK_OK(ak_buddy_dealloc(&a, x, 128, 8));
    CHECK(ak_buddy_used_bytes(&a) == 128);
    CHECK_OK(ak_buddy_dealloc(&a, y, 100, 8));
    CHECK(ak_buddy_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_buddy_check(&a));

    /* Every order up to 4 KiB: allocated with one size of the order,
     * resized and freed with others; sizes of other orders refused with
     * nothing changed. */
    for (unsigned k = AK_BUDDY_MIN_SHIFT; k <= 12; k++) {
        const size_t bs = (size_t)1 << k;
        const size_t low = k == AK_BUDDY_MIN_SHIFT ? 0 : bs / 2 + 1;
        const size_t sizes[3] = {low, (low + bs) / 2, bs};
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                void *p;
                CHECK_OK(ak_buddy_alloc(&a, sizes[i], 1, &p));
                CHECK(ak_buddy_used_bytes(&a) == bs);
                CHECK(ak_buddy_usable_size(&a, p, sizes[j], 1) == bs);
                CHECK_OK(ak_buddy_resize(&a, p, sizes[j], 1, sizes[i]));
                CHECK(ak_buddy_used_bytes(&a) == bs);
                snapshot s = {0};
                snap(&a, &s);
                if (low > 0)
                    CHECK_ERR(ak_buddy_dealloc(&a, p, low - 1, 1), AK_ERR_INVALID_PARAM);
                CHECK_ERR(ak_buddy_dealloc(&a, p, bs + 1, 1), AK_ERR_INVALID_PARAM);
                CHECK_ERR(ak_buddy_dealloc(&a, p, sizes[j], 2 * bs), AK_ERR_INVALID_PARAM);
                CHECK(snap_same(&a, &s));
                snap_free(&s);
                /* A small size with the block's own alignment is of the
                 * order too. */
                CHECK_OK(ak_buddy_dealloc(&a, p, j == 0 ? 1 : sizes[j], j == 0 ? bs : 1));
                CHECK(ak_buddy_used_bytes(&a) == 0);
                CHECK_INVARIANTS(ak_buddy_check(&a));
            }
    }
    arena_free(&ar);
}

/* Regions too small for one 16-byte granule after the record's alignment
 * are refused, with no undefined behaviour on the way (regression: the
 * bitmap size was computed from 0 granules, a count-leading-zeros of 0,
 * which UBSan reports). Every start offset and every small size. */
static void test_tiny_regions(void)
{
    arena ar;
    arena_new(&ar, 64 * KiB, 4096);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, ar.base + 32 * KiB, 16 * KiB));
    void *p;
    CHECK_OK(ak_buddy_alloc(&a, 40, 8, &p));
    snapshot s = {0};
    snap(&a, &s);
    /* The case that hit it: the record goes 7 bytes in, 8 bytes before
     * the region's 16-aligned end. */
    CHECK(ak_buddy_region_overhead(ar.base + 1, 16) == SIZE_MAX);
    CHECK_ERR(ak_buddy_add_memory(&a, ar.base + 1, 16), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_init(&a, ar.base + 1, 16), AK_ERR_INVALID_PARAM);
    size_t smallest = SIZE_MAX;
    for (uintptr_t off = 0; off < 32; off++)
        for (size_t size = 1; size <= AK_BUDDY_REGION_RECORD_BYTES + 96; size++) {
            const uintptr_t start = ar.base + 4 * KiB + off;
            const ak_buddy before = a;
            const size_t ov = ak_buddy_region_overhead(start, size);
            if (ov != SIZE_MAX) {
                CHECK(ov < size);
                if (size < smallest)
                    smallest = size;
                continue;
            }
            CHECK_ERR(ak_buddy_add_memory(&a, start, size), AK_ERR_INVALID_PARAM);
            CHECK_ERR(ak_buddy_init(&a, start, size), AK_ERR_INVALID_PARAM);
            CHECK(memcmp(&before, &a, sizeof a) == 0);
        }
    /* Some region in the range does work: it holds one 16-byte block. */
    CHECK(smallest <= AK_BUDDY_REGION_RECORD_BYTES + 96);
    CHECK(snap_same(&a, &s));
    snap_free(&s);
    CHECK_OK(ak_buddy_dealloc(&a, p, 40, 8));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    arena_free(&ar);
}

/* The cache hooks: ak_buddy_cache checks as dealloc does, marks the
 * block in its first two words and refuses it while marked; nothing else
 * changes. */
static void test_cache_hooks(void)
{
    arena ar;
    arena_new(&ar, 512 * KiB, 4096);
    ak_buddy a;
    ak_byte_allocator h = ak_buddy_as_byte(&a);
    CHECK(ak_byte_can_cache(h));
    CHECK_OK(ak_buddy_init(&a, ar.base, 128 * KiB));
    void *p, *q, *r, *freed;
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &p));
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &q));
    CHECK_OK(ak_buddy_alloc(&a, 48, 16, &freed));
    CHECK_OK(ak_buddy_dealloc(&a, freed, 48, 16));
    /* r in a second region, the one used last; p and q are in the first. */
    CHECK_OK(ak_buddy_add_memory(&a, ar.base + 256 * KiB, 256 * KiB));
    CHECK_OK(ak_buddy_alloc(&a, 128 * KiB, 1, &r));
    CHECK((uintptr_t)r >= ar.base + 256 * KiB && (uintptr_t)p < ar.base + 128 * KiB);
    memset(q, 0x5a, 128);
    memset(r, 0x3c, 64);
    memset(p, 0x77, 128);
    const size_t used = ak_buddy_used_bytes(&a);
    CHECK(used == 128 + 128 + 128 * KiB);

    /* Cached: the allocator object, its counters and the map unchanged,
     * the block still allocated and counted. */
    snapshot s = {0};
    snap(&a, &s);
    CHECK_OK(ak_byte_cache(h, p, 100, 8));
    CHECK(snap_same(&a, &s));
    CHECK(ak_buddy_used_bytes(&a) == used);
    CHECK(ak_buddy_usable_size(&a, p, 100, 8) == 128);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* Only the first two words of the block carry the mark. */
    uintptr_t *w = p;
    CHECK(w[1] == ~w[0]);
    for (size_t i = 2 * sizeof(uintptr_t); i < 128; i++)
        CHECK(((unsigned char *)p)[i] == 0x77);
    /* Refused while cached, whatever size of the order is named. */
    CHECK_ERR(ak_byte_cache(h, p, 100, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_byte_cache(h, p, 128, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_cache(&a, p, 65, 64), AK_ERR_NOT_ALLOCATED);
    /* Bad input as for dealloc, and the block's words untouched. */
    CHECK_ERR(ak_buddy_cache(&a, q, 200, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_cache(&a, q, 64, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_cache(&a, q, 100, 256), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_cache(&a, q, 100, 3), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_cache(&a, q, SIZE_MAX, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_buddy_cache(&a, (char *)q + 16, 16, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_cache(&a, (char *)q + 1, 16, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_cache(&a, freed, 48, 16), AK_ERR_NOT_ALLOCATED);
    int local;
    CHECK_ERR(ak_buddy_cache(&a, &local, 4, 4), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_buddy_cache(&a, (void *)ar.base, 16, 1), AK_ERR_NOT_ALLOCATED); /* a head */
    for (size_t i = 0; i < 128; i++)
        CHECK(((unsigned char *)q)[i] == 0x5a);
    CHECK(snap_same(&a, &s));
    /* p was in the region not used last: found without moving the hint
     * (snap_same compares the whole object). Now one in that region. */
    CHECK_OK(ak_buddy_cache(&a, r, 128 * KiB, 1));
    CHECK(snap_same(&a, &s));
    CHECK_ERR(ak_buddy_cache(&a, r, 128 * KiB, 1), AK_ERR_NOT_ALLOCATED);
    for (size_t i = 2 * sizeof(uintptr_t); i < 64; i++)
        CHECK(((unsigned char *)r)[i] == 0x3c);
    /* Two blocks' marks differ (they depend on the address). */
    CHECK(((uintptr_t *)r)[0] != w[0]);

    /* Uncached: live again; it can be cached again, then freed. */
    ak_byte_uncache(h, p, 100, 8);
    CHECK(w[0] == 0 && w[1] == 0);
    CHECK(snap_same(&a, &s));
    CHECK_OK(ak_buddy_cache(&a, p, 128, 1));
    ak_buddy_uncache(&a, p, 128, 1);
    CHECK_OK(ak_buddy_dealloc(&a, p, 100, 8));
    CHECK_ERR(ak_buddy_cache(&a, p, 100, 8), AK_ERR_NOT_ALLOCATED); /* freed */
    ak_buddy_uncache(&a, r, 128 * KiB, 1);
    CHECK_OK(ak_buddy_dealloc(&a, r, 128 * KiB, 1));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    snap_free(&s);

    /* A live block whose first words hold the mark a block at the same
     * address had in an earlier life of the allocator is not taken for
     * cached: init changes the salt. */
    CHECK_OK(ak_buddy_init(&a, ar.base, 128 * KiB));
    void *b1, *b2;
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &b1));
    CHECK_OK(ak_buddy_cache(&a, b1, 100, 8));
    uintptr_t old_mark[2];
    memcpy(old_mark, b1, sizeof old_mark);
    CHECK_OK(ak_buddy_init(&a, ar.base, 128 * KiB));
    CHECK_ERR(ak_buddy_cache(&a, b1, 100, 8), AK_ERR_NOT_ALLOCATED); /* from before init */
    CHECK_OK(ak_buddy_alloc(&a, 100, 8, &b2));
    CHECK(b2 == b1);
    memcpy(b2, old_mark, sizeof old_mark);
    CHECK_OK(ak_buddy_cache(&a, b2, 100, 8));
    ak_buddy_uncache(&a, b2, 100, 8);
    CHECK_OK(ak_buddy_dealloc(&a, b2, 100, 8));
    CHECK_INVARIANTS(ak_buddy_check(&a));
    arena_free(&ar);
}

#ifdef AK_TEST_THREADS
/* The cache hooks need no lock: a thread caches and uncaches its own live
 * blocks, in both regions, while this one (the only caller of the other
 * calls, so as if under the lock) frees and allocates blocks of both
 * regions in turn, moving the region hint on every free. Each cache must
 * find its block live and unmarked, each second cache must be refused. */
typedef struct cacher {
    ak_buddy *a;
    void **blocks;
    size_t n;
    uint64_t rounds; /* done while the other thread ran */
    uint64_t wrong;  /* results other than the right ones */
    atomic_int started, stop;
} cacher;

static void *cacher_run(void *arg)
{
    cacher *c = arg;
    atomic_store(&c->started, 1);
    for (uint64_t r = 0; !atomic_load(&c->stop); r++) {
        void *p = c->blocks[r % c->n];
        if (ak_buddy_cache(c->a, p, 64, 8) != AK_OK)
            c->wrong++;
        if (ak_buddy_cache(c->a, p, 50, 64) != AK_ERR_NOT_ALLOCATED)
            c->wrong++;
        ak_buddy_uncache(c->a, p, 64, 8);
        c->rounds++;
    }
    return NULL;
}

static void test_cache_without_lock(void)
{
    arena ar;
    arena_new(&ar, 512 * KiB, 4096);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, ar.base, 128 * KiB));
    CHECK_OK(ak_buddy_add_memory(&a, ar.base + 256 * KiB, 128 * KiB));
    /* 64-byte blocks: the cacher's, and pairs for this thread's churn. */
    enum { NC = 64, NP = 256, SPARE = 4096 };
    void *mine[NC], *lo[NP], *hi[NP];
    static void *spare[SPARE];
    size_t nlo = 0, nhi = 0, nc = 0, nspare = 0, nc_hi = 0;
    while (nlo < NP || nhi < NP || nc < NC) {
        void *p;
        CHECK_OK(ak_buddy_alloc(&a, 64, 8, &p));
        bool in_hi = (uintptr_t)p >= ar.base + 256 * KiB;
        if (in_hi ? nc_hi < NC / 2 : nc - nc_hi < NC / 2) {
            mine[nc++] = p; /* half in each region */
            nc_hi += in_hi;
        } else if (!in_hi && nlo < NP)
            lo[nlo++] = p;
        else if (in_hi && nhi < NP)
            hi[nhi++] = p;
        else if (nspare < SPARE)
            spare[nspare++] = p; /* until the other region's blocks come */
        else
            CHECK(0);
    }
    while (nspare > 0) {
        nspare--;
        CHECK_OK(ak_buddy_dealloc(&a, spare[nspare], 64, 8));
    }
    cacher c = {.a = &a, .blocks = mine, .n = NC};
    atomic_init(&c.started, 0);
    atomic_init(&c.stop, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, cacher_run, &c) == 0);
    while (!atomic_load(&c.started))
        ;
    const uint64_t turns_wanted = ak_test_ops(200000, 20000);
    uint64_t turns = 0;
    unsigned failed = 0; /* no CHECK while the thread runs: it would leave it running */
    while (turns < turns_wanted && !failed) {
        size_t i = turns % NP;
        /* A free in one region, the block back, the same in the other. */
        failed += ak_buddy_dealloc(&a, lo[i], 64, 8) != AK_OK;
        failed += ak_buddy_alloc(&a, 64, 8, &lo[i]) != AK_OK;
        failed += ak_buddy_dealloc(&a, hi[i], 50, 64) != AK_OK;
        failed += ak_buddy_alloc(&a, 64, 8, &hi[i]) != AK_OK;
        turns++;
    }
    atomic_store(&c.stop, 1);
    CHECK(pthread_join(th, NULL) == 0);
    CHECKF(failed == 0, "a free or alloc failed at turn %llu", (unsigned long long)turns);
    CHECKF(c.wrong == 0, "%llu wrong cache results", (unsigned long long)c.wrong);
    printf("(%llu cache rounds beside %llu free+alloc pairs) ", (unsigned long long)c.rounds,
           (unsigned long long)turns * 2);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    CHECK(ak_buddy_used_bytes(&a) == (NC + 2 * NP) * 64);
    for (size_t i = 0; i < NC; i++)
        CHECK_OK(ak_buddy_dealloc(&a, mine[i], 64, 8));
    for (size_t i = 0; i < NP; i++) {
        CHECK_OK(ak_buddy_dealloc(&a, lo[i], 64, 8));
        CHECK_OK(ak_buddy_dealloc(&a, hi[i], 64, 8));
    }
    CHECK(ak_buddy_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    arena_free(&ar);
}
#endif

/* init on a live allocator forgets its blocks: pointers from before are
 * refused by every call that takes one. */
static void test_reinit_refuses_old_pointers(void)
{
    arena ar;
    arena_new(&ar, 256 * KiB, 4096);
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, ar.base, 128 * KiB));
    void *v[8];
    for (int i = 0; i < 8; i++)
        CHECK_OK(ak_buddy_alloc(&a, 16u << i, 1, &v[i]));
    CHECK_OK(ak_buddy_init(&a, ar.base, 128 * KiB));
    snapshot s = {0};
    snap(&a, &s);
    for (int i = 0; i < 8; i++) {
        CHECK_ERR(ak_buddy_dealloc(&a, v[i], 16u << i, 1), AK_ERR_NOT_ALLOCATED);
        CHECK_ERR(ak_buddy_resize(&a, v[i], 16u << i, 1, 8), AK_ERR_NOT_ALLOCATED);
        CHECK(ak_buddy_usable_size(&a, v[i], 16u << i, 1) == 0);
        CHECK_ERR(ak_buddy_cache(&a, v[i], 16u << i, 1), AK_ERR_NOT_ALLOCATED);
    }
    CHECK(snap_same(&a, &s));
    /* Over other memory: the old pointers lie outside every region. */
    CHECK_OK(ak_buddy_init(&a, ar.base + 128 * KiB, 128 * KiB));
    snap_free(&s);
    snap(&a, &s);
    for (int i = 0; i < 8; i++)
        CHECK_ERR(ak_buddy_dealloc(&a, v[i], 16u << i, 1), AK_ERR_NOT_ALLOCATED);
    CHECK(snap_same(&a, &s));
    CHECK(ak_buddy_used_bytes(&a) == 0);
    snap_free(&s);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    arena_free(&ar);
}

/* Through the generic interface. */
/* The walker and the common statistics: every block once, the live ones
 * at their pointers with their usable sizes, the stats equal to what the
 * walk shows, through the handle as directly; failed_allocs counts the
 * refusals for lack of memory and starts over at init. */
static void test_walk_and_stats(void)
{
    arena ar;
    arena_new(&ar, 3 * MiB, 4096);
    /* Two regions, the second at an odd start, walked newest first. */
    wc_block regions[2] = {{ar.base, MiB, false}, {ar.base + MiB + 40, 2 * MiB - 40, false}};
    ak_buddy a;
    CHECK_OK(ak_buddy_init(&a, regions[0].start, regions[0].size));
    CHECK_OK(ak_buddy_add_memory(&a, regions[1].start, regions[1].size));
    ak_byte_allocator h = ak_buddy_as_byte(&a);
    enum { N = 2000 };
    static wc_block live[N], sorted[N];
    static size_t req[N], al[N];
    size_t n = 0, refused = 0;
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    wc_walk w = {0}, wh = {0};
    uint64_t ops = ak_test_ops(20000, 4000);
    for (uint64_t i = 0; i < ops; i++) {
        if (n && (n == N || ak_rng_below(&r, 100) < 45)) {
            size_t k = ak_rng_below(&r, n);
            CHECK_OK(ak_buddy_dealloc(&a, (void *)live[k].start, req[k], al[k]));
            live[k] = live[--n];
            req[k] = req[n];
            al[k] = al[n];
        } else {
            size_t size =
                ak_rng_below(&r, 4) == 0 ? ak_rng_below(&r, 256 * KiB) : ak_rng_below(&r, 2 * KiB);
            size_t align = (size_t)1 << ak_rng_below(&r, 10);
            void *p;
            ak_error e = ak_buddy_alloc(&a, size, align, &p);
            if (e == AK_ERR_NO_MEMORY) {
                refused++;
            } else {
                CHECK_OK(e);
                live[n].start = (uintptr_t)p;
                live[n].size = ak_buddy_usable_size(&a, p, size, align);
                req[n] = size;
                al[n] = align;
                n++;
            }
        }
        if (i % 97 != 0 && i + 1 != ops)
            continue;
        struct ak_byte_stats st, sh;
        ak_buddy_stats(&a, &st);
        ak_byte_stats(h, &sh);
        CHECK(memcmp(&st, &sh, sizeof st) == 0);
        CHECK(st.total_bytes == ak_buddy_total_bytes(&a) &&
              st.used_bytes == ak_buddy_used_bytes(&a));
        CHECK(st.region_count == 2 && st.failed_allocs == refused);
        CHECK(st.free_bytes == st.total_bytes - st.used_bytes);
        wc_reset(&w);
        ak_buddy_walk(&a, wc_collect, &w);
        if (n)
            memcpy(sorted, live, n * sizeof *live);
        const char *why = wc_check(&w, &st, sorted, n, WC_EXACT);
        CHECKF(why == NULL, "%s", why);
        why = wc_check_regions(&w, regions, 2);
        CHECKF(why == NULL, "%s", why);
        /* The blocks tile each block area: free + used == total. */
        size_t sum = 0;
        for (size_t k = 0; k < w.n; k++)
            sum += w.v[k].size;
        CHECK(sum == st.total_bytes);
        /* The newer region comes first. */
        CHECK(w.n && w.v[0].start >= regions[1].start);
        wc_reset(&wh);
        CHECK_OK(ak_byte_walk(h, wc_collect, &wh));
        CHECK(wc_equal(&wh, &w));
        /* largest_free can be had. */
        if (st.largest_free) {
            void *p;
            CHECK_OK(ak_buddy_alloc(&a, st.largest_free, 1, &p));
            CHECK_OK(ak_buddy_dealloc(&a, p, st.largest_free, 1));
        }
    }
    CHECK(refused > 0);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    /* init starts the counts over; a fresh region is all free blocks. */
    CHECK_OK(ak_buddy_init(&a, regions[0].start, regions[0].size));
    struct ak_byte_stats st;
    ak_buddy_stats(&a, &st);
    CHECK(st.failed_allocs == 0 && st.used_blocks == 0 && st.region_count == 1);
    wc_reset(&w);
    ak_buddy_walk(&a, wc_collect, &w);
    const char *why = wc_check(&w, &st, live, 0, WC_EXACT);
    CHECKF(why == NULL, "%s", why);
    CHECK(w.n == st.free_blocks && w.n > 0);
    wc_free(&w);
    wc_free(&wh);
    arena_free(&ar);
}

static void test_interface(void)
{
    arena ar;
    arena_new(&ar, 2 * MiB, 4096);
    ak_buddy a;
    ak_byte_allocator h = ak_buddy_as_byte(&a);
    CHECK(strcmp(ak_byte_name(h), "buddy") == 0);
    CHECK(h.ops->resize && h.ops->usable_size && h.ops->check && h.ops->walk && h.ops->stats);
    CHECK(h.self == &a);
    CHECK_OK(ak_byte_init(h, ar.base, MiB));
    CHECK_OK(ak_byte_add_memory(h, ar.base + MiB + 1, MiB - 1));
    CHECK_ERR(ak_byte_add_memory(h, ar.base + 10, 100), AK_ERR_MEMORY_OVERLAP);
    void *p;
    CHECK_OK(ak_byte_alloc(h, 300, 64, &p));
    CHECK(ak_is_aligned((uintptr_t)p, 64));
    CHECK(ak_byte_usable_size(h, p, 300, 64) == 512);
    CHECK(ak_byte_used_bytes(h) == 512);
    CHECK(ak_byte_total_bytes(h) == ak_buddy_total_bytes(&a));
    CHECK(ak_byte_available_bytes(h) == ak_byte_total_bytes(h) - 512);
    CHECK_OK(ak_byte_resize(h, p, 300, 64, 500));
    CHECK(ak_byte_check(h) == NULL);
    CHECK(ak_byte_used_bytes(h) == 512);
    CHECK_OK(ak_byte_resize(h, p, 500, 64, 100)); /* shrink always works */
    CHECK(ak_byte_usable_size(h, p, 100, 64) == 128);
    CHECK(ak_byte_used_bytes(h) == 128);
    CHECK_ERR(ak_byte_dealloc(h, p, 500, 64), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_byte_dealloc(h, p, 100, 64));
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK_ERR(ak_byte_dealloc(h, p, 100, 64), AK_ERR_NOT_ALLOCATED);
    CHECK(ak_byte_check(h) == NULL);
    arena_free(&ar);
}

#endif /* !AK_BUDDY_TEST_MODEL */

/* ---- randomised model test ---- */

#ifdef AK_BUDDY_TEST_MODEL

typedef struct live {
    unsigned char *p;
    size_t size, align;
    uint64_t tag;
} live;

/* The block alloc gives for (size, align): max(size, align, 16) rounded
 * up to a power of two (sizes here stay far below the top order). */
static size_t block_size(size_t size, size_t align)
{
    size_t need = size > align ? size : align, bs = AK_BUDDY_MIN_BLOCK;
    while (bs < need)
        bs <<= 1;
    return bs;
}

/* Sparse content: the first and last 64 bytes and a few words between. */
static void fill_sparse(unsigned char *p, size_t n, uint64_t tag)
{
    if (n <= 192) {
        ak_pattern_fill(p, n, tag);
        return;
    }
    ak_pattern_fill(p, 64, tag);
    ak_pattern_fill(p + n - 64, 64, tag + 1);
    ak_pattern_fill(p + n / 3, 8, tag + 2);
    ak_pattern_fill(p + n / 2, 8, tag + 3);
}

static int check_sparse(const unsigned char *p, size_t n, uint64_t tag)
{
    if (n <= 192)
        return ak_pattern_ok(p, n, tag);
    return ak_pattern_ok(p, 64, tag) && ak_pattern_ok(p + n - 64, 64, tag + 1) &&
           ak_pattern_ok(p + n / 3, 8, tag + 2) && ak_pattern_ok(p + n / 2, 8, tag + 3);
}

static int cmp_ptr(const void *x, const void *y)
{
    const live *a = x, *b = y;
    return a->p < b->p ? -1 : a->p > b->p;
}

/* Every live block inside a region's block area, and no two overlapping. */
static void check_disjoint(live *v, size_t n, const uintptr_t (*areas)[2], size_t nareas)
{
    live *s = malloc(n * sizeof *s + 1);
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_ptr);
    for (size_t i = 0; i < n; i++) {
        size_t bs = block_size(s[i].size, s[i].align);
        int inside = 0;
        for (size_t r = 0; r < nareas; r++)
            if ((uintptr_t)s[i].p >= areas[r][0] && (uintptr_t)s[i].p + bs <= areas[r][1])
                inside = 1;
        CHECKF(inside, "block %p+%zu outside every block area", (void *)s[i].p, bs);
        if (i + 1 < n)
            CHECKF(s[i].p + bs <= s[i + 1].p, "blocks %p+%zu and %p overlap", (void *)s[i].p, bs,
                   (void *)s[i + 1].p);
    }
    free(s);
}

static void test_model(void)
{
    const uint64_t ops = ak_test_ops(1000000, 20000);
    const size_t nreg = 5;
    arena ar;
    arena_new(&ar, 96 * MiB, 4096);
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed);
    ak_buddy a;
    memset(&a, 0xee, sizeof a); /* init must not depend on prior contents */
    uintptr_t areas[5][2];
    uintptr_t pos = ar.base;
    for (size_t r = 0; r < nreg; r++) {
        pos += ak_rng_below(&rng, 4096);
        size_t sz = 8 * MiB + (size_t)ak_rng_below(&rng, 10 * MiB);
        if (r == 0)
            CHECK_OK(ak_buddy_init(&a, pos, sz));
        else
            CHECK_OK(ak_buddy_add_memory(&a, pos, sz));
        pos += sz;
        CHECK(pos <= ar.base + ar.size);
    }
    /* Block areas from the walker (first and last block per region). */
    {
        walk_list w = {0};
        walk_take(&a, &w);
        size_t r = 0;
        areas[0][0] = w.v[0].p;
        for (size_t i = 0; i < w.n; i++) {
            uintptr_t end = w.v[i].p + w.v[i].size;
            if (i + 1 == w.n || w.v[i + 1].p != end) {
                CHECK(r < nreg);
                areas[r][1] = end;
                if (i + 1 < w.n)
                    areas[++r][0] = w.v[i + 1].p;
            }
        }
        CHECK(r + 1 == nreg);
        free(w.v);
    }
    buddy_stats st0;
    stats_get(&a, &st0);
    CHECK_INVARIANTS(ak_buddy_check(&a));

    const size_t cap = 4096;
    live *v = malloc(cap * sizeof *v);
    /* Blocks taken out of use with ak_buddy_cache, as a cache layer
     * would: still allocated, counted in used_bytes. */
    enum { HOLD = 64 };
    live held[HOLD];
    size_t n = 0, nheld = 0, used = 0; /* used: the live and held blocks' sizes */
    uint64_t tag = 1, nalloc = 0, nfree = 0, nresize = 0, nresize_ok = 0, noom = 0, nbad = 0;
    uint64_t nwatched = 0, ncached = 0, nother_size = 0;
    const uint64_t check_every = ak_t.quick ? 500 : 20000;
    for (uint64_t op = 0; op < ops; op++) {
        uint64_t dice = ak_rng_below(&rng, 100);
        if (nheld > 0 && dice < 4) {
            /* A held block comes back: live again, or freed. */
            size_t i = ak_rng_below(&rng, nheld);
            live b = held[i];
            held[i] = held[--nheld];
            ak_buddy_uncache(&a, b.p, b.size, b.align);
            if (n < cap && ak_rng_below(&rng, 2) == 0) {
                b.tag = tag++;
                fill_sparse(b.p, b.size, b.tag);
                v[n++] = b;
            } else {
                size_t bs = block_size(b.size, b.align);
                CHECK_OK(ak_buddy_dealloc(&a, b.p, b.size, b.align));
                used -= bs;
                nfree++;
            }
        } else if (n > 0 && (dice < 10)) {
            /* resize in place */
            size_t i = ak_rng_below(&rng, n);
            size_t ns = ak_rng_below(&rng, 8) == 0 ? 0 : (size_t)ak_rng_log_uniform(&rng, 1, MiB);
            CHECK(check_sparse(v[i].p, v[i].size, v[i].tag));
            size_t old_bs = ak_buddy_usable_size(&a, v[i].p, v[i].size, v[i].align);
            ak_error e = ak_buddy_resize(&a, v[i].p, v[i].size, v[i].align, ns);
            nresize++;
            if (e == AK_OK) {
                nresize_ok++;
                size_t new_bs = ak_buddy_usable_size(&a, v[i].p, ns, v[i].align);
                size_t keep = v[i].size < ns ? v[i].size : ns;
                /* The kept prefix survives; re-fill for the new size. */
                CHECK(ak_pattern_ok(v[i].p, keep < 64 ? keep : 64, v[i].tag));
                CHECK(new_bs == block_size(ns, v[i].align));
                used = used - old_bs + new_bs;
                v[i].size = ns;
                v[i].tag = tag++;
                fill_sparse(v[i].p, ns, v[i].tag);
            } else {
                CHECK_ERR(e, AK_ERR_NO_MEMORY);
                /* Unchanged: usable size as before, contents intact. */
                CHECK(check_sparse(v[i].p, v[i].size, v[i].tag));
            }
        } else if (n < cap && (n == 0 || dice < 55)) {
            size_t size =
                ak_rng_below(&rng, 16) == 0 ? 0 : (size_t)ak_rng_log_uniform(&rng, 1, MiB);
            size_t align = (size_t)1 << ak_rng_below(&rng, 13);
            void *p;
            /* Now and then, the free blocks per order around the alloc:
             * it must split the smallest free block that fits. */
            const bool watch = ak_rng_below(&rng, 64) == 0;
            buddy_stats before, after;
            if (watch)
                stats_get(&a, &before);
            ak_error e = ak_buddy_alloc(&a, size, align, &p);
            if (watch && e == AK_OK) {
                unsigned k = (unsigned)__builtin_ctzll(
                    (unsigned long long)ak_buddy_usable_size(&a, p, size, align));
                unsigned j = k;
                while (j < AK_BUDDY_ORDERS && before.o.free_blocks[j] == 0)
                    j++;
                CHECK(j < AK_BUDDY_ORDERS);
                stats_get(&a, &after);
                for (unsigned m = 0; m < AK_BUDDY_ORDERS; m++) {
                    size_t want = before.o.free_blocks[m];
                    if (m == j)
                        want--;
                    else if (m >= k && m < j)
                        want++;
                    CHECKF(after.o.free_blocks[m] == want,
                           "order %u: %zu free blocks, expected %zu", m, after.o.free_blocks[m],
                           want);
                }
                nwatched++;
            }
            if (e == AK_ERR_NO_MEMORY) {
                noom++;
                /* Only when no block of the needed order is free. */
                size_t bs = block_size(size, align);
                buddy_stats st;
                stats_get(&a, &st);
                CHECK(st.c.largest_free < bs);
                continue;
            }
            CHECK_OK(e);
            size_t bs = ak_buddy_usable_size(&a, p, size, align);
            CHECK(bs == block_size(size, align));
            CHECK(ak_is_aligned((uintptr_t)p, align) && ak_is_aligned((uintptr_t)p, bs));
            int inside = 0;
            for (size_t r = 0; r < nreg; r++)
                if ((uintptr_t)p >= areas[r][0] && (uintptr_t)p + bs <= areas[r][1])
                    inside = 1;
            CHECK(inside);
            v[n].p = p;
            v[n].size = size;
            v[n].align = align;
            v[n].tag = tag++;
            fill_sparse(p, size, v[n].tag);
            n++;
            used += bs;
            nalloc++;
        } else if (n > 0) {
            size_t i = ak_rng_below(&rng, n);
            CHECKF(check_sparse(v[i].p, v[i].size, v[i].tag), "contents of %p+%zu changed",
                   (void *)v[i].p, v[i].size);
            const size_t bs = ak_buddy_usable_size(&a, v[i].p, v[i].size, v[i].align);
            CHECK(bs == block_size(v[i].size, v[i].align));
            /* Half the frees name another size of the block's order: any
             * size up to the block with an align of the block's size, else
             * one above half the block (or any, for 16-byte blocks). */
            size_t fsize = v[i].size;
            if (ak_rng_below(&rng, 2) == 0) {
                if (v[i].align >= bs || bs == AK_BUDDY_MIN_BLOCK)
                    fsize = ak_rng_below(&rng, bs + 1);
                else
                    fsize = bs / 2 + 1 + ak_rng_below(&rng, bs / 2);
                nother_size++;
            }
            if (nheld < HOLD && ak_rng_below(&rng, 8) == 0) {
                /* Into the cache: refused a second time, the allocator
                 * untouched (only the block's first words change). */
                ak_buddy before_obj = a;
                CHECK_OK(ak_buddy_cache(&a, v[i].p, fsize, v[i].align));
                CHECK(memcmp(&before_obj, &a, sizeof a) == 0);
                CHECK_ERR(ak_buddy_cache(&a, v[i].p, v[i].size, v[i].align), AK_ERR_NOT_ALLOCATED);
                CHECK(ak_buddy_usable_size(&a, v[i].p, v[i].size, v[i].align) == bs);
                held[nheld++] = v[i];
                v[i] = v[--n];
                ncached++;
                continue;
            }
            if (ak_rng_below(&rng, 32) == 0) {
                /* Bad frees first: the next size class up, and a pointer
                 * inside the block. Both refused, nothing changed. */
                CHECK_ERR(ak_buddy_dealloc(&a, v[i].p, 2 * bs, v[i].align), AK_ERR_INVALID_PARAM);
                if (bs >= 32)
                    CHECK_ERR(ak_buddy_dealloc(&a, v[i].p + 16, 16, 1), AK_ERR_NOT_ALLOCATED);
                CHECK(ak_buddy_used_bytes(&a) == used);
                nbad++;
            }
            /* Now and then, the free blocks per order around the free: it
             * must merge up from the block's order k to some order K,
             * taking one free buddy off each order in [k, K). */
            const bool watch = ak_rng_below(&rng, 64) == 0;
            buddy_stats before, after;
            if (watch)
                stats_get(&a, &before);
            CHECK_OK(ak_buddy_dealloc(&a, v[i].p, fsize, v[i].align));
            CHECK(ak_buddy_usable_size(&a, v[i].p, v[i].size, v[i].align) == 0);
            if (watch) {
                stats_get(&a, &after);
                unsigned k = (unsigned)__builtin_ctzll((unsigned long long)bs);
                unsigned top = k;
                while (top < AK_BUDDY_ORDERS &&
                       after.o.free_blocks[top] != before.o.free_blocks[top] + 1)
                    top++;
                CHECK(top < AK_BUDDY_ORDERS);
                for (unsigned m = 0; m < AK_BUDDY_ORDERS; m++) {
                    size_t want = before.o.free_blocks[m];
                    if (m == top)
                        want++;
                    else if (m >= k && m < top)
                        want--;
                    CHECKF(after.o.free_blocks[m] == want,
                           "free of order %u: order %u has %zu free blocks, expected %zu", k, m,
                           after.o.free_blocks[m], want);
                }
                nwatched++;
            }
            /* A second free of the same pointer is refused, and so is
             * caching it. */
            if (ak_rng_below(&rng, 64) == 0) {
                CHECK(ak_buddy_dealloc(&a, v[i].p, v[i].size, v[i].align) != AK_OK);
                CHECK(ak_buddy_cache(&a, v[i].p, v[i].size, v[i].align) != AK_OK);
                nbad++;
            }
            used -= bs;
            v[i] = v[--n];
            nfree++;
        }
        CHECK(ak_buddy_used_bytes(&a) == used);
        if ((op + 1) % check_every == 0) {
            CHECK_INVARIANTS(ak_buddy_check(&a));
            check_disjoint(v, n, (const uintptr_t(*)[2])areas, nreg);
            buddy_stats st;
            stats_get(&a, &st);
            CHECK(st.c.used_bytes == used && st.c.used_blocks == n + nheld);
        }
    }
    CHECK_INVARIANTS(ak_buddy_check(&a));
    check_disjoint(v, n, (const uintptr_t(*)[2])areas, nreg);
    CHECK(nwatched > 0 && ncached > 0 && nother_size > 0);
    while (nheld > 0) {
        nheld--;
        ak_buddy_uncache(&a, held[nheld].p, held[nheld].size, held[nheld].align);
        CHECK_OK(ak_buddy_dealloc(&a, held[nheld].p, held[nheld].size, held[nheld].align));
    }
    while (n > 0) {
        n--;
        CHECK(check_sparse(v[n].p, v[n].size, v[n].tag));
        CHECK_OK(ak_buddy_dealloc(&a, v[n].p, v[n].size, v[n].align));
    }
    buddy_stats st;
    stats_get(&a, &st);
    CHECK(st.c.used_bytes == 0 && st.c.used_blocks == 0);
    CHECK(memcmp(st.o.free_blocks, st0.o.free_blocks, sizeof st.o.free_blocks) == 0);
    CHECK_INVARIANTS(ak_buddy_check(&a));
    printf("(%llu ops: %llu alloc, %llu free (%llu with another size of the order), %llu cached, "
           "%llu/%llu resize ok, %llu oom, %llu bad frees) ",
           (unsigned long long)ops, (unsigned long long)nalloc, (unsigned long long)nfree,
           (unsigned long long)nother_size, (unsigned long long)ncached,
           (unsigned long long)nresize_ok, (unsigned long long)nresize, (unsigned long long)noom,
           (unsigned long long)nbad);
    free(v);
    arena_free(&ar);
}

#endif /* AK_BUDDY_TEST_MODEL */

int main(int argc, char **argv)
{
#ifdef AK_BUDDY_TEST_MODEL
    ak_test_init(argc, argv, "test_buddy_model");
    RUN(test_model);
#else
    ak_test_init(argc, argv, "test_buddy");
    RUN(test_zero_initialised);
    RUN(test_init_accounting);
    RUN(test_region_errors);
    RUN(test_split_merge_chain);
    RUN(test_alloc_semantics);
    RUN(test_huge_requests);
    RUN(test_bad_frees);
    RUN(test_resize);
    RUN(test_many_regions);
    RUN(test_odd_regions);
    RUN(test_no_leaked_fragmentation);
    RUN(test_region_switching);
    RUN(test_check_detects);
    RUN(test_check_detects_bit_flips);
    RUN(test_interface);
    RUN(test_walk_and_stats);
    RUN(test_free_any_size_of_the_order);
    RUN(test_tiny_regions);
    RUN(test_cache_hooks);
#ifdef AK_TEST_THREADS
    RUN(test_cache_without_lock);
#endif
    RUN(test_reinit_refuses_old_pointers);
#endif
    return ak_test_finish();
}
