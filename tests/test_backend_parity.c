// test_backend_parity: the CUDA backend against the CPU reference.
//
// Every BackendOps operation runs on both backends with the same random
// inputs, then the whole Siamese model forward and backward (the compact
// backbone; with --full also the full-size VGG16 at 105x105) with the same
// weights and inputs, comparing outputs and every gradient. The GPU is set
// to --precision fp32 (and NVIDIA_TF32_OVERRIDE=0 keeps the libraries from
// TF32 whatever they are asked) so both sides compute in FP32 and differ
// only by summation order.
//
// Errors are relative to the largest reference value of the tensor:
// max|gpu - cpu| / max|cpu|. Tolerances: exact for data movement and
// comparisons (pooling, ReLU mask, |x1-x2|, uint8 conversion), 1e-5 for
// element-wise arithmetic, 2e-4 for one convolution or GEMM, 1e-3 for the
// whole model.
//
// One effect is not an error: when a pre-activation lies within rounding of
// zero the two backends may disagree on the ReLU, and when two window
// values lie within rounding of each other on the max-pool's choice (the
// full-size VGG16 at random weights has a few such near-ties); a backward
// pass from those activations routes that element's gradient elsewhere, a
// difference that reaches every earlier layer (0.5% of the gradients' norm
// for two flipped windows in VGG16's blocks 2 and 4). So the model check
// compares like with like: it counts the flips in the forward activations
// (which are held to 1e-3 each), then gives the CPU model the GPU's forward
// state (input, every activation, the head's values; its max-pools choose
// their windows again from those activations) and runs both
// backward passes from the same activations, hence the same decisions:
// every gradient is then held to 1e-3 element by element. After three
// training steps from there the two runs' weights may differ by what a
// flip moved, so the parameters get the same 1e-3 in norm
// (||gpu-cpu||/||cpu||) and the losses 1e-3.
//
// With --precision bf16, the convolutions and dense layers (forward, both
// backward passes, new weights, an optimizer step) run on the GPU in mixed
// precision (backend.h: operands rounded to bfloat16, 8 bits of mantissa, a
// relative rounding of at most 2^-9 each, products accumulated in FP32)
// against the CPU's FP32, to TOL_BF16 = 2e-2 of the tensor's largest value:
// ten times the few 2^-9 that a product of two rounded operands and a
// rounded bfloat16 result can lose, with room for how the accumulation
// order spreads them. With --precision tf32 the same operations, the
// convolutions on TF32 tensor cores (10 bits of mantissa: 2^-11 per operand)
// to TOL_TF32 = 5e-3, the dense layers in FP32 to TOL_OP. Then FP32 again,
// to its own tolerance: the precision can be switched back. Where the GPU
// then keeps its activations in bfloat16 (its default under bf16; backend.h:
// BackendActType), its conv and pool operations get them so (gpu_conv3x3_*
// and gpu_maxpool2_* below convert each activation argument, and the
// results back), the random inputs are bfloat16 values (the CPU computes
// on the same numbers), and the max-pool is checked as well: exactly, as a
// maximum is copied, never rounded.
//
// Skips (exit 77) when the CUDA backend cannot be opened: no GPU, no driver
// or no CUDA libraries, as on development and CI machines.
//
// --device cpu compares the CPU with a second CPU backend of one thread
// (whose reductions round differently): the harness itself, on any machine.
// --device cpu-bf16 makes that second backend keep its activations in
// bfloat16 under --precision bf16 (tests/act_emu.h), as the GPU does by
// default: the harness of that path.
// --selftest (with it, in make test) then checks the model check both ways
// on that pair: it passes when near-tie flips are planted in the second
// side's forward pass (as a GPU's rounding makes them), and it fails when
// one gradient element of the second side is off by 1% of its tensor's
// largest value (a real error).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/backend.h"
#include "../engine/model.h"
#include "../engine/rng.h"
#include "act_emu.h"
#include "bf16.h"
#include "check.h"

#define TOL_EXACT 0.0
#define TOL_ELEMENTWISE 1e-5
#define TOL_OP 2e-4
#define TOL_MODEL 1e-3
#define TOL_BF16 2e-2
#define TOL_TF32 5e-3

static Backend *cpu, *gpu;
static Rng rng;
static int inputs_bf16;  // random inputs rounded to bfloat16 values (see the top)

// What --selftest plants in the second side's model (see the top).
typedef enum Plant { PLANT_NOTHING, PLANT_FLIPS, PLANT_GRADIENT_ERROR } Plant;
static Plant plant;

// A buffer of n floats on both backends.
typedef struct Buf {
    float *c, *g;
    size_t n;
} Buf;

// Ends the test when be has failed, with its failure (file, line, call and
// hint: backend.h, "Failures"): a failed backend's later operations do
// nothing, and the comparisons after it would fail without saying why.
static void require_working(Backend *be) {
    Err e;
    if (!backend_check(be, &e)) return;
    fflush(stdout);  // (the failure after the checks that ran)
    fprintf(stderr, "FAIL: the backend %s failed: %s\n", be->desc, e.msg);
    exit(1);
}

static Buf buf_new(size_t n) {
    Buf b = {cpu->ops->alloc(cpu, n * sizeof(float)), gpu->ops->alloc(gpu, n * sizeof(float)), n};
    require_working(cpu);
    require_working(gpu);
    if (!b.c || !b.g) {
        fprintf(stderr, "out of memory for %zu floats\n", n);
        exit(1);
    }
    return b;
}

static void buf_free(Buf b) {
    cpu->ops->free(cpu, b.c);
    gpu->ops->free(gpu, b.g);
}

static void buf_set(Buf b, const float *host) {
    cpu->ops->upload(cpu, b.c, host, b.n * sizeof(float));
    gpu->ops->upload(gpu, b.g, host, b.n * sizeof(float));
}

// Uniform in [lo, hi); with levels > 0, one of `levels` evenly spaced
// values instead, so that ties (pooling, |x1-x2|) really occur.
static Buf buf_random(size_t n, float lo, float hi, int levels) {
    Buf b = buf_new(n);
    float *h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float u = levels > 0 ? (float)rng_below(&rng, levels) / levels : rng_uniform(&rng);
        h[i] = lo + (hi - lo) * u;
        if (inputs_bf16) h[i] = bf16_widen(bf16_round(h[i]));
    }
    buf_set(b, h);
    free(h);
    return b;
}

static float *download(Backend *be, const float *p, size_t n) {
    float *h = malloc(n * sizeof(float));
    be->ops->download(be, h, p, n * sizeof(float));
    require_working(be);
    return h;
}

static void copy_tensor(Backend *bt, float *to, Backend *bf, const float *from, size_t n) {
    float *h = download(bf, from, n);
    bt->ops->upload(bt, to, h, n * sizeof(float));
    free(h);
}

// Compares the two sides of b; prints and checks the error.
static double expect_close(const char *what, Buf b, double tol) {
    float *c = download(cpu, b.c, b.n), *g = download(gpu, b.g, b.n);
    double err = check_rel_err(g, c, b.n, 1e-30);
    printf("  %-44s max rel err %.2e (tolerance %.0e)\n", what, err, tol);
    CHECK(err <= tol, "%s: %.3e > %.0e", what, err, tol);
    free(c);
    free(g);
    return err;
}

