/* Bitmap ID allocator tests: basic use (IDs 1..N, lowest first, reuse of
 * the lowest freed ID), counts and alignment, every error of the contract,
 * several ranges and re-basing, IDs at the top of size_t, the interface
 * handle, the checker, a churn of IDs over the whole capacity, and a
 * randomised model test against a plain per-ID array (alloc_id,
 * alloc_fixed_id, dealloc_id, is_allocated and deliberately bad calls;
 * after every bad call the state is unchanged). --ops sets the model
 * test's operations (default 1200000; --quick 60000). */
#include "testlib.h"
#include "walk_check.h"

#include "hbitmap.h"
#include <allockit.h>

#define CAP         ((size_t)AK_ID_CAPACITY)
#define CHECK_ID(a) CHECK_INVARIANTS(ak_bitmap_id_check(a))
#define check_counts(a, total, used_)                                                              \
    do {                                                                                           \
        size_t t_ = (total), u_ = (used_);                                                         \
        CHECKF(ak_bitmap_id_size(a) == t_, "size %zu", ak_bitmap_id_size(a));                      \
        CHECKF(ak_bitmap_id_used(a) == u_, "used %zu", ak_bitmap_id_used(a));                      \
        CHECK(ak_bitmap_id_available(a) == t_ - u_);                                               \
    } while (0)

static ak_bitmap_id ids;

static void test_basic(void)
{
    const size_t n = CAP < 1000 ? CAP : 1000;
    CHECK_OK(ak_bitmap_id_init(&ids, 1, n));
    check_counts(&ids, n, 0);
    size_t id;
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1, &id));
        CHECK(id == 1 + i);
        CHECK(ak_bitmap_id_is_allocated(&ids, id));
    }
    check_counts(&ids, n, n);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 1, 1, &id), AK_ERR_NO_MEMORY);
    CHECK(!ak_bitmap_id_is_allocated(&ids, 0));
    CHECK(!ak_bitmap_id_is_allocated(&ids, n + 1));
    /* The lowest freed ID comes back first. */
    if (n >= 10) {
        CHECK_OK(ak_bitmap_id_dealloc_id(&ids, 7, 1));
        CHECK_OK(ak_bitmap_id_dealloc_id(&ids, 3, 1));
        CHECK(!ak_bitmap_id_is_allocated(&ids, 3) && !ak_bitmap_id_is_allocated(&ids, 7));
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1, &id));
        CHECK(id == 3);
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1, &id));
        CHECK(id == 7);
    }
    CHECK_OK(ak_bitmap_id_dealloc_id(&ids, 1, n));
    check_counts(&ids, n, 0);
    CHECK_ID(&ids);
    /* Runs and alignment of the ID value (the range starts at 1). */
    if (n >= 64) {
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 4, 1, &id));
        CHECK(id == 1);
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 3, 8, &id));
        CHECK(id == 8);
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 2, 1, &id));
        CHECK(id == 5);
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1, &id));
        CHECK(id == 7);
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1, &id));
        CHECK(id == 11);
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 20, 16, &id));
        CHECK(id == 16);
        CHECK_OK(ak_bitmap_id_alloc_fixed_id(&ids, 12));
        CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&ids, 12), AK_ERR_NO_MEMORY);
        check_counts(&ids, n, 4 + 3 + 2 + 1 + 1 + 20 + 1);
        CHECK_ID(&ids);
    }
}

static void test_zero_initialised(void)
{
    static ak_bitmap_id z;
    memset(&z, 0, sizeof z);
    check_counts(&z, 0, 0);
    CHECK_ID(&z);
    size_t id = 77;
    CHECK_ERR(ak_bitmap_id_alloc_id(&z, 1, 1, &id), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&z, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_dealloc_id(&z, 0, 1), AK_ERR_NOT_ALLOCATED);
    CHECK(!ak_bitmap_id_is_allocated(&z, 0));
    CHECK(id == 77);
    CHECK_OK(ak_bitmap_id_add_memory(&z, 100, CAP < 10 ? CAP : 10));
    CHECK_OK(ak_bitmap_id_alloc_id(&z, 1, 1, &id));
    CHECK(id == 100);
    CHECK_ID(&z);
}

