/* akbench-worker: runs one workload against one contender, in a process
 * of its own, and reports on stdout in lines the driver parses:
 *
 *   malloc <glibc|jemalloc|mimalloc|tcmalloc|akmalloc-BACKEND>
 *                                        whose malloc this process has
 *   timer <name> <ticks per ns> <overhead ns>
 *   pool <bytes>                         pool contenders: the pool's size
 *   ready                                set up and warmed up; waiting for
 *                                        "run" / "check" lines on stdin
 *   run <i> <cpu ns> <ops>               one timed run
 *   lat <alloc|free> <n> <p999 ns> <max ns> <raw max ns>
 *   scale <pool bytes> <alloc p999> <alloc max> <free p999> <free max>
 *         <alloc raw max> <free raw max>      (all ns)
 *   mem <fixed bytes> <object bytes> <per-block bytes> <max fill>
 *   heapmap <path> <blocks> <used blocks>
 *   count <workload> <contender> <ops> <calls>   (--count) one counted run
 *   fail <message>                       then exit status 1
 *   ok
 *
 * usage: akbench-worker WORKLOAD CONTENDER RUNS SCALE OUTDIR
 *   RUNS: repeats of latency_scaling and memory; the timed workloads run
 *   as often as the driver asks (see serve_workload).
 *   CONTENDER: system (whatever malloc the process has: glibc, or one
 *   brought in with LD_PRELOAD by the driver), tlsf, buddy, slab,
 *   bitmap_page, bitmap_id.
 *   WORKLOAD: a name from workloads.c, or latency_scaling, memory, heap_map,
 *   or a multi-threaded one of mt.c (contender system only; its "run"
 *   lines add the process's CPU ns: run <i> <wall ns> <ops> <cpu ns>).
 * usage: akbench-worker --count SCALE WORKLOAD:CONTENDER...
 *   under callgrind: instructions per op (see count_main).
 *
 * Pool contenders get a fresh allocator object over the same pre-touched
 * pool for every run, so no run pays page faults; the system allocators
 * pay theirs (the warm-up run absorbs most of them).
 */
#include "bench.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MiB  ((size_t)1 << 20)
#define SEED 0xdeadbeefu

double bench_ticks_per_ns = 1.0;
const char *bench_ticks_name = "clock_gettime(CLOCK_MONOTONIC)";

void bench_fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    printf("fail ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(1);
}

void bench_ticks_init(void)
{
#if defined(__x86_64__) || defined(__i386__)
    bench_ticks_name = "rdtsc";
#elif defined(__aarch64__)
    bench_ticks_name = "cntvct_el0";
#endif
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
    uint64_t n0 = bench_now_ns(), t0 = bench_ticks();
    while (bench_now_ns() - n0 < 10000000u)
        ;
    uint64_t n1 = bench_now_ns(), t1 = bench_ticks();
    bench_ticks_per_ns = (double)(t1 - t0) / (double)(n1 - n0);
#endif
}

uint64_t bench_hist_quantile(const bench_hist *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)((double)h->n * q);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen > want) {
            if (i < 64)
                return i;
            size_t e = i / 32 - 1; /* bucket i covers (v >> (e)) == i - 32 * e */
            uint64_t top = ((uint64_t)(i - 32 * e) + 1) << e;
            return top - 1 < h->max ? top - 1 : h->max;
        }
    }
    return h->max;
}

/* Per-call latency is measured under SCHED_FIFO on one CPU when the
 * process may (root, BENCH_NO_RT unset): otherwise a time slice given to
 * another process lands inside some call and its "max" is the scheduler's
 * (milliseconds on a busy machine). Only the latency runs do this, and each
 * lasts well under the kernel's real-time throttling period. */
static bool rt_enter(void)
{
    const char *e = getenv("BENCH_NO_RT");
    if (e && *e && strcmp(e, "0") != 0)
        return false;
    int cpu = sched_getcpu();
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
    }
    struct sched_param sp = {.sched_priority = 1};
    return sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
}

static void rt_leave(void)
{
    struct sched_param sp = {.sched_priority = 0};
    sched_setscheduler(0, SCHED_OTHER, &sp);
}

static void rt_report(bool on)
{
    static bool said;
    if (!said) {
        printf("rt %d\n", on ? 1 : 0);
        said = true;
    }
}

static double ticks_to_ns(uint64_t t)
{
    return (double)t / bench_ticks_per_ns;
}

/* ------------------------------------------------------------------ */
/* The system malloc as a byte allocator                              */
/* ------------------------------------------------------------------ */

static ak_error sys_init(void *self, uintptr_t start, size_t size)
{
    (void)self, (void)start, (void)size;
    return AK_OK;
}

/* malloc where its guaranteed alignment covers the request (every
 * contender aligns blocks of 16 bytes or more to 16), aligned_alloc
 * otherwise: what a C program would call. */