// ---- the GPU's activations --------------------------------------------------------
// The GPU's conv and pool operations on float32 buffers, through bfloat16
// activation buffers where the GPU keeps its activations so: each
// activation argument converted into one (NULL stays NULL), the outputs
// converted back.

// One activation argument of a call: f (n floats) and what the GPU gets, a.
typedef struct Act {
    float *f;
    size_t n;
    int out;  // the call writes it: converted back into f
    void *a;
} Act;
#define ACTS(v) (v), sizeof(v) / sizeof *(v)
#define ACT_IN(p, n) {(float *)(p), (n), 0, NULL}  // read by the call
#define ACT_OUT(p, n) {(p), (n), 1, NULL}          // written (or masked in place)

// Each argument in the GPU's storage: itself in float32, else a converted copy.
static void acts_in(Act *v, size_t k) {
    for (size_t i = 0; i < k; i++) {
        v[i].a = v[i].f;
        if (!v[i].f || gpu->act == BACKEND_ACT_F32) continue;
        v[i].a = gpu->ops->alloc(gpu, v[i].n * sizeof(float));
        require_working(gpu);
        if (!v[i].a) {
            fprintf(stderr, "out of GPU memory for %zu activations\n", v[i].n);
            exit(1);
        }
        gpu->ops->act_from_float(gpu, v[i].a, v[i].f, v[i].n);
    }
}

// The copies' outputs back into their float32 buffers, and the copies freed.
static void acts_out(Act *v, size_t k) {
    for (size_t i = 0; i < k; i++) {
        if (v[i].a == v[i].f) continue;
        if (v[i].out) gpu->ops->act_to_float(gpu, v[i].f, v[i].a, v[i].n);
        gpu->ops->free(gpu, v[i].a);
    }
}

static void gpu_conv3x3_forward(float *out, const float *in, const float *w, const float *bias,
                                int N, int H, int W, int C, int K, int relu) {
    const size_t px = (size_t)N * H * W;
    Act v[] = {ACT_OUT(out, px * K), ACT_IN(in, px * C)};
    acts_in(ACTS(v));
    gpu->ops->conv3x3_forward(gpu, v[0].a, v[1].a, w, bias, N, H, W, C, K, relu);
    acts_out(ACTS(v));
}

static void gpu_conv3x3_backward(float *din, float *dw, float *dbias, float *dout, const float *y,
                                 const float *in, const float *w, int N, int H, int W, int C,
                                 int K) {
    const size_t px = (size_t)N * H * W;
    Act v[] = {ACT_OUT(din, px * C), ACT_OUT(dout, px * K), ACT_IN(y, px * K), ACT_IN(in, px * C)};
    acts_in(ACTS(v));
    gpu->ops->conv3x3_backward(gpu, v[0].a, dw, dbias, v[1].a, v[2].a, v[3].a, w, N, H, W, C, K);
    acts_out(ACTS(v));
}

static void gpu_maxpool2_forward(float *out, uint8_t *argmax, const float *in, int N, int H, int W,
                                 int C) {
    const size_t nin = (size_t)N * H * W * C, nout = (size_t)N * (H / 2) * (W / 2) * C;
    Act v[] = {ACT_OUT(out, nout), ACT_IN(in, nin)};
    acts_in(ACTS(v));
    gpu->ops->maxpool2_forward(gpu, v[0].a, argmax, v[1].a, N, H, W, C);
    acts_out(ACTS(v));
}

static void gpu_maxpool2_backward(float *din, const float *dout, const float *in, const float *out,
                                  const uint8_t *argmax, int N, int H, int W, int C) {
    const size_t nin = (size_t)N * H * W * C, nout = (size_t)N * (H / 2) * (W / 2) * C;
    Act v[] = {ACT_OUT(din, nin), ACT_IN(dout, nout), ACT_IN(in, nin), ACT_IN(out, nout)};
    acts_in(ACTS(v));
    gpu->ops->maxpool2_backward(gpu, v[0].a, v[1].a, v[2].a, v[3].a, argmax, N, H, W, C);
    acts_out(ACTS(v));
}

static void gpu_maxpool2_relu_backward(float *din, float *dbias, float *dout, const float *out,
                                       const uint8_t *argmax, int N, int H, int W, int C) {
    const size_t nin = (size_t)N * H * W * C, nout = (size_t)N * (H / 2) * (W / 2) * C;
    Act v[] = {ACT_OUT(din, nin), ACT_OUT(dout, nout), ACT_IN(out, nout)};
    acts_in(ACTS(v));
    gpu->ops->maxpool2_relu_backward(gpu, v[0].a, dbias, v[1].a, v[2].a, argmax, N, H, W, C);
    acts_out(ACTS(v));
}

// ---- operations --------------------------------------------------------------------

static void test_memory(void) {
    printf("memory\n");
    Buf b = buf_new(1000);
    float *g = download(gpu, b.g, b.n);
    int zero = 1;
    for (size_t i = 0; i < b.n; i++) zero &= g[i] == 0.0f;
    CHECK(zero, "alloc is zero-filled");
    free(g);
    buf_free(b);
    // Larger than one staging buffer (16 MiB), so several chunks.
    Buf r = buf_random((size_t)5 << 20, -1, 1, 0);
    expect_close("upload/download 20 MiB", r, TOL_EXACT);
    cpu->ops->zero(cpu, r.c + 100, 1000 * sizeof(float));
    gpu->ops->zero(gpu, r.g + 100, 1000 * sizeof(float));
    expect_close("zero part of a buffer", r, TOL_EXACT);
    buf_free(r);
    for (int invert = 0; invert <= 1; invert++) {
        const size_t n = (size_t)17 << 20;  // two chunks of bytes
        uint8_t *px = malloc(n);
        for (size_t i = 0; i < n; i++) px[i] = (uint8_t)rng_below(&rng, 256);
        Buf u = buf_new(n);
        cpu->ops->upload_u8(cpu, u.c, px, n, invert);
        gpu->ops->upload_u8(gpu, u.g, px, n, invert);
        expect_close(invert ? "upload_u8, inverted" : "upload_u8", u, TOL_EXACT);
        buf_free(u);
        free(px);
    }
    // From page-locked memory (the loader's batches): the bytes cross on
    // their own stream, into two device buffers in turn; three uploads in a
    // row (six chunks), each checked, the host bytes changed between them
    // as soon as the call returns (it promises they have crossed).
    const size_t n = ((size_t)20 << 20) + 5;  // two chunks, the last one short
    uint8_t *px = gpu->ops->host_alloc(gpu, n), *ref = malloc(n);
    CHECK(px != NULL, "host_alloc of %zu bytes", n);
    Buf u = buf_new(n);
    for (int round = 0; round < 3 && px; round++) {
        for (size_t i = 0; i < n; i++) ref[i] = px[i] = (uint8_t)rng_below(&rng, 256);
        gpu->ops->upload_u8(gpu, u.g, px, n, round == 1);
        memset(px, 0, n);
        cpu->ops->upload_u8(cpu, u.c, ref, n, round == 1);
        expect_close("upload_u8 from host_alloc memory", u, TOL_EXACT);
    }
    // upload from page-locked memory: no staging (on a GPU), and the host
    // bytes may change as soon as the call returns.
    const size_t nf = ((size_t)5 << 20) + 3;
    float *pf = gpu->ops->host_alloc(gpu, nf * sizeof(float)), *reff = malloc(nf * sizeof(float));
    CHECK(pf != NULL, "host_alloc of %zu floats", nf);
    if (pf) {
        Buf f = buf_new(nf);
        for (size_t i = 0; i < nf; i++) reff[i] = pf[i] = rng_uniform(&rng);
        gpu->ops->upload(gpu, f.g, pf, nf * sizeof(float));
        memset(pf, 0, nf * sizeof(float));
        cpu->ops->upload(cpu, f.c, reff, nf * sizeof(float));
        expect_close("upload from host_alloc memory", f, TOL_EXACT);
        buf_free(f);
        gpu->ops->host_free(gpu, pf);
    }
    free(reff);
    // download_async into page-locked memory, read after a fence.
    float *back = gpu->ops->host_alloc(gpu, n / 4 * sizeof(float));
    CHECK(back != NULL, "host_alloc of %zu floats", n / 4);
    if (back) {
        gpu->ops->download_async(gpu, back, u.g + 7, n / 4 * sizeof(float));
        gpu->ops->fence_record(gpu, 1);
        gpu->ops->fence_wait(gpu, 1);
        float *want = download(cpu, u.c + 7, n / 4);
        CHECK(!memcmp(back, want, n / 4 * sizeof(float)), "download_async after fence_wait");
        printf("  %-44s %s\n", "download_async + fence", "equal");
        free(want);
        gpu->ops->host_free(gpu, back);
    }
    buf_free(u);
    gpu->ops->host_free(gpu, px);
    free(ref);
}

