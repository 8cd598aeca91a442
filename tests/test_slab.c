/* Slab allocator tests: the class table and every class boundary and
 * alignment; whole slabs, the lists and the kept empty slabs; memory
 * pressure; the large path; bad frees of every kind with the state
 * compared before and after; the bad-input regressions (re-init, failed
 * init, wrong sizes, resize of what is no block, usable_size of a bad
 * pointer, impossible requests, a NULL out); sizes near SIZE_MAX; resize;
 * the cache hooks; the walker; the checker catching damage; the byte
 * interface; and a randomised model test over several regions (contents,
 * alignment, bounds, no overlap, used_bytes exact, the checker).
 * Options: --seed, --ops (model-test operations, default 1500000),
 * --quick (100000 operations). */
#include "testlib.h"
#include "walk_check.h"

#include "ak_internal.h"
#include <allockit.h>

#define MIB         ((size_t)1 << 20)
#define LARGE_CLASS AK_SLAB_CLASS_COUNT
/* What a region of n bytes gives up to the slab layer: its record and the
 * descriptor table (64 bytes per 4 KiB frame, 1/64). */
#define TABLE_MAX(n) ((n) / 64 + 4 * 64)

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
    struct ak_byte_stats common;
    ak_slab_usage all;
    ak_slab_class_info cls[AK_SLAB_CLASS_COUNT];
    size_t total, used, avail;
} snapshot;

