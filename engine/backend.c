// backend: choosing and opening a backend.
//
// The CUDA backend is a separate shared library (libsiamese_cuda.so, built
// when nvcc is found) that the program loads with dlopen at run time, so
// one binary runs on machines with and without a GPU or the CUDA libraries.
#include "backend.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

// A GPU needs the NVIDIA driver's libcuda.so.1. Without it, say so before
// loading the CUDA backend, whose cuDNN and cuBLAS cost some 200 MB of
// memory just to load. (When present it stays loaded: CUDA uses it.)
static int driver_present(void) { return dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL) != NULL; }

// The CUDA backend library, or NULL with e filled. It stays loaded for the
// life of the process.
static void *cuda_library(char *why, size_t why_len, Err *e) {
    if (!driver_present()) {
        err_set(e, "the CUDA backend is not available: no NVIDIA driver (libcuda.so.1 not found)");
        return NULL;
    }
    void *h = plugin_open(BACKEND_CUDA_LIBRARY, why, why_len);
    if (!h) err_set(e, "the CUDA backend is not available: %s", why);
    return h;
}

int backend_cuda_devices(void) {
    char why[512];
    Err e;
    void *h = cuda_library(why, sizeof why, &e);
    BackendCudaCountFn fn = h ? (BackendCudaCountFn)dlsym(h, BACKEND_CUDA_COUNT_SYMBOL) : NULL;
    return fn ? fn() : 0;
}

static int open_cuda(Backend **out, int index, char *why, size_t why_len, Err *e) {
    void *h = cuda_library(why, why_len, e);
    if (!h) return -1;
    BackendCudaOpenFn fn = (BackendCudaOpenFn)dlsym(h, BACKEND_CUDA_SYMBOL);
    if (!fn) return err_set(e, "%s has no %s", BACKEND_CUDA_LIBRARY, BACKEND_CUDA_SYMBOL);
    return fn(out, index, e);
}

int backend_open(Backend **out, const char *device, int threads, char *notice, size_t notice_len,
                 Err *e) {
    char why[512] = "";
    if (notice && notice_len) notice[0] = '\0';
    if (!device || !strcmp(device, "cpu")) return backend_cpu_open(out, threads, e);
    if (!strcmp(device, "auto")) {
        Err ce;
        if (open_cuda(out, 0, why, sizeof why, &ce) == 0) return 0;
        if (notice) snprintf(notice, notice_len, "no GPU in use (%s); running on the CPU", ce.msg);
        return backend_cpu_open(out, threads, e);
    }
    if (!strncmp(device, "cuda", 4)) {
        int index = 0;
        if (device[4] == ':') {
            char *end;
            long v = strtol(device + 5, &end, 10);
            if (end == device + 5 || *end || v < 0 || v > 64)
                return err_set(e, "--device %s: expected cuda or cuda:N with N a GPU index", device);
            index = (int)v;
        } else if (device[4]) {
            return err_set(e, "--device %s: expected auto, cpu, cuda or cuda:N", device);
        }
        return open_cuda(out, index, why, sizeof why, e);
    }
    return err_set(e, "--device %s: expected auto, cpu, cuda or cuda:N", device);
}

void backend_close(Backend *b) {
    if (b) b->ops->destroy(b);
}

int backend_precision_effective(BackendPrecision asked, int has_reduced, const char *tf32_override,
                                const char **why) {
    const char *because = "";
    BackendPrecision p = asked;
    if (asked == BACKEND_BF16 && !has_reduced) return -1;
    if (asked == BACKEND_TF32 && !has_reduced) {
        because = "this device has no TF32";
        p = BACKEND_FP32;
    } else if (asked == BACKEND_TF32 && tf32_override && !strcmp(tf32_override, "0")) {
        because = "NVIDIA_TF32_OVERRIDE=0";
        p = BACKEND_FP32;
    }
    if (why) *why = because;
    return p;
}

int backend_set_precision(Backend *b, BackendPrecision p, Err *e) {
    const char *why;
    const int has_reduced = b->ops->set_precision != NULL;
    int effective = backend_precision_effective(p, has_reduced, getenv("NVIDIA_TF32_OVERRIDE"), &why);
    if (effective < 0)
        return err_set(e, "--precision bf16 needs the CUDA backend (--device cuda); the "
                          "CPU computes in fp32 (--precision fp32 or tf32)");
    // The backend is told what it will compute: under the override TF32
    // takes --precision fp32's way through cuDNN and cuBLAS (FMA math).
    if (has_reduced) b->ops->set_precision(b, (BackendPrecision)effective);
    b->precision = (BackendPrecision)effective;
    b->precision_note = why;
    return 0;
}

static const char *const PRECISION_NAMES[] = {"fp32", "tf32", "bf16"};

int backend_precision_parse(const char *name) {
    for (int p = 0; p < 3; p++)
        if (!strcmp(name, PRECISION_NAMES[p])) return p;
    return -1;
}

int backend_amp_parse(const char *name) {
    if (!strcmp(name, "off")) return BACKEND_FP32;
    if (!strcmp(name, "bf16")) return BACKEND_BF16;
    return -1;
}

const char *backend_precision_name(BackendPrecision p) { return PRECISION_NAMES[p]; }

const char *backend_precision_describe(BackendPrecision p) {
    switch (p) {
    case BACKEND_TF32: return "tf32 (TF32 convolutions, fp32 dense)";
    case BACKEND_BF16: return "bf16 (bfloat16 products, fp32 weights)";
    default: return "fp32";
    }
}