// tol: TOL_OP in FP32, TOL_BF16 or TOL_TF32 with --precision bf16 or tf32.
static void test_conv(int N, int H, int W, int C, int K, double tol) {
    char what[96];
    printf("conv3x3 N=%d H=%d W=%d C=%d K=%d\n", N, H, W, C, K);
    const size_t nin = (size_t)N * H * W * C, nout = (size_t)N * H * W * K;
    Buf in = buf_random(nin, -1, 1, 0), w = buf_random(9 * (size_t)C * K, -0.2f, 0.2f, 0);
    Buf bias = buf_random(K, -0.5f, 0.5f, 0), out = buf_new(nout);
    for (int relu = 0; relu <= 1; relu++) {
        cpu->ops->conv3x3_forward(cpu, out.c, in.c, w.c, bias.c, N, H, W, C, K, relu);
        gpu_conv3x3_forward(out.g, in.g, w.g, bias.g, N, H, W, C, K, relu);
        expect_close(relu ? "forward + ReLU" : "forward", out, tol);
    }
    Buf dout = buf_random(nout, -1, 1, 0), din = buf_new(nin), dw = buf_new(w.n), db = buf_new(K);
    for (int with_din = 1; with_din >= 0; with_din--) {
        cpu->ops->conv3x3_backward(cpu, with_din ? din.c : NULL, dw.c, db.c, dout.c, NULL, in.c,
                                   w.c, N, H, W, C, K);
        gpu_conv3x3_backward(with_din ? din.g : NULL, dw.g, db.g, dout.g, NULL, in.g,
                                   w.g, N, H, W, C, K);
        snprintf(what, sizeof what, "backward dW%s", with_din ? "" : " (no dX)");
        expect_close(what, dw, tol);
        expect_close("backward dbias", db, TOL_OP);  // FP32 in any precision
        if (with_din) expect_close("backward dX", din, tol);
    }
    // With the ReLU's output (out: the last forward pass had the ReLU),
    // dout is masked in place first (the model's path). Both sides mask by
    // the CPU's output: in tf32 or bf16 a pre-activation within the GPU's
    // rounding of zero lands on the other side of the ReLU, which is no
    // error of the backward pass (a masked element moves dW by a whole
    // product).
    copy_tensor(gpu, out.g, cpu, out.c, nout);
    cpu->ops->conv3x3_backward(cpu, din.c, dw.c, db.c, dout.c, out.c, in.c, w.c, N, H, W, C, K);
    gpu_conv3x3_backward(din.g, dw.g, db.g, dout.g, out.g, in.g, w.g, N, H, W, C, K);
    expect_close("backward, ReLU mask: dout in place", dout, TOL_EXACT);
    expect_close("backward, ReLU mask: dW", dw, tol);
    expect_close("backward, ReLU mask: dbias", db, TOL_OP);
    expect_close("backward, ReLU mask: dX", din, tol);
    // The GPU keeps transposed kernels; new weights must be seen, whether
    // uploaded or changed by an optimizer step.
    float *h = malloc(w.n * sizeof(float));
    for (size_t i = 0; i < w.n; i++) h[i] = 0.4f * rng_uniform(&rng) - 0.2f;
    buf_set(w, h);
    free(h);
    cpu->ops->conv3x3_forward(cpu, out.c, in.c, w.c, bias.c, N, H, W, C, K, 1);
    gpu_conv3x3_forward(out.g, in.g, w.g, bias.g, N, H, W, C, K, 1);
    expect_close("forward after new weights uploaded", out, tol);
    Buf mom = buf_new(w.n);
    cpu->ops->sgd_nesterov_step(cpu, w.c, dw.c, mom.c, w.n, 0.01f, 0.9f, 0.0f);
    gpu->ops->sgd_nesterov_step(gpu, w.g, dw.g, mom.g, w.n, 0.01f, 0.9f, 0.0f);
    cpu->ops->conv3x3_forward(cpu, out.c, in.c, w.c, bias.c, N, H, W, C, K, 1);
    gpu_conv3x3_forward(out.g, in.g, w.g, bias.g, N, H, W, C, K, 1);
    expect_close("forward after an optimizer step", out, tol);
    Buf bufs[] = {in, w, bias, out, dout, din, dw, db, mom};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) buf_free(bufs[i]);
}

