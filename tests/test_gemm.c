// The CPU products against naive double-precision references, with every
// kernel the CPU runs (portable, AVX2, AVX-512): gemm_rows and gemm_rows_tn
// on odd sizes (partial tiles, several chunks, several threads), the CPU
// backend's conv3x3 forward/backward (direct and Winograd) and dense
// forward/backward against a direct convolution and plain loops, forward
// results bit for bit across thread counts and with the forms of the
// weights the backend keeps between passes; then the AVX2 and AVX-512
// kernels against each other, bit for bit.
#include <string.h>

#include "../engine/backend.h"
#include "../engine/gemm.h"
#include "../engine/rng.h"
#include "../engine/winograd.h"
#include "check.h"

static float *randv(Rng *r, size_t n) {
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = (float)(2.0 * rng_uniform(r) - 1.0);
    return v;
}

// A as ntaps matrices (M,Kc) stored one after the other; row m of tap t.
typedef struct Taps {
    const float *a;
    int M, Kc, ntaps;
} Taps;

static void taps_rows(const void *ctx, int m0, int count, const float *(*ptr)[GEMM_MAX_TAPS]) {
    const Taps *t = ctx;
    for (int i = 0; i < count; i++)
        for (int k = 0; k < t->ntaps; k++) ptr[i][k] = t->a + ((size_t)k * t->M + m0 + i) * t->Kc;
}

static void check_gemm(Rng *r, int M, int N, int ntaps, int Kc, int threads, int relu) {
    const int Kd = ntaps * Kc;
    float *a = randv(r, (size_t)ntaps * M * Kc), *bm = randv(r, (size_t)Kd * N);
    float *bias = randv(r, N), *c = randv(r, (size_t)M * N), *ref = malloc(sizeof(float) * M * N);
    float *bp = malloc(sizeof(float) * gemm_packed_b_floats(Kd, N));
    // pack in two calls to exercise partial row ranges
    gemm_pack_b(bp, Kd, N, 0, Kd / 2, bm, N, 1);
    gemm_pack_b(bp, Kd, N, Kd / 2, Kd - Kd / 2, bm + (size_t)(Kd / 2) * N, N, 1);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = bias[n];
            for (int t = 0; t < ntaps; t++)
                for (int k = 0; k < Kc; k++)
                    s += (double)a[((size_t)t * M + m) * Kc + k] * bm[(size_t)(t * Kc + k) * N + n];
            ref[(size_t)m * N + n] = relu && s < 0 ? 0.0f : (float)s;
        }
    Taps tp = {a, M, Kc, ntaps};
    gemm_rows(c, N, M, N, ntaps, Kc, taps_rows, &tp, bp, 0, bias, relu, threads);
    double e = check_rel_err(c, ref, (size_t)M * N, 1.0);
    CHECK(e < 1e-5, "gemm_rows M=%d N=%d taps=%d Kc=%d threads=%d: rel err %g", M, N, ntaps, Kc,
          threads, e);
    if (N % GEMM_NR == 0) {  // B read in place
        memset(c, 0, sizeof(float) * M * N);
        gemm_rows(c, N, M, N, ntaps, Kc, taps_rows, &tp, bm, N, bias, relu, threads);
        e = check_rel_err(c, ref, (size_t)M * N, 1.0);
        CHECK(e < 1e-5, "gemm_rows in place M=%d N=%d taps=%d Kc=%d: rel err %g", M, N, ntaps, Kc, e);
    }

    // G_t = A_t^T @ D with D = (M,N) taken from c's shape; reuse bm as D.
    float *d = randv(r, (size_t)M * N), *g = malloc(sizeof(float) * Kd * N),
          *gref = malloc(sizeof(float) * Kd * N);
    float *work = malloc(sizeof(float) * gemm_rows_tn_work_floats(ntaps, Kc, N, threads));
    for (int t = 0; t < ntaps; t++)
        for (int k = 0; k < Kc; k++)
            for (int n = 0; n < N; n++) {
                double s = 0;
                for (int m = 0; m < M; m++)
                    s += (double)a[((size_t)t * M + m) * Kc + k] * d[(size_t)m * N + n];
                gref[(size_t)(t * Kc + k) * N + n] = (float)s;
            }
    gemm_rows_tn(g, M, N, ntaps, Kc, taps_rows, &tp, d, N, 0, work, threads);
    e = check_rel_err(g, gref, (size_t)Kd * N, 1.0);
    CHECK(e < 1e-5, "gemm_rows_tn M=%d N=%d taps=%d Kc=%d threads=%d: rel err %g", M, N, ntaps,
          Kc, threads, e);
    // accumulate: a second pass adds the same again
    gemm_rows_tn(g, M, N, ntaps, Kc, taps_rows, &tp, d, N, 1, work, threads);
    for (size_t i = 0; i < (size_t)Kd * N; i++) gref[i] *= 2;
    e = check_rel_err(g, gref, (size_t)Kd * N, 1.0);
    CHECK(e < 1e-5, "gemm_rows_tn accumulate M=%d N=%d taps=%d Kc=%d threads=%d: rel err %g", M,
          N, ntaps, Kc, threads, e);
    free(a), free(bm), free(bias), free(c), free(ref), free(bp), free(d), free(g), free(gref),
        free(work);
}

