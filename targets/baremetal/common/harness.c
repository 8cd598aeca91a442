/* The allockit boot harness: what a kernel does with the library, run on
 * the board's own RAM with no OS and no libc underneath.
 *
 * The RAM past the image ([__heap_start, __heap_end), 64 MiB, from the
 * linker script) is handed in turn to every byte allocator in the build,
 * which runs the seed workloads scaled to fit (a vector grown by
 * allocate-copy-free then sorted; blocks of 64 and 520 u64 freed in
 * shuffled order; random alloc/free with sizes 2^k*[1,2)), a randomised
 * model run with content, bounds, alignment and overlap checks and the
 * allocator's own *_check between operations, and the error contract. Then
 * the page allocator manages the same RAM (single pages, aligned runs,
 * alloc_pages_at, bad frees) and the ID allocator runs its own model.
 * The cache layer runs in front of every byte allocator (caching where
 * the allocator has the cache hooks), and in front of a test double with
 * the hooks from four CPU indices sharing one depot lock.
 * A test double behind the byte interface exercises the dispatch and the
 * workloads themselves, so the image proves something even with no
 * allocator compiled in.
 *
 * Ends with "<target>: N passed, M failed" and exits non-zero through the
 * emulator on any failure.
 *
 * AK_TEST_BREAK_ALIGN (a build flag for the self-test of this harness):
 * every byte allocator is reached through a shim that asks it for half the
 * alignment the workload requested, i.e. an allocator that gets its
 * alignment rule wrong. The alignment checks must catch it, and
 * scripts/test-targets.sh fails the target if that image passes. */
#include <allockit.h>

#include "bm.h"

/* What the workloads get: the whole heap region. */
static uintptr_t ram_start, ram_end;
static size_t ram_size;

#define KIB  ((size_t)1024)
#define MIB  (KIB * KIB)
#define PAGE 4096u

/* ------------------------------------------------------------------ */
/* Content patterns                                                    */
/* ------------------------------------------------------------------ */

static unsigned char pat_byte(uint64_t tag, size_t i)
{
    return (unsigned char)((tag * 0x9e3779b97f4a7c15ull + i * 131u) >> 24);
}

/* Write (verify == 0) or check (verify == 1) the pattern of `tag` over
 * [p, p+n). Small blocks get every byte; big ones their first and last 64
 * bytes and 15 bytes in between, so a megabyte block costs no more than a
 * small one. Returns 0 on a mismatch. */
static int pattern(void *p, size_t n, uint64_t tag, int verify)
{
    unsigned char *b = p;
#define PAT_ONE(i)                                                                                 \
    do {                                                                                           \
        unsigned char v_ = pat_byte(tag, (i));                                                     \
        if (!verify)                                                                               \
            b[i] = v_;                                                                             \
        else if (b[i] != v_)                                                                       \
            return 0;                                                                              \
    } while (0)
    if (n <= 256) {
        for (size_t i = 0; i < n; i++)
            PAT_ONE(i);
        return 1;
    }
    for (size_t i = 0; i < 64; i++) {
        PAT_ONE(i);
        PAT_ONE(n - 64 + i);
    }
    for (size_t j = 1; j < 16; j++)
        PAT_ONE(j * (n / 16));
#undef PAT_ONE
    return 1;
}

static int is_aligned_to(const void *p, size_t align)
{
    return ((uintptr_t)p & (align - 1)) == 0;
}

/* [p, p+n) lies inside the RAM the allocator was given. */
static int in_ram(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p;
    return a >= ram_start && a <= ram_end && n <= ram_end - a;
}

/* Sizes 2^k * [1, 2) for k in [0, max_k]: every power-of-two band equally
 * likely (the seed's random-size workload). */
static size_t size_pow2_band(bm_rng *r, unsigned max_k)
{
    size_t base = (size_t)1 << bm_rng_below(r, max_k + 1);
    return base + (size_t)bm_rng_below(r, base);
}

/* ------------------------------------------------------------------ */
/* The runtime itself: formatting and memory functions                 */
/* ------------------------------------------------------------------ */

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static void test_rt_format(void)
{
    char buf[64];
    bm_snprintf(buf, sizeof buf, "%llu", 18446744073709551615ull);
    CHECKF(str_eq(buf, "18446744073709551615"), "got %s", buf);
    bm_snprintf(buf, sizeof buf, "%u|%d|%d|%lx|%08x|%zu", 0u, -42, 7, 0xdeadbeeful, 0xabcu,
                (size_t)12345);
    CHECKF(str_eq(buf, "0|-42|7|deadbeef|00000abc|12345"), "got %s", buf);
    bm_snprintf(buf, sizeof buf, "%lld|%5s|%c%%", -9223372036854775807ll - 1, "ab", 'z');
    CHECKF(str_eq(buf, "-9223372036854775808|   ab|z%"), "got %s", buf);
    /* Truncation keeps the terminator and reports the full length. */
    CHECK(bm_snprintf(buf, 4, "%s", "abcdef") == 6 && str_eq(buf, "abc"));
}

static void test_rt_memory(void)
{
    static unsigned char a[96], b[96], ref[96];
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n < 70; n += 3) {
            for (size_t i = 0; i < sizeof a; i++) {
                a[i] = (unsigned char)(i * 7 + 1);
                b[i] = 0;
            }
            memcpy(b + off, a + (8 - off), n);
            for (size_t i = 0; i < n; i++)
                CHECK(b[off + i] == a[8 - off + i]);
            CHECK(off == 0 || b[off - 1] == 0);
            CHECK(b[off + n] == 0);
            memset(b + off, 0x5a, n);
            for (size_t i = 0; i < n; i++)
                CHECK(b[off + i] == 0x5a);
            CHECK(b[off + n] == 0);
            /* memmove both ways through an overlap, against a reference. */
            for (size_t i = 0; i < sizeof a; i++)
                ref[i] = a[i];
            memmove(a + off, a + 10, n);
            for (size_t i = 0; i < n; i++)
                CHECK(a[off + i] == ref[10 + i]);
            for (size_t i = 0; i < sizeof a; i++)
                a[i] = ref[i];
            memmove(a + 10, a + off, n);
            for (size_t i = 0; i < n; i++)
                CHECK(a[10 + i] == ref[off + i]);
            CHECK(memcmp(a + 10, ref + off, n) == 0);
        }
}

/* The region the linker script promised is RAM: writable everywhere,
 * page-aligned, of the stated size. */
static void test_board_ram(void)
{
    CHECK(ram_start % PAGE == 0);
    CHECKF(ram_size == 64 * MIB, "heap region is %zu bytes", ram_size);
    volatile uint64_t *w = (volatile uint64_t *)ram_start;
    const size_t words = ram_size / 8;
    const size_t probes[] = {0, 1, words / 3, words / 2, words - 2, words - 1};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        w[probes[i]] = 0x0123456789abcdefull ^ probes[i];
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        CHECK(w[probes[i]] == (0x0123456789abcdefull ^ probes[i]));
}

/* The CPU runs with the byte order the compiler assumed (on aarch64_be the
 * start file has to switch data accesses to big-endian): a word stored
 * through a volatile pointer reads back byte by byte in that order. */
static void test_board_endian(void)
{
    volatile uint32_t word = 0x01020304u;
    const volatile unsigned char *b = (const volatile unsigned char *)&word;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    CHECKF(b[0] == 1 && b[3] == 4, "big-endian build, bytes %u %u %u %u", b[0], b[1], b[2], b[3]);
#else
    CHECKF(b[0] == 4 && b[3] == 1, "little-endian build, bytes %u %u %u %u", b[0], b[1], b[2],
           b[3]);
#endif
}

/* ------------------------------------------------------------------ */
/* The core: errors, alignment helpers, dispatch through a test double  */
/* ------------------------------------------------------------------ */

static void test_core_errors(void)
{
    const char *seen[AK_ERROR_COUNT];
    for (int e = 0; e < AK_ERROR_COUNT; e++) {
        const char *s = ak_strerror((ak_error)e);
        CHECK(s && *s);
        for (int j = 0; j < e; j++)
            CHECK(!str_eq(s, seen[j]));
        seen[e] = s;
        CHECK(ak_error_name((ak_error)e)[0] == 'A');
    }
    CHECK(str_eq(ak_strerror((ak_error)99), "unknown error"));
    CHECK(str_eq(ak_error_name(AK_ERR_NOT_ALLOCATED), "AK_ERR_NOT_ALLOCATED"));
}

static void test_core_align(void)
{
    const uintptr_t top = UINTPTR_MAX;
    const uintptr_t high = (uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1);
    CHECK(ak_align_down(4095, 4096) == 0);
    CHECK(ak_align_up(4097, 4096) == 8192);
    CHECK(ak_align_up(4096, 4096) == 4096);
    CHECK(ak_is_aligned(ram_start, PAGE));
    CHECK(!ak_is_aligned(ram_start + 8, 16));
    CHECK(ak_align_down(top, high) == high);
    CHECK(ak_align_up(top - 4094, 4096) == 0); /* documented wrap */
    uintptr_t out = 7;
    CHECK(!ak_align_up_checked(top - 4094, 4096, &out) && out == 7);
    CHECK(ak_align_up_checked(top - 4095, 4096, &out) && out == top - 4095);
    CHECK(!ak_is_pow2(0) && ak_is_pow2(high) && !ak_is_pow2(high + 1));
    for (uintptr_t a = 1; a <= 4096; a <<= 1)
        for (uintptr_t x = ram_start - 5000; x < ram_start + 5000; x += 13) {
            CHECK(ak_align_down(x, a) <= x && x - ak_align_down(x, a) < a);
            CHECK(ak_align_up(x, a) >= x && ak_align_up(x, a) - x < a);
            CHECK(ak_is_aligned(ak_align_up(x, a), a));
            CHECK(ak_is_aligned(x, a) == (ak_align_down(x, a) == x));
        }
}

