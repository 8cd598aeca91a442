/* TLSF tests: API semantics one call at a time (split, merge, alignment,
 * region edges and overlaps, many regions, bad frees, stale pointers after
 * a re-init, huge requests, a 2 TiB pool, resize, statistics, the walker,
 * the interface handle, the cache hooks, and the checker catching
 * corruption), and a randomised model test that keeps
 * a shadow record of every live block and verifies contents, alignment,
 * bounds and no overlap, with the invariant checker run every few thousand
 * operations. The test_tlsf_model build (or --model) runs the model test
 * and the 2 TiB pool test (slow under emulators) instead. Options: --ops=N (model operations,
 * default 1500000, --quick 60000), --seed=N, --quick. */
#if defined(__linux__)
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE for the 2 TiB pool */
#endif
#include "testlib.h"
#include "walk_check.h"

#include <allockit/tlsf.h>

#if defined(__linux__) && UINTPTR_MAX > 0xffffffffu
#include <sys/mman.h>
#endif

#ifdef AK_TLSF_MODEL_ONLY
static int model_only = 1;
#else
static int model_only;
#endif

/* ---- helpers ---- */

/* Regions come from malloc, released at exit by the OS; each test makes
 * its own so a broken test cannot poison the next. */
static void *region(size_t size)
{
    void *p = malloc(size + 64);
    CHECK(p != NULL);
    return p;
}

/* The block size alloc makes for n bytes (header, rounding, minimum). */
static size_t block_of(size_t n)
{
    size_t b = (n + 8 + AK_TLSF_ALIGN - 1) & ~(AK_TLSF_ALIGN - 1);
    return b < AK_TLSF_MIN_BLOCK ? AK_TLSF_MIN_BLOCK : b;
}

/* What used_bytes counts for a block alloc made for n bytes from a big
 * free block (split exactly): the block less its header. */
static size_t usable_of(size_t n)
{
    return block_of(n) - 8;
}

static void check_inv(const ak_tlsf *a)
{
    CHECK_INVARIANTS(ak_tlsf_check(a));
}

static bool stats_equal(const struct ak_byte_stats *x, const struct ak_byte_stats *y)
{
    return x->total_bytes == y->total_bytes && x->used_bytes == y->used_bytes &&
           x->free_bytes == y->free_bytes && x->largest_free == y->largest_free &&
           x->used_blocks == y->used_blocks && x->free_blocks == y->free_blocks &&
           x->region_count == y->region_count && x->failed_allocs == y->failed_allocs;
}

typedef struct walk_log {
    size_t blocks, used, free;
    size_t payload_sum;
    void *ptrs[64];
    size_t sizes[64];
    bool used_flags[64];
} walk_log;

static void walk_record(uintptr_t start, size_t size, bool used, void *ctx)
{
    walk_log *w = (walk_log *)ctx;
    if (w->blocks < 64) {
        w->ptrs[w->blocks] = (void *)start;
        w->sizes[w->blocks] = size;
        w->used_flags[w->blocks] = used;
    }
    w->blocks++;
    w->payload_sum += size;
    if (used)
        w->used++;
    else
        w->free++;
}

static walk_log walk(const ak_tlsf *a)
{
    walk_log w;
    memset(&w, 0, sizeof w);
    ak_tlsf_walk(a, walk_record, &w);
    return w;
}

/* ---- unit tests ---- */

static void test_zero_object(void)
{
    static ak_tlsf a; /* zero-initialised */
    void *p = (void *)1;
    CHECK_ERR(ak_tlsf_alloc(&a, 16, 8, &p), AK_ERR_NO_MEMORY);
    CHECK(p == (void *)1);
    CHECK_ERR(ak_tlsf_alloc(&a, 0, 1, &p), AK_ERR_NO_MEMORY);
    CHECK(ak_tlsf_total_bytes(&a) == 0 && ak_tlsf_used_bytes(&a) == 0);
    CHECK(ak_tlsf_available_bytes(&a) == 0);
    int local;
    CHECK_ERR(ak_tlsf_dealloc(&a, &local, sizeof local, 4), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_dealloc(&a, NULL, 0, 1), AK_ERR_NOT_ALLOCATED);
    check_inv(&a);
    walk_log w = walk(&a);
    CHECK(w.blocks == 0);
    /* add_memory works on it directly. */
    char *mem = region(4096);
    CHECK_OK(ak_tlsf_add_memory(&a, (uintptr_t)mem, 4096));
    check_inv(&a);
    CHECK(ak_tlsf_total_bytes(&a) >= 4096 - AK_TLSF_REGION_OVERHEAD);
    CHECK(ak_tlsf_total_bytes(&a) <= 4096);
    CHECK_OK(ak_tlsf_alloc(&a, 100, 8, &p));
    CHECK((char *)p >= mem && (char *)p + 100 <= mem + 4096);
    CHECK_OK(ak_tlsf_dealloc(&a, p, 100, 8));
    check_inv(&a);
    free(mem);
}

static void test_init_and_reinit(void)
{
    ak_tlsf a;
    memset(&a, 0xa5, sizeof a); /* garbage: init must not read it beyond the salt counter */
    char *m1 = region(1 << 16), *m2 = region(1 << 16);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)m1, 1 << 16));
    check_inv(&a);
    void *p, *q;
    CHECK_OK(ak_tlsf_alloc(&a, 1000, 16, &p));
    CHECK_OK(ak_tlsf_alloc(&a, 2000, 16, &q));
    CHECK(ak_tlsf_used_bytes(&a) == usable_of(1000) + usable_of(2000));
    /* init on a used object drops everything and starts over. */
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)m2, 1 << 16));
    check_inv(&a);
    CHECK(ak_tlsf_used_bytes(&a) == 0);
    struct ak_byte_stats st;
    ak_tlsf_stats(&a, &st);
    CHECK(st.region_count == 1 && st.used_blocks == 0 && st.free_blocks == 1);
    CHECK(st.failed_allocs == 0);
    /* m1 is no longer managed: its old pointers are rejected. */
    CHECK_ERR(ak_tlsf_dealloc(&a, p, 1000, 16), AK_ERR_NOT_ALLOCATED);
    /* Re-init on the same memory: stale headers from the previous life must
     * not pass as blocks (the salt changes per init). */
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)m1, 1 << 16));
    CHECK_ERR(ak_tlsf_dealloc(&a, q, 2000, 16), AK_ERR_NOT_ALLOCATED);
    check_inv(&a);
    /* A failed init leaves the object as it was. */
    struct ak_byte_stats before, after;
    ak_tlsf_stats(&a, &before);
    CHECK_ERR(ak_tlsf_init(&a, (uintptr_t)m2, 16), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_init(&a, UINTPTR_MAX - 100, 4096), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_init(&a, (uintptr_t)m2, 0), AK_ERR_INVALID_PARAM);
    ak_tlsf_stats(&a, &after);
    CHECK(stats_equal(&before, &after));
    check_inv(&a);
    free(m1);
    free(m2);
}

/* Regions of every small size and misalignment: the documented overhead
 * bound holds, the smallest accepted region holds one block, and one byte
 * less is refused. */
static void test_region_edges(void)
{
    const size_t min_ok = AK_TLSF_REGION_OVERHEAD + AK_TLSF_MIN_BLOCK;
    char *mem = region(min_ok + 256);
    for (size_t off = 0; off < 32; off++) {
        for (size_t extra = 0; extra < 48; extra++) {
            ak_tlsf a = {0};
            size_t size = min_ok + extra;
            CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem + off, size));
            size_t total = ak_tlsf_total_bytes(&a);
            CHECKF(total + AK_TLSF_REGION_OVERHEAD >= size && total < size,
                   "off %zu size %zu total %zu", off, size, total);
            void *p;
            CHECK_OK(ak_tlsf_alloc(&a, total, 1, &p));
            CHECK((char *)p >= mem + off && (char *)p + total <= mem + off + size);
            memset(p, 0x77, total);
            check_inv(&a);
            CHECK_OK(ak_tlsf_dealloc(&a, p, total, 1));
            CHECK_ERR(ak_tlsf_alloc(&a, total + 1, 1, &p), AK_ERR_NO_MEMORY);
        }
        ak_tlsf a = {0};
        CHECK_ERR(ak_tlsf_init(&a, (uintptr_t)mem + off, min_ok - 1), AK_ERR_INVALID_PARAM);
    }
    free(mem);
}

