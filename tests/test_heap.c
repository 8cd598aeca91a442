/* ak_heap: the malloc-family semantics one by one, over every byte
 * allocator of the build (and the test double), with the OS source and with
 * a fixed pool; bad input (double frees, pointers into the reservation's
 * unmapped holes, foreign reallocs), in forked children where a crash is
 * possible. Ends with the measured per-block overhead per allocator. */
#define _GNU_SOURCE 1
#include "ak_sizeclass.h"
#include "heap_backends.h"
#include "testlib.h"
#include <allockit/heap.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static const heap_backend *cur;
static ak_heap H;
static _Alignas(64) unsigned char pool_mem[4u << 20];

static bool heap_open;

/* A test that failed left its heap open (registered for fork, holding a
 * thread's magazine slot): close it before the next one. */
static void close_leftover(void)
{
    if (heap_open)
        ak_heap_destroy(&H);
    heap_open = false;
}

static void open_os(unsigned flags)
{
    close_leftover();
    ak_heap_config cfg = {.backend = cur->make(), .flags = flags};
    CHECK_OK(ak_heap_init(&H, &cfg));
    heap_open = true;
}

static void open_pool(size_t size, unsigned flags)
{
    close_leftover();
    ak_heap_config cfg = {
        .backend = cur->make(), .pool = pool_mem, .pool_size = size, .flags = flags};
    CHECK_OK(ak_heap_init(&H, &cfg));
    heap_open = true;
}

static void close_heap(void)
{
    CHECK_INVARIANTS(ak_heap_check(&H));
    heap_open = false;
    ak_heap_destroy(&H);
}

static bool aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* ---- malloc / free ---- */

static void test_malloc_basic(void)
{
    open_os(0);
    void *ps[64];
    for (size_t i = 0; i < 64; i++) {
        size_t n = i * 37 + (i & 1);
        ps[i] = ak_heap_malloc(&H, n);
        CHECK(ps[i] != NULL);
        CHECK(aligned(ps[i], AK_HEAP_HEADER));
        CHECK(ak_heap_owns(&H, ps[i]));
        CHECK(ak_heap_malloc_usable_size(&H, ps[i]) >= n);
        ak_pattern_fill(ps[i], n, i);
    }
    for (size_t i = 0; i < 64; i++)
        CHECK(ak_pattern_ok(ps[i], i * 37 + (i & 1), i));
    for (size_t i = 0; i < 64; i++)
        ak_heap_free(&H, ps[i]);
    ak_heap_free(&H, NULL); /* no-op */
    close_heap();
}

static void test_malloc_zero(void)
{
    open_os(0);
    void *a = ak_heap_malloc(&H, 0);
    void *b = ak_heap_malloc(&H, 0);
    CHECK(a && b && a != b);
    CHECK(ak_heap_owns(&H, a));
    ak_heap_free(&H, a);
    ak_heap_free(&H, b);
    close_heap();
}

