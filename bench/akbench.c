/* akbench: `make bench`. Runs every (workload, contender) pair in a worker
 * process of its own (akbench-worker; the system allocators other than
 * glibc come in with LD_PRELOAD, one per process, since they all define
 * malloc), then counts every timed pair's instructions per op under
 * callgrind (workers run by valgrind), prints progress and the comparison
 * tables, checks the targets, and writes results.md, results.csv,
 * chart.svg (gnuplot), the heap maps and callgrind's dumps into the output
 * directory.
 *
 * Environment:
 *   BENCH_QUICK=1     workloads at 1/20, 3 timed runs, no quiet gate
 *                     (under 30 s with the build, on a busy 2-core host)
 *   BENCH_SMOKE=1     tiny scale, for the ctest smoke test
 *   BENCH_FILTER=a,b  workloads and/or contenders (exact name, else
 *                     substring); glibc always runs as the baseline
 *   BENCH_RUNS=N      timed runs per pair (default 3)
 *   BENCH_OUT=DIR     where the files go (default: this build's bench/)
 *   BENCH_NO_RT=1     latency runs without SCHED_FIFO (see worker.c)
 *   BENCH_QUIET_WAIT=S  seconds the quiet gate may wait in all (default 10;
 *                     0: never wait, only record the probe)
 *   BENCH_COUNT=0     no instruction counts
 *   BENCH_COUNT_SCALE=F  the counting runs' scale (default COUNT_SCALE)
 *   BENCH_MT_THREADS=1,2,4  thread counts of the multi-threaded workloads
 *                     (default 1,2,4; 2 under QUICK and SMOKE)
 *   BENCH_MT_SCALE=F  their scale (default: the mode's)
 *
 * `akbench --probe` only runs the memory probe (see mem_probe_ns) and
 * prints its two figures.
 */
#include <allockit/core.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AK_BENCH_OUT_DIR
#define AK_BENCH_OUT_DIR "."
#endif
#ifndef AK_BENCH_COMPILER
#define AK_BENCH_COMPILER "unknown"
#endif
#ifndef AK_BENCH_SOURCE_DIR
#define AK_BENCH_SOURCE_DIR "."
#endif
#ifndef AK_BENCH_BUILD_TYPE
#define AK_BENCH_BUILD_TYPE ""
#endif
#ifndef AK_BENCH_JEMALLOC
#define AK_BENCH_JEMALLOC ""
#endif
#ifndef AK_BENCH_MIMALLOC
#define AK_BENCH_MIMALLOC ""
#endif
#ifndef AK_BENCH_TCMALLOC
#define AK_BENCH_TCMALLOC ""
#endif
#ifndef AK_BENCH_HAVE_CALLGRIND
#define AK_BENCH_HAVE_CALLGRIND 0
#endif
#ifndef AK_BENCH_AKMALLOC
#define AK_BENCH_AKMALLOC ""
#endif

/* ------------------------------------------------------------------ */
/* What there is to run                                               */
/* ------------------------------------------------------------------ */

typedef enum kind { K_BYTE, K_PAGE, K_ID, K_SCALING, K_MEMORY, K_HEAPMAP, K_MT } kind;
/* C_AKM: libakmalloc.so with one of allockit's allocators, LD_PRELOADed
 * like the system allocators (multi-threaded workloads only). */
typedef enum ckind { C_SYS, C_POOL, C_PAGE, C_ID, C_AKM } ckind;

typedef struct workload {
    const char *name;
    kind kind;
    const char *what;
    int threads; /* K_MT: threads the workload runs (its name ends in _tN) */
} workload;

static const workload workloads[] = {
    {"vec_push_3M", K_BYTE, "push 3M u32, vector grows by alloc-copy-free; op = push", 0},
    {"vec_rand_free_25K_64", K_BYTE, "25K blocks of 64 u64, freed shuffled; op = block", 0},
    {"vec_rand_free_7500_520", K_BYTE, "7500 blocks of 520 u64, freed shuffled; op = block", 0},
    {"btree_map_50K", K_BYTE, "50K B-tree ops, \"key_%u\" keys, 1 in 5 pop-first; op = map op", 0},
    {"small_churn", K_BYTE, "8..256 B, 10M calls, 100K live; op = alloc+free", 0},
    {"small_churn_hot", K_BYTE, "small_churn's mix, 1M calls, 1K live (in L2); op = alloc+free", 0},
    {"mixed_aligned", K_BYTE, "8 B..64 KiB log-uniform, align 8..4096; op = alloc+free", 0},
    {"page_single_1M", K_PAGE, "1M single pages, freed in random order; op = alloc+free", 0},
    {"page_mixed", K_PAGE, "1..64-page runs aligned to 1..512 pages; op = alloc+free", 0},
    {"page_64_aligned", K_PAGE, "64-page runs aligned to 64 pages, 1 GiB live; op = alloc+free", 0},
    {"id_churn_1M", K_ID, "1M ID alloc+free pairs, half the IDs live; op = alloc+free", 0},
    {"latency_scaling", K_SCALING, "worst-case call latency, 1 MiB vs 32 MiB vs 1 GiB pool", 0},
    {"memory", K_MEMORY, "bookkeeping overhead and max fill of a 16 MiB pool", 0},
    {"heap_map", K_HEAPMAP, "SVG map of a fragmented 4 MiB pool, from the walker", 0},
/* clang-format off */
#define MT_WORKLOAD(name, what) \
    {name "_t1", K_MT, what, 1}, {name "_t2", K_MT, what, 2}, {name "_t4", K_MT, what, 4}
    /* clang-format on */
    MT_WORKLOAD("mt_larson", "server churn: each thread replaces random slots of its 1,000 blocks "
                             "(16..1000 B); every quarter of the work a new thread takes over the "
                             "array and frees what the old one allocated"),
    MT_WORKLOAD("mt_xmalloc", "producer/consumer: half the threads allocate batches of 64 blocks "
                              "(16..512 B), the other half free them (1 thread: both, in turn)"),
    MT_WORKLOAD("mt_glibc_thread", "per-thread loops: each thread replaces random slots of its "
                                   "own 32 blocks of 16..1024 B, nothing shared"),
    MT_WORKLOAD("mt_cache_scratch", "false sharing: each thread frees an 8-byte object the main "
                                    "thread allocated next to the others', then allocates, "
                                    "updates 100 times and frees its own, over and over"),
#undef MT_WORKLOAD
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

typedef struct contender {
    const char *name;
    ckind kind;
    const char *preload; /* C_SYS: the library to LD_PRELOAD, "" for glibc */
    bool built;          /* pool/page/id: compiled into this build */
    bool walker;         /* can draw a heap map (tlsf, buddy, slab) */
    bool bounded;        /* promises a bound on a call's time: latency_scaling */
} contender;

static const contender contenders[] = {
    {"glibc", C_SYS, "", true, false, false},
    {"jemalloc", C_SYS, AK_BENCH_JEMALLOC, true, false, false},
    {"mimalloc", C_SYS, AK_BENCH_MIMALLOC, true, false, false},
    {"tcmalloc", C_SYS, AK_BENCH_TCMALLOC, true, false, false},
    {"tlsf", C_POOL, NULL, AK_HAVE_TLSF, true, true},
    {"buddy", C_POOL, NULL, AK_HAVE_BUDDY, true, true},
    {"slab", C_POOL, NULL, AK_HAVE_SLAB, true, false},
    {"bitmap_page", C_PAGE, NULL, AK_HAVE_BITMAP_PAGE, false, false},
    {"bitmap_id", C_ID, NULL, AK_HAVE_BITMAP_ID, false, false},
    {"akmalloc-tlsf", C_AKM, AK_BENCH_AKMALLOC, AK_HAVE_TLSF, false, false},
    {"akmalloc-buddy", C_AKM, AK_BENCH_AKMALLOC, AK_HAVE_BUDDY, false, false},
    {"akmalloc-slab", C_AKM, AK_BENCH_AKMALLOC, AK_HAVE_SLAB, false, false},
};
#define NCONTENDERS (sizeof(contenders) / sizeof(contenders[0]))

static bool runs_on(const workload *w, const contender *c)
{
    switch (w->kind) {
    case K_BYTE:
        return c->kind == C_SYS || c->kind == C_POOL;
    case K_PAGE:
        return c->kind == C_PAGE;
    case K_ID:
        return c->kind == C_ID;
    case K_SCALING:
        return c->kind == C_POOL && c->bounded;
    case K_MEMORY:
        return c->kind == C_POOL;
    case K_HEAPMAP:
        return c->kind == C_POOL && c->walker;
    case K_MT:
        return c->kind == C_SYS || c->kind == C_AKM;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Results                                                            */
/* ------------------------------------------------------------------ */

enum { ST_PENDING, ST_OK, ST_FAIL, ST_SKIP };

#define MAXRUNS   64
#define MAX_GATED MAXRUNS /* probe readings kept per workload (one per round) */

typedef struct task {
    const workload *w;
    const contender *c;
    int status;
    char msg[300];
    size_t pool_bytes;
    double ns_op[MAXRUNS];
    double cpu_op[MAXRUNS]; /* K_MT: CPU ns per op of the process (all threads) */
    int nruns;
    double med, min, max;
    double cpu_med, cpu_min, cpu_max, busy; /* K_MT; busy: median CPUs busy (CPU / wall) */
    double ops;                             /* ops of the last timed run */
    bool have_lat;
    double lat[4];     /* alloc p99.9, alloc max, free p99.9, free max (ns) */
    double lat_raw[2]; /* alloc, free: largest single sample as measured */
    int nscale;
    double scale[3][7]; /* pool bytes, alloc p999, alloc max, free p999, free max, raw a, raw f */
    bool have_mem;
    double mem[4]; /* fixed bytes, object bytes, per-64B-block bytes, max fill */
    char heapmap[512];
    char note[160];      /* target marks shown next to the ratio */
    int count_status;    /* instructions per op: ST_PENDING (not counted), ST_OK, ST_FAIL */
    double instr;        /* instructions per op, the counting switch taken out */
    char count_msg[200]; /* why there is no count */
    double seconds;
    int replays; /* latency_scaling: how many */
} task;

static task tasks[NWORKLOADS * NCONTENDERS];
static size_t ntasks;

static char timer_name[64] = "?";
static int rt_seen = -1; /* latency runs under SCHED_FIFO: 1 all, 0 some not */
static double timer_overhead_ns = -1;

static task *find_task(const char *w, const char *c)
{
    for (size_t i = 0; i < ntasks; i++)
        if (!strcmp(tasks[i].w->name, w) && !strcmp(tasks[i].c->name, c))
            return &tasks[i];
    return NULL;
}

static task *find_ok(const char *w, const char *c)
{
    task *t = find_task(w, c);
    return t && t->status == ST_OK ? t : NULL;
}

/* t's median over the median of contender `base` on the same workload
 * (byte and multi-threaded workloads); -1 when there is none. */
static double ratio_to(const task *t, const char *base)
{
    const task *g = find_ok(t->w->name, base);
    if ((t->w->kind != K_BYTE && t->w->kind != K_MT) || !g || t->status != ST_OK || g->med <= 0)
        return -1;
    return t->med / g->med;
}

static double ratio_to_glibc(const task *t)
{
    return ratio_to(t, "glibc");
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */
/* ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median, min and max of the n > 0 values at x (sorted in a copy). */
static void summarize(const double *x, int n, double *med, double *min, double *max)
{
    double v[MAX_GATED];
    memcpy(v, x, (size_t)n * sizeof(double));
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    *min = v[0];
    *max = v[n - 1];
    *med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool env_on(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0") != 0;
}

/* Terminal and results.md get the same lines; out() writes to both. */
static FILE *md;
__attribute__((format(printf, 1, 2))) static void out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (md) {
        va_start(ap, fmt);
        vfprintf(md, fmt, ap);
        va_end(ap);
    }
}

static void fmt_ns(char *buf, size_t n, double v)
{
    if (v < 0)
        snprintf(buf, n, "-");
    else if (v < 10)
        snprintf(buf, n, "%.2f", v);
    else if (v < 1000)
        snprintf(buf, n, "%.1f", v);
    else
        snprintf(buf, n, "%.0f", v);
}

static void cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5) ||
            !strncmp(line, "uarch", 5)) {
            char *v = strchr(line, ':');
            if (v) {
                v++;
                while (*v == ' ' || *v == '\t')
                    v++;
                v[strcspn(v, "\n")] = 0;
                snprintf(buf, n, "%s", v);
                break;
            }
        }
    }
    fclose(f);
}

