// tool: what the GPU check's programs (train_compare, bench_model) share:
// opening a backend, the model spec by name, the clock, the precision.
// They are test drivers, so they print and exit here directly.
#ifndef SIAMESE_GPU_TOOL_H
#define SIAMESE_GPU_TOOL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../engine/backend.h"
#include "../../engine/model.h"

static inline Backend *tool_backend(const char *device) {
    Backend *be;
    Err e;
    char notice[600];
    if (backend_open(&be, device, 0, notice, sizeof notice, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    if (notice[0]) fprintf(stderr, "%s\n", notice);
    return be;
}

// --precision's value (fp32, tf32 or bf16) as a number: exit 2 for another.
static inline BackendPrecision tool_precision(const char *name) {
    int p = backend_precision_parse(name);
    if (p < 0) {
        fprintf(stderr, "--precision %s: expected fp32, tf32 or bf16\n", name);
        exit(2);
    }
    return (BackendPrecision)p;
}

// p set on be: exit 1 where the backend has no such precision (bf16 on the
// CPU). Returns what the backend computes in (tf32 on the CPU is fp32).
static inline BackendPrecision tool_set_precision(Backend *be, BackendPrecision p) {
    Err e;
    if (backend_set_precision(be, p, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return be->precision;
}

static inline void tool_spec(ModelSpec *s, const char *backbone, int input) {
    if (!strcmp(backbone, "vgg16")) {
        model_spec_vgg16(s, input);
    } else if (!strcmp(backbone, "compact")) {
        model_spec_compact(s, input);
    } else {
        fprintf(stderr, "--backbone %s: expected vgg16 or compact\n", backbone);
        exit(2);
    }
}

static inline Model *tool_model(const ModelSpec *s, Backend *be, int training, uint64_t seed) {
    Model *m;
    Err e;
    if (model_create(&m, s, be, &e) || (training && model_enable_training(m, &e)) ||
        model_init_random(m, seed, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return m;
}

static inline double tool_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// A whole number from an option, or exit 2.
static inline long tool_int(const char *opt, const char *s, long lo, long hi) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s %s: expected a whole number from %ld to %ld\n", opt, s, lo, hi);
        exit(2);
    }
    return v;
}

#endif