static void test_basic(void)
{
    ak_tlsf a = {0};
    size_t size = 1 << 20;
    char *mem = region(size);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem, size));
    size_t total = ak_tlsf_total_bytes(&a);
    CHECK(total + AK_TLSF_REGION_OVERHEAD >= size);
    void *ptrs[100];
    for (int i = 0; i < 100; i++) {
        size_t s = (size_t)i * 37;
        CHECK_OK(ak_tlsf_alloc(&a, s, 1, &ptrs[i]));
        CHECK(((uintptr_t)ptrs[i] & (AK_TLSF_ALIGN - 1)) == 0);
        CHECK((char *)ptrs[i] >= mem && (char *)ptrs[i] + s <= mem + size);
        CHECK(ak_tlsf_usable_size(&a, ptrs[i], s, 1) >= s);
        ak_pattern_fill(ptrs[i], s, (uint64_t)i);
    }
    check_inv(&a);
    size_t used = 0;
    for (int i = 0; i < 100; i++)
        used += ak_tlsf_usable_size(&a, ptrs[i], (size_t)i * 37, 1);
    CHECK(ak_tlsf_used_bytes(&a) == used);
    CHECK(ak_tlsf_available_bytes(&a) == total - used);
    for (int i = 0; i < 100; i++)
        CHECK(ak_pattern_ok(ptrs[i], (size_t)i * 37, (uint64_t)i));
    for (int i = 0; i < 100; i += 2)
        CHECK_OK(ak_tlsf_dealloc(&a, ptrs[i], (size_t)i * 37, 1));
    check_inv(&a);
    for (int i = 1; i < 100; i += 2)
        CHECK(ak_pattern_ok(ptrs[i], (size_t)i * 37, (uint64_t)i));
    for (int i = 1; i < 100; i += 2)
        CHECK_OK(ak_tlsf_dealloc(&a, ptrs[i], (size_t)i * 37, 1));
    check_inv(&a);
    CHECK(ak_tlsf_used_bytes(&a) == 0);
    walk_log w = walk(&a);
    CHECK(w.blocks == 1 && w.free == 1 && w.payload_sum == total);
    free(mem);
}

static void test_split_merge(void)
{
    ak_tlsf a = {0};
    char *mem = region(1 << 16);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem, 1 << 16));
    void *x, *y, *z;
    CHECK_OK(ak_tlsf_alloc(&a, 100, 8, &x));
    CHECK_OK(ak_tlsf_alloc(&a, 200, 8, &y));
    CHECK_OK(ak_tlsf_alloc(&a, 300, 8, &z));
    /* Splitting: each block is cut from the end of the free block, so the
     * three lie back to back, each just in front of the one allocated
     * before it (block = header + size rounded), and the free block
     * stays at the front of the region. */
    CHECK((char *)y + block_of(200) == (char *)x);
    CHECK((char *)z + block_of(300) == (char *)y);
    walk_log w = walk(&a);
    CHECK(w.blocks == 4 && w.used == 3 && w.free == 1);
    CHECK(!w.used_flags[0]);
    CHECK(w.ptrs[1] == z && w.used_flags[1] && w.sizes[1] == block_of(300) - 8);
    CHECK(w.ptrs[2] == y && w.sizes[2] == block_of(200) - 8);
    CHECK(w.ptrs[3] == x && w.sizes[3] == block_of(100) - 8);
    /* Free the middle: a hole, not merged with anything. */
    CHECK_OK(ak_tlsf_dealloc(&a, y, 200, 8));
    w = walk(&a);
    CHECK(w.blocks == 4 && w.free == 2 && !w.used_flags[2]);
    check_inv(&a);
    /* Free the last: merges backward into the hole, which keeps its
     * address. */
    CHECK_OK(ak_tlsf_dealloc(&a, x, 100, 8));
    w = walk(&a);
    CHECK(w.blocks == 3 && w.free == 2 && w.ptrs[2] == y);
    CHECK(w.sizes[2] == block_of(100) + block_of(200) - 8);
    check_inv(&a);
    /* A new 150-byte block comes from the hole's end (good fit from the
     * hole, not the big free block). */
    void *v;
    CHECK_OK(ak_tlsf_alloc(&a, 150, 8, &v));
    CHECK((char *)v == (char *)x + block_of(100) - block_of(150));
    CHECK_OK(ak_tlsf_dealloc(&a, v, 150, 8));
    w = walk(&a);
    CHECK(w.blocks == 3 && w.free == 2);
    /* Free the first: merges both ways, one block again. */
    CHECK_OK(ak_tlsf_dealloc(&a, z, 300, 8));
    w = walk(&a);
    CHECK(w.blocks == 1 && w.free == 1 && w.payload_sum == ak_tlsf_total_bytes(&a));
    check_inv(&a);
    free(mem);
}

static void test_alignment(void)
{
    ak_tlsf a = {0};
    size_t size = 8 << 20;
    char *mem = region(size);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem, size));
    void *p[64];
    size_t aligns[64];
    int n = 0;
    for (size_t al = 1; al <= ((size_t)1 << 20); al <<= 1) {
        for (size_t s = 0; s < 3; s++) {
            size_t sz = s * 333;
            CHECK(n < 64);
            CHECK_OK(ak_tlsf_alloc(&a, sz, al, &p[n]));
            CHECKF(((uintptr_t)p[n] & (al - 1)) == 0, "align %zu gave %p", al, p[n]);
            memset(p[n], 0x5a, sz);
            aligns[n++] = al;
            check_inv(&a);
        }
    }
    /* The gaps in front of aligned blocks became free blocks: the free
     * bytes plus used blocks account for the whole region. */
    struct ak_byte_stats st;
    ak_tlsf_stats(&a, &st);
    CHECK(st.used_blocks == (size_t)n);
    /* A pointer freed with an alignment it does not have is refused. */
    for (int i = 0; i < n; i++) {
        if (((uintptr_t)p[i] & ((aligns[i] << 1) - 1)) != 0)
            CHECK_ERR(ak_tlsf_dealloc(&a, p[i], (size_t)(i % 3) * 333, aligns[i] << 1),
                      AK_ERR_INVALID_PARAM);
    }
    for (int i = 0; i < n; i++)
        CHECK_OK(ak_tlsf_dealloc(&a, p[i], (size_t)(i % 3) * 333, aligns[i]));
    check_inv(&a);
    walk_log w = walk(&a);
    CHECK(w.blocks == 1 && w.free == 1);
    /* Alignments bigger than the pool: served exactly when an address so
     * aligned (with room for a header before it) lies in the region. */
    for (size_t al = (size_t)16 << 20; al != 0 && al <= AK_TLSF_MAX_ALIGN; al <<= 1) {
        uintptr_t lo = (uintptr_t)mem + AK_TLSF_REGION_OVERHEAD, at;
        bool room = ak_align_up_checked(lo, al, &at) && at + 64 <= (uintptr_t)mem + size;
        void *q = NULL;
        ak_error e = ak_tlsf_alloc(&a, 1, al, &q);
        if (e == AK_OK) {
            CHECK(((uintptr_t)q & (al - 1)) == 0);
            CHECK((char *)q >= mem && (char *)q < mem + size);
            CHECK_OK(ak_tlsf_dealloc(&a, q, 1, al));
        } else {
            CHECK_ERR(e, AK_ERR_NO_MEMORY);
            CHECK(!room);
        }
    }
    check_inv(&a);
    CHECK(walk(&a).blocks == 1);
    free(mem);
}

/* Aligned blocks sized to tile (S - 8 bytes at alignment S, the header
 * of the next one in the last 8 bytes) sit back to back, and a freed one
 * is reused in place: an aligned request first tries the good fit for its
 * size. */
static void test_aligned_tiling(void)
{
    ak_tlsf a = {0};
    const size_t S = 4096, size = 1 << 20;
    char *mem = region(size);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem, size));
    enum { N = 200 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        CHECK_OK(ak_tlsf_alloc(&a, S - 8, S, &p[i]));
        CHECK(((uintptr_t)p[i] & (S - 1)) == 0);
        if (i > 0)
            CHECK((char *)p[i] == (char *)p[i - 1] + S);
    }
    check_inv(&a);
    for (int i = 10; i < N; i += 7) {
        void *q;
        CHECK_OK(ak_tlsf_dealloc(&a, p[i], S - 8, S));
        CHECK_OK(ak_tlsf_alloc(&a, S - 8, S, &q));
        CHECK(q == p[i]);
    }
    struct ak_byte_stats st;
    ak_tlsf_stats(&a, &st);
    CHECK(st.used_blocks == N && st.free_blocks <= 2);
    check_inv(&a);
    for (int i = 0; i < N; i++)
        CHECK_OK(ak_tlsf_dealloc(&a, p[i], S - 8, S));
    CHECK(walk(&a).blocks == 1);
    free(mem);
}

