/* Core tests: the error model, the alignment helpers (including values at
 * the top of the address space), the internal bit and range helpers, and
 * the interface dispatch through test doubles that record every call. */
#include "testlib.h"

#include "ak_internal.h"
#include "ak_region.h"
#include "ak_rng.h"
#include "ak_sizeclass.h"
#include <allockit.h>

/* The macro forms must be constant expressions. */
_Static_assert(AK_ALIGN_UP(13, 8) == 16, "AK_ALIGN_UP in a constant expression");
_Static_assert(AK_ALIGN_DOWN(13, 8) == 8, "AK_ALIGN_DOWN in a constant expression");
_Static_assert(AK_IS_ALIGNED(4096, 4096) && !AK_IS_ALIGNED(4097, 4096), "AK_IS_ALIGNED");
_Static_assert(AK_IS_POW2(1) && AK_IS_POW2(1024) && !AK_IS_POW2(0) && !AK_IS_POW2(12),
               "AK_IS_POW2");
/* An array sized by the macro (not static: clang would drop it as unneeded). */
char ak_test_constant_sized[AK_ALIGN_UP(10, 16)];

static void test_strerror(void)
{
    const ak_error all[] = {AK_OK, AK_ERR_INVALID_PARAM, AK_ERR_MEMORY_OVERLAP, AK_ERR_NO_MEMORY,
                            AK_ERR_NOT_ALLOCATED};
    CHECK(sizeof all / sizeof all[0] == AK_ERROR_COUNT);
    for (size_t i = 0; i < AK_ERROR_COUNT; i++) {
        CHECK(ak_strerror(all[i]) != NULL);
        CHECK(strlen(ak_strerror(all[i])) > 0);
        CHECK(strcmp(ak_strerror(all[i]), "unknown error") != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(ak_strerror(all[i]), ak_strerror(all[j])) != 0);
    }
    CHECK(AK_OK == 0);
    CHECK(strcmp(ak_strerror((ak_error)99), "unknown error") == 0);
    CHECK(strcmp(ak_strerror((ak_error)-1), "unknown error") == 0);
    CHECK(strcmp(ak_error_name(AK_ERR_NO_MEMORY), "AK_ERR_NO_MEMORY") == 0);
    CHECK(strcmp(ak_error_name(AK_ERR_NOT_ALLOCATED), "AK_ERR_NOT_ALLOCATED") == 0);
    CHECK(strcmp(ak_error_name((ak_error)42), "AK_ERR_?") == 0);
}

static void test_align_helpers(void)
{
    CHECK(sizeof ak_test_constant_sized == 16);
    CHECK(ak_align_down(0, 1) == 0);
    CHECK(ak_align_up(0, 4096) == 0);
    CHECK(ak_align_down(4095, 4096) == 0);
    CHECK(ak_align_up(4095, 4096) == 4096);
    CHECK(ak_align_up(4096, 4096) == 4096);
    CHECK(ak_align_up(4097, 4096) == 8192);
    CHECK(ak_is_aligned(0, 8));
    CHECK(ak_is_aligned(64, 64));
    CHECK(!ak_is_aligned(65, 64));
    CHECK(ak_is_aligned(12345, 1));
    /* Edge values near the top of the address space. */
    const uintptr_t top = UINTPTR_MAX;
    const uintptr_t high = (uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1);
    CHECK(ak_align_down(top, 4096) == top - 4095);
    CHECK(ak_align_down(top, high) == high);
    CHECK(ak_align_up(top - 4095, 4096) == top - 4095);
    CHECK(ak_align_up(top, 1) == top);
    CHECK(ak_align_up(top - 4094, 4096) == 0); /* documented wrap */
    CHECK(ak_align_up(high, high) == high);
    CHECK(ak_align_up(high + 1, high) == 0); /* documented wrap */
    CHECK(!ak_is_aligned(top, 2));
    CHECK(ak_is_aligned(high, high));
    /* Checked form: no wrap, ever. */
    uintptr_t out = 7;
    CHECK(ak_align_up_checked(top - 4095, 4096, &out) && out == top - 4095);
    out = 7;
    CHECK(!ak_align_up_checked(top - 4094, 4096, &out) && out == 7);
    CHECK(!ak_align_up_checked(top, 2, &out) && out == 7);
    CHECK(ak_align_up_checked(top, 1, &out) && out == top);
    CHECK(!ak_align_up_checked(high + 1, high, &out));
    CHECK(!ak_align_up_checked(5, 0, &out));
    CHECK(!ak_align_up_checked(5, 12, &out));
    CHECK(ak_align_up_checked(5, 8, &out) && out == 8);
    CHECK(ak_align_up_checked(0, high, &out) && out == 0);
    /* Powers of two. */
    CHECK(!ak_is_pow2(0));
    CHECK(ak_is_pow2(1));
    CHECK(ak_is_pow2(high));
    CHECK(!ak_is_pow2(top));
    CHECK(!ak_is_pow2(high + 1));
    /* The helpers agree with their macro forms on every small case. */
    for (uintptr_t a = 1; a <= 1024; a <<= 1)
        for (uintptr_t x = 0; x < 3000; x += 7) {
            CHECK(ak_align_down(x, a) == AK_ALIGN_DOWN(x, a));
            CHECK(ak_align_up(x, a) == AK_ALIGN_UP(x, a));
            CHECK(ak_is_aligned(x, a) == AK_IS_ALIGNED(x, a));
            CHECK(ak_align_up(x, a) >= x && ak_align_up(x, a) - x < a);
            CHECK(ak_align_down(x, a) <= x && x - ak_align_down(x, a) < a);
        }
}