static void read_first_line(const char *path, char *buf, size_t n)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(buf, (int)n, f))
            buf[strcspn(buf, "\n")] = 0;
        fclose(f);
    }
}

/* ------------------------------------------------------------------ */
/* Memory probe                                                       */
/* ------------------------------------------------------------------ */

/* A random cycle through the cache lines of a `bytes` buffer (Sattolo's
 * shuffle), for chasing: each line holds the address of the next. NULL if
 * it cannot be built. */
static unsigned char *ring_build(size_t bytes)
{
    enum { LINE = 64 };
    size_t n = bytes / LINE;
    if (n < 2)
        return NULL;
    unsigned char *buf = aligned_alloc(LINE, n * LINE);
    size_t *order = malloc(n * sizeof(size_t));
    if (!buf || !order) {
        free(buf);
        free(order);
        return NULL;
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t j = (size_t)(x % i);
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        void *next = buf + order[(i + 1) % n] * LINE;
        memcpy(buf + order[i] * LINE, &next, sizeof(next));
    }
    free(order);
    return buf;
}

/* Nanoseconds per load over `steps` dependent loads along the ring, from
 * *pos on (left where it stopped). */
static double ring_chase(void **pos, size_t steps)
{
    void *q = *pos;
    double t0 = now_s();
    for (size_t i = 0; i < steps; i++)
        q = *(void **)q;
    double ns = (now_s() - t0) * 1e9 / (double)steps;
    *(void *volatile *)pos = q;
    return ns;
}

/* The memory probe: nanoseconds per dependent load chasing a random cycle
 * through the cache lines of a `bytes` buffer. With half the last-level
 * cache it shows how much of that cache the other tenants of the host
 * leave us; with a buffer well past it, memory latency. Neither shows in
 * CPU time, and small_churn moves with both. Returns 0 if it cannot run. */
static double mem_probe_ns(size_t bytes)
{
    unsigned char *buf = ring_build(bytes);
    if (!buf)
        return 0;
    void *pos = buf;
    ring_chase(&pos, (size_t)1 << 18); /* warm the caches and the TLB */
    double ns = ring_chase(&pos, (size_t)1 << 19);
    free(buf);
    return ns;
}

/* The probe before each round of timed runs: a ring of half the
 * last-level cache (at most PROBE_CACHE_MAX), kept for the whole run. The
 * runs before it evict the ring, so each probe first walks the whole ring
 * once (loading it back into whatever cache the host leaves us) and then
 * times 2^16 loads: about 5 ms on a quiet host, 80 ms on a busy one. */
static unsigned char *round_ring;
static void *round_pos;
static size_t round_lines;

static double round_probe_ns(void)
{
    ring_chase(&round_pos, round_lines);
    return ring_chase(&round_pos, (size_t)1 << 16);
}

/* The quiet gate. A round of timed runs (one run of every contender of a
 * workload, back to back) starts when the probe reads at most
 * QUIET_FACTOR times the lowest reading so far; until then the driver
 * waits, probing every 0.2 s, as long as the budget (BENCH_QUIET_WAIT
 * seconds for the whole run) lasts. All contenders' runs of a round start
 * behind the same gate, so no contender is favoured; what it removes is
 * the other tenants' bursts, which move cache-bound figures by 2x or
 * more. Per workload, the reading each round started with is kept for the
 * report. One probe per round rather than per run: a probe costs as much
 * as a quick run, and the rounds are short. */
#define QUIET_FACTOR 2.0
#define QUIET_WAIT   10.0 /* default budget, seconds */
static double quiet_low, quiet_budget, quiet_waited;
static int quiet_rounds, quiet_late;
static double run_probe[NWORKLOADS][MAX_GATED];
static int run_probes[NWORKLOADS];

static void quiet_gate(size_t wi)
{
    if (!round_ring)
        return;
    double p = round_probe_ns();
    while (p > QUIET_FACTOR * quiet_low && quiet_budget > 0) {
        double t0 = now_s();
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        p = round_probe_ns();
        double dt = now_s() - t0;
        quiet_budget -= dt;
        quiet_waited += dt;
    }
    quiet_rounds++;
    quiet_late += p > QUIET_FACTOR * quiet_low;
    if (p < quiet_low)
        quiet_low = p;
    if (run_probes[wi] < MAX_GATED)
        run_probe[wi][run_probes[wi]++] = p;
}

/* Half the last-level cache (what a quiet host leaves to one process of
 * this benchmark): from sysfs, as lscpu reads it (a virtual machine's
 * sysconf can report the host's whole cache, 508 MiB on one EPYC guest),
 * else sysconf; at most (and when unknown) PROBE_CACHE_MAX, since every
 * round of timed runs walks the whole ring once. */
#define PROBE_CACHE_MAX ((size_t)8 << 20)
static size_t probe_cache_bytes(void)
{
    size_t best = 0;
    unsigned best_level = 0;
    for (int i = 0; i < 8; i++) {
        char path[96], line[64];
        unsigned level;
        unsigned long kib;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        read_first_line(path, line, sizeof(line));
        if (sscanf(line, "%u", &level) != 1)
            continue;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        read_first_line(path, line, sizeof(line));
        if (sscanf(line, "%luK", &kib) != 1)
            continue;
        if (level > best_level) {
            best_level = level;
            best = (size_t)kib << 10;
        }
    }
#ifdef _SC_LEVEL3_CACHE_SIZE
    if (!best) {
        long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
        best = l3 > 0 ? (size_t)l3 : 0;
    }
#endif
    size_t half = best > ((size_t)2 << 20) ? best / 2 : PROBE_CACHE_MAX;
    return half < PROBE_CACHE_MAX ? half : PROBE_CACHE_MAX;
}

/* Well past the last-level cache of one core complex, whose latency it
 * reads; bigger only costs time (building the ring is a random walk too). */
#define PROBE_MEM_BYTES ((size_t)64 << 20)

/* Busy and total jiffies of the whole machine (from /proc/stat). */
static bool cpu_jiffies(double *busy, double *total)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return false;
    unsigned long long v[8] = {0};
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                     &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got < 5)
        return false;
    double t = 0;
    for (int i = 0; i < 8; i++)
        t += (double)v[i];
    *total = t;
    *busy = t - (double)v[3] - (double)v[4];
    return true;
}

static double own_cpu_seconds(void)
{
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    getrusage(RUSAGE_CHILDREN, &b);
    return (double)a.ru_utime.tv_sec + a.ru_utime.tv_usec * 1e-6 + a.ru_stime.tv_sec +
           a.ru_stime.tv_usec * 1e-6 + b.ru_utime.tv_sec + b.ru_utime.tv_usec * 1e-6 +
           b.ru_stime.tv_sec + b.ru_stime.tv_usec * 1e-6;
}

static bool have_program(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* ------------------------------------------------------------------ */
/* Selection                                                          */
/* ------------------------------------------------------------------ */

static bool wsel[NWORKLOADS], csel[NCONTENDERS];

/* A token selects the workloads and contenders it names exactly; if it
 * names none, those whose name contains it. */
static bool apply_filter(const char *filter)
{
    bool any_w = false, any_c = false, ok = true;
    bool tw[NWORKLOADS] = {0}, tc[NCONTENDERS] = {0};
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", filter);
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        bool hit = false;
        for (int pass = 0; pass < 2 && !hit; pass++) {
            for (size_t i = 0; i < NWORKLOADS; i++)
                if (pass ? strstr(workloads[i].name, tok) != NULL : !strcmp(workloads[i].name, tok))
                    tw[i] = hit = any_w = true;
            for (size_t i = 0; i < NCONTENDERS; i++)
                if (pass ? strstr(contenders[i].name, tok) != NULL
                         : !strcmp(contenders[i].name, tok))
                    tc[i] = hit = any_c = true;
        }
        if (!hit) {
            fprintf(stderr, "BENCH_FILTER: \"%s\" names no workload or contender\n", tok);
            ok = false;
        }
    }
    for (size_t i = 0; i < NWORKLOADS; i++)
        wsel[i] = any_w ? tw[i] : true;
    for (size_t i = 0; i < NCONTENDERS; i++)
        csel[i] = any_c ? tc[i] : true;
    if (any_c) {
        /* A filter on contenders alone keeps only workloads they run. */
        if (!any_w)
            for (size_t i = 0; i < NWORKLOADS; i++) {
                bool used = false;
                for (size_t j = 0; j < NCONTENDERS; j++)
                    used = used || (csel[j] && runs_on(&workloads[i], &contenders[j]));
                wsel[i] = used;
            }
        csel[0] = true; /* glibc: the baseline of every ratio */
    }
    return ok;
}

/* ------------------------------------------------------------------ */
/* Running one task                                                   */
/* ------------------------------------------------------------------ */

static char worker_path[4096];
static char out_dir[4096];

static const char *expected_malloc(const contender *c)
{
    return c->kind == C_SYS || c->kind == C_AKM ? c->name : "glibc";
}

/* The process's own malloc: the workers of these contenders run "system". */
static bool preloads(const contender *c)
{
    return c->kind == C_SYS || c->kind == C_AKM;
}

static bool timed_kind(kind k)
{
    return k == K_BYTE || k == K_PAGE || k == K_ID || k == K_MT;
}

/* A worker process: its stdin takes commands, its stdout gives lines. */
typedef struct worker {
    task *t;
    pid_t pid;
    int to;
    FILE *from;
    bool ok; /* said "ok" */
    double t0;
} worker;