static void snap(const ak_slab *a, snapshot *s)
{
    memset(s, 0, sizeof *s);
    ak_slab_stats(a, &s->common);
    s->common.failed_allocs = 0; /* the one figure a refused call may change */
    ak_slab_usage_stats(a, &s->all);
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

/* The slab size rule of slab.h: 4 KiB up to 128 bytes, else 256 granules
 * of the class size's lowest set bit, at most 64 KiB. */
static size_t want_slab_size(size_t s)
{
    if (s <= 128)
        return 4096;
    size_t g = s & (~s + 1), b = g * 256;
    return b < 65536 ? b : 65536;
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
        CHECKF(ci.slab_size == want_slab_size(s), "class %zu slab %zu", s, ci.slab_size);
        CHECK(ci.objects_per_slab == (ci.slab_size - AK_SLAB_TAIL) / s);
        CHECK(ci.objects_per_slab >= 15 && ci.objects_per_slab <= 255);
        if (s <= 2048)
            CHECKF(ci.objects_per_slab >= 31, "class %zu: %zu objects", s, ci.objects_per_slab);
        size_t lost = ci.slab_size - ci.objects_per_slab * s; /* tail and end slack */
        CHECKF(lost <= s, "class %zu loses %zu of %zu", s, lost, ci.slab_size);
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
    CHECK_BAD(&a, ak_slab_alloc(&a, 1000, 8, &p), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_alloc(&a, 100000, 8, &p), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_alloc(&a, 16, 3, &p), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_alloc(&a, 16, 8, NULL), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, &x, 16, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, &x, 1000, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, &x, 100000, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, NULL, 16, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_resize(&a, &x, 16, 8, 20), AK_ERR_NOT_ALLOCATED);
    CHECK(ak_slab_usable_size(&a, &x, 16, 8) == 0);
    CHECK(ak_slab_trim(&a) == 0);
    /* A zero allocator takes its first region through add_memory too. */
    uintptr_t r = region(MIB);
    CHECK_OK(ak_slab_add_memory(&a, r, MIB));
    CHECK(ak_slab_total_bytes(&a) > MIB - TABLE_MAX(MIB) - 4096 &&
          ak_slab_total_bytes(&a) <= MIB - MIB / 64);
    CHECK_OK(ak_slab_alloc(&a, 16, 8, &p));
    CHECK(ak_slab_used_bytes(&a) == 16);
    CHECK_OK(ak_slab_dealloc(&a, p, 16, 8));
    CHECK_OK(ak_slab_alloc(&a, 1000, 8, &p));
    CHECK(ak_slab_used_bytes(&a) == 1024);
    CHECK_OK(ak_slab_dealloc(&a, p, 1000, 8));
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

static void test_region_errors(void)
{
    ak_slab a;
    memset(&a, 0, sizeof a);
    uintptr_t r = region(2 * MIB);
    CHECK_BAD(&a, ak_slab_init(&a, UINTPTR_MAX - 100, 1000), AK_ERR_INVALID_PARAM);
    CHECK(ak_slab_total_bytes(&a) == 0);
    CHECK_BAD(&a, ak_slab_init(&a, r, 0), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_init(&a, r + 3, 8), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_init(&a, r, 160), AK_ERR_INVALID_PARAM); /* no room for the TLSF */
    CHECK_OK(ak_slab_init(&a, r + 3, MIB - 3));                    /* unaligned start is trimmed */
    size_t total = ak_slab_total_bytes(&a);
    CHECK(total > MIB - TABLE_MAX(MIB) - 4096 && total < MIB - MIB / 64);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r, 64), AK_ERR_MEMORY_OVERLAP);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r + MIB - 1, 4096), AK_ERR_MEMORY_OVERLAP);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r + 100, 10), AK_ERR_MEMORY_OVERLAP);
    CHECK_BAD(&a, ak_slab_add_memory(&a, UINTPTR_MAX - 10, 100), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r + MIB, 0), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r + MIB, 4), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_add_memory(&a, r + MIB, 160), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_slab_add_memory(&a, r + MIB, MIB));
    CHECK(ak_slab_total_bytes(&a) > total + MIB - TABLE_MAX(MIB) - 4096);
    CHECK_INVARIANTS(ak_slab_check(&a));
    ak_slab_usage st;
    ak_slab_usage_stats(&a, &st);
    struct ak_byte_stats bs;
    ak_slab_stats(&a, &bs);
    CHECK(bs.region_count == 2);
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
        CHECK(ci.objects_in_use == 1 && ci.slabs_partial == 1);
        CHECK(ci.waste_bytes == ci.slab_size - s);
        memset(p, 0xa5, s);
        /* One past it: the next class, or large after the last. */
        CHECK_OK(ak_slab_alloc(&a, s + 1, 1, &q));
        memset(q, 0x5a, s + 1);
        ak_slab_usage st;
        ak_slab_usage_stats(&a, &st);
        size_t uq = ak_slab_usable_size(&a, q, s + 1, 1);
        if (c + 1 < AK_SLAB_CLASS_COUNT) {
            ak_slab_class_info cn;
            class_info_of(&a, c + 1, &cn);
            CHECK(cn.objects_in_use == 1);
            CHECK(uq == cn.object_size);
            CHECK(st.large_blocks == 0);
        } else {
            CHECK(st.large_blocks == 1 && st.large_bytes == uq);
            CHECK(uq >= s + 1);
        }
        CHECK(ak_slab_used_bytes(&a) == s + uq);
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
                ak_slab_usage st2;
                ak_slab_usage_stats(&a, &st2);
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
    uintptr_t r = region(4 * MIB);
    CHECK_OK(ak_slab_init(&a, r, 4 * MIB));
    static void *objs[256];
    static unsigned char taken[256];
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        ak_slab_class_info ci;
        size_t s = class_info_of(&a, c, &ci);
        size_t n = ci.objects_per_slab;
        CHECK(n <= 256);
        ak_slab_usage st;
        ak_slab_usage_stats(&a, &st);
        size_t tlsf0 = st.tlsf_used_bytes;
        for (size_t i = 0; i < n; i++) {
            CHECK_OK(ak_slab_alloc(&a, s, 1, &objs[i]));
            ak_pattern_fill(objs[i], s, i + c * 1000);
        }
        class_info_of(&a, c, &ci);
        CHECK(ci.slabs_full == 1 && ci.slabs_partial == 0 && ci.objects_in_use == n);
        ak_slab_usage_stats(&a, &st);
        CHECK(st.tlsf_used_bytes == tlsf0 + (ci.slab_size - AK_SLAB_TAIL));
        /* One slab, aligned to its size, objects on slot boundaries inside
         * it and disjoint. */
        uintptr_t slab = (uintptr_t)objs[0] & ~(uintptr_t)(ci.slab_size - 1);
        memset(taken, 0, sizeof taken);
        for (size_t i = 0; i < n; i++) {
            uintptr_t q = (uintptr_t)objs[i];
            CHECK(q >= slab && q + s <= slab + ci.slab_size - AK_SLAB_TAIL);
            CHECK(ak_is_aligned(q, ci.object_align));
            CHECK((q - slab) % s == 0);
            CHECK(!taken[(q - slab) / s]);
            taken[(q - slab) / s] = 1;
        }
        /* The slab full: the next alloc of the class takes a new slab. */
        void *extra;
        CHECK_OK(ak_slab_alloc(&a, s, 1, &extra));
        CHECK(((uintptr_t)extra & ~(uintptr_t)(ci.slab_size - 1)) != slab);
        class_info_of(&a, c, &ci);
        CHECK(ci.slabs_full == 1 && ci.slabs_partial == 1);
        /* Slot starts past the last object, interior pointers, 16-byte
         * steps inside an object and the next span are not objects. */
        for (uintptr_t off = n * s; off + 16 <= ci.slab_size; off += 16)
            CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(slab + off), s, 1), AK_ERR_NOT_ALLOCATED);
        unsigned char *p0 = (unsigned char *)objs[n / 2];
        CHECK_BAD(&a, ak_slab_dealloc(&a, p0 + 1, s, 1), AK_ERR_NOT_ALLOCATED);
        CHECK_BAD(&a, ak_slab_dealloc(&a, p0 + s / 2, s, 1), AK_ERR_NOT_ALLOCATED);
        for (size_t off = 16; off < s; off += 16)
            CHECK_BAD(&a, ak_slab_dealloc(&a, p0 + off, s, 1), AK_ERR_NOT_ALLOCATED);
        for (size_t i = 0; i < n; i++)
            CHECK(ak_pattern_ok(objs[i], s, i + c * 1000));
        /* Free in a scattered order: the first free puts the full slab back
         * on the list; the last one empties it, and a second empty slab of
         * the class is kept (the head holds `extra`). */
        for (size_t i = 0; i < n; i++) {
            size_t k = (i * 7) % n;
            if (n % 7 == 0)
                k = i;
            CHECK_OK(ak_slab_dealloc(&a, objs[k], s, 1));
            CHECK_BAD(&a, ak_slab_dealloc(&a, objs[k], s, 1), AK_ERR_NOT_ALLOCATED);
            if (i == 0) {
                class_info_of(&a, c, &ci);
                CHECK(ci.slabs_full == 0 && ci.slabs_partial == 2);
            }
        }
        class_info_of(&a, c, &ci);
        CHECK(ci.objects_in_use == 1 && ci.slabs_empty == 1 && ci.slabs_partial == 1);
        CHECK_INVARIANTS(ak_slab_check(&a));
        CHECK_OK(ak_slab_dealloc(&a, extra, s, 1));
        /* Two empty slabs kept now: the head and the spare. */
        class_info_of(&a, c, &ci);
        CHECK(ci.objects_in_use == 0 && ci.slabs_empty == 2 && ci.slabs_partial == 0);
        ak_slab_usage_stats(&a, &st);
        CHECK(st.tlsf_used_bytes == tlsf0 + 2 * (ci.slab_size - AK_SLAB_TAIL));
        CHECK_INVARIANTS(ak_slab_check(&a));
        /* A kept slab is reused, not a new one taken. */
        void *again;
        CHECK_OK(ak_slab_alloc(&a, s, 1, &again));
        ak_slab_usage_stats(&a, &st);
        CHECK(st.tlsf_used_bytes == tlsf0 + 2 * (ci.slab_size - AK_SLAB_TAIL));
        CHECK_OK(ak_slab_dealloc(&a, again, s, 1));
    }
    ak_slab_usage st;
    ak_slab_usage_stats(&a, &st);
    CHECK(st.slabs_empty == 2 * AK_SLAB_CLASS_COUNT && st.slabs == 2 * AK_SLAB_CLASS_COUNT);
    CHECK(ak_slab_trim(&a) == 2 * AK_SLAB_CLASS_COUNT);
    ak_slab_usage_stats(&a, &st);
    CHECK(st.slabs == 0 && st.tlsf_used_bytes == 0 && ak_slab_used_bytes(&a) == 0);
    CHECK(ak_slab_trim(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- freed objects are handed out again ---- */

static void test_reuse(void)
{
    ak_slab a;
    uintptr_t r = region(MIB);
    CHECK_OK(ak_slab_init(&a, r, MIB));
    ak_slab_class_info ci;
    class_info_of(&a, 6, &ci); /* 112 bytes, 36 per slab */
    size_t n = ci.objects_per_slab;
    static void *p[100];
    void *q;
    CHECK(n < 50);
    for (unsigned i = 0; i < n + 5; i++)
        CHECK_OK(ak_slab_alloc(&a, 100, 8, &p[i]));
    /* Within the head slab's current word: the object just freed. */
    CHECK_OK(ak_slab_dealloc(&a, p[n + 4], 100, 8));
    CHECK_OK(ak_slab_alloc(&a, 100, 8, &q));
    CHECK(q == p[n + 4]);
    /* A full slab that gets a free goes back on the list behind the head:
     * its object comes back once the head is full. */
    CHECK_OK(ak_slab_dealloc(&a, p[3], 100, 8));
    class_info_of(&a, 6, &ci);
    CHECK(ci.slabs_full == 0 && ci.slabs_partial == 2);
    for (unsigned i = n + 5; i < 2 * n; i++)
        CHECK_OK(ak_slab_alloc(&a, 100, 8, &p[i])); /* the head fills */
    CHECK_OK(ak_slab_alloc(&a, 100, 8, &q));
    CHECK(q == p[3]);
    class_info_of(&a, 6, &ci);
    CHECK(ci.slabs_full == 2 && ci.slabs_partial == 0 && ci.objects_in_use == 2 * n);
    CHECK_INVARIANTS(ak_slab_check(&a));
    for (unsigned i = 0; i < 2 * n; i++)
        CHECK_OK(ak_slab_dealloc(&a, p[i], 100, 8));
    CHECK(ak_slab_used_bytes(&a) == 0);
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
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + 2 * MIB + 8192), 1000, 8), AK_ERR_NOT_ALLOCATED);
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

/* ---- slab return on empty; at most two kept empty slabs ---- */