/* The test double: a bump allocator over one region, with a table of its
 * live blocks so that bad frees are refused. Real enough to run the
 * workloads (blocks are distinct, aligned, inside the region, and the
 * counters are exact); it reclaims space only when every block is freed. */
#define BUMP_LIVE 4096
typedef struct bump {
    uintptr_t start, end, cur;
    size_t used, live;
    unsigned calls;
    uintptr_t block[BUMP_LIVE];
} bump;

static bump bump_obj;

static ak_error bump_init(void *self, uintptr_t start, size_t size)
{
    bump *b = self;
    uintptr_t end;
    if (size == 0 || __builtin_add_overflow(start, size, &end))
        return AK_ERR_INVALID_PARAM;
    b->start = b->cur = start;
    b->end = end;
    b->used = b->live = 0;
    b->calls++;
    return AK_OK;
}

static ak_error bump_add_memory(void *self, uintptr_t start, size_t size)
{
    bump *b = self;
    uintptr_t end;
    b->calls++;
    if (size == 0 || __builtin_add_overflow(start, size, &end))
        return AK_ERR_INVALID_PARAM;
    if (start < b->end && b->start < end)
        return AK_ERR_MEMORY_OVERLAP;
    return AK_ERR_INVALID_PARAM; /* the double manages one region only */
}

static ak_error bump_alloc(void *self, size_t size, size_t align, void **out)
{
    bump *b = self;
    uintptr_t p;
    b->calls++;
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    if (!ak_align_up_checked(b->cur, align, &p) || b->live == BUMP_LIVE)
        return AK_ERR_NO_MEMORY;
    size_t take = size ? size : 1;
    if (p > b->end || take > b->end - p)
        return AK_ERR_NO_MEMORY;
    b->cur = p + take;
    b->used += size;
    b->block[b->live++] = p;
    *out = (void *)p;
    return AK_OK;
}

static ak_error bump_dealloc(void *self, void *ptr, size_t size, size_t align)
{
    bump *b = self;
    (void)align;
    b->calls++;
    size_t i = 0;
    while (i < b->live && b->block[i] != (uintptr_t)ptr)
        i++;
    if (i == b->live)
        return AK_ERR_NOT_ALLOCATED;
    if (size > b->used)
        return AK_ERR_INVALID_PARAM;
    b->used -= size;
    b->block[i] = b->block[--b->live];
    if (b->live == 0)
        b->cur = b->start;
    return AK_OK;
}

static size_t bump_total(const void *self)
{
    const bump *b = self;
    return b->end - b->start;
}

static size_t bump_used(const void *self)
{
    return ((const bump *)self)->used;
}

static size_t bump_available(const void *self)
{
    const bump *b = self;
    return (b->end - b->start) - b->used;
}

static const char *bump_check(const void *self)
{
    const bump *b = self;
    if (b->cur < b->start || b->cur > b->end)
        return "bump pointer outside the region";
    if (b->used > b->cur - b->start)
        return "more bytes used than handed out";
    if (b->live == 0 && b->used != 0)
        return "bytes used with no live block";
    return 0;
}

static const ak_byte_allocator_ops bump_ops = {"bump",
                                               bump_init,
                                               bump_add_memory,
                                               bump_alloc,
                                               bump_dealloc,
                                               bump_total,
                                               bump_used,
                                               bump_available,
                                               0,
                                               0,
                                               bump_check,
                                               0,
                                               0,
                                               0,
                                               0,
                                               0};

static ak_byte_allocator fresh_bump(void)
{
    memset(&bump_obj, 0, sizeof bump_obj);
    return (ak_byte_allocator){&bump_ops, &bump_obj};
}

