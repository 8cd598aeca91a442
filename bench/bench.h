/* akbench: what the worker's parts share. A seeded PRNG, the clocks (a
 * wall clock for whole runs and a cheap tick counter for single calls), a
 * log-linear latency histogram, and the context every workload runs in.
 *
 * The worker (worker.c) runs one workload against one contender in its own
 * process; the driver (akbench.c) starts one worker per pair and never
 * allocates through a contender itself.
 */
#ifndef AKBENCH_BENCH_H
#define AKBENCH_BENCH_H

#include "ak_rng.h"
#include <allockit.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

/* ---- PRNG: the project's one generator (tests/ak_rng.h) ---- */

typedef ak_rng bench_rng;
#define bench_rng_seed ak_rng_seed
#define bench_rng_next ak_rng_next

static inline uint32_t bench_rng_u32(bench_rng *r)
{
    return (uint32_t)(bench_rng_next(r) >> 32);
}

/* Uniform in [0, n) for n < 2^32, by multiply-shift (no division). */
static inline size_t bench_rng_below(bench_rng *r, size_t n)
{
    return (size_t)(((uint64_t)bench_rng_u32(r) * (uint64_t)n) >> 32);
}

/* Roughly log-uniform in [lo, hi]: a uniform power-of-two band, then a
 * uniform value inside it, clamped to the bounds. */
static inline size_t bench_rng_log_uniform(bench_rng *r, size_t lo, size_t hi)
{
    unsigned blo = 63 - (unsigned)__builtin_clzll(lo);
    unsigned bhi = 63 - (unsigned)__builtin_clzll(hi);
    unsigned b = blo + (unsigned)bench_rng_below(r, bhi - blo + 1);
    size_t v = ((size_t)1 << b) + bench_rng_below(r, (size_t)1 << b);
    return v < lo ? lo : v > hi ? hi : v;
}

/* A power of two in [lo, hi] (both powers of two), each equally likely. */
static inline size_t bench_rng_pow2(bench_rng *r, size_t lo, size_t hi)
{
    unsigned blo = 63 - (unsigned)__builtin_clzll(lo);
    unsigned bhi = 63 - (unsigned)__builtin_clzll(hi);
    return (size_t)1 << (blo + (unsigned)bench_rng_below(r, bhi - blo + 1));
}

/* ---- clocks ---- */

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of this thread (user + system, page faults included): what the
 * timed runs measure, so that time the worker spends descheduled on a busy
 * machine is not counted. A system call, used only around whole runs. */
static inline uint64_t bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The per-call clock. rdtsc (fenced, so the call being timed cannot drift
 * across it) on x86, the virtual counter on aarch64, else CLOCK_MONOTONIC.
 * bench_ticks_init() calibrates ticks per nanosecond. */
static inline uint64_t bench_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
#elif defined(__aarch64__)
    uint64_t t;
    __asm__ __volatile__("isb; mrs %0, cntvct_el0" : "=r"(t)::"memory");
    return t;
#else
    return bench_now_ns();
#endif
}

extern double bench_ticks_per_ns;
extern const char *bench_ticks_name;
void bench_ticks_init(void);

/* ---- latency histogram: exact below 64 ticks, then 32 steps per
 * power of two (at most ~3% error); the maximum is kept exactly. ---- */

#define BENCH_HIST_BUCKETS (64 + 32 * 58)

typedef struct bench_hist {
    uint64_t n;
    uint64_t max;
    uint64_t count[BENCH_HIST_BUCKETS];
} bench_hist;