// Direct 3x3 'same' convolution in double. out (N,H,W,K), in (N,H,W,C), w (3,3,C,K)
static void conv_ref(double *out, const float *in, const float *w, const float *bias, int N, int H,
                     int W, int C, int K) {
    for (int n = 0; n < N; n++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int k = 0; k < K; k++) {
                    double s = bias ? bias[k] : 0;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = y + ky - 1, ix = x + kx - 1;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            for (int c = 0; c < C; c++)
                                s += (double)in[(((size_t)n * H + iy) * W + ix) * C + c] *
                                     w[((ky * 3 + kx) * C + c) * K + k];
                        }
                    out[(((size_t)n * H + y) * W + x) * K + k] = s;
                }
}

static double rel_err_d(const float *a, const double *b, size_t n) {
    double m = 0, s = 1.0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > s) s = fabs(b[i]);
        double d = fabs(a[i] - b[i]);
        if (d > m || d != d) m = d;
    }
    return m / s;
}

static void check_conv(Backend *be, Rng *r, int N, int H, int W, int C, int K) {
    const size_t ni = (size_t)N * H * W * C, no = (size_t)N * H * W * K, nw = 9 * (size_t)C * K;
    float *in = randv(r, ni), *w = randv(r, nw), *bias = randv(r, K), *out = malloc(no * 4);
    double *ref = malloc(no * 8);
    conv_ref(ref, in, w, bias, N, H, W, C, K);
    for (int relu = 0; relu < 2; relu++) {
        be->ops->conv3x3_forward(be, out, in, w, bias, N, H, W, C, K, relu);
        if (relu)
            for (size_t i = 0; i < no; i++) ref[i] = ref[i] < 0 ? 0 : ref[i];
        double e = rel_err_d(out, ref, no);
        CHECK(e < 1e-5, "conv forward N=%d H=%d W=%d C=%d K=%d relu=%d: rel err %g", N, H, W, C,
              K, relu, e);
    }
    // Backward: the gradients of L = sum(out * dout) for the linear conv.
    float *dout = randv(r, no), *din = malloc(ni * 4), *dw = malloc(nw * 4), *db = malloc(K * 4);
    double *dinr = calloc(ni, 8), *dwr = calloc(nw, 8), *dbr = calloc(K, 8);
    for (int n = 0; n < N; n++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int k = 0; k < K; k++) {
                    double g = dout[(((size_t)n * H + y) * W + x) * K + k];
                    dbr[k] += g;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = y + ky - 1, ix = x + kx - 1;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            for (int c = 0; c < C; c++) {
                                size_t ii = (((size_t)n * H + iy) * W + ix) * C + c;
                                size_t wi = ((size_t)(ky * 3 + kx) * C + c) * K + k;
                                dinr[ii] += g * w[wi];
                                dwr[wi] += g * in[ii];
                            }
                        }
                }
    memset(din, 0xff, ni * 4);  // NaN: every element must be written
    memset(dw, 0xff, nw * 4);
    be->ops->conv3x3_backward(be, din, dw, db, dout, NULL, in, w, N, H, W, C, K);
    CHECK(rel_err_d(din, dinr, ni) < 1e-5, "conv din C=%d K=%d: rel err %g", C, K,
          rel_err_d(din, dinr, ni));
    CHECK(rel_err_d(dw, dwr, nw) < 1e-5, "conv dw C=%d K=%d: rel err %g", C, K,
          rel_err_d(dw, dwr, nw));
    CHECK(rel_err_d(db, dbr, K) < 1e-5, "conv dbias C=%d K=%d: rel err %g", C, K,
          rel_err_d(db, dbr, K));
    // The first layer passes din = NULL: the weight gradients must not change.
    float *dw2 = malloc(nw * 4);
    be->ops->conv3x3_backward(be, NULL, dw2, db, dout, NULL, in, w, N, H, W, C, K);
    CHECK(!memcmp(dw, dw2, nw * 4), "conv dw with din=NULL differs (or is not reproducible)");
    free(in), free(w), free(bias), free(out), free(ref), free(dout), free(din), free(dw), free(db),
        free(dinr), free(dwr), free(dbr), free(dw2);
}