static void test_core_dispatch(void)
{
    ak_byte_allocator h = fresh_bump();
    CHECK(str_eq(ak_byte_name(h), "bump"));
    CHECK_ERR(ak_byte_init(h, ram_start, 0), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_byte_init(h, ram_start, 4096));
    CHECK(bump_obj.start == ram_start && bump_obj.end == ram_start + 4096);
    CHECK_ERR(ak_byte_add_memory(h, ram_start + 100, 10), AK_ERR_MEMORY_OVERLAP);
    void *p = 0, *q = 0;
    CHECK_OK(ak_byte_alloc(h, 24, 64, &p));
    CHECK(p == (void *)ram_start);
    CHECK_OK(ak_byte_alloc(h, 0, 8, &q));
    CHECK(q != p && (uintptr_t)q == ram_start + 24);
    CHECK(ak_byte_used_bytes(h) == 24 && ak_byte_total_bytes(h) == 4096);
    CHECK(ak_byte_available_bytes(h) == 4096 - 24);
    CHECK_ERR(ak_byte_alloc(h, 5000, 8, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_byte_alloc(h, 8, 3, &p), AK_ERR_INVALID_PARAM);
    /* Optional ops left NULL give the documented fallbacks. */
    CHECK_ERR(ak_byte_resize(h, q, 0, 8, 16), AK_ERR_NO_MEMORY);
    CHECK(ak_byte_usable_size(h, q, 0, 8) == 0);
    CHECK(ak_byte_check(h) == 0);
    CHECK_OK(ak_byte_dealloc(h, q, 0, 8));
    CHECK_ERR(ak_byte_dealloc(h, (void *)(ram_start + 8192), 8, 8), AK_ERR_NOT_ALLOCATED);
    unsigned calls = bump_obj.calls;
    CHECK_OK(ak_byte_dealloc(h, (void *)ram_start, 24, 64));
    CHECK(bump_obj.calls == calls + 1 && ak_byte_used_bytes(h) == 0);
    bump_obj.used = 1; /* corrupt it: the checker must say so through the handle */
    CHECK(ak_byte_check(h) != 0);
}

/* ------------------------------------------------------------------ */
/* Byte allocators: subjects                                           */
/* ------------------------------------------------------------------ */

/* Scale of the workloads for one subject: the test double cannot reuse
 * memory until everything is freed, so it runs smaller. */
typedef struct scale {
    size_t vec_len;        /* u64 elements pushed */
    size_t blocks;         /* blocks of 64 and of 520 u64 each */
    unsigned rand_ops;     /* random 2^k*[1,2) alloc/free operations */
    unsigned rand_max_k;   /* largest band */
    unsigned model_ops;    /* randomised model operations */
    size_t model_max_size; /* largest model block */
    int multi_region;      /* supports add_memory of a second region */
} scale;

typedef struct subject {
    const char *name;
    ak_byte_allocator (*fresh)(void);
    scale s;
} subject;

#if AK_HAVE_TLSF
static ak_tlsf tlsf_obj;
static ak_byte_allocator fresh_tlsf(void)
{
    memset(&tlsf_obj, 0, sizeof tlsf_obj);
    return ak_tlsf_as_byte(&tlsf_obj);
}
#endif
#if AK_HAVE_BUDDY
static ak_buddy buddy_obj;
static ak_byte_allocator fresh_buddy(void)
{
    memset(&buddy_obj, 0, sizeof buddy_obj);
    return ak_buddy_as_byte(&buddy_obj);
}
#endif
#if AK_HAVE_SLAB
static ak_slab slab_obj;
static ak_byte_allocator fresh_slab(void)
{
    memset(&slab_obj, 0, sizeof slab_obj);
    return ak_slab_as_byte(&slab_obj);
}
#endif

#define FULL_SCALE                                                                                 \
    {                                                                                              \
        40000, 1500, 6000, 16, 6000, 64 * KIB, 1                                                   \
    }

static const subject subjects[] = {
    {"double", fresh_bump, {20000, 600, 0, 0, 1500, 4 * KIB, 0}},
#if AK_HAVE_TLSF
    {"tlsf", fresh_tlsf, FULL_SCALE},
#endif
#if AK_HAVE_BUDDY
    {"buddy", fresh_buddy, FULL_SCALE},
#endif
#if AK_HAVE_SLAB
    {"slab", fresh_slab, FULL_SCALE},
#endif
};

static const subject *cur;

#ifdef AK_TEST_BREAK_ALIGN
/* The broken build: an allocator that honours only half the alignment it
 * is asked for. Everything else is forwarded unchanged. */
static ak_byte_allocator shim_inner;
static size_t half(size_t align)
{
    return align > 1 ? align / 2 : 1;
}
static ak_error shim_init(void *s, uintptr_t start, size_t size)
{
    (void)s;
    return ak_byte_init(shim_inner, start, size);
}
static ak_error shim_add(void *s, uintptr_t start, size_t size)
{
    (void)s;
    return ak_byte_add_memory(shim_inner, start, size);
}
static ak_error shim_alloc(void *s, size_t size, size_t align, void **out)
{
    (void)s;
    return ak_byte_alloc(shim_inner, size, ak_is_pow2(align) ? half(align) : align, out);
}
static ak_error shim_dealloc(void *s, void *p, size_t size, size_t align)
{
    (void)s;
    return ak_byte_dealloc(shim_inner, p, size, ak_is_pow2(align) ? half(align) : align);
}
static size_t shim_total(const void *s)
{
    (void)s;
    return ak_byte_total_bytes(shim_inner);
}
static size_t shim_used(const void *s)
{
    (void)s;
    return ak_byte_used_bytes(shim_inner);
}
static size_t shim_available(const void *s)
{
    (void)s;
    return ak_byte_available_bytes(shim_inner);
}
static const char *shim_check(const void *s)
{
    (void)s;
    return ak_byte_check(shim_inner);
}
static const ak_byte_allocator_ops shim_ops = {"broken-align",
                                               shim_init,
                                               shim_add,
                                               shim_alloc,
                                               shim_dealloc,
                                               shim_total,
                                               shim_used,
                                               shim_available,
                                               0,
                                               0,
                                               shim_check,
                                               0,
                                               0,
                                               0,
                                               0,
                                               0};
#endif

/* A fresh (zeroed, uninitialised) allocator of the current subject. */
static ak_byte_allocator fresh(void)
{
    ak_byte_allocator h = cur->fresh();
#ifdef AK_TEST_BREAK_ALIGN
    shim_inner = h;
    h = (ak_byte_allocator){&shim_ops, 0};
#endif
    return h;
}

/* A fresh allocator of the current subject managing all of the RAM. */
static void fresh_on_ram(ak_byte_allocator *h)
{
    *h = fresh();
    CHECK_OK(ak_byte_init(*h, ram_start, ram_size));
    CHECKF(ak_byte_total_bytes(*h) > 0 && ak_byte_total_bytes(*h) <= ram_size,
           "total_bytes %zu for a region of %zu", ak_byte_total_bytes(*h), ram_size);
    CHECK(ak_byte_used_bytes(*h) == 0);
    CHECK_INVARIANTS(ak_byte_check(*h));
}

/* One allocation with every check a user relies on. */
static void alloc_checked(ak_byte_allocator h, size_t size, size_t align, void **out)
{
    *out = 0;
    CHECK_OK(ak_byte_alloc(h, size, align, out));
    CHECKF(is_aligned_to(*out, align), "%s: alloc(%zu, align %zu) gave %p", ak_byte_name(h), size,
           align, *out);
    CHECKF(in_ram(*out, size ? size : 1), "alloc(%zu) gave %p outside the RAM given", size, *out);
}

/* used_bytes against the live blocks. */
static int used_ok(ak_byte_allocator h, size_t requested, size_t usable)
{
    /* Each live block counts at its usable size (core.h); where a subject
     * has no usable_size that is the requested size. */
    (void)requested;
    return ak_byte_used_bytes(h) == usable;
}

/* The walk, where the subject has one, against its stats: the used and
 * free blocks' counts and sizes and the largest free block, and the used
 * blocks against the live ones the test holds. */
typedef struct walk_sums {
    size_t used, used_bytes, free, free_bytes, largest;
} walk_sums;

static void walk_add(uintptr_t start, size_t size, bool used, void *ctx)
{
    walk_sums *w = ctx;
    (void)start;
    if (used) {
        w->used++;
        w->used_bytes += size;
        return;
    }
    w->free++;
    w->free_bytes += size;
    if (size > w->largest)
        w->largest = size;
}

static void walk_agrees(ak_byte_allocator h, size_t live)
{
    walk_sums w = {0, 0, 0, 0, 0};
    if (ak_byte_walk(h, walk_add, &w) != AK_OK)
        return;
    struct ak_byte_stats st;
    ak_byte_stats(h, &st);
    CHECKF(w.used == st.used_blocks && w.used == live, "walk: %zu used blocks, stats %zu, live %zu",
           w.used, st.used_blocks, live);
    CHECK(w.used_bytes == st.used_bytes && st.used_bytes == ak_byte_used_bytes(h));
    CHECK(w.free == st.free_blocks && w.free_bytes == st.free_bytes &&
          w.largest == st.largest_free);
}

/* Largest size (align 8) that fits: binary search with alloc/free. */
static size_t largest_fit(ak_byte_allocator h)
{
    size_t lo = 0, hi = ak_byte_total_bytes(h) + 1; /* lo fits (size 0 must), hi does not */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        void *p;
        if (ak_byte_alloc(h, mid, 8, &p) == AK_OK) {
            lo = mid;
            if (ak_byte_dealloc(h, p, mid, 8) != AK_OK)
                return 0;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* ------------------------------------------------------------------ */
/* Byte allocators: the seed workloads                                 */
/* ------------------------------------------------------------------ */

static void sift_down(uint64_t *v, size_t root, size_t end)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= end)
            return;
        if (child + 1 < end && v[child + 1] > v[child])
            child++;
        if (v[root] >= v[child])
            return;
        uint64_t t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

/* In place, O(n log n), no extra memory: the allocator under test is the
 * only heap there is. */
static void heapsort_u64(uint64_t *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(v, i, n);
    for (size_t end = n; end-- > 1;) {
        uint64_t t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift_down(v, 0, end);
    }
}

/* A vector grown by allocate-copy-free (doubling), then sorted in place and
 * checked: the seed's growable-vector test. */
static void test_vec_growth(void)
{
    ak_byte_allocator h;
    TRY(fresh_on_ram(&h));
    bm_rng r;
    bm_rng_seed(&r, 1);
    uint64_t *v = 0, sum = 0, xsum = 0;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < cur->s.vec_len; i++) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            void *p;
            TRY(alloc_checked(h, ncap * sizeof *v, _Alignof(uint64_t), &p));
            if (v) {
                memcpy(p, v, len * sizeof *v);
                CHECK_OK(ak_byte_dealloc(h, v, cap * sizeof *v, _Alignof(uint64_t)));
            }
            v = p;
            cap = ncap;
            CHECK(used_ok(h, cap * sizeof *v,
                          ak_byte_usable_size(h, v, cap * sizeof *v, _Alignof(uint64_t))));
        }
        uint64_t x = bm_rng_next(&r);
        v[len++] = x;
        sum += x;
        xsum ^= x * 0x2545f4914f6cdd1dull;
    }
    CHECK_INVARIANTS(ak_byte_check(h));
    heapsort_u64(v, len);
    uint64_t sum2 = 0, xsum2 = 0;
    for (size_t i = 0; i < len; i++) {
        CHECKF(i == 0 || v[i - 1] <= v[i], "not sorted at %zu", i);
        sum2 += v[i];
        xsum2 ^= v[i] * 0x2545f4914f6cdd1dull;
    }
    CHECK(sum2 == sum && xsum2 == xsum);
    CHECK_OK(ak_byte_dealloc(h, v, cap * sizeof *v, _Alignof(uint64_t)));
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK_INVARIANTS(ak_byte_check(h));
}

#define MAX_BLOCKS 4096
static void *blk[MAX_BLOCKS];
static uint32_t order[MAX_BLOCKS];

/* Blocks of 64 u64 and 520 u64 (the seed's two box sizes), filled, then
 * freed in a shuffled order with their contents checked. */
static void test_blocks_shuffled(void)
{
    ak_byte_allocator h;
    TRY(fresh_on_ram(&h));
    const size_t n = cur->s.blocks * 2;
    CHECK(n <= MAX_BLOCKS);
    size_t used = 0, usable = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t words = (i & 1) ? 520 : 64;
        TRY(alloc_checked(h, words * 8, 8, &blk[i]));
        uint64_t *w = blk[i];
        for (size_t j = 0; j < words; j++)
            w[j] = ((uint64_t)i << 32) | j;
        used += words * 8;
        usable += ak_byte_usable_size(h, blk[i], words * 8, 8);
        order[i] = (uint32_t)i;
    }
    CHECK(used_ok(h, used, usable));
    CHECK_INVARIANTS(ak_byte_check(h));
    bm_rng r;
    bm_rng_seed(&r, 2);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)bm_rng_below(&r, i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t k = 0; k < n; k++) {
        const size_t i = order[k];
        const size_t words = (i & 1) ? 520 : 64;
        const uint64_t *w = blk[i];
        for (size_t j = 0; j < words; j++)
            CHECKF(w[j] == (((uint64_t)i << 32) | j), "block %zu word %zu overwritten", i, j);
        usable -= ak_byte_usable_size(h, blk[i], words * 8, 8);
        CHECK_OK(ak_byte_dealloc(h, blk[i], words * 8, 8));
        used -= words * 8;
        if (k % 256 == 0) {
            CHECK(used_ok(h, used, usable));
            CHECK_INVARIANTS(ak_byte_check(h));
        }
    }
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK_INVARIANTS(ak_byte_check(h));
}

#define RAND_SLOTS 64
static struct {
    void *p;
    size_t size, align;
} slot[RAND_SLOTS];

/* Random alloc/free over 64 slots with sizes 2^k*[1,2): live memory stays
 * under a quarter of the RAM even rounded up to powers of two, so running
 * out of memory is a failure. */