static ak_error sys_alloc(void *self, size_t size, size_t align, void **out)
{
    (void)self;
    void *p;
    if (align <= 8 || (align <= 16 && size >= 16))
        p = malloc(size);
    else /* C11 asks for a size that is a multiple of the alignment */
        p = aligned_alloc(align, (size + align - 1) & ~(align - 1));
    if (!p)
        return AK_ERR_NO_MEMORY;
    *out = p;
    return AK_OK;
}

static ak_error sys_dealloc(void *self, void *ptr, size_t size, size_t align)
{
    (void)self, (void)size, (void)align;
    free(ptr);
    return AK_OK;
}

static size_t sys_zero(const void *self)
{
    (void)self;
    return 0;
}

static const ak_byte_allocator_ops sys_ops = {
    .name = "system",
    .init = sys_init,
    .add_memory = sys_init,
    .alloc = sys_alloc,
    .dealloc = sys_dealloc,
    .total_bytes = sys_zero,
    .used_bytes = sys_zero,
    .available_bytes = sys_zero,
};

/* Whose malloc is this process using? Each of the preloadable ones exports
 * a symbol of its own; libakmalloc.so also says which allocator it runs. */
static const char *malloc_identity(void)
{
    static char ak[64];
    void *sym = dlsym(RTLD_DEFAULT, "ak_malloc_backend");
    if (sym) {
        const char *(*backend)(void);
        memcpy(&backend, &sym, sizeof(backend));
        snprintf(ak, sizeof(ak), "akmalloc-%s", backend());
        return ak;
    }
    if (dlsym(RTLD_DEFAULT, "mallctl"))
        return "jemalloc";
    if (dlsym(RTLD_DEFAULT, "mi_version"))
        return "mimalloc";
    if (dlsym(RTLD_DEFAULT, "tc_version"))
        return "tcmalloc";
    return "glibc";
}

/* ------------------------------------------------------------------ */
/* Pool contenders                                                    */
/* ------------------------------------------------------------------ */

typedef struct pool_contender {
    const char *name;
    size_t obj_bytes;
    ak_byte_allocator (*handle)(void *obj);
} pool_contender;

#if AK_HAVE_TLSF
static ak_byte_allocator tlsf_handle(void *o)
{
    return ak_tlsf_as_byte(o);
}
#endif
#if AK_HAVE_BUDDY
static ak_byte_allocator buddy_handle(void *o)
{
    return ak_buddy_as_byte(o);
}
#endif
#if AK_HAVE_SLAB
static ak_byte_allocator slab_handle(void *o)
{
    return ak_slab_as_byte(o);
}
#endif

static const pool_contender pool_contenders[] = {
#if AK_HAVE_TLSF
    {"tlsf", sizeof(ak_tlsf), tlsf_handle},
#endif
#if AK_HAVE_BUDDY
    {"buddy", sizeof(ak_buddy), buddy_handle},
#endif
#if AK_HAVE_SLAB
    {"slab", sizeof(ak_slab), slab_handle},
#endif
    {NULL, 0, NULL},
};

static const pool_contender *find_pool_contender(const char *name)
{
    for (const pool_contender *p = pool_contenders; p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

/* A pool, mapped once per process. `touch`: faulted in by the kernel when
 * mapped (MAP_POPULATE; on a virtual machine ten times faster than writing
 * it through, which cost a quick run more than its workloads), so every
 * run's fresh allocator starts on memory that is already there (what the
 * timed runs need; what is left of a first touch, on the hypervisor's
 * side, falls in the untimed warm-up run). Otherwise the pages come in as
 * the allocator first writes them (enough where a warm-up pass precedes
 * what is measured, or where page faults do not count: the instruction
 * counts). */
static unsigned char *pool_map(size_t bytes, bool touch)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (touch ? MAP_POPULATE : MAP_NORESERVE);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED)
        bench_fail("mmap of a %zu-byte pool: %s", bytes, strerror(errno));
    return p;
}

static void *object_new(size_t bytes)
{
    void *o = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!o)
        bench_fail("no memory for the allocator object (%zu bytes)", bytes);
    return o;
}

/* A fresh allocator over [pool, pool + bytes). */
static ak_byte_allocator pool_fresh(const pool_contender *pc, void *obj, unsigned char *pool,
                                    size_t bytes)
{
    memset(obj, 0, pc->obj_bytes);
    ak_byte_allocator h = pc->handle(obj);
    ak_error e = ak_byte_init(h, (uintptr_t)pool, bytes);
    if (e != AK_OK)
        bench_fail("%s: init of a %zu-byte pool: %s", pc->name, bytes, ak_error_name(e));
    return h;
}