static void check_dense(Backend *be, Rng *r, int N, int In, int Out) {
    float *in = randv(r, (size_t)N * In), *w = randv(r, (size_t)In * Out), *bias = randv(r, Out);
    float *out = malloc(sizeof(float) * N * Out), *dout = randv(r, (size_t)N * Out);
    float *din = malloc(sizeof(float) * N * In), *dw = malloc(sizeof(float) * In * Out),
          *db = malloc(sizeof(float) * Out);
    double *ref = malloc(sizeof(double) * N * Out), *dinr = calloc((size_t)N * In, 8),
           *dwr = calloc((size_t)In * Out, 8), *dbr = calloc(Out, 8);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < Out; o++) {
            double s = bias[o], g = dout[(size_t)n * Out + o];
            dbr[o] += g;
            for (int i = 0; i < In; i++) {
                s += (double)in[(size_t)n * In + i] * w[(size_t)i * Out + o];
                dinr[(size_t)n * In + i] += g * w[(size_t)i * Out + o];
                dwr[(size_t)i * Out + o] += g * in[(size_t)n * In + i];
            }
            ref[(size_t)n * Out + o] = s > 0 ? s : 0;
        }
    be->ops->dense_forward(be, out, in, w, bias, N, In, Out, 1);
    CHECK(rel_err_d(out, ref, (size_t)N * Out) < 1e-5, "dense forward N=%d In=%d Out=%d", N, In,
          Out);
    be->ops->dense_backward(be, din, dw, db, dout, in, w, N, In, Out);
    CHECK(rel_err_d(din, dinr, (size_t)N * In) < 1e-5, "dense din N=%d In=%d Out=%d", N, In, Out);
    CHECK(rel_err_d(dw, dwr, (size_t)In * Out) < 1e-5, "dense dw N=%d In=%d Out=%d", N, In, Out);
    CHECK(rel_err_d(db, dbr, Out) < 1e-5, "dense dbias N=%d In=%d Out=%d", N, In, Out);
    free(in), free(w), free(bias), free(out), free(dout), free(din), free(dw), free(db), free(ref),
        free(dinr), free(dwr), free(dbr);
}

