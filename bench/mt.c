/* akbench's multi-threaded workloads: the classic patterns that separate
 * a malloc built for threads from one that is not, run over the process's
 * own malloc family (glibc, or jemalloc / mimalloc / tcmalloc /
 * libakmalloc.so brought in with LD_PRELOAD by the driver). Pool
 * contenders (a bare ak_tlsf and the like) are not thread-safe and do not
 * run them; allockit takes part through libakmalloc.so.
 *
 *   mt_larson_tN        server churn (after Larson and Krishnan): each
 *                       thread replaces random slots of its own array of
 *                       1,000 blocks (16..1000 B); every quarter of the
 *                       work a thread hands its array, blocks and all, to
 *                       a successor it starts, and exits: the successor
 *                       frees blocks a dead thread allocated
 *   mt_xmalloc_tN       producer/consumer (after Lever and Boreham's
 *                       xmalloc test): N/2 threads allocate batches of 64
 *                       blocks (16..512 B, log-uniform) and queue them, the
 *                       other N/2 free them: every free is a cross-thread
 *                       free. At N = 1 the one thread produces a batch and
 *                       then frees it itself (the baseline without
 *                       cross-thread frees)
 *   mt_glibc_thread_tN  per-thread loops (after glibc's bench-malloc-
 *                       thread): each thread replaces random slots of its
 *                       own 32 blocks of 16..1024 B (log-uniform), nothing
 *                       shared
 *   mt_cache_scratch_tN passive false sharing (after Hoard's cache-scratch):
 *                       the main thread allocates N 8-byte objects in a row
 *                       (neighbours on a cache line) and gives one to each
 *                       thread, which frees it and then, over and over,
 *                       allocates an 8-byte object, updates it 100 times
 *                       (read-modify-write) and frees it. An allocator
 *                       that hands a thread back the block it freed, next
 *                       to another thread's, makes the threads fight over
 *                       one cache line
 *
 * "op": one malloc together with its free (mt_cache_scratch: with the
 * object's 100 updates). The total work is the same at every thread count,
 * split evenly between the threads, so perfect scaling halves the wall
 * time per op from 1 to 2 threads on two CPUs (and 4 threads on two CPUs
 * can do no better than 2).
 *
 * Every block carries a tag derived from its address and size in its first
 * and last 8 bytes (the checking run fills every byte), checked before its
 * free, in whichever thread frees it. BENCH_MT_CORRUPT=1 damages one block
 * after it was written, to show that the checks catch it (the smoke test
 * runs it and wants the failure).
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MT_SEED 0x5eed0fa11u

typedef struct mt_ctx {
    int threads;
    double scale;
    bool verify;  /* the checking run: every byte of every block filled and checked */
    uint64_t ops; /* malloc+free pairs (the workload's op) */
} mt_ctx;

/* n scaled by the run's multiplier, at least `floor`. */
static size_t mt_scaled(const mt_ctx *c, size_t n, size_t floor)
{
    double v = (double)n * c->scale;
    return v < (double)floor ? floor : (size_t)v;
}

/* ---- tags ---- */

static bool mt_corrupt;             /* BENCH_MT_CORRUPT: damage one block */
static atomic_uint mt_corrupt_left; /* blocks to stamp before the damaged one */

static inline uint64_t mt_tag(const void *p, size_t size)
{
    uint64_t x = (uint64_t)(uintptr_t)p ^ ((uint64_t)size << 40) ^ 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 29);
}

/* A program that keeps a block damages nothing; one whose allocator hands
 * out overlapping or recycled-while-live blocks gets its tags overwritten. */
static void mt_damage(unsigned char *p, size_t size)
{
    unsigned left = atomic_load(&mt_corrupt_left);
    while (left && !atomic_compare_exchange_weak(&mt_corrupt_left, &left, left - 1))
        ;
    if (left == 1)
        p[size - 1] ^= 0x40;
}

/* Blocks are at least 16 bytes: head tag, tail tag (unaligned: memcpy). */
static inline void mt_stamp(void *p, size_t size, bool full)
{
    uint64_t t = mt_tag(p, size), nt = ~t;
    unsigned char *b = p;
    if (full)
        memset(b + 8, (int)(t & 0xff), size - 16);
    memcpy(b, &t, 8);
    memcpy(b + size - 8, &nt, 8);
    if (__builtin_expect(mt_corrupt, 0))
        mt_damage(b, size);
}