static void test_multi_region(void)
{
    ak_tlsf a = {0};
    size_t sizes[3] = {1 << 16, 1 << 18, 100000};
    char *m[3];
    for (int i = 0; i < 3; i++)
        m[i] = region(sizes[i]);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)m[0], sizes[0]));
    CHECK_OK(ak_tlsf_add_memory(&a, (uintptr_t)m[1] + 3, sizes[1] - 3)); /* unaligned */
    CHECK_OK(ak_tlsf_add_memory(&a, (uintptr_t)m[2], sizes[2]));
    check_inv(&a);
    struct ak_byte_stats before, after;
    ak_tlsf_stats(&a, &before);
    CHECK(before.region_count == 3 && before.free_blocks == 3);
    /* Overlaps in every shape are refused with nothing changed. */
    CHECK_ERR(ak_tlsf_add_memory(&a, (uintptr_t)m[0], sizes[0]), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_tlsf_add_memory(&a, (uintptr_t)m[0] + 100, 4096), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_tlsf_add_memory(&a, (uintptr_t)m[0] - 1000, 4096), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_tlsf_add_memory(&a, (uintptr_t)m[0] + sizes[0] - 1, 4096), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_tlsf_add_memory(&a, (uintptr_t)m[1], 4096),
              AK_ERR_MEMORY_OVERLAP); /* trimmed edge */
    CHECK_ERR(ak_tlsf_add_memory(&a, (uintptr_t)m[2] - 8192, sizes[2] + 16384),
              AK_ERR_MEMORY_OVERLAP);
    /* Too small, zero, wrapping. */
    CHECK_ERR(ak_tlsf_add_memory(&a, 4096, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_add_memory(&a, 4096, 40), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_add_memory(&a, UINTPTR_MAX - 4095, 8192), AK_ERR_INVALID_PARAM);
    ak_tlsf_stats(&a, &after);
    CHECK(stats_equal(&before, &after));
    check_inv(&a);
    /* Fill everything with 1000-byte blocks; each lies inside one region. */
    enum { MAXP = 1000 };
    static void *p[MAXP];
    int n = 0, in[3] = {0, 0, 0};
    while (n < MAXP && ak_tlsf_alloc(&a, 1000, 8, &p[n]) == AK_OK) {
        int hits = 0;
        for (int i = 0; i < 3; i++)
            if ((char *)p[n] >= m[i] && (char *)p[n] + 1000 <= m[i] + sizes[i]) {
                hits++;
                in[i]++;
            }
        CHECK(hits == 1);
        memset(p[n], n & 0xff, 1000);
        n++;
    }
    CHECK(n < MAXP);
    CHECK(in[0] > 0 && in[1] > 0 && in[2] > 0);
    /* sizes sum to about 420 KiB: nearly all of it is used */
    CHECK((size_t)n * 1016 > (sizes[0] + sizes[1] + sizes[2]) * 9 / 10);
    ak_tlsf_stats(&a, &after);
    CHECK(after.failed_allocs == before.failed_allocs + 1);
    check_inv(&a);
    for (int i = 0; i < n; i += 3)
        CHECK_OK(ak_tlsf_dealloc(&a, p[i], 1000, 8));
    for (int i = 1; i < n; i += 3)
        CHECK_OK(ak_tlsf_dealloc(&a, p[i], 1000, 8));
    check_inv(&a);
    for (int i = 2; i < n; i += 3)
        CHECK_OK(ak_tlsf_dealloc(&a, p[i], 1000, 8));
    check_inv(&a);
    walk_log w = walk(&a);
    CHECK(w.blocks == 3 && w.free == 3);
    CHECK(w.payload_sum == ak_tlsf_total_bytes(&a));
    free(m[0]);
    free(m[1]);
    free(m[2]);
}