/* Take in one line from a worker. */
static void parse_line(worker *wk, char *line)
{
    task *t = wk->t;
    line[strcspn(line, "\n")] = 0;
    char a[256], b[256];
    double x[8];
    if (!strncmp(line, "fail ", 5)) {
        t->status = ST_FAIL;
        snprintf(t->msg, sizeof(t->msg), "%.290s", line + 5);
    } else if (sscanf(line, "malloc %255s", a) == 1) {
        if (strcmp(a, expected_malloc(t->c)) != 0) {
            t->status = ST_FAIL;
            snprintf(t->msg, sizeof(t->msg), "worker runs %s's malloc, expected %s", a,
                     expected_malloc(t->c));
        }
    } else if (sscanf(line, "timer %63s %lf %lf", a, &x[0], &x[1]) == 3) {
        snprintf(timer_name, sizeof(timer_name), "%.60s", a);
        if (timer_overhead_ns < 0 || x[1] < timer_overhead_ns)
            timer_overhead_ns = x[1];
    } else if (sscanf(line, "rt %lf", &x[0]) == 1) {
        rt_seen = rt_seen == 0 ? 0 : (x[0] != 0);
    } else if (sscanf(line, "pool %lf", &x[0]) == 1) {
        t->pool_bytes = (size_t)x[0];
    } else if (sscanf(line, "run %lf %lf %lf %lf", &x[0], &x[1], &x[2], &x[3]) >= 3) {
        /* multi-threaded workloads: x[1] wall ns, x[3] CPU ns */
        if (t->nruns < MAXRUNS && x[2] > 0) {
            t->ops = x[2];
            t->cpu_op[t->nruns] = t->w->kind == K_MT ? x[3] / x[2] : 0;
            t->ns_op[t->nruns++] = x[1] / x[2];
        }
    } else if (sscanf(line, "lat %255s %lf %lf %lf %lf", a, &x[0], &x[1], &x[2], &x[3]) == 5) {
        int k = strcmp(a, "alloc") == 0 ? 0 : 2;
        t->lat[k] = x[1];
        t->lat[k + 1] = x[2];
        t->lat_raw[k / 2] = x[3];
        t->have_lat = true;
    } else if (sscanf(line, "scale %lf %lf %lf %lf %lf %lf %lf", &x[0], &x[1], &x[2], &x[3], &x[4],
                      &x[5], &x[6]) == 7) {
        if (t->nscale < 3)
            memcpy(t->scale[t->nscale++], x, 7 * sizeof(double));
    } else if (sscanf(line, "mem %lf %lf %lf %lf", &x[0], &x[1], &x[2], &x[3]) == 4) {
        memcpy(t->mem, x, sizeof(t->mem));
        t->have_mem = true;
    } else if (sscanf(line, "heapmap %255s %255s", a, b) == 2) {
        snprintf(t->heapmap, sizeof(t->heapmap), "%s", a);
    } else if (!strcmp(line, "ok")) {
        wk->ok = true;
    }
}

static bool spawn(worker *wk, task *t, int runs, double scale)
{
    memset(wk, 0, sizeof(*wk));
    wk->t = t;
    wk->to = -1;
    wk->t0 = now_s();
    int in[2], outp[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        goto fail;
    if (pipe2(outp, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        goto fail;
    }
    char runs_s[16], scale_s[32];
    snprintf(runs_s, sizeof(runs_s), "%d", runs);
    snprintf(scale_s, sizeof(scale_s), "%g", scale);
    const char *wc = preloads(t->c) ? "system" : t->c->name;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(outp[1], 1);
        if (preloads(t->c) && t->c->preload[0])
            setenv("LD_PRELOAD", t->c->preload, 1);
        else
            unsetenv("LD_PRELOAD");
        /* libakmalloc.so: which of allockit's allocators it runs */
        if (t->c->kind == C_AKM)
            setenv("AK_MALLOC", t->c->name + strlen("akmalloc-"), 1);
        else
            unsetenv("AK_MALLOC");
        execl(worker_path, worker_path, t->w->name, wc, runs_s, scale_s, out_dir, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    if (pid < 0) {
        close(in[1]);
        close(outp[0]);
        goto fail;
    }
    wk->pid = pid;
    wk->to = in[1];
    wk->from = fdopen(outp[0], "r");
    return true;
fail:
    t->status = ST_FAIL;
    snprintf(t->msg, sizeof(t->msg), "cannot start the worker");
    return false;
}

/* Read lines until one starts with `prefix` (true) or the worker's output
 * ends (false). */
static bool read_until(worker *wk, const char *prefix)
{
    char line[1024];
    while (wk->from && fgets(line, sizeof(line), wk->from)) {
        bool hit = prefix && !strncmp(line, prefix, strlen(prefix));
        parse_line(wk, line);
        if (hit)
            return true;
    }
    return false;
}

static void send(worker *wk, const char *cmd)
{
    if (wk->to >= 0 && write(wk->to, cmd, strlen(cmd)) < 0) {
        close(wk->to);
        wk->to = -1;
    }
}

/* Drain the worker's output, reap it, and settle the task's status and
 * figures. */
static void finish(worker *wk, int runs)
{
    task *t = wk->t;
    if (wk->to >= 0)
        close(wk->to);
    wk->to = -1;
    if (wk->from) {
        read_until(wk, NULL);
        fclose(wk->from);
        wk->from = NULL;
    }
    int st = 0;
    if (wk->pid > 0 && waitpid(wk->pid, &st, 0) < 0)
        st = -1;
    wk->pid = 0;
    t->seconds += now_s() - wk->t0;
    if (t->status == ST_PENDING && (!wk->ok || st != 0)) {
        t->status = ST_FAIL;
        if (st != -1 && WIFSIGNALED(st))
            snprintf(t->msg, sizeof(t->msg), "worker killed by signal %d", WTERMSIG(st));
        else
            snprintf(t->msg, sizeof(t->msg), "worker exited with status %d",
                     st == -1 ? -1 : WEXITSTATUS(st));
    }
    if (t->status == ST_PENDING)
        t->status = ST_OK;
    if (t->nruns)
        summarize(t->ns_op, t->nruns, &t->med, &t->min, &t->max);
    if (t->nruns && t->w->kind == K_MT) {
        double busy[MAXRUNS], dummy;
        summarize(t->cpu_op, t->nruns, &t->cpu_med, &t->cpu_min, &t->cpu_max);
        for (int i = 0; i < t->nruns; i++)
            busy[i] = t->ns_op[i] > 0 ? t->cpu_op[i] / t->ns_op[i] : 0;
        summarize(busy, t->nruns, &t->busy, &dummy, &dummy);
    }
    if (t->status == ST_OK && timed_kind(t->w->kind) && t->nruns != runs) {
        t->status = ST_FAIL;
        snprintf(t->msg, sizeof(t->msg), "%d timed runs reported, %d expected", t->nruns, runs);
    }
}

/* The timed workloads: one worker per contender, all set up first, then
 * the timed runs round-robin across contenders, then each one's checking
 * runs. */
static void run_group(task **g, size_t n, int runs, double scale)
{
    worker wk[NCONTENDERS];
    bool live[NCONTENDERS];
    for (size_t k = 0; k < n; k++) {
        live[k] = spawn(&wk[k], g[k], runs, scale);
        if (live[k] && !read_until(&wk[k], "ready")) {
            finish(&wk[k], runs);
            live[k] = false;
        }
    }
    size_t wi = (size_t)(g[0]->w - workloads);
    for (int r = 0; r < runs; r++) {
        /* Not before the threaded workloads: what moves their wall time is
         * other processes' CPU use, which the probe does not see, and their
         * 36 rounds would cost seconds of probing. */
        if (g[0]->w->kind != K_MT)
            quiet_gate(wi);
        for (size_t k = 0; k < n; k++) {
            if (!live[k])
                continue;
            send(&wk[k], "run\n");
            if (!read_until(&wk[k], "run ")) {
                finish(&wk[k], runs);
                live[k] = false;
            }
        }
    }
    for (size_t k = 0; k < n; k++)
        if (live[k]) {
            send(&wk[k], "check\n");
            finish(&wk[k], runs);
        }
}

/* The one-shot tasks (latency_scaling, memory, heap_map). */
static void run_single(task *t, int repeats, double scale)
{
    worker wk;
    if (spawn(&wk, t, repeats, scale))
        finish(&wk, repeats);
}

/* ------------------------------------------------------------------ */
/* Instruction counts                                                 */
/* ------------------------------------------------------------------ */

/* Each contender's timed workloads run once more, in a worker of its own
 * under callgrind (akbench-worker --count), with counting switched on only
 * inside the allocator calls of the measured part. The count does not
 * move with the host's load, so a target set on it holds or misses the
 * same way on every run. The workloads run at a scale of their own
 * (COUNT_SCALE of the full run, whatever the mode): per-op counts settle
 * long before the full size, and callgrind runs some 50x slower than the
 * machine. Workers run in parallel, one per CPU: the counts do not care. */
#define COUNT_SCALE 0.03

/* One counting worker: the pairs it counts, all under one malloc (the
 * host's: glibc for allockit's contenders, whose pools need no malloc). */
typedef struct count_job {
    const contender *host;
    task *t[NWORKLOADS * NCONTENDERS]; /* in order */
    size_t n;
    char prefix[4200]; /* files: PREFIX.out, .log, .cg.N (callgrind's dumps) */
    pid_t pid;
} count_job;

static const char *worker_contender(const contender *c)
{
    return c->kind == C_SYS ? "system" : c->name;
}

static char count_why[200]; /* set: the counts were skipped, and why */
static double count_scale, count_seconds;
static double count_switch = -1; /* instructions of the counting switch per call */

static pid_t count_spawn(count_job *j, double scale)
{
    char out[4300], log[4300], cg[4400], scale_s[32];
    snprintf(out, sizeof(out), "%s.out", j->prefix);
    snprintf(log, sizeof(log), "%s.log", j->prefix);
    snprintf(cg, sizeof(cg), "--callgrind-out-file=%s.cg", j->prefix);
    snprintf(scale_s, sizeof(scale_s), "%g", scale);
    static char pairs[NWORKLOADS * NCONTENDERS][128];
    const char *argv[NWORKLOADS * NCONTENDERS + 16];
    int a = 0;
    argv[a++] = "valgrind";
    argv[a++] = "--tool=callgrind";
    argv[a++] = "--instr-atstart=no";
    argv[a++] = "--collect-atstart=no";
    argv[a++] = cg;
    argv[a++] = worker_path;
    argv[a++] = "--count";
    argv[a++] = scale_s;
    for (size_t k = 0; k < j->n; k++) {
        snprintf(pairs[k], sizeof(pairs[k]), "%s:%s", j->t[k]->w->name,
                 worker_contender(j->t[k]->c));
        argv[a++] = pairs[k];
    }
    argv[a] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fi = open("/dev/null", O_RDONLY);
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fi < 0 || fo < 0 || fe < 0)
            _exit(126);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        /* The same addresses on every run, so that no count depends on
         * where the kernel happens to map memory (mimalloc's moved with
         * address randomisation). */
        int pers = personality(0xffffffff);
        if (pers != -1)
            personality((unsigned long)pers | ADDR_NO_RANDOMIZE);
        if (j->host->preload[0])
            setenv("LD_PRELOAD", j->host->preload, 1);
        else
            unsetenv("LD_PRELOAD");
        execvp("valgrind", (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* The total of callgrind's dump named `want` among PREFIX.cg.1, .2, ... */
static bool count_dump_total(const char *prefix, const char *want, double *total)
{
    for (int k = 1; k < 2 * (int)(NWORKLOADS * NCONTENDERS); k++) {
        char path[4300], line[512], name[300] = "";
        double tot = -1;
        snprintf(path, sizeof(path), "%s.cg.%d", prefix, k);
        FILE *f = fopen(path, "r");
        if (!f)
            return false;
        while (fgets(line, sizeof(line), f)) {
            if (!strncmp(line, "desc: Trigger: Client Request: ", 31)) {
                snprintf(name, sizeof(name), "%.290s", line + 31);
                name[strcspn(name, "\n")] = 0;
            } else if (sscanf(line, "totals: %lf", &tot) == 1) {
                break;
            }
        }
        fclose(f);
        if (!strcmp(name, want)) {
            *total = tot;
            return tot >= 0;
        }
    }
    return false;
}

__attribute__((format(printf, 2, 3))) static void count_fail(task *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->count_msg, sizeof(t->count_msg), fmt, ap);
    va_end(ap);
    t->count_status = ST_FAIL;
}

/* Read a finished job's output and dumps. The workloads it did not reach
 * after a failure go into *retry (a job of their own), so that one
 * failing workload costs no other its count. */
static void count_finish(count_job *j, int st, count_job *retry)
{
    char path[4300], line[512], fail[300] = "", who[64] = "";
    snprintf(path, sizeof(path), "%s.out", j->prefix);
    FILE *f = fopen(path, "r");
    size_t done = 0;
    double sw = -1;
    while (f && fgets(line, sizeof(line), f)) {
        char w[128], c[128];
        double ops, calls, total = 0;
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "fail ", 5)) {
            snprintf(fail, sizeof(fail), "%.290s", line + 5);
        } else if (sscanf(line, "malloc %63s", who) == 1) {
            if (strcmp(who, j->host->name) != 0)
                break;
        } else if (sscanf(line, "count %127s %127s %lf %lf", w, c, &ops, &calls) == 4) {
            char want[300];
            snprintf(want, sizeof(want), "akcount %s %s", w, c);
            if (!count_dump_total(j->prefix, want, &total))
                continue;
            if (!strcmp(w, "calibrate")) {
                sw = calls > 0 ? total / calls : -1;
                if (count_switch < 0 || sw > count_switch)
                    count_switch = sw;
            } else if (done < j->n && !strcmp(w, j->t[done]->w->name) &&
                       !strcmp(c, worker_contender(j->t[done]->c)) && sw >= 0 && ops > 0) {
                task *t = j->t[done++];
                t->instr = (total - calls * sw) / ops;
                t->count_status = ST_OK;
            }
        }
    }
    if (f)
        fclose(f);
    if (done == j->n)
        return;
    task *t = j->t[done];
    if (who[0] && strcmp(who, j->host->name) != 0)
        count_fail(t, "the counting worker runs %s's malloc, expected %s", who, j->host->name);
    else if (fail[0])
        count_fail(t, "%s", fail);
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        count_fail(t, "valgrind could not be started");
    else if (WIFSIGNALED(st))
        count_fail(t, "counting worker killed by signal %d (%s.log)", WTERMSIG(st), j->prefix);
    else
        count_fail(t, "counting worker exited with status %d, no count (%s.log)",
                   WIFEXITED(st) ? WEXITSTATUS(st) : -1, j->prefix);
    if (done + 1 < j->n && retry) {
        memset(retry, 0, sizeof(*retry));
        retry->host = j->host;
        for (size_t k = done + 1; k < j->n; k++)
            retry->t[retry->n++] = j->t[k];
        snprintf(retry->prefix, sizeof(retry->prefix), "%.4100s.%zu", j->prefix, done + 1);
    }
}

/* The counting runs of every timed pair whose timed runs went well. */
static void count_all(double scale)
{
    count_scale = scale;
    const char *e = getenv("BENCH_COUNT");
    if (e && !strcmp(e, "0")) {
        snprintf(count_why, sizeof(count_why), "BENCH_COUNT=0");
    } else if (!AK_BENCH_HAVE_CALLGRIND) {
        snprintf(count_why, sizeof(count_why),
                 "akbench-worker was built without <valgrind/callgrind.h> (Debian: valgrind; "
                 "make bench installs it as root), so it cannot switch the count on and off");
    } else if (!have_program("valgrind")) {
        snprintf(count_why, sizeof(count_why),
                 "valgrind is not installed (Debian: valgrind; make bench installs it as root)");
    }
    /* allockit's contenders in one worker (under glibc), started first as
     * the longest; each system allocator in one of its own. */
    static count_job jobs[2 * NCONTENDERS * NWORKLOADS];
    size_t njobs = 0;
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/callgrind", out_dir);
    for (int pass = 0; pass < 2 && !count_why[0]; pass++) {
        for (size_t k = 0; k < NCONTENDERS; k++) {
            const contender *c = &contenders[k];
            bool ours = c->kind != C_SYS;
            if (ours != (pass == 0))
                continue;
            count_job *job = &jobs[njobs];
            if (!job->host) {
                job->host = ours ? &contenders[0] : c; /* contenders[0]: glibc */
                snprintf(job->prefix, sizeof(job->prefix), "%.4100s/%s", dir,
                         ours ? "allockit" : c->name);
            }
            for (size_t i = 0; i < ntasks; i++) {
                task *t = &tasks[i];
                bool timed = t->w->kind == K_BYTE || t->w->kind == K_PAGE || t->w->kind == K_ID;
                if (t->c != c || !timed)
                    continue;
                if (t->status == ST_OK)
                    job->t[job->n++] = t;
                else if (t->status == ST_FAIL)
                    count_fail(t, "not counted: its timed runs failed");
            }
            if (!ours && job->n)
                njobs++;
            else if (!ours)
                memset(job, 0, sizeof(*job));
        }
        if (pass == 0 && jobs[0].n)
            njobs++;
        else if (pass == 0)
            memset(&jobs[0], 0, sizeof(jobs[0]));
    }
    if (!njobs) {
        if (!count_why[0])
            snprintf(count_why, sizeof(count_why), "no timed pair to count");
        return;
    }
    /* Start afresh: a stale dump would be read as this run's. */
    mkdir(dir, 0777);
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(count_why, sizeof(count_why), "cannot make %.150s", dir);
        return;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        char path[4500];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.')
            unlink(path);
    }
    closedir(d);
    printf("[count] instructions per op under callgrind, workloads at %g of full scale: %zu "
           "workers ...\n",
           scale, njobs);
    double t0 = now_s();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t par = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (size_t)ncpu, next = 0, running = 0;
    while (next < njobs || running) {
        while (next < njobs && running < par) {
            jobs[next].pid = count_spawn(&jobs[next], scale);
            if (jobs[next].pid < 0)
                count_finish(&jobs[next], 127 << 8, NULL);
            else
                running++;
            next++;
        }
        if (!running)
            continue;
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0)
            break;
        for (size_t k = 0; k < next; k++)
            if (jobs[k].pid == pid) {
                jobs[k].pid = 0;
                running--;
                count_job *retry = njobs < sizeof(jobs) / sizeof(jobs[0]) ? &jobs[njobs] : NULL;
                if (retry)
                    memset(retry, 0, sizeof(*retry));
                count_finish(&jobs[k], st, retry);
                njobs += retry && retry->n;
                break;
            }
    }
    count_seconds = now_s() - t0;
    printf("        done in %.0f s (dumps in %s: callgrind_annotate shows where the instructions "
           "go)\n",
           count_seconds, dir);
}

