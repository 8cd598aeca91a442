/* Slab allocator tests: the class table and every class boundary and
 * alignment, slab return on empty and the one-cached-empty-slab rule,
 * release of cached slabs under memory pressure, the large path, bad frees
 * of every kind with the state compared before and after, sizes near
 * SIZE_MAX, resize, the byte interface, and a randomised model test over
 * several regions (contents, alignment, bounds, no overlap, the checker).
 * Options: --seed, --ops (model-test operations, default 1500000),
 * --quick (100000 operations). */
#include "testlib.h"

#include "ak_internal.h"
#include <allockit.h>

#define MIB         ((size_t)1 << 20)
#define LARGE_CLASS AK_SLAB_CLASS_COUNT
/* What a region of n bytes gives up to the slab layer: its frame
 * descriptor table (64 bytes per 4 KiB frame, 1/64) and the record. */
#define TABLE_MAX(n) ((n) / 64 + 2 * 64 + 64)

/* ---- helpers ---- */

/* Region memory from the C library, freed at the end of each test. */
static void *bufs[16];
static unsigned nbufs;

static uintptr_t region(size_t size)
{
    void *p = aligned_alloc(65536, (size + 65535) & ~(size_t)65535);
    if (!p) {
        printf("out of host memory\n");
        exit(1);
    }
    bufs[nbufs++] = p;
    return (uintptr_t)p;
}

static void free_regions(void)
{
    while (nbufs)
        free(bufs[--nbufs]);
}

/* Everything observable about an allocator, to compare before and after
 * a call that must change nothing. */
typedef struct snapshot {
    ak_slab_stats_info all;
    ak_slab_class_info cls[AK_SLAB_CLASS_COUNT];
    size_t total, used, avail;
} snapshot;

static void snap(const ak_slab *a, snapshot *s)
{
    memset(s, 0, sizeof *s);
    ak_slab_stats(a, &s->all);
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++)
        CHECK_OK(ak_slab_class_stats(a, c, &s->cls[c]));
    s->total = ak_slab_total_bytes(a);
    s->used = ak_slab_used_bytes(a);
    s->avail = ak_slab_available_bytes(a);
}

static int snap_same(const snapshot *x, const snapshot *y)
{
    return memcmp(x, y, sizeof *x) == 0;
}

/* A bad call: gives `expected` and changes nothing. */
#define CHECK_BAD(a, expr, expected)                                                               \
    do {                                                                                           \
        snapshot b_, a_;                                                                           \
        snap((a), &b_);                                                                            \
        CHECK_ERR(expr, expected);                                                                 \
        snap((a), &a_);                                                                            \
        CHECK(snap_same(&b_, &a_));                                                                \
        CHECK_INVARIANTS(ak_slab_check(a));                                                        \
    } while (0)

/* A bad call that the TLSF judges (a large free of something that is not
 * a large block): AK_ERR_NOT_ALLOCATED or AK_ERR_INVALID_PARAM, and
 * nothing changes. */
#define CHECK_BAD_TLSF(a, expr)                                                                    \
    do {                                                                                           \
        snapshot b_, a_;                                                                           \
        snap((a), &b_);                                                                            \
        ak_error e_ = (expr);                                                                      \
        CHECKF(e_ == AK_ERR_NOT_ALLOCATED || e_ == AK_ERR_INVALID_PARAM, "%s gave %s", #expr,      \
               ak_error_name(e_));                                                                 \
        snap((a), &a_);                                                                            \
        CHECK(snap_same(&b_, &a_));                                                                \
        CHECK_INVARIANTS(ak_slab_check(a));                                                        \
    } while (0)

static size_t class_info_of(const ak_slab *a, unsigned c, ak_slab_class_info *ci)
{
    CHECK_OK(ak_slab_class_stats(a, c, ci));
    return ci->object_size;
}

/* The largest size that ak_slab_alloc(size, 1) accepts, by bisection;
 * each probe that succeeds is freed at once. */
static size_t largest_alloc(ak_slab *a)
{
    size_t lo = 0, hi = ak_slab_total_bytes(a) + 1; /* lo fits (or 0), hi does not */
    void *p;
    if (ak_slab_alloc(a, 0, 1, &p) != AK_OK)
        return 0;
    CHECK_OK(ak_slab_dealloc(a, p, 0, 1));
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ak_slab_alloc(a, mid, 1, &p) == AK_OK) {
            CHECK_OK(ak_slab_dealloc(a, p, mid, 1));
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* ---- the class table ---- */

static void test_class_table(void)
{
    ak_slab a = {0};
    size_t prev = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        ak_slab_class_info ci;
        size_t s = class_info_of(&a, c, &ci);
        CHECK(s == ak_slab_class_size(c));
        CHECK(s > prev && s % 16 == 0);
        if (s <= 128)
            CHECK(s == prev + 16);
        else /* four classes per power of two */
            CHECKF(s - prev == (size_t)1 << (ak_fls_size(s - 1) - 2), "class %u size %zu", c, s);
        CHECK(ci.object_align == (s & (~s + 1)));
        CHECK(ak_is_pow2(ci.slab_size) && ci.slab_size >= 4096 && ci.slab_size <= 65536);
        unsigned lg = ak_fls_size(s);
        size_t want_slab = (size_t)4096 << (lg > 8 ? lg - 8 : 0);
        if (s >= 320 && !ak_is_pow2(s))
            want_slab *= 2;
        CHECK(ci.slab_size == want_slab);
        CHECK(ci.objects_per_slab >= 14 && ci.objects_per_slab * s < ci.slab_size - AK_SLAB_TAIL);
        size_t lost = ci.slab_size - ci.objects_per_slab * s; /* header and tail */
        CHECKF(lost <= ci.slab_size / 8, "class %zu loses %zu of %zu", s, lost, ci.slab_size);
        if (!ak_is_pow2(s))
            CHECKF(lost < ci.slab_size / 14, "class %zu loses %zu of %zu", s, lost, ci.slab_size);
        CHECK(ci.objects_in_use == 0 && ci.slabs_partial == 0 && ci.slabs_full == 0 &&
              ci.slabs_empty == 0 && ci.waste_bytes == 0);
        prev = s;
    }
    CHECK(prev == AK_SLAB_MAX_SMALL);
    CHECK(ak_slab_class_size(AK_SLAB_CLASS_COUNT) == 0);
    ak_slab_class_info ci;
    CHECK_ERR(ak_slab_class_stats(&a, AK_SLAB_CLASS_COUNT, &ci), AK_ERR_INVALID_PARAM);

    /* Every size with every alignment: the smallest class that holds the
     * size and guarantees the alignment, else large. */
    for (size_t size = 0; size <= AK_SLAB_MAX_SMALL + 17; size++) {
        for (size_t align = 1; align <= 16384; align <<= 1) {
            int c = ak_slab_class_of(size, align);
            int want = LARGE_CLASS;
            for (unsigned k = 0; k < AK_SLAB_CLASS_COUNT; k++) {
                size_t s = ak_slab_class_size(k);
                if (s >= size && (s & (~s + 1)) >= align) {
                    want = (int)k;
                    break;
                }
            }
            CHECKF(c == want, "size %zu align %zu: class %d, want %d", size, align, c, want);
        }
    }
    CHECK(ak_slab_class_of(0, 1) == 0);
    CHECK(ak_slab_class_of(16, 0) == -1);
    CHECK(ak_slab_class_of(16, 3) == -1);
    CHECK(ak_slab_class_of(SIZE_MAX, 1) == LARGE_CLASS);
    CHECK(ak_slab_class_of(1, (size_t)1 << (AK_SIZE_BITS - 1)) == LARGE_CLASS);
}

/* ---- zero-initialised and region errors ---- */

