/* akbench workloads: each is seeded and deterministic, allocates only
 * through the interface handle in its context, and checks its own results
 * (contents intact, order kept, every block returned), so that a broken
 * allocator stops the benchmark instead of producing a fast number.
 *
 * Timing covers the workload's own work (allocator calls and the writes a
 * program would do); the deeper checks run outside the timed part or only
 * in the checking run (ctx->verify).
 *
 * "op" per workload (the unit of ns/op):
 *   vec_push_3M             one push
 *   vec_rand_free_*         one block: its alloc and its free
 *   btree_map_50K           one map operation (insert or pop-first)
 *   small_churn, small_churn_hot, mixed_aligned, page_*, id_churn_1M
 *                           one alloc together with its free
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define TAG 0x5a5aa5a5c3c33c3cull

/* Harness-side arrays (the bookkeeping of the workload, not the memory
 * under test): from the process's malloc, before the timed part. */
static void *harness_array(size_t n, size_t elem)
{
    void *p = calloc(n ? n : 1, elem);
    if (!p)
        bench_fail("out of harness memory (%zu x %zu)", n, elem);
    return p;
}

static void shuffle(bench_rng *r, size_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = bench_rng_below(r, i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* ------------------------------------------------------------------ */
/* The original crate's benchmarks                                    */
/* ------------------------------------------------------------------ */

/* Push n u32 into a vector that grows as a Rust Vec does: capacity 4, then
 * doubling, each growth an allocate-copy-free. */
static void wl_vec_push(bench_ctx *c)
{
    size_t n = bench_scaled(c, 3000000, 1000);
    uint32_t *buf = NULL;
    size_t len = 0, cap = 0;
    bench_start(c);
    for (size_t i = 0; i < n; i++) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            uint32_t *nb = bench_alloc(c, ncap * sizeof(uint32_t), _Alignof(uint32_t));
            if (len)
                memcpy(nb, buf, len * sizeof(uint32_t));
            if (buf)
                bench_free(c, buf, cap * sizeof(uint32_t), _Alignof(uint32_t));
            buf = nb;
            cap = ncap;
        }
        buf[len++] = (uint32_t)i;
    }
    bench_stop(c);
    for (size_t i = 0; i < len; i++)
        if (buf[i] != (uint32_t)i || (i && buf[i] <= buf[i - 1]))
            bench_fail("vec_push: element %zu is %u, vector not intact/sorted", i, buf[i]);
    bench_start(c);
    bench_free(c, buf, cap * sizeof(uint32_t), _Alignof(uint32_t));
    bench_stop(c);
    c->ops = n;
}

/* n blocks of blk u64 each; the vector of blocks and the shuffled index
 * vector come from the allocator too; then every block is freed in the
 * shuffled order. */
static void vec_rand_free(bench_ctx *c, size_t n_full, size_t blk)
{
    size_t n = bench_scaled(c, n_full, 100);
    size_t bytes = blk * sizeof(uint64_t);
    bench_rng r;
    bench_rng_seed(&r, c->seed);
    bench_start(c);
    uint64_t **v = bench_alloc(c, n * sizeof(*v), _Alignof(uint64_t *));
    for (size_t i = 0; i < n; i++) {
        uint64_t *b = bench_alloc(c, bytes, _Alignof(uint64_t));
        b[0] = i ^ TAG;
        b[blk - 1] = ~(i ^ TAG);
        v[i] = b;
    }
    size_t *index = bench_alloc(c, n * sizeof(size_t), _Alignof(size_t));
    for (size_t i = 0; i < n; i++)
        index[i] = i;
    shuffle(&r, index, n);
    for (size_t k = 0; k < n; k++) {
        size_t i = index[k];
        uint64_t *b = v[i];
        if (b[0] != (i ^ TAG) || b[blk - 1] != ~(i ^ TAG))
            bench_fail("vec_rand_free: block %zu overwritten", i);
        if (c->verify)
            for (size_t w = 1; w + 1 < blk; w++)
                b[w] = 0; /* a block that overlaps another would trip its tag */
        bench_free(c, b, bytes, _Alignof(uint64_t));
        v[i] = NULL;
    }
    bench_free(c, index, n * sizeof(size_t), _Alignof(size_t));
    bench_free(c, v, n * sizeof(*v), _Alignof(uint64_t *));
    bench_stop(c);
    c->ops = n;
}