// A forward result is the same bit for bit whatever the thread count (the
// CPU backend picks fewer threads for small forward work: see
// forward_threads), for the direct and the Winograd convolution, the dense
// layer and the pooling, from one pair's sizes to a batch's.
static void check_forward_threads(Rng *r, int N, int H, int W, int C, int K) {
    const size_t ni = (size_t)N * H * W * C, no = (size_t)N * H * W * K;
    float *in = randv(r, ni), *w = randv(r, 9 * (size_t)C * K), *bias = randv(r, K);
    float *out[3], *pool[3], *dense[3];
    const int In = H * W * C, Out = 33;
    float *dw = randv(r, (size_t)In * Out), *dbias = randv(r, Out);
    for (int t = 0; t < 3; t++) {
        Backend *be;
        Err e;
        CHECK(backend_cpu_open(&be, t + 1, &e) == 0, "%s", e.msg);
        out[t] = malloc(no * 4);
        pool[t] = malloc((size_t)N * (H / 2) * (W / 2) * C * 4);
        dense[t] = malloc((size_t)N * Out * 4);
        be->ops->conv3x3_forward(be, out[t], in, w, bias, N, H, W, C, K, 1);
        be->ops->maxpool2_forward(be, pool[t], NULL, in, N, H, W, C);
        be->ops->dense_forward(be, dense[t], in, dw, dbias, N, In, Out, 1);
        backend_close(be);
    }
    for (int t = 1; t < 3; t++) {
        CHECK(!memcmp(out[0], out[t], no * 4), "conv N=%d H=%d C=%d K=%d: 1 and %d threads differ",
              N, H, C, K, t + 1);
        CHECK(!memcmp(pool[0], pool[t], (size_t)N * (H / 2) * (W / 2) * C * 4),
              "maxpool N=%d H=%d C=%d: 1 and %d threads differ", N, H, C, t + 1);
        CHECK(!memcmp(dense[0], dense[t], (size_t)N * Out * 4),
              "dense N=%d In=%d: 1 and %d threads differ", N, In, t + 1);
    }
    for (int t = 0; t < 3; t++) free(out[t]), free(pool[t]), free(dense[t]);
    free(in), free(w), free(bias), free(dw), free(dbias);
}

// An image's convolution does not depend on the batch it is in, bit for
// bit: index and eval split their images between batches and ranks as it
// falls, and a feature vector must be the same whichever batch computed it.
// Each image of a batch of 3 against the same image alone, on a map where
// the batch once chose Winograd and one image the direct method (block 5's
// 6x6), on larger and smaller maps, and in the dense layer.
static void check_batch_invariant(Rng *r, int H, int W, int C, int K) {
    enum { N = 3 };
    const size_t ni = (size_t)H * W * C, no = (size_t)H * W * K;
    float *in = randv(r, N * ni), *w = randv(r, 9 * (size_t)C * K), *bias = randv(r, K);
    float *all = malloc(N * no * 4), *one = malloc(no * 4);
    float *dw = randv(r, ni * 20), *dall = malloc(N * 20 * 4), *done = malloc(20 * 4);
    Backend *be;
    Err e;
    CHECK(backend_cpu_open(&be, 2, &e) == 0, "%s", e.msg);
    be->ops->conv3x3_forward(be, all, in, w, bias, N, H, W, C, K, 1);
    be->ops->dense_forward(be, dall, in, dw, bias, N, (int)ni, 20, 1);
    for (int i = 0; i < N; i++) {
        be->ops->conv3x3_forward(be, one, in + i * ni, w, bias, 1, H, W, C, K, 1);
        CHECK(!memcmp(one, all + i * no, no * 4),
              "conv H=%d C=%d K=%d: image %d alone differs from it in a batch of %d", H, C, K, i, N);
        be->ops->dense_forward(be, done, in + i * ni, dw, bias, 1, (int)ni, 20, 1);
        CHECK(!memcmp(done, dall + i * 20, 20 * 4),
              "dense In=%zu: row %d alone differs from it in a batch of %d", ni, i, N);
    }
    backend_close(be);
    free(in), free(w), free(bias), free(all), free(one), free(dw), free(dall), free(done);
}