/* ------------------------------------------------------------------ */
/* Targets                                                            */
/* ------------------------------------------------------------------ */

enum { T_MET, T_MISSED, T_UNCHECKED };

typedef struct target {
    char what[160];
    int status;
    char detail[200];
} target;

static target targets[32];
static int ntargets;

__attribute__((format(printf, 2, 3))) static void mark(task *t, const char *fmt, ...)
{
    if (!t)
        return;
    size_t n = strlen(t->note);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->note + n, sizeof(t->note) - n, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void add_target(int status, const char *what,
                                                             const char *fmt, ...)
{
    target *g = &targets[ntargets++];
    g->status = status;
    snprintf(g->what, sizeof(g->what), "%s", what);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->detail, sizeof(g->detail), fmt, ap);
    va_end(ap);
}

static bool selected(const char *w, const char *c)
{
    return find_task(w, c) != NULL;
}

static void ratio_target(const char *w, const char *c, double limit)
{
    char what[160];
    snprintf(what, sizeof(what), "%s %s <= %.1fx glibc", c, w, limit);
    if (!selected(w, c))
        return;
    task *t = find_ok(w, c);
    double r = t ? ratio_to_glibc(t) : -1;
    if (r < 0) {
        add_target(T_UNCHECKED, what, "no figure (%s)",
                   t ? "glibc did not run" : "failed or not built");
        return;
    }
    bool met = r <= limit;
    add_target(met ? T_MET : T_MISSED, what, "%.2fx", r);
    mark(t, "%s<=%.1f ", met ? "ok" : "MISS", limit);
}

/* Why a pair has no instruction count, for an unchecked target. */
static const char *no_count(const char *w, const char *c)
{
    task *t = find_task(w, c);
    if (count_why[0])
        return count_why;
    if (!t)
        return "not selected";
    if (t->status == ST_SKIP)
        return t->msg;
    return t->count_msg[0] ? t->count_msg : "not counted";
}

/* A target on instructions per op: c's count on workload w at most
 * `limit` times than's (limit 0: strictly below it). */
static void instr_target(const char *w, const char *c, const char *than, double limit)
{
    char what[160];
    if (limit > 0)
        snprintf(what, sizeof(what), "%s %s <= %.1fx %s, instructions per op", c, w, limit, than);
    else
        snprintf(what, sizeof(what), "%s %s below %s, instructions per op", c, w, than);
    if (!selected(w, c))
        return;
    task *a = find_task(w, c), *b = find_task(w, than);
    if (!a || a->count_status != ST_OK || !b || b->count_status != ST_OK || b->instr <= 0) {
        bool mine = !a || a->count_status != ST_OK;
        add_target(T_UNCHECKED, what, "no count for %s (%s)", mine ? c : than,
                   no_count(w, mine ? c : than));
        return;
    }
    double r = a->instr / b->instr;
    bool met = limit > 0 ? r <= limit : a->instr < b->instr;
    add_target(met ? T_MET : T_MISSED, what, "%.2fx: %.1f against %.1f instructions per op", r,
               a->instr, b->instr);
}

static void check_targets(void)
{
    /* Set on wall time first; a shared host moves small_churn's times by
     * 2x, so they are judged on the instruction count. */
    instr_target("small_churn", "slab", "mimalloc", 0);
    instr_target("small_churn", "slab", "glibc", 0.6);
    instr_target("small_churn", "buddy", "glibc", 1.2);
    ratio_target("small_churn", "tlsf", 1.0);
    ratio_target("mixed_aligned", "tlsf", 0.6);
    if (selected("latency_scaling", "tlsf")) {
        task *t = find_ok("latency_scaling", "tlsf");
        if (t && t->nscale >= 2) {
            double *lo = t->scale[0], *hi = t->scale[t->nscale - 1];
            double ra = hi[2] / (lo[2] > 0 ? lo[2] : 1), rf = hi[4] / (lo[4] > 0 ? lo[4] : 1);
            bool met = ra <= 2.0 && rf <= 2.0;
            add_target(met ? T_MET : T_MISSED, "tlsf max latency within 2x, 1 MiB vs 1 GiB pool",
                       "alloc max %.0f -> %.0f ns (%.2fx), free max %.0f -> %.0f ns (%.2fx)", lo[2],
                       hi[2], ra, lo[4], hi[4], rf);
        } else {
            add_target(T_UNCHECKED, "tlsf max latency within 2x, 1 MiB vs 1 GiB pool",
                       "latency_scaling failed or not built");
        }
    }
    if (selected("memory", "tlsf")) {
        task *t = find_ok("memory", "tlsf");
        if (t && t->have_mem)
            add_target(t->mem[3] >= 0.85 ? T_MET : T_MISSED, "tlsf max fill >= 0.85", "%.3f",
                       t->mem[3]);
        else
            add_target(T_UNCHECKED, "tlsf max fill >= 0.85", "memory failed or not built");
    }
    const char *byte[] = {"tlsf", "buddy", "slab"};
    for (int i = 0; i < 3; i++) {
        ratio_target("vec_rand_free_25K_64", byte[i], 0.7);
        ratio_target("vec_rand_free_7500_520", byte[i], 0.7);
    }
    struct {
        const char *w;
        double ns;
        const char *what;
    } page[] = {
        {"page_single_1M", 20, "bitmap_page single-page alloc+free <= 20 ns/op"},
        {"page_64_aligned", 200, "bitmap_page 64-page aligned alloc+free <= 200 ns/op"},
    };
    for (int i = 0; i < 2; i++) {
        if (!selected(page[i].w, "bitmap_page"))
            continue;
        task *t = find_ok(page[i].w, "bitmap_page");
        if (!t) {
            add_target(T_UNCHECKED, page[i].what, "failed or not built");
            continue;
        }
        bool met = t->med <= page[i].ns;
        add_target(met ? T_MET : T_MISSED, page[i].what, "%.1f ns/op (capacity %u pages)", t->med,
                   (unsigned)AK_PAGE_ALLOC_CAPACITY_PAGES);
        mark(t, "%s<=%.0fns ", met ? "ok" : "MISS", page[i].ns);
    }
}

