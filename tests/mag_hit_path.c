/* The magazine layer's hit path, alone: N alloc+free pairs of one size on
 * one CPU after a warm-up, over the test double, first through
 * ak_mag_alloc/ak_mag_free, then through the byte interface
 * (ak_mag_as_byte). Every pair must be served by the CPU's magazine: the
 * program fails otherwise. Run under callgrind with two values of N, the
 * difference of the instruction counts divided by the difference of N is
 * the cost of one pair:
 *   valgrind --tool=callgrind mag_hit_path 100000; ... 200000
 * usage: mag_hit_path [N] [direct|byte] */
#include "mag_double.h"

#include <allockit/magazine.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    const unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000;
    const char *mode = argc > 2 ? argv[2] : "both";
    const size_t region = (size_t)1 << 20;
    unsigned char *mem = aligned_alloc(4096, region);
    static mag_double d;
    static ak_mag m;
    if (!mem || dbl_init(&d, (uintptr_t)mem, region) != AK_OK)
        return 1;
    ak_mag_config cfg = {.backend = mag_double_as_byte(&d)};
    if (ak_mag_init(&m, &cfg) != AK_OK)
        return 1;
    ak_byte_allocator h = ak_mag_as_byte(&m);
    /* Warm up: a few blocks through the magazine, so the loop only hits. */
    void *w[8];
    for (int i = 0; i < 8; i++)
        if (ak_mag_alloc(&m, 0, 64, 16, &w[i]) != AK_OK)
            return 1;
    for (int i = 0; i < 8; i++)
        if (ak_mag_free(&m, 0, w[i], 64, 16) != AK_OK)
            return 1;
    ak_mag_stats_t s0, s1;
    ak_mag_stats(&m, &s0);
    unsigned long pairs = 0;
    if (strcmp(mode, "byte") != 0) {
        for (unsigned long i = 0; i < n; i++) {
            void *p;
            if (ak_mag_alloc(&m, 0, 64, 16, &p) != AK_OK)
                return 1;
            *(volatile unsigned char *)p = 1;
            if (ak_mag_free(&m, 0, p, 64, 16) != AK_OK)
                return 1;
        }
        pairs += n;
    }
    if (strcmp(mode, "direct") != 0) {
        for (unsigned long i = 0; i < n; i++) {
            void *p;
            if (ak_byte_alloc(h, 64, 16, &p) != AK_OK)
                return 1;
            *(volatile unsigned char *)p = 1;
            if (ak_byte_dealloc(h, p, 64, 16) != AK_OK)
                return 1;
        }
        pairs += n;
    }
    ak_mag_stats(&m, &s1);
    const unsigned long hits = (unsigned long)(s1.alloc_hits - s0.alloc_hits);
    const unsigned long fhits = (unsigned long)(s1.free_hits - s0.free_hits);
    printf("mag_hit_path: %lu pairs, %lu alloc hits, %lu free hits, %llu misses\n", pairs, hits,
           fhits, (unsigned long long)(s1.alloc_misses - s0.alloc_misses));
    const int ok = hits == pairs && fhits == pairs && s1.alloc_misses == s0.alloc_misses &&
                   ak_mag_check(&m) == NULL;
    ak_mag_flush(&m, 0);
    ak_mag_trim(&m);
    const int empty = dbl_used(&d) == 0;
    mag_double_destroy(&d);
    free(mem);
    if (!ok || !empty) {
        printf("mag_hit_path: FAILED (%s)\n",
               ok ? "backend not empty after flush and trim" : "a pair missed the magazine");
        return 1;
    }
    return 0;
}