static void pool_after_run(const pool_contender *pc, ak_byte_allocator h, bool verify)
{
    size_t used = ak_byte_used_bytes(h);
    if (used != 0)
        bench_fail("%s: %zu bytes still used after the workload freed everything", pc->name, used);
    if (verify) {
        const char *bad = ak_byte_check(h);
        if (bad)
            bench_fail("%s: invariant broken after the workload: %s", pc->name, bad);
    }
}

/* ------------------------------------------------------------------ */
/* Timed runs of a workload                                           */
/* ------------------------------------------------------------------ */

typedef struct run_target {
    /* prepare a fresh contender in c before each run; check after */
    void (*prepare)(struct run_target *t, bench_ctx *c);
    void (*finish)(struct run_target *t, bench_ctx *c);
    const pool_contender *pc;
    void *obj;
    unsigned char *pool;
    size_t pool_bytes;
} run_target;

static void prepare_sys(run_target *t, bench_ctx *c)
{
    (void)t;
    c->byte = (ak_byte_allocator){&sys_ops, NULL};
}

static void prepare_pool(run_target *t, bench_ctx *c)
{
    c->byte = pool_fresh(t->pc, t->obj, t->pool, t->pool_bytes);
}

static void finish_pool(run_target *t, bench_ctx *c)
{
    pool_after_run(t->pc, c->byte, c->verify);
}

#if AK_HAVE_BITMAP_PAGE
static void prepare_page(run_target *t, bench_ctx *c)
{
    memset(t->obj, 0, sizeof(ak_bitmap_page));
    c->page = ak_bitmap_page_as_page(t->obj);
    /* 4 GiB (or the build's capacity) of pretend physical memory at 1 GiB:
     * the page allocator never touches what it manages. */
    uint64_t cap = (uint64_t)AK_PAGE_ALLOC_CAPACITY_PAGES * 4096u;
    uint64_t want = (uint64_t)4 << 30;
    uint64_t bytes = cap < want ? cap : want;
    if (sizeof(uintptr_t) < 8 && bytes > ((uint64_t)1 << 30))
        bytes = (uint64_t)1 << 30;
    c->page_base = (uintptr_t)1 << 30;
    ak_error e = ak_page_init(c->page, c->page_base, (size_t)bytes);
    if (e != AK_OK)
        bench_fail("bitmap_page init: %s", ak_error_name(e));
    c->page_count = ak_page_total_pages(c->page);
}

static void finish_page(run_target *t, bench_ctx *c)
{
    (void)t;
    if (ak_page_used_pages(c->page) != 0)
        bench_fail("bitmap_page: %zu pages still used after the workload freed everything",
                   ak_page_used_pages(c->page));
    if (c->verify && ak_page_check(c->page))
        bench_fail("bitmap_page: invariant broken: %s", ak_page_check(c->page));
}
#endif

#if AK_HAVE_BITMAP_ID
static void prepare_id(run_target *t, bench_ctx *c)
{
    memset(t->obj, 0, sizeof(ak_bitmap_id));
    c->id = ak_bitmap_id_as_id(t->obj);
    ak_error e = ak_id_init(c->id, 0, AK_ID_CAPACITY);
    if (e != AK_OK)
        bench_fail("bitmap_id init: %s", ak_error_name(e));
}

static void finish_id(run_target *t, bench_ctx *c)
{
    (void)t;
    if (c->verify && ak_id_check(c->id))
        bench_fail("bitmap_id: invariant broken: %s", ak_id_check(c->id));
}
#endif

void bench_lat_grow(bench_lat *l)
{
    l->cap = l->cap ? l->cap * 2 : 1 << 16;
    l->min = realloc(l->min, l->cap * sizeof(*l->min));
    if (!l->min)
        bench_fail("no harness memory for %zu latency samples", l->cap);
}

static void lat_reset(bench_lat *l)
{
    free(l->min);
    memset(l, 0, sizeof(*l));
}

static void lat_replay(bench_lat *l)
{
    l->replay = true;
    l->pos = 0;
}

/* p99.9 and maximum of the per-call minima, in ns. */
static void lat_result(const bench_lat *l, double *p999, double *max)
{
    static bench_hist h;
    memset(&h, 0, sizeof(h));
    for (size_t i = 0; i < l->len; i++)
        bench_hist_add(&h, l->min[i]);
    *p999 = ticks_to_ns(bench_hist_quantile(&h, 0.999));
    *max = ticks_to_ns(h.max);
}

static void lat_print(const char *what, const bench_lat *l)
{
    double p, m;
    lat_result(l, &p, &m);
    printf("lat %s %zu %.1f %.1f %.1f\n", what, l->len, p, m, ticks_to_ns(l->raw.max));
}

/* Replays of the checking run (same seed, so the same calls): two, enough
 * for an interrupt to miss a call in one of them; a third cost a full run
 * 5% of its time budget. */
#define LAT_REPLAYS 2