/* ------------------------------------------------------------------ */
/* Output                                                             */
/* ------------------------------------------------------------------ */

static void perf_table(kind k1, kind k2)
{
    bool any = false;
    for (size_t i = 0; i < ntasks; i++)
        any = any || tasks[i].w->kind == k1 || tasks[i].w->kind == k2;
    if (!any)
        return;
    out("\n| %-22s | %-11s | %8s | %8s | %8s | %6s | %-24s | %17s | %17s |\n", "workload",
        "contender", "median", "min", "max", "ratio", "target", "alloc p99.9/max",
        "free p99.9/max");
    out("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------", "-------------",
        "---------:", "---------:", "---------:", "-------:", "--------------------------",
        "------------------:", "------------------:");
    const char *last = "";
    for (size_t i = 0; i < ntasks; i++) {
        task *t = &tasks[i];
        if (t->w->kind != k1 && t->w->kind != k2)
            continue;
        const char *wn = strcmp(last, t->w->name) ? t->w->name : "";
        last = t->w->name;
        if (t->status != ST_OK) {
            out("| %-22s | %-11s | %s: %s |\n", wn, t->c->name,
                t->status == ST_SKIP ? "skipped" : "FAIL", t->msg);
            continue;
        }
        char med[16], mn[16], mx[16], r[16], la[40], lf[40], a1[16], a2[16], f1[16], f2[16];
        fmt_ns(med, sizeof(med), t->med);
        fmt_ns(mn, sizeof(mn), t->min);
        fmt_ns(mx, sizeof(mx), t->max);
        double rt = ratio_to_glibc(t);
        if (rt < 0)
            snprintf(r, sizeof(r), "-");
        else
            snprintf(r, sizeof(r), "%.2f", rt);
        fmt_ns(a1, sizeof(a1), t->have_lat ? t->lat[0] : -1);
        fmt_ns(a2, sizeof(a2), t->have_lat ? t->lat[1] : -1);
        fmt_ns(f1, sizeof(f1), t->have_lat ? t->lat[2] : -1);
        fmt_ns(f2, sizeof(f2), t->have_lat ? t->lat[3] : -1);
        snprintf(la, sizeof(la), "%s / %s", a1, a2);
        snprintf(lf, sizeof(lf), "%s / %s", f1, f2);
        out("| %-22s | %-11s | %8s | %8s | %8s | %6s | %-24s | %17s | %17s |\n", wn, t->c->name,
            med, mn, mx, r, t->note, la, lf);
    }
}

static void fmt_instr(char *buf, size_t n, double v)
{
    if (v < 10)
        snprintf(buf, n, "%.2f", v);
    else if (v < 10000)
        snprintf(buf, n, "%.1f", v);
    else
        snprintf(buf, n, "%.0f", v);
}

/* Instructions per op: one row per workload, one column per contender
 * (byte workloads), ratio to glibc beside each figure; the page and ID
 * workloads below. */
static void instr_table(void)
{
    bool any = false;
    for (size_t i = 0; i < ntasks; i++)
        any = any || tasks[i].w->kind == K_BYTE || tasks[i].w->kind == K_PAGE ||
              tasks[i].w->kind == K_ID;
    if (!any)
        return;
    out("\n## Instructions per op\n\n");
    if (count_why[0]) {
        out("Instruction counts skipped: %s.\n", count_why);
        return;
    }
    out("Counted by callgrind: the same on every run of this build, whatever the host does\n"
        "(jemalloc and mimalloc decide by the clock when to give memory back, so theirs can\n"
        "move by 1-2%%). Workloads at %g of their full size%s\n"
        "(BENCH_COUNT_SCALE; per-op counts settle long before full size); the system\n"
        "allocators get one uncounted run first, as in the timed runs. Counted: every allocator\n"
        "call of the measured part, from the call into the interface (ak_byte_alloc /\n"
        "ak_byte_dealloc and the operation's indirect call; for the system allocators the\n"
        "worker's malloc / aligned_alloc / free wrapper and the PLT call) to its return, in\n"
        "user space (the kernel's work in a system call is not counted); the workload's own\n"
        "loop and writes are not. The counting switch's own %.0f instructions per call are\n"
        "taken out. Ratio to glibc in parentheses; lower is better.\n\n",
        count_scale, count_scale == COUNT_SCALE ? ", in QUICK and full runs alike" : "",
        count_switch < 0 ? 0 : count_switch);
    const contender *cols[NCONTENDERS];
    int ncols = 0;
    for (size_t j = 0; j < NCONTENDERS; j++) {
        bool col = false;
        for (size_t i = 0; i < ntasks; i++)
            col = col || (tasks[i].c == &contenders[j] && tasks[i].w->kind == K_BYTE &&
                          tasks[i].status != ST_SKIP);
        if (col)
            cols[ncols++] = &contenders[j];
    }
    if (ncols) {
        out("| %-22s |", "workload");
        for (int k = 0; k < ncols; k++)
            out(" %15s |", cols[k]->name);
        out("\n|------------------------|");
        for (int k = 0; k < ncols; k++)
            out("----------------:|");
        out("\n");
        for (size_t i = 0; i < NWORKLOADS; i++) {
            if (workloads[i].kind != K_BYTE)
                continue;
            task *g = find_task(workloads[i].name, "glibc");
            if (!g)
                continue;
            out("| %-22s |", workloads[i].name);
            for (int k = 0; k < ncols; k++) {
                task *t = find_task(workloads[i].name, cols[k]->name);
                char cell[48], v[24];
                if (!t)
                    snprintf(cell, sizeof(cell), "-");
                else if (t->count_status != ST_OK)
                    snprintf(cell, sizeof(cell), "%s",
                             t->count_status == ST_FAIL ? "FAIL" : "not counted");
                else {
                    fmt_instr(v, sizeof(v), t->instr);
                    if (g->count_status == ST_OK && g->instr > 0)
                        snprintf(cell, sizeof(cell), "%s (%.2f)", v, t->instr / g->instr);
                    else
                        snprintf(cell, sizeof(cell), "%s", v);
                }
                out(" %15s |", cell);
            }
            out("\n");
        }
    }
    bool first = true;
    for (size_t i = 0; i < ntasks; i++) {
        task *t = &tasks[i];
        if ((t->w->kind != K_PAGE && t->w->kind != K_ID) || t->count_status != ST_OK)
            continue;
        char v[24];
        fmt_instr(v, sizeof(v), t->instr);
        out("%s %s %s %s", first ? "\nPage and ID workloads:" : ";", t->w->name, t->c->name, v);
        first = false;
    }
    if (!first)
        out(".\n");
    first = true;
    for (size_t j = 0; j < NCONTENDERS; j++) {
        const contender *c = &contenders[j];
        task *skipped = NULL;
        for (size_t i = 0; i < ntasks; i++)
            if (tasks[i].c == c && tasks[i].status == ST_SKIP && tasks[i].w->kind == K_BYTE)
                skipped = &tasks[i];
        if (skipped)
            out("%s- %s: no column, %s\n", first ? "\n" : "", c->name, skipped->msg);
        first = first && !skipped;
    }
    for (size_t i = 0; i < ntasks; i++) {
        if (tasks[i].count_status == ST_FAIL)
            out("%s- %s / %s: %s\n", first ? "\n" : "", tasks[i].w->name, tasks[i].c->name,
                tasks[i].count_msg);
        first = first && tasks[i].count_status != ST_FAIL;
    }
}

/* The probe before each round of timed runs, per workload: how much of
 * the shared cache the host left us while each table row was measured. */
static void probe_report(size_t cache_bytes, double mem_ns)
{
    bool any = false;
    for (size_t i = 0; i < NWORKLOADS; i++) {
        int n = run_probes[i];
        if (!n)
            continue;
        out("%s", any ? "," : "");
        if (!any)
            out("\nMemory probe before each round of timed runs (ns per dependent load over "
                "random lines of %zu MiB, median / max per workload; the nearer the %zu MiB "
                "figure, %.0f ns at the start, the more of the shared cache other tenants "
                "held):",
                cache_bytes >> 20, PROBE_MEM_BYTES >> 20, mem_ns);
        any = true;
        double med, min, max;
        summarize(run_probe[i], n, &med, &min, &max);
        out(" %s %.0f / %.0f", workloads[i].name, med, max);
    }
    if (any)
        out(".\n");
}

static void scaling_table(void)
{
    bool any = false;
    for (size_t i = 0; i < ntasks; i++)
        any = any || tasks[i].w->kind == K_SCALING;
    if (!any)
        return;
    out("\nWorst-case latency against pool size (ns): the same alloc/free sequence (512 live\n"
        "blocks of 16..2048 B) in each pool, replayed; p99.9 and max of the per-call minima over\n"
        "the replays; raw = the largest single sample as measured (interrupts included).\n\n");
    out("| %-9s | %8s | %11s | %9s | %9s | %10s | %8s | %9s | %9s |\n", "contender", "pool",
        "alloc p99.9", "alloc max", "alloc raw", "free p99.9", "free max", "free raw",
        "max vs 1MiB");
    out("|-----------|---------:|------------:|----------:|----------:|-----------:|---------:|"
        "----------:|------------:|\n");
    for (size_t i = 0; i < ntasks; i++) {
        task *t = &tasks[i];
        if (t->w->kind != K_SCALING)
            continue;
        if (t->status != ST_OK) {
            out("| %-9s | %s: %s |\n", t->c->name, t->status == ST_SKIP ? "skipped" : "FAIL",
                t->msg);
            continue;
        }
        for (int s = 0; s < t->nscale; s++) {
            double *v = t->scale[s];
            char pool[16], g[32];
            double mb = v[0] / (1 << 20);
            if (mb >= 1024)
                snprintf(pool, sizeof(pool), "%.0f GiB", mb / 1024);
            else
                snprintf(pool, sizeof(pool), "%.0f MiB", mb);
            double base = t->scale[0][2] > t->scale[0][4] ? t->scale[0][2] : t->scale[0][4];
            double here = v[2] > v[4] ? v[2] : v[4];
            snprintf(g, sizeof(g), "%.2fx", base > 0 ? here / base : 0);
            out("| %-9s | %8s | %11.0f | %9.0f | %9.0f | %10.0f | %8.0f | %9.0f | %11s |\n",
                s ? "" : t->c->name, pool, v[1], v[2], v[5], v[3], v[4], v[6], g);
        }
    }
}