static void test_random_pow2(void)
{
    ak_byte_allocator h;
    TRY(fresh_on_ram(&h));
    memset(slot, 0, sizeof slot);
    bm_rng r;
    bm_rng_seed(&r, 3);
    size_t used = 0, usable = 0;
    for (unsigned op = 0; op < cur->s.rand_ops; op++) {
        const unsigned i = (unsigned)bm_rng_below(&r, RAND_SLOTS);
        if (slot[i].p) {
            CHECKF(pattern(slot[i].p, slot[i].size, (uintptr_t)slot[i].p, 1),
                   "block of %zu at %p overwritten", slot[i].size, slot[i].p);
            usable -= ak_byte_usable_size(h, slot[i].p, slot[i].size, slot[i].align);
            CHECK_OK(ak_byte_dealloc(h, slot[i].p, slot[i].size, slot[i].align));
            used -= slot[i].size;
            slot[i].p = 0;
        } else {
            const size_t size = size_pow2_band(&r, cur->s.rand_max_k);
            const size_t align = (size_t)1 << bm_rng_below(&r, 7); /* 1..64 */
            TRY(alloc_checked(h, size, align, &slot[i].p));
            slot[i].size = size;
            slot[i].align = align;
            pattern(slot[i].p, size, (uintptr_t)slot[i].p, 0);
            used += size;
            usable += ak_byte_usable_size(h, slot[i].p, size, align);
        }
        if (op % 128 == 0) {
            CHECK(used_ok(h, used, usable));
            CHECK_INVARIANTS(ak_byte_check(h));
        }
    }
    for (unsigned i = 0; i < RAND_SLOTS; i++)
        if (slot[i].p) {
            CHECK(pattern(slot[i].p, slot[i].size, (uintptr_t)slot[i].p, 1));
            CHECK_OK(ak_byte_dealloc(h, slot[i].p, slot[i].size, slot[i].align));
        }
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK_INVARIANTS(ak_byte_check(h));
}

#define MODEL_LIVE 1024
static struct live {
    unsigned char *p;
    size_t size, align;
    uint64_t tag;
} live[MODEL_LIVE];

/* The randomised model: a shadow record of every live block. Each new
 * block is checked for alignment, bounds and overlap with every live one;
 * contents are verified before every free; counters and the allocator's
 * own checker are compared with the shadow as it goes. Double frees are
 * attempted right after a free and must be refused without a change. At
 * the end the largest block that fitted at the start fits again. */
static void test_model(void)
{
    ak_byte_allocator h;
    TRY(fresh_on_ram(&h));
    const size_t largest0 = largest_fit(h);
    CHECK(largest0 > 0 && ak_byte_used_bytes(h) == 0);
    bm_rng r;
    bm_rng_seed(&r, 4);
    size_t n = 0, used = 0, usable = 0;
    unsigned long allocs = 0, nomem = 0;
    for (unsigned op = 0; op < cur->s.model_ops; op++) {
        const int do_alloc = n == 0 || (n < MODEL_LIVE && bm_rng_below(&r, 100) < 55);
        if (do_alloc) {
            size_t size = bm_rng_below(&r, 20) == 0 ? 0 : size_pow2_band(&r, 5);
            if (bm_rng_below(&r, 8) == 0) /* now and then a big one */
                size = (size_t)bm_rng_below(&r, cur->s.model_max_size) + 1;
            unsigned a = (unsigned)bm_rng_below(&r, 16);
            const size_t align = (size_t)1 << (a < 10 ? a % 4 : a - 6); /* 1..512 mostly small */
            void *p;
            ak_error e = ak_byte_alloc(h, size, align, &p);
            if (e == AK_ERR_NO_MEMORY) {
                /* Only believable when a good share of the RAM is in use. */
                CHECKF(used > ram_size / 4, "NO_MEMORY for %zu bytes with %zu in use", size, used);
                nomem++;
                continue;
            }
            CHECK_OK(e);
            CHECKF(is_aligned_to(p, align), "%s: alloc(%zu, align %zu) gave %p", ak_byte_name(h),
                   size, align, p);
            const size_t span = size ? size : 1;
            CHECK(in_ram(p, span));
            const uintptr_t a0 = (uintptr_t)p, a1 = a0 + span;
            for (size_t i = 0; i < n; i++) {
                const uintptr_t b0 = (uintptr_t)live[i].p;
                const uintptr_t b1 = b0 + (live[i].size ? live[i].size : 1);
                CHECKF(a1 <= b0 || b1 <= a0, "new block %p+%zu overlaps live %p+%zu", p, size,
                       (void *)live[i].p, live[i].size);
            }
            live[n] = (struct live){p, size, align, bm_rng_next(&r)};
            pattern(p, size, live[n].tag, 0);
            n++;
            used += size;
            usable += ak_byte_usable_size(h, p, size, align);
            allocs++;
        } else {
            const size_t i = (size_t)bm_rng_below(&r, n);
            struct live b = live[i];
            CHECKF(pattern(b.p, b.size, b.tag, 1), "block of %zu at %p overwritten", b.size,
                   (void *)b.p);
            usable -= ak_byte_usable_size(h, b.p, b.size, b.align);
            CHECK_OK(ak_byte_dealloc(h, b.p, b.size, b.align));
            live[i] = live[--n];
            used -= b.size;
            if (bm_rng_below(&r, 16) == 0) {
                const size_t u = ak_byte_used_bytes(h);
                CHECK_ERR(ak_byte_dealloc(h, b.p, b.size, b.align), AK_ERR_NOT_ALLOCATED);
                CHECK(ak_byte_used_bytes(h) == u);
            }
        }
        if (op % 64 == 0) {
            CHECKF(used_ok(h, used, usable), "used_bytes %zu, model %zu..%zu",
                   ak_byte_used_bytes(h), used, usable);
            CHECK(ak_byte_available_bytes(h) == ak_byte_total_bytes(h) - ak_byte_used_bytes(h));
            CHECK_INVARIANTS(ak_byte_check(h));
            walk_agrees(h, n);
        }
    }
    CHECK(allocs > cur->s.model_ops / 3);
    while (n) {
        struct live b = live[--n];
        CHECK(pattern(b.p, b.size, b.tag, 1));
        CHECK_OK(ak_byte_dealloc(h, b.p, b.size, b.align));
    }
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK_INVARIANTS(ak_byte_check(h));
    void *p;
    CHECKF(ak_byte_alloc(h, largest0, 8, &p) == AK_OK,
           "%zu bytes fitted at the start but not after freeing everything", largest0);
    CHECK_OK(ak_byte_dealloc(h, p, largest0, 8));
    bm_printf("[%lu allocs, %lu out of memory, largest %zu] ", allocs, nomem, largest0);
}

/* The pattern on every byte, so that any prefix verifies (resize keeps a
 * prefix); for the small blocks of the resize test. */
static int dense(void *p, size_t n, uint64_t tag, int verify)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        if (!verify)
            b[i] = pat_byte(tag, i);
        else if (b[i] != pat_byte(tag, i))
            return 0;
    }
    return 1;
}

/* The optional operations, where the allocator has them: usable_size is
 * at least the size and every usable byte is the block's own (all of it is
 * written and checked against the neighbours), and resize in place either
 * succeeds, keeping the contents and the counters, or says NO_MEMORY and
 * leaves the block as it was. */
static void test_resize_usable(void)
{
    ak_byte_allocator h;
    TRY(fresh_on_ram(&h));
    CHECK(h.ops->resize && h.ops->usable_size); /* only run for allocators that have them */
    bm_rng r;
    bm_rng_seed(&r, 7);
    size_t n = 0, used = 0, usable = 0;
    unsigned long grown = 0, refused = 0;
    for (unsigned op = 0; op < 3000; op++) {
        const unsigned kind = (unsigned)bm_rng_below(&r, 10);
        if (n == 0 || (kind < 4 && n < 256)) {
            const size_t size = size_pow2_band(&r, 10);
            const size_t align = (size_t)1 << bm_rng_below(&r, 6);
            void *p;
            TRY(alloc_checked(h, size, align, &p));
            live[n] = (struct live){p, size, align, bm_rng_next(&r)};
            const size_t u = ak_byte_usable_size(h, p, size, align);
            CHECKF(u >= size && in_ram(p, u), "usable_size %zu for %zu bytes", u, size);
            dense(p, u, live[n].tag, 0); /* all of it is ours */
            n++;
            used += size;
            usable += u;
        } else if (kind < 8) {
            struct live *b = &live[bm_rng_below(&r, n)];
            const size_t u = ak_byte_usable_size(h, b->p, b->size, b->align);
            CHECKF(dense(b->p, u, b->tag, 1), "usable bytes of %p+%zu overwritten", (void *)b->p,
                   b->size);
            const size_t nsize = bm_rng_below(&r, 2) ? size_pow2_band(&r, 11) : b->size / 2;
            ak_error e = ak_byte_resize(h, b->p, b->size, b->align, nsize);
            if (e == AK_ERR_NO_MEMORY) {
                refused++;
                CHECK(dense(b->p, u, b->tag, 1));
                CHECK(used_ok(h, used, usable));
                continue;
            }
            CHECK_OK(e);
            const size_t keep = nsize < b->size ? nsize : b->size;
            CHECKF(dense(b->p, keep, b->tag, 1), "resize %zu -> %zu lost contents", b->size, nsize);
            used = used - b->size + nsize;
            grown += nsize > b->size;
            b->size = nsize;
            const size_t nu = ak_byte_usable_size(h, b->p, nsize, b->align);
            CHECK(nu >= nsize && in_ram(b->p, nu));
            usable = usable - u + nu;
            dense(b->p, nu, b->tag, 0);
        } else {
            const size_t i = (size_t)bm_rng_below(&r, n);
            struct live b = live[i];
            const size_t u = ak_byte_usable_size(h, b.p, b.size, b.align);
            CHECK(dense(b.p, u, b.tag, 1));
            CHECK_OK(ak_byte_dealloc(h, b.p, b.size, b.align));
            live[i] = live[--n];
            used -= b.size;
            usable -= u;
        }
        if (op % 64 == 0) {
            CHECK(used_ok(h, used, usable));
            CHECK_INVARIANTS(ak_byte_check(h));
        }
    }
    CHECKF(grown > 10, "only %lu resizes grew a block (%lu refused)", grown, refused);
    while (n) {
        struct live b = live[--n];
        CHECK(dense(b.p, ak_byte_usable_size(h, b.p, b.size, b.align), b.tag, 1));
        CHECK_OK(ak_byte_dealloc(h, b.p, b.size, b.align));
    }
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK_INVARIANTS(ak_byte_check(h));
}