static void test_kept_empty(void)
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
    ak_slab_usage st;
    ak_slab_usage_stats(&a, &st);
    CHECK(st.tlsf_used_bytes == 4 * (ci.slab_size - AK_SLAB_TAIL));
    /* Free everything: slabs go back to the TLSF as they empty, except the
     * head and one spare. */
    for (size_t i = 0; i < count; i++) {
        CHECK_OK(ak_slab_dealloc(&a, p[i], s, 1));
        class_info_of(&a, 2, &ci);
        CHECK(ci.slabs_empty <= 2);
    }
    class_info_of(&a, 2, &ci);
    CHECK(ci.slabs_empty == 2 && ci.slabs_partial == 0 && ci.slabs_full == 0);
    ak_slab_usage_stats(&a, &st);
    CHECK(st.tlsf_used_bytes == 2 * (ci.slab_size - AK_SLAB_TAIL) && ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));

    /* Alternating alloc/free at a slab boundary does not thrash: fill one
     * slab exactly, then take and give back an object of a second. */
    CHECK(ak_slab_trim(&a) == 2);
    for (size_t i = 0; i < n; i++)
        CHECK_OK(ak_slab_alloc(&a, s, 1, &p[i]));
    class_info_of(&a, 2, &ci);
    CHECK(ci.slabs_partial + ci.slabs_full == 1 && ci.slabs_empty == 0);
    void *first = NULL;
    for (int round = 0; round < 1000; round++) {
        void *q;
        CHECK_OK(ak_slab_alloc(&a, s, 1, &q));
        CHECK(round == 0 || q == first);
        first = q;
        ak_slab_usage_stats(&a, &st);
        CHECK(st.tlsf_used_bytes == 2 * (ci.slab_size - AK_SLAB_TAIL) && st.slabs == 2);
        CHECK_OK(ak_slab_dealloc(&a, q, s, 1));
        ak_slab_usage_stats(&a, &st);
        CHECK(st.tlsf_used_bytes == 2 * (ci.slab_size - AK_SLAB_TAIL) && st.slabs_empty == 1);
    }
    for (size_t i = 0; i < n; i++)
        CHECK_OK(ak_slab_dealloc(&a, p[i], s, 1));
    ak_slab_usage_stats(&a, &st);
    CHECK(st.slabs == 2 && st.slabs_empty == 2);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- memory pressure gives the kept slabs back ---- */

static void test_pressure(void)
{
    ak_slab a;
    const size_t size = 2 * MIB; /* holds one slab of every class */
    uintptr_t r = region(size);
    CHECK_OK(ak_slab_init(&a, r, size));
    size_t largest = largest_alloc(&a);
    CHECK(largest > size / 2);
    /* Leave one empty slab in every class. */
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        void *p;
        size_t s = ak_slab_class_size(c);
        CHECK_OK(ak_slab_alloc(&a, s, 1, &p));
        CHECK_OK(ak_slab_dealloc(&a, p, s, 1));
    }
    ak_slab_usage st;
    ak_slab_usage_stats(&a, &st);
    CHECK(st.slabs == AK_SLAB_CLASS_COUNT && st.slabs_empty == AK_SLAB_CLASS_COUNT &&
          ak_slab_used_bytes(&a) == 0);
    /* The largest block fits again: the TLSF fails, the kept slabs go
     * back and the request is retried. */
    void *big;
    CHECK_OK(ak_slab_alloc(&a, largest, 1, &big));
    ak_slab_usage_stats(&a, &st);
    CHECK(st.slabs == 0 && st.large_blocks == 1);
    CHECK_OK(ak_slab_dealloc(&a, big, largest, 1));

    /* A new slab under pressure: keep empties in every class but 0, then
     * fill memory with class-0 objects; before it fails, every kept slab
     * must have been given back. */
    for (unsigned c = 1; c < AK_SLAB_CLASS_COUNT; c++) {
        void *p;
        size_t s = ak_slab_class_size(c);
        CHECK_OK(ak_slab_alloc(&a, s, 1, &p));
        CHECK_OK(ak_slab_dealloc(&a, p, s, 1));
    }
    size_t n = 0, cap = size / 16;
    void **objs = malloc(cap * sizeof *objs);
    CHECK(objs != NULL);
    ak_error e;
    while ((e = ak_slab_alloc(&a, 16, 16, &objs[n])) == AK_OK) {
        n++;
        CHECK(n < cap);
    }
    CHECK(e == AK_ERR_NO_MEMORY);
    ak_slab_usage_stats(&a, &st);
    CHECK(st.slabs_empty == 0);
    CHECK(st.slab_bytes > size - size / 8);
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* Nothing else fits either, small or large. */
    void *p;
    CHECK_BAD(&a, ak_slab_alloc(&a, 4096, 1, &p), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_alloc(&a, 5000, 1, &p), AK_ERR_NO_MEMORY);
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
        size_t u = ak_slab_usable_size(&a, p[i], sizes[i], 8);
        CHECK(u >= sizes[i] && u < sizes[i] + 64);
        memset(p[i], (int)i, sizes[i]);
        used += u;
    }
    ak_slab_usage st;
    ak_slab_usage_stats(&a, &st);
    CHECK(st.large_blocks == 6 && st.large_bytes == used && st.slabs == 0);
    CHECK(ak_slab_used_bytes(&a) == used);
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* Alignment above every class's guarantee, small size. */
    void *q;
    CHECK_OK(ak_slab_alloc(&a, 16, 8192, &q));
    CHECK(ak_is_aligned((uintptr_t)q, 8192));
    ak_slab_usage_stats(&a, &st);
    CHECK(st.large_blocks == 7 && st.slabs == 0);
    /* Freed as small: a live block with a size of a class (found by the
     * walk), refused. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, q, 16, 16), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, p[0], 4096, 1), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (char *)p[0] + 16, 4096, 1), AK_ERR_NOT_ALLOCATED);
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
    void *s16, *s64, *s4k, *big, *gone, *kept;
    CHECK_OK(ak_slab_alloc(&a, 10, 8, &s16));
    CHECK_OK(ak_slab_alloc(&a, 64, 64, &s64));
    CHECK_OK(ak_slab_alloc(&a, 4000, 1, &s4k));
    CHECK_OK(ak_slab_alloc(&a, 20000, 16, &big));
    CHECK_OK(ak_slab_alloc(&a, 10, 8, &gone));
    CHECK_OK(ak_slab_dealloc(&a, gone, 10, 8));
    CHECK_OK(ak_slab_alloc(&a, 200, 8, &kept)); /* leaves a kept empty slab */
    CHECK_OK(ak_slab_dealloc(&a, kept, 200, 8));
    int on_stack = 0;
    static char outside[64 * 1024] __attribute__((aligned(65536)));
    unsigned char *b16 = s16, *bbig = big;

    /* Outside every region. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, NULL, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, &on_stack, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, outside + 4096 + 80, 16, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, outside + 4096, 3000, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, outside + 100, 20000, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + 4 * MIB), 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r - 16), 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(UINTPTR_MAX - 15), 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(UINTPTR_MAX - 15), 3000, 8), AK_ERR_NOT_ALLOCATED);
    /* Inside the region but never allocated: its record and table, free
     * TLSF memory, the end of the region. */
    for (uintptr_t off = 0; off < 4 * MIB / 64 + 512; off += 48)
        CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + off), 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)r, 20000, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + 2 * MIB + 80), 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + 4 * MIB - 16), 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)(r + 3 * MIB), 20000, 16), AK_ERR_NOT_ALLOCATED);
    /* Not an object start. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, b16 + 1, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, b16 + 8, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, (char *)s4k + 256, 4000, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, bbig + 16, 20000, 16), AK_ERR_NOT_ALLOCATED);
    /* Already free: in a live slab, and in a kept empty slab. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, gone, 10, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_dealloc(&a, kept, 200, 8), AK_ERR_NOT_ALLOCATED);
    /* A size or align of another class: a live object, refused. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, s16, 64, 8), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s16, 10, 4096), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s64, 48, 8), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s4k, 3000, 1), AK_ERR_INVALID_PARAM);
    /* A small object freed as large: a live block with a wrong size. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, s4k, 5000, 1), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s16, 10, 8192), AK_ERR_INVALID_PARAM);
    /* The slab under an object: never a block of its own. */
    uintptr_t slab16 = (uintptr_t)s16 & ~(uintptr_t)4095;
    if (slab16 != (uintptr_t)s16) {
        CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)slab16, 4096, 4096), AK_ERR_NOT_ALLOCATED);
        CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)slab16, 8192, 4096), AK_ERR_NOT_ALLOCATED);
    }
    uintptr_t slab4k = (uintptr_t)s4k & ~(uintptr_t)65535;
    CHECK((uintptr_t)s4k != slab4k || ak_slab_usable_size(&a, s4k, 4000, 1) == 4096);
    void *s320;
    CHECK_OK(ak_slab_alloc(&a, 300, 8, &s320)); /* class 320: 16 KiB slabs */
    uintptr_t slab320 = (uintptr_t)s320 & ~(uintptr_t)16383;
    if (slab320 != (uintptr_t)s320) {
        CHECK_BAD(&a, ak_slab_dealloc(&a, (void *)slab320, 16384 - AK_SLAB_TAIL, 16384),
                  AK_ERR_NOT_ALLOCATED);
        CHECK_BAD(&a, ak_slab_resize(&a, (void *)slab320, 16384 - AK_SLAB_TAIL, 16384, 20000),
                  AK_ERR_NOT_ALLOCATED);
    }
    CHECK_OK(ak_slab_dealloc(&a, s320, 300, 8));
    /* A large block freed as small: a live block with a wrong size. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, big, 4096, 16), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, big, 16, 16), AK_ERR_INVALID_PARAM);
    /* A large block with a wrong large size: the TLSF's answer, an error. */
    CHECK_BAD_TLSF(&a, ak_slab_dealloc(&a, big, 1000000, 16));
    /* Bad alignments. */
    CHECK_BAD(&a, ak_slab_dealloc(&a, s16, 10, 0), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s16, 10, 24), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s16, 10, 3), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, s4k, 4000, 12), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_dealloc(&a, big, 20000, 3), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_alloc(&a, 10, 0, &gone), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_alloc(&a, 10, 48, &gone), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_alloc(&a, 1000, 6, &gone), AK_ERR_INVALID_PARAM);
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