static inline void mt_check(const char *wl, const void *p, size_t size, bool full)
{
    uint64_t t = mt_tag(p, size), h, e;
    const unsigned char *b = p;
    memcpy(&h, b, 8);
    memcpy(&e, b + size - 8, 8);
    if (h != t || e != ~t)
        bench_fail("%s: block %p (%zu bytes) corrupted before its free: tags %016llx %016llx, "
                   "want %016llx %016llx",
                   wl, p, size, (unsigned long long)h, (unsigned long long)e, (unsigned long long)t,
                   (unsigned long long)~t);
    if (full)
        for (size_t i = 8; i + 8 < size; i++)
            if (b[i] != (unsigned char)(t & 0xff))
                bench_fail("%s: block %p (%zu bytes) corrupted before its free at byte %zu", wl, p,
                           size, i);
}

static inline void *mt_malloc(const char *wl, size_t size)
{
    void *p = malloc(size);
    if (!p)
        bench_fail("%s: malloc(%zu) returned NULL", wl, size);
    if ((uintptr_t)p % 8)
        bench_fail("%s: malloc(%zu) returned misaligned %p", wl, size, p);
    return p;
}

/* Harness memory (thread records, slot arrays): from the same malloc, but
 * outside the timed part or once per thread. */
static void *mt_harness(size_t n)
{
    void *p = calloc(1, n);
    if (!p)
        bench_fail("out of harness memory (%zu bytes)", n);
    return p;
}

static void mt_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int e = pthread_create(t, NULL, fn, arg);
    if (e)
        bench_fail("pthread_create: %s", strerror(e));
}

static void mt_join(pthread_t t)
{
    int e = pthread_join(t, NULL);
    if (e)
        bench_fail("pthread_join: %s", strerror(e));
}

/* The work of the whole run split between n threads: share k of n. */
static size_t mt_share(size_t total, int n, int k)
{
    return total / (size_t)n + ((size_t)k < total % (size_t)n);
}

typedef struct mt_block {
    void *p;
    size_t size;
} mt_block;

/* ------------------------------------------------------------------ */
/* Larson: server churn with thread generations                        */
/* ------------------------------------------------------------------ */

#define LARSON_SLOTS 1000
#define LARSON_GENS  4
#define LARSON_MIN   16
#define LARSON_MAX   1000

typedef struct larson_lane {
    mt_block *slot;
    size_t nslots;
    size_t rounds[LARSON_GENS]; /* replacements per generation */
    int gen;
    bool verify;
    bench_rng rng;
    /* gen g's thread starts gen g + 1 and stores its handle in tid[g + 1]
     * before it exits; the main thread reads tid[g + 1] only after joining
     * tid[g], so no handle is read while it is written. */
    pthread_t tid[LARSON_GENS];
} larson_lane;

static void *larson_thread(void *arg)
{
    larson_lane *l = arg;
    const char *wl = "mt_larson";
    if (l->gen == 0)
        for (size_t i = 0; i < l->nslots; i++) {
            size_t size = LARSON_MIN + bench_rng_below(&l->rng, LARSON_MAX - LARSON_MIN + 1);
            l->slot[i] = (mt_block){mt_malloc(wl, size), size};
            mt_stamp(l->slot[i].p, size, l->verify);
        }
    for (size_t r = l->rounds[l->gen]; r; r--) {
        mt_block *s = &l->slot[bench_rng_below(&l->rng, l->nslots)];
        mt_check(wl, s->p, s->size, l->verify);
        free(s->p);
        size_t size = LARSON_MIN + bench_rng_below(&l->rng, LARSON_MAX - LARSON_MIN + 1);
        *s = (mt_block){mt_malloc(wl, size), size};
        mt_stamp(s->p, size, l->verify);
    }
    if (++l->gen < LARSON_GENS) {
        /* The array and every block in it go to a thread that does not
         * exist yet; this one exits. */
        mt_start(&l->tid[l->gen], larson_thread, l);
        return NULL;
    }
    for (size_t i = 0; i < l->nslots; i++) {
        mt_check(wl, l->slot[i].p, l->slot[i].size, l->verify);
        free(l->slot[i].p);
    }
    return NULL;
}