/* One run of the workload on a fresh contender; `lat` non-NULL makes it a
 * checking run (deeper checks, every call timed). */
static void run_once(const bench_workload *w, run_target *t, double scale, bench_lat *la,
                     bench_lat *lf, bench_ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->scale = scale;
    c->seed = SEED;
    if (la) {
        c->verify = true;
        c->hook = true;
        c->lat_alloc = la;
        c->lat_free = lf;
    }
    t->prepare(t, c);
    bool rt = la && rt_enter();
    if (la)
        rt_report(rt);
    w->run(c);
    if (rt)
        rt_leave();
    if (t->finish)
        t->finish(t, c);
}

/* Serve the driver: one warm-up run, then "ready"; each "run" line on stdin
 * is one timed run, answered with a "run" line; "check" does the checking
 * runs (replayed for the latency) and ends the worker. The driver sends
 * "run" to the workers of all contenders in turn, so a change in the
 * machine's load during the benchmark touches every contender alike. */
static void serve_workload(const bench_workload *w, run_target *t, double scale)
{
    bench_ctx c;
    static bench_lat la, lf;
    run_once(w, t, scale, NULL, NULL, &c);
    printf("ready\n");
    fflush(stdout);
    char line[64];
    int i = 0;
    while (fgets(line, sizeof(line), stdin)) {
        if (!strncmp(line, "run", 3)) {
            run_once(w, t, scale, NULL, NULL, &c);
            printf("run %d %llu %llu\n", i++, (unsigned long long)c.elapsed_ns,
                   (unsigned long long)c.ops);
            fflush(stdout);
        } else if (!strncmp(line, "check", 5)) {
            for (int k = 0; k < LAT_REPLAYS; k++) {
                if (k == 0) {
                    lat_reset(&la);
                    lat_reset(&lf);
                } else {
                    lat_replay(&la);
                    lat_replay(&lf);
                }
                run_once(w, t, scale * w->check_scale, &la, &lf, &c);
            }
            lat_print("alloc", &la);
            lat_print("free", &lf);
            return;
        }
    }
    bench_fail("the driver went away before the checking run");
}

/* ------------------------------------------------------------------ */
/* Worst-case latency against pool size                               */
/* ------------------------------------------------------------------ */