/* ---- bad input that used to break state (each failed before the
 * allocator was rewritten) ---- */

/* Objects from before an init are refused after it, large and small, and
 * filling the pool again gives disjoint blocks. */
static void test_reinit_forgets_blocks(void)
{
    ak_slab a;
    memset(&a, 0, sizeof a);
    const size_t size = 4 * MIB;
    uintptr_t r = region(size);
    void *w, *x, *z, *s1, *s2, *s3;
    CHECK_OK(ak_slab_init(&a, r, size));
    CHECK_OK(ak_slab_alloc(&a, 5000, 16, &w));
    CHECK_OK(ak_slab_alloc(&a, 5000, 16, &x));
    CHECK_OK(ak_slab_alloc(&a, 5000, 16, &z));
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &s1));
    CHECK_OK(ak_slab_alloc(&a, 2000, 8, &s2));
    CHECK_OK(ak_slab_alloc(&a, 16, 16, &s3));
    CHECK_OK(ak_slab_init(&a, r, size));
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    CHECK_ERR(ak_slab_dealloc(&a, x, 5000, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_dealloc(&a, w, 5000, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_dealloc(&a, z, 5000, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_dealloc(&a, s1, 100, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_dealloc(&a, s2, 2000, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_dealloc(&a, s3, 16, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_resize(&a, x, 5000, 16, 6000), AK_ERR_NOT_ALLOCATED);
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* Fill the pool with both kinds: every block inside the pool, no two
     * overlapping (a byte map of the pool). */
    unsigned char *owner = calloc(size, 1);
    CHECK(owner != NULL);
    enum { N = 4096 };
    static void *p[N];
    static size_t ps[N];
    unsigned n = 0;
    for (int pass = 0; pass < 2 && n < N; pass++) {
        size_t want = pass == 0 ? 5000 : 100;
        while (n < N && ak_slab_alloc(&a, want, 16, &p[n]) == AK_OK) {
            uintptr_t q = (uintptr_t)p[n];
            CHECK(q >= r && q + want <= r + size);
            for (size_t i = 0; i < want; i++) {
                CHECK(!owner[q - r + i]);
                owner[q - r + i] = 1;
            }
            ps[n++] = want;
        }
    }
    CHECK(n > 700);
    CHECK_INVARIANTS(ak_slab_check(&a));
    while (n > 0) {
        n--;
        CHECK_OK(ak_slab_dealloc(&a, p[n], ps[n], 16));
    }
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free(owner);
    free_regions();
}

/* A failed init leaves the allocator as it was. */
static void test_failed_init_keeps_state(void)
{
    ak_slab a;
    memset(&a, 0, sizeof a);
    uintptr_t r = region(2 * MIB);
    void *p, *q;
    CHECK_OK(ak_slab_init(&a, r, MIB));
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &p));
    CHECK_OK(ak_slab_alloc(&a, 5000, 16, &q));
    size_t total = ak_slab_total_bytes(&a), used = ak_slab_used_bytes(&a);
    ak_slab_usage st0, st1;
    ak_slab_usage_stats(&a, &st0);
    CHECK(used >= 5100);
    const uintptr_t starts[] = {r + MIB, UINTPTR_MAX - 100, r + MIB + 3};
    const size_t sizes[] = {0, 1000, 8};
    for (unsigned i = 0; i < 3; i++) {
        CHECK_ERR(ak_slab_init(&a, starts[i], sizes[i]), AK_ERR_INVALID_PARAM);
        ak_slab_usage_stats(&a, &st1);
        CHECK(ak_slab_total_bytes(&a) == total && ak_slab_used_bytes(&a) == used);
        CHECK(st1.slabs == st0.slabs && st1.large_blocks == st0.large_blocks &&
              st1.tlsf_used_bytes == st0.tlsf_used_bytes);
        CHECK_INVARIANTS(ak_slab_check(&a));
    }
    CHECK_OK(ak_slab_dealloc(&a, p, 100, 16));
    CHECK_OK(ak_slab_dealloc(&a, q, 5000, 16));
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* A free with another size the same block could have been allocated with
 * is harmless (each block counts at its usable size); a size of another
 * class is refused and changes nothing. */
static void test_wrong_size_same_block(void)
{
    ak_slab a;
    memset(&a, 0, sizeof a);
    uintptr_t r = region(2 * MIB);
    CHECK_OK(ak_slab_init(&a, r, 2 * MIB));
    void *big, *small, *other;
    CHECK_OK(ak_slab_alloc(&a, 5000, 16, &big));
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &small));
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &other));
    size_t usmall = ak_slab_usable_size(&a, small, 100, 16);
    /* The large block freed with 4999: what the TLSF says; either way the
     * state stays sound and the block is freed once. */
    ak_error e = ak_slab_dealloc(&a, big, 4999, 16);
    CHECK(e == AK_OK || e == AK_ERR_INVALID_PARAM);
    CHECK_INVARIANTS(ak_slab_check(&a));
    if (e != AK_OK)
        CHECK_OK(ak_slab_dealloc(&a, big, 5000, 16));
    CHECK_ERR(ak_slab_dealloc(&a, big, 5000, 16), AK_ERR_NOT_ALLOCATED);
    /* The small object freed with 99 (same class). */
    CHECK_OK(ak_slab_dealloc(&a, small, 99, 16));
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* Sizes of other classes: refused, nothing changes. */
    size_t used = ak_slab_used_bytes(&a);
    CHECK(ak_slab_dealloc(&a, other, 200, 16) != AK_OK);
    CHECK(ak_slab_dealloc(&a, other, 16, 16) != AK_OK);
    CHECK(ak_slab_dealloc(&a, other, 5000, 16) != AK_OK);
    CHECK(ak_slab_used_bytes(&a) == used);
    CHECK_INVARIANTS(ak_slab_check(&a));
    CHECK_OK(ak_slab_dealloc(&a, other, 97, 8));
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* Each block counts at its usable size, whatever size frees it. */
    CHECK_OK(ak_slab_alloc(&a, 5000, 16, &big));
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &small));
    size_t ubig = ak_slab_usable_size(&a, big, 5000, 16);
    CHECK(usmall == 112 && ubig >= 5000);
    CHECK(ak_slab_used_bytes(&a) == ubig + usmall);
    CHECK_OK(ak_slab_dealloc(&a, small, 97, 16));
    CHECK(ak_slab_used_bytes(&a) == ubig);
    CHECK_OK(ak_slab_dealloc(&a, big, 5000, 16));
    CHECK(ak_slab_used_bytes(&a) == 0);
    free_regions();
}

