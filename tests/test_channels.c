// test_channels: the narrow-input padding of the CUDA backend
// (backend_cuda.c, "narrow inputs"; kernels/channels.h), checked on the CPU.
// The GPU runs a convolution whose input has no multiple of 8 channels
// (VGG16's RGB layer) on copies padded with zero channels, and copies the
// real channels of the filter and input gradients back. Here:
//   1. the index arithmetic its kernels use (channels.h), element by
//      element against the layouts written out: the padded copies hold the
//      source's values where they should and zeros elsewhere, from and into
//      both kernel layouts (Keras's (3,3,C,K), cuDNN's (K,3,3,C)), and
//      taking the channels back out restores the source exactly;
//   2. the arithmetic claim, with the CPU backend as the convolution: the
//      forward and backward passes on the padded copies, as the GPU wrapper
//      makes them, give the narrow convolution's output, bias, filter and
//      input gradients to float rounding (the added products are zeros).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/backend.h"
#include "../engine/rng.h"
#include "../kernels/channels.h"
#include "check.h"

// What kernel_copy_channels and kernel_kernel_channels compute, on the host.
static void copy_channels(float *dst, int dst_c, const float *src, int src_c, size_t rows) {
    for (size_t i = 0; i < rows * dst_c; i++) {
        const int j = channels_source((unsigned)i, dst_c, src_c);
        dst[i] = j < 0 ? 0.0f : src[j];
    }
}
static void kernel_channels(float *dst, int dst_c, int dst_krsc, const float *src, int src_c,
                            int src_krsc, int K) {
    for (size_t i = 0; i < 9 * (size_t)dst_c * K; i++) {
        const int j = kernel_channels_source((unsigned)i, dst_c, dst_krsc, src_c, src_krsc, K);
        dst[i] = j < 0 ? 0.0f : src[j];
    }
}

// Element (tap, ch, k) of a kernel of C inputs and K outputs in a layout.
static size_t at(int krsc, int tap, int ch, int k, int C, int K) {
    return krsc ? ((size_t)k * 9 + tap) * C + ch : ((size_t)tap * C + ch) * K + k;
}

static void random_fill(Rng *r, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform(r) * 2 - 1;
}

static void test_index(void) {
    Rng r;
    rng_seed(&r, 3);
    const int shapes[][2] = {{3, 64}, {1, 5}, {4, 4}, {7, 3}, {9, 2}, {13, 16}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int C = shapes[s][0], K = shapes[s][1];
        const int Cp = (C + CHANNELS_ALIGN - 1) / CHANNELS_ALIGN * CHANNELS_ALIGN;
        const size_t rows = 37;
        float *x = malloc(rows * C * sizeof *x), *xp = malloc(rows * Cp * sizeof *xp),
              *back = malloc(rows * C * sizeof *back);
        random_fill(&r, x, rows * C);
        copy_channels(xp, Cp, x, C, rows);
        int bad = 0;
        for (size_t row = 0; row < rows; row++)
            for (int ch = 0; ch < Cp; ch++)
                bad += xp[row * Cp + ch] != (ch < C ? x[row * C + ch] : 0.0f);
        CHECK(!bad, "C=%d: %d padded activation elements wrong", C, bad);
        copy_channels(back, C, xp, Cp, rows);
        CHECK(!memcmp(back, x, rows * C * sizeof *x), "C=%d: the channels taken back differ", C);

        float *w = malloc(9 * (size_t)C * K * sizeof *w), *wp = malloc(9 * (size_t)Cp * K * sizeof *wp),
              *wb = malloc(9 * (size_t)C * K * sizeof *wb);
        random_fill(&r, w, 9 * (size_t)C * K);
        for (int src_krsc = 0; src_krsc < 2; src_krsc++)
            for (int dst_krsc = 0; dst_krsc < 2; dst_krsc++) {
                kernel_channels(wp, Cp, dst_krsc, w, C, src_krsc, K);
                bad = 0;
                for (int tap = 0; tap < 9; tap++)
                    for (int ch = 0; ch < Cp; ch++)
                        for (int k = 0; k < K; k++)
                            bad += wp[at(dst_krsc, tap, ch, k, Cp, K)] !=
                                   (ch < C ? w[at(src_krsc, tap, ch, k, C, K)] : 0.0f);
                CHECK(!bad, "C=%d K=%d from %s into %s: %d padded kernel elements wrong", C, K,
                      src_krsc ? "KRSC" : "Keras", dst_krsc ? "KRSC" : "Keras", bad);
                kernel_channels(wb, C, src_krsc, wp, Cp, dst_krsc, K);
                CHECK(!memcmp(wb, w, 9 * (size_t)C * K * sizeof *w),
                      "C=%d K=%d: a kernel taken back out of %s into %s differs", C, K,
                      dst_krsc ? "KRSC" : "Keras", src_krsc ? "KRSC" : "Keras");
            }
        free(x), free(xp), free(back), free(w), free(wp), free(wb);
    }
}