// The CPU backend keeps what its forward products read of the weights in a
// parameter buffer (packed panels, Winograd's transformed kernels) from one
// pass to the next, until an operation writes into the buffer. Every
// forward result must equal that of the same weights in plain memory
// (where nothing is kept), bit for bit, at each pass after each kind of
// write: a whole upload, one float of a kernel, an optimizer step, zero,
// and a buffer freed and another allocated (likely at the same address).
typedef struct KeptCase {
    int N, H, W, C, K;  // a convolution, or a dense layer (H = 0): N rows, C in, K out
} KeptCase;
static const KeptCase KEPT_CASES[] = {
    {2, 13, 13, 64, 128},  // Winograd (one pair's block 4)
    {1, 4, 4, 128, 128},   // direct, few rows: the weights read in place unless kept
    {2, 26, 26, 16, 32},   // direct, many rows: packed for each call unless kept
    {1, 0, 0, 300, 48},    // dense, one row
};
enum { KEPT_N = sizeof KEPT_CASES / sizeof KEPT_CASES[0] };

static size_t kept_weights(const KeptCase *k) { return (k->H ? 9 : 1) * (size_t)k->C * k->K; }

// Each case's forward pass with the weights at w (offsets as in the buffer)
// into out[i].
static void kept_forward(Backend *be, float *const *out, const float *in, const float *w,
                         const float *bias) {
    size_t off = 0;
    for (int i = 0; i < KEPT_N; i++) {
        const KeptCase *k = &KEPT_CASES[i];
        if (k->H)
            be->ops->conv3x3_forward(be, out[i], in, w + off, bias, k->N, k->H, k->W, k->C, k->K,
                                     1);
        else
            be->ops->dense_forward(be, out[i], in, w + off, bias, k->N, k->C, k->K, 1);
        off += kept_weights(k);
    }
}

static void check_kept_forms(Rng *r) {
    Backend *be;
    Err e;
    CHECK(backend_cpu_open(&be, 2, &e) == 0, "%s", e.msg);
    CHECK(winograd_pays(13, 13, 64, 128) && !winograd_pays(4, 4, 128, 128) &&
              gemm_b_in_place(16, 128, 2) && !gemm_b_in_place(2 * 26 * 26, 32, 2),
          "the cases below do not take the paths they are for");
    BackendParamLayout lay = {0};
    size_t outs[KEPT_N], most_in = 0;
    for (int i = 0; i < KEPT_N; i++) {
        const KeptCase *k = &KEPT_CASES[i];
        if (k->H) lay.views[lay.n_views++] = (BackendKernelView){lay.floats, k->C, k->K};
        lay.floats += kept_weights(k);
        const size_t pixels = (size_t)k->N * (k->H ? k->H * k->W : 1);
        outs[i] = pixels * k->K;
        if (pixels * k->C > most_in) most_in = pixels * k->C;
    }
    const size_t n = lay.floats;
    float *in = randv(r, most_in), *bias = randv(r, 128), *host = randv(r, n), *grad = randv(r, n);
    float *plain = malloc(n * sizeof(float)), *got[KEPT_N], *want[KEPT_N];
    for (int i = 0; i < KEPT_N; i++) got[i] = malloc(outs[i] * 4), want[i] = malloc(outs[i] * 4);
    float *p = be->ops->alloc_params(be, &lay), *g = be->ops->alloc_params(be, &lay),
          *mom = be->ops->alloc_params(be, &lay);
    be->ops->upload(be, p, host, n * sizeof(float));
    be->ops->upload(be, g, grad, n * sizeof(float));
    static const char *const after[] = {"an upload", "one float uploaded", "an SGD step",
                                        "zero", "a buffer freed and another allocated"};
    for (int stage = 0; stage < 5; stage++) {
        if (stage == 1) {  // one weight of the Winograd kernel
            const float x = 0.5f;
            be->ops->upload(be, p + 1000, &x, sizeof x);
        } else if (stage == 2) {
            be->ops->sgd_nesterov_step(be, p, g, mom, n, 0.1f, 0.9f, 0.0f);
        } else if (stage == 3) {
            be->ops->zero(be, p + kept_weights(&KEPT_CASES[0]), kept_weights(&KEPT_CASES[1]) * 4);
        } else if (stage == 4) {  // zeros, as allocated
            be->ops->free(be, p);
            p = be->ops->alloc_params(be, &lay);
        }
        be->ops->download(be, plain, p, n * sizeof(float));
        kept_forward(be, want, in, plain, bias);
        // Three passes: the kernel remembered, its forms kept, then served.
        for (int pass = 0; pass < 3; pass++) {
            kept_forward(be, got, in, p, bias);
            for (int i = 0; i < KEPT_N; i++)
                CHECK(!memcmp(got[i], want[i], outs[i] * 4),
                      "case %d, pass %d after %s: the kept forms give another result", i, pass,
                      after[stage]);
        }
    }
    CHECK(backend_check(be, &e) == 0, "%s", e.msg);
    be->ops->free(be, p), be->ops->free(be, g), be->ops->free(be, mom);
    backend_close(be);
    for (int i = 0; i < KEPT_N; i++) free(got[i]), free(want[i]);
    free(in), free(bias), free(host), free(grad), free(plain);
}