/* resize of something that is not a block answers as dealloc does. */
static void test_resize_not_a_block(void)
{
    ak_slab a;
    memset(&a, 0, sizeof a);
    uintptr_t r = region(2 * MIB);
    CHECK_OK(ak_slab_init(&a, r, 2 * MIB));
    void *p, *big, *gone;
    int local = 0;
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &p));
    CHECK_OK(ak_slab_alloc(&a, 5000, 16, &big));
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &gone));
    CHECK_OK(ak_slab_dealloc(&a, gone, 100, 16));
    size_t used = ak_slab_used_bytes(&a);
    CHECK_ERR(ak_slab_resize(&a, (char *)p + 16, 100, 16, 90), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_resize(&a, (char *)p + 16, 100, 16, 6000), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_resize(&a, gone, 100, 16, 90), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_resize(&a, &local, 100, 16, 90), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_resize(&a, &local, 5000, 16, 6000), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_resize(&a, (char *)big + 4096, 100, 16, 90), AK_ERR_NOT_ALLOCATED);
    /* A large old size for what is no large block, down to a small size:
     * dealloc's answer, not "cannot be done in place". */
    CHECK_ERR(ak_slab_resize(&a, (char *)p + 16, 5000, 16, 100), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_resize(&a, (char *)big + 16, 5000, 16, 100), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_resize(&a, &local, 5000, 16, 100), AK_ERR_NOT_ALLOCATED);
    ak_error e = ak_slab_resize(&a, p, 5000, 16, 100);
    CHECK(e == AK_ERR_NOT_ALLOCATED || e == AK_ERR_INVALID_PARAM);
    CHECK(ak_slab_dealloc(&a, p, 5000, 16) == e);
    CHECK(ak_slab_resize(&a, p, 5000, 16, 6000) == e);
    CHECK(ak_slab_used_bytes(&a) == used);
    CHECK_INVARIANTS(ak_slab_check(&a));
    CHECK_OK(ak_slab_dealloc(&a, p, 100, 16));
    CHECK_OK(ak_slab_dealloc(&a, big, 5000, 16));
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* usable_size of something that is not a live block is 0. */
static void test_usable_size_bad_pointer(void)
{
    ak_slab a;
    memset(&a, 0, sizeof a);
    uintptr_t r = region(2 * MIB);
    CHECK_OK(ak_slab_init(&a, r, 2 * MIB));
    void *p, *big;
    int local = 0;
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &p));
    CHECK_OK(ak_slab_alloc(&a, 5000, 16, &big));
    CHECK(ak_slab_usable_size(&a, p, 100, 16) == 112);
    CHECK(ak_slab_usable_size(&a, (char *)p + 16, 100, 16) == 0);
    CHECK(ak_slab_usable_size(&a, &local, 100, 16) == 0);
    CHECK(ak_slab_usable_size(&a, &local, 5000, 16) == 0);
    CHECK(ak_slab_usable_size(&a, (char *)big + 16, 5000, 16) == 0);
    CHECK(ak_slab_usable_size(&a, p, 100, 3) == 0);
    CHECK(ak_slab_usable_size(&a, p, 300, 16) == 0);
    CHECK_OK(ak_slab_dealloc(&a, p, 100, 16));
    CHECK(ak_slab_usable_size(&a, p, 100, 16) == 0);
    CHECK_OK(ak_slab_dealloc(&a, big, 5000, 16));
    CHECK(ak_slab_usable_size(&a, big, 5000, 16) == 0);
    free_regions();
}

/* A request that no region could ever hold changes nothing, not even the
 * kept empty slabs. */
static void test_impossible_request(void)
{
    ak_slab a;
    memset(&a, 0, sizeof a);
    const size_t size = 4 * MIB;
    uintptr_t r = region(size); /* 64 KiB-aligned */
    CHECK_OK(ak_slab_init(&a, r, size));
    void *p, *q;
    CHECK_OK(ak_slab_alloc(&a, 4000, 16, &p)); /* kept memory in class 4096 */
    CHECK_OK(ak_slab_dealloc(&a, p, 4000, 16));
    CHECK_OK(ak_slab_alloc(&a, 200, 16, &p)); /* and in class 224 */
    CHECK_OK(ak_slab_dealloc(&a, p, 200, 16));
    ak_slab_usage st0, st1;
    ak_slab_usage_stats(&a, &st0);
    size_t total = ak_slab_total_bytes(&a);
    const size_t sizes[] = {total, total + 1, size, SIZE_MAX / 2};
    const size_t aligns[] = {65536, 1 << 20, (size_t)1 << 30};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (unsigned j = 0; j < sizeof aligns / sizeof aligns[0]; j++) {
            ak_error e = ak_slab_alloc(&a, sizes[i], aligns[j], &q);
            CHECK(e == AK_ERR_NO_MEMORY || e == AK_ERR_INVALID_PARAM);
            ak_slab_usage_stats(&a, &st1);
            CHECKF(st1.slabs_empty == st0.slabs_empty && st1.slabs == st0.slabs &&
                       st1.small_objects == st0.small_objects &&
                       st1.tlsf_used_bytes == st0.tlsf_used_bytes,
                   "alloc(%zu, %zu) changed the kept slabs", sizes[i], aligns[j]);
        }
    }
    CHECK(st0.slabs_empty == 2);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* alloc with out == NULL is refused. */
