// bf16: bfloat16 on the host, for tests that model what the GPU stores
// (backend.h: BackendActType): float32's sign, exponent and top 7 bits of
// mantissa, rounded to nearest even as __float2bfloat16_rn rounds.
#ifndef SIAMESE_TESTS_BF16_H
#define SIAMESE_TESTS_BF16_H

#include <stdint.h>
#include <string.h>

// float32 -> bfloat16, to nearest even (a NaN stays a quiet NaN).
static inline uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(u >> 16 | 0x40);
    u += 0x7fffu + (u >> 16 & 1);
    return (uint16_t)(u >> 16);
}

static inline float bf16_widen(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
