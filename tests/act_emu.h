// act_emu: a backend for tests whose backbone activations are not float32
// (backend.h: BackendActType), on any machine: the CPU reference whose conv
// and pool operations take their activation arguments in an emulated
// storage, widen them to float32, run the reference and store the results
// back. Under --precision bf16 (set_precision BF16) its activations are
// that storage; otherwise float32, the reference's own path. The products
// are the CPU's float32 ones in every precision.
//
// Two storages (act_emu_storage):
//  - ACT_EMU_BF16: bfloat16, rounded to nearest even as the GPU rounds;
//  - ACT_EMU_SCRAMBLED: float32 with its bits flipped by a key, so that a
//    caller's path through it gives exactly the float32 numbers when every
//    activation crosses the conversions, and garbage where one does not.
#ifndef SIAMESE_TESTS_ACT_EMU_H
#define SIAMESE_TESTS_ACT_EMU_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/backend.h"
#include "bf16.h"

typedef enum ActEmuStorage { ACT_EMU_BF16, ACT_EMU_SCRAMBLED } ActEmuStorage;
static ActEmuStorage act_emu_storage = ACT_EMU_BF16;
#define ACT_EMU_KEY 0x5a3c96e1u

static const BackendOps *act_emu_ref;  // the CPU's own operations
static BackendOps act_emu_ops;

static void act_emu_from_float(Backend *b, void *dst, const float *src, size_t n) {
    if (b->act == BACKEND_ACT_F32) {
        memmove(dst, src, n * sizeof(float));
    } else if (act_emu_storage == ACT_EMU_BF16) {
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = bf16_round(src[i]);
    } else {
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, src + i, sizeof u);
            ((uint32_t *)dst)[i] = u ^ ACT_EMU_KEY;
        }
    }
}

static void act_emu_to_float(Backend *b, float *dst, const void *src, size_t n) {
    if (b->act == BACKEND_ACT_F32) {
        memmove(dst, src, n * sizeof(float));
    } else if (act_emu_storage == ACT_EMU_BF16) {
        for (size_t i = 0; i < n; i++) dst[i] = bf16_widen(((const uint16_t *)src)[i]);
    } else {
        for (size_t i = 0; i < n; i++) {
            uint32_t u = ((const uint32_t *)src)[i] ^ ACT_EMU_KEY;
            memcpy(dst + i, &u, sizeof u);
        }
    }
}

// A float32 copy of n activations (NULL stays NULL).
static float *act_emu_widened(Backend *b, const void *act, size_t n) {
    if (!act) return NULL;
    float *f = malloc(n * sizeof *f);
    act_emu_to_float(b, f, act, n);
    return f;
}

// f (n floats, then freed) stored into act when act is not NULL.
static void act_emu_store(Backend *b, void *act, float *f, size_t n) {
    if (act) act_emu_from_float(b, act, f, n);
    free(f);
}

// out is (N,H,W,K), in (N,H,W,C).
static void act_emu_conv3x3_forward(Backend *b, float *out, const float *in, const float *w,
                                    const float *bias, int N, int H, int W, int C, int K,
                                    int relu) {
    const size_t px = (size_t)N * H * W;
    float *x = act_emu_widened(b, in, px * C), *y = malloc(px * K * sizeof *y);
    act_emu_ref->conv3x3_forward(b, y, x, w, bias, N, H, W, C, K, relu);
    act_emu_store(b, out, y, px * K);
    free(x);
}

// dout is masked in place, as the contract says.
static void act_emu_conv3x3_backward(Backend *b, float *din, float *dw, float *dbias, float *dout,
                                     const float *y, const float *in, const float *w, int N,
                                     int H, int W, int C, int K) {
    const size_t px = (size_t)N * H * W;
    float *dy = act_emu_widened(b, dout, px * K), *yf = act_emu_widened(b, y, px * K);
    float *x = act_emu_widened(b, in, px * C), *dx = din ? malloc(px * C * sizeof *dx) : NULL;
    act_emu_ref->conv3x3_backward(b, dx, dw, dbias, dy, yf, x, w, N, H, W, C, K);
    act_emu_store(b, dout, dy, px * K);
    act_emu_store(b, din, dx, px * C);
    free(yf);
    free(x);
}