static void test_alloc_out_null(void)
{
    ak_slab a;
    memset(&a, 0, sizeof a);
    uintptr_t r = region(MIB);
    CHECK_OK(ak_slab_init(&a, r, MIB));
    const size_t sizes[] = {0, 16, 100, 1000, 4096, 5000};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        CHECK_ERR(ak_slab_alloc(&a, sizes[i], 16, NULL), AK_ERR_INVALID_PARAM);
        CHECK_ERR(ak_slab_alloc(&a, sizes[i], 8192, NULL), AK_ERR_INVALID_PARAM);
    }
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
    CHECK_OK(ak_slab_alloc(&a, 1000, 8, &p)); /* a kept empty slab must survive */
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
            e = ak_slab_resize(&a, keep, sizes[i], aligns[j], 100);
            CHECK(e == AK_ERR_INVALID_PARAM || e == AK_ERR_NOT_ALLOCATED);
            CHECK(ak_slab_usable_size(&a, keep, sizes[i], aligns[j]) == 0);
            snap(&a, &y);
            CHECK(snap_same(&x, &y));
        }
    }
    /* Small sizes with huge alignments. Some could fit in principle (the
     * region may hold such an address), so a failure may give kept slabs
     * back: start without any. */
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
    CHECK(ak_slab_used_bytes(&a) == 32);
    CHECK_OK(ak_slab_resize(&a, p, 20, 8, 32)); /* same class: in place */
    CHECK(ak_slab_used_bytes(&a) == 32);
    CHECK_OK(ak_slab_resize(&a, p, 32, 8, 17));
    CHECK(ak_slab_used_bytes(&a) == 32);
    CHECK_BAD(&a, ak_slab_resize(&a, p, 17, 8, 33), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_resize(&a, p, 17, 8, 16), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_resize(&a, p, 17, 8, 100000), AK_ERR_NO_MEMORY);
    CHECK_BAD(&a, ak_slab_resize(&a, (char *)p + 16, 17, 8, 20), AK_ERR_NOT_ALLOCATED);
    CHECK_BAD(&a, ak_slab_resize(&a, p, 17, 3, 20), AK_ERR_INVALID_PARAM);
    CHECK_BAD(&a, ak_slab_resize(&a, p, 100, 8, 100), AK_ERR_INVALID_PARAM);
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
    CHECK(ak_slab_used_bytes(&a) == ak_slab_usable_size(&a, big, size, 16));
    e = ak_slab_resize(&a, big, size, 16, 120000);
    if (e == AK_OK)
        size = 120000;
    else
        CHECK(e == AK_ERR_NO_MEMORY);
    CHECK(ak_slab_used_bytes(&a) == ak_slab_usable_size(&a, big, size, 16));
    CHECK(ak_slab_usable_size(&a, big, size, 16) >= size);
    CHECK(((unsigned char *)big)[49999] == 9);
    CHECK_INVARIANTS(ak_slab_check(&a));
    CHECK_OK(ak_slab_dealloc(&a, big, size, 16));
    CHECK(ak_slab_used_bytes(&a) == 0);
    CHECK(ak_slab_usable_size(&a, p, 17, 8) == 0);
    CHECK(ak_slab_usable_size(&a, p, 17, 5) == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- the cache hooks ---- */

static void test_cache_hooks(void)
{
    ak_slab a = {0};
    ak_byte_allocator h = ak_slab_as_byte(&a);
    CHECK(ak_byte_can_cache(h));
    uintptr_t r = region(2 * MIB);
    CHECK_OK(ak_slab_init(&a, r, 2 * MIB));
    const size_t sizes[] = {0, 16, 100, 1000, 4096, 5000, 100000};
    void *p[7];
    for (unsigned i = 0; i < 7; i++) {
        CHECK_OK(ak_slab_alloc(&a, sizes[i], 16, &p[i]));
        memset(p[i], 0x5c, sizes[i] ? sizes[i] : 1);
    }
    size_t used = ak_slab_used_bytes(&a);
    for (unsigned i = 0; i < 7; i++) {
        snapshot x, y;
        snap(&a, &x);
        CHECK_OK(ak_byte_cache(h, p[i], sizes[i], 16));
        snap(&a, &y);
        CHECK(snap_same(&x, &y)); /* still allocated, nothing counted anew */
        /* Cached already: refused, as a double free is. */
        CHECK_ERR(ak_slab_cache(&a, p[i], sizes[i], 16), AK_ERR_NOT_ALLOCATED);
        /* The checks of dealloc. */
        CHECK_ERR(ak_slab_cache(&a, (char *)p[i] + 16, sizes[i], 16), AK_ERR_NOT_ALLOCATED);
        CHECK_ERR(ak_slab_cache(&a, p[i], sizes[i], 3), AK_ERR_INVALID_PARAM);
        CHECK(ak_slab_used_bytes(&a) == used);
    }
    int local = 0;
    CHECK_ERR(ak_slab_cache(&a, &local, 16, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_cache(&a, &local, 5000, 16), AK_ERR_NOT_ALLOCATED);
    /* A cached block named with another class: the layer's callers have no
     * block there at all. */
    CHECK_ERR(ak_slab_cache(&a, p[2], 1000, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_slab_cache(&a, p[2], 5000, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* Uncached, they are live blocks again: cached again, uncached, freed. */
    for (unsigned i = 0; i < 7; i++) {
        ak_byte_uncache(h, p[i], sizes[i], 16);
        if (i == 2) {
            /* A live block named with another class, or as large. */
            CHECK_ERR(ak_slab_cache(&a, p[2], 1000, 16), AK_ERR_INVALID_PARAM);
            CHECK_ERR(ak_slab_cache(&a, p[2], 5000, 16), AK_ERR_INVALID_PARAM);
        }
        CHECK_OK(ak_slab_cache(&a, p[i], sizes[i], 16));
        ak_slab_uncache(&a, p[i], sizes[i], 16);
        CHECK_OK(ak_slab_dealloc(&a, p[i], sizes[i], 16));
        CHECK_ERR(ak_slab_cache(&a, p[i], sizes[i], 16), AK_ERR_NOT_ALLOCATED);
    }
    CHECK(ak_slab_used_bytes(&a) == 0);
    /* A block handed out again is not taken for cached, even where the
     * mark was left (its memory untouched since). */
    void *q;
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &q));
    CHECK_OK(ak_slab_cache(&a, q, 100, 16));
    ak_slab_uncache(&a, q, 100, 16);
    CHECK_OK(ak_slab_dealloc(&a, q, 100, 16));
    void *q2;
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &q2));
    CHECK(q2 == q);
    CHECK_OK(ak_slab_cache(&a, q2, 100, 16));
    ak_slab_uncache(&a, q2, 100, 16);
    CHECK_OK(ak_slab_dealloc(&a, q2, 100, 16));
    /* After init the marks of the old life do not count. */
    CHECK_OK(ak_slab_init(&a, r, 2 * MIB));
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &q));
    CHECK_OK(ak_slab_cache(&a, q, 100, 16));
    CHECK_OK(ak_slab_init(&a, r, 2 * MIB));
    CHECK_OK(ak_slab_alloc(&a, 100, 16, &q2));
    CHECK(q2 == q);
    CHECK_OK(ak_slab_cache(&a, q2, 100, 16));
    ak_slab_uncache(&a, q2, 100, 16);
    CHECK_OK(ak_slab_dealloc(&a, q2, 100, 16));
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- the walker and the statistics ---- */

/* The walk against the stats and the live blocks, directly and through
 * the handle; the two must be the same. */
static void check_walk(const ak_slab *a, wc_block *live, size_t n, const wc_block *regions,
                       size_t nregions)
{
    static wc_walk w, wh;
    static wc_block sorted[2048];
    struct ak_byte_stats st, sh;
    ak_slab_stats(a, &st);
    ak_byte_stats(ak_slab_as_byte((ak_slab *)a), &sh);
    CHECK(memcmp(&st, &sh, sizeof st) == 0);
    CHECK(st.total_bytes == ak_slab_total_bytes(a) && st.used_bytes == ak_slab_used_bytes(a));
    CHECK(st.region_count == nregions);
    wc_reset(&w);
    ak_slab_walk(a, wc_collect, &w);
    if (n)
        memcpy(sorted, live, n * sizeof *live);
    const char *why = wc_check(&w, &st, sorted, n, WC_EXACT);
    CHECKF(why == NULL, "%s", why);
    why = wc_check_regions(&w, regions, nregions);
    CHECKF(why == NULL, "%s", why);
    wc_reset(&wh);
    CHECK_OK(ak_byte_walk(ak_slab_as_byte((ak_slab *)a), wc_collect, &wh));
    CHECK(wc_equal(&w, &wh));
}