static void test_bad_frees(void)
{
    ak_tlsf a = {0};
    size_t size = 1 << 20;
    char *mem = region(size);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem, size));
    void *p, *q, *big;
    CHECK_OK(ak_tlsf_alloc(&a, 100, 8, &p));
    CHECK_OK(ak_tlsf_alloc(&a, 200, 64, &q));
    CHECK_OK(ak_tlsf_alloc(&a, 100000, 16, &big));
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed);
    /* Fill the big block with random bytes: stray data must not pass. */
    for (size_t i = 0; i < 100000; i += 8) {
        uint64_t v = ak_rng_next(&rng);
        memcpy((char *)big + i, &v, 8);
    }
    struct ak_byte_stats before, after;
    ak_tlsf_stats(&a, &before);
    int local;
    /* Outside every region. */
    CHECK_ERR(ak_tlsf_dealloc(&a, &local, sizeof local, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_dealloc(&a, NULL, 0, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_dealloc(&a, mem + size + 64, 8, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_dealloc(&a, (void *)(uintptr_t)8, 8, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_dealloc(&a, (void *)UINTPTR_MAX, 8, 1), AK_ERR_NOT_ALLOCATED);
    /* The region's own edges: the record, the sentinel. */
    CHECK_ERR(ak_tlsf_dealloc(&a, mem, 8, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_dealloc(&a, mem + 16, 8, 1), AK_ERR_NOT_ALLOCATED);
    for (size_t off = 1; off <= 64; off++)
        CHECK_ERR(ak_tlsf_dealloc(&a, mem + size - off, 0, 1), AK_ERR_NOT_ALLOCATED);
    /* Interior pointers, aligned and not. */
    for (size_t off = 1; off < 100; off++)
        CHECK_ERR(ak_tlsf_dealloc(&a, (char *)p + off, 100 - off, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_dealloc(&a, (char *)p - 16, 100, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_dealloc(&a, (char *)q - 8, 200, 8), AK_ERR_NOT_ALLOCATED);
    for (int i = 0; i < 20000; i++) {
        size_t off = (size_t)ak_rng_range(&rng, 1, 99999);
        CHECK_ERR(ak_tlsf_dealloc(&a, (char *)big + off, 16, 1), AK_ERR_NOT_ALLOCATED);
        CHECK_ERR(ak_tlsf_resize(&a, (char *)big + off, 16, 1, 32), AK_ERR_NOT_ALLOCATED);
        CHECK(ak_tlsf_usable_size(&a, (char *)big + off, 16, 1) == 0);
    }
    /* Pointers into the largest free block (its own address included). */
    walk_log fw = walk(&a);
    CHECK(fw.blocks <= 64);
    size_t fi = fw.blocks;
    for (size_t i = 0; i < fw.blocks; i++)
        if (!fw.used_flags[i] && (fi == fw.blocks || fw.sizes[i] > fw.sizes[fi]))
            fi = i;
    CHECK(fi < fw.blocks && fw.sizes[fi] > 500000);
    for (int i = 0; i < 20000; i++) {
        size_t off = (size_t)ak_rng_range(&rng, 0, fw.sizes[fi] - 1);
        CHECK_ERR(ak_tlsf_dealloc(&a, (char *)fw.ptrs[fi] + off, 0, 1), AK_ERR_NOT_ALLOCATED);
    }
    /* Wrong sizes: above the block's usable size. */
    const size_t up = ak_tlsf_usable_size(&a, p, 100, 8), ubig = ak_tlsf_usable_size(&a, big, 1, 1);
    CHECK(up == usable_of(100) && ubig == usable_of(100000));
    CHECK_ERR(ak_tlsf_dealloc(&a, p, up + 1, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_dealloc(&a, p, 1000, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_dealloc(&a, p, SIZE_MAX, 8), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_dealloc(&a, big, ubig + 1, 16), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_resize(&a, big, ubig + 1, 16, 10), AK_ERR_INVALID_PARAM);
    CHECK(ak_tlsf_usable_size(&a, big, ubig + 1, 16) == 0);
    /* Bad alignments. */
    CHECK_ERR(ak_tlsf_dealloc(&a, p, 100, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_dealloc(&a, p, 100, 3), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_dealloc(&a, p, 100, 24), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_dealloc(&a, q, 200, (size_t)1 << 20), AK_ERR_INVALID_PARAM);
    ak_tlsf_stats(&a, &after);
    CHECK(stats_equal(&before, &after));
    check_inv(&a);
    /* Any size up to the usable size is taken (1 for a block of 100), and
     * the block's usable size is what leaves used_bytes. */
    CHECK(ak_tlsf_used_bytes(&a) == up + usable_of(200) + ubig);
    CHECK_OK(ak_tlsf_dealloc(&a, p, 1, 8));
    CHECK(ak_tlsf_used_bytes(&a) == usable_of(200) + ubig);
    /* Double free, right after and after neighbours merged around it. */
    CHECK_ERR(ak_tlsf_dealloc(&a, p, 100, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_tlsf_dealloc(&a, q, 200, 64));
    CHECK_ERR(ak_tlsf_dealloc(&a, q, 200, 64), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_dealloc(&a, p, 100, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_tlsf_dealloc(&a, big, 100000, 16));
    CHECK_ERR(ak_tlsf_dealloc(&a, big, 100000, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_resize(&a, big, 100000, 16, 10), AK_ERR_NOT_ALLOCATED);
    check_inv(&a);
    walk_log w = walk(&a);
    CHECK(w.blocks == 1 && w.free == 1);
    CHECK(ak_tlsf_used_bytes(&a) == 0);
    free(mem);
}

static void test_zero_size(void)
{
    ak_tlsf a = {0};
    char *mem = region(1 << 16);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem, 1 << 16));
    void *p[200];
    for (int i = 0; i < 200; i++) {
        CHECK_OK(ak_tlsf_alloc(&a, 0, (size_t)1 << (i % 8), &p[i]));
        CHECK(p[i] != NULL);
        for (int j = 0; j < i; j++)
            CHECK(p[i] != p[j]);
        CHECK(ak_tlsf_usable_size(&a, p[i], 0, (size_t)1 << (i % 8)) >= 0 + 8);
    }
    /* Each counts at its usable size: a minimum block's, or a little
     * more where the rest behind an aligned one was too small to split. */
    size_t used = 0;
    for (int i = 0; i < 200; i++) {
        size_t u = ak_tlsf_usable_size(&a, p[i], 0, (size_t)1 << (i % 8));
        CHECK(u >= AK_TLSF_MIN_BLOCK - 8 && u < 2 * AK_TLSF_MIN_BLOCK - 8);
        used += u;
    }
    CHECK(ak_tlsf_used_bytes(&a) == used);
    struct ak_byte_stats st;
    ak_tlsf_stats(&a, &st);
    CHECK(st.used_blocks == 200);
    check_inv(&a);
    for (int i = 0; i < 200; i++)
        CHECK_OK(ak_tlsf_dealloc(&a, p[i], 0, (size_t)1 << (i % 8)));
    check_inv(&a);
    CHECK(walk(&a).blocks == 1);
    free(mem);
}

static void test_huge_requests(void)
{
    ak_tlsf a = {0};
    char *mem = region(1 << 20);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem, 1 << 20));
    void *keep;
    CHECK_OK(ak_tlsf_alloc(&a, 5000, 32, &keep));
    struct ak_byte_stats before, after;
    ak_tlsf_stats(&a, &before);
    void *p = (void *)1;
    const size_t top = (size_t)1 << (sizeof(size_t) * 8 - 1);
    const size_t sizes[] = {SIZE_MAX,      SIZE_MAX - 1, SIZE_MAX - 7, SIZE_MAX - 15,
                            SIZE_MAX - 64, top,          top + 1,      AK_TLSF_MAX_ALLOC + 1};
    const size_t aligns[] = {1, 4096, top};
    size_t refused = 0; /* NO_MEMORY answers, which count as failures */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (size_t k = 0; k < 3; k++) {
            /* Too large to represent: INVALID_PARAM. Representable (on
             * 32-bit targets 2^31 is) but more than is free: NO_MEMORY. */
            ak_error want = sizes[i] > AK_TLSF_MAX_ALLOC || aligns[k] > AK_TLSF_MAX_ALIGN
                                ? AK_ERR_INVALID_PARAM
                                : AK_ERR_NO_MEMORY;
            CHECK_ERR(ak_tlsf_alloc(&a, sizes[i], aligns[k], &p), want);
            refused += want == AK_ERR_NO_MEMORY;
        }
    }
    CHECK(refused < 3 * sizeof sizes / sizeof sizes[0]);
    CHECK_ERR(ak_tlsf_alloc(&a, 0, AK_TLSF_MAX_ALIGN << 1, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_alloc(&a, 1, 0, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_alloc(&a, 1, 48, &p), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_alloc(&a, 1, SIZE_MAX, &p), AK_ERR_INVALID_PARAM);
    CHECK(p == (void *)1);
    ak_tlsf_stats(&a, &after);
    CHECK(after.failed_allocs == before.failed_allocs + refused);
    after.failed_allocs = before.failed_allocs;
    CHECK(stats_equal(&before, &after));
    check_inv(&a);
    before.failed_allocs += refused;
    /* Representable but larger than anything free: NO_MEMORY, counted. */
    CHECK_ERR(ak_tlsf_alloc(&a, AK_TLSF_MAX_ALLOC, 1, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_tlsf_alloc(&a, AK_TLSF_MAX_ALLOC, AK_TLSF_MAX_ALIGN, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_tlsf_alloc(&a, 1, AK_TLSF_MAX_ALIGN, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_tlsf_alloc(&a, 2 << 20, 8, &p), AK_ERR_NO_MEMORY);
    CHECK(p == (void *)1);
    ak_tlsf_stats(&a, &after);
    CHECK(after.failed_allocs == before.failed_allocs + 4);
    after.failed_allocs = before.failed_allocs;
    CHECK(stats_equal(&before, &after));
    check_inv(&a);
    /* Resize to impossible sizes: NO_MEMORY, block unchanged. */
    CHECK_ERR(ak_tlsf_resize(&a, keep, 5000, 32, SIZE_MAX), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_tlsf_resize(&a, keep, 5000, 32, 2 << 20), AK_ERR_NO_MEMORY);
    ak_tlsf_stats(&a, &after);
    after.failed_allocs = before.failed_allocs;
    CHECK(stats_equal(&before, &after));
    check_inv(&a);
    CHECK_OK(ak_tlsf_dealloc(&a, keep, 5000, 32));
    free(mem);
}

static void test_resize(void)
{
    ak_tlsf a = {0};
    char *mem = region(1 << 20);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem, 1 << 20));
    /* The granule as alignment: 16 on 64-bit targets; with 16 on 32-bit
     * ones (granule 8) the aligned path may put a gap block before x. */
    const size_t al = AK_TLSF_ALIGN;
    /* Each block is cut from the end of the free block: allocated in the
     * order t, z, y, x, they lie as [free][x][y][z][t]. */
    void *x, *y, *z, *t;
    CHECK_OK(ak_tlsf_alloc(&a, 600000, al, &t));
    CHECK_OK(ak_tlsf_alloc(&a, 1000, al, &z));
    CHECK_OK(ak_tlsf_alloc(&a, 1000, al, &y));
    CHECK_OK(ak_tlsf_alloc(&a, 1000, al, &x));
    CHECK((char *)x + block_of(1000) == (char *)y && (char *)y + block_of(1000) == (char *)z);
    const size_t used_t = usable_of(600000);
    ak_pattern_fill(x, 1000, 1);
    /* Grow x: its successor y is used. */
    CHECK_ERR(ak_tlsf_resize(&a, x, 1000, al, 1100), AK_ERR_NO_MEMORY);
    /* Within its own rounding: fine. */
    CHECK_ERR(ak_tlsf_resize(&a, x, 1000, al, 1004), AK_ERR_NO_MEMORY); /* needs 1024 */
    CHECK_OK(ak_tlsf_resize(&a, x, 1000, al, 1000 - 8));
    CHECK(ak_tlsf_used_bytes(&a) == 3 * usable_of(1000) + used_t);
    CHECK_OK(ak_tlsf_resize(&a, x, 1000 - 8, al, 1000));
    CHECK(ak_tlsf_used_bytes(&a) == 3 * usable_of(1000) + used_t);
    /* Free y, then x grows into it, keeping its contents. */
    CHECK_OK(ak_tlsf_dealloc(&a, y, 1000, al));
    CHECK_OK(ak_tlsf_resize(&a, x, 1000, al, 1500));
    CHECK(ak_pattern_ok(x, 1000, 1));
    CHECK(ak_tlsf_usable_size(&a, x, 1500, al) == usable_of(1500));
    CHECK(ak_tlsf_used_bytes(&a) == usable_of(1500) + usable_of(1000) + used_t);
    check_inv(&a);
    walk_log w = walk(&a);
    CHECK(w.blocks == 5 && !w.used_flags[0] && w.ptrs[1] == x && w.used_flags[1]);
    CHECK(!w.used_flags[2] && w.used_flags[3] && w.used_flags[4]);
    /* Growing to all of x + y exactly: no leftover block. */
    size_t all = 2 * block_of(1000) - 8; /* x's and y's blocks, one header */
    CHECK_OK(ak_tlsf_resize(&a, x, 1500, al, all));
    w = walk(&a);
    CHECK(w.blocks == 4 && w.sizes[1] == all);
    CHECK_ERR(ak_tlsf_resize(&a, x, all, al, all + 1), AK_ERR_NO_MEMORY);
    check_inv(&a);
    /* Shrink: the tail becomes a free block. */
    CHECK_OK(ak_tlsf_resize(&a, x, all, al, 100));
    CHECK(ak_pattern_ok(x, 100, 1));
    w = walk(&a);
    CHECK(w.blocks == 5 && w.sizes[1] == block_of(100) - 8 && !w.used_flags[2]);
    check_inv(&a);
    /* Free t, the last block: z is now followed by a large free block.
     * Shrink z: its tail merges with that block. */
    CHECK_OK(ak_tlsf_dealloc(&a, t, 600000, al));
    CHECK_OK(ak_tlsf_resize(&a, z, 1000, al, 0));
    w = walk(&a);
    CHECK(w.blocks == 5 && w.free == 3 && w.ptrs[3] == z && !w.used_flags[4]);
    check_inv(&a);
    /* Grow z into that free block. */
    CHECK_OK(ak_tlsf_resize(&a, z, 0, al, 500000));
    memset(z, 1, 500000);
    CHECK(ak_tlsf_used_bytes(&a) == usable_of(500000) + usable_of(100));
    check_inv(&a);
    /* Wrong old sizes and bad pointers. */
    CHECK_ERR(ak_tlsf_resize(&a, z, usable_of(500000) + 1, al, 20), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_resize(&a, (char *)z + 16, 10, al, 20), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_tlsf_dealloc(&a, z, 500000, al));
    CHECK_OK(ak_tlsf_dealloc(&a, x, 100, al));
    check_inv(&a);
    CHECK(walk(&a).blocks == 1);
    CHECK(ak_tlsf_used_bytes(&a) == 0);
    free(mem);
}

static void test_largest_fits_again(void)
{
    ak_tlsf a = {0};
    size_t size = 4 << 20;
    char *mem = region(size);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem, size));
    struct ak_byte_stats st;
    ak_tlsf_stats(&a, &st);
    size_t largest = st.largest_free;
    CHECK(largest == ak_tlsf_total_bytes(&a));
    void *p;
    CHECK_ERR(ak_tlsf_alloc(&a, largest + 1, 1, &p), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_tlsf_alloc(&a, largest, 1, &p));
    CHECK(ak_tlsf_available_bytes(&a) == 0);
    CHECK_OK(ak_tlsf_dealloc(&a, p, largest, 1));
    /* Churn, then free everything in random order. */
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed + 7);
    enum { N = 2000 };
    static void *ptrs[N];
    static size_t sz[N], al[N];
    for (int i = 0; i < N; i++) {
        sz[i] = (size_t)ak_rng_log_uniform(&rng, 1, 8192);
        al[i] = (size_t)1 << ak_rng_below(&rng, 10);
        if (ak_tlsf_alloc(&a, sz[i], al[i], &ptrs[i]) != AK_OK)
            ptrs[i] = NULL;
    }
    for (int i = N - 1; i > 0; i--) {
        int j = (int)ak_rng_below(&rng, (uint64_t)i + 1);
        void *tp = ptrs[i];
        ptrs[i] = ptrs[j];
        ptrs[j] = tp;
        size_t ts = sz[i];
        sz[i] = sz[j];
        sz[j] = ts;
        ts = al[i];
        al[i] = al[j];
        al[j] = ts;
    }
    for (int i = 0; i < N; i++)
        if (ptrs[i])
            CHECK_OK(ak_tlsf_dealloc(&a, ptrs[i], sz[i], al[i]));
    check_inv(&a);
    ak_tlsf_stats(&a, &st);
    CHECK(st.free_blocks == 1 && st.used_blocks == 0 && st.largest_free == largest);
    CHECK_OK(ak_tlsf_alloc(&a, largest, 1, &p));
    CHECK_OK(ak_tlsf_dealloc(&a, p, largest, 1));
    free(mem);
}

/* Regions of nearly one size share a size class; once everything is freed
 * the largest request that fitted after they were added fits again, in
 * whatever order the lists hold the regions' blocks (found by binary
 * search, as a user probing the pool would). */
static void test_largest_fits_again_regions(void)
{
    enum { NREG = 6, N = 3000 };
    const size_t base = 200000;
    char *m[NREG];
    ak_tlsf a = {0};
    for (int i = 0; i < NREG; i++) {
        size_t sz = base + (size_t)(i == 2 ? 700 : 100 * i); /* the largest is third */
        m[i] = region(sz);
        CHECK_OK(ak_tlsf_add_memory(&a, (uintptr_t)m[i], sz));
    }
    size_t lo = 0, hi = base + 1000;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        void *p;
        if (ak_tlsf_alloc(&a, mid, 1, &p) == AK_OK) {
            CHECK_OK(ak_tlsf_dealloc(&a, p, mid, 1));
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    const size_t largest = lo;
    CHECK(largest > base);
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed + 11);
    static void *ptrs[N];
    static size_t sz[N];
    for (int round = 0; round < 4; round++) {
        int n = 0;
        while (n < N) {
            sz[n] = (size_t)ak_rng_log_uniform(&rng, 1, 4096);
            if (ak_tlsf_alloc(&a, sz[n], 8, &ptrs[n]) != AK_OK)
                break;
            n++;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = (int)ak_rng_below(&rng, (uint64_t)i + 1);
            void *tp = ptrs[i];
            ptrs[i] = ptrs[j];
            ptrs[j] = tp;
            size_t ts = sz[i];
            sz[i] = sz[j];
            sz[j] = ts;
        }
        for (int i = 0; i < n; i++)
            CHECK_OK(ak_tlsf_dealloc(&a, ptrs[i], sz[i], 8));
        check_inv(&a);
        /* The largest fits again, and each region is one block. */
        void *p;
        CHECKF(ak_tlsf_alloc(&a, largest, 1, &p) == AK_OK, "round %d: %zu no longer fits", round,
               largest);
        CHECK_OK(ak_tlsf_dealloc(&a, p, largest, 1));
        CHECK(walk(&a).blocks == NREG);
    }
    for (int i = 0; i < NREG; i++)
        free(m[i]);
}

static void test_stats_and_handle(void)
{
    ak_tlsf a = {0};
    char *mem = region(1 << 18);
    ak_byte_allocator h = ak_tlsf_as_byte(&a);
    CHECK(strcmp(ak_byte_name(h), "tlsf") == 0);
    CHECK(h.self == &a);
    CHECK(h.ops->resize && h.ops->usable_size && h.ops->check && ak_byte_can_cache(h));
    CHECK_OK(ak_byte_init(h, (uintptr_t)mem, 1 << 18));
    void *p, *q;
    CHECK_OK(ak_byte_alloc(h, 3000, 128, &p));
    CHECK(((uintptr_t)p & 127) == 0);
    CHECK_OK(ak_byte_alloc(h, 500, 8, &q));
    const size_t used = usable_of(3000) + usable_of(500);
    CHECK(ak_byte_used_bytes(h) == used);
    CHECK(ak_byte_available_bytes(h) == ak_byte_total_bytes(h) - used);
    CHECK(ak_byte_usable_size(h, q, 500, 8) >= 500);
    CHECK(ak_byte_check(h) == NULL);
    CHECK_OK(ak_byte_resize(h, q, 500, 8, 400));
    struct ak_byte_stats st;
    ak_tlsf_stats(&a, &st);
    CHECK(st.used_bytes == usable_of(3000) + usable_of(400) && st.used_blocks == 2);
    CHECK(st.region_count == 1 && st.failed_allocs == 0);
    /* Every byte is in a block: used blocks, free blocks, their headers
     * but the first's, which total_bytes leaves out. */
    CHECK(st.free_bytes + st.used_bytes + (st.used_blocks + st.free_blocks - 1) * 8 ==
          st.total_bytes);
    CHECK(st.largest_free <= st.free_bytes && st.free_blocks >= 1);
    CHECK_ERR(ak_byte_alloc(h, 1 << 20, 8, &p), AK_ERR_NO_MEMORY);
    ak_tlsf_stats(&a, &st);
    CHECK(st.failed_allocs == 1);
    CHECK_ERR(ak_byte_dealloc(h, q, usable_of(400) + 1, 8), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_byte_dealloc(h, q, 400, 8));
    CHECK_ERR(ak_byte_dealloc(h, q, 400, 8), AK_ERR_NOT_ALLOCATED);
    char *m2 = region(1 << 16);
    CHECK_OK(ak_byte_add_memory(h, (uintptr_t)m2, 1 << 16));
    CHECK_ERR(ak_byte_add_memory(h, (uintptr_t)m2, 1 << 16), AK_ERR_MEMORY_OVERLAP);
    ak_tlsf_stats(&a, &st);
    CHECK(st.region_count == 2 && st.free_blocks >= 2);
    CHECK(ak_byte_check(h) == NULL);
    free(mem);
    free(m2);
}

/* Many small regions cut from one buffer with unmanaged gaps between them:
 * the region lookup (hint misses included), pointers into the gaps, and
 * churn across regions. */
static void test_many_regions(void)
{
    enum { NREG = 64, SLOT = 1 << 16, MAXP = 4096 };
    char *buf = region((size_t)NREG * SLOT);
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed + 3);
    ak_tlsf a;
    memset(&a, 0, sizeof a);
    size_t starts[NREG], sizes[NREG];
    for (int i = 0; i < NREG; i++) {
        starts[i] = (size_t)i * SLOT + (size_t)ak_rng_below(&rng, 4096);
        sizes[i] = (size_t)ak_rng_range(&rng, 1024, SLOT - 8192);
        CHECK_OK(ak_tlsf_add_memory(&a, (uintptr_t)buf + starts[i], sizes[i]));
    }
    check_inv(&a);
    /* Each gap is refused, as region and as pointer. */
    for (int i = 0; i < NREG; i++) {
        char *gap = buf + starts[i] + sizes[i];
        CHECK_ERR(ak_tlsf_dealloc(&a, gap + 16, 16, 1), AK_ERR_NOT_ALLOCATED);
        CHECK_ERR(ak_tlsf_add_memory(&a, (uintptr_t)gap - 1, 4096), AK_ERR_MEMORY_OVERLAP);
    }
    static void *p[MAXP];
    static size_t sz[MAXP];
    size_t n = 0;
    const uint64_t ops = ak_test_ops(200000, 20000) / 4 + 1;
    for (uint64_t op = 0; op < ops; op++) {
        if (n < MAXP && (n == 0 || ak_rng_below(&rng, 2) == 0)) {
            sz[n] = (size_t)ak_rng_log_uniform(&rng, 1, 8192);
            if (ak_tlsf_alloc(&a, sz[n], 16, &p[n]) != AK_OK)
                continue;
            int hits = 0;
            for (int i = 0; i < NREG; i++)
                if ((char *)p[n] >= buf + starts[i] &&
                    (char *)p[n] + sz[n] <= buf + starts[i] + sizes[i])
                    hits++;
            CHECK(hits == 1);
            memset(p[n], (int)(n & 0xff), sz[n]);
            n++;
        } else {
            size_t i = (size_t)ak_rng_below(&rng, n);
            CHECK(((unsigned char *)p[i])[0] == (i & 0xff) &&
                  ((unsigned char *)p[i])[sz[i] - 1] == (i & 0xff));
            CHECK_OK(ak_tlsf_dealloc(&a, p[i], sz[i], 16));
            n--;
            if (i != n) {
                p[i] = p[n];
                sz[i] = sz[n];
                memset(p[i], (int)(i & 0xff), sz[i]);
            }
        }
        if (op % 5000 == 0)
            check_inv(&a);
    }
    while (n > 0) {
        n--;
        CHECK_OK(ak_tlsf_dealloc(&a, p[n], sz[n], 16));
    }
    check_inv(&a);
    /* Every region is one free block again. */
    walk_log w = walk(&a);
    CHECK(w.blocks == NREG && w.free == NREG);
    free(buf);
}

#if defined(__linux__) && UINTPTR_MAX > 0xffffffffu
/* A pool of 2 TiB (reserved address space, only touched pages become
 * memory): blocks of 2^40 bytes and more, huge alignments, and the sizes
 * the first levels for them. */
static void test_huge_pool(void)
{
    const size_t size = (size_t)1 << 41;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) {
        printf("(skipped: no 2 TiB mapping) ");
        return;
    }
    ak_tlsf a = {0};
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)m, size));
    size_t total = ak_tlsf_total_bytes(&a);
    CHECK(total + AK_TLSF_REGION_OVERHEAD >= size && total < size);
    char *big, *mid, *small;
    const size_t tib = (size_t)1 << 40;
    CHECK_OK(ak_tlsf_alloc(&a, tib, 4096, (void **)&big));
    CHECK(((uintptr_t)big & 4095) == 0);
    big[0] = 1;
    big[tib - 1] = 2;
    CHECK_OK(ak_tlsf_alloc(&a, 100, 8, (void **)&small));
    CHECK_OK(ak_tlsf_alloc(&a, ((size_t)1 << 39) + 12345, (size_t)1 << 30, (void **)&mid));
    CHECK(((uintptr_t)mid & (((size_t)1 << 30) - 1)) == 0);
    mid[0] = 3;
    CHECK(ak_tlsf_used_bytes(&a) ==
          usable_of(tib) + usable_of(100) + usable_of(((size_t)1 << 39) + 12345));
    check_inv(&a);
    void *p;
    CHECK_ERR(ak_tlsf_alloc(&a, tib, 1, &p), AK_ERR_NO_MEMORY);
    /* Grow the 2^40 block in place as far as the free space after it. */
    CHECK_ERR(ak_tlsf_resize(&a, big, tib, 4096, tib * 2), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_tlsf_dealloc(&a, small, 100, 8));
    CHECK_OK(ak_tlsf_resize(&a, big, tib, 4096, tib + 4096));
    CHECK(big[0] == 1 && big[tib - 1] == 2);
    check_inv(&a);
    CHECK_OK(ak_tlsf_dealloc(&a, big, tib + 4096, 4096));
    CHECK_OK(ak_tlsf_dealloc(&a, mid, ((size_t)1 << 39) + 12345, (size_t)1 << 30));
    check_inv(&a);
    struct ak_byte_stats st;
    ak_tlsf_stats(&a, &st);
    CHECK(st.free_blocks == 1 && st.largest_free == total && st.used_bytes == 0);
    CHECK_OK(ak_tlsf_alloc(&a, total, 1, &p));
    CHECK_OK(ak_tlsf_dealloc(&a, p, total, 1));
    munmap(m, size);
}
#endif

/* ---- stale pointers after a re-init ---- */

/* A pointer from before an init is refused after it, even when the object
 * was zeroed in between (the salt still changes), round after round on
 * the same memory; so is a pointer from before an add_memory into a
 * zeroed object. */
static void test_reinit_zeroed(void)
{
    const size_t size = 1 << 16;
    char *m = region(size);
    ak_tlsf a;
    for (int round = 0; round < 300; round++) {
        memset(&a, 0, sizeof a);
        if (round & 1)
            CHECK_OK(ak_tlsf_init(&a, (uintptr_t)m, size));
        else
            CHECK_OK(ak_tlsf_add_memory(&a, (uintptr_t)m, size));
        void *w, *x, *z;
        CHECK_OK(ak_tlsf_alloc(&a, 5000, 16, &w));
        CHECK_OK(ak_tlsf_alloc(&a, 5000, 16, &x));
        CHECK_OK(ak_tlsf_alloc(&a, 5000, 16, &z));
        memset(&a, 0, sizeof a);
        CHECK_OK(ak_tlsf_init(&a, (uintptr_t)m, size));
        CHECK_ERR(ak_tlsf_dealloc(&a, x, 5000, 16), AK_ERR_NOT_ALLOCATED);
        CHECK_ERR(ak_tlsf_dealloc(&a, w, 5000, 16), AK_ERR_NOT_ALLOCATED);
        CHECK_ERR(ak_tlsf_resize(&a, z, 5000, 16, 100), AK_ERR_NOT_ALLOCATED);
        CHECK(ak_tlsf_usable_size(&a, z, 5000, 16) == 0);
        CHECK(ak_tlsf_used_bytes(&a) == 0);
        check_inv(&a);
        /* The pool fills with blocks that do not overlap. */
        void *p;
        size_t n = 0;
        while (ak_tlsf_alloc(&a, 5000, 16, &p) == AK_OK) {
            memset(p, (int)n, 5000);
            n++;
        }
        CHECK(n == size / 5024 - 1 || n == size / 5024);
        check_inv(&a);
    }
    free(m);
}

/* ---- the cache hooks ---- */

static void test_cache(void)
{
    ak_tlsf a;
    memset(&a, 0, sizeof a);
    const size_t size = 1 << 16;
    char *m = region(size);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)m, size));
    ak_byte_allocator h = ak_tlsf_as_byte(&a);
    CHECK(ak_byte_can_cache(h));
    void *p, *q, *r;
    CHECK_OK(ak_tlsf_alloc(&a, 100, 8, &p));
    CHECK_OK(ak_tlsf_alloc(&a, 200, 64, &q));
    CHECK_OK(ak_tlsf_alloc(&a, 0, 1, &r)); /* the smallest block holds the mark too */
    ak_pattern_fill(q, 200, 7);
    const size_t used = ak_tlsf_used_bytes(&a);
    struct ak_byte_stats before, after;
    ak_tlsf_stats(&a, &before);
    /* Cached blocks stay live: used_bytes, the walker and the checker see
     * them as before. */
    CHECK_OK(ak_byte_cache(h, p, 100, 8));
    CHECK_OK(ak_tlsf_cache(&a, r, 0, 1));
    CHECK(ak_tlsf_used_bytes(&a) == used);
    check_inv(&a);
    ak_tlsf_stats(&a, &after);
    CHECK(stats_equal(&before, &after));
    /* A second cache of a cached block is refused, whatever size it gives. */
    CHECK_ERR(ak_byte_cache(h, p, 100, 8), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_cache(&a, p, 1, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_cache(&a, r, 0, 1), AK_ERR_NOT_ALLOCATED);
    /* The checks of dealloc: interior and foreign pointers, a size above
     * the usable size, a bad align. A refused call writes nothing. */
    for (size_t off = 1; off < 200; off++)
        CHECK_ERR(ak_tlsf_cache(&a, (char *)q + off, 1, 1), AK_ERR_NOT_ALLOCATED);
    int local;
    CHECK_ERR(ak_tlsf_cache(&a, &local, sizeof local, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_cache(&a, NULL, 0, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_cache(&a, m + size + 64, 8, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_tlsf_cache(&a, q, usable_of(200) + 1, 64), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_tlsf_cache(&a, q, 200, 3), AK_ERR_INVALID_PARAM);
    size_t lacks = ((uintptr_t)q & -(uintptr_t)q) << 1; /* an alignment q does not have */
    CHECK_ERR(ak_tlsf_cache(&a, q, 200, lacks), AK_ERR_INVALID_PARAM);
    CHECK(ak_pattern_ok(q, 200, 7));
    CHECK(ak_tlsf_used_bytes(&a) == used);
    /* Uncached: live again; it can be cached again, and freed. */
    ak_byte_uncache(h, p, 100, 8);
    CHECK_OK(ak_tlsf_cache(&a, p, 100, 8));
    ak_tlsf_uncache(&a, p, 100, 8);
    CHECK_OK(ak_tlsf_dealloc(&a, p, 100, 8));
    CHECK_ERR(ak_tlsf_cache(&a, p, 100, 8), AK_ERR_NOT_ALLOCATED);
    ak_tlsf_uncache(&a, r, 0, 1);
    CHECK_OK(ak_tlsf_dealloc(&a, r, 0, 1));
    check_inv(&a);
    /* A cached block's mark belongs to its init: after a re-init, the
     * stale pointer is refused, and a new block at the same address, with
     * the old mark still in its first words, is not taken for cached. */
    CHECK_OK(ak_tlsf_cache(&a, q, 200, 64));
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)m, size));
    CHECK_ERR(ak_tlsf_cache(&a, q, 200, 64), AK_ERR_NOT_ALLOCATED);
    void *p2, *q2;
    CHECK_OK(ak_tlsf_alloc(&a, 100, 8, &p2));
    CHECK_OK(ak_tlsf_alloc(&a, 200, 64, &q2));
    CHECK(q2 == q);
    CHECK_OK(ak_tlsf_cache(&a, q2, 200, 64));
    ak_tlsf_uncache(&a, q2, 200, 64);
    CHECK_OK(ak_tlsf_dealloc(&a, q2, 200, 64));
    CHECK_OK(ak_tlsf_dealloc(&a, p2, 100, 8));
    check_inv(&a);
    CHECK(walk(&a).blocks == 1);
    free(m);
}