/* The error contract, on the board's RAM: bad alignments and sizes, frees
 * of what was never allocated, regions that overlap or are too small, and
 * memory from a second region. */
static void test_errors_regions(void)
{
    ak_byte_allocator h = fresh();
    const size_t half_ram = ram_size / 2;
    CHECK_ERR(ak_byte_init(h, ram_start, 0), AK_ERR_INVALID_PARAM);
    h = fresh();
    if (cur->s.multi_region) {
        CHECK_OK(ak_byte_init(h, ram_start, half_ram));
        CHECK_ERR(ak_byte_add_memory(h, ram_start + half_ram - PAGE, 2 * PAGE),
                  AK_ERR_MEMORY_OVERLAP);
        CHECK_ERR(ak_byte_add_memory(h, ram_start, ram_size), AK_ERR_MEMORY_OVERLAP);
        CHECK_ERR(ak_byte_add_memory(h, UINTPTR_MAX - 100, 4096), AK_ERR_INVALID_PARAM);
        CHECK_OK(ak_byte_add_memory(h, ram_start + half_ram, half_ram));
        CHECK(ak_byte_total_bytes(h) > half_ram && ak_byte_total_bytes(h) <= ram_size);
    } else {
        CHECK_OK(ak_byte_init(h, ram_start, ram_size));
        CHECK_ERR(ak_byte_add_memory(h, ram_start + PAGE, PAGE), AK_ERR_MEMORY_OVERLAP);
    }
    CHECK_INVARIANTS(ak_byte_check(h));
    void *p = 0;
    CHECK_ERR(ak_byte_alloc(h, 16, 0, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_byte_alloc(h, 16, 3, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_byte_alloc(h, 16, 48, &p), AK_ERR_INVALID_PARAM);
    ak_error e = ak_byte_alloc(h, SIZE_MAX, 8, &p);
    CHECKF(e == AK_ERR_INVALID_PARAM || e == AK_ERR_NO_MEMORY, "alloc(SIZE_MAX) gave %s",
           ak_error_name(e));
    e = ak_byte_alloc(h, SIZE_MAX - 4095, 4096, &p);
    CHECKF(e == AK_ERR_INVALID_PARAM || e == AK_ERR_NO_MEMORY, "alloc(SIZE_MAX-4095) gave %s",
           ak_error_name(e));
    e = ak_byte_alloc(h, 16, (size_t)1 << (sizeof(size_t) * 8 - 1), &p);
    CHECKF(e == AK_ERR_INVALID_PARAM || e == AK_ERR_NO_MEMORY, "alloc(align top bit) gave %s",
           ak_error_name(e));
    if (cur->s.multi_region) {
        /* Larger than either region. */
        e = ak_byte_alloc(h, half_ram + PAGE, 8, &p);
        CHECKF(e == AK_ERR_NO_MEMORY, "alloc larger than each region gave %s", ak_error_name(e));
    }
    CHECK(ak_byte_used_bytes(h) == 0);
    /* Frees of what was never allocated. */
    static uint64_t outside[4];
    CHECK_ERR(ak_byte_dealloc(h, outside, 16, 8), AK_ERR_NOT_ALLOCATED);
    void *a, *b;
    TRY(alloc_checked(h, 100, 16, &a));
    TRY(alloc_checked(h, 100, 16, &b));
    CHECK_OK(ak_byte_dealloc(h, a, 100, 16));
    CHECK_ERR(ak_byte_dealloc(h, a, 100, 16), AK_ERR_NOT_ALLOCATED);
    CHECK(used_ok(h, 100, ak_byte_usable_size(h, b, 100, 16)));
    CHECK_OK(ak_byte_dealloc(h, b, 100, 16));
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK_INVARIANTS(ak_byte_check(h));
    if (!cur->s.multi_region)
        return;
    /* Fill with 256 KiB blocks: the blocks must come from both regions. */
    static void *big[512];
    size_t nb = 0, low = 0, high = 0;
    const size_t bs = 256 * KIB;
    while (nb < 512 && ak_byte_alloc(h, bs, 64, &big[nb]) == AK_OK) {
        CHECK(is_aligned_to(big[nb], 64) && in_ram(big[nb], bs));
        if ((uintptr_t)big[nb] + bs <= ram_start + half_ram)
            low++;
        else if ((uintptr_t)big[nb] >= ram_start + half_ram)
            high++;
        else
            CHECKF(0, "block %p spans the two regions", big[nb]);
        pattern(big[nb], bs, nb, 0);
        nb++;
    }
    CHECKF(low > 0 && high > 0 && nb >= 128, "%zu blocks: %zu low, %zu high", nb, low, high);
    CHECK_INVARIANTS(ak_byte_check(h));
    while (nb) {
        nb--;
        CHECK(pattern(big[nb], bs, nb, 1));
        CHECK_OK(ak_byte_dealloc(h, big[nb], bs, 64));
    }
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK_INVARIANTS(ak_byte_check(h));
}

/* ------------------------------------------------------------------ */
/* The page allocator over the board's RAM                             */
/* ------------------------------------------------------------------ */

#if AK_HAVE_BITMAP_PAGE
static ak_bitmap_page page_obj;

static void fresh_pages(ak_page_allocator *h)
{
    memset(&page_obj, 0, sizeof page_obj);
    CHECK_OK(ak_bitmap_page_new(&page_obj, PAGE));
    *h = ak_bitmap_page_as_page(&page_obj);
    CHECK_OK(ak_page_init(*h, ram_start, ram_size));
    CHECKF(ak_page_total_pages(*h) == ram_size / PAGE, "total_pages %zu", ak_page_total_pages(*h));
    CHECK(ak_page_page_size(*h) == PAGE && ak_page_used_pages(*h) == 0);
    CHECK_INVARIANTS(ak_page_check(*h));
}

/* Stamp (verify == 0) or check every page of a run: its first and last
 * word hold its own address mixed with the run's tag. */
static int stamp_run(uintptr_t base, size_t pages, uint64_t tag, int verify)
{
    for (size_t i = 0; i < pages; i++) {
        volatile uint64_t *w = (volatile uint64_t *)(base + i * PAGE);
        const uint64_t v = (uint64_t)(uintptr_t)w ^ tag;
        if (!verify) {
            w[0] = v;
            w[PAGE / 8 - 1] = ~v;
        } else if (w[0] != v || w[PAGE / 8 - 1] != ~v) {
            return 0;
        }
    }
    return 1;
}

static void test_page_single_and_errors(void)
{
    ak_page_allocator h;
    TRY(fresh_pages(&h));
    const size_t total = ak_page_total_pages(h);
    uintptr_t a = 0, b = 0;
    CHECK_OK(ak_page_alloc_pages(h, 1, PAGE, &a));
    CHECK(a % PAGE == 0 && in_ram((void *)a, PAGE));
    memset((void *)a, 0xa5, PAGE); /* it is real RAM */
    CHECK_OK(ak_page_alloc_pages(h, 1, PAGE, &b));
    CHECK(b != a && b % PAGE == 0 && in_ram((void *)b, PAGE));
    CHECK(((volatile unsigned char *)a)[PAGE - 1] == 0xa5);
    CHECK(ak_page_used_pages(h) == 2 && ak_page_available_pages(h) == total - 2);
    /* Bad parameters change nothing. */
    uintptr_t o = 0;
    CHECK_ERR(ak_page_alloc_pages(h, 0, PAGE, &o), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_alloc_pages(h, 1, 3 * PAGE, &o), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_alloc_pages(h, 1, PAGE / 2, &o), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_alloc_pages(h, 1, (size_t)2 << 30, &o), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_alloc_pages(h, total, PAGE, &o), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_page_alloc_pages(h, SIZE_MAX, PAGE, &o), AK_ERR_NO_MEMORY);
    /* 1 GiB alignment: possible only if the RAM holds such an address. */
    const uintptr_t g = ((ram_start + (1u << 30) - 1) >> 30) << 30;
    ak_error e = ak_page_alloc_pages(h, 1, (size_t)1 << 30, &o);
    if (g + PAGE <= ram_end) {
        CHECK_OK(e);
        CHECK(o == g);
        CHECK_OK(ak_page_dealloc_pages(h, o, 1));
    } else {
        CHECKF(e == AK_ERR_NO_MEMORY, "1 GiB-aligned page with none in RAM gave %s",
               ak_error_name(e));
    }
    CHECK(ak_page_used_pages(h) == 2);
    /* Bad frees: unaligned, never allocated, partly allocated, twice. */
    CHECK_ERR(ak_page_dealloc_pages(h, a + 8, 1), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_dealloc_pages(h, a, 0), AK_ERR_INVALID_PARAM);
    uintptr_t never = ram_start;
    while (never == a || never == b)
        never += PAGE;
    CHECK_ERR(ak_page_dealloc_pages(h, never, 1), AK_ERR_NOT_ALLOCATED);
    if (b == a + PAGE || a == b + PAGE) {
        const uintptr_t lo = a < b ? a : b;
        CHECK_ERR(ak_page_dealloc_pages(h, lo, 3), AK_ERR_NOT_ALLOCATED);
    } else {
        CHECK_ERR(ak_page_dealloc_pages(h, a, 2), AK_ERR_NOT_ALLOCATED);
    }
    CHECK(ak_page_used_pages(h) == 2);
    CHECK_OK(ak_page_dealloc_pages(h, a, 1));
    CHECK_ERR(ak_page_dealloc_pages(h, a, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_page_dealloc_pages(h, b, 1));
    CHECK(ak_page_used_pages(h) == 0);
    CHECK_INVARIANTS(ak_page_check(h));
    /* All of it in one run, then nothing more. */
    CHECK_OK(ak_page_alloc_pages(h, total, PAGE, &o));
    CHECK(o == ram_start);
    CHECK_ERR(ak_page_alloc_pages(h, 1, PAGE, &a), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_page_dealloc_pages(h, o, total));
    CHECK(ak_page_available_pages(h) == total);
    CHECK_INVARIANTS(ak_page_check(h));
}

static void test_page_at(void)
{
    ak_page_allocator h;
    TRY(fresh_pages(&h));
    const uintptr_t base = ram_start + 64 * PAGE;
    uintptr_t o = 0;
    CHECK_OK(ak_page_alloc_pages_at(h, base, 4, PAGE, &o));
    CHECK(o == base);
    CHECK_ERR(ak_page_alloc_pages_at(h, base, 1, PAGE, &o), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_page_alloc_pages_at(h, base - 2 * PAGE, 3, PAGE, &o), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_page_alloc_pages_at(h, base + 3 * PAGE, 2, PAGE, &o), AK_ERR_NO_MEMORY);
    CHECK(ak_page_alloc_pages_at(h, base + 100, 1, PAGE, &o) != AK_OK);
    CHECK(ak_page_alloc_pages_at(h, ram_end, 1, PAGE, &o) != AK_OK);
    CHECK(ak_page_alloc_pages_at(h, ram_end - PAGE, 2, PAGE, &o) != AK_OK);
    CHECK(ak_page_alloc_pages_at(h, ram_start - PAGE, 1, PAGE, &o) != AK_OK);
    CHECK(ak_page_used_pages(h) == 4);
    /* The neighbours are still free, exactly. */
    CHECK_OK(ak_page_alloc_pages_at(h, base - PAGE, 1, PAGE, &o));
    CHECK(o == base - PAGE);
    CHECK_OK(ak_page_alloc_pages_at(h, base + 4 * PAGE, 1, PAGE, &o));
    CHECK(o == base + 4 * PAGE);
    /* alloc_pages never hands out what alloc_pages_at took. */
    for (int i = 0; i < 200; i++) {
        CHECK_OK(ak_page_alloc_pages(h, 1, PAGE, &o));
        CHECK(o < base - PAGE || o > base + 4 * PAGE);
    }
    CHECK(ak_page_used_pages(h) == 206);
    CHECK_OK(ak_page_dealloc_pages(h, base, 4));
    CHECK_ERR(ak_page_dealloc_pages(h, base, 4), AK_ERR_NOT_ALLOCATED);
    CHECK(ak_page_used_pages(h) == 202);
    /* The last page of the RAM, aligned as it happens to be. */
    CHECK_OK(ak_page_alloc_pages_at(h, ram_end - PAGE, 1, PAGE, &o));
    CHECK(o == ram_end - PAGE);
    CHECK_INVARIANTS(ak_page_check(h));
}

#define PAGE_RUNS 512
static struct run {
    uintptr_t base;
    size_t pages;
    uint64_t tag;
} runs[PAGE_RUNS];
static unsigned char page_shadow[64 * MIB / PAGE]; /* 1: page in use, by the model */

/* Is there a free run of `pages` pages at a multiple of `align` in the
 * model? (What an allocator must find; it may pick any such run.) */
static int shadow_has_run(size_t pages, size_t align)
{
    const size_t total = ram_size / PAGE;
    uintptr_t a = (ram_start + align - 1) & ~(uintptr_t)(align - 1);
    for (; a + pages * PAGE <= ram_end; a += align) {
        const size_t first = (a - ram_start) / PAGE;
        size_t k = 0;
        while (k < pages && first + k < total && !page_shadow[first + k])
            k++;
        if (k == pages)
            return 1;
    }
    return 0;
}

/* Random runs of 1..64 pages aligned to 4 KiB..2 MiB, stamped and checked,
 * freed at random, against a page-by-page model: every run must be free in
 * the model, and NO_MEMORY is accepted only when the model has no fitting
 * run. Then everything freed leaves one free run of all of it. */
static void test_page_runs(void)
{
    ak_page_allocator h;
    TRY(fresh_pages(&h));
    const size_t total = ak_page_total_pages(h);
    CHECK(total <= sizeof page_shadow);
    memset(page_shadow, 0, sizeof page_shadow);
    bm_rng r;
    bm_rng_seed(&r, 5);
    size_t n = 0, used = 0;
    unsigned long ok = 0, nomem = 0;
    for (unsigned op = 0; op < 4000; op++) {
        if (n == 0 || (n < PAGE_RUNS && bm_rng_below(&r, 100) < 55)) {
            const size_t pages = bm_rng_below(&r, 4) ? (size_t)bm_rng_below(&r, 8) + 1
                                                     : (size_t)bm_rng_below(&r, 64) + 1;
            const size_t align = (size_t)PAGE << bm_rng_below(&r, 10); /* 4 KiB..2 MiB */
            uintptr_t o;
            ak_error e = ak_page_alloc_pages(h, pages, align, &o);
            if (e == AK_ERR_NO_MEMORY) {
                CHECKF(!shadow_has_run(pages, align),
                       "NO_MEMORY for %zu pages aligned to %zu, but such a run is free (%zu of "
                       "%zu pages used)",
                       pages, align, used, total);
                nomem++;
                continue;
            }
            CHECK_OK(e);
            CHECKF(o % align == 0, "run at %lx not aligned to %zu", (unsigned long)o, align);
            CHECK(in_ram((void *)o, pages * PAGE));
            const size_t first = (o - ram_start) / PAGE;
            for (size_t k = 0; k < pages; k++) {
                CHECKF(!page_shadow[first + k], "run %lx+%zu overlaps a live run at page %zu",
                       (unsigned long)o, pages, first + k);
                page_shadow[first + k] = 1;
            }
            runs[n] = (struct run){o, pages, bm_rng_next(&r)};
            stamp_run(o, pages, runs[n].tag, 0);
            n++;
            used += pages;
            ok++;
        } else {
            const size_t i = (size_t)bm_rng_below(&r, n);
            const struct run x = runs[i];
            CHECKF(stamp_run(x.base, x.pages, x.tag, 1), "run at %lx overwritten",
                   (unsigned long)x.base);
            CHECK_OK(ak_page_dealloc_pages(h, x.base, x.pages));
            memset(&page_shadow[(x.base - ram_start) / PAGE], 0, x.pages);
            runs[i] = runs[--n];
            used -= x.pages;
        }
        if (op % 64 == 0) {
            CHECK(ak_page_used_pages(h) == used);
            CHECK(ak_page_available_pages(h) == total - used);
            CHECK_INVARIANTS(ak_page_check(h));
        }
    }
    CHECK(ok > 1000);
    while (n) {
        const struct run x = runs[--n];
        CHECK(stamp_run(x.base, x.pages, x.tag, 1));
        CHECK_OK(ak_page_dealloc_pages(h, x.base, x.pages));
    }
    CHECK(ak_page_used_pages(h) == 0);
    uintptr_t o;
    CHECK_OK(ak_page_alloc_pages(h, total, PAGE, &o));
    CHECK_OK(ak_page_dealloc_pages(h, o, total));
    CHECK_INVARIANTS(ak_page_check(h));
    bm_printf("[%lu runs, %lu out of memory] ", ok, nomem);
}
#endif

/* ------------------------------------------------------------------ */
/* The ID allocator                                                    */
/* ------------------------------------------------------------------ */

#if AK_HAVE_BITMAP_ID
static ak_bitmap_id id_obj;
#define ID_FIRST 1000u
#define ID_COUNT 5000u
static unsigned char id_shadow[ID_COUNT];

static void fresh_ids(ak_id_allocator *h)
{
    memset(&id_obj, 0, sizeof id_obj);
    memset(id_shadow, 0, sizeof id_shadow);
    *h = ak_bitmap_id_as_id(&id_obj);
    CHECK(ak_id_size(*h) == 0 && ak_id_available(*h) == 0);
    CHECK_OK(ak_id_init(*h, ID_FIRST, ID_COUNT));
    CHECK(ak_id_size(*h) == ID_COUNT && ak_id_used(*h) == 0);
    CHECK_INVARIANTS(ak_id_check(*h));
}

static void test_id_contract(void)
{
    ak_id_allocator h;
    TRY(fresh_ids(&h));
    size_t id = 0;
    CHECK_OK(ak_id_alloc_id(h, 1, 1, &id));
    CHECK(id == ID_FIRST && ak_id_is_allocated(h, ID_FIRST));
    CHECK(!ak_id_is_allocated(h, ID_FIRST + 1));
    CHECK_OK(ak_id_alloc_id(h, 8, 16, &id));
    CHECKF(id == 1008, "8 IDs aligned to 16 from %zu", id);
    CHECK_OK(ak_id_alloc_fixed_id(h, 2000));
    CHECK_ERR(ak_id_alloc_fixed_id(h, 2000), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_id_alloc_fixed_id(h, ID_FIRST - 1), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_id_alloc_fixed_id(h, ID_FIRST + ID_COUNT), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_id_alloc_id(h, 0, 1, &id), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_id_alloc_id(h, 1, 3, &id), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_id_alloc_id(h, ID_COUNT, 1, &id), AK_ERR_NO_MEMORY);
    CHECK(ak_id_used(h) == 10 && ak_id_available(h) == ID_COUNT - 10);
    CHECK_ERR(ak_id_dealloc_id(h, 1007, 2), AK_ERR_NOT_ALLOCATED); /* 1007 is free */
    CHECK(ak_id_is_allocated(h, 1008));
    CHECK_OK(ak_id_dealloc_id(h, 1008, 8));
    CHECK_ERR(ak_id_dealloc_id(h, 1008, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_id_dealloc_id(h, ID_FIRST, 1));
    CHECK_OK(ak_id_dealloc_id(h, 2000, 1));
    CHECK(ak_id_used(h) == 0);
    CHECK_INVARIANTS(ak_id_check(h));
}

/* Lowest free run of `count` IDs whose first is a multiple of `align`, by
 * the shadow; ID_FIRST + ID_COUNT if none. */
static size_t shadow_lowest(size_t count, size_t align)
{
    size_t id = (ID_FIRST + align - 1) / align * align;
    for (; id + count <= ID_FIRST + ID_COUNT; id += align) {
        size_t k = 0;
        while (k < count && !id_shadow[id - ID_FIRST + k])
            k++;
        if (k == count)
            return id;
    }
    return ID_FIRST + ID_COUNT;
}

static void test_id_model(void)
{
    ak_id_allocator h;
    TRY(fresh_ids(&h));
    bm_rng r;
    bm_rng_seed(&r, 6);
    size_t used = 0;
    for (unsigned op = 0; op < 3000; op++) {
        const unsigned kind = (unsigned)bm_rng_below(&r, 10);
        if (kind < 5) {
            const size_t count = (size_t)bm_rng_below(&r, 8) + 1;
            const size_t align = (size_t)1 << bm_rng_below(&r, 5);
            const size_t want = shadow_lowest(count, align);
            size_t id = 0;
            ak_error e = ak_id_alloc_id(h, count, align, &id);
            if (want == ID_FIRST + ID_COUNT) {
                CHECK_ERR(e, AK_ERR_NO_MEMORY);
                continue;
            }
            CHECK_OK(e);
            CHECKF(id == want, "alloc_id(%zu, %zu) gave %zu, lowest free is %zu", count, align, id,
                   want);
            for (size_t k = 0; k < count; k++)
                id_shadow[id - ID_FIRST + k] = 1;
            used += count;
        } else if (kind < 6) {
            const size_t id = ID_FIRST + (size_t)bm_rng_below(&r, ID_COUNT);
            if (id_shadow[id - ID_FIRST]) {
                CHECK_ERR(ak_id_alloc_fixed_id(h, id), AK_ERR_NO_MEMORY);
            } else {
                CHECK_OK(ak_id_alloc_fixed_id(h, id));
                id_shadow[id - ID_FIRST] = 1;
                used++;
            }
        } else {
            /* Free the allocated run starting at a random allocated ID. */
            size_t i = (size_t)bm_rng_below(&r, ID_COUNT);
            while (i < ID_COUNT && !id_shadow[i])
                i++;
            if (i == ID_COUNT)
                continue;
            size_t count = 1;
            while (count < 4 && i + count < ID_COUNT && id_shadow[i + count])
                count++;
            if (i + count < ID_COUNT && !id_shadow[i + count] && bm_rng_below(&r, 8) == 0) {
                /* One past the run is free: the whole call must be refused. */
                CHECK_ERR(ak_id_dealloc_id(h, ID_FIRST + i, count + 1), AK_ERR_NOT_ALLOCATED);
            }
            CHECK_OK(ak_id_dealloc_id(h, ID_FIRST + i, count));
            for (size_t k = 0; k < count; k++)
                id_shadow[i + k] = 0;
            used -= count;
        }
        if (op % 64 == 0) {
            CHECK(ak_id_used(h) == used && ak_id_available(h) == ID_COUNT - used);
            for (size_t k = 0; k < ID_COUNT; k += 7)
                CHECK(ak_id_is_allocated(h, ID_FIRST + k) == (id_shadow[k] != 0));
            CHECK_INVARIANTS(ak_id_check(h));
        }
    }
    CHECK(used > 0);
    CHECK_INVARIANTS(ak_id_check(h));
}
#endif

/* ------------------------------------------------------------------ */
/* The cache layer (magazines)                                         */
/* ------------------------------------------------------------------ */

#if AK_HAVE_MAGAZINE
/* The layer in front of the test double of tests/mag_double.h, which has
 * the cache hooks; the double's tables are carved from the RAM above its
 * region. */
static uintptr_t tbl_cur, tbl_end;

static void *tbl_calloc(size_t n, size_t size)
{
    size_t bytes;
    uintptr_t p = ak_align_up(tbl_cur, 16);
    if (__builtin_mul_overflow(n, size, &bytes) || p > tbl_end || bytes > tbl_end - p)
        return 0;
    tbl_cur = p + bytes;
    memset((void *)p, 0, bytes);
    return (void *)p;
}

#define MAG_DOUBLE_CALLOC(n, size) tbl_calloc(n, size)
#define MAG_DOUBLE_FREE(p)         ((void)(p))
#include "mag_double.h"

/* The depot lock of a kernel, reduced to what the test needs to see: how
 * often it is taken, never twice, never left held. */
static struct {
    int depth;
    unsigned long taken, recursive, bad_unlocks;
} mlock;

static void mlock_take(void *ctx)
{
    (void)ctx;
    mlock.recursive += mlock.depth != 0;
    mlock.depth++;
    mlock.taken++;
}

static void mlock_give(void *ctx)
{
    (void)ctx;
    mlock.bad_unlocks += mlock.depth != 1;
    mlock.depth--;
}

#define MAG_NCPU 4
static ak_mag mag;
static ak_mag_cpu mag_cpus[MAG_NCPU];
static mag_double mdbl;
static struct {
    void *p;
    size_t size;
    unsigned cpu;
    uint64_t tag;
} mlive[256];

static void mlock_clean(void)
{
    CHECKF(mlock.depth == 0 && mlock.recursive == 0 && mlock.bad_unlocks == 0,
           "lock depth %d, %lu recursive, %lu bad unlocks", mlock.depth, mlock.recursive,
           mlock.bad_unlocks);
    CHECKF(mdbl.unlocked_calls == 0, "%lu backend calls without the lock", mdbl.unlocked_calls);
}

/* Four CPU indices take turns at random over one layer and one depot
 * lock, blocks freed on another CPU than the one that allocated them more
 * often than not: what a kernel does with the layer. Every call takes the
 * lock at most once, and one served by the CPU's magazines not at all. */
static void test_magazine_cpus(void)
{
    const size_t region = 16 * MIB; /* the double's tables take 5 MiB above it */
    tbl_cur = ram_start + region;
    tbl_end = ram_end;
    memset(&mdbl, 0, sizeof mdbl);
    memset(&mlock, 0, sizeof mlock);
    mdbl.lock_depth = &mlock.depth;
    mlock.depth = 1; /* set up before the layer exists */
    CHECK_OK(dbl_init(&mdbl, ram_start, region));
    mlock.depth = 0;
    ak_mag_config c = {.backend = mag_double_as_byte(&mdbl),
                       .cpus = mag_cpus,
                       .ncpu = MAG_NCPU,
                       .rounds = 4,
                       .limit_bytes = 256 * KIB,
                       .lock = mlock_take,
                       .unlock = mlock_give};
    CHECK_OK(ak_mag_init(&mag, &c));
    static const size_t sizes[] = {8, 48, 100, 700, 3000, 20000, 70000};
    bm_rng r;
    bm_rng_seed(&r, 7);
    size_t n = 0;
    unsigned long lockfree = 0, cross = 0;
    uint64_t tag = 1;
    for (unsigned op = 0; op < 6000; op++) {
        const unsigned cpu = (unsigned)bm_rng_below(&r, MAG_NCPU);
        unsigned long before = mlock.taken;
        if (n == 0 || (n < 256 && bm_rng_below(&r, 100) < 52)) {
            const size_t size = sizes[bm_rng_below(&r, sizeof sizes / sizeof sizes[0])];
            void *p = 0;
            CHECK_OK(ak_mag_alloc(&mag, cpu, size, 16, &p));
            CHECKF(is_aligned_to(p, 16) && in_ram(p, size), "alloc(%zu) gave %p", size, p);
            pattern(p, size, tag, 0);
            mlive[n].p = p;
            mlive[n].size = size;
            mlive[n].cpu = cpu;
            mlive[n++].tag = tag++;
        } else {
            const size_t i = (size_t)bm_rng_below(&r, n);
            CHECKF(pattern(mlive[i].p, mlive[i].size, mlive[i].tag, 1), "block %p overwritten",
                   mlive[i].p);
            CHECK_OK(ak_mag_free(&mag, cpu, mlive[i].p, mlive[i].size, 16));
            /* The second free is a call of its own, checked below (a
             * block past the classes is refused under the lock). */
            TRY(mlock_clean());
            CHECKF(mlock.taken - before <= 1, "one call took the lock %lu times",
                   mlock.taken - before);
            lockfree += mlock.taken == before;
            before = mlock.taken;
            CHECK_ERR(ak_mag_free(&mag, (cpu + 1) % MAG_NCPU, mlive[i].p, mlive[i].size, 16),
                      AK_ERR_NOT_ALLOCATED);
            cross += mlive[i].cpu != cpu;
            mlive[i] = mlive[--n];
        }
        TRY(mlock_clean());
        CHECKF(mlock.taken - before <= 1, "one call took the lock %lu times", mlock.taken - before);
        lockfree += mlock.taken == before;
        if (op % 128 == 0) {
            CHECK_INVARIANTS(ak_mag_check(&mag));
            TRY(mlock_clean());
        }
    }
    ak_mag_stats_t st;
    ak_mag_stats(&mag, &st);
    bm_printf("[%lu calls without the lock, %lu frees on another CPU, %llu hits, %llu "
              "exchanges] ",
              lockfree, cross, (unsigned long long)(st.alloc_hits + st.free_hits),
              (unsigned long long)st.exchanges);
    CHECK(lockfree > 2000 && cross > 1000 && st.exchanges > 0);
    while (n) {
        n--;
        CHECK(pattern(mlive[n].p, mlive[n].size, mlive[n].tag, 1));
        CHECK_OK(ak_mag_free(&mag, (unsigned)n % MAG_NCPU, mlive[n].p, mlive[n].size, 16));
    }
    CHECK(ak_mag_used_bytes(&mag) == 0);
    for (unsigned cpu = 0; cpu < MAG_NCPU; cpu++)
        CHECK_OK(ak_mag_flush(&mag, cpu));
    ak_mag_trim(&mag);
    CHECK_INVARIANTS(ak_mag_check(&mag));
    TRY(mlock_clean());
    ak_mag_stats(&mag, &st);
    CHECK(st.cached_bytes == 0 && st.magazines == 0);
    CHECKF(mdbl.used == 0, "the backend still has %zu bytes in use", mdbl.used);
}

/* The layer in front of the subject allocator, one CPU, no lock: cached
 * once the allocator has the cache hooks, passed through until then. */
static void test_magazine_over(void)
{
    ak_byte_allocator h;
    TRY(fresh_on_ram(&h));
    ak_mag_config c = {.backend = h, .rounds = 8};
    CHECK_OK(ak_mag_init(&mag, &c));
    bm_rng r;
    bm_rng_seed(&r, 8);
    size_t n = 0;
    for (unsigned op = 0; op < 4000; op++) {
        if (n == 0 || (n < 256 && bm_rng_below(&r, 100) < 52)) {
            const size_t size = size_pow2_band(&r, 13);
            const size_t align = (size_t)1 << bm_rng_below(&r, 6);
            void *p = 0;
            CHECK_OK(ak_mag_alloc(&mag, 0, size, align, &p));
            CHECKF(is_aligned_to(p, align) && in_ram(p, size), "alloc(%zu, %zu) gave %p", size,
                   align, p);
            pattern(p, size, op, 0);
            mlive[n].p = p;
            mlive[n].size = size;
            mlive[n].cpu = (unsigned)align;
            mlive[n++].tag = op;
        } else {
            const size_t i = (size_t)bm_rng_below(&r, n);
            CHECK(pattern(mlive[i].p, mlive[i].size, mlive[i].tag, 1));
            CHECK_OK(ak_mag_free(&mag, 0, mlive[i].p, mlive[i].size, mlive[i].cpu));
            CHECK_ERR(ak_mag_free(&mag, 0, mlive[i].p, mlive[i].size, mlive[i].cpu),
                      AK_ERR_NOT_ALLOCATED);
            mlive[i] = mlive[--n];
        }
        if (op % 128 == 0)
            CHECK_INVARIANTS(ak_mag_check(&mag));
    }
    while (n) {
        n--;
        CHECK_OK(ak_mag_free(&mag, 0, mlive[n].p, mlive[n].size, mlive[n].cpu));
    }
    CHECK_OK(ak_mag_flush(&mag, 0));
    ak_mag_trim(&mag);
    CHECK_INVARIANTS(ak_mag_check(&mag));
    CHECK(ak_mag_used_bytes(&mag) == 0 && ak_byte_used_bytes(h) == 0);
    ak_mag_stats_t st;
    ak_mag_stats(&mag, &st);
    bm_printf("[%s] ", st.caching ? "cached" : "no cache hooks: passed through");
}
#endif

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void run_for_subject(const subject *s, const char *what, void (*fn)(void))
{
    static char name[64];
    cur = s;
    bm_snprintf(name, sizeof name, "%s.%s", s->name, what);
    bm_run(name, fn);
}

int bm_main(void);
int bm_main(void)
{
    ram_start = (uintptr_t)__heap_start;
    ram_end = (uintptr_t)__heap_end;
    ram_size = ram_end - ram_start;
    bm_printf("%s: allockit boot harness, RAM for the allocators %p..%p (%zu KiB)\n",
              bm_target_name, (void *)ram_start, (void *)ram_end, ram_size / KIB);
    bm_printf("%s: built in:%s%s%s%s%s%s%s\n", bm_target_name, AK_HAVE_TLSF ? " tlsf" : "",
              AK_HAVE_BUDDY ? " buddy" : "", AK_HAVE_SLAB ? " slab" : "",
              AK_HAVE_BITMAP_PAGE ? " bitmap_page" : "", AK_HAVE_BITMAP_ID ? " bitmap_id" : "",
              AK_HAVE_MAGAZINE ? " magazine" : "",
#ifdef AK_TEST_BREAK_ALIGN
              " (AK_TEST_BREAK_ALIGN: byte allocators honour half the alignment)"
#else
              ""
#endif
    );
    bm_run("rt.format", test_rt_format);
    bm_run("rt.memory", test_rt_memory);
    bm_run("board.ram", test_board_ram);
    bm_run("board.endian", test_board_endian);
    bm_run("core.errors", test_core_errors);
    bm_run("core.align", test_core_align);
    bm_run("core.dispatch", test_core_dispatch);
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
        const subject *s = &subjects[i];
        run_for_subject(s, "vec_growth", test_vec_growth);
        run_for_subject(s, "blocks_shuffled", test_blocks_shuffled);
        if (s->s.rand_ops)
            run_for_subject(s, "random_pow2", test_random_pow2);
        run_for_subject(s, "model", test_model);
        run_for_subject(s, "errors_regions", test_errors_regions);
        cur = s;
        const ak_byte_allocator probe = fresh();
        if (probe.ops->resize && probe.ops->usable_size)
            run_for_subject(s, "resize_usable", test_resize_usable);
#if AK_HAVE_MAGAZINE
        run_for_subject(s, "magazine", test_magazine_over);
#endif
    }
#if AK_HAVE_MAGAZINE
    bm_run("magazine.cpus", test_magazine_cpus);
#endif
#if AK_HAVE_BITMAP_PAGE
    bm_run("bitmap_page.single_and_errors", test_page_single_and_errors);
    bm_run("bitmap_page.alloc_at", test_page_at);
    bm_run("bitmap_page.runs", test_page_runs);
#endif
#if AK_HAVE_BITMAP_ID
    bm_run("bitmap_id.contract", test_id_contract);
    bm_run("bitmap_id.model", test_id_model);
#endif
    bm_printf("%s: %u passed, %u failed\n", bm_target_name, bm_passed, bm_failed_count);
    return bm_failed_count ? 1 : 0;
}