static void wl_vec_rand_free_25k_64(bench_ctx *c)
{
    vec_rand_free(c, 25000, 64);
}

static void wl_vec_rand_free_7500_520(bench_ctx *c)
{
    vec_rand_free(c, 7500, 520);
}

static void wl_btree_map(bench_ctx *c)
{
    bench_btree_map(c, bench_scaled(c, 50000, 500));
}

/* ------------------------------------------------------------------ */
/* Byte workloads beyond the original four                            */
/* ------------------------------------------------------------------ */

typedef struct live_block {
    unsigned char *p;
    size_t size, align;
    uint64_t tag;
} live_block;

static void block_mark(live_block *b)
{
    memcpy(b->p, &b->tag, 8);
    if (b->size >= 16)
        memcpy(b->p + b->size - 8, &b->tag, 8);
    else if (b->size > 8)
        b->p[b->size - 1] = (unsigned char)(b->tag >> 56);
}

static void block_check(const live_block *b, const char *wl)
{
    uint64_t head, tail;
    memcpy(&head, b->p, 8);
    bool ok = head == b->tag;
    if (b->size >= 16) {
        memcpy(&tail, b->p + b->size - 8, 8);
        ok = ok && tail == b->tag;
    } else if (b->size > 8) {
        ok = ok && b->p[b->size - 1] == (unsigned char)(b->tag >> 56);
    }
    if (!ok)
        bench_fail("%s: block %p (size %zu) overwritten", wl, (void *)b->p, b->size);
}

/* A live set of `live` blocks; `calls` allocator calls in all: fill the
 * live set, replace a random victim (free + alloc) until the budget is
 * spent, free the rest. Sizes and alignments come from `pick`. */
void bench_churn(bench_ctx *c, const char *wl, size_t live, size_t calls,
                 void (*pick)(bench_rng *r, size_t *size, size_t *align))
{
    bench_rng r;
    bench_rng_seed(&r, c->seed);
    live_block *set = harness_array(live, sizeof(*set));
    size_t steps = calls > 2 * live ? (calls - 2 * live) / 2 : 0;
    /* The sequence of sizes and victims is drawn before timing, so the
     * timed loop is the allocator's work plus the tag writes. */
    size_t *victim = harness_array(steps, sizeof(size_t));
    uint32_t *sz = harness_array(live + steps, sizeof(uint32_t));
    uint16_t *al = harness_array(live + steps, sizeof(uint16_t));
    for (size_t i = 0; i < live + steps; i++) {
        size_t s, a;
        pick(&r, &s, &a);
        sz[i] = (uint32_t)s;
        al[i] = (uint16_t)a;
    }
    for (size_t i = 0; i < steps; i++)
        victim[i] = bench_rng_below(&r, live);

    bench_start(c);
    for (size_t i = 0; i < live; i++) {
        live_block *b = &set[i];
        b->size = sz[i];
        b->align = al[i];
        b->tag = TAG ^ (i * 0x9e3779b97f4a7c15ull);
        b->p = bench_alloc(c, b->size, b->align);
        block_mark(b);
    }
    for (size_t k = 0; k < steps; k++) {
        live_block *b = &set[victim[k]];
        block_check(b, wl);
        bench_free(c, b->p, b->size, b->align);
        b->size = sz[live + k];
        b->align = al[live + k];
        b->tag = TAG ^ ((live + k) * 0x9e3779b97f4a7c15ull);
        b->p = bench_alloc(c, b->size, b->align);
        block_mark(b);
    }
    if (c->verify) {
        /* Every live block still holds its tags: no two overlap. */
        bench_stop(c);
        for (size_t i = 0; i < live; i++)
            block_check(&set[i], wl);
        bench_start(c);
    }
    for (size_t i = 0; i < live; i++) {
        block_check(&set[i], wl);
        bench_free(c, set[i].p, set[i].size, set[i].align);
    }
    bench_stop(c);
    c->ops = live + steps;
    free(set);
    free(victim);
    free(sz);
    free(al);
}

