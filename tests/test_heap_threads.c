/* ak_heap under threads and fork, over every allocator of the build.
 *
 * churn: 8 threads x --ops (default 1M, --quick 20k) random malloc, free,
 * realloc, aligned_alloc and calloc on one heap; blocks also pass between
 * threads through a shared mailbox, so a block is often freed by a thread
 * that did not allocate it. Every live block carries a pattern derived
 * from its tag, verified on free and realloc (sparsely for big blocks),
 * plus alignment and ownership. When all threads have exited, everything
 * must be back in the allocator: no cache left, used bytes 0.
 *
 * fork: while 4 threads churn, the main thread forks repeatedly; each
 * child allocates and frees on the same heap (the locks were held across
 * fork, the other threads' caches are reclaimed) and exits cleanly. */
#define _GNU_SOURCE 1
#include "heap_backends.h"
#include "testlib.h"
#include <allockit/heap.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 8
#define SLOTS   512
#define MAILBOX 256

static const heap_backend *cur;
static ak_heap H;
static bool heap_open;

/* A test that failed may have left H open (registered for fork): close it
 * before the next one initialises H again. */
static ak_error open_heap(const ak_heap_config *cfg)
{
    if (heap_open)
        ak_heap_destroy(&H);
    ak_error e = ak_heap_init(&H, cfg);
    heap_open = e == AK_OK;
    return e;
}

static void close_heap(void)
{
    heap_open = false;
    ak_heap_destroy(&H);
}
static uint64_t ops_per_thread;
static uint64_t churn_allocs; /* allocations and reallocs asked for, all threads */

typedef struct live {
    unsigned char *p;
    size_t size;
    uint64_t tag;
} live;

static pthread_mutex_t mail_lock = PTHREAD_MUTEX_INITIALIZER;
static live mailbox[MAILBOX];
static unsigned mail_count;

static int failures;
static char first_failure[256];

static void fail_at(const char *what, size_t size, uint64_t tag)
{
    if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) == 0)
        snprintf(first_failure, sizeof first_failure, "%s (size %zu, tag %llu)", what, size,
                 (unsigned long long)tag);
}

/* Pattern on the whole block when small, else the first and last 64
 * bytes and a word every 4 KiB. */
static void fill(live *l)
{
    if (l->size <= 256) {
        ak_pattern_fill(l->p, l->size, l->tag);
        return;
    }
    ak_pattern_fill(l->p, 64, l->tag);
    ak_pattern_fill(l->p + l->size - 64, 64, l->tag + 1);
    for (size_t o = 4096; o + 8 <= l->size - 64; o += 4096)
        memcpy(l->p + o, &l->tag, 8);
}

/* l->size is the size the pattern was written for; only the first n bytes
 * are still expected to hold it (after a shrinking realloc). */
static bool verify(const live *l, size_t n)
{
    if (n > l->size)
        n = l->size;
    if (l->size <= 256)
        return ak_pattern_ok(l->p, n, l->tag);
    if (!ak_pattern_ok(l->p, n < 64 ? n : 64, l->tag))
        return false;
    if (n == l->size && !ak_pattern_ok(l->p + l->size - 64, 64, l->tag + 1))
        return false;
    for (size_t o = 4096; o + 8 <= l->size - 64 && o + 8 <= n; o += 4096)
        if (memcmp(l->p + o, &l->tag, 8) != 0)
            return false;
    return true;
}

static size_t random_size(ak_rng *r)
{
    uint64_t k = ak_rng_below(r, 1000);
    if (k < 700)
        return (size_t)ak_rng_below(r, 257);
    if (k < 950)
        return (size_t)ak_rng_range(r, 257, 4096);
    if (k < 999)
        return (size_t)ak_rng_range(r, 4097, 65536);
    return (size_t)ak_rng_range(r, 65537, 1u << 20);
}

static void check_new(const live *l, size_t align)
{
    if (!l->p) {
        fail_at("allocation failed", l->size, l->tag);
        return;
    }
    if ((uintptr_t)l->p & (align - 1))
        fail_at("misaligned block", l->size, l->tag);
    if (ak_heap_malloc_usable_size(&H, l->p) < l->size)
        fail_at("usable size below the request", l->size, l->tag);
}

static void release(live *l)
{
    if (!verify(l, l->size))
        fail_at("contents changed before free", l->size, l->tag);
    ak_heap_free(&H, l->p);
    l->p = NULL;
}