// Parameter-shaped buffers (alloc_params), whose conv kernels the GPU keeps
// in cuDNN's layout: to the caller they read and write as Keras's layout,
// whole or a kernel at a time, and the convolutions take their kernels (w)
// and write their gradients (dw) where they are. tol: the convolutions'.
static void test_param_layout(double tol) {
    printf("parameter buffers (alloc_params)\n");
    const int N = 2, H = 9, W = 7, C = 16, K = 24;
    BackendParamLayout lay = {.n_views = 2};
    lay.views[0] = (BackendKernelView){5, 3, 4};                  // 108 floats
    lay.views[1] = (BackendKernelView){5 + 108 + 7, C, K};        // then K biases
    lay.floats = lay.views[1].off + 9 * (size_t)C * K + K + 3;
    const size_t n = lay.floats, k1 = lay.views[1].off, nk = 9 * (size_t)C * K;
    Buf par = {cpu->ops->alloc_params(cpu, &lay), gpu->ops->alloc_params(gpu, &lay), n};
    Buf grad = {cpu->ops->alloc_params(cpu, &lay), gpu->ops->alloc_params(gpu, &lay), n};
    CHECK(par.c && par.g && grad.c && grad.g, "alloc_params of %zu floats", n);
    if (!par.c || !par.g || !grad.c || !grad.g) return;
    float *h = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = rng_uniform(&rng) - 0.5f;
    buf_set(par, h);
    gpu->ops->download(gpu, back, par.g, n * sizeof(float));
    CHECK(!memcmp(back, h, n * sizeof(float)), "a whole parameter buffer reads back as written");
    gpu->ops->download(gpu, back, par.g + k1, nk * sizeof(float));
    CHECK(!memcmp(back, h + k1, nk * sizeof(float)), "one kernel reads back as written");
    for (size_t i = 0; i < nk; i++) h[k1 + i] = 0.4f * rng_uniform(&rng) - 0.2f;
    cpu->ops->upload(cpu, par.c + k1, h + k1, nk * sizeof(float));
    gpu->ops->upload(gpu, par.g + k1, h + k1, nk * sizeof(float));
    gpu->ops->download(gpu, back, par.g, n * sizeof(float));
    CHECK(!memcmp(back, h, n * sizeof(float)), "one kernel written, the whole buffer reads back");
    printf("  %-44s %s\n", "upload and download, whole and by kernel", "exact");
    // A convolution with its kernel and bias in the buffer, and its
    // gradients into the other: forward, backward, an SGD step on both.
    Buf in = buf_random((size_t)N * H * W * C, -1, 1, 0), out = buf_new((size_t)N * H * W * K);
    Buf dout = buf_random(out.n, -1, 1, 0), din = buf_new(in.n), mom = buf_new(n);
    const size_t bias = k1 + nk;
    cpu->ops->conv3x3_forward(cpu, out.c, in.c, par.c + k1, par.c + bias, N, H, W, C, K, 1);
    gpu_conv3x3_forward(out.g, in.g, par.g + k1, par.g + bias, N, H, W, C, K, 1);
    expect_close("forward, kernel in a parameter buffer", out, tol);
    cpu->ops->conv3x3_backward(cpu, din.c, grad.c + k1, grad.c + bias, dout.c, out.c, in.c,
                               par.c + k1, N, H, W, C, K);
    gpu_conv3x3_backward(din.g, grad.g + k1, grad.g + bias, dout.g, out.g, in.g,
                               par.g + k1, N, H, W, C, K);
    expect_close("backward dX, kernel in a parameter buffer", din, tol);
    expect_close("backward dW and dbias into one (whole buffer)", grad, tol);
    cpu->ops->sgd_nesterov_step(cpu, par.c, grad.c, mom.c, n, 0.01f, 0.9f, 5e-4f);
    gpu->ops->sgd_nesterov_step(gpu, par.g, grad.g, mom.g, n, 0.01f, 0.9f, 5e-4f);
    expect_close("an SGD step over both buffers", par, tol);
    free(h);
    free(back);
    Buf bufs[] = {par, grad, in, out, dout, din, mom};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) buf_free(bufs[i]);
}

static void test_relu_backward(void) {
    printf("relu_backward\n");
    const size_t n = 100003;
    Buf y = buf_random(n, -1, 1, 4), dy = buf_random(n, -1, 1, 0);
    cpu->ops->relu_backward(cpu, dy.c, dy.c, y.c, n);  // in place, as the model does
    gpu->ops->relu_backward(gpu, dy.g, dy.g, y.g, n);
    expect_close("in place", dy, TOL_EXACT);
    buf_free(y);
    buf_free(dy);
}

static void test_pool(int N, int H, int W, int C, int levels) {
    char what[96];
    printf("maxpool2 N=%d H=%d W=%d C=%d%s\n", N, H, W, C, levels ? " (many ties)" : "");
    const size_t nin = (size_t)N * H * W * C, nout = (size_t)N * (H / 2) * (W / 2) * C;
    Buf in = buf_random(nin, -1, 1, levels), out = buf_new(nout), dout = buf_random(nout, -1, 1, 0);
    Buf din = buf_new(nin);  // set to junk below: the backward pass must write every element
    // The window maxima kept by the forward pass (the model's training
    // path), then without them (the backward pass finds them again).
    uint8_t *arg[2] = {cpu->ops->alloc(cpu, nout), gpu->ops->alloc(gpu, nout)};
    float *junk = malloc(nin * sizeof(float));
    for (size_t i = 0; i < nin; i++) junk[i] = 5.5f;
    CHECK(arg[0] && arg[1], "alloc of %zu bytes", nout);
    for (int kept = 1; kept >= 0 && arg[0] && arg[1]; kept--) {
        buf_set(din, junk);
        cpu->ops->maxpool2_forward(cpu, out.c, kept ? arg[0] : NULL, in.c, N, H, W, C);
        gpu_maxpool2_forward(out.g, kept ? arg[1] : NULL, in.g, N, H, W, C);
        expect_close(kept ? "forward, argmax kept" : "forward", out, TOL_EXACT);
        cpu->ops->maxpool2_backward(cpu, din.c, dout.c, in.c, out.c, kept ? arg[0] : NULL, N, H,
                                    W, C);
        gpu_maxpool2_backward(din.g, dout.g, in.g, out.g, kept ? arg[1] : NULL, N, H,
                                    W, C);
        snprintf(what, sizeof what, "backward%s (first maximum gets the gradient)",
                 kept ? ", argmax kept" : "");
        expect_close(what, din, TOL_EXACT);
    }
    // The backward pass fused with the ReLU mask and the bias gradient of
    // the conv layer before it (backend.h), where the second backend has
    // it, against the CPU's separate passes: the route, the mask by the
    // pool's input (that conv's ReLU output) and the column sums.
    if (gpu->ops->maxpool2_relu_backward && arg[0] && arg[1]) {
        Buf db = buf_new(C), dmask = buf_new(nout);
        float *g = download(cpu, dout.c, nout), *dx, *sums = calloc(C, sizeof *sums);
        buf_set(dmask, g);
        buf_set(din, junk);
        cpu->ops->maxpool2_forward(cpu, out.c, arg[0], in.c, N, H, W, C);
        gpu_maxpool2_forward(out.g, arg[1], in.g, N, H, W, C);
        cpu->ops->maxpool2_backward(cpu, din.c, dout.c, in.c, out.c, arg[0], N, H, W, C);
        cpu->ops->relu_backward(cpu, din.c, din.c, in.c, nin);
        dx = download(cpu, din.c, nin);
        for (size_t i = 0; i < nin; i++) sums[i % C] += dx[i];
        cpu->ops->upload(cpu, db.c, sums, C * sizeof(float));
        cpu->ops->relu_backward(cpu, dmask.c, dmask.c, out.c, nout);
        gpu_maxpool2_relu_backward(din.g, db.g, dmask.g, out.g, arg[1], N, H, W, C);
        expect_close("backward with the ReLU mask: din", din, TOL_EXACT);
        expect_close("backward with the ReLU mask: dbias", db, TOL_OP);
        expect_close("backward with the ReLU mask: dout in place", dmask, TOL_EXACT);
        free(g);
        free(dx);
        free(sums);
        buf_free(db);
        buf_free(dmask);
    }
    cpu->ops->free(cpu, arg[0]);
    gpu->ops->free(gpu, arg[1]);
    free(junk);
    buf_free(in);
    buf_free(out);
    buf_free(dout);
    buf_free(din);
}

