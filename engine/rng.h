// rng: a small, fast, seedable generator (xoshiro256**, seeded by
// splitmix64) so that every run with the same --seed draws the same numbers
// on every machine, independent of libc.
#ifndef SIAMESE_RNG_H
#define SIAMESE_RNG_H

#include <stdint.h>

typedef struct Rng {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
// Uniform in [0,1) with 24 random bits (exact in float).
float rng_uniform(Rng *r);
// Uniform integer in [0,n), n > 0, without modulo bias.
uint32_t rng_below(Rng *r, uint32_t n);

#endif
