/* heap-pairs: the cost of small malloc+free pairs through an ak_heap, one
 * thread, for counting instructions under callgrind and timing natively.
 *
 *   heap-pairs BACKEND PATTERN N
 *     BACKEND  tlsf | buddy | slab
 *     PATTERN  pair   malloc(n) then free, n cycling over 16 sizes 8..512
 *              churn  256 held blocks, each step frees a random one and
 *                     mallocs 1..256 bytes in its place (test_heap_threads'
 *                     small churn, on one thread)
 *     N        pairs measured (after as many unmeasured ones to warm up)
 *
 * Prints ns per pair, the heap's lock takes, whether the pages serve the
 * small requests and the magazine hits; fails if the measured pairs took
 * the lock more than once per 100 (with an allocator that has cache hooks:
 * the pages or the magazines must serve them) or ak_heap_check finds a
 * fault.
 * Only run_pairs() does the measured work (warm_up() the same before it),
 * so
 *   valgrind --tool=callgrind '--toggle-collect=run_pairs*' heap-pairs ...
 * counts exactly the N pairs (the total divided by N is instructions per
 * pair, the loop's own few included: the random numbers of churn). */
#include "ak_rng.h"
#include <allockit.h>
#include <allockit/heap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static ak_heap heap;
static void *held[256];

#if AK_HAVE_TLSF
static ak_tlsf tlsf;
#endif
#if AK_HAVE_BUDDY
static ak_buddy buddy;
#endif
#if AK_HAVE_SLAB
static ak_slab slab;
#endif

static bool backend_by_name(const char *name, ak_byte_allocator *out)
{
#if AK_HAVE_TLSF
    if (!strcmp(name, "tlsf"))
        return *out = ak_tlsf_as_byte(&tlsf), true;
#endif
#if AK_HAVE_BUDDY
    if (!strcmp(name, "buddy"))
        return *out = ak_buddy_as_byte(&buddy), true;
#endif
#if AK_HAVE_SLAB
    if (!strcmp(name, "slab"))
        return *out = ak_slab_as_byte(&slab), true;
#endif
    return false;
}

static inline __attribute__((always_inline)) void pairs(bool churn, unsigned long n, ak_rng *r)
{
    if (!churn) {
        for (unsigned long i = 0; i < n; i++) {
            void *p = ak_heap_malloc(&heap, 8 + (i & 15) * 32);
            *(volatile char *)p = 1;
            ak_heap_free(&heap, p);
        }
        return;
    }
    for (unsigned long i = 0; i < n; i++) {
        uint64_t x = ak_rng_next(r);
        unsigned k = (unsigned)(x & 255);
        ak_heap_free(&heap, held[k]);
        held[k] = ak_heap_malloc(&heap, (size_t)(1 + ((x >> 8) & 255)));
        *(volatile char *)held[k] = 1;
    }
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* The measured pairs and their ns per pair, in a function of their own
 * so that callgrind's --toggle-collect counts them alone (the two clock
 * reads add a few hundred instructions in all). */
__attribute__((noinline)) static double run_pairs(bool churn, unsigned long n, ak_rng *r)
{
    double t0 = now_ns();
    pairs(churn, n, r);
    return (now_ns() - t0) / (double)n;
}

__attribute__((noinline)) static void warm_up(bool churn, unsigned long n, ak_rng *r)
{
    pairs(churn, n, r);
}

int main(int argc, char **argv)
{
    ak_heap_config cfg = {0};
    if (argc != 4 || !backend_by_name(argv[1], &cfg.backend) ||
        (strcmp(argv[2], "pair") && strcmp(argv[2], "churn"))) {
        fprintf(stderr, "usage: heap-pairs tlsf|buddy|slab pair|churn N\n");
        return 2;
    }
    bool churn = !strcmp(argv[2], "churn");
    unsigned long n = strtoul(argv[3], NULL, 10);
    if (ak_heap_init(&heap, &cfg) != AK_OK)
        return 1;
    ak_rng r;
    ak_rng_seed(&r, 42);
    warm_up(churn, n, &r); /* the caches hold what the loop needs */
    ak_heap_stats s0, s1;
    ak_heap_stats_get(&heap, &s0);
    double ns = run_pairs(churn, n, &r);
    ak_heap_stats_get(&heap, &s1);
    uint64_t hits = s1.cache_allocs - s0.cache_allocs, takes = s1.lock_takes - s0.lock_takes;
    printf("%s %s: %.2f ns per pair, %llu lock takes, %s, %llu magazine hits in %lu pairs\n",
           argv[1], argv[2], ns, (unsigned long long)takes, s1.paging ? "pages" : "no pages",
           (unsigned long long)hits, n);
    /* What is measured must be the lock-free path, and the heap sound after. */
    int rc = 0;
    if (s1.caching && takes * 100 > (uint64_t)n) {
        fprintf(stderr, "heap-pairs: the lock was taken more than once per 100 pairs\n");
        rc = 1;
    }
    for (unsigned k = 0; k < 256; k++)
        ak_heap_free(&heap, held[k]);
    const char *why = ak_heap_check(&heap);
    if (why) {
        fprintf(stderr, "heap-pairs: %s\n", why);
        rc = 1;
    }
    ak_heap_destroy(&heap);
    return rc;
}