/* The checker must notice corruption (tests that it can fail). */
static void test_checker_detects(void)
{
    ak_tlsf a = {0};
    char *mem = region(1 << 16);
    CHECK_OK(ak_tlsf_init(&a, (uintptr_t)mem, 1 << 16));
    /* Blocks are cut from the end of the free block: allocated in the
     * order q, p, g, they lie as [free][g][p][q]. */
    void *p, *q, *g;
    CHECK_OK(ak_tlsf_alloc(&a, 100, 8, &q));
    CHECK_OK(ak_tlsf_alloc(&a, 100, 8, &p));
    CHECK_OK(ak_tlsf_alloc(&a, 100, 8, &g));
    check_inv(&a);
    uint64_t saved;
    memcpy(&saved, (char *)q - 8, 8);
    /* The header's layout (src/tlsf.c): the tag in bits 0..17, the size
     * from bit 20. */
    uint64_t bad = saved ^ 1; /* a tag bit */
    memcpy((char *)q - 8, &bad, 8);
    CHECK(ak_tlsf_check(&a) != NULL);
    CHECK_ERR(ak_tlsf_dealloc(&a, q, 100, 8), AK_ERR_NOT_ALLOCATED);
    bad = saved + ((uint64_t)AK_TLSF_ALIGN << 20); /* the size */
    memcpy((char *)q - 8, &bad, 8);
    CHECK(ak_tlsf_check(&a) != NULL);
    /* q's header is also p's successor's: a wrong tag bit there, or its
     * prev-free bit (bit 19) saying that p is free, and p is refused. */
    bad = saved ^ 2;
    memcpy((char *)q - 8, &bad, 8);
    CHECK_ERR(ak_tlsf_dealloc(&a, p, 100, 8), AK_ERR_NOT_ALLOCATED);
    bad = saved | ((uint64_t)1 << 19);
    memcpy((char *)q - 8, &bad, 8);
    CHECK(ak_tlsf_check(&a) != NULL);
    CHECK_ERR(ak_tlsf_dealloc(&a, p, 100, 8), AK_ERR_NOT_ALLOCATED);
    memcpy((char *)q - 8, &saved, 8);
    check_inv(&a);
    /* A corrupt prev-physical link (it lives in free memory) is not
     * followed: free p, then point q's link elsewhere. */
    CHECK_OK(ak_tlsf_dealloc(&a, p, 100, 8));
    uintptr_t link,
        bogus[] = {(uintptr_t)mem, (uintptr_t)q + 64, (uintptr_t)p + 16, (uintptr_t)p - 5, 12345};
    memcpy(&link, (char *)q - 8 - sizeof link, sizeof link);
    CHECK(link == (uintptr_t)p);
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        memcpy((char *)q - 8 - sizeof link, &bogus[i], sizeof link);
        CHECK(ak_tlsf_check(&a) != NULL);
        CHECK_ERR(ak_tlsf_dealloc(&a, q, 100, 8), AK_ERR_NOT_ALLOCATED);
    }
    memcpy((char *)q - 8 - sizeof link, &link, sizeof link);
    check_inv(&a);
    CHECK_OK(ak_tlsf_alloc(&a, 100, 8, &p));
    check_inv(&a);
    a.used_bytes_++;
    CHECK(ak_tlsf_check(&a) != NULL);
    a.used_bytes_--;
    a.sl_bitmap_[0] ^= 1;
    CHECK(ak_tlsf_check(&a) != NULL);
    a.sl_bitmap_[0] ^= 1;
    a.total_bytes_ += 16;
    CHECK(ak_tlsf_check(&a) != NULL);
    a.total_bytes_ -= 16;
    check_inv(&a);
    free(mem);
}