static void pick_scaling(bench_rng *r, size_t *size, size_t *align)
{
    *size = bench_rng_log_uniform(r, 16, 2048);
    *align = bench_rng_below(r, 8) == 0 ? 64 : 8;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The same alloc/free sequence (512 live blocks of 16..2048 bytes) in
 * pools of 1 MiB, 32 MiB and 1 GiB, replayed `repeats` times each: p99.9
 * and maximum of the per-call minima over the replays (see bench_lat), and
 * the raw maximum as measured. */
static void latency_scaling(const pool_contender *pc, int repeats, double scale)
{
    size_t sizes[] = {1 * MiB, 32 * MiB, 1024 * MiB};
    size_t nsizes = 3;
    if (scale < 0.01) {
        sizes[1] = 4 * MiB; /* smoke: keep the run short */
        sizes[2] = 16 * MiB;
    }
    size_t biggest = sizes[nsizes - 1];
    unsigned char *pool = pool_map(biggest, false);
    printf("pool %zu\n", biggest);
    void *obj = object_new(pc->obj_bytes);
    static bench_lat la[3], lf[3];
    int n = repeats < 2 ? 2 : repeats;
    /* Round -1 warms caches and code and is not counted. The pool sizes
     * take turns within each round, so drift in the machine's load touches
     * them alike; every round replays the same calls (same seed). */
    for (int k = -1; k < n; k++) {
        for (size_t s = 0; s < nsizes; s++) {
            bench_ctx c;
            memset(&c, 0, sizeof(c));
            if (k <= 0) {
                lat_reset(&la[s]);
                lat_reset(&lf[s]);
            } else {
                lat_replay(&la[s]);
                lat_replay(&lf[s]);
            }
            c.scale = scale;
            c.seed = SEED;
            c.hook = true;
            c.lat_alloc = &la[s];
            c.lat_free = &lf[s];
            c.byte = pool_fresh(pc, obj, pool, sizes[s]);
            bool rt = rt_enter();
            rt_report(rt);
            bench_churn(&c, "latency_scaling", 512, bench_scaled(&c, 400000, 2000), pick_scaling);
            if (rt)
                rt_leave();
            pool_after_run(pc, c.byte, false);
        }
    }
    for (size_t s = 0; s < nsizes; s++) {
        double ap, am, fp, fm;
        lat_result(&la[s], &ap, &am);
        lat_result(&lf[s], &fp, &fm);
        printf("scale %zu %.1f %.1f %.1f %.1f %.1f %.1f\n", sizes[s], ap, am, fp, fm,
               ticks_to_ns(la[s].raw.max), ticks_to_ns(lf[s].raw.max));
        lat_reset(&la[s]);
        lat_reset(&lf[s]);
    }
    fflush(stdout);
    munmap(pool, biggest);
    free(obj);
}

/* ------------------------------------------------------------------ */
/* Memory: bookkeeping overhead and max fill                          */
/* ------------------------------------------------------------------ */

typedef struct fill_block {
    void *p;
    size_t size;
    size_t usable; /* usable_size when allocated: what used_bytes counts */
} fill_block;

/* Random allocs (16 B..64 KiB, 2 in 3) and frees (1 in 3) in a fresh pool
 * until the first allocation fails; the largest live byte total reached,
 * as a fraction of the pool. */
static double max_fill(const pool_contender *pc, void *obj, unsigned char *pool, size_t bytes,
                       uint64_t seed)
{
    ak_byte_allocator h = pool_fresh(pc, obj, pool, bytes);
    bench_rng r;
    bench_rng_seed(&r, seed);
    size_t cap = bytes / 16, n = 0, live = 0, live_usable = 0, peak = 0;
    fill_block *set = calloc(cap, sizeof(*set));
    if (!set)
        bench_fail("no harness memory");
    for (;;) {
        if (n && bench_rng_below(&r, 3) == 0) {
            size_t i = bench_rng_below(&r, n);
            ak_error e = ak_byte_dealloc(h, set[i].p, set[i].size, 8);
            if (e != AK_OK)
                bench_fail("%s: max_fill dealloc(%p, size %zu, align 8): %s", pc->name, set[i].p,
                           set[i].size, ak_error_name(e));
            live -= set[i].size;
            live_usable -= set[i].usable;
            set[i] = set[--n];
            continue;
        }
        size_t size = bench_rng_log_uniform(&r, 16, 64 * 1024);
        void *p;
        ak_error e = ak_byte_alloc(h, size, 8, &p);
        if (e == AK_ERR_NO_MEMORY || n == cap)
            break;
        if (e != AK_OK)
            bench_fail("%s: max_fill alloc: %s", pc->name, ak_error_name(e));
        size_t usable = ak_byte_usable_size(h, p, size, 8);
        set[n++] = (fill_block){p, size, usable};
        live += size;
        live_usable += usable;
        peak = live > peak ? live : peak;
    }
    /* used_bytes counts each block at its usable size (core.h). */
    if (ak_byte_used_bytes(h) != live_usable)
        bench_fail("%s: used_bytes %zu but %zu bytes are live (%zu usable)", pc->name,
                   ak_byte_used_bytes(h), live, live_usable);
    const char *bad = ak_byte_check(h);
    if (bad)
        bench_fail("%s: invariant broken at the first failure: %s", pc->name, bad);
    for (size_t i = 0; i < n; i++) {
        ak_error e = ak_byte_dealloc(h, set[i].p, set[i].size, 8);
        if (e != AK_OK)
            bench_fail("%s: max_fill final dealloc(%p, size %zu, align 8): %s", pc->name, set[i].p,
                       set[i].size, ak_error_name(e));
    }
    pool_after_run(pc, h, true);
    free(set);
    return (double)peak / (double)bytes;
}

static void memory_figures(const pool_contender *pc, int repeats)
{
    size_t bytes = 16 * MiB;
    unsigned char *pool = pool_map(bytes, false);
    void *obj = object_new(pc->obj_bytes);
    printf("pool %zu\n", bytes);

    ak_byte_allocator h = pool_fresh(pc, obj, pool, bytes);
    size_t total = ak_byte_total_bytes(h);
    size_t fixed = bytes - total;
    /* Fill with 64-byte blocks: what each costs beyond its 64 bytes. */
    size_t n = 0;
    void *p;
    while (ak_byte_alloc(h, 64, 8, &p) == AK_OK)
        n++;
    if (!n)
        bench_fail("%s: not one 64-byte block fits in 16 MiB", pc->name);
    double per_block = (double)total / (double)n - 64.0;

    double fills[16];
    int k;
    for (k = 0; k < repeats && k < 16; k++)
        fills[k] = max_fill(pc, obj, pool, bytes, SEED + (uint64_t)k);
    qsort(fills, (size_t)k, sizeof(double), cmp_double);
    printf("mem %zu %zu %.1f %.4f\n", fixed, pc->obj_bytes, per_block, fills[k / 2]);
    munmap(pool, bytes);
    free(obj);
}

/* ------------------------------------------------------------------ */
/* Heap map: a fragmented pool drawn from the allocator's walker        */
/* ------------------------------------------------------------------ */

typedef struct map_seg {
    uintptr_t at;
    size_t size;
    bool used;
} map_seg;

typedef struct map_walk {
    map_seg *seg;
    size_t n, cap;
} map_walk;

static void map_collect(uintptr_t start, size_t size, bool used, void *ctx)
{
    map_walk *w = ctx;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->seg = realloc(w->seg, w->cap * sizeof(*w->seg));
        if (!w->seg)
            bench_fail("no harness memory");
    }
    w->seg[w->n++] = (map_seg){start, size, used};
}