static void test_errors(void)
{
    size_t id = 77;
    if (CAP < 200) {
        printf("(capacity too small, skipped) ");
        return;
    }
    memset(&ids, 0x3c, sizeof ids); /* init works on garbage */
    CHECK_ERR(ak_bitmap_id_init(&ids, 0, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_init(&ids, SIZE_MAX, 2), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_init(&ids, 1, SIZE_MAX), AK_ERR_INVALID_PARAM);
    if (CAP < SIZE_MAX)
        CHECK_ERR(ak_bitmap_id_init(&ids, 0, CAP + 1), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_bitmap_id_init(&ids, 1000, CAP));
    check_counts(&ids, CAP, 0);
    CHECK_OK(ak_bitmap_id_init(&ids, 1000, 100));
    check_counts(&ids, 100, 0);
    /* alloc_id */
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 0, 1, &id), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 1, 0, &id), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 1, 3, &id), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 1, SIZE_MAX, &id), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 101, 1, &id), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, SIZE_MAX, 1, &id), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 1, 2048, &id), AK_ERR_NO_MEMORY); /* no multiple */
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 1, (SIZE_MAX >> 1) + 1, &id), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 80, 512, &id), AK_ERR_NO_MEMORY); /* 1024 + 80 > 1100 */
    CHECK(id == 77);
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1024, &id));
    CHECK(id == 1024);
    /* alloc_fixed_id */
    CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&ids, 999), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&ids, 1100), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&ids, SIZE_MAX), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&ids, 1024), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_bitmap_id_alloc_fixed_id(&ids, 1099));
    CHECK_OK(ak_bitmap_id_alloc_fixed_id(&ids, 1000));
    check_counts(&ids, 100, 3);
    /* dealloc_id */
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, 1000, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, 1001, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, 1000, 2), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, 999, 2), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, 1099, 2), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, 1100, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, 1000, SIZE_MAX), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, SIZE_MAX, 1), AK_ERR_NOT_ALLOCATED);
    check_counts(&ids, 100, 3);
    CHECK(ak_bitmap_id_is_allocated(&ids, 1000) && ak_bitmap_id_is_allocated(&ids, 1099));
    CHECK_OK(ak_bitmap_id_dealloc_id(&ids, 1000, 1));
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, 1000, 1), AK_ERR_NOT_ALLOCATED);
    /* add_memory */
    CHECK_ERR(ak_bitmap_id_add_memory(&ids, 1000, 100), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_bitmap_id_add_memory(&ids, 990, 11), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_bitmap_id_add_memory(&ids, 1099, 5), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_bitmap_id_add_memory(&ids, 1050, 1), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_bitmap_id_add_memory(&ids, 0, 5000), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_bitmap_id_add_memory(&ids, 5000, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_add_memory(&ids, SIZE_MAX - 1, 3), AK_ERR_INVALID_PARAM);
    if (CAP < SIZE_MAX / 2) {
        CHECK_ERR(ak_bitmap_id_add_memory(&ids, 1000 + CAP, 1), AK_ERR_INVALID_PARAM);
        CHECK_ERR(ak_bitmap_id_add_memory(&ids, 1099 - CAP, 1), AK_ERR_INVALID_PARAM);
        CHECK_OK(ak_bitmap_id_add_memory(&ids, 1000 + CAP - 1, 1));
    }
    check_counts(&ids, CAP < SIZE_MAX / 2 ? 101 : 100, 2);
    CHECK_ID(&ids);
}