static void *churn_thread(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed * 1000 + id);
    live slots[SLOTS];
    memset(slots, 0, sizeof slots);
    uint64_t tag = (uint64_t)id << 40, allocs = 0;
    for (uint64_t op = 0; op < ops_per_thread && !failures; op++) {
        live *l = &slots[ak_rng_below(&r, SLOTS)];
        uint64_t k = ak_rng_below(&r, 100);
        if (!l->p || k < 95)
            allocs += k < 50 && l->p ? 0 : 1; /* not a free */
        if (!l->p) {
            l->size = random_size(&r);
            l->tag = ++tag;
            size_t align = 16;
            if (k < 5) {
                align = (size_t)1 << ak_rng_range(&r, 5, 12);
                l->p = ak_heap_aligned_alloc(&H, align, l->size);
            } else if (k < 10) {
                l->p = ak_heap_calloc(&H, 1, l->size);
                for (size_t i = 0; l->p && i < l->size && i < 512; i++)
                    if (l->p[i])
                        fail_at("calloc gave a non-zero byte", l->size, l->tag);
            } else {
                l->p = ak_heap_malloc(&H, l->size);
            }
            check_new(l, align);
            if (l->p)
                fill(l);
        } else if (k < 50) {
            release(l);
        } else if (k < 95) {
            size_t n = random_size(&r);
            unsigned char *q = ak_heap_realloc(&H, l->p, n);
            if (n == 0) {
                l->p = NULL; /* realloc(p, 0) freed it */
                continue;
            }
            if (!q) {
                fail_at(errno == EINVAL ? "realloc refused a live block (EINVAL)"
                                        : "realloc failed",
                        n, l->tag);
                continue;
            }
            live moved = {q, l->size, l->tag};
            if (!verify(&moved, n))
                fail_at("realloc lost the contents", n, l->tag);
            l->p = q;
            l->size = n;
            l->tag = ++tag;
            check_new(l, 16);
            fill(l);
        } else {
            /* Hand the block to whoever comes next, or take one. */
            pthread_mutex_lock(&mail_lock);
            if (mail_count < MAILBOX && (k & 1)) {
                mailbox[mail_count++] = *l;
                l->p = NULL;
            } else if (mail_count > 0) {
                live got = mailbox[--mail_count];
                pthread_mutex_unlock(&mail_lock);
                release(l);
                *l = got;
                continue;
            }
            pthread_mutex_unlock(&mail_lock);
        }
    }
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].p)
            release(&slots[i]);
    pthread_mutex_lock(&mail_lock);
    while (mail_count)
        release(&mailbox[--mail_count]);
    pthread_mutex_unlock(&mail_lock);
    __atomic_add_fetch(&churn_allocs, allocs, __ATOMIC_RELAXED);
    return NULL;
}

static void test_churn(void)
{
    ak_heap_config cfg = {.backend = cur->make()};
    CHECK_OK(open_heap(&cfg));
    failures = 0;
    churn_allocs = 0;
    ops_per_thread = ak_test_ops(1000000, 20000);
    if (cur == &heap_backends[0] && HEAP_BACKEND_COUNT > 1)
        ops_per_thread /= 4; /* the double only checks the heap; save time for the real ones */
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, churn_thread, (void *)(uintptr_t)i) == 0);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECKF(failures == 0, "%d failures, first: %s", failures, first_failure);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    printf("[%llu ops/thread, %llu allocations: %llu from magazines, %llu misses, %llu exchanges, "
           "%llu slow, %llu lock takes, peak %zu KiB] ",
           (unsigned long long)ops_per_thread, (unsigned long long)churn_allocs,
           (unsigned long long)s.cache_allocs, (unsigned long long)s.cache_misses,
           (unsigned long long)s.exchanges, (unsigned long long)s.slow_allocs,
           (unsigned long long)s.lock_takes, s.peak_backend_used >> 10);
    CHECK(s.thread_caches == 0);
    CHECK(s.cached_bytes == 0 && s.magazine_bytes == 0); /* the last exit trimmed the depot */
    CHECK(s.direct_blocks == 0);
    CHECKF(s.backend_used == 0, "%zu bytes still in use (pages %zu, orphans %zu, bad frees %llu)",
           s.backend_used, s.pages, s.page_orphans, (unsigned long long)s.bad_frees);
    /* The lock-free paths did the work: the pages (which count nothing)
     * or else the magazines. Blocks above 16 KiB and aligned ones (about
     * one allocation in seven here) take the lock. */
    if (s.paging)
        CHECKF((s.slow_allocs + s.cache_misses + s.direct_allocs) * 3 < churn_allocs,
               "%llu of %llu allocations under the lock",
               (unsigned long long)(s.slow_allocs + s.cache_misses + s.direct_allocs),
               (unsigned long long)churn_allocs);
    else
        CHECK(!s.caching || s.cache_allocs > s.slow_allocs);
    CHECK(s.bad_frees == 0 && s.foreign_frees == 0);
    CHECK_INVARIANTS(ak_heap_check(&H));
    close_heap();
}