static void memory_table(void)
{
    bool any = false;
    for (size_t i = 0; i < ntasks; i++)
        any = any || tasks[i].w->kind == K_MEMORY;
    if (!any)
        return;
    out("\nMemory (16 MiB pool): bookkeeping kept inside the pool, the allocator object,\n"
        "what each 64-byte block costs beyond its 64 bytes (filling the pool with them), and\n"
        "max fill = largest live byte total / pool size before the first failure under random\n"
        "16 B..64 KiB allocs and frees (median of 5 seeds). System allocators have no pool: "
        "n/a.\n\n");
    out("| %-9s | %12s | %12s | %14s | %8s |\n", "contender", "fixed (pool)", "object bytes",
        "per 64 B block", "max fill");
    out("|-----------|-------------:|-------------:|---------------:|---------:|\n");
    for (size_t i = 0; i < ntasks; i++) {
        task *t = &tasks[i];
        if (t->w->kind != K_MEMORY)
            continue;
        if (t->status != ST_OK || !t->have_mem) {
            out("| %-9s | %s: %s |\n", t->c->name, t->status == ST_SKIP ? "skipped" : "FAIL",
                t->msg);
            continue;
        }
        out("| %-9s | %12.0f | %12.0f | %14.1f | %8.3f |\n", t->c->name, t->mem[0], t->mem[1],
            t->mem[2], t->mem[3]);
    }
}

/* The multi-threaded workloads: one block of rows per workload and
 * thread count, one row per contender. */
static void mt_table(void)
{
    bool any = false;
    for (size_t i = 0; i < ntasks; i++)
        any = any || tasks[i].w->kind == K_MT;
    if (!any)
        return;
    out("\n## Multi-threaded workloads (malloc family)\n\n");
    out("Wall time per op (one malloc with its free; mt_cache_scratch: with the object's 100\n"
        "updates) over the whole run, threads started and joined included: median, min and max\n"
        "of the timed runs. The work is the same at every thread count, split between the\n"
        "threads, so on 2 CPUs perfect scaling halves the 1-thread figure at 2 threads and can\n"
        "do no better at 4. cpu = CPU ns of the process (all threads) per op; CPUs = CPU time /\n"
        "wall time, the CPUs the run kept busy (near 1 at 2 threads: the threads did not run\n"
        "side by side, because they waited for each other or other processes had the CPU).\n"
        "x mimalloc, x glibc: median / their median at the same thread count. Wall time only:\n"
        "valgrind runs one thread at a time, so an instruction count would show no contention.\n");
    /* Each workload once, with the ops of one run (the same at every
     * thread count but larson's, whose live arrays grow with the threads). */
    const char *said = "";
    for (size_t i = 0; i < ntasks; i++) {
        const workload *w = tasks[i].w;
        size_t n = strlen(w->name) - 3; /* without _tN */
        if (w->kind != K_MT || !strncmp(said, w->name, n))
            continue;
        said = w->name;
        double ops = 0;
        for (size_t k = i; k < ntasks; k++)
            if (tasks[k].w == w && tasks[k].ops > 0 && ops == 0)
                ops = tasks[k].ops;
        out("- %.*s: %s", (int)n, w->name, w->what);
        if (ops > 0)
            out("; %.0f ops per run at %d thread%s", ops, w->threads, w->threads > 1 ? "s" : "");
        out("\n");
    }
    out("\n| %-19s | %7s | %-14s | %8s | %8s | %8s | %8s | %5s | %10s | %7s |\n", "workload",
        "threads", "contender", "median", "min", "max", "cpu", "CPUs", "x mimalloc", "x glibc");
    out("|---------------------|--------:|----------------|---------:|---------:|---------:|"
        "---------:|------:|-----------:|--------:|\n");
    const char *last = "";
    for (size_t i = 0; i < ntasks; i++) {
        task *t = &tasks[i];
        if (t->w->kind != K_MT)
            continue;
        char base[64], th[16];
        snprintf(base, sizeof(base), "%.*s", (int)strlen(t->w->name) - 3, t->w->name);
        snprintf(th, sizeof(th), "%d", t->w->threads);
        bool first = strcmp(last, t->w->name) != 0;
        last = t->w->name;
        if (t->status != ST_OK) {
            out("| %-19s | %7s | %-14s | %s: %s |\n", first ? base : "", first ? th : "",
                t->c->name, t->status == ST_SKIP ? "skipped" : "FAIL", t->msg);
            continue;
        }
        char med[16], mn[16], mx[16], cpu[16], rm[16] = "-", rg[16] = "-";
        fmt_ns(med, sizeof(med), t->med);
        fmt_ns(mn, sizeof(mn), t->min);
        fmt_ns(mx, sizeof(mx), t->max);
        fmt_ns(cpu, sizeof(cpu), t->cpu_med);
        double r = ratio_to(t, "mimalloc");
        if (r >= 0)
            snprintf(rm, sizeof(rm), "%.2f", r);
        r = ratio_to(t, "glibc");
        if (r >= 0)
            snprintf(rg, sizeof(rg), "%.2f", r);
        out("| %-19s | %7s | %-14s | %8s | %8s | %8s | %8s | %5.2f | %10s | %7s |\n",
            first ? base : "", first ? th : "", t->c->name, med, mn, mx, cpu, t->busy, rm, rg);
    }
}

static void csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void write_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        printf("cannot write %s\n", path);
        return;
    }
    fprintf(f, "section,workload,contender,runs,median_ns_op,min_ns_op,max_ns_op,ratio_glibc,"
               "alloc_p999_ns,alloc_max_ns,alloc_raw_max_ns,free_p999_ns,free_max_ns,"
               "free_raw_max_ns,pool_bytes,metric,value,status\n");
    for (size_t i = 0; i < ntasks; i++) {
        task *t = &tasks[i];
        const char *st = t->status == ST_OK ? "ok" : t->status == ST_SKIP ? "skipped" : "fail";
        char status[400];
        if (t->status == ST_OK)
            snprintf(status, sizeof(status), "ok");
        else
            snprintf(status, sizeof(status), "%s: %s", st, t->msg);
        if (t->w->kind == K_SCALING && t->status == ST_OK) {
            for (int s = 0; s < t->nscale; s++) {
                double *v = t->scale[s];
                fprintf(
                    f, "latency_scaling,%s,%s,%d,,,,,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.0f,latency,,",
                    t->w->name, t->c->name, t->replays, v[1], v[2], v[5], v[3], v[4], v[6], v[0]);
                csv_field(f, status);
                fputc('\n', f);
            }
        } else if (t->w->kind == K_MEMORY && t->status == ST_OK) {
            const char *m[] = {"fixed_overhead_bytes", "object_bytes", "per_64B_block_bytes",
                               "max_fill"};
            for (int k = 0; k < 4; k++) {
                fprintf(f, "memory,%s,%s,,,,,,,,,,,,16777216,%s,%g,", t->w->name, t->c->name, m[k],
                        t->mem[k]);
                csv_field(f, status);
                fputc('\n', f);
            }
        } else if (t->w->kind == K_MT) {
            /* Wall ns per op, with the ratio to mimalloc as the row's
             * metric; then CPU ns per op, with the CPUs kept busy. */
            double rm = t->status == ST_OK ? ratio_to(t, "mimalloc") : -1;
            double rg = t->status == ST_OK ? ratio_to(t, "glibc") : -1;
            for (int row = 0; row < 2; row++) {
                fprintf(f, "%s,%s,%s,%d,", row ? "mt_cpu" : "mt", t->w->name, t->c->name, t->nruns);
                if (t->status == ST_OK && row == 0)
                    fprintf(f, "%.3f,%.3f,%.3f,", t->med, t->min, t->max);
                else if (t->status == ST_OK)
                    fprintf(f, "%.3f,%.3f,%.3f,", t->cpu_med, t->cpu_min, t->cpu_max);
                else
                    fprintf(f, ",,,");
                if (row == 0 && rg >= 0)
                    fprintf(f, "%.3f", rg);
                fprintf(f, ",,,,,,,,%s,", row ? "cpus_busy" : "ratio_mimalloc");
                if (row == 0 && rm >= 0)
                    fprintf(f, "%.3f", rm);
                else if (row == 1 && t->status == ST_OK)
                    fprintf(f, "%.3f", t->busy);
                fputc(',', f);
                csv_field(f, status);
                fputc('\n', f);
            }
        } else if (t->w->kind == K_HEAPMAP) {
            fprintf(f, "heap_map,%s,%s,,,,,,,,,,,,4194304,svg,", t->w->name, t->c->name);
            csv_field(f, t->heapmap);
            fputc(',', f);
            csv_field(f, status);
            fputc('\n', f);
        } else {
            fprintf(f, "perf,%s,%s,%d,", t->w->name, t->c->name, t->nruns);
            if (t->status == ST_OK) {
                double r = ratio_to_glibc(t);
                fprintf(f, "%.3f,%.3f,%.3f,", t->med, t->min, t->max);
                if (r >= 0)
                    fprintf(f, "%.3f,", r);
                else
                    fprintf(f, ",");
                if (t->have_lat)
                    fprintf(f, "%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,", t->lat[0], t->lat[1],
                            t->lat_raw[0], t->lat[2], t->lat[3], t->lat_raw[1]);
                else
                    fprintf(f, ",,,,,,");
            } else {
                fprintf(f, ",,,,,,,,,,");
            }
            fprintf(f, "%zu,ns_op,,", t->pool_bytes);
            csv_field(f, status);
            fputc('\n', f);
        }
    }
    /* Instructions per op from the counting runs. */
    for (size_t i = 0; i < ntasks; i++) {
        task *t = &tasks[i];
        if (t->count_status == ST_PENDING)
            continue;
        fprintf(f, "instr,%s,%s,1,,,,", t->w->name, t->c->name);
        task *g = find_task(t->w->name, "glibc");
        if (t->count_status == ST_OK && g && g->count_status == ST_OK && g->instr > 0)
            fprintf(f, "%.3f", t->instr / g->instr);
        fprintf(f, ",,,,,,,,instr_per_op,");
        if (t->count_status == ST_OK)
            fprintf(f, "%.2f,\"ok\"\n", t->instr);
        else {
            fprintf(f, ",");
            char st[240];
            snprintf(st, sizeof(st), "fail: %s", t->count_msg);
            csv_field(f, st);
            fputc('\n', f);
        }
    }
    /* The memory probe before each round of timed runs: median, min, max ns per load. */
    for (size_t i = 0; i < NWORKLOADS; i++) {
        int n = run_probes[i];
        if (!n)
            continue;
        double med, min, max;
        summarize(run_probe[i], n, &med, &min, &max);
        fprintf(f, "probe,%s,,%d,%.1f,%.1f,%.1f,,,,,,,,,probe_ns_per_load,,ok\n", workloads[i].name,
                n, med, min, max);
    }
    fclose(f);
}