static void test_zero_init(void)
{
    ak_slab a;
    memset(&a, 0, sizeof a);
    void *p = NULL;
    int x = 0;
    CHECK_INVARIANTS(ak_slab_check(&a));
    CHECK(ak_slab_total_bytes(&a) == 0 && ak_slab_used_bytes(&a) == 0 &&
          ak_slab_available_bytes(&a) == 0);
    CHECK_BAD(&a, ak_slab_alloc(&a, 16, 8, &p), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_alloc(&a, 100000, 8, &p), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_alloc(&a, 16, 3, &p), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, &x, 16, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, &x, 100000, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, NULL, 16, 8), AK_ERR_NOT_ALLOCATED);
    CHECK(ak_slab_trim(&a) == 0);
    /* A zero allocator takes its first region through add_memory too. */
    uintptr_t r = region(MIB);
    CHECK_OK(ak_slab_add_memory(&a, r, MIB));
    CHECK(ak_slab_total_bytes(&a) > MIB - TABLE_MAX(MIB) - 4096 &&
          ak_slab_total_bytes(&a) <= MIB - MIB / 64);
    CHECK_OK(ak_slab_alloc(&a, 16, 8, &p));
    CHECK_OK(ak_slab_dealloc(&a, p, 16, 8));
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

static void test_region_errors(void)
{
    ak_slab a;
    uintptr_t r = region(2 * MIB);
    CHECK_ERR(ak_slab_init(&a, UINTPTR_MAX - 100, 1000), AK_ERR_INVALID_PARAM);
    CHECK_INVARIANTS(ak_slab_check(&a));
    CHECK(ak_slab_total_bytes(&a) == 0);
    CHECK_ERR(ak_slab_init(&a, r, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_slab_init(&a, r + 3, 8), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_slab_init(&a, r + 3, MIB - 3)); /* unaligned start is trimmed */
    size_t total = ak_slab_total_bytes(&a);
    CHECK(total > MIB - TABLE_MAX(MIB) - 4096 && total < MIB - MIB / 64);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r, 64), AK_ERR_MEMORY_OVERLAP);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r + MIB - 1, 4096), AK_ERR_MEMORY_OVERLAP);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r + 100, 10), AK_ERR_MEMORY_OVERLAP);
    CHECK_BAD(&a, ak_slab_add_memory(&a, UINTPTR_MAX - 10, 100), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r + MIB, 0), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r + MIB, 4), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_slab_add_memory(&a, r + MIB, MIB));
    CHECK(ak_slab_total_bytes(&a) > total + MIB - TABLE_MAX(MIB) - 4096);
    CHECK_INVARIANTS(ak_slab_check(&a));
    ak_slab_stats_info st;
    ak_slab_stats(&a, &st);
    CHECK(st.region_count == 2);
    /* Objects come from both regions. */
    void *p[64];
    unsigned n = 0;
    while (n < 64 && ak_slab_alloc(&a, 60000, 1, &p[n]) == AK_OK)
        n++;
    CHECK(n >= 30 && n < 64);
    int low = 0, high = 0;
    for (unsigned i = 0; i < n; i++) {
        uintptr_t q = (uintptr_t)p[i];
        CHECK(q >= r + 3 && q + 60000 <= r + 2 * MIB);
        low += q < r + MIB;
        high += q >= r + MIB;
    }
    CHECK(low > 0 && high > 0);
    for (unsigned i = 0; i < n; i++)
        CHECK_OK(ak_slab_dealloc(&a, p[i], 60000, 1));
    CHECK_INVARIANTS(ak_slab_check(&a));
    CHECK(ak_slab_used_bytes(&a) == 0);
    free_regions();
}

/* ---- every class boundary and alignment ---- */

static void test_class_boundaries(void)
{
    ak_slab a;
    uintptr_t r = region(4 * MIB);
    CHECK_OK(ak_slab_init(&a, r, 4 * MIB));
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        ak_slab_class_info ci;
        size_t s = class_info_of(&a, c, &ci);
        void *p, *q;
        /* At the class limit: this class. */
        CHECK_OK(ak_slab_alloc(&a, s, 1, &p));
        CHECK(ak_is_aligned((uintptr_t)p, ci.object_align));
        CHECK(ak_slab_usable_size(&a, p, s, 1) == s);
        class_info_of(&a, c, &ci);
        CHECK(ci.objects_in_use == 1 && ci.requested_bytes == s && ci.slabs_partial == 1);
        CHECK(ci.waste_bytes == ci.slab_size - s);
        memset(p, 0xa5, s);
        /* One past it: the next class, or large after the last. */
        CHECK_OK(ak_slab_alloc(&a, s + 1, 1, &q));
        memset(q, 0x5a, s + 1);
        ak_slab_stats_info st;
        ak_slab_stats(&a, &st);
        if (c + 1 < AK_SLAB_CLASS_COUNT) {
            ak_slab_class_info cn;
            class_info_of(&a, c + 1, &cn);
            CHECK(cn.objects_in_use == 1 && cn.requested_bytes == s + 1);
            CHECK(ak_slab_usable_size(&a, q, s + 1, 1) == cn.object_size);
            CHECK(st.large_blocks == 0);
        } else {
            CHECK(st.large_blocks == 1 && st.large_requested == s + 1);
            CHECK(ak_slab_usable_size(&a, q, s + 1, 1) >= s + 1);
        }
        CHECK(ak_slab_used_bytes(&a) == 2 * s + 1);
        CHECK_INVARIANTS(ak_slab_check(&a));
        for (size_t i = 0; i < s; i++)
            CHECK(((unsigned char *)p)[i] == 0xa5);
        CHECK_OK(ak_slab_dealloc(&a, q, s + 1, 1));
        CHECK_OK(ak_slab_dealloc(&a, p, s, 1));
        CHECK(ak_slab_used_bytes(&a) == 0);

        /* Aligns up to and beyond the class's guarantee. */
        for (size_t align = 1; align <= 8192; align <<= 1) {
            int want = ak_slab_class_of(s, align);
            CHECK_OK(ak_slab_alloc(&a, s, align, &p));
            CHECKF(ak_is_aligned((uintptr_t)p, align), "class %zu align %zu", s, align);
            memset(p, 0x33, s);
            if (align <= ci.object_align)
                CHECK(want == (int)c);
            else
                CHECK(want > (int)c);
            if (want < LARGE_CLASS) {
                ak_slab_class_info cw;
                class_info_of(&a, (unsigned)want, &cw);
                CHECK(cw.objects_in_use == 1 && cw.object_align >= align);
                CHECK(ak_slab_usable_size(&a, p, s, align) == cw.object_size);
            } else {
                ak_slab_stats_info st2;
                ak_slab_stats(&a, &st2);
                CHECK(st2.large_blocks == 1 && align > AK_SLAB_MAX_CLASS_ALIGN);
            }
            CHECK_INVARIANTS(ak_slab_check(&a));
            CHECK_OK(ak_slab_dealloc(&a, p, s, align));
        }
    }
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- a whole slab per class: placement, interior pointers, reuse ---- */