/* ---- two threads churning small objects ---- */

static uint64_t small_ops;

static void *small_churn_thread(void *arg)
{
    ak_rng r;
    ak_rng_seed(&r, (uint64_t)(uintptr_t)arg);
    void *held[256] = {0};
    for (uint64_t i = 0; i < small_ops; i++) {
        unsigned k = (unsigned)ak_rng_below(&r, 256);
        ak_heap_free(&H, held[k]);
        held[k] = ak_heap_malloc(&H, (size_t)ak_rng_range(&r, 1, 256));
        if (!held[k])
            fail_at("small allocation failed", 0, i);
    }
    for (unsigned k = 0; k < 256; k++)
        ak_heap_free(&H, held[k]);
    return NULL;
}

static double run_small_churn(unsigned flags, uint64_t *lock_takes, bool *caching)
{
    ak_heap_config cfg = {.backend = cur->make(), .flags = flags};
    CHECK_OK(open_heap(&cfg));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t t[2];
    for (uintptr_t i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, small_churn_thread, (void *)(i + 7)) == 0);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    *lock_takes = s.lock_takes;
    *caching = s.caching;
    CHECK(s.backend_used == 0);
    CHECK_INVARIANTS(ak_heap_check(&H));
    close_heap();
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

/* With magazines, two threads doing small malloc/free take the heap lock
 * for a small fraction of their calls (a magazine at a time); without,
 * for every call. Times are printed for information (the machine may be
 * busy); the lock counts (every acquisition of the heap's mutex) are what
 * is checked. */
static void test_small_churn(void)
{
    failures = 0;
    small_ops = ak_test_ops(1000000, 20000);
    uint64_t with, without;
    bool caching, never;
    double tw = run_small_churn(0, &with, &caching);
    double to = run_small_churn(AK_HEAP_NO_THREAD_CACHE, &without, &never);
    printf("[2 x %llu malloc+free: magazines %.3f s, %llu lock takes; none %.3f s, %llu] ",
           (unsigned long long)small_ops, tw, (unsigned long long)with, to,
           (unsigned long long)without);
    CHECKF(failures == 0, "%s", first_failure);
    CHECK(!never);
    CHECK(without >= 4 * small_ops); /* every call locked */
    if (caching)
        CHECK(with * 16 < 4 * small_ops); /* at most 1 in 16 calls locked */
    else
        CHECK(with >= 4 * small_ops); /* no cache hooks: no magazines */
}

/* ---- fork ---- */

static int stop_churn;

static void *background_thread(void *arg)
{
    ak_rng r;
    ak_rng_seed(&r, (uint64_t)(uintptr_t)arg);
    void *held[64] = {0};
    while (!__atomic_load_n(&stop_churn, __ATOMIC_RELAXED)) {
        unsigned i = (unsigned)ak_rng_below(&r, 64);
        ak_heap_free(&H, held[i]);
        held[i] = ak_heap_malloc(&H, random_size(&r));
    }
    for (unsigned i = 0; i < 64; i++)
        ak_heap_free(&H, held[i]);
    return NULL;
}

static int child_work(void)
{
    ak_rng r;
    ak_rng_seed(&r, (uint64_t)getpid());
    void *ps[256] = {0};
    for (int i = 0; i < 20000; i++) {
        unsigned k = (unsigned)ak_rng_below(&r, 256);
        ak_heap_free(&H, ps[k]);
        size_t n = random_size(&r);
        ps[k] = ak_heap_malloc(&H, n);
        if (!ps[k])
            return 2;
        memset(ps[k], 0x3c, n);
    }
    for (int k = 0; k < 256; k++)
        ak_heap_free(&H, ps[k]);
    if (ak_heap_check(&H))
        return 3;
    ak_heap_stats s;
    ak_heap_stats_get(&H, &s);
    if (s.thread_caches > 1) /* the other threads' caches were reclaimed */
        return 4;
    return 0;
}