static void mt_larson(mt_ctx *c)
{
    size_t total = mt_scaled(c, 500000, 2000);
    size_t nslots = c->scale < 0.01 ? 100 : LARSON_SLOTS; /* smoke: fewer */
    larson_lane *lane = mt_harness((size_t)c->threads * sizeof(*lane));
    for (int k = 0; k < c->threads; k++) {
        larson_lane *l = &lane[k];
        l->slot = mt_harness(nslots * sizeof(mt_block));
        l->nslots = nslots;
        l->verify = c->verify;
        size_t mine = mt_share(total, c->threads, k);
        for (int g = 0; g < LARSON_GENS; g++)
            l->rounds[g] = mt_share(mine, LARSON_GENS, g);
        bench_rng_seed(&l->rng, MT_SEED + (uint64_t)k);
        c->ops += nslots + mine;
    }
    for (int k = 0; k < c->threads; k++)
        mt_start(&lane[k].tid[0], larson_thread, &lane[k]);
    for (int k = 0; k < c->threads; k++)
        for (int g = 0; g < LARSON_GENS; g++)
            mt_join(lane[k].tid[g]);
    for (int k = 0; k < c->threads; k++)
        free(lane[k].slot);
    free(lane);
}

/* ------------------------------------------------------------------ */
/* xmalloc: producers allocate, consumers free                         */
/* ------------------------------------------------------------------ */

#define XM_BATCH 64
#define XM_QUEUE 64 /* batches in flight at most */
#define XM_MIN   16
#define XM_MAX   512

typedef struct xm_batch {
    size_t n;
    mt_block b[XM_BATCH];
} xm_batch;

/* One queue between all producers and all consumers: a mutex and two
 * conditions, taken once per batch of 64 blocks. */
typedef struct xm_queue {
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull;
    xm_batch *ring[XM_QUEUE];
    size_t head, count;
    int producers_left;
    bool verify;
    uint64_t freed; /* blocks freed by the consumers, checked against the produced */
} xm_queue;

typedef struct xm_thread {
    xm_queue *q;
    size_t blocks; /* producer: blocks to allocate */
    bench_rng rng;
    pthread_t tid;
} xm_thread;

static xm_batch *xm_fill(xm_batch *b, size_t n, bench_rng *r, bool verify)
{
    b->n = n;
    for (size_t i = 0; i < n; i++) {
        size_t size = bench_rng_log_uniform(r, XM_MIN, XM_MAX);
        b->b[i] = (mt_block){mt_malloc("mt_xmalloc", size), size};
        mt_stamp(b->b[i].p, size, verify);
    }
    return b;
}

static void xm_drain(xm_batch *b, bool verify)
{
    for (size_t i = 0; i < b->n; i++) {
        mt_check("mt_xmalloc", b->b[i].p, b->b[i].size, verify);
        free(b->b[i].p);
    }
}

static void *xm_producer(void *arg)
{
    xm_thread *t = arg;
    xm_queue *q = t->q;
    for (size_t left = t->blocks; left;) {
        size_t n = left < XM_BATCH ? left : XM_BATCH;
        xm_batch *b = xm_fill(mt_malloc("mt_xmalloc", sizeof(xm_batch)), n, &t->rng, q->verify);
        left -= n;
        pthread_mutex_lock(&q->mu);
        while (q->count == XM_QUEUE)
            pthread_cond_wait(&q->nonfull, &q->mu);
        q->ring[(q->head + q->count++) % XM_QUEUE] = b;
        pthread_cond_signal(&q->nonempty);
        pthread_mutex_unlock(&q->mu);
    }
    pthread_mutex_lock(&q->mu);
    if (--q->producers_left == 0)
        pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void *xm_consumer(void *arg)
{
    xm_thread *t = arg;
    xm_queue *q = t->q;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->count == 0 && q->producers_left > 0)
            pthread_cond_wait(&q->nonempty, &q->mu);
        if (q->count == 0) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        xm_batch *b = q->ring[q->head];
        q->head = (q->head + 1) % XM_QUEUE;
        q->count--;
        q->freed += b->n;
        pthread_cond_signal(&q->nonfull);
        pthread_mutex_unlock(&q->mu);
        xm_drain(b, q->verify);
        free(b);
    }
}