static void test_walk(void)
{
    ak_slab a;
    wc_block regions[2] = {{region(8 * MIB), 8 * MIB, false}, {region(4 * MIB), 4 * MIB, false}};
    CHECK_OK(ak_slab_init(&a, regions[0].start, regions[0].size));
    check_walk(&a, NULL, 0, regions, 1);
    CHECK_OK(ak_slab_add_memory(&a, regions[1].start, regions[1].size));
    check_walk(&a, NULL, 0, regions, 2);
    enum { N = 2000 };
    static wc_block live[N];
    static size_t req[N], al[N];
    size_t n = 0;
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed + 7);
    uint64_t ops = ak_test_ops(20000, 5000);
    for (uint64_t i = 0; i < ops; i++) {
        if (n && (n == N || ak_rng_below(&rng, 100) < 45)) {
            size_t k = ak_rng_below(&rng, n);
            CHECK_OK(ak_slab_dealloc(&a, (void *)live[k].start, req[k], al[k]));
            live[k] = live[--n];
            req[k] = req[n];
            al[k] = al[n];
        } else {
            size_t size = ak_rng_below(&rng, 10) == 0 ? (size_t)ak_rng_range(&rng, 4097, 30000)
                                                      : (size_t)ak_rng_below(&rng, 4097);
            size_t align = (size_t)1 << ak_rng_below(&rng, 8);
            void *p;
            CHECK_OK(ak_slab_alloc(&a, size, align, &p));
            live[n].start = (uintptr_t)p;
            live[n].size = ak_slab_usable_size(&a, p, size, align);
            req[n] = size;
            al[n] = align;
            n++;
        }
        if (i % 101 == 0)
            check_walk(&a, live, n, regions, 2);
    }
    check_walk(&a, live, n, regions, 2);
    /* A block a cache layer holds is live to the slab. */
    if (n) {
        CHECK_OK(ak_slab_cache(&a, (void *)live[0].start, req[0], al[0]));
        check_walk(&a, live, n, regions, 2);
        ak_slab_uncache(&a, (void *)live[0].start, req[0], al[0]);
    }
    /* Kept empty slabs are free objects; trimmed, they are TLSF space. */
    while (n) {
        n--;
        CHECK_OK(ak_slab_dealloc(&a, (void *)live[n].start, req[n], al[n]));
    }
    check_walk(&a, live, 0, regions, 2);
    ak_slab_trim(&a);
    check_walk(&a, live, 0, regions, 2);
    struct ak_byte_stats st;
    ak_slab_stats(&a, &st);
    CHECK(st.used_blocks == 0 && st.used_bytes == 0 && st.failed_allocs == 0);
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* failed_allocs counts every alloc that found no memory, small or large,
 * and starts over at init. */