static void test_internal_bits(void)
{
    CHECK(ak_ffs64(1) == 0);
    CHECK(ak_ffs64(0x8000000000000000ull) == 63);
    CHECK(ak_fls64(1) == 0);
    CHECK(ak_fls64(~0ull) == 63);
    CHECK(ak_fls64(0x00f0) == 7);
    CHECK(ak_ffs32(0x00f0) == 4);
    CHECK(ak_fls32(0x80000000u) == 31);
    CHECK(ak_fls_size(SIZE_MAX) == AK_SIZE_BITS - 1);
    CHECK(ak_ffs_size((size_t)1 << (AK_SIZE_BITS - 1)) == AK_SIZE_BITS - 1);
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    for (int i = 0; i < 10000; i++) {
        uint64_t x = ak_rng_next(&r);
        CHECK(ak_popcount64(x) == (unsigned)__builtin_popcountll(x));
    }
    CHECK(ak_popcount64(0) == 0);
    CHECK(ak_popcount64(~0ull) == 64);
    size_t s;
    CHECK(ak_add_overflows(SIZE_MAX, 1, &s));
    CHECK(!ak_add_overflows(SIZE_MAX - 1, 1, &s) && s == SIZE_MAX);
    CHECK(ak_mul_overflows(SIZE_MAX / 2 + 1, 2, &s));
    CHECK(!ak_mul_overflows(SIZE_MAX / 2, 2, &s) && s == SIZE_MAX - 1);
    uintptr_t end;
    CHECK(!ak_range_end(100, 0, &end));
    CHECK(ak_range_end(100, 28, &end) && end == 128);
    CHECK(!ak_range_end(UINTPTR_MAX, 1, &end));
    CHECK(ak_range_end(UINTPTR_MAX - 1, 1, &end) && end == UINTPTR_MAX);
    CHECK(ak_ranges_overlap(0, 10, 9, 20));
    CHECK(!ak_ranges_overlap(0, 10, 10, 20));
    CHECK(!ak_ranges_overlap(10, 20, 0, 10));
    CHECK(ak_ranges_overlap(0, 100, 40, 50));
}

/* The region index against a linear scan: 200 disjoint ranges inserted in
 * random order; after each insertion the checker passes, and lookups and
 * overlap tests agree with the scan. Records are plain structs here (the
 * index never reads the memory it describes). Then the checker must catch
 * a broken tree. */