static void test_dense(int N, int In, int Out, double tol) {
    printf("dense N=%d In=%d Out=%d\n", N, In, Out);
    Buf in = buf_random((size_t)N * In, -1, 1, 0), w = buf_random((size_t)In * Out, -0.1f, 0.1f, 0);
    Buf bias = buf_random(Out, -0.5f, 0.5f, 0), out = buf_new((size_t)N * Out);
    for (int relu = 0; relu <= 1; relu++) {
        cpu->ops->dense_forward(cpu, out.c, in.c, w.c, bias.c, N, In, Out, relu);
        gpu->ops->dense_forward(gpu, out.g, in.g, w.g, bias.g, N, In, Out, relu);
        expect_close(relu ? "forward + ReLU" : "forward", out, tol);
    }
    Buf dout = buf_random((size_t)N * Out, -1, 1, 0), din = buf_new(in.n), dw = buf_new(w.n);
    Buf db = buf_new(Out);
    for (int with_din = 1; with_din >= 0; with_din--) {
        cpu->ops->dense_backward(cpu, with_din ? din.c : NULL, dw.c, db.c, dout.c, in.c, w.c, N,
                                 In, Out);
        gpu->ops->dense_backward(gpu, with_din ? din.g : NULL, dw.g, db.g, dout.g, in.g, w.g, N,
                                 In, Out);
        expect_close(with_din ? "backward dW" : "backward dW (no dX)", dw, tol);
        expect_close("backward dbias", db, TOL_OP);  // FP32 in any precision
        if (with_din) expect_close("backward dX", din, tol);
    }
    Buf bufs[] = {in, w, bias, out, dout, din, dw, db};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) buf_free(bufs[i]);
}

static void test_head(void) {
    printf("absdiff, sigmoid + BCE\n");
    const size_t n = 3 * 4608;
    Buf x1 = buf_random(n, -1, 1, 8), x2 = buf_random(n, -1, 1, 8), out = buf_new(n);
    cpu->ops->absdiff_forward(cpu, out.c, x1.c, x2.c, n);
    gpu->ops->absdiff_forward(gpu, out.g, x1.g, x2.g, n);
    expect_close("absdiff forward", out, TOL_EXACT);
    Buf dout = buf_random(n, -1, 1, 0), dx1 = buf_new(n), dx2 = buf_new(n);
    cpu->ops->absdiff_backward(cpu, dx1.c, dx2.c, dout.c, x1.c, x2.c, n);
    gpu->ops->absdiff_backward(gpu, dx1.g, dx2.g, dout.g, x1.g, x2.g, n);
    expect_close("absdiff backward dx1 (sign(0) = 0)", dx1, TOL_EXACT);
    expect_close("absdiff backward dx2", dx2, TOL_EXACT);
    const int N = 777;
    Buf z = buf_random(N, -30, 30, 0), y = buf_random(N, 0, 2, 2), prob = buf_new(N);
    Buf loss = buf_new(1), dz = buf_new(N);
    cpu->ops->sigmoid_bce_forward(cpu, prob.c, loss.c, z.c, y.c, N);
    gpu->ops->sigmoid_bce_forward(gpu, prob.g, loss.g, z.g, y.g, N);
    expect_close("sigmoid", prob, TOL_ELEMENTWISE);
    expect_close("mean BCE", loss, TOL_ELEMENTWISE);
    cpu->ops->sigmoid_bce_backward(cpu, dz.c, prob.c, y.c, N, N);
    gpu->ops->sigmoid_bce_backward(gpu, dz.g, prob.g, y.g, N, N);
    expect_close("BCE backward", dz, TOL_ELEMENTWISE);
    // A part of a larger batch (data-parallel training).
    cpu->ops->sigmoid_bce_backward(cpu, dz.c, prob.c, y.c, N, 3 * N);
    gpu->ops->sigmoid_bce_backward(gpu, dz.g, prob.g, y.g, N, 3 * N);
    expect_close("BCE backward of a part", dz, TOL_ELEMENTWISE);
    cpu->ops->sigmoid_bce_forward(cpu, prob.c, NULL, z.c, NULL, N);
    gpu->ops->sigmoid_bce_forward(gpu, prob.g, NULL, z.g, NULL, N);
    expect_close("sigmoid without labels", prob, TOL_ELEMENTWISE);
    Buf bufs[] = {x1, x2, out, dout, dx1, dx2, z, y, prob, loss, dz};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) buf_free(bufs[i]);
}

static void test_optimizers(void) {
    printf("optimizers\n");
    const size_t n = 300007;
    Buf p = buf_random(n, -1, 1, 0), g = buf_random(n, -1, 1, 0), m = buf_new(n), v = buf_new(n);
    for (int t = 1; t <= 3; t++) {
        cpu->ops->sgd_nesterov_step(cpu, p.c, g.c, m.c, n, 0.01f, 0.9f, 5e-4f);
        gpu->ops->sgd_nesterov_step(gpu, p.g, g.g, m.g, n, 0.01f, 0.9f, 5e-4f);
    }
    expect_close("SGD-Nesterov, 3 steps: parameters", p, TOL_ELEMENTWISE);
    expect_close("SGD-Nesterov, 3 steps: momentum", m, TOL_ELEMENTWISE);
    cpu->ops->zero(cpu, m.c, n * sizeof(float));
    gpu->ops->zero(gpu, m.g, n * sizeof(float));
    for (long t = 1; t <= 3; t++) {
        cpu->ops->adam_step(cpu, p.c, g.c, m.c, v.c, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 5e-4f, t);
        gpu->ops->adam_step(gpu, p.g, g.g, m.g, v.g, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 5e-4f, t);
    }
    expect_close("Adam, 3 steps: parameters", p, TOL_ELEMENTWISE);
    expect_close("Adam, 3 steps: first moment", m, TOL_ELEMENTWISE);
    expect_close("Adam, 3 steps: second moment", v, TOL_ELEMENTWISE);
    buf_free(p);
    buf_free(g);
    buf_free(m);
    buf_free(v);
}

// ---- the whole model -----------------------------------------------------------------

// Where exactly one side is positive: ReLU decisions taken differently.
static size_t relu_flips(const float *a, const float *b, size_t n) {
    size_t f = 0;
    for (size_t i = 0; i < n; i++) f += (a[i] > 0) != (b[i] > 0);
    return f;
}