static void test_ranges_and_rebase(void)
{
    if (CAP < 200) {
        printf("(capacity too small, skipped) ");
        return;
    }
    size_t id;
    CHECK_OK(ak_bitmap_id_init(&ids, 100, 10));
    CHECK_OK(ak_bitmap_id_add_memory(&ids, 120, 10));
    check_counts(&ids, 20, 0);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 11, 1, &id), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 10, 1, &id));
    CHECK(id == 100);
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1, &id));
    CHECK(id == 120);
    CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&ids, 115), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, 110, 1), AK_ERR_NOT_ALLOCATED);
    CHECK(!ak_bitmap_id_is_allocated(&ids, 110));
    /* Below the base: the bitmap moves; live IDs stay live. */
    CHECK_OK(ak_bitmap_id_add_memory(&ids, 40, 5));
    check_counts(&ids, 25, 11);
    CHECK_ID(&ids);
    CHECK(ak_bitmap_id_is_allocated(&ids, 100) && ak_bitmap_id_is_allocated(&ids, 120));
    CHECK(!ak_bitmap_id_is_allocated(&ids, 121) && !ak_bitmap_id_is_allocated(&ids, 40));
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 2, 2, &id));
    CHECK(id == 40);
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 2, 2, &id));
    CHECK(id == 42);
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 2, 2, &id));
    CHECK(id == 122);
    /* Touching ranges merge; a run may then cross the old edge. */
    CHECK_OK(ak_bitmap_id_add_memory(&ids, 110, 10));
    CHECK(ids.nranges == 2);
    CHECK_OK(ak_bitmap_id_dealloc_id(&ids, 100, 10));
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 21, 1, &id), AK_ERR_NO_MEMORY); /* 120 is live */
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 20, 1, &id));
    CHECK(id == 100);
    CHECK_OK(ak_bitmap_id_dealloc_id(&ids, 105, 15));
    CHECK_ID(&ids);
    /* Range records run out: NO_MEMORY; touching ones still merge. */
    CHECK_OK(ak_bitmap_id_init(&ids, 0, 1));
    for (size_t i = 1; i < AK_BITMAP_ID_MAX_RANGES; i++)
        CHECK_OK(ak_bitmap_id_add_memory(&ids, 2 * i, 1));
    CHECK_ERR(ak_bitmap_id_add_memory(&ids, 1000, 1), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_bitmap_id_add_memory(&ids, 1, 1));
    CHECK_OK(ak_bitmap_id_add_memory(&ids, 1000, 1));
    check_counts(&ids, AK_BITMAP_ID_MAX_RANGES + 2, 0);
    CHECK_ID(&ids);
}

/* IDs at the very top of size_t: nothing wraps. */
static void test_top_ids(void)
{
    size_t id;
    if (CAP < 100) {
        printf("(capacity too small, skipped) ");
        return;
    }
    const size_t start = SIZE_MAX - 100;
    CHECK_OK(ak_bitmap_id_init(&ids, start, 100)); /* up to SIZE_MAX - 1 */
    CHECK_ERR(ak_bitmap_id_add_memory(&ids, SIZE_MAX, 1), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 100, 1, &id));
    CHECK(id == start);
    CHECK(ak_bitmap_id_is_allocated(&ids, SIZE_MAX - 1) &&
          !ak_bitmap_id_is_allocated(&ids, SIZE_MAX));
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, SIZE_MAX - 1, 2), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, start, SIZE_MAX), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&ids, SIZE_MAX), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_bitmap_id_dealloc_id(&ids, start, 100));
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 4, 4, &id));
    CHECK(id % 4 == 0 && id >= start && id + 3 <= SIZE_MAX - 1);
    CHECK_ID(&ids);
}

static void test_interface(void)
{
    ak_id_allocator h = ak_bitmap_id_as_id(&ids);
    if (CAP < 64) {
        printf("(capacity too small, skipped) ");
        return;
    }
    CHECK(strcmp(ak_id_name(h), "bitmap_id") == 0);
    CHECK(h.ops->check != NULL && h.self == &ids);
    CHECK_OK(ak_id_init(h, 10, 20));
    CHECK_OK(ak_id_add_memory(h, 40, 5));
    CHECK(ak_id_size(h) == 25);
    size_t id;
    CHECK_OK(ak_id_alloc_id(h, 3, 4, &id));
    CHECK(id == 12);
    CHECK_OK(ak_id_alloc_fixed_id(h, 41));
    CHECK(ak_id_is_allocated(h, 41) && !ak_id_is_allocated(h, 40));
    CHECK(ak_id_used(h) == 4 && ak_id_available(h) == 21);
    CHECK_ERR(ak_id_dealloc_id(h, 40, 2), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_id_dealloc_id(h, 12, 3));
    CHECK_INVARIANTS(ak_id_check(h));
}

/* The walk by hand: maximal runs in ID order, the ranges in order
 * whatever order they came in; the handle gives the same; the stats and
 * the failed allocations, which init forgets. */