// The AVX-512 and AVX2 kernels sum every output element in the same order
// with the same roundings: the same results bit for bit, so a run resumed
// on the other kind of CPU repeats exactly. Products, a direct and a
// Winograd convolution forward and backward, and a dense layer.
static void check_kernels_agree(Rng *r) {
    enum { RUNS = 2 };
    const GemmKernel kernels[RUNS] = {GEMM_KERNEL_AVX2, GEMM_KERNEL_AVX512};
    const int N = 4, H = 15, W = 13, C = 70, K = 67, M = 300, Kd = 600, Nc = 80;
    CHECK(winograd_pays(H, W, C, K), "the case below would not test Winograd");
    const size_t ni = (size_t)N * H * W * C, no = (size_t)N * H * W * K, nw = 9 * (size_t)C * K;
    // One bias for the convolutions (K) and the product (Nc columns).
    float *in = randv(r, ni), *w = randv(r, nw), *bias = randv(r, K > Nc ? K : Nc),
          *dout0 = randv(r, no);
    float *a = randv(r, (size_t)M * Kd), *bm = randv(r, (size_t)Kd * Nc);
    float *bp = malloc(sizeof(float) * gemm_packed_b_floats(Kd, Nc));
    gemm_pack_b(bp, Kd, Nc, 0, Kd, bm, Nc, 1);
    float *res[RUNS][9];
    const size_t sizes[9] = {no, no, ni, nw, no, no, ni, nw, (size_t)M * Nc};
    for (int k = 0; k < RUNS; k++) {
        CHECK(gemm_force_kernel(kernels[k]), "kernel %d", (int)kernels[k]);
        for (int i = 0; i < 9; i++) res[k][i] = malloc(sizes[i] * sizeof(float));
        Backend *be;
        Err e;
        CHECK(backend_cpu_open(&be, 2, &e) == 0, "%s", e.msg);
        float db[80];
        // Winograd (C, K >= 64), then direct (K < 64: 20 output channels).
        for (int d = 0; d < 2; d++) {
            const int k_out = d ? 20 : K;
            float *const *o = &res[k][4 * d];
            be->ops->conv3x3_forward(be, o[0], in, w, bias, N, H, W, C, k_out, 1);
            memcpy(o[1], dout0, no * sizeof(float));
            be->ops->conv3x3_backward(be, o[2], o[3], db, o[1], o[0], in, w, N, H, W, C, k_out);
        }
        const GemmMatrix rows = {a, (size_t)Kd};
        gemm_rows(res[k][8], Nc, M, Nc, 1, Kd, gemm_matrix_rows, &rows, bp, 0, bias, 1, 2);
        backend_close(be);
    }
    static const char *const what[9] = {"Winograd forward", "Winograd relu mask", "Winograd din",
                                        "Winograd dw", "direct forward", "direct relu mask",
                                        "direct din", "direct dw", "gemm_rows"};
    for (int i = 0; i < 9; i++) {
        const size_t n = i >= 4 && i < 6 ? (size_t)N * H * W * 20 : i == 7 ? 9 * (size_t)C * 20
                                                                            : sizes[i];
        CHECK(!memcmp(res[0][i], res[1][i], n * sizeof(float)),
              "%s: the AVX2 and AVX-512 kernels differ", what[i]);
    }
    for (int k = 0; k < RUNS; k++)
        for (int i = 0; i < 9; i++) free(res[k][i]);
    free(in), free(w), free(bias), free(dout0), free(a), free(bm), free(bp);
    gemm_force_kernel(GEMM_KERNEL_AUTO);
}