// Max-pool windows whose first maximum differs between the two inputs
// (B,H,W,C), counting only windows with a positive maximum (ties at ReLU's
// zero route gradients that the ReLU mask then discards).
static size_t pool_flips(const float *a, const float *b, int B, int H, int W, int C) {
    size_t f = 0;
    for (int n = 0; n < B; n++)
        for (int oy = 0; oy < H / 2; oy++)
            for (int ox = 0; ox < W / 2; ox++)
                for (int c = 0; c < C; c++) {
                    size_t q[4], base = (((size_t)n * H + 2 * oy) * W + 2 * ox) * C + c;
                    q[0] = base, q[1] = base + C, q[2] = base + (size_t)W * C, q[3] = q[2] + C;
                    int ia = 0, ib = 0;
                    for (int k = 1; k < 4; k++) {
                        if (a[q[k]] > a[q[ia]]) ia = k;
                        if (b[q[k]] > b[q[ib]]) ib = k;
                    }
                    f += ia != ib && (a[q[ia]] > 0 || b[q[ib]] > 0);
                }
    return f;
}

static double norm_rel_err(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return r > 0 ? sqrt(d / r) : sqrt(d);
}

// Compares a model tensor (device pointers into each model) and returns
// its max relative error; the bound is element by element, or in norm when
// norm_wise (see the top).
static double model_tensor(const char *what, const float *pc, const float *pg, size_t n,
                           int norm_wise, double *worst) {
    float *c = download(cpu, pc, n), *g = download(gpu, pg, n);
    double err = check_rel_err(g, c, n, 1e-30), nerr = norm_rel_err(g, c, n);
    printf("  %-28s max rel err %.2e   norm rel err %.2e\n", what, err, nerr);
    if (norm_wise)
        CHECK(nerr <= TOL_MODEL, "%s: norm rel err %.3e > %.0e", what, nerr, TOL_MODEL);
    else
        CHECK(err <= TOL_MODEL, "%s: max rel err %.3e > %.0e", what, err, TOL_MODEL);
    if (err > *worst) *worst = err;
    free(c);
    free(g);
    return err;
}

// A device tensor of n floats copied from model `from` (on backend bf) into
// model `to` (on bt).

// Each max-pool's output and window choices (m->argmax) made again from
// the activations m holds now, as a forward pass over them makes them: a
// backward pass routes by the argmax its own forward pass kept, so after
// activations are replaced (taken from the other side, or planted), the
// choices must follow them.
static void pool_decide_again(Backend *be, Model *m, int N) {
    for (int i = 1; i < m->n_backbone; i++) {
        const Layer *l = &m->layers[i];
        if (l->kind == LAYER_POOL)
            be->ops->maxpool2_forward(be, m->acts[i], m->argmax[i], m->acts[i - 1], 2 * N, l->H,
                                      l->W, l->C);
    }
}

// Everything of the GPU's last forward pass that a backward pass reads, into
// the CPU model: the input, every backbone activation, |f1 - f2|, the hidden
// layer, the logits and probabilities (the labels are the same already).
static void take_forward_state(Model *mc, Model *mg, int N) {
    const size_t img = (size_t)mc->spec.input_size * mc->spec.input_size * 3;
    copy_tensor(cpu, mc->input, gpu, mg->input, 2 * N * img);
    for (int i = 0; i < mc->n_backbone; i++) {
        const Layer *l = &mc->layers[i];
        copy_tensor(cpu, mc->acts[i], gpu, mg->acts[i], 2 * (size_t)N * l->OH * l->OW * l->K);
    }
    copy_tensor(cpu, mc->diff, gpu, mg->diff, (size_t)N * mc->feat_dim);
    copy_tensor(cpu, mc->hidden, gpu, mg->hidden, (size_t)N * mc->spec.hidden);
    copy_tensor(cpu, mc->logit, gpu, mg->logit, N);
    copy_tensor(cpu, mc->prob, gpu, mg->prob, N);
    pool_decide_again(cpu, mc, N);
}

// PLANT_FLIPS: in up to `windows` near-tied 2x2 windows of the first
// max-pool's input on the second side (a positive runner-up within 1e-3 of
// the maximum), the runner-up is raised just above the maximum (by 2^-20 of
// it), as rounding does to a near-tie, and the pooled value follows: the
// forward pass moves by less than 1e-3, the argmax moves.
static void plant_flips(Model *m, int N, int windows) {
    int p = 0;
    while (m->layers[p].kind != LAYER_POOL) p++;
    const Layer *l = &m->layers[p];
    const size_t nin = 2 * (size_t)N * l->H * l->W * l->C, nout = 2 * (size_t)N * l->OH * l->OW * l->K;
    float *in = download(gpu, m->acts[p - 1], nin), *out = download(gpu, m->acts[p], nout);
    int done = 0;
    for (size_t o = 0; o < nout && done < windows; o++) {
        const size_t c = o % l->C, ox = o / l->C % l->OW, oy = o / l->C / l->OW % l->OH;
        const size_t n = o / l->C / l->OW / l->OH;
        size_t q[4];
        q[0] = ((n * l->H + 2 * oy) * l->W + 2 * ox) * l->C + c;
        q[1] = q[0] + l->C, q[2] = q[0] + (size_t)l->W * l->C, q[3] = q[2] + l->C;
        int a = 0, b = -1;  // the first maximum, the runner-up
        for (int k = 1; k < 4; k++)
            if (in[q[k]] > in[q[a]]) a = k;
        for (int k = 0; k < 4; k++)
            if (k != a && (b < 0 || in[q[k]] > in[q[b]])) b = k;
        if (!(in[q[b]] > 0 && in[q[a]] - in[q[b]] <= 1e-3f * in[q[a]])) continue;
        in[q[b]] = in[q[a]] * (1.0f + 0x1p-20f);
        out[o] = in[q[b]];
        done++;
    }
    gpu->ops->upload(gpu, m->acts[p - 1], in, nin * sizeof(float));
    gpu->ops->upload(gpu, m->acts[p], out, nout * sizeof(float));
    pool_decide_again(gpu, m, N);  // as the GPU's forward pass would have chosen
    printf("  (planted: %d argmax flips in %s's input)\n", done, l->name);
    CHECK(done > 0, "no near-tied window to plant a flip in");
    free(in);
    free(out);
}

// PLANT_GRADIENT_ERROR: one element of a conv kernel's gradient on the
// second side moved by 1% of that gradient's largest value.
static void plant_gradient_error(Model *m) {
    const Layer *l = &m->layers[3];  // block2_conv1
    float *g = download(gpu, m->grads + l->w_off, l->w_len), big = 0;
    for (size_t i = 0; i < l->w_len; i++) big = fmaxf(big, fabsf(g[i]));
    g[l->w_len / 2] += 0.01f * big;
    gpu->ops->upload(gpu, m->grads + l->w_off, g, l->w_len * sizeof(float));
    printf("  (planted: %s dW off by 1e-2 of its largest value at one element)\n", l->name);
    free(g);
}