/* ---- model test ---- */

typedef struct live_block {
    char *p;
    size_t size, align;
    size_t usable; /* what used_bytes counts for it */
    uint64_t tag;
} live_block;

/* Sparse content: small blocks entirely, big ones at the edges and a few
 * words between (kept apart so no fill overwrites another). */
static char *content_word(const live_block *b, int k)
{
    return b->p + 64 + (b->size - 136) / 8 * (size_t)k;
}

static void content_fill(const live_block *b)
{
    if (b->size <= 256) {
        ak_pattern_fill(b->p, b->size, b->tag);
        return;
    }
    ak_pattern_fill(b->p, 64, b->tag);
    ak_pattern_fill(b->p + b->size - 64, 64, b->tag + 1);
    for (int k = 0; k < 8; k++)
        ak_pattern_fill(content_word(b, k), 8, b->tag + 1 + (uint64_t)k);
}

static bool content_ok(const live_block *b)
{
    if (b->size <= 256)
        return ak_pattern_ok(b->p, b->size, b->tag);
    if (!ak_pattern_ok(b->p, 64, b->tag) || !ak_pattern_ok(b->p + b->size - 64, 64, b->tag + 1))
        return false;
    for (int k = 0; k < 8; k++)
        if (!ak_pattern_ok(content_word(b, k), 8, b->tag + 1 + (uint64_t)k))
            return false;
    return true;
}