// A convolution over a padded input (gemm_conv_padded: AVX-512, 3, 16 or 32
// input channels) sums as the direct method through row pointers does (the
// AVX2 kernel's path): the same results bit for bit. Widths that leave
// partial tiles of 28 and 14 pixels, 16 to 80 output channels (one panel,
// two, an odd last one, a partial one), with and without bias and ReLU.
static void check_padded_agrees(Rng *r) {
    static const int cases[][5] = {{2, 13, 31, 3, 64}, {1, 9, 57, 16, 16}, {2, 7, 29, 16, 32},
                                   {1, 5, 15, 32, 48}, {2, 6, 30, 32, 20}, {1, 3, 1, 3, 80}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int N = cases[c][0], H = cases[c][1], W = cases[c][2], C = cases[c][3],
                  K = cases[c][4];
        const size_t ni = (size_t)N * H * W * C, no = (size_t)N * H * W * K;
        float *in = randv(r, ni), *w = randv(r, 9 * (size_t)C * K), *bias = randv(r, K);
        float *out[2][2];
        for (int k = 0; k < 2; k++) {
            CHECK(gemm_force_kernel(k ? GEMM_KERNEL_AVX512 : GEMM_KERNEL_AVX2), "kernel");
            CHECK(gemm_conv_padded_ok(C) == k, "C=%d: the padded path is AVX-512's", C);
            Backend *be;
            Err e;
            CHECK(backend_cpu_open(&be, 2, &e) == 0, "%s", e.msg);
            for (int relu = 0; relu < 2; relu++) {
                out[k][relu] = malloc(no * sizeof(float));
                be->ops->conv3x3_forward(be, out[k][relu], in, w, relu ? bias : NULL, N, H, W, C,
                                         K, relu);
            }
            backend_close(be);
        }
        for (int relu = 0; relu < 2; relu++) {
            CHECK(!memcmp(out[0][relu], out[1][relu], no * sizeof(float)),
                  "conv N=%d H=%d W=%d C=%d K=%d relu=%d: the padded path differs", N, H, W, C, K,
                  relu);
            free(out[0][relu]), free(out[1][relu]);
        }
        free(in), free(w), free(bias);
    }
    gemm_force_kernel(GEMM_KERNEL_AUTO);
}

static const char *const KERNEL_NAMES[] = {"auto", "portable", "AVX2", "AVX-512"};