static void act_emu_maxpool2_forward(Backend *b, float *out, uint8_t *argmax, const float *in,
                                     int N, int H, int W, int C) {
    const size_t nin = (size_t)N * H * W * C, nout = (size_t)N * (H / 2) * (W / 2) * C;
    float *x = act_emu_widened(b, in, nin), *y = malloc((nout ? nout : 1) * sizeof *y);
    act_emu_ref->maxpool2_forward(b, y, argmax, x, N, H, W, C);
    act_emu_store(b, out, y, nout);
    free(x);
}

static void act_emu_maxpool2_backward(Backend *b, float *din, const float *dout, const float *in,
                                      const float *out, const uint8_t *argmax, int N, int H,
                                      int W, int C) {
    const size_t nin = (size_t)N * H * W * C, nout = (size_t)N * (H / 2) * (W / 2) * C;
    float *dy = act_emu_widened(b, dout, nout), *x = act_emu_widened(b, in, nin);
    float *y = act_emu_widened(b, out, nout), *dx = malloc(nin * sizeof *dx);
    act_emu_ref->maxpool2_backward(b, dx, dy, x, y, argmax, N, H, W, C);
    act_emu_store(b, din, dx, nin);
    free(dy);
    free(x);
    free(y);
}

// dout is masked in place, as the contract says.
static void act_emu_maxpool2_relu_backward(Backend *b, float *din, float *dbias, float *dout,
                                           const float *out, const uint8_t *argmax, int N, int H,
                                           int W, int C) {
    const size_t nin = (size_t)N * H * W * C, nout = (size_t)N * (H / 2) * (W / 2) * C;
    float *dy = act_emu_widened(b, dout, nout), *y = act_emu_widened(b, out, nout);
    float *dx = malloc(nin * sizeof *dx);
    act_emu_ref->maxpool2_relu_backward(b, dx, dbias, dy, y, argmax, N, H, W, C);
    act_emu_store(b, din, dx, nin);
    act_emu_store(b, dout, dy, nout);
    free(y);
}

static void act_emu_set_precision(Backend *b, BackendPrecision p) {
    b->act = p == BACKEND_BF16 ? BACKEND_ACT_BF16 : BACKEND_ACT_F32;
}

// cpu (a CPU backend, taken over: closing the result closes it) with the
// emulated activations under --precision bf16.
static Backend *act_emu_open(Backend *cpu) {
    act_emu_ref = cpu->ops;
    act_emu_ops = *cpu->ops;
    act_emu_ops.conv3x3_forward = act_emu_conv3x3_forward;
    act_emu_ops.conv3x3_backward = act_emu_conv3x3_backward;
    act_emu_ops.maxpool2_forward = act_emu_maxpool2_forward;
    act_emu_ops.maxpool2_backward = act_emu_maxpool2_backward;
    act_emu_ops.maxpool2_relu_backward =
        cpu->ops->maxpool2_relu_backward ? act_emu_maxpool2_relu_backward : NULL;
    act_emu_ops.act_from_float = act_emu_from_float;
    act_emu_ops.act_to_float = act_emu_to_float;
    act_emu_ops.set_precision = act_emu_set_precision;
    Backend *b = malloc(sizeof *b);
    if (!b) return NULL;
    *b = *cpu;
    free(cpu);  // the shell: its state (impl) is b's now
    b->ops = &act_emu_ops;
    snprintf(b->desc, sizeof b->desc, "cpu with %s activations under bf16",
             act_emu_storage == ACT_EMU_BF16 ? "bfloat16" : "scrambled");
    return b;
}

#endif