static void test_walk_stats(void)
{
    if (CAP < 64) {
        printf("(capacity too small, skipped) ");
        return;
    }
    wc_walk w = {0}, wh = {0};
    struct ak_id_stats st, sh;
    static ak_bitmap_id z; /* zero-initialised: nothing */
    ak_bitmap_id_walk(&z, wc_collect, &w);
    ak_bitmap_id_stats(&z, &st);
    CHECK(w.n == 0 && st.total_ids == 0 && st.free_runs == 0 && st.region_count == 0);
    CHECK_OK(ak_bitmap_id_init(&ids, 40, 5));
    CHECK_OK(ak_bitmap_id_add_memory(&ids, 10, 20));
    size_t id, x;
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 3, 1, &id));
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 2, 1, &x));
    CHECK(id == 10 && x == 13);
    CHECK_OK(ak_bitmap_id_alloc_fixed_id(&ids, 44));
    ak_bitmap_id_walk(&ids, wc_collect, &w);
    const wc_block want[] = {{10, 5, true}, {15, 15, false}, {40, 4, false}, {44, 1, true}};
    CHECK(w.n == 4);
    for (size_t i = 0; i < 4 && i < w.n; i++)
        CHECKF(w.v[i].start == want[i].start && w.v[i].size == want[i].size &&
                   w.v[i].used == want[i].used,
               "run %zu", i);
    CHECK_OK(ak_id_walk(ak_bitmap_id_as_id(&ids), wc_collect, &wh));
    CHECK(wc_equal(&w, &wh));
    ak_bitmap_id_stats(&ids, &st);
    ak_id_stats(ak_bitmap_id_as_id(&ids), &sh);
    CHECK(memcmp(&st, &sh, sizeof st) == 0);
    CHECK(st.total_ids == 25 && st.used_ids == 6 && st.free_ids == 19);
    CHECK(st.largest_free == 15 && st.used_runs == 2 && st.free_runs == 2);
    CHECK(st.region_count == 2 && st.failed_allocs == 0);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 16, 1, &x), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&ids, 44), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&ids, 35), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 0, 1, &x), AK_ERR_INVALID_PARAM);
    while (ak_bitmap_id_alloc_id(&ids, 1, 1, &x) == AK_OK)
        ;
    ak_bitmap_id_stats(&ids, &st);
    CHECK(st.failed_allocs == 3 && st.free_runs == 0 && st.used_runs == 2 && st.largest_free == 0);
    CHECK_OK(ak_bitmap_id_init(&ids, 40, 5));
    ak_bitmap_id_stats(&ids, &st);
    CHECK(st.failed_allocs == 0 && st.region_count == 1 && st.largest_free == 5);
    CHECK_ID(&ids);
    wc_free(&w);
    wc_free(&wh);
}

static void test_check_detects(void)
{
    static const ak_hb_geom g = AK_HB_GEOM(AK_BITMAP_ID_BITS);
    CHECK_OK(ak_bitmap_id_init(&ids, 0, CAP < 200 ? CAP : 200));
    size_t id;
    CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1, &id));
    CHECK_ID(&ids);
    ids.bits[0] ^= 1;
    CHECK(ak_bitmap_id_check(&ids) != NULL);
    ids.bits[0] ^= 1;
    if (g.levels > 1) {
        ids.bits[g.full[1]] ^= 1;
        CHECK(ak_bitmap_id_check(&ids) != NULL);
        ids.bits[g.full[1]] ^= 1;
    }
    if (CAP > 200) {
        ak_hb_set_free(&g, ids.bits, 200, 1); /* outside the range */
        CHECK(ak_bitmap_id_check(&ids) != NULL);
        ak_hb_set_used(&g, ids.bits, 200, 1);
    }
    ids.used = 0;
    CHECK(ak_bitmap_id_check(&ids) != NULL);
    ids.used = 1;
    ids.size++;
    CHECK(ak_bitmap_id_check(&ids) != NULL);
    ids.size--;
    CHECK_ID(&ids);
}

/* Fill the whole capacity one ID at a time, then churn: free a random
 * ID, allocate again (it must get the lowest free one). */
static void test_churn(void)
{
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed ^ 0x1d);
    CHECK_OK(ak_bitmap_id_init(&ids, 0, CAP));
    size_t id;
    for (size_t i = 0; i < CAP; i++) {
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1, &id));
        CHECK(id == i);
    }
    CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 1, 1, &id), AK_ERR_NO_MEMORY);
    const uint64_t rounds = ak_test_ops(1000000, 50000);
    for (uint64_t k = 0; k < rounds; k++) {
        size_t a = (size_t)ak_rng_below(&r, CAP), b = (size_t)ak_rng_below(&r, CAP);
        CHECK_OK(ak_bitmap_id_dealloc_id(&ids, a, 1));
        if (b != a)
            CHECK_OK(ak_bitmap_id_dealloc_id(&ids, b, 1));
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1, &id));
        CHECK(id == (a < b ? a : b));
        if (b != a) {
            CHECK_OK(ak_bitmap_id_alloc_id(&ids, 1, 1, &id));
            CHECK(id == (a < b ? b : a));
        }
    }
    check_counts(&ids, CAP, CAP);
    CHECK_ID(&ids);
}

