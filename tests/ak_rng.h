/* The seeded PRNG every test, benchmark and bare-metal harness uses:
 * xoshiro256** seeded through splitmix64. Freestanding (only <stdint.h>),
 * so the boot harness can include it too; one stream per seed on every
 * target, so a failing seed replays anywhere. */
#ifndef AK_RNG_H
#define AK_RNG_H

#include <stdint.h>

typedef struct ak_rng {
    uint64_t s[4];
} ak_rng;

static inline uint64_t ak_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void ak_rng_seed(ak_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = ak_splitmix64(&seed);
}

static inline uint64_t ak_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t ak_rng_next(ak_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = ak_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ak_rng_rotl(s[3], 45);
    return result;
}

#endif /* AK_RNG_H */