static void test_full_slabs(void)
{
    ak_slab a;
    uintptr_t r = region(2 * MIB);
    CHECK_OK(ak_slab_init(&a, r, 2 * MIB));
    static void *objs[512];
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        ak_slab_class_info ci;
        size_t s = class_info_of(&a, c, &ci);
        size_t n = ci.objects_per_slab;
        CHECK(n <= 512);
        ak_slab_stats_info st;
        ak_slab_stats(&a, &st);
        size_t tlsf0 = st.tlsf_used_bytes;
        for (size_t i = 0; i < n; i++) {
            CHECK_OK(ak_slab_alloc(&a, s, 1, &objs[i]));
            ak_pattern_fill(objs[i], s, i + c * 1000);
        }
        class_info_of(&a, c, &ci);
        CHECK(ci.slabs_full == 1 && ci.slabs_partial == 0 && ci.objects_in_use == n);
        ak_slab_stats(&a, &st);
        CHECK(st.tlsf_used_bytes == tlsf0 + (ci.slab_size - AK_SLAB_TAIL));
        /* One slab, aligned to its size, objects on slot boundaries inside
         * it and disjoint. */
        uintptr_t slab = (uintptr_t)objs[0] & ~(uintptr_t)(ci.slab_size - 1);
        static unsigned char taken[4096];
        memset(taken, 0, sizeof taken);
        for (size_t i = 0; i < n; i++) {
            uintptr_t q = (uintptr_t)objs[i];
            CHECK(q >= slab && q + s <= slab + ci.slab_size - AK_SLAB_TAIL);
            CHECK(ak_is_aligned(q, ci.object_align));
            CHECK((q - slab) % s == 0);
            CHECK(!taken[(q - slab) / s]);
            taken[(q - slab) / s] = 1;
        }
        /* Every other slot start (the header's, the tail's), interior
         * pointers and the next span are not objects. */
        for (uintptr_t off = 0; off < ci.slab_size; off += s)
            if (!taken[off / s])
                CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(slab + off), s, 1),
                          AK_ERR_NOT_ALLOCATED);
        unsigned char *p0 = (unsigned char *)objs[n / 2];
        CHECK_BAD(&a, ak_slab_dealloc(&a, p0 + 1, s, 1), AK_ERR_NOT_ALLOCATED);
        CHECK_BAD(&a, ak_slab_dealloc(&a, p0 + s / 2, s, 1), AK_ERR_NOT_ALLOCATED);
        if (s > 16)
            CHECK_BAD(&a, ak_slab_dealloc(&a, p0 + s - 16, s, 1), AK_ERR_NOT_ALLOCATED);
        if (s > 16)
            CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(slab + 16), s, 1), AK_ERR_NOT_ALLOCATED);
        CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(slab + ci.slab_size), s, 1),
                  AK_ERR_NOT_ALLOCATED);
        for (size_t i = 0; i < n; i++)
            CHECK(ak_pattern_ok(objs[i], s, i + c * 1000));
        /* Freeing in a scattered order: the magazine takes the objects and
         * gives its older half back when it fills, so the slab holds only
         * the magazine's objects; a flush empties it into the cache. */
        for (size_t i = 0; i < n; i++) {
            size_t k = (i * 7) % n;
            if (n % 7 == 0)
                k = i;
            CHECK_OK(ak_slab_dealloc(&a, objs[k], s, 1));
            CHECK_BAD(&a, ak_slab_dealloc(&a, objs[k], s, 1), AK_ERR_NOT_ALLOCATED);
        }
        class_info_of(&a, c, &ci);
        size_t cached = ci.objects_cached;
        CHECK(ci.objects_in_use == 0 && cached >= 1 && cached <= AK_SLAB_MAGAZINE);
        CHECK(ci.slabs_empty == 0 && ci.slabs_partial + ci.slabs_full == 1);
        CHECK_INVARIANTS(ak_slab_check(&a));
        CHECK(ak_slab_flush(&a) == cached);
        class_info_of(&a, c, &ci);
        CHECK(ci.objects_cached == 0 && ci.slabs_empty == 1 && ci.slabs_partial == 0);
        CHECK_INVARIANTS(ak_slab_check(&a));
        /* The cached slab is reused, not a new one taken. */
        void *again;
        CHECK_OK(ak_slab_alloc(&a, s, 1, &again));
        CHECK(((uintptr_t)again & ~(uintptr_t)(ci.slab_size - 1)) == slab);
        ak_slab_stats(&a, &st);
        CHECK(st.tlsf_used_bytes == tlsf0 + (ci.slab_size - AK_SLAB_TAIL));
        CHECK_OK(ak_slab_dealloc(&a, again, s, 1));
        CHECK(ak_slab_flush(&a) == 1);
    }
    ak_slab_stats_info st;
    ak_slab_stats(&a, &st);
    CHECK(st.slabs_empty == AK_SLAB_CLASS_COUNT && st.slabs == AK_SLAB_CLASS_COUNT);
    CHECK(ak_slab_trim(&a) == AK_SLAB_CLASS_COUNT);
    ak_slab_stats(&a, &st);
    CHECK(st.slabs == 0 && st.tlsf_used_bytes == 0 && st.used_bytes == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- freed objects are handed out again: the head slab's lowest free slot ---- */

static void test_lifo_reuse(void)
{
    ak_slab a;
    uintptr_t r = region(MIB);
    CHECK_OK(ak_slab_init(&a, r, MIB));
    void *p[40], *q;
    for (unsigned i = 0; i < 40; i++)
        CHECK_OK(ak_slab_alloc(&a, 100, 8, &p[i]));
    /* Within the head slab: its lowest free slot, here the one freed. */
    CHECK_OK(ak_slab_dealloc(&a, p[39], 100, 8));
    CHECK_OK(ak_slab_alloc(&a, 100, 8, &q));
    CHECK(q == p[39]);
    /* A full slab that gets a free becomes the head: the next allocs of
     * the class take its freed slots, lowest first. */
    CHECK_OK(ak_slab_dealloc(&a, p[5], 100, 8));
    CHECK_OK(ak_slab_dealloc(&a, p[3], 100, 8));
    CHECK_OK(ak_slab_alloc(&a, 100, 8, &q));
    CHECK(q == p[3]);
    CHECK_OK(ak_slab_alloc(&a, 100, 8, &q));
    CHECK(q == p[5]);
    CHECK_INVARIANTS(ak_slab_check(&a));
    for (unsigned i = 0; i < 40; i++)
        CHECK_OK(ak_slab_dealloc(&a, p[i], 100, 8));
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- frees that alternate between regions ---- */

static void test_regions_alternate(void)
{
    ak_slab a;
    uintptr_t r = region(4 * MIB);
    /* Three regions with gaps between them. */
    CHECK_OK(ak_slab_init(&a, r, MIB));
    CHECK_OK(ak_slab_add_memory(&a, r + MIB + 4096, MIB));
    CHECK_OK(ak_slab_add_memory(&a, r + 3 * MIB, MIB));
    enum { N = 3000 };
    static void *p[N];
    static size_t sz[N];
    unsigned n = 0, in[3] = {0, 0, 0};
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed);
    while (n < N) {
        sz[n] = (size_t)ak_rng_below(&rng, 4097);
        if (ak_slab_alloc(&a, sz[n], 8, &p[n]) != AK_OK)
            break;
        uintptr_t q = (uintptr_t)p[n];
        in[q < r + MIB ? 0 : q < r + 2 * MIB + 4096 ? 1 : 2]++;
        n++;
    }
    CHECK(n > 500);
    CHECK(in[0] > 0 && in[1] > 0 && in[2] > 0);
    /* The gaps between regions are nobody's. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + MIB + 64), 16, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + 2 * MIB + 8192), 16, 8), AK_ERR_NOT_ALLOCATED);
    /* Free from both ends, so consecutive frees hop between regions. */
    for (unsigned i = 0, j = n; i < j;) {
        CHECK_OK(ak_slab_dealloc(&a, p[i], sz[i], 8));
        CHECK_ERR(ak_slab_dealloc(&a, p[i], sz[i], 8), AK_ERR_NOT_ALLOCATED);
        i++;
        if (i < j) {
            j--;
            CHECK_OK(ak_slab_dealloc(&a, p[j], sz[j], 8));
        }
        if (i % 256 == 0)
            CHECK_INVARIANTS(ak_slab_check(&a));
    }
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- slab return on empty; at most one cached empty slab ---- */

static void test_one_cached_empty(void)
{
    ak_slab a;
    uintptr_t r = region(MIB);
    CHECK_OK(ak_slab_init(&a, r, MIB));
    ak_slab_class_info ci;
    size_t s = class_info_of(&a, 2, &ci); /* 48 bytes */
    size_t n = ci.objects_per_slab;
    static void *p[1024];
    size_t count = 3 * n + 1; /* four slabs */
    CHECK(count <= 1024);
    for (size_t i = 0; i < count; i++)
        CHECK_OK(ak_slab_alloc(&a, s, 1, &p[i]));
    class_info_of(&a, 2, &ci);
    CHECK(ci.slabs_full == 3 && ci.slabs_partial == 1 && ci.slabs_empty == 0);
    ak_slab_stats_info st;
    ak_slab_stats(&a, &st);
    CHECK(st.tlsf_used_bytes == 4 * (ci.slab_size - AK_SLAB_TAIL));
    /* Free everything: the first slab to empty is cached, the others go
     * back to the TLSF as they empty (as the magazine gives objects back,
     * and at the flush). */
    for (size_t i = 0; i < count; i++) {
        CHECK_OK(ak_slab_dealloc(&a, p[i], s, 1));
        class_info_of(&a, 2, &ci);
        CHECK(ci.slabs_empty <= 1);
    }
    class_info_of(&a, 2, &ci);
    CHECK(ci.objects_cached > 0 && ci.slabs_partial + ci.slabs_full + ci.slabs_empty <= 3);
    CHECK(ak_slab_flush(&a) == ci.objects_cached);
    class_info_of(&a, 2, &ci);
    CHECK(ci.slabs_empty == 1 && ci.slabs_partial == 0 && ci.slabs_full == 0);
    ak_slab_stats(&a, &st);
    CHECK(st.tlsf_used_bytes == (ci.slab_size - AK_SLAB_TAIL) && st.used_bytes == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));

    /* Alternating alloc/free at a slab boundary does not thrash: fill one
     * slab exactly, then take and give back the first object of a second
     * (it stays in the magazine, and the next alloc takes it again). */
    for (size_t i = 0; i < n; i++)
        CHECK_OK(ak_slab_alloc(&a, s, 1, &p[i]));
    class_info_of(&a, 2, &ci);
    CHECK(ci.slabs_full == 1 && ci.slabs_empty == 0);
    void *first = NULL;
    for (int round = 0; round < 1000; round++) {
        void *q;
        CHECK_OK(ak_slab_alloc(&a, s, 1, &q));
        CHECK(round == 0 || q == first);
        first = q;
        ak_slab_stats(&a, &st);
        CHECK(st.tlsf_used_bytes == 2 * (ci.slab_size - AK_SLAB_TAIL) && st.slabs == 2);
        CHECK_OK(ak_slab_dealloc(&a, q, s, 1));
        ak_slab_stats(&a, &st);
        CHECK(st.tlsf_used_bytes == 2 * (ci.slab_size - AK_SLAB_TAIL) && st.small_cached == 1);
    }
    for (size_t i = 0; i < n; i++)
        CHECK_OK(ak_slab_dealloc(&a, p[i], s, 1));
    ak_slab_flush(&a);
    /* Two empties now: one cached, one returned. */
    ak_slab_stats(&a, &st);
    CHECK(st.slabs == 1 && st.slabs_empty == 1 &&
          st.tlsf_used_bytes == (ci.slab_size - AK_SLAB_TAIL));
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- the per-class magazine of freed objects ---- */

static void test_magazine(void)
{
    ak_slab a;
    uintptr_t r = region(MIB);
    CHECK_OK(ak_slab_init(&a, r, MIB));
    ak_slab_class_info ci;
    const unsigned c = 3;
    size_t s = class_info_of(&a, c, &ci); /* 64 bytes */
    enum { N = 3 * AK_SLAB_MAGAZINE };
    static void *p[N];
    for (unsigned i = 0; i < N; i++) {
        CHECK_OK(ak_slab_alloc(&a, s, 8, &p[i]));
        ak_pattern_fill(p[i], s, i);
    }
    /* Frees go into the magazine; a second free of any of them, a resize
     * and a usable-size query see an object that is not allocated. */
    for (unsigned i = 0; i < AK_SLAB_MAGAZINE; i++) {
        CHECK_OK(ak_slab_dealloc(&a, p[i], s, 8));
        class_info_of(&a, c, &ci);
        CHECK(ci.objects_cached == i + 1 && ci.objects_in_use == N - i - 1);
        CHECK_INVARIANTS(ak_slab_check(&a));
    }
    for (unsigned i = 0; i < AK_SLAB_MAGAZINE; i++) {
        CHECK_BAD(&a, ak_slab_dealloc(&a, p[i], s, 8), AK_ERR_NOT_ALLOCATED);
        CHECK_BAD(&a, ak_slab_dealloc(&a, p[i], s, 1), AK_ERR_NOT_ALLOCATED);
        CHECK_BAD(&a, ak_slab_resize(&a, p[i], s, 8, s - 1), AK_ERR_NOT_ALLOCATED);
        CHECK(ak_slab_usable_size(&a, p[i], s - 8, 8) == s - 8); /* not an object: size back */
    }
    for (unsigned i = AK_SLAB_MAGAZINE; i < N; i++)
        CHECK(ak_pattern_ok(p[i], s, i));
    /* Allocations of the class take them back newest first, at any size
     * and alignment the class serves. */
    for (unsigned i = AK_SLAB_MAGAZINE; i-- > 0;) {
        void *q;
        CHECK_OK(ak_slab_alloc(&a, s - (i % 16), (size_t)1 << (i % 7), &q));
        CHECK(q == p[i]);
        ak_pattern_fill(q, s - (i % 16), i);
        CHECK_OK(ak_slab_dealloc(&a, q, s - (i % 16), (size_t)1 << (i % 7)));
        CHECK_OK(ak_slab_alloc(&a, s, 8, &p[i]));
        CHECK(p[i] == q);
    }
    class_info_of(&a, c, &ci);
    CHECK(ci.objects_cached == 0 && ci.objects_in_use == N);
    /* A free into a full magazine gives its older half back first. */
    for (unsigned i = 0; i <= AK_SLAB_MAGAZINE; i++)
        CHECK_OK(ak_slab_dealloc(&a, p[i], s, 8));
    class_info_of(&a, c, &ci);
    CHECK(ci.objects_cached == AK_SLAB_MAGAZINE - AK_SLAB_MAGAZINE / 2 + 1);
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* Given back, the oldest are still caught as double frees. */
    for (unsigned i = 0; i < AK_SLAB_MAGAZINE / 2; i++)
        CHECK_BAD(&a, ak_slab_dealloc(&a, p[i], s, 8), AK_ERR_NOT_ALLOCATED);
    /* The checker sees a damaged magazine. */
    void *saved_p = a.mag_p[c][0];
    size_t *saved_word = a.mag_word[c][0];
    size_t saved_bit = a.mag_bit[c][0];
    a.mag_p[c][0] = (char *)saved_p + 16;
    CHECK(ak_slab_check(&a) != NULL);
    a.mag_p[c][0] = saved_p;
    a.mag_bit[c][0] = saved_bit << 1 ? saved_bit << 1 : 1;
    CHECK(ak_slab_check(&a) != NULL);
    a.mag_bit[c][0] = saved_bit;
    a.mag_word[c][0] = saved_word + 1;
    CHECK(ak_slab_check(&a) != NULL);
    a.mag_p[c][0] = a.mag_p[c][1];
    a.mag_word[c][0] = a.mag_word[c][1];
    a.mag_bit[c][0] = a.mag_bit[c][1];
    CHECK(ak_slab_check(&a) != NULL);
    a.mag_p[c][0] = saved_p;
    a.mag_word[c][0] = saved_word;
    a.mag_bit[c][0] = saved_bit;
    CHECK_INVARIANTS(ak_slab_check(&a));
    if (a.cls[c].mag_n < AK_SLAB_MAGAZINE) {
        /* A stale entry: an object freed, taken again (allocated), still
         * listed. */
        CHECK_OK(ak_slab_dealloc(&a, p[N - 1], s, 8));
        unsigned top = a.cls[c].mag_n - 1;
        void *stale_p = a.mag_p[c][top];
        size_t *stale_word = a.mag_word[c][top];
        size_t stale_bit = a.mag_bit[c][top];
        void *q;
        CHECK_OK(ak_slab_alloc(&a, s, 8, &q));
        CHECK(q == p[N - 1]);
        a.mag_p[c][top] = stale_p;
        a.mag_word[c][top] = stale_word;
        a.mag_bit[c][top] = stale_bit;
        a.cls[c].mag_n++;
        CHECK(ak_slab_check(&a) != NULL);
        a.cls[c].mag_n--;
    }
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* Flush: every cached object back in its slab. */
    size_t cached = ci.objects_cached;
    CHECK(ak_slab_flush(&a) == cached);
    class_info_of(&a, c, &ci);
    CHECK(ci.objects_cached == 0);
    CHECK(ak_slab_flush(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    for (unsigned i = AK_SLAB_MAGAZINE + 1; i < N; i++)
        CHECK_OK(ak_slab_dealloc(&a, p[i], s, 8));
    /* Trim flushes, then releases the empty slabs. */
    CHECK(ak_slab_trim(&a) == 1); /* N objects fit one slab */
    ak_slab_stats_info st;
    ak_slab_stats(&a, &st);
    CHECK(st.slabs == 0 && st.small_cached == 0 && st.tlsf_used_bytes == 0 && st.used_bytes == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- memory pressure releases every cached slab ---- */

static void test_pressure(void)
{
    ak_slab a;
    const size_t size = MIB; /* holds one slab of every class */
    uintptr_t r = region(size);
    CHECK_OK(ak_slab_init(&a, r, size));
    size_t largest = largest_alloc(&a);
    CHECK(largest > size / 2);
    /* Leave one slab in every class, held by the magazine's one object. */
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        void *p;
        size_t s = ak_slab_class_size(c);
        CHECK_OK(ak_slab_alloc(&a, s, 1, &p));
        CHECK_OK(ak_slab_dealloc(&a, p, s, 1));
    }
    ak_slab_stats_info st;
    ak_slab_stats(&a, &st);
    CHECK(st.slabs == AK_SLAB_CLASS_COUNT && st.small_cached == AK_SLAB_CLASS_COUNT &&
          st.slabs_empty == 0 && st.used_bytes == 0);
    /* The largest block fits again: the TLSF fails, the magazines are
     * flushed and the cached slabs released. */
    void *big;
    CHECK_OK(ak_slab_alloc(&a, largest, 1, &big));
    ak_slab_stats(&a, &st);
    CHECK(st.slabs == 0 && st.small_cached == 0 && st.large_blocks == 1);
    CHECK_OK(ak_slab_dealloc(&a, big, largest, 1));

    /* A new slab under pressure: park empties in every class but 0, then
     * fill memory with class-0 objects; before it fails, every cached
     * slab must have been released. */
    for (unsigned c = 1; c < AK_SLAB_CLASS_COUNT; c++) {
        void *p;
        size_t s = ak_slab_class_size(c);
        CHECK_OK(ak_slab_alloc(&a, s, 1, &p));
        CHECK_OK(ak_slab_dealloc(&a, p, s, 1));
    }
    ak_slab_flush(&a);
    size_t n = 0, cap = size / 16;
    void **objs = malloc(cap * sizeof *objs);
    CHECK(objs != NULL);
    ak_error e;
    while ((e = ak_slab_alloc(&a, 16, 16, &objs[n])) == AK_OK) {
        n++;
        CHECK(n < cap);
    }
    CHECK(e == AK_ERR_NO_MEMORY);
    ak_slab_stats(&a, &st);
    CHECK(st.slabs_empty == 0);
    CHECK(st.slab_bytes > size - size / 8);
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* Nothing else fits either, small or large. */
    void *p;
    CHECK_BAD(&a, ak_slab_alloc(&a, 4096, 1, &p), AK_ERR_NO_MEMORY);
    for (size_t i = 0; i < n; i++)
        CHECK_OK(ak_slab_dealloc(&a, objs[i], 16, 16));
    free(objs);
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_OK(ak_slab_alloc(&a, largest, 1, &big));
    CHECK_OK(ak_slab_dealloc(&a, big, largest, 1));
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- large requests go to the TLSF ---- */

static void test_large(void)
{
    ak_slab a;
    uintptr_t r = region(8 * MIB);
    CHECK_OK(ak_slab_init(&a, r, 8 * MIB));
    const size_t sizes[] = {4097, 5000, 65536, 100000, MIB, 3 * MIB};
    void *p[6];
    size_t used = 0;
    for (unsigned i = 0; i < 6; i++) {
        CHECK_OK(ak_slab_alloc(&a, sizes[i], 8, &p[i]));
        CHECK(ak_is_aligned((uintptr_t)p[i], 8));
        CHECK(ak_slab_usable_size(&a, p[i], sizes[i], 8) >= sizes[i]);
        memset(p[i], (int)i, sizes[i]);
        used += sizes[i];
    }
    ak_slab_stats_info st;
    ak_slab_stats(&a, &st);
    CHECK(st.large_blocks == 6 && st.large_requested == used && st.slabs == 0);
    size_t usable = 0; /* the TLSF counts its blocks at their usable sizes */
    for (unsigned i = 0; i < 6; i++)
        usable += ak_slab_usable_size(&a, p[i], sizes[i], 8);
    CHECK(st.tlsf_used_bytes == usable && ak_slab_used_bytes(&a) == used);
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* Alignment above every class's guarantee, small size. */
    void *q;
    CHECK_OK(ak_slab_alloc(&a, 16, 8192, &q));
    CHECK(ak_is_aligned((uintptr_t)q, 8192));
    ak_slab_stats(&a, &st);
    CHECK(st.large_blocks == 7 && st.slabs == 0);
    /* Freed as small, it is not found. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, q, 16, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, p[0], 4096, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD_TLSF(&a, ak_slab_dealloc(&a, (char *)p[0] + 16, 4097, 1));
    CHECK_OK(ak_slab_dealloc(&a, q, 16, 8192));
    for (unsigned i = 0; i < 6; i++) {
        const unsigned char *b = p[i];
        CHECK(b[0] == i && b[sizes[i] - 1] == i && b[sizes[i] / 2] == i);
        CHECK_OK(ak_slab_dealloc(&a, p[i], sizes[i], 8));
        CHECK_BAD(&a, ak_slab_dealloc(&a, p[i], sizes[i], 8), AK_ERR_NOT_ALLOCATED);
    }
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- bad frees of every kind change nothing ---- */

static void test_bad_frees(void)
{
    ak_slab a;
    uintptr_t r = region(4 * MIB);
    CHECK_OK(ak_slab_init(&a, r, 4 * MIB));
    void *s16, *s64, *s4k, *big, *gone, *cached;
    CHECK_OK(ak_slab_alloc(&a, 10, 8, &s16));
    CHECK_OK(ak_slab_alloc(&a, 64, 64, &s64));
    CHECK_OK(ak_slab_alloc(&a, 4000, 1, &s4k));
    CHECK_OK(ak_slab_alloc(&a, 20000, 16, &big));
    CHECK_OK(ak_slab_alloc(&a, 10, 8, &gone));
    CHECK_OK(ak_slab_dealloc(&a, gone, 10, 8));
    CHECK_OK(ak_slab_alloc(&a, 200, 8, &cached)); /* leaves a cached empty slab */
    CHECK_OK(ak_slab_dealloc(&a, cached, 200, 8));
    int on_stack = 0;
    static char outside[64 * 1024] __attribute__((aligned(65536)));
    unsigned char *b16 = s16, *bbig = big;

    /* Outside every region. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, NULL, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, &on_stack, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, outside + 4096 + 80, 16, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, outside + 100, 20000, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + 4 * MIB), 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r - 16), 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(UINTPTR_MAX - 15), 10, 8), AK_ERR_NOT_ALLOCATED);
    /* Inside a region but never allocated (the region record, free TLSF
     * memory, the end of the region). */
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)r, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + 2 * MIB + 80), 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + 4 * MIB - 16), 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + 3 * MIB), 20000, 16), AK_ERR_NOT_ALLOCATED);
    /* Not an object start. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, b16 + 1, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, b16 + 8, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, bbig + 16, 20000, 16), AK_ERR_NOT_ALLOCATED);
    /* Already free: in a live slab, and in the cached empty slab. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, gone, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, cached, 200, 8), AK_ERR_NOT_ALLOCATED);
    /* A size or align of another class. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, s16, 64, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s16, 10, 4096), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s64, 48, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s4k, 3000, 1), AK_ERR_NOT_ALLOCATED);
    /* A small object, or the slab under it, freed as large: the slab's
     * start passes the TLSF's checks (a slab is a TLSF block), the slab
     * layer refuses it; anything else the TLSF refuses. */
    CHECK_BAD_TLSF(&a, ak_slab_dealloc(&a, s4k, 5000, 1));
    CHECK_BAD_TLSF(&a, ak_slab_dealloc(&a, s16, 10, 8192));
    uintptr_t slab16 = (uintptr_t)s16 & ~(uintptr_t)4095;
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)slab16, 4096, 4096), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD_TLSF(&a, ak_slab_dealloc(&a, (void *)slab16, 8192, 4096));
    uintptr_t slab4k = (uintptr_t)s4k & ~(uintptr_t)65535;
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)slab4k, 65536 - AK_SLAB_TAIL, 65536),
              AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)slab4k, 65536 - AK_SLAB_TAIL, 8),
              AK_ERR_NOT_ALLOCATED);
    CHECK_BAD_TLSF(&a, ak_slab_dealloc(&a, (void *)slab4k, 65536, 65536));
    void *s320;
    CHECK_OK(ak_slab_alloc(&a, 300, 8, &s320)); /* class 320: 8 KiB slabs */
    uintptr_t slab320 = (uintptr_t)s320 & ~(uintptr_t)8191;
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)slab320, 8192 - AK_SLAB_TAIL, 8192),
              AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_resize(&a, (void *)slab320, 8192 - AK_SLAB_TAIL, 8192, 9000),
              AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_slab_dealloc(&a, s320, 300, 8));
    /* A large block freed as small. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, big, 4096, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, big, 16, 16), AK_ERR_NOT_ALLOCATED);
    /* A large block with a wrong large size: the TLSF's answer, an error. */
    {
        snapshot x, y;
        snap(&a, &x);
        CHECK(ak_slab_dealloc(&a, big, 1000000, 16) != AK_OK);
        snap(&a, &y);
        CHECK(snap_same(&x, &y));
        CHECK_INVARIANTS(ak_slab_check(&a));
    }
    /* Bad alignments. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, s16, 10, 0), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s16, 10, 24), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, big, 20000, 3), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_alloc(&a, 10, 0, &gone), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_alloc(&a, 10, 48, &gone), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_alloc(&a, 10, SIZE_MAX, &gone), AK_ERR_INVALID_PARAM);

    /* Everything is still intact and frees normally. */
    CHECK_OK(ak_slab_dealloc(&a, s16, 10, 8));
    CHECK_OK(ak_slab_dealloc(&a, s64, 64, 64));
    CHECK_OK(ak_slab_dealloc(&a, s4k, 4000, 1));
    CHECK_OK(ak_slab_dealloc(&a, big, 20000, 16));
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- sizes and alignments near the top of the address space ---- */