static int cmp_live(const void *x, const void *y)
{
    const live_block *a = (const live_block *)x, *b = (const live_block *)y;
    return a->p < b->p ? -1 : a->p > b->p;
}

/* The prefix of a block's content that survives a resize: pattern bytes
 * from index 0 (all of a small block, the first 64 of a big one). */
static bool prefix_ok(const char *p, size_t old_size, size_t new_size, uint64_t tag)
{
    size_t n = old_size < new_size ? old_size : new_size;
    if (old_size > 256 && n > 64)
        n = 64;
    return ak_pattern_ok(p, n, tag);
}

static void test_model(void)
{
    enum { NREG = 4, MAXLIVE = 1500 };
    const size_t reg_sizes[NREG] = {24u << 20, 8u << 20, 20u << 20 | 12345, 4u << 20};
    char *regs[NREG];
    ak_tlsf a = {0};
    for (int i = 0; i < NREG; i++) {
        regs[i] = region(reg_sizes[i]);
        if (i == 0)
            CHECK_OK(ak_tlsf_init(&a, (uintptr_t)regs[i] + 5, reg_sizes[i] - 5));
        else
            CHECK_OK(ak_tlsf_add_memory(&a, (uintptr_t)regs[i] + 5, reg_sizes[i] - 5));
    }
    check_inv(&a);
    struct ak_byte_stats st;
    ak_tlsf_stats(&a, &st);
    const size_t largest_at_start = st.largest_free;
    static live_block live[MAXLIVE], sorted[MAXLIVE];
    size_t nlive = 0, used = 0, peak = 0;
    ak_rng rng;
    ak_rng_seed(&rng, ak_t.seed);
    const uint64_t ops = ak_test_ops(1500000, 60000);
    const uint64_t check_every = ak_t.quick ? 2000 : 20000;
    uint64_t allocs = 0, frees = 0, resizes = 0, ooms = 0, tag = 0, bad = 0;
    for (uint64_t op = 0; op < ops; op++) {
        uint64_t r = ak_rng_below(&rng, 100);
        bool want_alloc = nlive < MAXLIVE / 2 ? r < 55 : r < 40;
        if (nlive == MAXLIVE)
            want_alloc = false;
        if (nlive > 0 && r == 99) {
            /* A bad free: an interior pointer of a live block, or a wrong
             * size. Must be refused with nothing changed. */
            live_block *b = &live[ak_rng_below(&rng, nlive)];
            if (b->size > 1) {
                size_t off = (size_t)ak_rng_range(&rng, 1, b->size - 1);
                CHECK_ERR(ak_tlsf_dealloc(&a, b->p + off, b->size - off, 1), AK_ERR_NOT_ALLOCATED);
            }
            CHECK_ERR(ak_tlsf_dealloc(&a, b->p, b->size + 4096, b->align), AK_ERR_INVALID_PARAM);
            CHECK_ERR(ak_tlsf_dealloc(&a, b->p, b->usable + 1, b->align), AK_ERR_INVALID_PARAM);
            bad++;
        } else if (nlive > 0 && r >= 90) {
            /* Resize in place: the common prefix survives. */
            size_t i = (size_t)ak_rng_below(&rng, nlive);
            live_block *b = &live[i];
            CHECK(content_ok(b));
            size_t ns =
                ak_rng_below(&rng, 4) == 0 ? 0 : (size_t)ak_rng_log_uniform(&rng, 1, 1 << 20);
            /* Any old size up to the usable size will do. */
            size_t os = (op & 3) ? b->size : (size_t)ak_rng_range(&rng, 0, b->usable);
            ak_error e = ak_tlsf_resize(&a, b->p, os, b->align, ns);
            CHECK(e == AK_OK || e == AK_ERR_NO_MEMORY);
            if (e == AK_OK) {
                CHECK(prefix_ok(b->p, b->size, ns, b->tag));
                size_t u = ak_tlsf_usable_size(&a, b->p, ns, b->align);
                CHECK(u >= ns && u - ns < 64);
                used = used - b->usable + u;
                b->usable = u;
                b->size = ns;
                b->tag = ++tag;
                content_fill(b);
                resizes++;
            } else {
                CHECK(content_ok(b));
            }
        } else if (want_alloc || nlive == 0) {
            live_block b;
            b.size = ak_rng_below(&rng, 16) == 0 ? 0 : (size_t)ak_rng_log_uniform(&rng, 1, 1 << 20);
            b.align = (size_t)1 << ak_rng_below(&rng, 13);
            void *p = NULL;
            ak_error e = ak_tlsf_alloc(&a, b.size, b.align, &p);
            if (e == AK_ERR_NO_MEMORY) {
                ooms++;
                continue;
            }
            CHECK_OK(e);
            b.p = (char *)p;
            CHECKF(((uintptr_t)p & (b.align - 1)) == 0, "%p not aligned to %zu", p, b.align);
            int hits = 0;
            for (int k = 0; k < NREG; k++)
                if (b.p >= regs[k] + 5 && b.p + b.size <= regs[k] + reg_sizes[k])
                    hits++;
            CHECKF(hits == 1, "block %p+%zu outside the regions", p, b.size);
            /* All of the usable size is the caller's: scribble over the
             * slack (a wrong usable size would hit a header). */
            size_t usable = ak_tlsf_usable_size(&a, p, b.size, b.align);
            CHECK(usable >= b.size && usable - b.size < 64);
            memset(b.p + b.size, 0xee, usable - b.size);
            b.usable = usable;
            b.tag = ++tag;
            content_fill(&b);
            live[nlive++] = b;
            used += usable;
            allocs++;
        } else {
            size_t i = (size_t)ak_rng_below(&rng, nlive);
            live_block b = live[i];
            CHECKF(content_ok(&b), "block %p+%zu corrupted", (void *)b.p, b.size);
            /* Any size up to the usable size will do. */
            size_t fs = (op & 3) ? b.size : (size_t)ak_rng_range(&rng, 0, b.usable);
            CHECK_OK(ak_tlsf_dealloc(&a, b.p, fs, b.align));
            used -= b.usable;
            live[i] = live[--nlive];
            frees++;
            /* Double free: always refused. */
            if ((op & 7) == 0)
                CHECK_ERR(ak_tlsf_dealloc(&a, b.p, b.size, b.align), AK_ERR_NOT_ALLOCATED);
        }
        CHECK(ak_tlsf_used_bytes(&a) == used);
        if (used > peak)
            peak = used;
        if ((op + 1) % check_every == 0) {
            check_inv(&a);
            memcpy(sorted, live, nlive * sizeof live[0]);
            qsort(sorted, nlive, sizeof sorted[0], cmp_live);
            for (size_t i = 1; i < nlive; i++)
                CHECKF(sorted[i - 1].p + (sorted[i - 1].size ? sorted[i - 1].size : 1) <=
                           sorted[i].p,
                       "blocks %p+%zu and %p overlap", (void *)sorted[i - 1].p, sorted[i - 1].size,
                       (void *)sorted[i].p);
            for (size_t i = 0; i < nlive; i++)
                CHECK(content_ok(&live[i]));
            /* The walk: every block once, the live ones at their usable
             * sizes, the stats what it shows. */
            static wc_block wl[MAXLIVE];
            static wc_walk ww;
            for (size_t i = 0; i < nlive; i++) {
                wl[i].start = (uintptr_t)live[i].p;
                wl[i].size = live[i].usable;
            }
            wc_reset(&ww);
            ak_tlsf_walk(&a, wc_collect, &ww);
            ak_tlsf_stats(&a, &st);
            const char *why = wc_check(&ww, &st, wl, nlive, WC_EXACT);
            CHECKF(why == NULL, "%s", why);
        }
    }
    check_inv(&a);
    ak_tlsf_stats(&a, &st);
    CHECK(st.used_blocks == nlive && st.used_bytes == used);
    CHECK(st.failed_allocs == ooms);
    while (nlive > 0) {
        CHECK(content_ok(&live[nlive - 1]));
        CHECK_OK(
            ak_tlsf_dealloc(&a, live[nlive - 1].p, live[nlive - 1].size, live[nlive - 1].align));
        nlive--;
    }
    check_inv(&a);
    /* Everything free: the largest allocation of the start fits again, and
     * each region is one free block. */
    ak_tlsf_stats(&a, &st);
    CHECK(st.used_bytes == 0 && st.used_blocks == 0);
    void *p;
    CHECK_OK(ak_tlsf_alloc(&a, largest_at_start, 1, &p));
    CHECK_OK(ak_tlsf_dealloc(&a, p, largest_at_start, 1));
    check_inv(&a);
    walk_log w = walk(&a);
    CHECK(w.blocks == NREG && w.free == NREG && w.payload_sum == ak_tlsf_total_bytes(&a));
    ak_tlsf_stats(&a, &st);
    CHECK(st.largest_free == largest_at_start && st.used_bytes == 0 && st.free_blocks == NREG);
    printf("[%llu ops: %llu allocs, %llu frees, %llu resizes, %llu bad frees, %llu out of "
           "memory, peak %zu KiB] ",
           (unsigned long long)ops, (unsigned long long)allocs, (unsigned long long)frees,
           (unsigned long long)resizes, (unsigned long long)bad, (unsigned long long)ooms,
           peak >> 10);
    CHECK(allocs > ops / 4 && frees > ops / 4 && resizes > 0 && bad > 0);
    for (int i = 0; i < NREG; i++)
        free(regs[i]);
}