/* One rectangle per block and row it covers; used blocks alternate two
 * shades so that neighbours stay distinguishable. */
static void heap_svg(const char *path, const char *name, const unsigned char *pool, size_t bytes,
                     const map_walk *w, size_t used_bytes)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bench_fail("cannot write %s: %s", path, strerror(errno));
    const int width = 1024, rows = 128, top = 40;
    double per_px = (double)bytes / ((double)width * rows);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"13\">\n",
            width + 20, top + rows * 4 + 30);
    fprintf(f,
            "<text x=\"10\" y=\"18\">%s: %zu KiB pool after a fragmenting workload, "
            "%zu blocks, %zu bytes used; one row = %.0f KiB, one pixel = %.0f bytes</text>\n",
            name, bytes / 1024, w->n, used_bytes, per_px * width / 1024, per_px);
    fprintf(f, "<rect x=\"10\" y=\"24\" width=\"10\" height=\"10\" fill=\"#c0392b\"/>"
               "<text x=\"24\" y=\"33\">used</text>"
               "<rect x=\"70\" y=\"24\" width=\"10\" height=\"10\" fill=\"#d5f5e3\" "
               "stroke=\"#999\"/><text x=\"84\" y=\"33\">free</text>\n");
    fprintf(f, "<rect x=\"10\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#eee\"/>\n", top, width,
            rows * 4);
    size_t nused = 0;
    for (size_t i = 0; i < w->n; i++) {
        const map_seg *s = &w->seg[i];
        const char *fill = s->used ? ((nused++ & 1) ? "#c0392b" : "#e67e22") : "#d5f5e3";
        double a = (double)(s->at - (uintptr_t)pool) / per_px;
        double b = (double)(s->at + s->size - (uintptr_t)pool) / per_px;
        while (a < b) {
            int row = (int)(a / width);
            if (row >= rows)
                break;
            double row_end = (double)(row + 1) * width;
            double e = b < row_end ? b : row_end;
            double x = a - (double)row * width;
            double wd = e - a < 0.5 ? 0.5 : e - a;
            fprintf(f, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"3.6\" fill=\"%s\"/>\n",
                    10 + x, top + row * 4, wd, fill);
            a = e;
        }
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

static void heap_map(const pool_contender *pc, const char *outdir)
{
    size_t bytes = 4 * MiB;
    unsigned char *pool = pool_map(bytes, false);
    void *obj = object_new(pc->obj_bytes);
    ak_byte_allocator h = pool_fresh(pc, obj, pool, bytes);
    bench_rng r;
    bench_rng_seed(&r, SEED);
    size_t cap = 1 << 16, n = 0;
    fill_block *set = calloc(cap, sizeof(*set));
    if (!set)
        bench_fail("no harness memory");
    /* Random allocs and frees up to ~70% of the pool, then free a random
     * half of what is live: the classic fragmenting pattern. */
    for (int step = 0; step < 40000 && n < cap; step++) {
        if (n && bench_rng_below(&r, 5) < 2) {
            size_t i = bench_rng_below(&r, n);
            ak_byte_dealloc(h, set[i].p, set[i].size, 8);
            set[i] = set[--n];
            continue;
        }
        size_t size = bench_rng_log_uniform(&r, 16, 16 * 1024);
        if (ak_byte_used_bytes(h) + size > bytes * 7 / 10)
            continue;
        void *p;
        if (ak_byte_alloc(h, size, 8, &p) == AK_OK)
            set[n++] = (fill_block){p, size, 0};
    }
    for (size_t i = 0; i < n;) {
        if (bench_rng_below(&r, 2)) {
            if (ak_byte_dealloc(h, set[i].p, set[i].size, 8) != AK_OK)
                bench_fail("%s: heap_map dealloc failed", pc->name);
            set[i] = set[--n];
        } else {
            i++;
        }
    }
    map_walk w = {0};
    if (ak_byte_walk(h, map_collect, &w) != AK_OK)
        bench_fail("%s has no walker to draw a heap map from", pc->name);
    size_t used_blocks = 0, used_sum = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (w.seg[i].at < (uintptr_t)pool || w.seg[i].at + w.seg[i].size > (uintptr_t)pool + bytes)
            bench_fail("%s: walker reports a block outside the pool", pc->name);
        if (w.seg[i].used) {
            used_blocks++;
            used_sum += w.seg[i].size;
        }
    }
    if (used_blocks != n)
        bench_fail("%s: walker reports %zu used blocks, %zu are live", pc->name, used_blocks, n);
    if (used_sum != ak_byte_used_bytes(h))
        bench_fail("%s: walker's used blocks hold %zu bytes, used_bytes says %zu", pc->name,
                   used_sum, ak_byte_used_bytes(h));
    char path[4096];
    snprintf(path, sizeof(path), "%s/heapmap_%s.svg", outdir, pc->name);
    heap_svg(path, pc->name, pool, bytes, &w, ak_byte_used_bytes(h));
    printf("heapmap %s %zu %zu\n", path, w.n, used_blocks);
    for (size_t i = 0; i < n; i++)
        ak_byte_dealloc(h, set[i].p, set[i].size, 8);
    pool_after_run(pc, h, true);
    free(w.seg);
    free(set);
    munmap(pool, bytes);
    free(obj);
}