// The CPU's convolution of (N,H,W,C) to K, narrow and through padded copies
// as the GPU wrapper runs it: output, input gradient, filter and bias
// gradients must agree.
static void test_padded_conv(Backend *cpu, int N, int H, int W, int C, int K) {
    const int Cp = (C + CHANNELS_ALIGN - 1) / CHANNELS_ALIGN * CHANNELS_ALIGN;
    const size_t px = (size_t)N * H * W;
    Rng r;
    rng_seed(&r, 11);
    float *in = malloc(px * C * 4), *w = malloc(9 * (size_t)C * K * 4), *bias = malloc(K * 4);
    float *out = malloc(px * K * 4), *out_p = malloc(px * K * 4);
    float *dout = malloc(px * K * 4), *dout_p = malloc(px * K * 4);
    float *din = malloc(px * C * 4), *dw = malloc(9 * (size_t)C * K * 4), *db = malloc(K * 4);
    float *db_p = malloc(K * 4), *din_back = malloc(px * C * 4), *dw_back = malloc(9 * (size_t)C * K * 4);
    float *in_p = malloc(px * Cp * 4), *w_p = malloc(9 * (size_t)Cp * K * 4);
    float *din_p = malloc(px * Cp * 4), *dw_p = malloc(9 * (size_t)Cp * K * 4);
    random_fill(&r, in, px * C);
    random_fill(&r, w, 9 * (size_t)C * K);
    random_fill(&r, bias, K);
    random_fill(&r, dout, px * K);
    memcpy(dout_p, dout, px * K * 4);

    cpu->ops->conv3x3_forward(cpu, out, in, w, bias, N, H, W, C, K, 1);
    cpu->ops->conv3x3_backward(cpu, din, dw, db, dout, out, in, w, N, H, W, C, K);

    copy_channels(in_p, Cp, in, C, px);
    kernel_channels(w_p, Cp, 0, w, C, 0, K);
    cpu->ops->conv3x3_forward(cpu, out_p, in_p, w_p, bias, N, H, W, Cp, K, 1);
    cpu->ops->conv3x3_backward(cpu, din_p, dw_p, db_p, dout_p, out_p, in_p, w_p, N, H, W, Cp, K);
    copy_channels(din_back, C, din_p, Cp, px);
    kernel_channels(dw_back, C, 0, dw_p, Cp, 0, K);

    const double tol = 1e-5;
    double e;
    CHECK((e = check_rel_err(out_p, out, px * K, 1e-6)) <= tol, "C=%d: output rel err %.2e", C, e);
    CHECK((e = check_rel_err(din_back, din, px * C, 1e-6)) <= tol, "C=%d: din rel err %.2e", C, e);
    CHECK((e = check_rel_err(dw_back, dw, 9 * (size_t)C * K, 1e-6)) <= tol, "C=%d: dw rel err %.2e",
          C, e);
    CHECK((e = check_rel_err(db_p, db, K, 1e-6)) <= tol, "C=%d: dbias rel err %.2e", C, e);
    // (din_p's padded channels hold the gradient of the zero inputs, which
    // is not zero: the wrapper drops them, as copy_channels does here.)
    printf("conv N=%d H=%d W=%d C=%d (padded to %d) K=%d: output, din, dw, dbias compared\n", N, H,
           W, C, Cp, K);
    free(in), free(w), free(bias), free(out), free(out_p), free(dout), free(dout_p), free(din);
    free(dw), free(db), free(db_p), free(din_back), free(dw_back), free(in_p), free(w_p);
    free(din_p), free(dw_p);
}

int main(void) {
    test_index();
    Backend *cpu;
    Err e;
    if (backend_open(&cpu, "cpu", 1, NULL, 0, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    test_padded_conv(cpu, 2, 21, 17, 3, 64);  // VGG16's first layer, smaller
    test_padded_conv(cpu, 1, 9, 11, 5, 8);
    test_padded_conv(cpu, 3, 6, 6, 4, 16);
    backend_close(cpu);
    return check_summary("test_channels");
}
