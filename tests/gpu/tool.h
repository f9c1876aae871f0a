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

// Plain FP32 (tf32 = 0, the parity setting) or TF32 tensor cores allowed
// (1, PyTorch's default for convolutions); must precede backend_tool_open.
static inline void tool_precision(int tf32) {
    setenv("SIAMESE_CUDA_TF32", tf32 ? "1" : "0", 1);
    if (!tf32) setenv("NVIDIA_TF32_OVERRIDE", "0", 1);
}

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

// --amp's value (off or bf16) set on be: exit 2 for another value, 1 where
// the backend has no such precision.
static inline BackendPrecision tool_amp(Backend *be, const char *amp) {
    int p = backend_precision_parse(amp);
    Err e;
    if (p < 0) {
        fprintf(stderr, "--amp %s: expected bf16 or off\n", amp);
        exit(2);
    }
    if (backend_set_precision(be, (BackendPrecision)p, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return (BackendPrecision)p;
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