static void test_fork(void)
{
    ak_heap_config cfg = {.backend = cur->make()};
    CHECK_OK(open_heap(&cfg));
    stop_churn = 0;
    pthread_t t[4];
    for (unsigned i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, background_thread, (void *)(uintptr_t)(i + 1)) == 0);
    int forks = ak_t.quick ? 5 : 20;
    for (int i = 0; i < forks; i++) {
        void *mine = ak_heap_malloc(&H, 100);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            alarm(30); /* a deadlock must not hang the test */
            ak_heap_free(&H, mine);
            _exit(child_work());
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
        ak_heap_free(&H, mine);
    }
    __atomic_store_n(&stop_churn, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ak_heap_flush_thread_cache(&H);
    CHECK_INVARIANTS(ak_heap_check(&H));
    close_heap();
}

/* Pages across threads: blocks freed by another thread go back to their
 * page (the owner reuses them: no new pages), a remote double free is
 * refused, and the pages of a thread that exits with live blocks become
 * orphans that go back once those blocks are freed. */
enum { REMOTE_N = 20000 };
static void *remote_blocks[REMOTE_N];
static pthread_barrier_t remote_bar;

static void *remote_owner(void *arg)
{
    (void)arg;
    ak_heap_free(&H, ak_heap_malloc(&H, 8)); /* the thread's set-up */
    for (unsigned round = 0; round < 2; round++) {
        for (unsigned i = 0; i < REMOTE_N; i++) {
            remote_blocks[i] = ak_heap_malloc(&H, 24 + (i % 4) * 16);
            if (remote_blocks[i])
                memset(remote_blocks[i], (int)(i & 0xff), 24);
        }
        pthread_barrier_wait(&remote_bar); /* main frees them */
        pthread_barrier_wait(&remote_bar);
    }
    return NULL; /* exits holding the second round's blocks */
}

static void test_page_remote(void)
{
    ak_heap_config cfg = {.backend = cur->make()};
    CHECK_OK(open_heap(&cfg));
    ak_heap_stats s;
    pthread_barrier_init(&remote_bar, NULL, 2);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, remote_owner, NULL) == 0);
    size_t pages[2] = {0, 0};
    for (unsigned round = 0; round < 2; round++) {
        pthread_barrier_wait(&remote_bar);
        ak_heap_stats_get(&H, &s);
        pages[round] = s.pages;
        if (round == 0) {
            for (unsigned i = 0; i < REMOTE_N; i++) {
                CHECK(remote_blocks[i] && ((unsigned char *)remote_blocks[i])[23] == (i & 0xff));
                ak_heap_free(&H, remote_blocks[i]);
            }
            uint64_t dbl = s.double_frees;
            ak_heap_free(&H, remote_blocks[7]); /* a remote double free */
            ak_heap_stats_get(&H, &s);
            CHECK(!s.paging || s.double_frees == dbl + 1);
        }
        pthread_barrier_wait(&remote_bar);
    }
    pthread_join(t, NULL);
    ak_heap_stats_get(&H, &s);
    if (s.paging) {
        /* The second round reused the blocks the first freed remotely. */
        CHECKF(pages[1] == pages[0], "pages %zu then %zu", pages[0], pages[1]);
        CHECK(s.page_orphans > 0);
    }
    for (unsigned i = 0; i < REMOTE_N; i++) {
        CHECK(remote_blocks[i] && ((unsigned char *)remote_blocks[i])[23] == (i & 0xff));
        ak_heap_free(&H, remote_blocks[i]);
    }
    CHECK_INVARIANTS(ak_heap_check(&H));
    ak_heap_flush_thread_cache(&H);
    ak_heap_stats_get(&H, &s);
    printf("[pages %zu then %zu] ", pages[0], pages[1]);
    CHECK(s.pages == 0 && s.page_orphans == 0 && s.bad_frees == 0);
    CHECK_INVARIANTS(ak_heap_check(&H));
    pthread_barrier_destroy(&remote_bar);
    close_heap();
}

int main(int argc, char **argv)
{
    ak_test_init(argc, argv, "test_heap_threads");
    static char names[HEAP_BACKEND_COUNT][4][64];
    for (size_t b = 0; b < HEAP_BACKEND_COUNT; b++) {
        cur = &heap_backends[b];
        snprintf(names[b][0], sizeof names[b][0], "test_churn[%s]", cur->name);
        ak_test_run(names[b][0], test_churn);
        snprintf(names[b][1], sizeof names[b][1], "test_fork[%s]", cur->name);
        ak_test_run(names[b][1], test_fork);
        snprintf(names[b][2], sizeof names[b][2], "test_small_churn[%s]", cur->name);
        ak_test_run(names[b][2], test_small_churn);
        snprintf(names[b][3], sizeof names[b][3], "test_page_remote[%s]", cur->name);
        ak_test_run(names[b][3], test_page_remote);
    }
    return ak_test_finish();
}