static void pick_small(bench_rng *r, size_t *size, size_t *align)
{
    *size = 8 + bench_rng_below(r, 256 - 8 + 1);
    *align = 8;
}

static void pick_mixed(bench_rng *r, size_t *size, size_t *align)
{
    *size = bench_rng_log_uniform(r, 8, 64 * 1024);
    *align = bench_rng_pow2(r, 8, 4096);
}

/* 8..256-byte objects, 10M allocator calls, ~100K live. */
static void wl_small_churn(bench_ctx *c)
{
    bench_churn(c, "small_churn", bench_scaled(c, 100000, 64), bench_scaled(c, 10000000, 1000),
                pick_small);
}

/* small_churn's mix with 1,000 live objects (about 140 KiB, held in L2),
 * 1M calls: the allocators' own cost, without the cache misses that
 * dominate small_churn when the host's shared cache is taken. Shown for
 * information; no target is set on it. */
static void wl_small_churn_hot(bench_ctx *c)
{
    bench_churn(c, "small_churn_hot", bench_scaled(c, 1000, 64), bench_scaled(c, 1000000, 1000),
                pick_small);
}

/* Log-uniform 8 B..64 KiB, alignments 8..4096, 1M calls, 2000 live. */
static void wl_mixed_aligned(bench_ctx *c)
{
    bench_churn(c, "mixed_aligned", bench_scaled(c, 2000, 32), bench_scaled(c, 1000000, 1000),
                pick_mixed);
}

/* ------------------------------------------------------------------ */
/* Page workloads                                                     */
/* ------------------------------------------------------------------ */

/* Shadow of which pages are taken, for the checking run. */
typedef struct page_shadow {
    uint64_t *bits;
    size_t pages;
} page_shadow;

static void shadow_mark(page_shadow *s, size_t first, size_t n, bool taken)
{
    for (size_t p = first; p < first + n; p++) {
        uint64_t m = 1ull << (p % 64);
        bool was = (s->bits[p / 64] & m) != 0;
        if (was == taken)
            bench_fail("page %zu %s twice", p, taken ? "handed out" : "freed");
        s->bits[p / 64] ^= m;
    }
}

static uintptr_t page_alloc(bench_ctx *c, page_shadow *s, size_t n, size_t align_pages)
{
    uintptr_t out = 0;
    size_t ps = 4096;
    ak_error e;
    BENCH_CALL(c, c->lat_alloc, e = ak_page_alloc_pages(c->page, n, align_pages * ps, &out));
    if (e != AK_OK)
        bench_fail("alloc_pages(%zu, align %zu pages): %s", n, align_pages, ak_error_name(e));
    if (out % (align_pages * ps) != 0 || out < c->page_base ||
        (out - c->page_base) / ps + n > c->page_count)
        bench_fail("alloc_pages(%zu, align %zu pages) gave bad address %#lx", n, align_pages,
                   (unsigned long)out);
    if (s)
        shadow_mark(s, (out - c->page_base) / ps, n, true);
    return out;
}

static void page_free(bench_ctx *c, page_shadow *s, uintptr_t pos, size_t n)
{
    ak_error e;
    if (s)
        shadow_mark(s, (pos - c->page_base) / 4096, n, false);
    BENCH_CALL(c, c->lat_free, e = ak_page_dealloc_pages(c->page, pos, n));
    if (e != AK_OK)
        bench_fail("dealloc_pages(%#lx, %zu): %s", (unsigned long)pos, n, ak_error_name(e));
}

static page_shadow *shadow_new(bench_ctx *c)
{
    if (!c->verify)
        return NULL;
    page_shadow *s = harness_array(1, sizeof(*s));
    s->pages = c->page_count;
    s->bits = harness_array((c->page_count + 63) / 64, sizeof(uint64_t));
    return s;
}

static void shadow_free(page_shadow *s)
{
    if (s) {
        free(s->bits);
        free(s);
    }
}