static void test_model(const ModelSpec *spec, const char *name, int N) {
    Err e;
    Model *mc, *mg;
    printf("model %s, input %d, %d pairs: forward and backward\n", name, spec->input_size, N);
    if (model_create(&mc, spec, cpu, &e) || model_create(&mg, spec, gpu, &e) ||
        model_enable_training(mc, &e) || model_enable_training(mg, &e)) {
        CHECK(0, "%s", e.msg);
        return;
    }
    CHECK(!model_init_random(mc, 42, &e) && !model_init_random(mg, 42, &e), "%s", e.msg);
    // Biases are zero after Keras's initialisation; small random ones make
    // their gradients and the ReLUs' decisions less degenerate.
    float *params = download(cpu, mc->params, mc->n_params);
    for (int i = 0; i < mc->n_layers; i++) {
        const Layer *l = &mc->layers[i];
        for (size_t j = 0; j < l->b_len; j++) params[l->b_off + j] = 0.02f * rng_uniform(&rng);
    }
    cpu->ops->upload(cpu, mc->params, params, mc->n_params * sizeof(float));
    gpu->ops->upload(gpu, mg->params, params, mc->n_params * sizeof(float));
    free(params);

    const size_t img = (size_t)spec->input_size * spec->input_size * 3;
    float *pairs = malloc(2 * N * img * sizeof(float)), labels[64], pc[64], pg[64], lc, lg;
    for (size_t i = 0; i < 2 * N * img; i++) pairs[i] = rng_uniform(&rng);
    for (int i = 0; i < N; i++) labels[i] = (float)(i % 2);
    if (siamese_forward(mc, pairs, labels, N, pc, &lc, &e) ||
        siamese_forward(mg, pairs, labels, N, pg, &lg, &e)) {
        CHECK(0, "%s", e.msg);
        return;
    }
    if (plant == PLANT_FLIPS) plant_flips(mg, N, 20);
    double worst = 0;
    size_t flips = 0;
    char what[64];
    float *prev_c = NULL, *prev_g = NULL;  // the previous layer's output, both sides
    for (int i = 0; i < mc->n_backbone; i++) {
        const Layer *l = &mc->layers[i];
        size_t n = 2 * (size_t)N * l->OH * l->OW * l->K;
        float *a = download(cpu, mc->acts[i], n), *b = download(gpu, mg->acts[i], n);
        size_t f = l->kind == LAYER_CONV ? relu_flips(b, a, n)
                                         : pool_flips(prev_c, prev_g, 2 * N, l->H, l->W, l->C);
        double err = check_rel_err(b, a, n, 1e-30);
        printf("  %-28s max rel err %.2e   %s flips %zu of %zu\n", l->name, err,
               l->kind == LAYER_CONV ? "ReLU" : "argmax", f, n);
        CHECK(err <= TOL_MODEL, "%s output: %.3e", l->name, err);
        flips += f;
        free(prev_c);
        free(prev_g);
        prev_c = a, prev_g = b;
    }
    free(prev_c);
    free(prev_g);
    {
        size_t n = (size_t)N * spec->hidden;
        float *a = download(cpu, mc->hidden, n), *b = download(gpu, mg->hidden, n);
        size_t f = relu_flips(b, a, n);
        printf("  %-28s max rel err %.2e   ReLU flips %zu of %zu\n", "dense_1",
               check_rel_err(b, a, n, 1e-30), f, n);
        flips += f;
        free(a);
        free(b);
    }
    double perr = fabs(pg[0] - pc[0]);
    for (int i = 1; i < N; i++) perr = fmax(perr, fabs(pg[i] - pc[i]));
    printf("  %-28s max abs err %.2e\n  %-28s cpu %.7f gpu %.7f\n", "probabilities", perr,
           "loss", lc, lg);
    CHECK(perr <= TOL_MODEL, "probabilities differ by %.3e", perr);
    CHECK(fabs(lg - lc) <= TOL_MODEL * fmax(1.0, fabs(lc)), "loss %.7f vs %.7f", lg, lc);

    // Both backward passes from the GPU's activations (see the top).
    if (flips) printf("  %zu ReLU or max-pool decisions differ in the forward pass\n", flips);
    printf("  backward from the same activations (the GPU's) on both sides\n");
    take_forward_state(mc, mg, N);
    siamese_backward(mc, N, 1);
    siamese_backward(mg, N, 1);
    if (plant == PLANT_GRADIENT_ERROR) plant_gradient_error(mg);
    for (int i = 0; i < mc->n_layers; i++) {
        const Layer *l = &mc->layers[i];
        if (l->kind == LAYER_POOL) continue;
        snprintf(what, sizeof what, "%s dW", l->name);
        model_tensor(what, mc->grads + l->w_off, mg->grads + l->w_off, l->w_len, 0, &worst);
        snprintf(what, sizeof what, "%s dbias", l->name);
        model_tensor(what, mc->grads + l->b_off, mg->grads + l->b_off, l->b_len, 0, &worst);
    }
    model_tensor("input gradient", mc->dinput, mg->dinput, 2 * N * img, 0, &worst);
    printf("  worst max rel err over all gradients: %.2e (limit %.0e)\n", worst, TOL_MODEL);

    // Three training steps: the transposed kernels must follow the updates.
    Backend *be[2] = {cpu, gpu};
    Model *ms[2] = {mc, mg};
    float losses[2];
    for (int k = 0; k < 2; k++) {
        float *mom = be[k]->ops->alloc(be[k], ms[k]->n_params * sizeof(float));
        for (int step = 0; step < 3; step++) {
            siamese_forward(ms[k], pairs, labels, N, NULL, &losses[k], &e);
            siamese_backward(ms[k], N, 0);
            be[k]->ops->sgd_nesterov_step(be[k], ms[k]->params, ms[k]->grads, mom,
                                          ms[k]->n_params, 0.01f, 0.9f, 5e-4f);
        }
        siamese_forward(ms[k], pairs, labels, N, NULL, &losses[k], &e);
        be[k]->ops->free(be[k], mom);
    }
    printf("  after 3 SGD steps: loss cpu %.7f gpu %.7f\n", losses[0], losses[1]);
    model_tensor("parameters after 3 steps", mc->params, mg->params, mc->n_params, 1, &worst);
    CHECK(fabs(losses[1] - losses[0]) <= TOL_MODEL * fmax(1.0, fabs(losses[0])),
          "loss after 3 steps %.7f vs %.7f", losses[1], losses[0]);

    // The byte path gives the same input as the float path.
    uint8_t *px = malloc(2 * N * img);
    float *fx = malloc(2 * N * img * sizeof(float));
    for (size_t i = 0; i < 2 * N * img; i++) {
        px[i] = (uint8_t)rng_below(&rng, 256);
        fx[i] = px[i] / 255.0f;
    }
    siamese_forward(mg, fx, NULL, N, pc, NULL, &e);
    siamese_forward_u8(mg, px, NULL, N, pg, NULL, &e);
    CHECK(!memcmp(pc, pg, N * sizeof(float)), "siamese_forward_u8 differs from siamese_forward");
    // The trainer's path: bytes from page-locked memory, two forward passes
    // queued before either is read back, each read back as the synchronous
    // path gives it.
    uint8_t *pinned = gpu->ops->host_alloc(gpu, 2 * N * img);
    float lq[2], lw[2], pq[2][64];
    for (int k = 0; k < 2 && pinned; k++) {
        for (size_t i = 0; i < 2 * N * img; i++) pinned[i] = px[i] ^ (uint8_t)(k * 0x55);
        siamese_forward_queued(mg, pinned, labels, N, k, &e);
    }
    for (int k = 0; k < 2 && pinned; k++) {
        CHECK(siamese_readback(mg, k, N, &lq[k], pq[k], &e) == 0, "%s", e.msg);
        for (size_t i = 0; i < 2 * N * img; i++) pinned[i] = px[i] ^ (uint8_t)(k * 0x55);
        siamese_forward_u8(mg, pinned, labels, N, pg, &lw[k], &e);
        CHECK(lq[k] == lw[k] && !memcmp(pq[k], pg, N * sizeof(float)),
              "queued forward pass %d read back %.7f, the synchronous one gives %.7f", k, lq[k],
              lw[k]);
    }
    CHECK(pinned && lq[0] != lq[1], "two different batches give two losses");
    printf("  %-28s loss %.7f and %.7f, as the synchronous path\n", "queued forward, read back",
           lq[0], lq[1]);
    gpu->ops->host_free(gpu, pinned);
    free(px);
    free(fx);
    free(pairs);
    model_free(mc);
    model_free(mg);
}