#define NREG 200
static void test_region_index(void)
{
    static ak_region rec[NREG];
    unsigned order[NREG];
    ak_rng rng;
    ak_rng_seed(&rng, 7);
    for (unsigned i = 0; i < NREG; i++) {
        /* [start, end) with a block area [lo, hi) strictly inside; gaps
         * between regions so some pointers hit nothing. */
        rec[i].start = 1000 + (uintptr_t)i * 1000;
        rec[i].end = rec[i].start + 500 + (uintptr_t)(i % 7) * 50;
        rec[i].lo = rec[i].start + 16;
        rec[i].hi = rec[i].end - 8;
        order[i] = i;
    }
    for (unsigned i = NREG - 1; i > 0; i--) {
        unsigned j = (unsigned)(ak_rng_next(&rng) % (i + 1));
        unsigned t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    ak_region_index ix;
    ak_region_index_clear(&ix);
    CHECK(ak_region_check(&ix) == NULL);
    CHECK(ak_region_find(&ix, 1500) == NULL);
    CHECK(!ak_region_overlaps(&ix, 0, UINTPTR_MAX));
    for (unsigned n = 0; n < NREG; n++) {
        ak_region *r = &rec[order[n]];
        CHECK(!ak_region_overlaps(&ix, r->start, r->end));
        ak_region_insert(&ix, r);
        CHECKF(ak_region_check(&ix) == NULL, "after %u inserts: %s", n + 1, ak_region_check(&ix));
        CHECK(ak_region_overlaps(&ix, r->start, r->end));
        CHECK(ak_region_overlaps(&ix, r->end - 1, r->end + 1));
        CHECK(!ak_region_overlaps(&ix, r->end, r->end + 1));
        for (int q = 0; q < 20; q++) {
            uintptr_t p = (uintptr_t)(ak_rng_next(&rng) % (NREG * 1000 + 2000));
            ak_region *want = NULL;
            for (unsigned k = 0; k <= n; k++)
                if (p >= rec[order[k]].lo && p < rec[order[k]].hi)
                    want = &rec[order[k]];
            ak_region *got = ak_region_find(&ix, p);
            CHECKF(got == want, "lookup of %lu", (unsigned long)p);
            if (got)
                ak_region_remember(&ix, got);
            uintptr_t e = p + (uintptr_t)(ak_rng_next(&rng) % 3000) + 1;
            bool overlap = false;
            for (unsigned k = 0; k <= n; k++)
                overlap |= ak_ranges_overlap(rec[order[k]].start, rec[order[k]].end, p, e);
            CHECK(ak_region_overlaps(&ix, p, e) == overlap);
        }
    }
    CHECK(ix.count == NREG);
    size_t listed = 0;
    for (ak_region *r = ak_region_first(&ix); r; r = r->next)
        listed++;
    CHECK(listed == NREG);
    /* The edges of a block area: in at lo and hi - 1, out at lo - 1 and hi
     * (in the trimmed edge of [start, end)). */
    CHECK(ak_region_find(&ix, rec[5].lo) == &rec[5]);
    CHECK(ak_region_find(&ix, rec[5].hi - 1) == &rec[5]);
    CHECK(ak_region_find(&ix, rec[5].lo - 1) == NULL);
    CHECK(ak_region_find(&ix, rec[5].hi) == NULL);
    /* A broken height, then a broken order, are caught. */
    ak_region *root = (ak_region *)ix.root;
    root->height++;
    CHECK(ak_region_check(&ix) != NULL);
    root->height--;
    CHECK(ak_region_check(&ix) == NULL);
    uintptr_t s = root->start;
    root->start = 0;
    root->lo = 8;
    CHECK(ak_region_check(&ix) != NULL);
    root->start = s;
    root->lo = s + 16;
    CHECK(ak_region_check(&ix) == NULL);
    ix.last_span++;
    CHECK(ak_region_check(&ix) != NULL);
}

/* The size-class series: the two rules of ak_sizeclass.h written out
 * independently, then every size up to the top checked against them. */
static void test_size_classes(void)
{
    size_t want[AK_SC_COUNT];
    unsigned n = 0;
    for (size_t s = 16; s <= 128; s += 16)
        want[n++] = s;
    for (size_t p = 128; p < AK_SC_MAX; p *= 2)
        for (size_t k = 1; k <= 4; k++)
            want[n++] = p + k * (p / 4);
    CHECK(n == AK_SC_COUNT);
    CHECK(want[AK_SC_COUNT - 1] == AK_SC_MAX);
    for (unsigned c = 0; c < AK_SC_COUNT; c++) {
        CHECKF(ak_sc_size(c) == want[c], "class %u: %zu, want %zu", c, ak_sc_size(c), want[c]);
        size_t low = want[c] & (~want[c] + 1);
        CHECK(ak_sc_align(c) == low);
        CHECK(ak_sc_index(want[c]) == c);
    }
    unsigned c = 0;
    for (size_t s = 0; s <= AK_SC_MAX; s++) {
        while (want[c] < s)
            c++;
        if (ak_sc_index(s) != c) {
            CHECKF(0, "size %zu: class %u, want %u", s, ak_sc_index(s), c);
            break;
        }
    }
    /* The waste bounds the header promises. */
    for (size_t s = 1; s <= AK_SC_MAX; s++) {
        size_t cs = ak_sc_size(ak_sc_index(s));
        if (s <= 128 ? cs - s >= 16 : (cs - s) * 4 >= s) {
            CHECKF(0, "size %zu wastes %zu in class size %zu", s, cs - s, cs);
            break;
        }
    }
}

/* ---- test doubles: record the last call and answer from a script ---- */

static struct {
    const char *last;
    uintptr_t a0, a1, a2, a3;
    ak_error answer;
} rec;

static void record(const char *name, uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3)
{
    rec.last = name;
    rec.a0 = a0;
    rec.a1 = a1;
    rec.a2 = a2;
    rec.a3 = a3;
}

typedef struct fake {
    int tag;
} fake;

static ak_error fb_init(void *s, uintptr_t st, size_t sz)
{
    record("init", (uintptr_t)s, st, sz, 0);
    return rec.answer;
}
static ak_error fb_add(void *s, uintptr_t st, size_t sz)
{
    record("add_memory", (uintptr_t)s, st, sz, 0);
    return rec.answer;
}
static ak_error fb_alloc(void *s, size_t sz, size_t al, void **out)
{
    record("alloc", (uintptr_t)s, sz, al, 0);
    *out = (void *)(uintptr_t)0x1234;
    return rec.answer;
}
static ak_error fb_dealloc(void *s, void *p, size_t sz, size_t al)
{
    record("dealloc", (uintptr_t)s, (uintptr_t)p, sz, al);
    return rec.answer;
}
static size_t fb_total(const void *s)
{
    record("total", (uintptr_t)s, 0, 0, 0);
    return 1000;
}
static size_t fb_used(const void *s)
{
    record("used", (uintptr_t)s, 0, 0, 0);
    return 300;
}
static size_t fb_avail(const void *s)
{
    record("available", (uintptr_t)s, 0, 0, 0);
    return 700;
}
static ak_error fb_resize(void *s, void *p, size_t o, size_t al, size_t n)
{
    record("resize", (uintptr_t)s, (uintptr_t)p, o, n);
    (void)al;
    return rec.answer;
}
static size_t fb_usable(const void *s, const void *p, size_t sz, size_t al)
{
    record("usable", (uintptr_t)s, (uintptr_t)p, sz, al);
    return sz + 16;
}
static const char *fb_check(const void *s)
{
    record("check", (uintptr_t)s, 0, 0, 0);
    return rec.answer == AK_OK ? NULL : "broken on purpose";
}

static ak_error fb_cache(void *s, void *p, size_t sz, size_t al)
{
    record("cache", (uintptr_t)s, (uintptr_t)p, sz, al);
    return rec.answer;
}
static void fb_uncache(void *s, void *p, size_t sz, size_t al)
{
    record("uncache", (uintptr_t)s, (uintptr_t)p, sz, al);
}
static const uintptr_t fb_key = 0x9e37;
static const uintptr_t *fb_cache_key(const void *s)
{
    record("cache_key", (uintptr_t)s, 0, 0, 0);
    return &fb_key;
}

/* The fake walks report four blocks (two per interface's unit), used and
 * free in turn; the fake stats ops fill a recognisable figure. */
typedef struct walk_seen {
    size_t n;
    uintptr_t start[4];
    size_t size[4];
    bool used[4];
} walk_seen;

static void walk_record(uintptr_t start, size_t size, bool used, void *ctx)
{
    walk_seen *w = ctx;
    if (w->n < 4) {
        w->start[w->n] = start;
        w->size[w->n] = size;
        w->used[w->n] = used;
    }
    w->n++;
}

static ak_error fake_walk(const void *s, ak_walker fn, void *ctx)
{
    record("walk", (uintptr_t)s, 0, 0, 0);
    fn(0x1000, 32, true, ctx);
    fn(0x1020, 64, false, ctx);
    fn(0x1060, 16, true, ctx);
    fn(0x1070, 128, false, ctx);
    return AK_OK;
}

static void fb_stats(const void *s, struct ak_byte_stats *out)
{
    record("stats", (uintptr_t)s, 0, 0, 0);
    out->total_bytes = 4242;
}

static const ak_byte_allocator_ops fake_byte_full = {
    "fake",    fb_init,   fb_add,   fb_alloc, fb_dealloc, fb_total,  fb_used,  fb_avail,
    fb_resize, fb_usable, fb_check, fb_cache, fb_uncache, fake_walk, fb_stats, fb_cache_key};
static const ak_byte_allocator_ops fake_byte_min = {
    NULL, fb_init, fb_add, fb_alloc, fb_dealloc, fb_total, fb_used, fb_avail,
    NULL, NULL,    NULL,   NULL,     NULL,       NULL,     NULL,    NULL};
static const ak_byte_allocator_ops fake_byte_walk_only = {
    "walks", fb_init, fb_add, fb_alloc, fb_dealloc, fb_total,  fb_used, fb_avail,
    NULL,    NULL,    NULL,   NULL,     NULL,       fake_walk, NULL,    NULL};

static void check_fake_walk(const walk_seen *w)
{
    CHECK(w->n == 4);
    CHECK(w->start[0] == 0x1000 && w->size[0] == 32 && w->used[0]);
    CHECK(w->start[1] == 0x1020 && w->size[1] == 64 && !w->used[1]);
    CHECK(w->start[3] == 0x1070 && w->size[3] == 128 && !w->used[3]);
}

static void test_byte_dispatch(void)
{
    fake f = {1};
    ak_byte_allocator h = {&fake_byte_full, &f};
    const uintptr_t self = (uintptr_t)&f;
    rec.answer = AK_OK;
    CHECK_OK(ak_byte_init(h, 0x1000, 0x2000));
    CHECK(!strcmp(rec.last, "init") && rec.a0 == self && rec.a1 == 0x1000 && rec.a2 == 0x2000);
    rec.answer = AK_ERR_MEMORY_OVERLAP;
    CHECK_ERR(ak_byte_add_memory(h, 0x5000, 0x100), AK_ERR_MEMORY_OVERLAP);
    CHECK(!strcmp(rec.last, "add_memory") && rec.a1 == 0x5000 && rec.a2 == 0x100);
    rec.answer = AK_OK;
    void *p = NULL;
    CHECK_OK(ak_byte_alloc(h, 24, 8, &p));
    CHECK(!strcmp(rec.last, "alloc") && rec.a1 == 24 && rec.a2 == 8 && p == (void *)0x1234);
    rec.answer = AK_ERR_NOT_ALLOCATED;
    CHECK_ERR(ak_byte_dealloc(h, p, 24, 8), AK_ERR_NOT_ALLOCATED);
    CHECK(!strcmp(rec.last, "dealloc") && rec.a1 == 0x1234 && rec.a2 == 24 && rec.a3 == 8);
    CHECK(ak_byte_total_bytes(h) == 1000 && !strcmp(rec.last, "total"));
    CHECK(ak_byte_used_bytes(h) == 300 && !strcmp(rec.last, "used"));
    CHECK(ak_byte_available_bytes(h) == 700 && !strcmp(rec.last, "available"));
    CHECK(!strcmp(ak_byte_name(h), "fake"));
    rec.answer = AK_OK;
    CHECK_OK(ak_byte_resize(h, p, 24, 8, 48));
    CHECK(!strcmp(rec.last, "resize") && rec.a2 == 24 && rec.a3 == 48);
    CHECK(ak_byte_usable_size(h, p, 24, 8) == 40 && !strcmp(rec.last, "usable"));
    CHECK(ak_byte_check(h) == NULL && !strcmp(rec.last, "check"));
    rec.answer = AK_ERR_NO_MEMORY;
    CHECK(ak_byte_check(h) != NULL);
    CHECK(ak_byte_can_cache(h));
    rec.answer = AK_ERR_NOT_ALLOCATED;
    CHECK_ERR(ak_byte_cache(h, p, 24, 8), AK_ERR_NOT_ALLOCATED);
    CHECK(!strcmp(rec.last, "cache") && rec.a1 == 0x1234 && rec.a2 == 24 && rec.a3 == 8);
    ak_byte_uncache(h, p, 32, 16);
    CHECK(!strcmp(rec.last, "uncache") && rec.a1 == 0x1234 && rec.a2 == 32 && rec.a3 == 16);
    CHECK(ak_byte_cache_key(h) == &fb_key && !strcmp(rec.last, "cache_key") && rec.a0 == self);
    walk_seen w = {0};
    CHECK_OK(ak_byte_walk(h, walk_record, &w));
    CHECK(!strcmp(rec.last, "walk") && rec.a0 == self);
    check_fake_walk(&w);
    CHECK_ERR(ak_byte_walk(h, NULL, &w), AK_ERR_INVALID_PARAM);
    struct ak_byte_stats st;
    ak_byte_stats(h, &st);
    CHECK(!strcmp(rec.last, "stats") && rec.a0 == self && st.total_bytes == 4242);

    /* Optional ops left NULL give the documented fallbacks. */
    ak_byte_allocator m = {&fake_byte_min, &f};
    rec.last = "none";
    CHECK_ERR(ak_byte_resize(m, p, 24, 8, 48), AK_ERR_NO_MEMORY);
    CHECK(ak_byte_usable_size(m, p, 24, 8) == 24);
    CHECK(ak_byte_check(m) == NULL);
    CHECK(!ak_byte_can_cache(m));
    CHECK_ERR(ak_byte_cache(m, p, 24, 8), AK_ERR_INVALID_PARAM);
    ak_byte_uncache(m, p, 24, 8);
    CHECK(ak_byte_cache_key(m) == NULL);
    w.n = 0;
    CHECK_ERR(ak_byte_walk(m, walk_record, &w), AK_ERR_INVALID_PARAM);
    CHECK(w.n == 0);
    CHECK(!strcmp(rec.last, "none"));
    CHECK(!strcmp(ak_byte_name(m), "?"));
    /* Stats without a stats op or a walk: the counters, free_bytes from
     * available_bytes, the rest 0. */
    st.largest_free = st.used_blocks = st.free_blocks = st.region_count = 99;
    st.failed_allocs = 99;
    ak_byte_stats(m, &st);
    CHECK(st.total_bytes == 1000 && st.used_bytes == 300 && st.free_bytes == 700);
    CHECK(st.largest_free == 0 && st.used_blocks == 0 && st.free_blocks == 0);
    CHECK(st.region_count == 0 && st.failed_allocs == 0);
    /* With a walk but no stats op: the walk's figures. */
    ak_byte_allocator wo = {&fake_byte_walk_only, &f};
    ak_byte_stats(wo, &st);
    CHECK(st.total_bytes == 1000 && st.used_bytes == 300);
    CHECK(st.free_bytes == 64 + 128 && st.largest_free == 128);
    CHECK(st.used_blocks == 2 && st.free_blocks == 2);
    CHECK(st.region_count == 0 && st.failed_allocs == 0);
}

static ak_error fp_init(void *s, uintptr_t st, size_t sz)
{
    record("init", (uintptr_t)s, st, sz, 0);
    return rec.answer;
}
static ak_error fp_add(void *s, uintptr_t st, size_t sz)
{
    record("add_memory", (uintptr_t)s, st, sz, 0);
    return rec.answer;
}
static ak_error fp_alloc(void *s, size_t n, size_t al, uintptr_t *out)
{
    record("alloc_pages", (uintptr_t)s, n, al, 0);
    *out = 0x40000;
    return rec.answer;
}
static ak_error fp_alloc_at(void *s, uintptr_t base, size_t n, size_t al, uintptr_t *out)
{
    record("alloc_pages_at", (uintptr_t)s, base, n, al);
    *out = base;
    return rec.answer;
}
static ak_error fp_dealloc(void *s, uintptr_t pos, size_t n)
{
    record("dealloc_pages", (uintptr_t)s, pos, n, 0);
    return rec.answer;
}
static size_t fp_total(const void *s)
{
    (void)s;
    return 11;
}
static size_t fp_used(const void *s)
{
    (void)s;
    return 4;
}
static size_t fp_avail(const void *s)
{
    (void)s;
    return 7;
}
static size_t fp_pgsz(const void *s)
{
    (void)s;
    return 4096;
}
static void fp_stats(const void *s, struct ak_page_stats *out)
{
    record("stats", (uintptr_t)s, 0, 0, 0);
    out->largest_free = 4343;
}
static const ak_page_allocator_ops fake_page = {
    "fakepage", fp_init,  fp_add,  fp_alloc, fp_alloc_at, fp_dealloc, fp_total,
    fp_used,    fp_avail, fp_pgsz, NULL,     fake_walk,   fp_stats};
static const ak_page_allocator_ops fake_page_walk_only = {
    "fakepage", fp_init,  fp_add,  fp_alloc, fp_alloc_at, fp_dealloc, fp_total,
    fp_used,    fp_avail, fp_pgsz, NULL,     fake_walk,   NULL};
static const ak_page_allocator_ops fake_page_min = {
    "fakepage", fp_init,  fp_add,  fp_alloc, fp_alloc_at, fp_dealloc, fp_total,
    fp_used,    fp_avail, fp_pgsz, NULL,     NULL,        NULL};

static void test_page_dispatch(void)
{
    fake f = {2};
    ak_page_allocator h = {&fake_page, &f};
    rec.answer = AK_OK;
    CHECK_OK(ak_page_init(h, 0x100000, 0x200000));
    CHECK(!strcmp(rec.last, "init") && rec.a0 == (uintptr_t)&f && rec.a1 == 0x100000);
    CHECK_OK(ak_page_add_memory(h, 0x900000, 0x1000));
    CHECK(!strcmp(rec.last, "add_memory") && rec.a2 == 0x1000);
    uintptr_t out = 0;
    CHECK_OK(ak_page_alloc_pages(h, 3, 0x4000, &out));
    CHECK(!strcmp(rec.last, "alloc_pages") && rec.a1 == 3 && rec.a2 == 0x4000 && out == 0x40000);
    CHECK_OK(ak_page_alloc_pages_at(h, 0x80000, 2, 0x1000, &out));
    CHECK(!strcmp(rec.last, "alloc_pages_at") && rec.a1 == 0x80000 && rec.a2 == 2 &&
          out == 0x80000);
    rec.answer = AK_ERR_NOT_ALLOCATED;
    CHECK_ERR(ak_page_dealloc_pages(h, 0x80000, 2), AK_ERR_NOT_ALLOCATED);
    CHECK(!strcmp(rec.last, "dealloc_pages") && rec.a1 == 0x80000 && rec.a2 == 2);
    CHECK(ak_page_total_pages(h) == 11);
    CHECK(ak_page_used_pages(h) == 4);
    CHECK(ak_page_available_pages(h) == 7);
    CHECK(ak_page_page_size(h) == 4096);
    CHECK(!strcmp(ak_page_name(h), "fakepage"));
    CHECK(ak_page_check(h) == NULL);
    walk_seen w = {0};
    CHECK_OK(ak_page_walk(h, walk_record, &w));
    check_fake_walk(&w);
    CHECK_ERR(ak_page_walk(h, NULL, &w), AK_ERR_INVALID_PARAM);
    struct ak_page_stats st;
    ak_page_stats(h, &st);
    CHECK(!strcmp(rec.last, "stats") && st.largest_free == 4343);
    /* The fallbacks: runs from the walk, or none. */
    ak_page_allocator wo = {&fake_page_walk_only, &f};
    ak_page_stats(wo, &st);
    CHECK(st.total_pages == 11 && st.used_pages == 4 && st.free_pages == 7);
    CHECK(st.largest_free == 128 && st.used_runs == 2 && st.free_runs == 2);
    CHECK(st.region_count == 0 && st.failed_allocs == 0);
    ak_page_allocator mn = {&fake_page_min, &f};
    w.n = 0;
    CHECK_ERR(ak_page_walk(mn, walk_record, &w), AK_ERR_INVALID_PARAM);
    CHECK(w.n == 0);
    ak_page_stats(mn, &st);
    CHECK(st.total_pages == 11 && st.used_pages == 4 && st.free_pages == 7);
    CHECK(st.largest_free == 0 && st.used_runs == 0 && st.free_runs == 0);
}

static ak_error fi_init(void *s, uintptr_t st, size_t sz)
{
    record("init", (uintptr_t)s, st, sz, 0);
    return rec.answer;
}
static ak_error fi_add(void *s, uintptr_t st, size_t sz)
{
    record("add_memory", (uintptr_t)s, st, sz, 0);
    return rec.answer;
}
static ak_error fi_alloc(void *s, size_t n, size_t al, size_t *out)
{
    record("alloc_id", (uintptr_t)s, n, al, 0);
    *out = 77;
    return rec.answer;
}
static ak_error fi_dealloc(void *s, size_t id, size_t n)
{
    record("dealloc_id", (uintptr_t)s, id, n, 0);
    return rec.answer;
}
static bool fi_is(const void *s, size_t id)
{
    record("is_allocated", (uintptr_t)s, id, 0, 0);
    return id == 77;
}
static ak_error fi_fixed(void *s, size_t id)
{
    record("alloc_fixed_id", (uintptr_t)s, id, 0, 0);
    return rec.answer;
}
static size_t fi_size(const void *s)
{
    (void)s;
    return 100;
}
static size_t fi_used(const void *s)
{
    (void)s;
    return 1;
}
static size_t fi_avail(const void *s)
{
    (void)s;
    return 99;
}
static const char *fi_check(const void *s)
{
    (void)s;
    return "counters disagree";
}
static void fi_stats(const void *s, struct ak_id_stats *out)
{
    record("stats", (uintptr_t)s, 0, 0, 0);
    out->free_runs = 4444;
}
static const ak_id_allocator_ops fake_id = {"fakeid", fi_init,   fi_add,  fi_alloc, fi_dealloc,
                                            fi_is,    fi_fixed,  fi_size, fi_used,  fi_avail,
                                            fi_check, fake_walk, fi_stats};
static const ak_id_allocator_ops fake_id_walk_only = {
    "fakeid", fi_init, fi_add,   fi_alloc, fi_dealloc, fi_is, fi_fixed,
    fi_size,  fi_used, fi_avail, fi_check, fake_walk,  NULL};
static const ak_id_allocator_ops fake_id_min = {"fakeid", fi_init,  fi_add,  fi_alloc, fi_dealloc,
                                                fi_is,    fi_fixed, fi_size, fi_used,  fi_avail,
                                                fi_check, NULL,     NULL};

static void test_id_dispatch(void)
{
    fake f = {3};
    ak_id_allocator h = {&fake_id, &f};
    rec.answer = AK_OK;
    CHECK_OK(ak_id_init(h, 10, 100));
    CHECK(!strcmp(rec.last, "init") && rec.a1 == 10 && rec.a2 == 100);
    CHECK_OK(ak_id_add_memory(h, 500, 5));
    CHECK(!strcmp(rec.last, "add_memory") && rec.a1 == 500);
    size_t id = 0;
    CHECK_OK(ak_id_alloc_id(h, 4, 2, &id));
    CHECK(!strcmp(rec.last, "alloc_id") && rec.a1 == 4 && rec.a2 == 2 && id == 77);
    CHECK(ak_id_is_allocated(h, 77));
    CHECK(!ak_id_is_allocated(h, 78) && rec.a1 == 78);
    rec.answer = AK_ERR_NO_MEMORY;
    CHECK_ERR(ak_id_alloc_fixed_id(h, 12), AK_ERR_NO_MEMORY);
    CHECK(!strcmp(rec.last, "alloc_fixed_id") && rec.a1 == 12);
    rec.answer = AK_OK;
    CHECK_OK(ak_id_dealloc_id(h, 77, 4));
    CHECK(!strcmp(rec.last, "dealloc_id") && rec.a1 == 77 && rec.a2 == 4);
    CHECK(ak_id_size(h) == 100 && ak_id_used(h) == 1 && ak_id_available(h) == 99);
    CHECK(!strcmp(ak_id_name(h), "fakeid"));
    CHECK(ak_id_check(h) != NULL && !strcmp(ak_id_check(h), "counters disagree"));
    walk_seen w = {0};
    CHECK_OK(ak_id_walk(h, walk_record, &w));
    check_fake_walk(&w);
    CHECK_ERR(ak_id_walk(h, NULL, &w), AK_ERR_INVALID_PARAM);
    struct ak_id_stats st;
    ak_id_stats(h, &st);
    CHECK(!strcmp(rec.last, "stats") && st.free_runs == 4444);
    ak_id_allocator wo = {&fake_id_walk_only, &f};
    ak_id_stats(wo, &st);
    CHECK(st.total_ids == 100 && st.used_ids == 1 && st.free_ids == 99);
    CHECK(st.largest_free == 128 && st.used_runs == 2 && st.free_runs == 2);
    CHECK(st.region_count == 0 && st.failed_allocs == 0);
    ak_id_allocator mn = {&fake_id_min, &f};
    w.n = 0;
    CHECK_ERR(ak_id_walk(mn, walk_record, &w), AK_ERR_INVALID_PARAM);
    CHECK(w.n == 0);
    ak_id_stats(mn, &st);
    CHECK(st.total_ids == 100 && st.used_ids == 1 && st.free_ids == 99);
    CHECK(st.largest_free == 0 && st.used_runs == 0 && st.free_runs == 0);
}

static void test_config(void)
{
#ifndef AK_HAVE_TLSF
    CHECK(!"<allockit/config.h> was not found by <allockit.h>");
#else
    CHECK(AK_HAVE_TLSF == 0 || AK_HAVE_TLSF == 1);
    CHECK(AK_HAVE_BUDDY == 0 || AK_HAVE_BUDDY == 1);
    CHECK(AK_HAVE_SLAB == 0 || AK_HAVE_SLAB == 1);
    CHECK(AK_HAVE_BITMAP_PAGE == 0 || AK_HAVE_BITMAP_PAGE == 1);
    CHECK(AK_HAVE_BITMAP_ID == 0 || AK_HAVE_BITMAP_ID == 1);
    const unsigned long long caps[] = {65536ull, 1048576ull, 16777216ull, 268435456ull};
    int known = 0;
    for (int i = 0; i < 4; i++)
        known |= AK_PAGE_ALLOC_CAPACITY_PAGES == caps[i];
    CHECK(known);
    CHECK(AK_ID_CAPACITY > 0);
#endif
}

int main(int argc, char **argv)
{
    ak_test_init(argc, argv, "test_core");
    RUN(test_strerror);
    RUN(test_align_helpers);
    RUN(test_internal_bits);
    RUN(test_region_index);
    RUN(test_size_classes);
    RUN(test_byte_dispatch);
    RUN(test_page_dispatch);
    RUN(test_id_dispatch);
    RUN(test_config);
    return ak_test_finish();
}