/* ------------------------------------------------------------------ */
/* Setting up a (workload, contender) pair                             */
/* ------------------------------------------------------------------ */

/* The pool of a byte workload: its full size at full scale and in the
 * counting runs (so the allocator is set up as in a full run); below full
 * scale in the timed runs, shrunk with the work to a power of two of at
 * least 16 MiB, since pre-touching 128 MiB costs a quick run more than
 * its workloads do. */
static size_t pool_bytes_for(const bench_workload *w, double scale, bool counting)
{
    if (counting || scale >= 1.0)
        return w->pool_bytes;
    size_t want = (size_t)((double)w->pool_bytes * scale), bytes = 16 * MiB;
    while (bytes < want && bytes < w->pool_bytes)
        bytes *= 2;
    return bytes;
}

/* Sets up t for workload w against contender cname ("system" or a pool,
 * page or ID contender); false if this build cannot run the pair. */
static bool target_setup(run_target *t, const bench_workload *w, const char *cname, double scale,
                         bool counting)
{
    memset(t, 0, sizeof(*t));
    const pool_contender *pc = find_pool_contender(cname);
    if (w->kind == BENCH_BYTE) {
        if (!strcmp(cname, "system")) {
            t->prepare = prepare_sys;
            return true;
        }
        if (!pc)
            return false;
        t->pc = pc;
        t->pool_bytes = pool_bytes_for(w, scale, counting);
        t->pool = pool_map(t->pool_bytes, !counting);
        t->obj = object_new(pc->obj_bytes);
        t->prepare = prepare_pool;
        t->finish = finish_pool;
        printf("pool %zu\n", t->pool_bytes);
        return true;
    }
#if AK_HAVE_BITMAP_PAGE
    if (w->kind == BENCH_PAGE && !strcmp(cname, "bitmap_page")) {
        t->obj = object_new(sizeof(ak_bitmap_page));
        t->prepare = prepare_page;
        t->finish = finish_page;
        return true;
    }
#endif
#if AK_HAVE_BITMAP_ID
    if (w->kind == BENCH_ID && !strcmp(cname, "bitmap_id")) {
        t->obj = object_new(sizeof(ak_bitmap_id));
        t->prepare = prepare_id;
        t->finish = finish_id;
        return true;
    }
#endif
    return false;
}