static void test_failed_allocs(void)
{
    ak_slab a;
    const size_t size = MIB;
    uintptr_t r = region(size);
    CHECK_OK(ak_slab_init(&a, r, size));
    struct ak_byte_stats st;
    void *p;
    CHECK_ERR(ak_slab_alloc(&a, 8 * MIB, 16, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_slab_alloc(&a, 16, 16, NULL), AK_ERR_INVALID_PARAM);
    ak_slab_stats(&a, &st);
    CHECK(st.failed_allocs == 1);
    size_t taken = 0;
    while (ak_slab_alloc(&a, 2048, 16, &p) == AK_OK)
        taken++;
    ak_slab_stats(&a, &st);
    CHECK(taken > 0 && st.failed_allocs == 2);
    CHECK(st.used_blocks == taken);
    CHECK_ERR(ak_slab_alloc(&a, 100000, 16, &p), AK_ERR_NO_MEMORY);
    ak_slab_stats(&a, &st);
    CHECK(st.failed_allocs == 3);
    CHECK_OK(ak_slab_init(&a, r, size));
    ak_slab_stats(&a, &st);
    CHECK(st.failed_allocs == 0 && st.used_blocks == 0);
    /* A zero-initialised slab has nothing to give. */
    ak_slab z;
    memset(&z, 0, sizeof z);
    CHECK_ERR(ak_slab_alloc(&z, 16, 16, &p), AK_ERR_NO_MEMORY);
    ak_slab_stats(&z, &st);
    CHECK(st.failed_allocs == 1 && st.total_bytes == 0 && st.free_blocks == 0);
    free_regions();
}

/* ---- the checker sees damage ---- */

/* The descriptor slot of the 4 KiB frame at h, found through what the
 * walker and usable_size show: the table is where the region's record
 * says. Here, through the allocator's own view of the last free. */
static unsigned char *slot_of(const ak_slab *a, uintptr_t h)
{
    return a->hint_tbl + ((h - a->hint_base) >> 12) * 64;
}

static void test_checker_catches(void)
{
    ak_slab a;
    uintptr_t r = region(MIB);
    CHECK_OK(ak_slab_init(&a, r, MIB));
    void *p, *q;
    CHECK_OK(ak_slab_alloc(&a, 16, 16, &p));
    CHECK_OK(ak_slab_alloc(&a, 16, 16, &q));
    CHECK_OK(ak_slab_dealloc(&a, q, 16, 16)); /* the view is p's region */
    CHECK_INVARIANTS(ak_slab_check(&a));
    uintptr_t h = (uintptr_t)p & ~(uintptr_t)4095;
    unsigned char *slot = slot_of(&a, h);
    size_t *map = (size_t *)(void *)slot;
    size_t g = ((uintptr_t)p - h) >> 4, w = g / AK_SIZE_BITS, b = g % AK_SIZE_BITS;
    /* The object's bit says live: clear it, as a lost free would. */
    CHECK(((map[w] >> b) & 1) == 0);
    map[w] |= (size_t)1 << b;
    CHECK(ak_slab_check(&a) != NULL);
    map[w] &= ~((size_t)1 << b);
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* A live bit where no object starts: past the last object. */
    map[AK_SLAB_MAP_WORDS - 1] &= ~((size_t)1 << (AK_SIZE_BITS - 1));
    CHECK(ak_slab_check(&a) != NULL);
    map[AK_SLAB_MAP_WORDS - 1] |= (size_t)1 << (AK_SIZE_BITS - 1);
    CHECK_INVARIANTS(ak_slab_check(&a));
    /* The live counter. */
    a.live[0]++;
    CHECK(ak_slab_check(&a) != NULL);
    a.live[0]--;
    /* The slab counter. */
    a.slabs[0]++;
    CHECK(ak_slab_check(&a) != NULL);
    a.slabs[0]--;
    /* A slot in the slab's span claiming to start a slab of another class. */
    unsigned char *next = slot + 64;
    if ((h + 4096) - a.hint_base < (uintptr_t)a.hint_span * 16) {
        unsigned char saved[64];
        memcpy(saved, next, 64);
        memcpy(next, slot, 64);
        CHECK(ak_slab_check(&a) != NULL);
        memcpy(next, saved, 64);
    }
    /* The head's list link. */
    void *head = a.head[0];
    a.head[0] = (struct ak_slab_desc *)(void *)next;
    CHECK(ak_slab_check(&a) != NULL);
    a.head[0] = head;
    /* The per-class constants. */
    a.gran_shift[5]++;
    CHECK(ak_slab_check(&a) != NULL);
    a.gran_shift[5]--;
    a.class_of[20]++;
    CHECK(ak_slab_check(&a) != NULL);
    a.class_of[20]--;
    /* The free path's view. */
    a.hint_span += 256;
    CHECK(ak_slab_check(&a) != NULL);
    a.hint_span -= 256;
    /* Large block count. */
    a.large_count++;
    CHECK(ak_slab_check(&a) != NULL);
    a.large_count--;
    CHECK_INVARIANTS(ak_slab_check(&a));
    CHECK_OK(ak_slab_dealloc(&a, p, 16, 16));
    CHECK_INVARIANTS(ak_slab_check(&a));
    free_regions();
}

/* ---- the byte interface ---- */

static void test_interface(void)
{
    ak_slab a = {0};
    ak_byte_allocator h = ak_slab_as_byte(&a);
    CHECK(strcmp(ak_byte_name(h), "slab") == 0);
    CHECK(h.ops->resize && h.ops->usable_size && h.ops->check && h.ops->cache && h.ops->uncache);
    uintptr_t r = region(2 * MIB);
    CHECK_OK(ak_byte_init(h, r, MIB));
    CHECK_OK(ak_byte_add_memory(h, r + MIB, MIB));
    CHECK_ERR(ak_byte_add_memory(h, r, 100), AK_ERR_MEMORY_OVERLAP);
    void *p, *q;
    CHECK_OK(ak_byte_alloc(h, 100, 16, &p));
    CHECK_OK(ak_byte_alloc(h, 10000, 64, &q));
    size_t uq = ak_byte_usable_size(h, q, 10000, 64);
    CHECK(uq >= 10000);
    CHECK(ak_byte_used_bytes(h) == 112 + uq);
    CHECK(ak_byte_total_bytes(h) == ak_slab_total_bytes(&a));
    CHECK(ak_byte_available_bytes(h) == ak_byte_total_bytes(h) - 112 - uq);
    CHECK(ak_byte_usable_size(h, p, 100, 16) == 112);
    CHECK_OK(ak_byte_resize(h, p, 100, 16, 110));
    CHECK_ERR(ak_byte_resize(h, p, 110, 16, 200), AK_ERR_NO_MEMORY);
    CHECK_INVARIANTS(ak_byte_check(h));
    CHECK_ERR(ak_byte_dealloc(h, p, 100, 64), AK_ERR_INVALID_PARAM); /* class 128 */
    CHECK_ERR(ak_byte_alloc(h, 16, 16, NULL), AK_ERR_INVALID_PARAM);
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
        ak_slab_usage st;
        ak_slab_usage_stats(&a, &st);
        /* Only kept empty slabs remain. */
        CHECK(st.slabs == st.slabs_empty && st.small_objects == 0 &&
              st.slabs_empty <= 2 * AK_SLAB_CLASS_COUNT);
        /* Exactly the largest allocation of the start fits again. */
        void *p;
        CHECK_OK(ak_slab_alloc(&a, largest, 1, &p));
        ak_slab_usage_stats(&a, &st);
        CHECK(st.slabs == 0);
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
    size_t size, align, usable;
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

/* A size the block could also have been allocated with (same class for a
 * small one), for frees that pass another size. */
static size_t other_size_of(ak_rng *r, const live *b)
{
    int c = ak_slab_class_of(b->size, b->align);
    if (c >= LARGE_CLASS || b->size == 0)
        return b->size;
    size_t lo = c == 0 ? 1 : ak_slab_class_size((unsigned)c - 1) + 1;
    size_t s = (size_t)ak_rng_range(r, lo, ak_slab_class_size((unsigned)c));
    return ak_slab_class_of(s, b->align) == c ? s : b->size;
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
    uint64_t tag = 1, nomem = 0, allocs = 0, frees = 0, resizes = 0, cached = 0;
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
            size_t u = ak_slab_usable_size(&a, p, s, al);
            CHECK(u >= s);
            shadow *sh = shadow_of(q, u);
            CHECKF(sh != NULL, "%p+%zu outside every region", p, u);
            CHECKF(shadow_mark(sh, q, u, 1), "%p+%zu overlaps a live block", p, u);
            fill(p, s, tag);
            L[n].p = p;
            L[n].size = s;
            L[n].align = al;
            L[n].usable = u;
            L[n].tag = tag++;
            n++;
            used += u;
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
                size_t u = ak_slab_usable_size(&a, L[i].p, ns, L[i].align);
                CHECK(u >= ns);
                shadow *sh = shadow_of((uintptr_t)L[i].p, 1);
                CHECK(shadow_mark(sh, (uintptr_t)L[i].p, L[i].usable, 0));
                CHECK(shadow_of((uintptr_t)L[i].p, u) == sh);
                CHECK(shadow_mark(sh, (uintptr_t)L[i].p, u, 1));
                used = used - L[i].usable + u;
                L[i].size = ns;
                L[i].usable = u;
                L[i].tag = tag++;
                fill(L[i].p, ns, L[i].tag);
            } else {
                CHECK(e == AK_ERR_NO_MEMORY);
            }
        } else if (k % 50 == 2) {
            /* through the cache hooks and back */
            size_t i = (size_t)ak_rng_below(&rng, n);
            CHECK_OK(ak_slab_cache(&a, L[i].p, L[i].size, L[i].align));
            CHECK_ERR(ak_slab_cache(&a, L[i].p, L[i].size, L[i].align), AK_ERR_NOT_ALLOCATED);
            ak_slab_uncache(&a, L[i].p, L[i].size, L[i].align);
            L[i].tag = tag++;
            fill(L[i].p, L[i].size, L[i].tag);
            cached++;
        } else {
            size_t i = (size_t)ak_rng_below(&rng, n);
            live b = L[i];
            CHECKF(intact(b.p, b.size, b.tag), "block %p+%zu corrupted", (void *)b.p, b.size);
            shadow *sh = shadow_of((uintptr_t)b.p, b.usable);
            CHECK(shadow_mark(sh, (uintptr_t)b.p, b.usable, 0));
            size_t fs = k == 98 ? other_size_of(&rng, &b) : b.size;
            CHECK_OK(ak_slab_dealloc(&a, b.p, fs, b.align));
            frees++;
            if (k == 99) /* a double free is refused */
                CHECK_ERR(ak_slab_dealloc(&a, b.p, b.size, b.align), AK_ERR_NOT_ALLOCATED);
            L[i] = L[--n];
            used -= b.usable;
        }
        CHECK(ak_slab_used_bytes(&a) == used);
        if (op % check_every == 0) {
            CHECK_INVARIANTS(ak_slab_check(&a));
            for (size_t j = 0; j < n; j += 1 + n / 64)
                CHECK(intact(L[j].p, L[j].size, L[j].tag));
        }
    }
    CHECK_INVARIANTS(ak_slab_check(&a));
    printf("[%llu allocs, %llu frees, %llu resizes, %llu cached, %llu out of memory, %zu live] ",
           (unsigned long long)allocs, (unsigned long long)frees, (unsigned long long)resizes,
           (unsigned long long)cached, (unsigned long long)nomem, n);
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
    RUN(test_reuse);
    RUN(test_regions_alternate);
    RUN(test_kept_empty);
    RUN(test_pressure);
    RUN(test_large);
    RUN(test_bad_frees);
    RUN(test_reinit_forgets_blocks);
    RUN(test_failed_init_keeps_state);
    RUN(test_wrong_size_same_block);
    RUN(test_resize_not_a_block);
    RUN(test_usable_size_bad_pointer);
    RUN(test_impossible_request);
    RUN(test_alloc_out_null);
    RUN(test_huge_sizes);
    RUN(test_resize);
    RUN(test_cache_hooks);
    RUN(test_walk);
    RUN(test_failed_allocs);
    RUN(test_checker_catches);
    RUN(test_interface);
    RUN(test_largest_again);
    RUN(test_model);
    return ak_test_finish();
}