/* ---- randomised model test ---- */

#define MODEL_SPAN 20000u

static unsigned char managed[MODEL_SPAN], taken[MODEL_SPAN];

typedef struct live_run {
    size_t id, n;
} live_run;
static live_run live[MODEL_SPAN];
static size_t nlive;

static bool model_free_run(size_t i, size_t n)
{
    if (i > MODEL_SPAN || n > MODEL_SPAN - i)
        return false;
    for (size_t k = i; k < i + n; k++)
        if (!managed[k] || taken[k])
            return false;
    return true;
}

/* The walk is the model's runs, the stats their figures, and the longest
 * free run can be allocated. */
static void model_walk_compare(size_t lowest, size_t span, size_t ranges, size_t failed)
{
    static wc_walk w;
    wc_reset(&w);
    ak_bitmap_id_walk(&ids, wc_collect, &w);
    wc_runs m;
    const char *why = wc_check_runs(&w, managed, taken, span, lowest, 1, &m);
    CHECKF(why == NULL, "%s", why);
    struct ak_id_stats st;
    ak_bitmap_id_stats(&ids, &st);
    CHECK(st.total_ids == m.used_units + m.free_units && st.used_ids == m.used_units);
    CHECK(st.free_ids == m.free_units && st.largest_free == m.largest_free);
    CHECK(st.used_runs == m.used_runs && st.free_runs == m.free_runs);
    CHECK(st.region_count == ranges);
    CHECKF(st.failed_allocs == failed, "failed_allocs %zu, %zu counted", st.failed_allocs, failed);
    if (st.largest_free) {
        size_t id;
        CHECK_OK(ak_bitmap_id_alloc_id(&ids, st.largest_free, 1, &id));
        CHECK_OK(ak_bitmap_id_dealloc_id(&ids, id, st.largest_free));
    }
}