int main(int argc, char **argv)
{
    /* --model selects the model test and is not a testlib option. */
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--model"))
            model_only = 1;
        else
            argv[n++] = argv[i];
    }
    ak_test_init(n, argv, model_only ? "test_tlsf_model" : "test_tlsf");
    if (model_only) {
        RUN(test_model);
#if defined(__linux__) && UINTPTR_MAX > 0xffffffffu
        /* Here, not with the unit tests: cheap natively, but emulators
         * (qemu-user) do work per page of a 2 TiB reservation. */
        RUN(test_huge_pool);
#endif
        return ak_test_finish();
    }
    RUN(test_zero_object);
    RUN(test_reinit_zeroed);
    RUN(test_cache);
    RUN(test_init_and_reinit);
    RUN(test_region_edges);
    RUN(test_basic);
    RUN(test_split_merge);
    RUN(test_alignment);
    RUN(test_aligned_tiling);
    RUN(test_multi_region);
    RUN(test_many_regions);
    RUN(test_bad_frees);
    RUN(test_zero_size);
    RUN(test_huge_requests);
    RUN(test_resize);
    RUN(test_largest_fits_again);
    RUN(test_largest_fits_again_regions);
    RUN(test_stats_and_handle);
    RUN(test_checker_detects);
    return ak_test_finish();
}