static void target_teardown(run_target *t)
{
    if (t->pool)
        munmap(t->pool, t->pool_bytes);
    free(t->obj);
    memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------------ */
/* Instruction counts (under callgrind)                                */
/* ------------------------------------------------------------------ */

#if AK_BENCH_HAVE_CALLGRIND
/* A counted call with nothing inside: what switching the count on and off
 * around a call costs by itself (the client requests' own instructions),
 * to be taken out of every counted call. */
__attribute__((noinline)) static void count_nothing(bench_ctx *c)
{
    BENCH_CALL(c, (bench_lat *)NULL, (void)0);
}

/* One dump of callgrind's counters, named for the driver to find. */
static void count_dump(const char *wname, const char *cname)
{
    char name[256];
    snprintf(name, sizeof(name), "akcount %s %s", wname, cname);
    CALLGRIND_DUMP_STATS_AT(name);
}

/* akbench-worker --count SCALE WORKLOAD:CONTENDER...: under valgrind
 * --tool=callgrind --instr-atstart=no --collect-atstart=no. For each pair:
 * for a system allocator one uncounted run (the warm-up the timed runs
 * have too), then one run with instrumentation on and collection switched
 * on around each allocator call, dumped as "akcount WORKLOAD CONTENDER";
 * a line "count WORKLOAD CONTENDER OPS CALLS" says what the dump covers.
 * First a calibration, dumped as "akcount calibrate -": 1000 empty counted
 * calls. The pairs share the process's malloc (pool contenders use it
 * only for the harness). */
static int count_main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s --count SCALE WORKLOAD:CONTENDER...\n", argv[0]);
        return 2;
    }
    double scale = atof(argv[2]);
    printf("malloc %s\n", malloc_identity());
    if (!RUNNING_ON_VALGRIND)
        bench_fail("--count runs under valgrind --tool=callgrind");
    bench_ctx c;
    memset(&c, 0, sizeof(c));
    c.hook = true;
    CALLGRIND_ZERO_STATS;
    CALLGRIND_START_INSTRUMENTATION;
    for (int i = 0; i < 1000; i++)
        count_nothing(&c);
    CALLGRIND_STOP_INSTRUMENTATION;
    count_dump("calibrate", "-");
    printf("count calibrate - 1000 %llu\n", (unsigned long long)c.calls);
    fflush(stdout);

    for (int a = 3; a < argc; a++) {
        char wname[128];
        const char *cname = strchr(argv[a], ':');
        if (!cname || (size_t)(cname - argv[a]) >= sizeof(wname))
            bench_fail("not WORKLOAD:CONTENDER: %s", argv[a]);
        memcpy(wname, argv[a], (size_t)(cname - argv[a]));
        wname[cname - argv[a]] = 0;
        cname++;
        const bench_workload *w = bench_find_workload(wname);
        if (!w)
            bench_fail("no workload %s", wname);
        run_target t;
        if (!target_setup(&t, w, cname, scale, true))
            bench_fail("contender %s cannot run workload %s in this build", cname, w->name);
        /* The system allocators keep their state from run to run, so they
         * get the timed runs' warm-up first; a pool contender starts each
         * run fresh, so one would change nothing. */
        if (!t.pc && w->kind == BENCH_BYTE)
            run_once(w, &t, scale, NULL, NULL, &c);
        memset(&c, 0, sizeof(c));
        c.scale = scale;
        c.seed = SEED;
        c.hook = true;
        t.prepare(&t, &c);
        CALLGRIND_ZERO_STATS;
        CALLGRIND_START_INSTRUMENTATION;
        w->run(&c);
        CALLGRIND_STOP_INSTRUMENTATION;
        count_dump(w->name, cname);
        if (t.finish)
            t.finish(&t, &c);
        printf("count %s %s %llu %llu\n", w->name, cname, (unsigned long long)c.ops,
               (unsigned long long)c.calls);
        fflush(stdout);
        target_teardown(&t);
    }
    printf("ok\n");
    return 0;
}
#else
static int count_main(int argc, char **argv)
{
    (void)argc, (void)argv;
    bench_fail("built without <valgrind/callgrind.h>: cannot count instructions");
}
#endif

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--count"))
        return count_main(argc, argv);
    if (argc != 6) {
        fprintf(stderr,
                "usage: %s WORKLOAD CONTENDER RUNS SCALE OUTDIR\n"
                "       %s --count SCALE WORKLOAD:CONTENDER...\n",
                argv[0], argv[0]);
        return 2;
    }
    const char *wname = argv[1], *cname = argv[2], *outdir = argv[5];
    int runs = atoi(argv[3]);
    double scale = atof(argv[4]);
    if (runs < 1 || scale <= 0) {
        fprintf(stderr, "%s: RUNS must be >= 1 and SCALE > 0\n", argv[0]);
        return 2;
    }
    if (bench_mt_is(wname)) {
        /* Threads over the process's malloc: no pool, no per-call clock. */
        printf("malloc %s\n", malloc_identity());
        fflush(stdout);
        if (strcmp(cname, "system") != 0)
            bench_fail("%s runs over the process's malloc (contender system), not %s", wname,
                       cname);
        bench_mt_serve(wname, scale);
        printf("ok\n");
        return 0;
    }
    bench_ticks_init();
    uint64_t over = UINT64_MAX;
    for (int i = 0; i < 1000; i++) {
        uint64_t t0 = bench_ticks(), t1 = bench_ticks();
        over = t1 - t0 < over ? t1 - t0 : over;
    }
    printf("malloc %s\n", malloc_identity());
    printf("timer %s %.4f %.1f\n", bench_ticks_name, bench_ticks_per_ns, ticks_to_ns(over));
    fflush(stdout);

    const pool_contender *pc = find_pool_contender(cname);
    if (!strcmp(wname, "latency_scaling") || !strcmp(wname, "memory") ||
        !strcmp(wname, "heap_map")) {
        if (!pc)
            bench_fail("%s: no pool contender %s in this build", wname, cname);
        if (!strcmp(wname, "latency_scaling"))
            latency_scaling(pc, runs, scale);
        else if (!strcmp(wname, "memory"))
            memory_figures(pc, runs);
        else
            heap_map(pc, outdir);
        printf("ok\n");
        return 0;
    }

    const bench_workload *w = bench_find_workload(wname);
    if (!w)
        bench_fail("no workload %s", wname);
    run_target t;
    if (!target_setup(&t, w, cname, scale, false))
        bench_fail("contender %s cannot run workload %s in this build", cname, wname);
    serve_workload(w, &t, scale);
    printf("ok\n");
    return 0;
}