/* 1M single-page allocations (the whole 4 GiB), then frees in random order. */
static void wl_page_single(bench_ctx *c)
{
    size_t n = bench_scaled(c, 1u << 20, 1000);
    if (n > c->page_count)
        n = c->page_count;
    bench_rng r;
    bench_rng_seed(&r, c->seed);
    uintptr_t *addr = harness_array(n, sizeof(uintptr_t));
    size_t *order = harness_array(n, sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    shuffle(&r, order, n);
    page_shadow *s = shadow_new(c);
    bench_start(c);
    /* Each address is stored at its place in the free order (a random
     * store, which does not hold the loop up), so the frees read the
     * array in sequence: reading addr[order[i]] instead put a random
     * 8 MiB-array load in front of every free, the harness's own cache
     * miss, and it took about 40% of the time measured. The free order
     * is still a uniformly random permutation of the allocation order. */
    for (size_t i = 0; i < n; i++)
        addr[order[i]] = page_alloc(c, s, 1, 1);
    for (size_t i = 0; i < n; i++)
        page_free(c, s, addr[i], 1);
    bench_stop(c);
    c->ops = n;
    shadow_free(s);
    free(addr);
    free(order);
}

typedef struct page_run {
    uintptr_t pos;
    size_t n;
} page_run;

/* Churn of page runs: `live` runs kept, `pairs` alloc+free pairs. */
static void page_churn(bench_ctx *c, size_t live, size_t pairs, size_t min_pages, size_t max_pages,
                       size_t max_align)
{
    bench_rng r;
    bench_rng_seed(&r, c->seed);
    size_t steps = pairs > live ? pairs - live : 0;
    page_run *set = harness_array(live, sizeof(*set));
    uint16_t *npages = harness_array(live + steps, sizeof(uint16_t));
    uint16_t *align = harness_array(live + steps, sizeof(uint16_t));
    size_t *victim = harness_array(steps, sizeof(size_t));
    for (size_t i = 0; i < live + steps; i++) {
        npages[i] = (uint16_t)(min_pages + bench_rng_below(&r, max_pages - min_pages + 1));
        align[i] = (uint16_t)bench_rng_pow2(&r, 1, max_align);
    }
    for (size_t i = 0; i < steps; i++)
        victim[i] = bench_rng_below(&r, live);
    page_shadow *s = shadow_new(c);
    bench_start(c);
    for (size_t i = 0; i < live; i++) {
        set[i].n = npages[i];
        set[i].pos = page_alloc(c, s, npages[i], align[i]);
    }
    for (size_t k = 0; k < steps; k++) {
        page_run *b = &set[victim[k]];
        page_free(c, s, b->pos, b->n);
        b->n = npages[live + k];
        b->pos = page_alloc(c, s, b->n, align[live + k]);
    }
    for (size_t i = 0; i < live; i++)
        page_free(c, s, set[i].pos, set[i].n);
    bench_stop(c);
    c->ops = live + steps;
    shadow_free(s);
    free(set);
    free(npages);
    free(align);
    free(victim);
}

/* 1..64-page runs aligned to 1..512 pages, 2048 live, 200K pairs. */
static void wl_page_mixed(bench_ctx *c)
{
    page_churn(c, bench_scaled(c, 2048, 64), bench_scaled(c, 200000, 1000), 1, 64, 512);
}

/* 64-page runs aligned to 64 pages, 4096 live (1 GiB of the 4 GiB),
 * 500K pairs. */
static void wl_page_64_aligned(bench_ctx *c)
{
    page_churn(c, bench_scaled(c, 4096, 64), bench_scaled(c, 500000, 1000), 64, 64, 64);
}

/* ------------------------------------------------------------------ */
/* ID workload                                                        */
/* ------------------------------------------------------------------ */

/* Churn of single IDs: half the capacity live, 1M alloc+free pairs. */
static void wl_id_churn(bench_ctx *c)
{
    size_t cap = ak_id_size(c->id);
    size_t live = cap / 2;
    size_t pairs = bench_scaled(c, 1000000, 1000);
    size_t steps = pairs > live ? pairs - live : 0;
    bench_rng r;
    bench_rng_seed(&r, c->seed);
    size_t *set = harness_array(live, sizeof(size_t));
    size_t *victim = harness_array(steps, sizeof(size_t));
    for (size_t i = 0; i < steps; i++)
        victim[i] = bench_rng_below(&r, live);
    uint64_t *shadow = c->verify ? harness_array((cap + 63) / 64, sizeof(uint64_t)) : NULL;
    bench_start(c);
    for (size_t k = 0; k < live + steps; k++) {
        size_t slot = k < live ? k : victim[k - live];
        ak_error e;
        if (k >= live) {
            size_t old = set[slot];
            if (shadow)
                shadow[old / 64] &= ~(1ull << (old % 64));
            BENCH_CALL(c, c->lat_free, e = ak_id_dealloc_id(c->id, old, 1));
            if (e != AK_OK)
                bench_fail("dealloc_id(%zu): %s", old, ak_error_name(e));
        }
        size_t id = 0;
        BENCH_CALL(c, c->lat_alloc, e = ak_id_alloc_id(c->id, 1, 1, &id));
        if (e != AK_OK || id >= cap)
            bench_fail("alloc_id: %s (id %zu of %zu)", ak_error_name(e), id, cap);
        if (shadow) {
            if (shadow[id / 64] & (1ull << (id % 64)))
                bench_fail("alloc_id handed out live ID %zu", id);
            shadow[id / 64] |= 1ull << (id % 64);
            if (!ak_id_is_allocated(c->id, id))
                bench_fail("ID %zu allocated but is_allocated() says no", id);
        }
        set[slot] = id;
    }
    for (size_t i = 0; i < live; i++) {
        ak_error e;
        BENCH_CALL(c, c->lat_free, e = ak_id_dealloc_id(c->id, set[i], 1));
        if (e != AK_OK)
            bench_fail("dealloc_id(%zu) at the end: %s", set[i], ak_error_name(e));
    }
    bench_stop(c);
    if (ak_id_used(c->id) != 0)
        bench_fail("id_churn: %zu IDs still used after freeing all", ak_id_used(c->id));
    c->ops = live + steps;
    free(set);
    free(victim);
    free(shadow);
}

/* ------------------------------------------------------------------ */

#define MiB ((size_t)1 << 20)

const bench_workload bench_workloads[] = {
    {"vec_push_3M", BENCH_BYTE, 256 * MiB, 1.0, wl_vec_push},
    {"vec_rand_free_25K_64", BENCH_BYTE, 128 * MiB, 1.0, wl_vec_rand_free_25k_64},
    {"vec_rand_free_7500_520", BENCH_BYTE, 128 * MiB, 1.0, wl_vec_rand_free_7500_520},
    {"btree_map_50K", BENCH_BYTE, 128 * MiB, 1.0, wl_btree_map},
    /* 2M of the 10M calls are plenty for the latency tail and the checks,
     * and keep a default run within its time budget. */
    {"small_churn", BENCH_BYTE, 128 * MiB, 0.2, wl_small_churn},
    {"small_churn_hot", BENCH_BYTE, 16 * MiB, 1.0, wl_small_churn_hot},
    {"mixed_aligned", BENCH_BYTE, 256 * MiB, 1.0, wl_mixed_aligned},
    {"page_single_1M", BENCH_PAGE, 0, 1.0, wl_page_single},
    {"page_mixed", BENCH_PAGE, 0, 1.0, wl_page_mixed},
    {"page_64_aligned", BENCH_PAGE, 0, 1.0, wl_page_64_aligned},
    {"id_churn_1M", BENCH_ID, 0, 1.0, wl_id_churn},
};
const size_t bench_workload_count = sizeof(bench_workloads) / sizeof(bench_workloads[0]);

const bench_workload *bench_find_workload(const char *name)
{
    for (size_t i = 0; i < bench_workload_count; i++)
        if (strcmp(bench_workloads[i].name, name) == 0)
            return &bench_workloads[i];
    return NULL;
}