static void test_model(void)
{
    const size_t span = CAP < MODEL_SPAN ? CAP : MODEL_SPAN;
    if (span < 64) {
        printf("(capacity too small, skipped) ");
        return;
    }
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed ^ 0x1d1d);
    const uint64_t ops = ak_test_ops(1200000, 60000);
    const size_t lowest = 3 + (size_t)ak_rng_below(&r, 1000);
    memset(managed, 0, sizeof managed);
    memset(taken, 0, sizeof taken);
    nlive = 0;
    /* Ranges with gaps, added out of order. */
    const size_t cut1 = span / 3, cut2 = span / 3 + span / 50 + 1, cut3 = span * 2 / 3;
    CHECK_OK(ak_bitmap_id_init(&ids, lowest + cut2, cut3 - cut2));
    CHECK_OK(ak_bitmap_id_add_memory(&ids, lowest, cut1));
    CHECK_OK(ak_bitmap_id_add_memory(&ids, lowest + cut3 + 7, span - cut3 - 7));
    memset(managed, 1, cut1);
    memset(managed + cut2, 1, cut3 - cut2);
    memset(managed + cut3 + 7, 1, span - cut3 - 7);
    size_t size = 0, used = 0;
    for (size_t i = 0; i < span; i++)
        size += managed[i];
    check_counts(&ids, size, 0);
    size_t failed = 0;
    model_walk_compare(lowest, span, 3, 0);
    unsigned log_span = 0;
    while (((size_t)1 << log_span) < span)
        log_span++;
    for (uint64_t op = 0; op < ops; op++) {
        const bool fuller = used * 10 > size * 7;
        const unsigned kind = (unsigned)ak_rng_below(&r, 100);
        const unsigned t_alloc = fuller ? 25 : 45;
        size_t out = 0x77;
        if (kind < t_alloc) {
            size_t n = ak_rng_below(&r, 8) ? (size_t)ak_rng_log_uniform(&r, 1, 32)
                                           : (size_t)ak_rng_log_uniform(&r, 1, span / 4);
            size_t align = (size_t)1 << ak_rng_below(&r, ak_rng_below(&r, 3) ? 6 : log_span + 1);
            ak_error e = ak_bitmap_id_alloc_id(&ids, n, align, &out);
            bool scan = e != AK_OK || op % 29 == 0;
            size_t want = SIZE_MAX;
            if (scan) {
                size_t first = (0 - lowest) & (align - 1);
                for (size_t i = first; i < span; i += align)
                    if (model_free_run(i, n)) {
                        want = i;
                        break;
                    }
            }
            if (e == AK_OK) {
                CHECK(out % align == 0 && out >= lowest);
                size_t i = out - lowest;
                CHECKF(model_free_run(i, n), "alloc %zu gave %zu", n, out);
                if (scan)
                    CHECKF(i == want, "not lowest: %zu, want %zu", i, want);
                memset(taken + i, 1, n);
                live[nlive].id = out;
                live[nlive++].n = n;
                used += n;
            } else {
                CHECK_ERR(e, AK_ERR_NO_MEMORY);
                CHECKF(want == SIZE_MAX, "NO_MEMORY but %zu fits n=%zu align=%zu", want, n, align);
                CHECK(out == 0x77);
                failed++;
            }
        } else if (kind < t_alloc + 8) {
            size_t i = (size_t)ak_rng_below(&r, span + 40);
            size_t id = lowest - 20 + i;
            ak_error want = AK_OK;
            size_t idx = i - 20;
            if (i < 20 || idx >= span || !managed[idx])
                want = AK_ERR_INVALID_PARAM;
            else if (taken[idx])
                want = AK_ERR_NO_MEMORY;
            CHECK_ERR(ak_bitmap_id_alloc_fixed_id(&ids, id), want);
            failed += want == AK_ERR_NO_MEMORY;
            if (want == AK_OK) {
                taken[idx] = 1;
                live[nlive].id = id;
                live[nlive++].n = 1;
                used++;
            }
            CHECK(ak_bitmap_id_is_allocated(&ids, id) == (want != AK_ERR_INVALID_PARAM));
        } else if (kind < 82) {
            if (!nlive)
                continue;
            size_t k = (size_t)ak_rng_below(&r, nlive);
            live_run b = live[k];
            CHECK_OK(ak_bitmap_id_dealloc_id(&ids, b.id, b.n));
            memset(taken + (b.id - lowest), 0, b.n);
            live[k] = live[--nlive];
            used -= b.n;
        } else {
            /* Bad calls: a range not entirely allocated; count 0; a bad
             * alignment. Each must change nothing. */
            size_t i = (size_t)ak_rng_below(&r, span), n = (size_t)ak_rng_log_uniform(&r, 1, 64);
            unsigned bad = (unsigned)ak_rng_below(&r, 3);
            if (bad == 0) {
                bool all = i + n <= span;
                for (size_t k = i; all && k < i + n; k++)
                    all = managed[k] && taken[k];
                if (all)
                    continue;
                CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, lowest + i, n), AK_ERR_NOT_ALLOCATED);
            } else if (bad == 1) {
                CHECK_ERR(ak_bitmap_id_dealloc_id(&ids, lowest + i, 0), AK_ERR_INVALID_PARAM);
                CHECK_ERR(ak_bitmap_id_alloc_id(&ids, 0, 1, &out), AK_ERR_INVALID_PARAM);
            } else {
                CHECK_ERR(ak_bitmap_id_alloc_id(&ids, n, n | 0x10000 | 3, &out),
                          AK_ERR_INVALID_PARAM);
            }
            CHECK(out == 0x77);
            for (size_t k = i; k < i + n && k < span; k++)
                CHECK(ak_bitmap_id_is_allocated(&ids, lowest + k) == (managed[k] && taken[k]));
        }
        CHECK(ak_bitmap_id_used(&ids) == used && ak_bitmap_id_size(&ids) == size);
        if (op % 997 == 0)
            model_walk_compare(lowest, span, 3, failed);
        if (op % 10007 == 0) {
            CHECK_ID(&ids);
            for (size_t k = 0; k < span; k++)
                CHECK(ak_bitmap_id_is_allocated(&ids, lowest + k) == (managed[k] && taken[k]));
        }
    }
    CHECK_ID(&ids);
    CHECK(failed > 0);
    model_walk_compare(lowest, span, 3, failed);
    while (nlive) {
        live_run b = live[--nlive];
        CHECK_OK(ak_bitmap_id_dealloc_id(&ids, b.id, b.n));
    }
    check_counts(&ids, size, 0);
    CHECK_ID(&ids);
}

int main(int argc, char **argv)
{
    ak_test_init(argc, argv, "test_bitmap_id");
    RUN(test_basic);
    RUN(test_zero_initialised);
    RUN(test_errors);
    RUN(test_ranges_and_rebase);
    RUN(test_top_ids);
    RUN(test_interface);
    RUN(test_walk_stats);
    RUN(test_check_detects);
    RUN(test_churn);
    RUN(test_model);
    return ak_test_finish();
}