static void test_malloc_enomem(void)
{
    open_os(0);
    errno = 0;
    CHECK(ak_heap_malloc(&H, SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(ak_heap_malloc(&H, SIZE_MAX - 8) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(ak_heap_malloc(&H, SIZE_MAX / 2) == NULL);
    CHECK(errno == ENOMEM);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    CHECK(s.failed == 3);
    close_heap();
}

/* A pool runs dry, answers ENOMEM, and recovers when a block is freed. */
static void test_pool_exhaustion(void)
{
    open_pool(256u << 10, AK_HEAP_NO_THREAD_CACHE);
    void *ps[4096];
    size_t n = 0;
    errno = 0;
    while (n < 4096 && (ps[n] = ak_heap_malloc(&H, 1000)) != NULL) {
        CHECK((unsigned char *)ps[n] >= pool_mem &&
              (unsigned char *)ps[n] < pool_mem + sizeof pool_mem);
        n++;
    }
    CHECK(n > 0 && n < 4096);
    CHECK(errno == ENOMEM);
    ak_heap_free(&H, ps[n / 2]);
    ps[n / 2] = ak_heap_malloc(&H, 1000);
    CHECK(ps[n / 2] != NULL);
    for (size_t i = 0; i < n; i++)
        ak_heap_free(&H, ps[i]);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    CHECK(s.backend_used == 0);
    CHECK(s.direct_blocks == 0);
    close_heap();
}

/* ---- calloc ---- */

static void test_calloc(void)
{
    open_os(0);
    /* Dirty some blocks, free them, then calloc must still give zeros. */
    for (size_t n = 1; n < 5000; n = n * 3 + 1) {
        unsigned char *p = ak_heap_malloc(&H, n);
        CHECK(p);
        memset(p, 0xa5, n);
        ak_heap_free(&H, p);
        unsigned char *q = ak_heap_calloc(&H, n, 1);
        CHECK(q);
        for (size_t i = 0; i < n; i++)
            CHECKF(q[i] == 0, "calloc(%zu) byte %zu is %u", n, i, q[i]);
        ak_heap_free(&H, q);
    }
    unsigned char *big = ak_heap_calloc(&H, 1u << 20, 3);
    CHECK(big && big[0] == 0 && big[(3u << 20) - 1] == 0);
    ak_heap_free(&H, big);
    errno = 0;
    CHECK(ak_heap_calloc(&H, SIZE_MAX / 2 + 1, 2) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(ak_heap_calloc(&H, 2, SIZE_MAX / 2 + 1) == NULL);
    CHECK(errno == ENOMEM);
    void *z = ak_heap_calloc(&H, 0, 17);
    CHECK(z != NULL);
    ak_heap_free(&H, z);
    close_heap();
}

/* ---- realloc ---- */

static void test_realloc(void)
{
    open_os(0);
    /* realloc(NULL, n) is malloc(n). */
    unsigned char *p = ak_heap_realloc(&H, NULL, 10);
    CHECK(p && ak_heap_owns(&H, p));
    ak_pattern_fill(p, 10, 7);
    /* Growing through every size range keeps the contents. */
    size_t n = 10;
    for (size_t want = 11; want < (4u << 20); want = want * 2 + 3) {
        p = ak_heap_realloc(&H, p, want);
        CHECK(p);
        CHECK(ak_pattern_ok(p, n, 7));
        ak_pattern_fill(p, want, 7);
        n = want;
    }
    /* Shrinking keeps the prefix. */
    for (size_t want = n / 3; want > 0; want /= 3) {
        p = ak_heap_realloc(&H, p, want);
        CHECK(p);
        CHECK(ak_pattern_ok(p, want, 7));
    }
    /* A request that cannot be met leaves the block alone. */
    errno = 0;
    CHECK(ak_heap_realloc(&H, p, SIZE_MAX - 4) == NULL);
    CHECK(errno == ENOMEM);
    CHECK(ak_pattern_ok(p, 1, 7));
    /* realloc(p, 0) frees p and returns NULL (documented). */
    CHECK(ak_heap_owns(&H, p));
    CHECK(ak_heap_realloc(&H, p, 0) == NULL);
    CHECK(!ak_heap_owns(&H, p));
    close_heap();
}

static void test_realloc_in_place(void)
{
    open_os(0);
    /* Within the block's usable size: the same pointer. */
    void *p = ak_heap_malloc(&H, 100);
    size_t us = ak_heap_malloc_usable_size(&H, p);
    CHECK(us >= 100);
    CHECK(ak_heap_realloc(&H, p, us) == p);
    CHECK(ak_heap_realloc(&H, p, 20) == p);
    ak_heap_free(&H, p);
    /* A large mapped block shrinking stays where it is. */
    unsigned char *q = ak_heap_malloc(&H, 8u << 20);
    CHECK(q);
    ak_pattern_fill(q, 4096, 3);
    unsigned char *r = ak_heap_realloc(&H, q, 6u << 20);
    CHECK(r == q);
    CHECK(ak_pattern_ok(r, 4096, 3));
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    CHECK(s.realloc_in_place >= 1);
    ak_heap_free(&H, r);
    close_heap();
}

static void test_reallocarray(void)
{
    open_os(0);
    int *a = ak_heap_reallocarray(&H, NULL, 10, sizeof(int));
    CHECK(a);
    for (int i = 0; i < 10; i++)
        a[i] = i;
    a = ak_heap_reallocarray(&H, a, 1000, sizeof(int));
    CHECK(a);
    for (int i = 0; i < 10; i++)
        CHECK(a[i] == i);
    errno = 0;
    CHECK(ak_heap_reallocarray(&H, a, SIZE_MAX / 2, 4) == NULL);
    CHECK(errno == ENOMEM);
    CHECK(a[9] == 9);
    ak_heap_free(&H, a);
    close_heap();
}

/* ---- aligned allocations ---- */

static void test_aligned_alloc(void)
{
    open_os(0);
    for (size_t a = 1; a <= (1u << 16); a <<= 1) {
        for (size_t n = 1; n < 3000; n = n * 5 + 3) {
            void *p = ak_heap_aligned_alloc(&H, a, n);
            CHECKF(p && aligned(p, a), "aligned_alloc(%zu, %zu)", a, n);
            CHECK(ak_heap_malloc_usable_size(&H, p) >= n);
            memset(p, 0x5a, n);
            ak_heap_free(&H, p);
        }
    }
    errno = 0;
    CHECK(ak_heap_aligned_alloc(&H, 3, 10) == NULL);
    CHECK(errno == EINVAL);
    errno = 0;
    CHECK(ak_heap_aligned_alloc(&H, 0, 10) == NULL);
    CHECK(errno == EINVAL);
    /* A large alignment on a large block (mapped directly). */
    void *p = ak_heap_aligned_alloc(&H, 1u << 21, 3u << 20);
    CHECK(p && aligned(p, 1u << 21));
    memset(p, 1, 3u << 20);
    ak_heap_free(&H, p);
    close_heap();
}

static void test_posix_memalign(void)
{
    open_os(0);
    void *keep = (void *)&keep;
    void *out = keep;
    CHECK(ak_heap_posix_memalign(&H, &out, 0, 8) == EINVAL);
    CHECK(ak_heap_posix_memalign(&H, &out, 3, 8) == EINVAL);
    CHECK(ak_heap_posix_memalign(&H, &out, sizeof(void *) / 2, 8) == EINVAL);
    CHECK(ak_heap_posix_memalign(&H, &out, 24, 8) == EINVAL);
    CHECK(out == keep);
    errno = 1234;
    CHECK(ak_heap_posix_memalign(&H, &out, 64, SIZE_MAX - 100) == ENOMEM);
    CHECK(out == keep);
    CHECK(errno == 1234);
    for (size_t a = sizeof(void *); a <= 8192; a <<= 1) {
        CHECK(ak_heap_posix_memalign(&H, &out, a, 100) == 0);
        CHECK(out != keep && aligned(out, a));
        memset(out, 0, 100);
        ak_heap_free(&H, out);
    }
    close_heap();
}

static void test_memalign_valloc_pvalloc(void)
{
    open_os(0);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = ak_heap_memalign(&H, 48, 10); /* not a power of two: 64 */
    CHECK(p && aligned(p, 64));
    ak_heap_free(&H, p);
    p = ak_heap_memalign(&H, 1, 10);
    CHECK(p && aligned(p, AK_HEAP_HEADER));
    ak_heap_free(&H, p);
    errno = 0;
    CHECK(ak_heap_memalign(&H, SIZE_MAX / 2 + 2, 10) == NULL);
    CHECK(errno == EINVAL);
    p = ak_heap_valloc(&H, 100);
    CHECK(p && aligned(p, page));
    ak_heap_free(&H, p);
    p = ak_heap_pvalloc(&H, 100);
    CHECK(p && aligned(p, page));
    CHECK(ak_heap_malloc_usable_size(&H, p) >= page);
    memset(p, 0, page);
    ak_heap_free(&H, p);
    p = ak_heap_pvalloc(&H, 0);
    CHECK(p && aligned(p, page));
    ak_heap_free(&H, p);
    errno = 0;
    CHECK(ak_heap_pvalloc(&H, SIZE_MAX - 10) == NULL);
    CHECK(errno == ENOMEM);
    close_heap();
}

/* ---- usable size and foreign pointers ---- */

static void test_usable_size(void)
{
    open_os(0);
    CHECK(ak_heap_malloc_usable_size(&H, NULL) == 0);
    int local;
    CHECK(ak_heap_malloc_usable_size(&H, &local) == 0);
    /* Every usable byte may be written without harming a neighbour. */
    unsigned char *blocks[40];
    size_t sizes[40];
    for (size_t i = 0; i < 40; i++) {
        size_t n = (i * 97) % 3000 + 1;
        blocks[i] = ak_heap_malloc(&H, n);
        CHECK(blocks[i]);
        sizes[i] = ak_heap_malloc_usable_size(&H, blocks[i]);
        CHECK(sizes[i] >= n);
        ak_pattern_fill(blocks[i], sizes[i], i);
    }
    for (size_t i = 0; i < 40; i++)
        CHECK(ak_pattern_ok(blocks[i], sizes[i], i));
    /* realloc keeps what was written in the usable tail too. */
    blocks[0] = ak_heap_realloc(&H, blocks[0], sizes[0] + 5000);
    CHECK(blocks[0] && ak_pattern_ok(blocks[0], sizes[0], 0));
    for (size_t i = 0; i < 40; i++)
        ak_heap_free(&H, blocks[i]);
    close_heap();
}

static void test_foreign_pointers(void)
{
    open_os(0);
    static char outside[100] = "not from the heap";
    ak_heap_free(&H, outside); /* ignored */
    CHECK(!ak_heap_owns(&H, outside));
    /* An interior pointer of a block fails the header check. */
    unsigned char *p = ak_heap_calloc(&H, 1, 256);
    CHECK(p);
    ak_heap_free(&H, p + 64);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    CHECK(s.foreign_frees == 1);
    CHECK(s.bad_frees == 1);
    /* realloc of a foreign pointer is refused and leaves it alone. */
    errno = 0;
    CHECK(ak_heap_realloc(&H, outside, 200) == NULL);
    CHECK(errno == EINVAL);
    CHECK(strcmp(outside, "not from the heap") == 0);
    errno = 0;
    CHECK(ak_heap_realloc(&H, p + 64, 200) == NULL);
    CHECK(errno == EINVAL);
    ak_heap_stats_get(&H, &s);
    CHECK(s.foreign_frees == 2);
    CHECK(s.bad_frees == 2);
    ak_heap_free(&H, p);
    close_heap();
}

/* ---- bad input: double frees, holes in the reservation, foreign realloc ---- */

/* Run fn in a forked child, so that a crash fails the test instead of
 * ending the program. fn returns 0 when its checks held, else the number
 * of the first that failed. */
static void in_child(const char *what, int (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(fn());
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the child %s %d", what,
           WIFSIGNALED(st) ? "was killed by signal" : "failed its check",
           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static int cmp_addr(const void *a, const void *b)
{
    const uintptr_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

/* Allocate n blocks of `size`, each filled with its own pattern: all must
 * be distinct and keep their contents (a block handed out twice fails
 * both). Frees them. */
static void check_distinct_blocks(size_t size, size_t n)
{
    static void *ps[512];
    static uintptr_t sorted[512];
    CHECK(n <= 512);
    for (size_t i = 0; i < n; i++) {
        ps[i] = ak_heap_malloc(&H, size);
        CHECK(ps[i]);
        ak_pattern_fill(ps[i], size, i);
    }
    for (size_t i = 0; i < n; i++)
        CHECKF(ak_pattern_ok(ps[i], size, i), "block %zu of %zu B was overwritten", i, size);
    for (size_t i = 0; i < n; i++)
        sorted[i] = (uintptr_t)ps[i];
    qsort(sorted, n, sizeof sorted[0], cmp_addr);
    for (size_t i = 1; i < n; i++)
        CHECKF(sorted[i] != sorted[i - 1], "%#lx handed out twice", (unsigned long)sorted[i]);
    for (size_t i = 0; i < n; i++)
        ak_heap_free(&H, ps[i]);
}

/* A freed block stays free whatever is done with it again: the second
 * free is counted and ignored, usable size says 0, realloc refuses. */
static void check_freed_block(void *p, size_t size)
{
    CHECK(ak_heap_malloc_usable_size(&H, p) == 0);
    CHECK(!ak_heap_owns(&H, p));
    errno = 0;
    CHECK(ak_heap_realloc(&H, p, size * 2) == NULL);
    CHECK(errno == EINVAL);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    CHECK(s.foreign_frees == 0);
    /* The mark sits in the header, and in the first user bytes while a
     * magazine holds the block: there it is always seen; once back in the
     * allocator the block may have been overwritten by the allocator's own
     * links, and then the pointer is merely a bad one. Either way it was
     * refused. */
    CHECK(s.double_frees + s.bad_frees == 2);
}

static void double_free_case(unsigned flags, size_t size, bool flush)
{
    open_os(flags);
    void *p = ak_heap_malloc(&H, size);
    CHECK(p);
    ak_heap_free(&H, p);
    if (flush)
        ak_heap_flush_thread_cache(&H);
    ak_heap_free(&H, p);
    check_distinct_blocks(size, 300);
    check_freed_block(p, size);
    if (!flush && !(flags & AK_HEAP_NO_THREAD_CACHE) && size <= AK_HEAP_SMALL_MAX) {
        /* It was in a magazine: its free mark was certainly intact. */
        ak_heap_stats s;
        ak_heap_stats_get(&H, &s);
        CHECKF(s.double_frees >= 1, "double_frees %llu", (unsigned long long)s.double_frees);
    }
    close_heap();
}

static void *free_in_thread(void *p)
{
    ak_heap_free(&H, p); /* into this thread's magazines, flushed at its exit */
    return NULL;
}

static void test_double_free(void)
{
    static const size_t sizes[] = {40, 1000, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double_free_case(0, sizes[i], false);
        double_free_case(0, sizes[i], true);
        double_free_case(AK_HEAP_NO_THREAD_CACHE, sizes[i], false);
    }
    /* Freed here, freed again in another thread (whose magazines go back
     * to the allocator when it exits): still one block, handed out once. */
    open_os(0);
    void *p = ak_heap_malloc(&H, 40);
    ak_heap_free(&H, p);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_in_thread, p) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    check_distinct_blocks(40, 300);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    CHECK(s.double_frees == 1);
    close_heap();
}

/* The PROT_NONE parts of the reservation below the end of the committed
 * chunks (the heap aligns each chunk to its size and leaves the rest
 * unmapped): found in /proc/self/maps, clipped to [H.lo, H.brk). */
typedef struct hole {
    uintptr_t lo, hi;
} hole;
static hole holes[64];
static size_t hole_count;

static void find_holes(void)
{
    hole_count = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f);
    char line[512];
    while (fgets(line, sizeof line, f) && hole_count < 64) {
        unsigned long a, b;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3 || strcmp(perms, "---p") != 0)
            continue;
        uintptr_t lo = a > H.lo ? a : H.lo, hi = b < H.brk ? b : H.brk;
        if (lo < hi)
            holes[hole_count++] = (hole){lo, hi};
    }
    fclose(f);
}

/* Pointers whose header would lie in a hole: at its start, inside it, at
 * its end, and the first byte after it (the start of a chunk, its header
 * in the hole's last 16 bytes). */
static int probe_holes(void)
{
    ak_heap_stats before, after;
    ak_heap_stats_get(&H, &before);
    unsigned calls = 0;
    for (size_t i = 0; i < hole_count; i++) {
        uintptr_t probes[4] = {holes[i].lo + 16, holes[i].lo + 4096 + 64, holes[i].hi - 16,
                               holes[i].hi};
        for (int k = 0; k < 4; k++) {
            void *q = (void *)probes[k];
            if (probes[k] > holes[i].hi || (k == 3 && holes[i].hi >= H.brk))
                continue;
            if (ak_heap_malloc_usable_size(&H, q) != 0)
                return 1;
            if (ak_heap_owns(&H, q))
                return 2;
            ak_heap_free(&H, q);
            errno = 0;
            if (ak_heap_realloc(&H, q, 100) != NULL || errno != EINVAL)
                return 3;
            calls += 2;
        }
    }
    ak_heap_stats_get(&H, &after);
    if (after.foreign_frees - before.foreign_frees != calls || after.bad_frees != before.bad_frees)
        return 4;
    return ak_heap_check(&H) ? 5 : 0;
}

static void test_reservation_holes(void)
{
    open_os(0);
    /* 64 KiB blocks (below the mmap threshold) until a second chunk is
     * committed: chunk 1 MiB, then 2 MiB aligned to 2 MiB, so a hole
     * between them. */
    static void *ps[256];
    size_t n = 0;
    ak_heap_stats s;
    do {
        CHECK(n < 256);
        ps[n] = ak_heap_malloc(&H, 64u << 10);
        CHECK(ps[n]);
        ak_pattern_fill(ps[n], 64, n);
        n++;
        ak_heap_stats_get(&H, &s);
    } while (s.committed < (3u << 20));
    find_holes();
    CHECKF(hole_count > 0, "no PROT_NONE hole in [%#lx, %#lx)", (unsigned long)H.lo,
           (unsigned long)H.brk);
    in_child("pointers into reservation holes", probe_holes);
    for (size_t i = 0; i < n; i++) {
        CHECK(ak_pattern_ok(ps[i], 64, i));
        ak_heap_free(&H, ps[i]);
    }
    close_heap();
}

/* Two pages, the second PROT_NONE; and a page unmapped again. */
static unsigned char *guarded;
static void *unmapped;

static int realloc_foreign_child(void)
{
    static const char text[] = "foreign bytes";
    void *edge = guarded + 4096 - 32; /* 32 readable bytes, then PROT_NONE */
    memcpy(edge, text, sizeof text);
    ak_heap_stats before, after;
    ak_heap_stats_get(&H, &before);
    errno = 0;
    if (ak_heap_realloc(&H, edge, 8192) != NULL || errno != EINVAL)
        return 1;
    if (memcmp(edge, text, sizeof text) != 0)
        return 2;
    errno = 0;
    if (ak_heap_realloc(&H, unmapped, 100) != NULL || errno != EINVAL)
        return 3;
    errno = 0;
    if (ak_heap_realloc(&H, guarded + 4096, 100) != NULL || errno != EINVAL)
        return 4;
    ak_heap_stats_get(&H, &after);
    if (after.foreign_frees != before.foreign_frees + 3)
        return 5;
    if (after.backend_used != before.backend_used || after.failed != before.failed)
        return 6; /* nothing was allocated for the refused calls */
    return 0;
}

static void test_realloc_foreign(void)
{
    open_os(0);
    guarded = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(guarded != MAP_FAILED);
    CHECK(mprotect(guarded + 4096, 4096, PROT_NONE) == 0);
    unmapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(unmapped != MAP_FAILED);
    CHECK(munmap(unmapped, 4096) == 0);
    in_child("realloc of foreign pointers", realloc_foreign_child);
    CHECK(munmap(guarded, 8192) == 0);
    close_heap();
}

/* realloc that moves a block keeps every byte malloc_usable_size allowed
 * the program to write, up to the new size: for class blocks, allocator
 * blocks (plain and over-aligned) and directly mapped blocks. Returns the
 * number of bytes lost and says which case lost them. */
static size_t realloc_loses(const char *what, void *p, size_t grow_to, uint64_t tag)
{
    static unsigned char want[1u << 19];
    CHECK(p);
    size_t us = ak_heap_malloc_usable_size(&H, p);
    CHECK(us > 0 && us <= sizeof want);
    ak_pattern_fill(p, us, tag);
    void *neighbour = ak_heap_malloc(&H, us); /* makes growing in place less likely */
    unsigned char *q = ak_heap_realloc(&H, p, grow_to);
    CHECK(q);
    CHECK(ak_heap_malloc_usable_size(&H, q) >= grow_to);
    size_t keep = us < grow_to ? us : grow_to, lost = 0;
    ak_pattern_fill(want, keep, tag);
    for (size_t i = 0; i < keep; i++)
        lost += q[i] != want[i];
    if (lost)
        printf("\n    %s, usable %zu, realloc to %zu: %zu of %zu bytes lost", what, us, grow_to,
               lost, keep);
    ak_heap_free(&H, q);
    ak_heap_free(&H, neighbour);
    return lost;
}

static void test_realloc_keeps_usable(void)
{
    /* A fixed threshold: every realloc to 1 MiB moves the block into a
     * mapping of its own. */
    open_os(AK_HEAP_FIXED_THRESHOLD);
    static const size_t sizes[] = {100, 1000, 1030, 3000, 5000};
    static const size_t targets[] = {100000, 1u << 20};
    char what[64];
    uint64_t tag = 1;
    size_t lost = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t j = 0; j < 2; j++) {
            snprintf(what, sizeof what, "malloc(%zu)", sizes[i]);
            lost += realloc_loses(what, ak_heap_malloc(&H, sizes[i]), targets[j], tag++);
            snprintf(what, sizeof what, "aligned_alloc(64, %zu)", sizes[i]);
            lost += realloc_loses(what, ak_heap_aligned_alloc(&H, 64, sizes[i]), targets[j], tag++);
            snprintf(what, sizeof what, "memalign(256, %zu)", sizes[i]);
            lost += realloc_loses(what, ak_heap_memalign(&H, 256, sizes[i]), targets[j], tag++);
        }
    close_heap();
    /* A mapped block moved back into the allocator: the threshold rises
     * above it when a bigger mapped block is freed. */
    open_os(0);
    void *p = ak_heap_malloc(&H, 300000);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    CHECK(s.direct_blocks == 1);
    ak_heap_free(&H, ak_heap_malloc(&H, 16u << 20));
    lost += realloc_loses("mapped malloc(300000)", p, 400000, tag++);
    CHECKF(lost == 0, "%zu bytes lost in all", lost);
    close_heap();
}

/* ---- memory sources ---- */

static void test_direct_blocks(void)
{
    open_os(0);
    ak_heap_stats s;
    unsigned char *p = ak_heap_malloc(&H, 1u << 20);
    CHECK(p && ak_heap_owns(&H, p));
    ak_heap_stats_get(&H, &s);
    CHECK(s.direct_blocks == 1 && s.direct_bytes >= (1u << 20));
    ak_pattern_fill(p, 64, 9);
    p = ak_heap_realloc(&H, p, 16u << 20);
    CHECK(p && ak_pattern_ok(p, 64, 9));
    p[(16u << 20) - 1] = 1;
    ak_heap_free(&H, p);
    ak_heap_stats_get(&H, &s);
    CHECK(s.direct_blocks == 0 && s.direct_bytes == 0);
    /* The threshold rose to the freed block's size: the next one of the
     * same size comes from the allocator's chunks. */
    CHECK(s.mmap_threshold > (16u << 20));
    p = ak_heap_malloc(&H, 1u << 20);
    CHECK(p && ak_heap_owns(&H, p));
    ak_heap_stats_get(&H, &s);
    CHECK(s.direct_blocks == 0);
    ak_heap_free(&H, p);
    close_heap();
}

static void test_fixed_threshold(void)
{
    ak_heap_config cfg = {
        .backend = cur->make(), .mmap_threshold = 64u << 10, .flags = AK_HEAP_FIXED_THRESHOLD};
    close_leftover();
    CHECK_OK(ak_heap_init(&H, &cfg));
    heap_open = true;
    for (int i = 0; i < 3; i++) {
        void *p = ak_heap_malloc(&H, 100u << 10);
        ak_heap_stats s;
        ak_heap_stats_get(&H, &s);
        CHECK(s.direct_blocks == 1);
        ak_heap_free(&H, p);
    }
    close_heap();
}

/* The OS source commits chunks as needed: many blocks well beyond the
 * first chunk all fit and keep their contents. */
static void test_os_growth(void)
{
    open_os(0);
    enum { N = 3000 };
    static void *ps[N];
    for (size_t i = 0; i < N; i++) {
        ps[i] = ak_heap_malloc(&H, 4000 + i);
        CHECK(ps[i]);
        ak_pattern_fill(ps[i], 64, i);
    }
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    CHECK(s.committed >= (size_t)N * 4000);
    for (size_t i = 0; i < N; i++) {
        CHECK(ak_pattern_ok(ps[i], 64, i));
        ak_heap_free(&H, ps[i]);
    }
    close_heap();
}

static void test_bad_config(void)
{
    close_leftover();
    ak_heap_config cfg = {.backend = {0, 0}};
    CHECK_ERR(ak_heap_init(&H, &cfg), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_heap_init(&H, NULL), AK_ERR_INVALID_PARAM);
    ak_heap_config c2 = {.backend = cur->make(), .chunk_size = 12345};
    CHECK_ERR(ak_heap_init(&H, &c2), AK_ERR_INVALID_PARAM);
    ak_heap_config c3 = {.backend = cur->make(), .pool = pool_mem, .pool_size = 8};
    CHECK(ak_heap_init(&H, &c3) != AK_OK);
}

/* ---- thread cache: the magazines ---- */

/* The magazines' own behaviour: small requests go to them, not to pages. */
static void test_thread_cache(void)
{
    open_os(AK_HEAP_NO_PAGES);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    if (!s.caching) {
        /* An allocator without cache hooks: every block under the lock. */
        CHECK(!ak_byte_can_cache(H.backend));
        void *p = ak_heap_malloc(&H, 24);
        ak_heap_free(&H, p);
        ak_heap_stats_get(&H, &s);
        CHECK(s.thread_caches == 0 && s.cache_allocs == 0 && s.cache_frees == 0);
        CHECK(s.slow_allocs == 1 && s.slow_frees == 1 && s.backend_used == 0);
        printf("(no cache hooks: no magazines) ");
        close_heap();
        return;
    }
    /* AK_HEAP_SMALL_MAX rounded up to its class (the allocator decides
     * how: header and class shift). */
    CHECK(s.cache_max >= AK_HEAP_SMALL_MAX && s.cache_max < AK_HEAP_SMALL_MAX * 5 / 4);
    void *ps[200];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 200; i++)
            ps[i] = ak_heap_malloc(&H, 24);
        for (int i = 0; i < 200; i++)
            ak_heap_free(&H, ps[i]);
    }
    CHECK_INVARIANTS(ak_heap_check(&H));
    ak_heap_stats_get(&H, &s);
    CHECK(s.thread_caches == 1);
    /* The first round's allocations miss once per 33 (a miss brings half
     * a magazine of 64, 32 more blocks), later ones hit; every free is
     * kept (the bound is far away). */
    CHECK(s.cache_allocs + s.cache_misses == 600 && s.cache_frees == 600);
    CHECK(s.cache_misses == (200 + 32) / 33 && s.cache_free_misses == 0);
    /* 16 + 24 bytes: the 48-byte class (40 bytes asked with the shift);
     * the 200 blocks and what the last miss brought beyond them. */
    CHECK(s.cached_bytes == s.cache_misses * 33 * (48 - H.class_shift));
    CHECK(s.depot_bytes > 0 && s.magazine_bytes > 0);
    /* Exchanges with the depot come a magazine at a time, not per call. */
    CHECK(s.exchanges > 0 && s.exchanges * 16 < 1200);
    CHECK(s.slow_allocs == 0 && s.slow_frees == 0);
    /* A big block passes by the magazines; a class block of the largest
     * class is cached, one above it is not. */
    void *big = ak_heap_malloc(&H, s.cache_max + 1);
    void *top = ak_heap_malloc(&H, s.cache_max);
    CHECK(big && top && ak_heap_malloc_usable_size(&H, top) == s.cache_max);
    ak_heap_free(&H, big);
    ak_heap_free(&H, top);
    ak_heap_stats_get(&H, &s);
    CHECK(s.slow_allocs == 1 && s.slow_frees == 1 && s.cache_frees == 601);
    ak_heap_flush_thread_cache(&H);
    ak_heap_stats_get(&H, &s);
    CHECK(s.cached_bytes == 0 && s.magazine_bytes == 0 && s.flushes == 1 && s.trims == 1);
    CHECK(s.backend_used <= 2048); /* only this thread's record, rounded up */
    CHECK_INVARIANTS(ak_heap_check(&H));
    close_heap();
}

/* The bound: with a small cache_limit, frees beyond it go on to the
 * allocator, and the layer never holds more. */
static void test_cache_limit(void)
{
    close_leftover();
    ak_heap_config cfg = {
        .backend = cur->make(), .cache_limit = 8192, .cache_max = 100, .flags = AK_HEAP_NO_PAGES};
    CHECK_OK(ak_heap_init(&H, &cfg));
    heap_open = true;
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    if (!s.caching) {
        printf("(no cache hooks: no magazines) ");
        close_heap();
        return;
    }
    CHECK(s.cache_limit == 8192 && s.cache_max == 112 - H.class_shift); /* 128-byte class */
    static void *ps[1000];
    for (int i = 0; i < 1000; i++)
        ps[i] = ak_heap_malloc(&H, 100);
    for (int i = 0; i < 1000; i++)
        ak_heap_free(&H, ps[i]);
    ak_heap_stats_get(&H, &s);
    CHECK(s.cached_bytes + s.magazine_bytes <= 8192);
    CHECK(s.cache_free_misses > 0 && s.cache_frees + s.cache_free_misses == 1000);
    CHECK(ak_heap_malloc_usable_size(&H, ps[0]) == 0); /* freed, whichever way */
    void *p = ak_heap_malloc(&H, s.cache_max + 1);     /* above cache_max's class */
    ak_heap_stats_get(&H, &s);
    CHECK(s.slow_allocs == 1);
    ak_heap_free(&H, p);
    CHECK_INVARIANTS(ak_heap_check(&H));
    close_heap();
}

static void test_no_thread_cache(void)
{
    open_pool(1u << 20, AK_HEAP_NO_THREAD_CACHE);
    void *p = ak_heap_malloc(&H, 24);
    ak_heap_free(&H, p);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    CHECK(s.thread_caches == 0 && s.cache_allocs == 0);
    CHECK(s.slow_allocs == 1 && s.slow_frees == 1);
    CHECK(s.backend_used == 0);
    close_heap();
}

/* The depot's idle magazines go back as the heap keeps working: after a
 * burst of frees, enough operations that take the lock (here big blocks,
 * which pass by the magazines) empty the depot of what nothing used. */
static void test_depot_reap(void)
{
    open_os(AK_HEAP_NO_PAGES);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    if (!s.caching) {
        printf("(no cache hooks: no magazines) ");
        close_heap();
        return;
    }
    static void *ps[2000];
    for (int i = 0; i < 2000; i++)
        ps[i] = ak_heap_malloc(&H, 200);
    for (int i = 0; i < 2000; i++)
        ak_heap_free(&H, ps[i]);
    ak_heap_stats_get(&H, &s);
    CHECK(s.depot_bytes > 0 && s.reaped == 0);
    size_t used = s.backend_used;
    for (int i = 0; i < 3000; i++)
        ak_heap_free(&H, ak_heap_malloc(&H, 100000));
    ak_heap_stats_get(&H, &s);
    CHECK(s.depot_bytes == 0 && s.reaped > 0);
    CHECK(s.backend_used < used);
    CHECK_INVARIANTS(ak_heap_check(&H));
    close_heap();
}

/* ---- per-block overhead ---- */

/* Fill a 4 MiB pool with n-byte blocks (with the magazines, whose class
 * rounding then counts, or without), verify that none overlaps another
 * (pattern check of all), and report pool / count - n. */
static void overhead_for(size_t n, unsigned flags, double *per_block)
{
    open_pool(sizeof pool_mem, flags);
    static void *ps[1 << 18];
    size_t count = 0;
    while (count < (1u << 18) && (ps[count] = ak_heap_malloc(&H, n)) != NULL) {
        ak_pattern_fill(ps[count], n, count);
        count++;
    }
    CHECK(count > 0 && count < (1u << 18));
    for (size_t i = 0; i < count; i++)
        CHECK(ak_pattern_ok(ps[i], n, i));
    for (size_t i = 0; i < count; i++)
        ak_heap_free(&H, ps[i]);
    close_heap();
    *per_block = (double)sizeof pool_mem / (double)count - (double)n;
}

static double overhead_table[2][8][4];

static void test_overhead(void)
{
    static const size_t sizes[4] = {8, 64, 100, 1000};
    size_t bi = (size_t)(cur - heap_backends);
    for (int i = 0; i < 4; i++) {
        overhead_for(sizes[i], 0, &overhead_table[0][bi][i]);
        overhead_for(sizes[i], AK_HEAP_NO_THREAD_CACHE, &overhead_table[1][bi][i]);
    }
}

/* ---- driver ---- */

typedef struct named_test {
    const char *name;
    void (*fn)(void);
} named_test;

#define T(f)                                                                                       \
    {                                                                                              \
#f, f                                                                                      \
    }
/* ---- pages: small blocks without a header ---- */

/* A heap over the OS source with this thread set up: the first call
 * of a thread sets it up (a header block, returned in *first); after
 * that, pages, over allocators whose cache mark the heap writes inline.
 * False (the heap closed again) over an allocator without pages. */
static bool open_paged(void **first)
{
    open_os(0);
    ak_heap_stats s;
    *first = ak_heap_malloc(&H, 8);
    ak_heap_stats_get(&H, &s);
    if (!s.paging) {
        printf("(no pages over %s) ", cur->name);
        ak_heap_free(&H, *first);
        close_heap();
        return false;
    }
    return true;
}

/* Spans are cut from 1 MiB groups, one kind a group: one block of each
 * of the 36 page classes takes 20 spans of 64 KiB (two groups) and 16 of
 * 256 KiB (four), not a block of the allocator each. The groups are the
 * heap's own, committed past the allocator's chunks: freed and flushed,
 * they stay committed and idle (the allocator's use back where it was),
 * and the next round takes them again without committing more. */
static void test_span_groups(void)
{
    ak_heap_stats s;
    void *first;
    if (!open_paged(&first))
        return;
    ak_heap_flush_thread_cache(&H);
    ak_heap_stats_get(&H, &s);
    size_t used0 = s.backend_used, committed = 0;
    enum { C = AK_HEAP_PAGE_CLASSES };
    unsigned char *p[C];
    for (unsigned round = 0; round < 2; round++) {
        uintptr_t mib[2][C];
        size_t nmib[2] = {0, 0};
        for (unsigned c = 0; c < C; c++) {
            size_t n = ak_sc_size(c);
            p[c] = ak_heap_malloc(&H, n);
            CHECK(p[c] && ak_heap_malloc_usable_size(&H, p[c]) == n);
            ak_pattern_fill(p[c], n, c);
            unsigned k = n > 1024;
            uintptr_t m = (uintptr_t)p[c] >> 20;
            bool seen = false;
            for (size_t i = 0; i < nmib[k] && !seen; i++)
                seen = mib[k][i] == m;
            if (!seen)
                mib[k][nmib[k]++] = m;
        }
        ak_heap_stats_get(&H, &s);
        printf("[%zu spans in %zu + %zu MiB] ", s.pages, nmib[0], nmib[1]);
        CHECK(s.pages == 20 + 16 * 4);
        CHECK(nmib[0] == 2 && nmib[1] == 4);
        CHECKF(s.page_groups == 6 && s.page_groups_idle == 0, "%zu groups, %zu idle", s.page_groups,
               s.page_groups_idle);
        CHECKF(s.backend_used == used0, "%zu bytes of the allocator's in use, %zu before",
               s.backend_used, used0);
        if (round == 0)
            committed = s.committed;
        CHECKF(s.committed == committed, "round %u: %zu bytes committed, %zu in round 0", round,
               s.committed, committed);
        CHECK_INVARIANTS(ak_heap_check(&H));
        for (unsigned c = 0; c < C; c++) {
            CHECK(ak_pattern_ok(p[c], ak_heap_malloc_usable_size(&H, p[c]), c));
            ak_heap_free(&H, p[c]);
        }
        ak_heap_flush_thread_cache(&H);
        ak_heap_stats_get(&H, &s);
        CHECK(s.pages == 0);
        CHECKF(s.page_groups == 0 && s.page_groups_idle == 6, "%zu groups, %zu idle", s.page_groups,
               s.page_groups_idle);
        CHECKF(s.backend_used == used0, "%zu bytes in use, %zu before", s.backend_used, used0);
        CHECK_INVARIANTS(ak_heap_check(&H));
    }
    ak_heap_free(&H, first);
    close_heap();
}

/* Blocks of len bytes into p[] until the heap is full: one is mapped
 * directly (freed again; small requests too, once there is neither a page
 * nor room for a class block); how many. */
static size_t fill_heap(unsigned char **p, size_t max, size_t len)
{
    ak_heap_stats s;
    for (size_t i = 0; i < max; i++) {
        p[i] = ak_heap_malloc(&H, len);
        ak_heap_stats_get(&H, &s);
        CHECKF(p[i], "block %zu of %zu bytes refused with %zu committed", i, len, s.committed);
        if (s.direct_blocks) {
            ak_heap_free(&H, p[i]);
            return i;
        }
        ak_pattern_fill(p[i], len, (unsigned)i);
    }
    return max;
}

/* A small reservation filled: one page block first (its group the heap's
 * own, at the reservation's top), then blocks of the allocator (above the
 * page classes) until the heap is full, then, those freed, page blocks:
 * the rest of the heap's group, then groups taken from the allocator's
 * free memory (the chunks reach the groups' floor). Every block is intact,
 * the checker passes at the full point, and once all are freed the
 * allocator's groups have gone back to it and the heap's idle ones stay:
 * a second round gets as many blocks of each kind again. */
static void test_span_groups_full(void)
{
    close_leftover();
    ak_heap_config cfg = {.backend = cur->make(), .reserve = (size_t)16 << 20};
    CHECK_OK(ak_heap_init(&H, &cfg));
    heap_open = true;
    ak_heap_stats s;
    void *first = ak_heap_malloc(&H, 8);
    ak_heap_stats_get(&H, &s);
    if (!s.paging) {
        printf("(no pages over %s) ", cur->name);
        ak_heap_free(&H, first);
        close_heap();
        return;
    }
    enum { N = 2048, BIG = 32768, SMALL = AK_HEAP_PAGE_MAX };
    void *keep = ak_heap_malloc(&H, SMALL);
    ak_heap_stats_get(&H, &s);
    CHECKF(keep && s.page_groups == 1 && s.page_group_bytes == (size_t)1 << 20,
           "%zu groups, %zu bytes the heap's", s.page_groups, s.page_group_bytes);
    static unsigned char *p[N];
    size_t nbig[2], nsmall[2];
    for (unsigned round = 0; round < 2; round++) {
        size_t i = fill_heap(p, N, BIG);
        nbig[round] = i;
        CHECK(i > 0 && i < N);
        CHECK_INVARIANTS(ak_heap_check(&H));
        for (size_t j = 0; j < i; j++) {
            CHECK(ak_pattern_ok(p[j], BIG, (unsigned)j));
            ak_heap_free(&H, p[j]);
        }
        i = fill_heap(p, N, SMALL);
        nsmall[round] = i;
        CHECK(i > 0 && i < N);
        ak_heap_stats_get(&H, &s);
        size_t own = s.page_group_bytes >> 20;
        size_t theirs = s.page_groups + s.page_groups_idle - own;
        printf("[round %u: %zu + %zu blocks; %zu groups, %zu of them the allocator's] ", round,
               nbig[round], i, s.page_groups, theirs);
        CHECKF(theirs > 0 && theirs < s.page_groups && s.page_groups_idle == 0,
               "%zu groups, %zu idle, %zu bytes the heap's", s.page_groups, s.page_groups_idle,
               s.page_group_bytes);
        CHECK_INVARIANTS(ak_heap_check(&H));
        for (size_t j = 0; j < i; j++) {
            CHECK(ak_pattern_ok(p[j], SMALL, (unsigned)j));
            ak_heap_free(&H, p[j]);
        }
        ak_heap_flush_thread_cache(&H);
        ak_heap_stats_get(&H, &s);
        CHECKF(s.page_groups == 1 && s.page_groups_idle == own - 1,
               "%zu groups, %zu idle after freeing (%zu the heap's)", s.page_groups,
               s.page_groups_idle, own);
        CHECK_INVARIANTS(ak_heap_check(&H));
    }
    CHECKF(nbig[1] == nbig[0] && nsmall[1] == nsmall[0],
           "the second round got %zu + %zu blocks, the first %zu + %zu", nbig[1], nsmall[1],
           nbig[0], nsmall[0]);
    ak_heap_free(&H, keep);
    ak_heap_free(&H, first);
    close_heap();
}

/* Small blocks come from pages: 16-aligned, usable size their class's,
 * contents kept; a double free, an interior pointer, pointers into a
 * page's head and a realloc of a freed block are refused and counted;
 * freed blocks come back once each; zero-size blocks aligned to 4 KiB,
 * allocated among the pages, free cleanly (a user pointer is inside its
 * own block, never where a page may start). */
static void test_pages(void)
{
    ak_heap_stats s;
    void *first;
    if (!open_paged(&first))
        return;
    enum { N = 3000 };
    static unsigned char *p[N];
    static size_t n[N];
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    for (unsigned i = 0; i < N; i++) {
        n[i] = (size_t)ak_rng_below(&r, AK_HEAP_PAGE_MAX + 1);
        p[i] = ak_heap_malloc(&H, n[i]);
        CHECK(p[i] && aligned(p[i], 16));
        size_t us = ak_heap_malloc_usable_size(&H, p[i]);
        CHECK(us >= n[i] && us <= AK_HEAP_PAGE_MAX);
        ak_pattern_fill(p[i], n[i], i);
    }
    ak_heap_stats_get(&H, &s);
    CHECK(s.pages >= 1);
    CHECK_INVARIANTS(ak_heap_check(&H));
    /* Every other one freed, checked, the rest still intact. */
    for (unsigned i = 0; i < N; i += 2) {
        CHECK(ak_pattern_ok(p[i], n[i], i));
        ak_heap_free(&H, p[i]);
        CHECK(!ak_heap_owns(&H, p[i]) && ak_heap_malloc_usable_size(&H, p[i]) == 0);
    }
    CHECK_INVARIANTS(ak_heap_check(&H));
    ak_heap_stats_get(&H, &s);
    uint64_t dbl = s.double_frees, bad = s.bad_frees;
    ak_heap_free(&H, p[0]);     /* double free */
    ak_heap_free(&H, p[1] + 1); /* not a block start */
    /* Inside the page's own head, before its first block (pages are
     * 64 KiB spans aligned to 64 KiB, see heap.h). */
    uintptr_t head = (uintptr_t)p[1] & ~(uintptr_t)0xffff;
    ak_heap_free(&H, (void *)(head + 16));
    ak_heap_free(&H, (void *)(head + 64));
    errno = 0;
    CHECK(ak_heap_realloc(&H, p[2], 10) == NULL && errno == EINVAL); /* freed */
    ak_heap_stats_get(&H, &s);
    CHECK(s.double_frees == dbl + 2 && s.bad_frees == bad + 3);
    CHECK(ak_pattern_ok(p[1], n[1], 1));
    /* The freed blocks come back, each once. */
    for (unsigned i = 0; i < N; i += 2) {
        p[i] = ak_heap_malloc(&H, n[i]);
        CHECK(p[i]);
        ak_pattern_fill(p[i], n[i], i);
    }
    for (unsigned i = 0; i < N; i++)
        for (unsigned j = i + 1; j < N; j++)
            CHECK(p[i] != p[j]);
    /* realloc inside the class keeps the block, past it moves it. */
    size_t us = ak_heap_malloc_usable_size(&H, p[1]);
    CHECK(ak_heap_realloc(&H, p[1], us) == p[1]);
    unsigned char *q = ak_heap_realloc(&H, p[1], 5000);
    CHECK(q && ak_pattern_ok(q, n[1] < us ? n[1] : us, 1));
    p[1] = q;
    n[1] = n[1] < us ? n[1] : us;
    /* Zero-size blocks aligned to 4 KiB among the pages. */
    static void *z[64];
    for (unsigned i = 0; i < 64; i++) {
        z[i] = ak_heap_aligned_alloc(&H, 4096, 0);
        CHECK(z[i] && aligned(z[i], 4096));
    }
    for (unsigned i = 0; i < N; i++) {
        CHECK(ak_pattern_ok(p[i], n[i], i));
        ak_heap_free(&H, p[i]);
    }
    for (unsigned i = 0; i < 64; i++)
        ak_heap_free(&H, z[i]);
    ak_heap_free(&H, first);
    ak_heap_stats_get(&H, &s);
    CHECK(s.double_frees == dbl + 2 && s.bad_frees == bad + 3);
    CHECK_INVARIANTS(ak_heap_check(&H));
    /* Flushing gives the empty pages back. */
    ak_heap_flush_thread_cache(&H);
    ak_heap_stats_get(&H, &s);
    CHECK(s.pages == 0);
    close_heap();
}

/* Empty pages' spans are kept for the next pages (a thread's spares and
 * the heap's pool, at least 16 spans; past the pool's bound, back to the
 * allocator): a second wave of as many pages holds as many spans, at
 * least 16 of them the first wave's, and uses no more of the allocator;
 * the checker accounts for the pool. */
static void test_page_pool(void)
{
    ak_heap_stats s;
    void *first;
    if (!open_paged(&first))
        return;
    enum { N = 40000 }; /* 64-byte blocks: about 40 pages */
    static unsigned char *p[N];
    size_t pages[2], peak[2], nspan = 0, again = 0;
    static uintptr_t span[N / 64];
    for (unsigned wave = 0; wave < 2; wave++) {
        for (unsigned i = 0; i < N; i++) {
            p[i] = ak_heap_malloc(&H, 64);
            CHECK(p[i]);
            ak_pattern_fill(p[i], 64, i + wave);
            uintptr_t base = (uintptr_t)p[i] & ~(uintptr_t)0xffff; /* its 64 KiB span */
            if (i && base == ((uintptr_t)p[i - 1] & ~(uintptr_t)0xffff))
                continue;
            bool seen = false;
            for (size_t k = 0; k < nspan && !seen; k++)
                seen = span[k] == base;
            if (wave == 0 && !seen && nspan < N / 64)
                span[nspan++] = base;
            again += wave == 1 && seen;
        }
        ak_heap_stats_get(&H, &s);
        pages[wave] = s.pages;
        peak[wave] = s.peak_backend_used;
        CHECK_INVARIANTS(ak_heap_check(&H));
        for (unsigned i = N; i-- > 0;) {
            CHECK(ak_pattern_ok(p[i], 64, i + wave));
            ak_heap_free(&H, p[i]);
        }
        CHECK_INVARIANTS(ak_heap_check(&H));
    }
    printf("[%zu then %zu spans, %zu again] ", pages[0], pages[1], again);
    CHECK(pages[0] >= N * 64 / 65536 && pages[1] == pages[0] && peak[1] == peak[0]);
    CHECK(again >= 16);
    ak_heap_free(&H, first);
    ak_heap_flush_thread_cache(&H);
    ak_heap_stats_get(&H, &s);
    CHECK(s.pages == 0);
    CHECK_INVARIANTS(ak_heap_check(&H));
    close_heap();
}

/* A full page that gets room joins the end of its class's list of pages
 * with room: blocks freed in two full pages come back in the order the
 * pages got room, after the current page is used up. */
static void test_page_order(void)
{
    void *first;
    if (!open_paged(&first))
        return;
    enum { N = 800, SIZE = 256 }; /* four pages of 256-byte blocks */
    static unsigned char *p[N + 300];
    for (unsigned i = 0; i < N; i++) {
        p[i] = ak_heap_malloc(&H, SIZE);
        CHECK(p[i]);
        ak_pattern_fill(p[i], SIZE, i);
    }
    uintptr_t span_a = (uintptr_t)p[10] & ~(uintptr_t)0xffff;
    uintptr_t span_b = (uintptr_t)p[300] & ~(uintptr_t)0xffff;
    uintptr_t span_cur = (uintptr_t)p[N - 1] & ~(uintptr_t)0xffff;
    CHECK(span_a != span_b && span_a != span_cur && span_b != span_cur);
    unsigned char *a = p[10], *b = p[300];
    ak_heap_free(&H, a);
    ak_heap_free(&H, b);
    CHECK_INVARIANTS(ak_heap_check(&H));
    unsigned got_a = 0, got_b = 0;
    for (unsigned i = N; i < N + 300 && !got_b; i++) {
        p[i] = ak_heap_malloc(&H, SIZE);
        CHECK(p[i]);
        if (p[i] == a && !got_a)
            got_a = i;
        if (p[i] == b)
            got_b = i;
    }
    printf("[a back at %u, b at %u] ", got_a, got_b);
    CHECK(got_a && got_b && got_a < got_b);
    for (unsigned i = 0; i < N + 300; i++) {
        if (i == 10 || i == 300 || !p[i] || (i >= N && i > got_b))
            continue;
        if (i < N)
            CHECK(ak_pattern_ok(p[i], SIZE, i));
        ak_heap_free(&H, p[i]);
    }
    ak_heap_free(&H, first);
    CHECK_INVARIANTS(ak_heap_check(&H));
    close_heap();
}

/* When the cursor's word runs out, a seek takes the lowest word with at
 * least 16 free blocks before it goes on round robin: a page's blocks
 * stay in the part already reached (fewer resident pages), and a low
 * word with a free block or two is passed over. Blocks of 64 bytes: 16
 * to a 1 KiB map word of a fresh page. */
static void test_page_low(void)
{
    void *first;
    if (!open_paged(&first))
        return;
    enum { W = 64, N = 4 * W, SIZE = 64 };
    static unsigned char *p[N], *q[N];
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (unsigned i = 0; i < N; i++) {
        p[i] = ak_heap_malloc(&H, SIZE);
        CHECK(p[i]);
        lo = (uintptr_t)p[i] < lo ? (uintptr_t)p[i] : lo;
        hi = (uintptr_t)p[i] > hi ? (uintptr_t)p[i] : hi;
    }
    CHECK(hi - lo == (N - 1) * SIZE); /* words 0-3 of one fresh page */
    /* All freed in address order: the cursor ends in word 3. */
    for (unsigned i = 0; i < N; i++)
        ak_heap_free(&H, p[i]);
    CHECK_INVARIANTS(ak_heap_check(&H));
    unsigned above = 0;
    for (unsigned i = 0; i < N; i++) {
        q[i] = ak_heap_malloc(&H, SIZE);
        CHECK(q[i]);
        above += (uintptr_t)q[i] > hi || (uintptr_t)q[i] < lo;
    }
    printf("[%u of %u blocks past the first round's] ", above, (unsigned)N);
    CHECK(above == 0);
    CHECK_INVARIANTS(ak_heap_check(&H));
    /* One block of word 0 and all of word 2 freed (the cursor ends in
     * word 2). Once word 2 is taken again, the next block is not word 0's
     * lone free one but the first of word 4, the lowest with 16 free. */
    unsigned char *lone = NULL;
    unsigned lone_i = N;
    for (unsigned i = 0; i < N; i++) {
        uintptr_t w = ((uintptr_t)q[i] - lo) / SIZE / W;
        if ((w == 0 && !lone) || w == 2) {
            if (w == 0) {
                lone = q[i];
                lone_i = i;
            }
            ak_heap_free(&H, q[i]);
            q[i] = NULL;
        }
    }
    for (unsigned i = 0; i < N; i++)
        if (!q[i] && i != lone_i) {
            q[i] = ak_heap_malloc(&H, SIZE);
            CHECK(q[i] && q[i] != lone);
        }
    q[lone_i] = ak_heap_malloc(&H, SIZE);
    CHECK(q[lone_i] && q[lone_i] != lone);
    CHECKF((uintptr_t)q[lone_i] == hi + SIZE,
           "the next block is %td bytes from the first round's last",
           (ptrdiff_t)((uintptr_t)q[lone_i] - hi));
    CHECK_INVARIANTS(ak_heap_check(&H));
    for (unsigned i = 0; i < N; i++)
        ak_heap_free(&H, q[i]);
    ak_heap_free(&H, first);
    CHECK_INVARIANTS(ak_heap_check(&H));
    close_heap();
}

/* Every 16-aligned pointer inside a page block, past its start, is
 * refused as a bad free and changes nothing, for every size up to
 * AK_HEAP_PAGE_MAX (the page's index and block-start test). */
static void test_page_interior(void)
{
    void *first;
    if (!open_paged(&first))
        return;
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    uint64_t bad = s.bad_frees, dbl = s.double_frees, tried = 0;
    for (size_t n = 16; n <= AK_HEAP_PAGE_MAX; n += 16) {
        unsigned char *p = ak_heap_malloc(&H, n);
        CHECK(p);
        size_t us = ak_heap_malloc_usable_size(&H, p);
        ak_pattern_fill(p, us, (uint32_t)n);
        for (size_t off = 16; off < us; off += 16, tried++)
            ak_heap_free(&H, p + off);
        ak_heap_free(&H, p + 8);
        tried++;
        CHECK(ak_pattern_ok(p, us, (uint32_t)n));
        CHECK(ak_heap_malloc_usable_size(&H, p) == us);
        ak_heap_free(&H, p);
    }
    ak_heap_stats_get(&H, &s);
    printf("[%llu refused] ", (unsigned long long)tried);
    CHECK(s.bad_frees == bad + tried && s.double_frees == dbl);
    ak_heap_free(&H, first);
    CHECK_INVARIANTS(ak_heap_check(&H));
    close_heap();
}

static const named_test tests[] = {
    T(test_malloc_basic),
    T(test_malloc_zero),
    T(test_malloc_enomem),
    T(test_pool_exhaustion),
    T(test_calloc),
    T(test_realloc),
    T(test_realloc_in_place),
    T(test_reallocarray),
    T(test_aligned_alloc),
    T(test_posix_memalign),
    T(test_memalign_valloc_pvalloc),
    T(test_usable_size),
    T(test_foreign_pointers),
    T(test_double_free),
    T(test_reservation_holes),
    T(test_realloc_foreign),
    T(test_realloc_keeps_usable),
    T(test_direct_blocks),
    T(test_fixed_threshold),
    T(test_os_growth),
    T(test_bad_config),
    T(test_thread_cache),
    T(test_cache_limit),
    T(test_depot_reap),
    T(test_no_thread_cache),
    T(test_pages),
    T(test_page_pool),
    T(test_page_order),
    T(test_page_low),
    T(test_page_interior),
    T(test_span_groups),
    T(test_span_groups_full),
    T(test_overhead),
};

int main(int argc, char **argv)
{
    ak_test_init(argc, argv, "test_heap");
    static char names[HEAP_BACKEND_COUNT][sizeof tests / sizeof tests[0]][80];
    for (size_t b = 0; b < HEAP_BACKEND_COUNT; b++) {
        cur = &heap_backends[b];
        for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
            snprintf(names[b][i], sizeof names[b][i], "%s[%s]", tests[i].name, cur->name);
            ak_test_run(names[b][i], tests[i].fn);
        }
    }
    for (int t = 0; t < 2; t++) {
        printf("per-block overhead, bytes (4 MiB pool filled with n-byte mallocs, %s):\n",
               t ? "no magazines" : "magazines");
        printf("  %-8s %8s %8s %8s %8s\n", "backend", "n=8", "n=64", "n=100", "n=1000");
        for (size_t b = 0; b < HEAP_BACKEND_COUNT; b++)
            printf("  %-8s %8.1f %8.1f %8.1f %8.1f\n", heap_backends[b].name,
                   overhead_table[t][b][0], overhead_table[t][b][1], overhead_table[t][b][2],
                   overhead_table[t][b][3]);
    }
    return ak_test_finish();
}