int main(void) {
    Rng r;
    rng_seed(&r, 7);
    // Every kernel this CPU runs, each with its blocking and (Winograd) its
    // transforms.
    for (GemmKernel k = GEMM_KERNEL_PORTABLE; k <= GEMM_KERNEL_AVX512; k++) {
        if (!gemm_force_kernel(k)) {
            printf("SKIP (part): the %s kernel: this CPU cannot run it\n", KERNEL_NAMES[k]);
            continue;
        }
        printf("test_gemm: the %s kernel\n", KERNEL_NAMES[k]);
        // Sizes around the tiles (6x16, 14x32), the chunk (512 steps), the
        // column blocks (32 panels) and the row blocks (144 and 224 rows,
        // 128-row reduction blocks).
        check_gemm(&r, 1, 1, 1, 1, 1, 0);
        check_gemm(&r, 7, 17, 1, 5, 2, 1);
        check_gemm(&r, 13, 33, 9, 3, 2, 0);
        check_gemm(&r, 101, 16, 9, 31, 2, 1);
        check_gemm(&r, 200, 47, 1, 600, 2, 0);
        check_gemm(&r, 300, 5, 3, 70, 3, 1);
        check_gemm(&r, 2, 64, 9, 64, 2, 0);
        check_gemm(&r, 15, 48, 9, 20, 1, 1);     // a 14-row tile and one row; 3 panels
        check_gemm(&r, 470, 80, 1, 1100, 2, 1);  // blocks of 224 rows, 3 chunks, 5 panels
        check_gemm(&r, 29, 96, 9, 80, 2, 0);     // A^T blocks of all rows (720 > 640: not)
        // Column blocks of B (32 panels each): the second one ends in an odd
        // panel, full (B in place too) or partial.
        check_gemm(&r, 30, 560, 1, 40, 2, 1);
        check_gemm(&r, 17, 585, 2, 20, 2, 0);
        check_gemm(&r, 20, 100, 9, 10, 3, 1);  // few rows: 3 threads share the columns
        Backend *be;
        Err e;
        CHECK(backend_cpu_open(&be, 2, &e) == 0, "%s", e.msg);
        check_conv(be, &r, 2, 5, 7, 3, 5);
        check_conv(be, &r, 1, 1, 1, 4, 3);
        check_conv(be, &r, 3, 6, 4, 17, 33);
        check_conv(be, &r, 2, 13, 11, 64, 20);
        check_conv(be, &r, 2, 9, 7, 20, 32);  // few rows, K a multiple of 16: weights in place
        check_conv(be, &r, 2, 9, 31, 16, 16);  // AVX-512: over a padded input, 28-pixel tiles
        check_conv(be, &r, 1, 7, 29, 32, 48);  // and 14-pixel tiles, 3 panels
        // Large enough for Winograd F(2x2,3x3) (odd sizes: partial tiles, and
        // channel counts that leave partial panels), forward and backward data.
        CHECK(winograd_pays(15, 15, 65, 67) && winograd_pays(16, 16, 64, 80) &&
                  winograd_pays(14, 14, 129, 130) && winograd_pays(6, 6, 64, 80),
              "the Winograd cases below would test the direct path");
        check_conv(be, &r, 4, 15, 15, 65, 67);
        check_conv(be, &r, 2, 6, 6, 64, 80);  // one pair's block 5: 18 tiles
        // Several blocks of tiles for the weight gradient, with thread-private
        // sums (small C*K) and with the 16 products shared out (large C*K).
        check_conv(be, &r, 8, 16, 16, 64, 80);
        check_conv(be, &r, 8, 14, 14, 129, 130);
        check_dense(be, &r, 1, 37, 1);
        check_dense(be, &r, 9, 300, 21);
        check_dense(be, &r, 150, 130, 40);
        check_dense(be, &r, 3, 100, 48);  // weights read in place
        backend_close(be);
        CHECK(winograd_pays(13, 13, 64, 128) && !winograd_pays(26, 26, 3, 16),
              "the thread-count cases below take the Winograd and the direct path");
        check_forward_threads(&r, 2, 13, 13, 64, 128);  // one pair's block 4 (Winograd)
        check_forward_threads(&r, 2, 26, 26, 3, 16);    // a first layer (direct)
        check_forward_threads(&r, 16, 24, 24, 32, 48);  // a batch, every thread busy
        check_kept_forms(&r);
        check_batch_invariant(&r, 6, 6, 128, 128);  // block 5 at 105 px
        check_batch_invariant(&r, 13, 13, 64, 128);  // block 4
        check_batch_invariant(&r, 4, 4, 128, 128);   // block 5 at 64 px
    }
    gemm_force_kernel(GEMM_KERNEL_AUTO);
    if (gemm_force_kernel(GEMM_KERNEL_AVX2) && gemm_force_kernel(GEMM_KERNEL_AVX512)) {
        check_kernels_agree(&r);
        check_padded_agrees(&r);
    } else
        printf("SKIP (part): AVX2 = AVX-512 bit for bit: this CPU lacks one of them\n");
    gemm_force_kernel(GEMM_KERNEL_AUTO);
    return check_summary("test_gemm");
}