static void test_huge_sizes(void)
{
    ak_slab a;
    uintptr_t r = region(MIB);
    CHECK_OK(ak_slab_init(&a, r, MIB));
    void *keep, *p = NULL;
    CHECK_OK(ak_slab_alloc(&a, 100, 8, &keep));
    CHECK_OK(ak_slab_alloc(&a, 1000, 8, &p)); /* a cached empty slab must survive */
    CHECK_OK(ak_slab_dealloc(&a, p, 1000, 8));
    const size_t top = (size_t)1 << (AK_SIZE_BITS - 1);
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 4095, SIZE_MAX - MIB,
                            top,      top + 1,      top - 1,       SIZE_MAX / 3};
    const size_t aligns[] = {1, 16, 4096, 8192, top};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (unsigned j = 0; j < sizeof aligns / sizeof aligns[0]; j++) {
            snapshot x, y;
            snap(&a, &x);
            ak_error e = ak_slab_alloc(&a, sizes[i], aligns[j], &p);
            CHECKF(e == AK_ERR_INVALID_PARAM || e == AK_ERR_NO_MEMORY, "size %zx align %zx: %s",
                   sizes[i], aligns[j], ak_error_name(e));
            snap(&a, &y);
            CHECK(snap_same(&x, &y));
            e = ak_slab_dealloc(&a, keep, sizes[i], aligns[j]);
            CHECK(e == AK_ERR_INVALID_PARAM || e == AK_ERR_NOT_ALLOCATED);
            snap(&a, &y);
            CHECK(snap_same(&x, &y));
        }
    }
    /* Small sizes with huge alignments. Some could fit in principle (the
     * region may hold such an address), so a failure may release cached
     * slabs: start without any. */
    CHECK(ak_slab_trim(&a) == 1);
    for (size_t align = 8192; align != 0 && align <= top; align <<= 1) {
        snapshot x, y;
        snap(&a, &x);
        ak_error e = ak_slab_alloc(&a, 1, align, &p);
        if (e == AK_OK) {
            CHECK(ak_is_aligned((uintptr_t)p, align));
            CHECK_OK(ak_slab_dealloc(&a, p, 1, align));
        } else {
            CHECK(e == AK_ERR_INVALID_PARAM || e == AK_ERR_NO_MEMORY);
            snap(&a, &y);
            CHECK(snap_same(&x, &y));
        }
    }
    CHECK_INVARIANTS(ak_slab_check(&a));
    CHECK_OK(ak_slab_dealloc(&a, keep, 100, 8));
    free_regions();
}