static inline void bench_hist_add(bench_hist *h, uint64_t v)
{
    size_t idx;
    if (v < 64) {
        idx = (size_t)v;
    } else {
        unsigned msb = 63 - (unsigned)__builtin_clzll(v);
        unsigned shift = msb - 5;
        idx = 32 * (size_t)(msb - 5) + (size_t)(v >> shift);
    }
    h->count[idx]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

/* The value (ticks) below which a fraction q of the samples lie; the
 * upper edge of its bucket, so the answer errs on the slow side. */
uint64_t bench_hist_quantile(const bench_hist *h, double q);

/* ---- per-call latency over identical replays ----
 * A workload's call sequence is fixed by its seed, so it can be replayed.
 * Each call's latency is kept as its minimum over the replays: an
 * interrupt or a stolen time slice hits one call in one replay, not the
 * same call in every replay, so the maximum of those minima is the
 * allocator's own worst case. `raw` keeps every sample as measured. */
typedef struct bench_lat {
    bench_hist raw;
    uint32_t *min; /* per call, in ticks */
    size_t len, cap, pos;
    bool replay; /* false: first pass appends; true: later passes take minima */
} bench_lat;

void bench_lat_grow(bench_lat *l);

static inline void bench_lat_add(bench_lat *l, uint64_t dt)
{
    bench_hist_add(&l->raw, dt);
    uint32_t v = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
    if (!l->replay) {
        if (l->len == l->cap)
            bench_lat_grow(l);
        l->min[l->len++] = v;
    } else if (l->pos < l->len) {
        if (v < l->min[l->pos])
            l->min[l->pos] = v;
        l->pos++;
    }
}

/* ---- instruction counting: under callgrind (started with
 * --collect-atstart=no), collection is switched on only for the allocator
 * calls of the measured part. Without <valgrind/callgrind.h> at build time
 * the worker cannot count, and says so. ---- */

#if AK_BENCH_HAVE_CALLGRIND
#include <valgrind/callgrind.h>
#define BENCH_COUNT_ON()  CALLGRIND_TOGGLE_COLLECT
#define BENCH_COUNT_OFF() CALLGRIND_TOGGLE_COLLECT
#else
#define BENCH_COUNT_ON()  ((void)0)
#define BENCH_COUNT_OFF() ((void)0)
#endif

/* One allocator call `call`, as the context wants it: plain (the timed
 * runs); timed into `lat` (the checking runs); or counted (the
 * instruction-counting run, which also counts the calls, so that the cost
 * of switching the count on and off can be taken out). The plain path
 * costs one predictable branch, as it always has. */
#define BENCH_CALL(c, lat, call)                                                                   \
    do {                                                                                           \
        if (!(c)->hook) {                                                                          \
            call;                                                                                  \
        } else if (lat) {                                                                          \
            uint64_t t0_ = bench_ticks();                                                          \
            call;                                                                                  \
            bench_lat_add((lat), bench_ticks() - t0_);                                             \
        } else {                                                                                   \
            (c)->calls++;                                                                          \
            BENCH_COUNT_ON();                                                                      \
            call;                                                                                  \
            BENCH_COUNT_OFF();                                                                     \
        }                                                                                          \
    } while (0)

/* ---- failure: a workload that sees a wrong result stops the worker ---- */

#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
void bench_fail(const char *fmt, ...);

/* ---- the context every workload runs in ---- */

typedef struct bench_ctx {
    ak_byte_allocator byte; /* byte workloads */
    ak_page_allocator page; /* page workloads */
    ak_id_allocator id;     /* ID workloads */
    uintptr_t page_base;    /* first address the page allocator manages */
    size_t page_count;      /* pages it manages */
    double scale;           /* work multiplier: 1 full, <1 quick/smoke */
    uint64_t seed;
    bool verify;          /* the checking run: deeper (slower) checks */
    bool hook;            /* time (lat_* set) or count every allocator call */
    bench_lat *lat_alloc; /* with hook: time every allocator call */
    bench_lat *lat_free;
    uint64_t calls;      /* allocator calls counted (hook without lat_*) */
    uint64_t elapsed_ns; /* CPU time accumulated between bench_start/bench_stop */
    uint64_t started_ns;
    uint64_t ops; /* the workload's unit count, for ns/op */
} bench_ctx;

static inline void bench_start(bench_ctx *c)
{
    c->started_ns = bench_cpu_ns();
}

static inline void bench_stop(bench_ctx *c)
{
    c->elapsed_ns += bench_cpu_ns() - c->started_ns;
}

/* n scaled by the context's multiplier, at least `floor`. */
static inline size_t bench_scaled(const bench_ctx *c, size_t n, size_t floor)
{
    double v = (double)n * c->scale;
    return v < (double)floor ? floor : (size_t)v;
}

/* Allocate through the byte interface; a failure or a misaligned answer
 * stops the worker (workloads are sized never to run out). */
static inline void *bench_alloc(bench_ctx *c, size_t size, size_t align)
{
    void *p = NULL;
    ak_error e;
    BENCH_CALL(c, c->lat_alloc, e = ak_byte_alloc(c->byte, size, align, &p));
    if (e != AK_OK)
        bench_fail("alloc(size %zu, align %zu): %s", size, align, ak_error_name(e));
    if (((uintptr_t)p & (align - 1)) != 0)
        bench_fail("alloc(size %zu, align %zu) returned misaligned %p", size, align, p);
    return p;
}

static inline void bench_free(bench_ctx *c, void *p, size_t size, size_t align)
{
    ak_error e;
    BENCH_CALL(c, c->lat_free, e = ak_byte_dealloc(c->byte, p, size, align));
    if (e != AK_OK)
        bench_fail("dealloc(%p, size %zu, align %zu): %s", p, size, align, ak_error_name(e));
}

/* ---- workloads (workloads.c, btree.c) ---- */

typedef enum bench_kind { BENCH_BYTE, BENCH_PAGE, BENCH_ID } bench_kind;

typedef struct bench_workload {
    const char *name;
    bench_kind kind;
    size_t pool_bytes;  /* byte workloads: pool size for pool contenders */
    double check_scale; /* the checking runs do this fraction of the work */
    void (*run)(bench_ctx *c);
} bench_workload;

extern const bench_workload bench_workloads[];
extern const size_t bench_workload_count;
const bench_workload *bench_find_workload(const char *name);

void bench_btree_map(bench_ctx *c, size_t n);

/* A live set of `live` blocks and `calls` allocator calls in all: fill,
 * replace random victims (free + alloc), free the rest; sizes and
 * alignments from `pick`; every block tagged and checked before its free.
 * ctx->ops is set to the number of alloc+free pairs. */
void bench_churn(bench_ctx *c, const char *wl, size_t live, size_t calls,
                 void (*pick)(bench_rng *r, size_t *size, size_t *align));

/* ---- multi-threaded workloads over the process's malloc (mt.c) ---- */

/* NAME is one of them (mt_larson_t2 and the like). */
bool bench_mt_is(const char *name);
/* Serve the driver for NAME at `scale` (see mt.c); returns after the
 * checking run, or stops the worker on a wrong result. */
void bench_mt_serve(const char *name, double scale);

#endif /* AKBENCH_BENCH_H */