static void mt_xmalloc(mt_ctx *c)
{
    size_t total = mt_scaled(c, 500000, 2000);
    c->ops = total;
    if (c->threads == 1) {
        bench_rng r;
        bench_rng_seed(&r, MT_SEED);
        for (size_t left = total; left;) {
            size_t n = left < XM_BATCH ? left : XM_BATCH;
            xm_batch *b = xm_fill(mt_malloc("mt_xmalloc", sizeof(xm_batch)), n, &r, c->verify);
            xm_drain(b, c->verify);
            free(b);
            left -= n;
        }
        return;
    }
    int np = c->threads / 2, nc = c->threads - np;
    xm_queue q;
    memset(&q, 0, sizeof(q));
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.nonempty, NULL);
    pthread_cond_init(&q.nonfull, NULL);
    q.producers_left = np;
    q.verify = c->verify;
    xm_thread *t = mt_harness((size_t)c->threads * sizeof(*t));
    for (int k = 0; k < c->threads; k++) {
        t[k].q = &q;
        if (k < np) {
            t[k].blocks = mt_share(total, np, k);
            bench_rng_seed(&t[k].rng, MT_SEED + (uint64_t)k);
        }
    }
    for (int k = 0; k < nc; k++)
        mt_start(&t[np + k].tid, xm_consumer, &t[np + k]);
    for (int k = 0; k < np; k++)
        mt_start(&t[k].tid, xm_producer, &t[k]);
    for (int k = 0; k < c->threads; k++)
        mt_join(t[k].tid);
    if (q.freed != total || q.count != 0)
        bench_fail("mt_xmalloc: %llu of %zu blocks came through the queue, %zu left in it",
                   (unsigned long long)q.freed, total, q.count);
    pthread_cond_destroy(&q.nonfull);
    pthread_cond_destroy(&q.nonempty);
    pthread_mutex_destroy(&q.mu);
    free(t);
}

/* ------------------------------------------------------------------ */
/* glibc's bench-malloc-thread: tight per-thread loops                 */
/* ------------------------------------------------------------------ */

#define GT_SLOTS 32
#define GT_MIN   16
#define GT_MAX   1024

typedef struct gt_thread {
    size_t iters;
    bool verify;
    bench_rng rng;
    pthread_t tid;
} gt_thread;

static void *gt_loop(void *arg)
{
    gt_thread *t = arg;
    mt_block slot[GT_SLOTS] = {{0}};
    for (size_t i = 0; i < t->iters; i++) {
        mt_block *s = &slot[bench_rng_below(&t->rng, GT_SLOTS)];
        if (s->p) {
            mt_check("mt_glibc_thread", s->p, s->size, t->verify);
            free(s->p);
        }
        size_t size = bench_rng_log_uniform(&t->rng, GT_MIN, GT_MAX);
        *s = (mt_block){mt_malloc("mt_glibc_thread", size), size};
        mt_stamp(s->p, size, t->verify);
    }
    for (int k = 0; k < GT_SLOTS; k++)
        if (slot[k].p) {
            mt_check("mt_glibc_thread", slot[k].p, slot[k].size, t->verify);
            free(slot[k].p);
        }
    return NULL;
}

static void mt_glibc_thread(mt_ctx *c)
{
    size_t total = mt_scaled(c, 1000000, 2000);
    gt_thread *t = mt_harness((size_t)c->threads * sizeof(*t));
    for (int k = 0; k < c->threads; k++) {
        t[k].iters = mt_share(total, c->threads, k);
        t[k].verify = c->verify;
        bench_rng_seed(&t[k].rng, MT_SEED + (uint64_t)k);
    }
    c->ops = total;
    for (int k = 0; k < c->threads; k++)
        mt_start(&t[k].tid, gt_loop, &t[k]);
    for (int k = 0; k < c->threads; k++)
        mt_join(t[k].tid);
    free(t);
}

/* ------------------------------------------------------------------ */
/* cache-scratch: passive false sharing                                */
/* ------------------------------------------------------------------ */

#define CS_OBJ    8
#define CS_WRITES 100

typedef struct cs_thread {
    uint64_t *given; /* allocated by the main thread */
    size_t objects;
    int index;
    pthread_t tid;
} cs_thread;

static inline uint64_t cs_mark(const void *p, int index)
{
    return mt_tag(p, CS_OBJ) ^ (uint64_t)index;
}

static void *cs_loop(void *arg)
{
    cs_thread *t = arg;
    if (*t->given != cs_mark(t->given, t->index))
        bench_fail("mt_cache_scratch: the main thread's object %p was corrupted before its free",
                   (void *)t->given);
    free(t->given);
    for (size_t i = 0; i < t->objects; i++) {
        volatile uint64_t *o = mt_malloc("mt_cache_scratch", CS_OBJ);
        uint64_t base = cs_mark((const void *)o, t->index);
        /* Read-modify-write, as a program updating its object does: each
         * one waits for the line, so a line shared with another thread's
         * object bounces between the CPUs on every write. */
        *o = base;
        for (int w = 0; w < CS_WRITES; w++)
            *o += 1;
        if (__builtin_expect(mt_corrupt, 0))
            mt_damage((unsigned char *)o, CS_OBJ);
        if (*o != base + CS_WRITES)
            bench_fail("mt_cache_scratch: object %p holds %016llx after its writes, want %016llx",
                       (void *)o, (unsigned long long)*o, (unsigned long long)(base + CS_WRITES));
        free((void *)o);
    }
    return NULL;
}