/* ---- resize and usable size ---- */

static void test_resize(void)
{
    ak_slab a;
    uintptr_t r = region(4 * MIB);
    CHECK_OK(ak_slab_init(&a, r, 4 * MIB));
    void *p, *big;
    CHECK_OK(ak_slab_alloc(&a, 20, 8, &p));
    memset(p, 7, 20);
    CHECK(ak_slab_usable_size(&a, p, 20, 8) == 32);
    CHECK_OK(ak_slab_resize(&a, p, 20, 8, 32)); /* same class: in place */
    CHECK(ak_slab_used_bytes(&a) == 32);
    CHECK_OK(ak_slab_resize(&a, p, 32, 8, 17));
    CHECK(ak_slab_used_bytes(&a) == 17);
    CHECK_BAD(&a, ak_slab_resize(&a, p, 17, 8, 33), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_resize(&a, p, 17, 8, 16), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_resize(&a, p, 17, 8, 100000), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_resize(&a, (char *)p + 16, 17, 8, 20), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_resize(&a, p, 17, 3, 20), AK_ERR_INVALID_PARAM);
    CHECK(((unsigned char *)p)[19] == 7);
    CHECK_OK(ak_slab_dealloc(&a, p, 17, 8));
    CHECK_BAD(&a, ak_slab_resize(&a, p, 17, 8, 20), AK_ERR_NOT_ALLOCATED);

    /* Large blocks resize through the TLSF when it can; never into a slab. */
    CHECK_OK(ak_slab_alloc(&a, 100000, 16, &big));
    memset(big, 9, 100000);
    CHECK_BAD(&a, ak_slab_resize(&a, big, 100000, 16, 4096), AK_ERR_NO_MEMORY);
    ak_error e = ak_slab_resize(&a, big, 100000, 16, 50000);
    size_t size = 100000;
    if (e == AK_OK)
        size = 50000;
    else
        CHECK(e == AK_ERR_NO_MEMORY);
    CHECK(ak_slab_used_bytes(&a) == size);
    e = ak_slab_resize(&a, big, size, 16, 120000);
    if (e == AK_OK)
        size = 120000;
    else
        CHECK(e == AK_ERR_NO_MEMORY);
    CHECK(ak_slab_used_bytes(&a) == size);
    CHECK(ak_slab_usable_size(&a, big, size, 16) >= size);
    CHECK(((unsigned char *)big)[49999] == 9);
    CHECK_INVARIANTS(ak_slab_check(&a));
    CHECK_OK(ak_slab_dealloc(&a, big, size, 16));
    CHECK(ak_slab_used_bytes(&a) == 0);
    /* usable_size of something that is not a block is the size given. */
    CHECK(ak_slab_usable_size(&a, p, 17, 8) == 17);
    CHECK(ak_slab_usable_size(&a, p, 17, 5) == 17);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- the byte interface ---- */

static void test_interface(void)
{
    ak_slab a = {0};
    ak_byte_allocator h = ak_slab_as_byte(&a);
    CHECK(strcmp(ak_byte_name(h), "slab") == 0);
    CHECK(h.ops->resize && h.ops->usable_size && h.ops->check);
    uintptr_t r = region(2 * MIB);
    CHECK_OK(ak_byte_init(h, r, MIB));
    CHECK_OK(ak_byte_add_memory(h, r + MIB, MIB));
    CHECK_ERR(ak_byte_add_memory(h, r, 100), AK_ERR_MEMORY_OVERLAP);
    void *p, *q;
    CHECK_OK(ak_byte_alloc(h, 100, 16, &p));
    CHECK_OK(ak_byte_alloc(h, 10000, 64, &q));
    CHECK(ak_byte_used_bytes(h) == 10100);
    CHECK(ak_byte_total_bytes(h) == ak_slab_total_bytes(&a));
    CHECK(ak_byte_available_bytes(h) == ak_byte_total_bytes(h) - 10100);
    CHECK(ak_byte_usable_size(h, p, 100, 16) == 112);
    CHECK_OK(ak_byte_resize(h, p, 100, 16, 110));
    CHECK_ERR(ak_byte_resize(h, p, 110, 16, 200), AK_ERR_NO_MEMORY);
    CHECK_INVARIANTS(ak_byte_check(h));
    CHECK_ERR(ak_byte_dealloc(h, p, 100, 64), AK_ERR_NOT_ALLOCATED); /* class 128 */
    CHECK_OK(ak_byte_dealloc(h, p, 110, 16));
    CHECK_ERR(ak_byte_dealloc(h, p, 110, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_byte_dealloc(h, q, 10000, 64));
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK_INVARIANTS(ak_byte_check(h));
    free_regions();
}

/* ---- after freeing everything, the largest block fits again ---- */

static void test_largest_again(void)
{
    ak_slab a;
    const size_t size = 8 * MIB;
    uintptr_t r = region(size);
    CHECK_OK(ak_slab_init(&a, r, size));
    size_t largest = largest_alloc(&a);
    CHECK(largest > size - TABLE_MAX(size) - 64 * 1024);
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed);
    enum { N = 4000 };
    static void *ptr[N];
    static size_t sz[N], al[N];
    for (int round = 0; round < 3; round++) {
        unsigned n = 0;
        for (unsigned i = 0; i < N; i++) {
            size_t s = ak_rng_below(&rng, 10) == 0 ? (size_t)ak_rng_log_uniform(&rng, 4097, 200000)
                                                   : (size_t)ak_rng_below(&rng, 4097);
            size_t al1 = (size_t)1 << ak_rng_below(&rng, 13);
            if (ak_slab_alloc(&a, s, al1, &ptr[n]) == AK_OK) {
                sz[n] = s;
                al[n] = al1;
                n++;
            }
            /* free a random half as we go, so slabs are left partial */
            if (n > 0 && ak_rng_below(&rng, 2) == 0) {
                unsigned k = (unsigned)ak_rng_below(&rng, n);
                CHECK_OK(ak_slab_dealloc(&a, ptr[k], sz[k], al[k]));
                n--;
                ptr[k] = ptr[n];
                sz[k] = sz[n];
                al[k] = al[n];
            }
        }
        CHECK_INVARIANTS(ak_slab_check(&a));
        while (n > 0) {
            n--;
            CHECK_OK(ak_slab_dealloc(&a, ptr[n], sz[n], al[n]));
        }
        CHECK(ak_slab_used_bytes(&a) == 0);
        ak_slab_stats_info st;
        ak_slab_stats(&a, &st);
        /* Only the magazines' objects hold slabs that are not empty. */
        CHECK(st.slabs - st.slabs_empty <= st.small_cached && st.small_objects == 0 &&
              st.slabs_empty <= AK_SLAB_CLASS_COUNT);
        /* Exactly the largest allocation of the start fits again. */
        void *p;
        CHECK_OK(ak_slab_alloc(&a, largest, 1, &p));
        ak_slab_stats(&a, &st);
        CHECK(st.slabs == 0 && st.small_cached == 0);
        CHECK_OK(ak_slab_dealloc(&a, p, largest, 1));
        CHECK(largest_alloc(&a) == largest);
        CHECK_INVARIANTS(ak_slab_check(&a));
    }
    free_regions();
}

/* ---- randomised model test ---- */

/* Per-region shadow: one bit per byte, set while a live block covers it. */
typedef struct shadow {
    uintptr_t start, end;
    uint64_t *bits;
} shadow;

static shadow shadows[3];

static shadow *shadow_of(uintptr_t p, size_t n)
{
    for (unsigned i = 0; i < 3; i++)
        if (p >= shadows[i].start && p <= shadows[i].end && shadows[i].end - p >= n)
            return &shadows[i];
    return NULL;
}

/* Set (on) or clear bits [p, p+n); returns 0 if any bit was already in
 * the target state (overlap when setting, a hole when clearing). */
static int shadow_mark(shadow *s, uintptr_t p, size_t n, int on)
{
    size_t i = p - s->start, e = i + n;
    int ok = 1;
    while (i < e) {
        size_t w = i >> 6, b = i & 63;
        size_t span = 64 - b < e - i ? 64 - b : e - i;
        uint64_t m = (span == 64 ? ~0ull : ((1ull << span) - 1)) << b;
        if (on) {
            if (s->bits[w] & m)
                ok = 0;
            s->bits[w] |= m;
        } else {
            if ((s->bits[w] & m) != m)
                ok = 0;
            s->bits[w] &= ~m;
        }
        i += span;
    }
    return ok;
}

/* Content: the whole block when small; for big blocks the first and last
 * 64 bytes and eight words in between. */
static void fill(unsigned char *p, size_t n, uint64_t tag)
{
    if (n <= 256) {
        ak_pattern_fill(p, n, tag);
        return;
    }
    ak_pattern_fill(p, 64, tag);
    ak_pattern_fill(p + n - 64, 64, tag + 1);
    for (unsigned k = 1; k <= 8; k++)
        ak_pattern_fill(p + 64 + (n - 136) / 9 * k, 8, tag + 1 + k);
}

static int intact(const unsigned char *p, size_t n, uint64_t tag)
{
    if (n <= 256)
        return ak_pattern_ok(p, n, tag);
    int ok = ak_pattern_ok(p, 64, tag) && ak_pattern_ok(p + n - 64, 64, tag + 1);
    for (unsigned k = 1; k <= 8; k++)
        ok = ok && ak_pattern_ok(p + 64 + (n - 136) / 9 * k, 8, tag + 1 + k);
    return ok;
}

typedef struct live {
    unsigned char *p;
    size_t size, align;
    uint64_t tag;
} live;

static size_t pick_size(ak_rng *r)
{
    uint64_t k = ak_rng_below(r, 1000);
    if (k < 550)
        return (size_t)ak_rng_below(r, 257);
    if (k < 980)
        return (size_t)ak_rng_below(r, 4097);
    if (k < 995)
        return (size_t)ak_rng_range(r, 4090, 4200);
    return (size_t)ak_rng_log_uniform(r, 4097, MIB);
}

static size_t pick_align(ak_rng *r)
{
    uint64_t k = ak_rng_below(r, 100);
    if (k < 70)
        return (size_t)1 << ak_rng_below(r, 5);
    if (k < 99)
        return (size_t)1 << ak_rng_below(r, 13);
    return 8192;
}

static void test_model(void)
{
    const uint64_t ops = ak_test_ops(1500000, 100000);
    const size_t sizes[3] = {12 * MIB, 6 * MIB + 4096 + 24, 3 * MIB};
    ak_slab a;
    for (unsigned i = 0; i < 3; i++) {
        uintptr_t base = region(sizes[i] + 64) + 24; /* unaligned start */
        shadows[i].start = base;
        shadows[i].end = base + sizes[i];
        shadows[i].bits = calloc(sizes[i] / 64 + 1, sizeof(uint64_t));
        CHECK(shadows[i].bits != NULL);
        if (i == 0)
            CHECK_OK(ak_slab_init(&a, base, sizes[i]));
        else
            CHECK_OK(ak_slab_add_memory(&a, base, sizes[i]));
    }
    size_t largest = largest_alloc(&a);
    CHECK(largest > 11 * MIB);

    enum { MAXLIVE = 12000 };
    live *L = calloc(MAXLIVE, sizeof *L);
    CHECK(L != NULL);
    size_t n = 0, used = 0, target = 4000;
    uint64_t tag = 1, nomem = 0, allocs = 0, frees = 0, resizes = 0;
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed);
    uint64_t check_every = ak_t.quick ? 5000 : 25000;
    for (uint64_t op = 0; op < ops; op++) {
        if (op % 50000 == 0)
            target = 500 + (size_t)ak_rng_below(&rng, MAXLIVE - 1000);
        uint64_t k = ak_rng_below(&rng, 100);
        int do_alloc = n < target ? k < 60 : k < 40;
        if (n == MAXLIVE)
            do_alloc = 0;
        if (n == 0)
            do_alloc = 1;
        if (do_alloc) {
            size_t s = pick_size(&rng), al = pick_align(&rng);
            void *p;
            ak_error e = ak_slab_alloc(&a, s, al, &p);
            if (e == AK_ERR_NO_MEMORY) {
                nomem++;
                continue;
            }
            CHECK_OK(e);
            allocs++;
            uintptr_t q = (uintptr_t)p;
            CHECKF(ak_is_aligned(q, al), "%p align %zu", p, al);
            shadow *sh = shadow_of(q, s ? s : 1);
            CHECKF(sh != NULL, "%p+%zu outside every region", p, s);
            CHECKF(shadow_mark(sh, q, s ? s : 1, 1), "%p+%zu overlaps a live block", p, s);
            CHECK(ak_slab_usable_size(&a, p, s, al) >= s);
            fill(p, s, tag);
            L[n].p = p;
            L[n].size = s;
            L[n].align = al;
            L[n].tag = tag++;
            n++;
            used += s;
        } else if (k % 50 == 1) {
            /* resize in place */
            size_t i = (size_t)ak_rng_below(&rng, n);
            size_t ns = L[i].size + (size_t)ak_rng_below(&rng, 64);
            ns = ns > 32 ? ns - 32 : ns;
            ak_error e = ak_slab_resize(&a, L[i].p, L[i].size, L[i].align, ns);
            if (e == AK_OK) {
                resizes++;
                CHECK(intact(L[i].p, L[i].size < ns ? L[i].size : ns, L[i].tag) ||
                      L[i].size > 256 || ns > 256);
                shadow *sh = shadow_of((uintptr_t)L[i].p, 1);
                CHECK(shadow_mark(sh, (uintptr_t)L[i].p, L[i].size ? L[i].size : 1, 0));
                CHECK(shadow_of((uintptr_t)L[i].p, ns ? ns : 1) == sh);
                CHECK(shadow_mark(sh, (uintptr_t)L[i].p, ns ? ns : 1, 1));
                used = used - L[i].size + ns;
                L[i].size = ns;
                L[i].tag = tag++;
                fill(L[i].p, ns, L[i].tag);
            } else {
                CHECK(e == AK_ERR_NO_MEMORY);
            }
        } else {
            size_t i = (size_t)ak_rng_below(&rng, n);
            live b = L[i];
            CHECKF(intact(b.p, b.size, b.tag), "block %p+%zu corrupted", (void *)b.p, b.size);
            shadow *sh = shadow_of((uintptr_t)b.p, b.size ? b.size : 1);
            CHECK(shadow_mark(sh, (uintptr_t)b.p, b.size ? b.size : 1, 0));
            CHECK_OK(ak_slab_dealloc(&a, b.p, b.size, b.align));
            frees++;
            if (k == 99) /* a double free is refused */
                CHECK_ERR(ak_slab_dealloc(&a, b.p, b.size, b.align), AK_ERR_NOT_ALLOCATED);
            L[i] = L[--n];
            used -= b.size;
        }
        CHECK(ak_slab_used_bytes(&a) == used);
        if (op % check_every == 0) {
            CHECK_INVARIANTS(ak_slab_check(&a));
            for (size_t j = 0; j < n; j += 1 + n / 64)
                CHECK(intact(L[j].p, L[j].size, L[j].tag));
        }
    }
    CHECK_INVARIANTS(ak_slab_check(&a));
    printf("[%llu allocs, %llu frees, %llu resizes, %llu out of memory, %zu live] ",
           (unsigned long long)allocs, (unsigned long long)frees, (unsigned long long)resizes,
           (unsigned long long)nomem, n);
    while (n > 0) {
        n--;
        CHECK(intact(L[n].p, L[n].size, L[n].tag));
        CHECK_OK(ak_slab_dealloc(&a, L[n].p, L[n].size, L[n].align));
    }
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    void *p;
    CHECK_OK(ak_slab_alloc(&a, largest, 1, &p));
    CHECK_OK(ak_slab_dealloc(&a, p, largest, 1));
    free(L);
    for (unsigned i = 0; i < 3; i++)
        free(shadows[i].bits);
    free_regions();
}

int main(int argc, char **argv)
{
    ak_test_init(argc, argv, "test_slab");
    RUN(test_class_table);
    RUN(test_zero_init);
    RUN(test_region_errors);
    RUN(test_class_boundaries);
    RUN(test_full_slabs);
    RUN(test_lifo_reuse);
    RUN(test_regions_alternate);
    RUN(test_one_cached_empty);
    RUN(test_magazine);
    RUN(test_pressure);
    RUN(test_large);
    RUN(test_bad_frees);
    RUN(test_huge_sizes);
    RUN(test_resize);
    RUN(test_interface);
    RUN(test_largest_again);
    RUN(test_model);
    return ak_test_finish();
}