/* Ratio-to-glibc bars per byte workload, one colour per contender. */
static bool write_chart(const char *dir, char *why, size_t whyn)
{
    if (!have_program("gnuplot")) {
        snprintf(why, whyn, "gnuplot not installed (apt-get install gnuplot-nox)");
        return false;
    }
    char dat[4200], gp[4200], svg[4200];
    snprintf(dat, sizeof(dat), "%s/chart.dat", dir);
    snprintf(gp, sizeof(gp), "%s/chart.gp", dir);
    snprintf(svg, sizeof(svg), "%s/chart.svg", dir);
    FILE *f = fopen(dat, "w");
    if (!f) {
        snprintf(why, whyn, "cannot write %.200s", dat);
        return false;
    }
    const contender *cols[NCONTENDERS];
    int ncols = 0;
    for (size_t j = 0; j < NCONTENDERS; j++) {
        bool any = false;
        for (size_t i = 0; i < ntasks; i++)
            any = any || (tasks[i].c == &contenders[j] && tasks[i].w->kind == K_BYTE &&
                          tasks[i].status == ST_OK);
        if (any)
            cols[ncols++] = &contenders[j];
    }
    fprintf(f, "workload");
    for (int j = 0; j < ncols; j++)
        fprintf(f, " %s", cols[j]->name);
    fprintf(f, "\n");
    int rows = 0;
    double lo = 1, hi = 1;
    for (size_t i = 0; i < NWORKLOADS; i++) {
        if (workloads[i].kind != K_BYTE || !find_ok(workloads[i].name, "glibc"))
            continue;
        fprintf(f, "%s", workloads[i].name);
        for (int j = 0; j < ncols; j++) {
            task *t = find_ok(workloads[i].name, cols[j]->name);
            double r = t ? ratio_to_glibc(t) : -1;
            if (r > 0) {
                fprintf(f, " %.4f", r);
                lo = r < lo ? r : lo;
                hi = r > hi ? r : hi;
            } else {
                fprintf(f, " ?");
            }
        }
        fprintf(f, "\n");
        rows++;
    }
    fclose(f);
    if (!rows) {
        snprintf(why, whyn, "no byte workload ran against glibc");
        return false;
    }
    f = fopen(gp, "w");
    if (!f) {
        snprintf(why, whyn, "cannot write %.200s", gp);
        return false;
    }
    fprintf(f,
            "set terminal svg size 1100,520 dynamic font 'sans,11'\n"
            "set output '%s'\n"
            "set title 'allockit: time per op relative to glibc malloc (lower is better)'\n"
            "set datafile missing '?'\n"
            "set style data histogram\n"
            "set style histogram cluster gap 1\n"
            "set style fill solid 0.85 border -1\n"
            "set boxwidth 0.9\n"
            "set ylabel 'ratio to glibc (median ns/op)'\n"
            "set logscale y 2\n"
            "set yrange [%g:%g]\n"
            "set grid ytics\n"
            "set xtics nomirror noenhanced font ',9'\n"
            "set bmargin 4\n"
            "set key outside right top noenhanced\n"
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 front\n"
            "plot for [i=2:%d] '%s' using i:xtic(1) title columnheader(i)\n",
            svg, lo / 1.5, hi * 1.5, ncols + 1, dat);
    fclose(f);
    char cmd[8600];
    snprintf(cmd, sizeof(cmd), "gnuplot '%s' 2>&1", gp);
    if (system(cmd) != 0) {
        snprintf(why, whyn, "gnuplot failed on %.200s", gp);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--probe") == 0) {
        /* The memory probe alone: is the host quiet enough to measure? */
        size_t cache = probe_cache_bytes();
        printf("%.1f ns per load in %zu MiB (half the last-level cache, at most %zu), %.1f ns in "
               "%zu MiB\n",
               mem_probe_ns(cache), cache >> 20, PROBE_CACHE_MAX >> 20,
               mem_probe_ns(PROBE_MEM_BYTES), PROBE_MEM_BYTES >> 20);
        return 0;
    }
    bool quick = env_on("BENCH_QUICK"), smoke = env_on("BENCH_SMOKE");
    signal(SIGPIPE, SIG_IGN); /* a worker that died shows as EOF, not a signal */
    /* The modes' budgets (bench/README.md): QUICK under 30 s, a full run
     * under 3 minutes, on a busy 2-core host, building included. */
    int runs = smoke ? 2 : 3;
    double scale = smoke ? 0.002 : quick ? 0.05 : 1.0;
    /* The multi-threaded workloads: the same, unless BENCH_MT_SCALE says
     * otherwise (QUICK's twentieth times their threads' start-up as much as
     * their work; a fifth costs QUICK about 2 s more). */
    double mt_scale = scale;
    int repeats = smoke ? 2 : quick ? 3 : 5; /* memory: seeds */
    /* latency_scaling: replays; cheap, and more of them leave fewer
     * disturbed calls in the per-call minima */
    int replays = smoke ? 2 : quick ? 5 : 9;
    const char *e;
    if ((e = getenv("BENCH_MT_SCALE")) && *e)
        mt_scale = atof(e);
    if (mt_scale <= 0 || mt_scale > 100) {
        fprintf(stderr, "BENCH_MT_SCALE must be in (0, 100]\n");
        return 2;
    }
    if ((e = getenv("BENCH_RUNS")) && *e)
        runs = atoi(e);
    if (runs < 1 || runs > MAXRUNS) {
        fprintf(stderr, "BENCH_RUNS must be 1..%d\n", MAXRUNS);
        return 2;
    }
    const char *filter = getenv("BENCH_FILTER");
    if (!apply_filter(filter ? filter : "")) {
        fprintf(stderr, "workloads:");
        for (size_t i = 0; i < NWORKLOADS; i++)
            fprintf(stderr, " %s", workloads[i].name);
        fprintf(stderr, "\ncontenders:");
        for (size_t i = 0; i < NCONTENDERS; i++)
            fprintf(stderr, " %s", contenders[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    /* The thread counts of the multi-threaded workloads: 1, 2 and 4 in a
     * full run; QUICK and SMOKE have time for the 2-thread point only. */
    const char *mt_threads = (e = getenv("BENCH_MT_THREADS")) && *e ? e
                             : quick || smoke                       ? "2"
                                                                    : "1,2,4";
    for (size_t i = 0; i < NWORKLOADS; i++) {
        if (workloads[i].kind != K_MT)
            continue;
        bool want = false;
        char buf[64];
        snprintf(buf, sizeof(buf), "%s", mt_threads);
        for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save))
            want = want || atoi(tok) == workloads[i].threads;
        wsel[i] = wsel[i] && want;
    }
    if (argv[1] && !strcmp(argv[1], "--list")) {
        for (size_t i = 0; i < NWORKLOADS; i++)
            for (size_t j = 0; j < NCONTENDERS; j++)
                if (wsel[i] && csel[j] && runs_on(&workloads[i], &contenders[j]) &&
                    (contenders[j].kind == C_SYS || contenders[j].built))
                    printf("%s,%s\n", workloads[i].name, contenders[j].name);
        return 0;
    }

    /* The worker lives next to this program. */
    ssize_t n = readlink("/proc/self/exe", worker_path, sizeof(worker_path) - 32);
    if (n <= 0) {
        fprintf(stderr, "akbench: cannot find my own path\n");
        return 2;
    }
    worker_path[n] = 0;
    char *slash = strrchr(worker_path, '/');
    snprintf(slash + 1, sizeof(worker_path) - (size_t)(slash + 1 - worker_path), "akbench-worker");
    snprintf(out_dir, sizeof(out_dir), "%s",
             (e = getenv("BENCH_OUT")) && *e ? e : AK_BENCH_OUT_DIR);
    mkdir(out_dir, 0777);

    char mdpath[4200], csvpath[4200];
    snprintf(mdpath, sizeof(mdpath), "%s/results.md", out_dir);
    snprintf(csvpath, sizeof(csvpath), "%s/results.csv", out_dir);

    /* Plan. */
    for (size_t i = 0; i < NWORKLOADS; i++) {
        if (!wsel[i])
            continue;
        for (size_t j = 0; j < NCONTENDERS; j++) {
            const contender *c = &contenders[j];
            if (!csel[j] || !runs_on(&workloads[i], c))
                continue;
            if (c->kind != C_SYS && !c->built)
                continue; /* not in this build: said once below */
            task *t = &tasks[ntasks++];
            memset(t, 0, sizeof(*t));
            t->w = &workloads[i];
            t->c = c;
            if (c->kind == C_AKM && !c->preload[0]) {
                t->status = ST_SKIP;
                snprintf(t->msg, sizeof(t->msg),
                         "libakmalloc.so is not part of this build (-DAK_BUILD_HOSTED=OFF)");
            } else if (c->kind == C_AKM && access(c->preload, R_OK) != 0) {
                t->status = ST_SKIP;
                snprintf(t->msg, sizeof(t->msg),
                         "libakmalloc.so not built (make bench builds it; or cmake --build "
                         "BUILD --target akmalloc)");
            } else if (c->kind == C_SYS && c->preload[0] == 0 && strcmp(c->name, "glibc") != 0) {
                t->status = ST_SKIP;
                snprintf(t->msg, sizeof(t->msg),
                         "not installed (Debian: libjemalloc-dev "
                         "libmimalloc-dev libgoogle-perftools-dev)");
            } else if (c->kind == C_SYS && c->preload[0] && access(c->preload, R_OK) != 0) {
                t->status = ST_SKIP;
                snprintf(t->msg, sizeof(t->msg), "%s is gone since configure", c->preload);
            }
        }
    }

    md = fopen(mdpath, "w");
    if (!md)
        printf("note: cannot write %s\n", mdpath);
    char cpu[256], date[64], load0[128], thp[128], rev[64] = "";
    cpu_model(cpu, sizeof(cpu));
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
    read_first_line("/proc/loadavg", load0, sizeof(load0));
    read_first_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
    FILE *g = popen("git -C '" AK_BENCH_SOURCE_DIR "' describe --always --dirty 2>/dev/null", "r");
    if (g) {
        if (fgets(rev, sizeof(rev), g))
            rev[strcspn(rev, "\n")] = 0;
        pclose(g);
    }
    char command[512] = "";
    const char *envs[] = {"BENCH_QUICK", "BENCH_SMOKE", "BENCH_FILTER", "BENCH_RUNS"};
    for (int i = 0; i < 4; i++)
        if ((e = getenv(envs[i])) && *e) {
            size_t l = strlen(command);
            snprintf(command + l, sizeof(command) - l, "%s=%s ", envs[i], e);
        }
    strncat(command, "make bench", sizeof(command) - strlen(command) - 1);

    out("# allockit benchmark\n\n");
    out("- machine: %s, %ld cores online; kernel THP: %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
        thp[0] ? thp : "?");
    out("- date: %s; source: %s\n", date, rev[0] ? rev : "(not a git checkout)");
    out("- compiler: %s, %s build\n", AK_BENCH_COMPILER, AK_BENCH_BUILD_TYPE);
    out("- command: `%s`\n", command);
    out("- mode: %s; %d timed runs per pair after one warm-up run; figures are ns per op\n",
        smoke   ? "SMOKE (tiny scale, figures meaningless)"
        : quick ? "QUICK (workloads scaled to 1/20, pools to 16 or 32 MiB: times not comparable "
                  "with a full run's; instruction counts the same)"
                : "full",
        runs);
    out("- pool contenders (tlsf, buddy, slab) get a fresh allocator per run over a pool that\n"
        "  is mapped and written through beforehand (pre-touched): they pay no page faults,\n"
        "  the system allocators pay theirs (mostly absorbed by the warm-up run); pools are\n"
        "  128 MiB, 256 MiB for vec_push_3M and mixed_aligned%s\n",
        scale < 1 ? " (at full scale)" : "");
    out("- one process per (workload, contender); jemalloc, mimalloc, tcmalloc come in with\n"
        "  LD_PRELOAD and each worker checks whose malloc it got; the timed runs go\n"
        "  round-robin across contenders, so load changes touch all of them alike\n");
    out("- load average at start: %s\n", load0);
    const size_t probe_cache = probe_cache_bytes();
    double probe0_cache = smoke ? 0 : mem_probe_ns(probe_cache);
    double probe0_mem = smoke ? 0 : mem_probe_ns(PROBE_MEM_BYTES);
    /* QUICK has no time for the gate and its probes: its times are for a
     * glance, and the instruction counts do not need a quiet host. */
    if (!quick && probe0_cache > 0 && probe0_mem > 0 &&
        (round_ring = ring_build(probe_cache)) != NULL) {
        round_pos = round_ring;
        round_lines = probe_cache / 64;
        quiet_low = probe0_cache;
        quiet_budget = QUIET_WAIT;
        if ((e = getenv("BENCH_QUIET_WAIT")) && *e)
            quiet_budget = atof(e);
    }
    if (round_ring)
        out("- quiet gate: a round of timed runs (one run of each contender) starts when the "
            "memory probe reads at most %.0fx the lowest reading so far, waiting up to %.0f s in "
            "all for it (BENCH_QUIET_WAIT)\n",
            QUIET_FACTOR, quiet_budget);
    else if (quick)
        out("- QUICK: no quiet gate and no probe before each round\n");
    bool any_mt = false;
    for (size_t i = 0; i < NWORKLOADS; i++)
        any_mt = any_mt || (wsel[i] && workloads[i].kind == K_MT);
    if (any_mt)
        out("- multi-threaded workloads (mt_*): over the malloc family, at %s thread(s) "
            "(BENCH_MT_THREADS); wall time, each pair in its own process, libakmalloc.so\n"
            "  LD_PRELOADed with AK_MALLOC=tlsf|buddy|slab like the system allocators; no quiet "
            "gate\n",
            mt_threads);
    if (probe0_cache > 0 && probe0_mem > 0)
        out("- memory probe at start (ns per dependent load over random lines): %.1f in %zu MiB "
            "(half the last-level cache, at most %zu), %.1f in %zu MiB\n",
            probe0_cache, probe_cache >> 20, PROBE_CACHE_MAX >> 20, probe0_mem,
            PROBE_MEM_BYTES >> 20);
    for (size_t j = 0; j < NCONTENDERS; j++) {
        const contender *c = &contenders[j];
        if (!csel[j])
            continue;
        const char *part = c->kind == C_AKM ? c->name + strlen("akmalloc-") : c->name;
        if (c->kind != C_SYS && !c->built)
            out("- %s: not in this build (configured with -DAK_%s=OFF or not yet present)\n",
                c->name,
                !strcmp(part, "bitmap_page") ? "BITMAP_PAGE"
                : !strcmp(part, "bitmap_id") ? "BITMAP_ID"
                : !strcmp(part, "tlsf")      ? "TLSF"
                : !strcmp(part, "buddy")     ? "BUDDY"
                                             : "SLAB");
        else if (c->kind == C_SYS && strcmp(c->name, "glibc") && !c->preload[0])
            out("- %s: skipped, not installed (make bench installs it as root on Debian)\n",
                c->name);
    }
    if (md)
        fflush(md);
    fflush(stdout);

    /* Run. */
    double jb0 = 0, jt0 = 0, jb1 = 0, jt1 = 0, own0 = own_cpu_seconds();
    bool have_j = cpu_jiffies(&jb0, &jt0);
    double start = now_s();
    printf("\n");
    size_t todo = 0, done = 0;
    for (size_t i = 0; i < ntasks; i++)
        todo += tasks[i].status == ST_PENDING;
    for (size_t wi = 0; wi < NWORKLOADS; wi++) {
        const workload *w = &workloads[wi];
        task *grp[NCONTENDERS];
        size_t ng = 0;
        for (size_t i = 0; i < ntasks; i++)
            if (tasks[i].w == w && tasks[i].status == ST_PENDING)
                grp[ng++] = &tasks[i];
        if (!ng)
            continue;
        bool timed = timed_kind(w->kind);
        if (timed) {
            printf("[%2zu-%zu/%zu] %-22s %zu contenders, %d runs each, in turn ...\n", done + 1,
                   done + ng, todo, w->name, ng, runs);
            fflush(stdout);
            run_group(grp, ng, runs, w->kind == K_MT ? mt_scale : scale);
        }
        for (size_t k = 0; k < ng; k++) {
            task *t = grp[k];
            if (!timed) {
                printf("[%2zu/%zu] %-22s %-11s ", done + 1, todo, w->name, t->c->name);
                fflush(stdout);
                t->replays = replays;
                run_single(t, w->kind == K_SCALING ? replays : repeats, scale);
            } else {
                printf("        %-22s %-11s ", "", t->c->name);
            }
            done++;
            if (t->status != ST_OK)
                printf("FAIL: %s\n", t->msg);
            else if (t->nruns)
                printf("%9.2f ns/op  (min %.2f, max %.2f)\n", t->med, t->min, t->max);
            else
                printf("done  %.1f s\n", t->seconds);
            fflush(stdout);
        }
    }
    double cscale = smoke ? scale : COUNT_SCALE;
    if ((e = getenv("BENCH_COUNT_SCALE")) && *e)
        cscale = atof(e);
    if (cscale <= 0 || cscale > 1) {
        fprintf(stderr, "BENCH_COUNT_SCALE must be in (0, 1]\n");
        return 2;
    }
    count_all(cscale);
    double wall = now_s() - start;
    double own = own_cpu_seconds() - own0;
    have_j = have_j && cpu_jiffies(&jb1, &jt1);

    check_targets();

    out("\n## Results\n");
    out("\nns per op: median, min and max of the timed runs, in the worker's CPU time (user +\n"
        "system, page faults included; time spent descheduled on a busy machine is not);\n"
        "ratio = median / glibc median;\n"
        "latency of single calls (p99.9 / max, ns) from the checking runs: the same calls\n"
        "replayed twice, each call's latency its minimum over the replays (so an interrupt\n"
        "that hit one replay does not count as the allocator's), timed with %s\n"
        "(resolution and cost about %.0f ns per reading, not subtracted).\n",
        timer_name, timer_overhead_ns < 0 ? 0 : timer_overhead_ns);
    if (rt_seen >= 0)
        out("Latency runs %s under SCHED_FIFO pinned to one CPU%s.\n",
            rt_seen ? "ran" : "did not all run",
            rt_seen ? " (no time slices lost to other processes; interrupts remain)"
                    : " (not permitted: maxima include time slices lost to other processes)");
    out("\nWorkloads (op = the unit of ns/op):\n");
    for (size_t i = 0; i < NWORKLOADS; i++)
        if (wsel[i] && workloads[i].kind <= K_ID)
            out("- %s: %s\n", workloads[i].name, workloads[i].what);
    perf_table(K_BYTE, K_BYTE);
    perf_table(K_PAGE, K_ID);
    instr_table();
    probe_report(probe_cache, probe0_mem);
    scaling_table();
    memory_table();
    mt_table();

    int met = 0, missed = 0, unchecked = 0;
    for (int i = 0; i < ntargets; i++)
        met += targets[i].status == T_MET, missed += targets[i].status == T_MISSED,
            unchecked += targets[i].status == T_UNCHECKED;
    out("\n## Targets\n\n");
    for (int i = 0; i < ntargets; i++)
        out("- [%s] %s: %s\n",
            targets[i].status == T_MET      ? "met"
            : targets[i].status == T_MISSED ? "MISSED"
                                            : "not checked",
            targets[i].what, targets[i].detail);
    out("\ntargets met: %d of %d", met, met + missed);
    if (unchecked)
        out(" (%d not checked)", unchecked);
    out("\n");
    if (missed) {
        out("missed:");
        for (int i = 0; i < ntargets; i++)
            if (targets[i].status == T_MISSED)
                out(" %s;", targets[i].what);
        out("\n");
    }

    /* A failure of allockit's allocators or of the glibc baseline fails the
     * run; one of a preloaded third-party allocator (a bug of its own, e.g.
     * a misaligned block) is reported but does not. */
    size_t failed = 0, failed_ours = 0;
    for (size_t i = 0; i < ntasks; i++) {
        const contender *c = tasks[i].c;
        bool third_party = c->kind == C_SYS && strcmp(c->name, "glibc") != 0;
        failed += tasks[i].status == ST_FAIL;
        failed_ours += tasks[i].status == ST_FAIL && !third_party;
    }

    out("\n## Run\n\n");
    char load1[128];
    read_first_line("/proc/loadavg", load1, sizeof(load1));
    out("- wall time %.0f s; load average at end: %s\n", wall, load1);
    if (have_j && jt1 > jt0) {
        double hz = (double)sysconf(_SC_CLK_TCK);
        double busy = (jb1 - jb0) / hz, others = busy - own;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        out("- other processes used %.0f%% of the machine's CPU time during the run "
            "(%.0f of %.0f CPU-seconds): %s\n",
            100.0 * (others < 0 ? 0 : others) / (wall * (double)ncpu), others < 0 ? 0 : others,
            wall * (double)ncpu,
            others / (wall * (double)ncpu) > 0.25 ? "a busy machine, compare min columns"
                                                  : "no other process here was busy");
    }
    if (quiet_rounds)
        out("- quiet gate: waited %.0f s; %d of %d rounds of timed runs started above the "
            "threshold (the "
            "wait budget ran out); lowest probe reading %.1f ns\n",
            quiet_waited, quiet_late, quiet_rounds, quiet_low);
    if (probe0_cache > 0 && probe0_mem > 0) {
        free(round_ring);
        round_ring = NULL;
        double p1c = mem_probe_ns(probe_cache), p1m = mem_probe_ns(PROBE_MEM_BYTES);
        out("- memory probe at end: %.1f ns in %zu MiB, %.1f ns in %zu MiB (start: %.1f, %.1f). "
            "Other tenants of the host (virtual machines) do not show in CPU time; when they "
            "take the shared cache, the first figure rises towards the second, and "
            "cache-bound workloads (small_churn) slow down with it\n",
            p1c, probe_cache >> 20, p1m, PROBE_MEM_BYTES >> 20, probe0_cache, probe0_mem);
    }
    char why[256] = "";
    bool chart = write_chart(out_dir, why, sizeof(why));
    write_csv(csvpath);
    out("- files: %s, %s", mdpath, csvpath);
    if (chart)
        out(", %s/chart.svg", out_dir);
    for (size_t i = 0; i < ntasks; i++)
        if (tasks[i].heapmap[0])
            out(", %s", tasks[i].heapmap);
    out("\n");
    if (!chart)
        out("- chart skipped: %s\n", why);
    if (failed) {
        out("\n%zu of %zu runs FAILED (a workload found a wrong result or the worker died):\n",
            failed, ntasks);
        for (size_t i = 0; i < ntasks; i++)
            if (tasks[i].status == ST_FAIL)
                out("- %s / %s: %s\n", tasks[i].w->name, tasks[i].c->name, tasks[i].msg);
        if (failed > failed_ours)
            out("(%zu of them third-party allocators: reported, not counted in the exit status)\n",
                failed - failed_ours);
    }
    if (md)
        fclose(md);
    return failed_ours ? 1 : 0;
}