static void mt_cache_scratch(mt_ctx *c)
{
    size_t total = mt_scaled(c, 50000, 1000);
    cs_thread *t = mt_harness((size_t)c->threads * sizeof(*t));
    /* In a row, from the main thread: neighbours on a cache line. */
    for (int k = 0; k < c->threads; k++) {
        t[k].given = mt_malloc("mt_cache_scratch", CS_OBJ);
        *t[k].given = cs_mark(t[k].given, k);
        t[k].objects = mt_share(total, c->threads, k);
        t[k].index = k;
    }
    c->ops = total;
    for (int k = 0; k < c->threads; k++)
        mt_start(&t[k].tid, cs_loop, &t[k]);
    for (int k = 0; k < c->threads; k++)
        mt_join(t[k].tid);
    free(t);
}

/* ------------------------------------------------------------------ */
/* Serving the driver                                                  */
/* ------------------------------------------------------------------ */

typedef struct mt_workload {
    const char *name; /* the driver's names add _tN, N the thread count */
    void (*run)(mt_ctx *c);
} mt_workload;

static const mt_workload mt_workloads[] = {
    {"mt_larson", mt_larson},
    {"mt_xmalloc", mt_xmalloc},
    {"mt_glibc_thread", mt_glibc_thread},
    {"mt_cache_scratch", mt_cache_scratch},
};

/* NAME_tN: the workload and N; NULL if the name is not one of these. */
static const mt_workload *mt_find(const char *name, int *threads)
{
    for (size_t i = 0; i < sizeof(mt_workloads) / sizeof(mt_workloads[0]); i++) {
        size_t n = strlen(mt_workloads[i].name);
        if (strncmp(name, mt_workloads[i].name, n) || strncmp(name + n, "_t", 2))
            continue;
        char *end;
        long t = strtol(name + n + 2, &end, 10);
        if (*end || t < 1 || t > 64)
            return NULL;
        *threads = (int)t;
        return &mt_workloads[i];
    }
    return NULL;
}

bool bench_mt_is(const char *name)
{
    int t;
    return mt_find(name, &t) != NULL;
}

static double cpu_process_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void mt_once(const mt_workload *w, int threads, double scale, bool verify, uint64_t *wall,
                    uint64_t *cpu, uint64_t *ops)
{
    mt_ctx c = {.threads = threads, .scale = scale, .verify = verify};
    double c0 = cpu_process_ns();
    uint64_t t0 = bench_now_ns();
    w->run(&c);
    *wall = bench_now_ns() - t0;
    *cpu = (uint64_t)(cpu_process_ns() - c0);
    *ops = c.ops;
}

/* The driver's protocol (see worker.c): one untimed warm-up run at a
 * quarter of the scale (the live sets do not grow with the scale, so it
 * faults in and sets up as much as a full one), "ready";
 * each "run" one timed run, answered "run I WALL_NS OPS CPU_NS" (wall time
 * of the whole workload, threads started and joined included; CPU time of
 * the process, all threads); "check" one checking run at a quarter of the
 * scale with every byte of every block filled and checked, then the
 * worker ends. */
void bench_mt_serve(const char *name, double scale)
{
    int threads = 0;
    const mt_workload *w = mt_find(name, &threads);
    if (!w)
        bench_fail("no multi-threaded workload %s", name);
    const char *e = getenv("BENCH_MT_CORRUPT");
    if (e && *e && strcmp(e, "0") != 0) {
        mt_corrupt = true;
        atomic_store(&mt_corrupt_left, 100);
    }
    uint64_t wall, cpu, ops;
    mt_once(w, threads, scale / 4, false, &wall, &cpu, &ops);
    printf("ready\n");
    fflush(stdout);
    char line[64];
    int i = 0;
    while (fgets(line, sizeof(line), stdin)) {
        if (!strncmp(line, "run", 3)) {
            mt_once(w, threads, scale, false, &wall, &cpu, &ops);
            printf("run %d %llu %llu %llu\n", i++, (unsigned long long)wall,
                   (unsigned long long)ops, (unsigned long long)cpu);
            fflush(stdout);
        } else if (!strncmp(line, "check", 5)) {
            mt_once(w, threads, scale / 4, true, &wall, &cpu, &ops);
            return;
        }
    }
    bench_fail("the driver went away before the checking run");
}