// --precision bf16 or tf32: the conv and dense operations in that
// precision, then FP32 again.
static void test_reduced(BackendPrecision p) {
    Err e;
    if (backend_set_precision(gpu, p, &e)) {
        CHECK(0, "%s", e.msg);
        return;
    }
    const double conv_tol = p == BACKEND_BF16 ? TOL_BF16 : TOL_TF32;
    const double dense_tol = p == BACKEND_BF16 ? TOL_BF16 : TOL_OP;  // tf32: dense stays FP32
    printf("--precision %s: conv3x3 (tolerance %.0e) and dense (%.0e) vs the CPU's FP32\n",
           backend_precision_name(p), conv_tol, dense_tol);
    inputs_bf16 = gpu->act == BACKEND_ACT_BF16;
    if (inputs_bf16) {
        printf("bfloat16 activations (%s): inputs are bfloat16 values\n", gpu->desc);
        test_pool(2, 9, 7, 5, 0);
        test_pool(3, 16, 16, 64, 4);
        test_pool(2, 105, 105, 64, 16);  // VGG16's first pool, with ties
    }
    test_conv(1, 5, 7, 3, 4, conv_tol);
    test_conv(2, 13, 11, 16, 32, conv_tol);
    test_conv(3, 8, 8, 64, 64, conv_tol);
    test_conv(2, 26, 26, 128, 96, conv_tol);
    test_conv(2, 3, 3, 512, 512, conv_tol);
    test_conv(2, 105, 105, 3, 64, conv_tol);  // VGG16's first layer: 3 channels
    test_param_layout(conv_tol);
    test_dense(1, 37, 19, dense_tol);
    test_dense(5, 4608, 512, dense_tol);
    test_dense(7, 512, 1, dense_tol);
    backend_set_precision(gpu, BACKEND_FP32, &e);
    inputs_bf16 = 0;
    CHECK(gpu->act == BACKEND_ACT_F32, "float32 activations again in FP32");
    printf("back to FP32\n");
    test_conv(2, 13, 11, 16, 32, TOL_OP);
    test_dense(5, 4608, 512, TOL_OP);
}

// --selftest: the model check on the compact model, planted flips (must
// pass) and a planted gradient error (must fail; its failures are then
// taken back, and one check records that it failed).
static void selftest(void) {
    ModelSpec spec;
    model_spec_compact(&spec, 64);
    plant = PLANT_FLIPS;
    test_model(&spec, "compact, with planted near-tie flips", 3);
    plant = PLANT_GRADIENT_ERROR;
    const int before = check_failures;
    printf("(the next model check must fail)\n");
    test_model(&spec, "compact, with a planted gradient error", 3);
    const int caught = check_failures - before;
    check_failures = before;
    CHECK(caught > 0, "a gradient off by 1e-2 of its largest value went unnoticed");
    printf("the planted gradient error was caught (%d failed check%s)\n", caught,
           caught == 1 ? "" : "s");
    plant = PLANT_NOTHING;
}

int main(int argc, char **argv) {
    int full = 0, reduced = -1, self = 0;
    const char *device = "cuda";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--full")) {
            full = 1;
        } else if (!strcmp(argv[i], "--selftest")) {
            self = 1;
        } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
        } else if (!strcmp(argv[i], "--precision") && i + 1 < argc &&
                   backend_precision_parse(argv[i + 1]) > BACKEND_FP32) {
            reduced = backend_precision_parse(argv[++i]);
        } else {
            fprintf(stderr, "usage: test_backend_parity [--device cuda|cpu|cpu-bf16] [--full] "
                            "[--precision tf32|bf16] [--selftest]\n");
            return 2;
        }
    }
    Err e;
    // Plain FP32 on the GPU, whatever the default: TF32 would differ from
    // the CPU by ~1e-3. (The override stops TF32 only: bf16 still runs.)
    if (reduced != BACKEND_TF32) setenv("NVIDIA_TF32_OVERRIDE", "0", 1);
    // The second CPU backend has one thread: its reductions round otherwise.
    const int emulated = !strcmp(device, "cpu-bf16"), second_cpu = emulated || !strcmp(device, "cpu");
    if (backend_open(&gpu, emulated ? "cpu" : device, second_cpu, NULL, 0, &e))
        CHECK_SKIP("%s", e.msg);
    if (emulated) gpu = act_emu_open(gpu);
    CHECK(backend_set_precision(gpu, BACKEND_FP32, &e) == 0, "%s", e.msg);
    if (backend_open(&cpu, "cpu", 0, NULL, 0, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    printf("CPU: %s\n%s: %s\n", cpu->desc, second_cpu ? "CPU 2" : "GPU", gpu->desc);
    rng_seed(&rng, 7);
    if (self) {
        selftest();
    } else if (reduced >= 0) {
        test_reduced((BackendPrecision)reduced);
    } else {
        test_memory();
        test_conv(1, 5, 7, 3, 4, TOL_OP);
        test_conv(2, 13, 11, 16, 32, TOL_OP);
        test_conv(3, 8, 8, 64, 64, TOL_OP);
        test_conv(2, 26, 26, 128, 96, TOL_OP);
        test_conv(2, 3, 3, 512, 512, TOL_OP);
        test_param_layout(TOL_OP);
        test_relu_backward();
        test_pool(2, 7, 9, 5, 0);
        test_pool(3, 26, 26, 64, 3);
        test_pool(1, 105, 105, 3, 2);
        test_dense(1, 37, 19, TOL_OP);
        test_dense(5, 4608, 512, TOL_OP);
        test_dense(7, 512, 1, TOL_OP);
        test_head();
        test_optimizers();
        ModelSpec spec;
        model_spec_compact(&spec, 64);
        test_model(&spec, "compact", 3);
        if (full) {
            model_spec_vgg16(&spec, 105);
            test_model(&spec, "vgg16", 2);
        }
    }
    backend_close(gpu);
    backend_close(cpu);
    return check_summary("test_backend_parity");
}
