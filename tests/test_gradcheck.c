// Finite-difference checks of every backward operation of the CPU backend,
// and of siamese_backward through a whole small model.
//
// For an op y = f(x), a random projection L = sum(r * y) has dL/dx =
// backward(r); the central difference (L(x+h) - L(x-h)) / 2h is compared
// with it at every input (small shapes keep this exhaustive). Single ops
// are smooth where we sample them (inputs kept off the ReLU, |x| and
// max-pool kinks), so they agree to 1e-3 of the largest gradient.
//
// The whole model is another matter: thousands of ReLUs mean some unit
// crosses its kink within any step h, which biases a central difference
// by O(h). Measured here: the numeric value converges on the analytic one
// as h shrinks (e.g. 0.00536 at h=2e-2, 0.00496 at h=2.5e-4 for 0.00494).
// So the model check uses small steps (5e-4 and 2.5e-4, near float32's
// resolution of the loss), skips samples where the two steps disagree (a
// kink inside the interval), and allows 2.5e-4 + 3%. The PyTorch
// reference test (test_torch_ref) checks the same gradients exactly.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/backend.h"
#include "../engine/model.h"
#include "../engine/rng.h"
#include "check.h"

static Backend *be;
static Rng rng;

static float *randv(size_t n, float lo, float hi) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * rng_uniform(&rng);
    return v;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// f(x) -> y under a projection r; one closure per op.
typedef void (*Fn)(void *ctx, float *y);

// Central differences of L = r.y(x) with respect to every element of x.
static void numeric_grad(Fn f, void *ctx, float *x, size_t nx, const float *r, size_t ny,
                         float *g, float h) {
    float *y = malloc(ny * sizeof *y);
    for (size_t i = 0; i < nx; i++) {
        float keep = x[i];
        x[i] = keep + h;
        f(ctx, y);
        double lp = dot(r, y, ny);
        x[i] = keep - h;
        f(ctx, y);
        double lm = dot(r, y, ny);
        x[i] = keep;
        g[i] = (float)((lp - lm) / (2.0 * h));
    }
    free(y);
}

static void expect_close(const char *what, const float *analytic, const float *numeric, size_t n) {
    double rel = check_rel_err(analytic, numeric, n, 1e-3);
    CHECK(rel < 1e-3, "%s: relative error %.3g", what, rel);
}

// ---- conv3x3 ------------------------------------------------------------------

typedef struct ConvCase {
    int N, H, W, C, K, relu;
    float *x, *w, *b;
} ConvCase;

static void conv_fn(void *p, float *y) {
    ConvCase *c = p;
    be->ops->conv3x3_forward(be, y, c->x, c->w, c->b, c->N, c->H, c->W, c->C, c->K, 0);
}

static void test_conv(int N, int H, int W, int C, int K) {
    ConvCase c = {N, H, W, C, K, 0, randv((size_t)N * H * W * C, -1, 1),
                  randv(9 * (size_t)C * K, -0.5f, 0.5f), randv(K, -0.5f, 0.5f)};
    size_t nx = (size_t)N * H * W * C, ny = (size_t)N * H * W * K, nw = 9 * (size_t)C * K;
    float *r = randv(ny, -1, 1);
    float *dx = calloc(nx, 4), *dw = calloc(nw, 4), *db = calloc(K, 4);
    be->ops->conv3x3_backward(be, dx, dw, db, r, NULL, c.x, c.w, N, H, W, C, K);
    float *g = malloc((nx > nw ? nx : nw) * 4);
    char what[64];
    numeric_grad(conv_fn, &c, c.x, nx, r, ny, g, 1e-2f);
    snprintf(what, sizeof what, "conv %dx%dx%dx%d->%d d_input", N, H, W, C, K);
    expect_close(what, dx, g, nx);
    numeric_grad(conv_fn, &c, c.w, nw, r, ny, g, 1e-2f);
    snprintf(what, sizeof what, "conv %dx%dx%dx%d->%d d_kernel", N, H, W, C, K);
    expect_close(what, dw, g, nw);
    numeric_grad(conv_fn, &c, c.b, K, r, ny, g, 1e-2f);
    snprintf(what, sizeof what, "conv %dx%dx%dx%d->%d d_bias", N, H, W, C, K);
    expect_close(what, db, g, K);
    // The forward itself against a direct convolution.
    float *y = malloc(ny * 4);
    be->ops->conv3x3_forward(be, y, c.x, c.w, c.b, N, H, W, C, K, 1);
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                for (int k = 0; k < K; k++) {
                    double s = c.b[k];
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int yy = i + ky - 1, xx = j + kx - 1;
                            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                            for (int ch = 0; ch < C; ch++)
                                s += (double)c.x[(((size_t)n * H + yy) * W + xx) * C + ch] *
                                     c.w[((ky * 3 + kx) * C + ch) * K + k];
                        }
                    if (s < 0) s = 0;
                    double d = fabs(s - y[(((size_t)n * H + i) * W + j) * K + k]);
                    if (d > worst) worst = d;
                }
    CHECK(worst < 1e-4, "conv forward vs direct convolution: max diff %.3g", worst);
    // With the ReLU's output y, the backward pass masks dout in place first:
    // the same as relu_backward and then the backward pass without y.
    float *m1 = malloc(ny * 4), *m2 = malloc(ny * 4), *dx2 = calloc(nx, 4), *dw2 = calloc(nw, 4),
          *db2 = calloc(K, 4);
    memcpy(m1, r, ny * 4);
    memcpy(m2, r, ny * 4);
    be->ops->relu_backward(be, m1, m1, y, ny);
    be->ops->conv3x3_backward(be, dx, dw, db, m1, NULL, c.x, c.w, N, H, W, C, K);
    be->ops->conv3x3_backward(be, dx2, dw2, db2, m2, y, c.x, c.w, N, H, W, C, K);
    CHECK(!memcmp(m1, m2, ny * 4), "conv backward with y: dout masked in place");
    CHECK(!memcmp(dx, dx2, nx * 4) && !memcmp(dw, dw2, nw * 4) && !memcmp(db, db2, K * 4),
          "conv backward with y equals relu_backward then the backward pass");
    free(m1), free(m2), free(dx2), free(dw2), free(db2);
    free(y);
    free(g);
    free(r);
    free(dx);
    free(dw);
    free(db);
    free(c.x);
    free(c.w);
    free(c.b);
}

// ---- max-pool --------------------------------------------------------------------

typedef struct PoolCase {
    int N, H, W, C;
    float *x;
} PoolCase;

static void pool_fn(void *p, float *y) {
    PoolCase *c = p;
    be->ops->maxpool2_forward(be, y, NULL, c->x, c->N, c->H, c->W, c->C);
}

static void test_pool(int N, int H, int W, int C) {
    size_t nx = (size_t)N * H * W * C, ny = (size_t)N * (H / 2) * (W / 2) * C;
    // Distinct values spaced further apart than 2h, so no window's
    // maximum changes under the perturbation.
    PoolCase c = {N, H, W, C, malloc(nx * 4)};
    for (size_t i = 0; i < nx; i++) c.x[i] = (float)i * 0.05f;
    for (size_t i = nx - 1; i > 0; i--) {  // shuffle
        size_t j = rng_below(&rng, (uint32_t)(i + 1));
        float t = c.x[i];
        c.x[i] = c.x[j];
        c.x[j] = t;
    }
    float *y = malloc(ny * 4), *r = randv(ny, -1, 1), *dx = malloc(nx * 4), *g = malloc(nx * 4);
    uint8_t *argmax = malloc(ny);
    numeric_grad(pool_fn, &c, c.x, nx, r, ny, g, 1e-2f);
    char what[64];
    // The backward pass from the window maxima the forward pass kept, and
    // from its input and output alone.
    for (int kept = 1; kept >= 0; kept--) {
        be->ops->maxpool2_forward(be, y, kept ? argmax : NULL, c.x, N, H, W, C);
        be->ops->maxpool2_backward(be, dx, r, c.x, y, kept ? argmax : NULL, N, H, W, C);
        snprintf(what, sizeof what, "maxpool %dx%dx%dx%d%s", N, H, W, C,
                 kept ? ", argmax kept" : "");
        expect_close(what, dx, g, nx);
        // Ties go to the first maximum in row-major order (as PyTorch).
        float tie_in[4] = {1, 1, 1, 1}, tie_out, tie_d = 1, tie_dx[4];
        uint8_t tie_arg;
        be->ops->maxpool2_forward(be, &tie_out, kept ? &tie_arg : NULL, tie_in, 1, 2, 2, 1);
        be->ops->maxpool2_backward(be, tie_dx, &tie_d, tie_in, &tie_out, kept ? &tie_arg : NULL,
                                   1, 2, 2, 1);
        CHECK(tie_dx[0] == 1 && tie_dx[1] == 0 && tie_dx[2] == 0 && tie_dx[3] == 0,
              "tie routed to %g %g %g %g", tie_dx[0], tie_dx[1], tie_dx[2], tie_dx[3]);
    }
    free(argmax);
    free(c.x);
    free(y);
    free(r);
    free(dx);
    free(g);
}

// Both passes against the definition, element by element: values from
// three levels (ties in most windows) and some NaNs, C wide enough for SIMD
// lanes and a remainder, odd H and W (inputs no window covers). The
// window's first maximum in row-major order wins a tie; a later element
// replaces it only when strictly greater (so a NaN first stays, a NaN later
// is never taken). The gradient goes to the kept argmax, or without it to
// the first input equal to the output (none when that is a NaN).
static void test_pool_ties(int N, int H, int W, int C) {
    const int OH = H / 2, OW = W / 2;
    size_t nx = (size_t)N * H * W * C, ny = (size_t)N * OH * OW * C;
    float *x = malloc(nx * 4), *y = malloc(ny * 4), *ref = malloc(ny * 4), *dy = randv(ny, -1, 1);
    float *dx = malloc(nx * 4), *dx_ref = malloc(nx * 4);
    uint8_t *arg = malloc(ny), *ref_arg = malloc(ny);
    for (size_t i = 0; i < nx; i++)
        x[i] = rng_below(&rng, 16) ? (float)rng_below(&rng, 3) : NAN;
    for (int n = 0; n < N; n++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                for (int c = 0; c < C; c++) {
                    const size_t o = (((size_t)n * OH + oy) * OW + ox) * C + c;
                    int best = 0;
                    float win[4];
                    for (int k = 0; k < 4; k++)
                        win[k] = x[(((size_t)n * H + 2 * oy + k / 2) * W + 2 * ox + k % 2) * C + c];
                    for (int k = 1; k < 4; k++)
                        if (win[k] > win[best]) best = k;
                    ref[o] = win[best];
                    ref_arg[o] = (uint8_t)best;
                }
    for (int kept = 1; kept >= 0; kept--) {
        be->ops->maxpool2_forward(be, y, kept ? arg : NULL, x, N, H, W, C);
        CHECK(!memcmp(y, ref, ny * 4), "maxpool %dx%dx%dx%d%s: a window's maximum differs", N, H,
              W, C, kept ? ", argmax kept" : "");
        if (kept)
            CHECK(!memcmp(arg, ref_arg, ny), "maxpool %dx%dx%dx%d: an argmax differs", N, H, W, C);
        memset(dx_ref, 0, nx * 4);
        for (int n = 0; n < N; n++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++)
                    for (int c = 0; c < C; c++) {
                        const size_t o = (((size_t)n * OH + oy) * OW + ox) * C + c;
                        const int k = ref_arg[o];
                        if (kept || ref[o] == ref[o])
                            dx_ref[(((size_t)n * H + 2 * oy + k / 2) * W + 2 * ox + k % 2) * C + c] =
                                dy[o];
                    }
        memset(dx, 0xff, nx * 4);  // NaNs: every element must be written
        be->ops->maxpool2_backward(be, dx, dy, x, y, kept ? arg : NULL, N, H, W, C);
        CHECK(!memcmp(dx, dx_ref, nx * 4), "maxpool backward %dx%dx%dx%d%s: a gradient differs", N,
              H, W, C, kept ? ", argmax kept" : "");
    }
    free(x);
    free(y);
    free(ref);
    free(dy);
    free(dx);
    free(dx_ref);
    free(arg);
    free(ref_arg);
}

// ---- dense, relu, absdiff, sigmoid+BCE ------------------------------------------

typedef struct DenseCase {
    int N, I, O;
    float *x, *w, *b;
} DenseCase;

static void dense_fn(void *p, float *y) {
    DenseCase *c = p;
    be->ops->dense_forward(be, y, c->x, c->w, c->b, c->N, c->I, c->O, 0);
}

static void test_dense(int N, int I, int O) {
    DenseCase c = {N, I, O, randv((size_t)N * I, -1, 1), randv((size_t)I * O, -1, 1),
                   randv(O, -1, 1)};
    size_t ny = (size_t)N * O;
    float *r = randv(ny, -1, 1), *dx = malloc((size_t)N * I * 4), *dw = malloc((size_t)I * O * 4),
          *db = malloc(O * 4), *g = malloc((size_t)I * O * 4 + (size_t)N * I * 4);
    be->ops->dense_backward(be, dx, dw, db, r, c.x, c.w, N, I, O);
    numeric_grad(dense_fn, &c, c.x, (size_t)N * I, r, ny, g, 1e-2f);
    expect_close("dense d_input", dx, g, (size_t)N * I);
    numeric_grad(dense_fn, &c, c.w, (size_t)I * O, r, ny, g, 1e-2f);
    expect_close("dense d_kernel", dw, g, (size_t)I * O);
    numeric_grad(dense_fn, &c, c.b, O, r, ny, g, 1e-2f);
    expect_close("dense d_bias", db, g, O);
    free(r);
    free(dx);
    free(dw);
    free(db);
    free(g);
    free(c.x);
    free(c.w);
    free(c.b);
}

static void test_relu_absdiff_bce(void) {
    enum { n = 64 };
    // ReLU backward: gradient passes where the output is positive.
    float y[n], dy[n], dx[n];
    for (int i = 0; i < n; i++) {
        y[i] = i % 3 ? (float)i : 0.0f;
        dy[i] = (float)(i + 1);
    }
    be->ops->relu_backward(be, dx, dy, y, n);
    int ok = 1;
    for (int i = 0; i < n; i++) ok &= dx[i] == (i % 3 ? dy[i] : 0.0f);
    CHECK(ok, "relu_backward masks by the output");

    // absdiff: values kept apart so |a-b| has no kink within h.
    float a[n], b[n], r[n], da[n], db[n], out[n];
    for (int i = 0; i < n; i++) {
        a[i] = rng_uniform(&rng) * 2 - 1;
        b[i] = a[i] + (i % 2 ? 0.5f : -0.5f) * (1 + rng_uniform(&rng));
        r[i] = rng_uniform(&rng) * 2 - 1;
    }
    be->ops->absdiff_backward(be, da, db, r, a, b, n);
    ok = 1;
    for (int i = 0; i < n; i++) {
        float h = 1e-2f, keep = a[i];
        a[i] = keep + h;
        be->ops->absdiff_forward(be, out, a, b, n);
        double lp = dot(r, out, n);
        a[i] = keep - h;
        be->ops->absdiff_forward(be, out, a, b, n);
        double lm = dot(r, out, n);
        a[i] = keep;
        double num = (lp - lm) / (2 * h);
        ok &= fabs(num - da[i]) < 1e-3 && da[i] == -db[i];
    }
    CHECK(ok, "absdiff gradients");
    float same = 1.0f, dsame, dsame2, one = 1.0f;
    be->ops->absdiff_backward(be, &dsame, &dsame2, &one, &same, &same, 1);
    CHECK(dsame == 0 && dsame2 == 0, "sign(0) = 0");

    // Sigmoid + BCE: loss and gradient in double against the formulas.
    enum { N = 6 };
    float z[N] = {-30, -2.5f, -0.1f, 0, 1.7f, 40}, yl[N] = {0, 1, 0, 1, 1, 0}, p[N], loss, dz[N];
    be->ops->sigmoid_bce_forward(be, p, &loss, z, yl, N);
    double want = 0;
    for (int i = 0; i < N; i++) {
        double pz = 1 / (1 + exp(-(double)z[i]));
        CHECK(fabs(p[i] - pz) < 1e-7, "sigmoid(%g) = %g, want %g", z[i], p[i], pz);
        // log(1+exp(z)) - z*y computed stably in long double.
        want += (double)(log1pl(expl((long double)z[i])) - (long double)z[i] * yl[i]);
    }
    want /= N;
    CHECK(fabs(loss - want) < 1e-5 * fabs(want) + 1e-6, "BCE loss %.8g, want %.8g", loss, want);
    be->ops->sigmoid_bce_backward(be, dz, p, yl, N, N);
    ok = 1;
    for (int i = 0; i < N; i++) ok &= fabs(dz[i] - (p[i] - yl[i]) / N) < 1e-7;
    CHECK(ok, "BCE gradient (p - y) / N");
    be->ops->sigmoid_bce_backward(be, dz, p, yl, N, 5 * N);
    ok = 1;
    for (int i = 0; i < N; i++) ok &= fabs(dz[i] - (p[i] - yl[i]) / (5 * N)) < 1e-7;
    CHECK(ok, "BCE gradient of a part of a batch: (p - y) / the batch's pairs");
}

// ---- the whole model ---------------------------------------------------------------

typedef struct ModelCase {
    Model *m;
    float *pairs, *labels;
    int N;
    const float *param;  // NULL, or the host's value of parameter param_at
    size_t param_at;
} ModelCase;

// The loss, the parameter first set to *param through the backend: a
// parameter buffer changes only through its backend's operations, which is
// how the CPU backend knows when the forms of the kernels it keeps between
// passes are stale.
static void model_loss_fn(void *p, float *y) {
    ModelCase *c = p;
    Err e;
    if (c->param)
        c->m->be->ops->upload(c->m->be, c->m->params + c->param_at, c->param, sizeof(float));
    siamese_forward(c->m, c->pairs, c->labels, c->N, NULL, y, &e);
}

// d(loss)/d(parameter) for a sample of parameters in every layer, and
// d(loss)/d(input) for a sample of pixels, against central differences.
static void test_model(void) {
    ModelSpec s = {.input_size = 32, .widths = {3, 4, 4, 5, 6}, .hidden = 7};
    Model *m;
    Err e;
    CHECK(model_create(&m, &s, be, &e) == 0, "%s", e.msg);
    CHECK(model_init_random(m, 7, &e) == 0, "%s", e.msg);
    CHECK(model_enable_training(m, &e) == 0, "%s", e.msg);
    // Positive biases keep ReLUs away from their kink for most units.
    for (int i = 0; i < m->n_layers; i++)
        for (size_t j = 0; j < m->layers[i].b_len; j++)
            m->params[m->layers[i].b_off + j] = 0.05f + 0.1f * rng_uniform(&rng);
    const int N = 3;
    const size_t img = 32 * 32 * 3;
    ModelCase c = {m, randv(2 * N * img, 0, 1), malloc(N * 4), N, NULL, 0};
    c.labels[0] = 1, c.labels[1] = 0, c.labels[2] = 1;
    float loss;
    siamese_forward(m, c.pairs, c.labels, N, NULL, &loss, &e);
    siamese_backward(m, N, 1);
    // Samples: a few parameters of every layer, then a few input pixels.
    size_t idx[200];
    float *where[200];
    int n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const Layer *l = &m->layers[i];
        if (l->kind == LAYER_POOL) continue;
        for (int t = 0; t < 6; t++) {
            idx[n] = t < 3 ? l->w_off + rng_below(&rng, (uint32_t)l->w_len)
                           : l->b_off + rng_below(&rng, (uint32_t)l->b_len);
            where[n] = m->grads + idx[n];
            n++;
        }
    }
    int first_input = n;
    for (int t = 0; t < 10; t++, n++) {
        idx[n] = rng_below(&rng, (uint32_t)(2 * N * img));
        where[n] = m->dinput + idx[n];
    }
    int bad = 0, kinks = 0;
    float one = 1.0f;
    for (int t = 0; t < n; t++) {
        float value = t < first_input ? m->params[idx[t]] : 0.0f;
        float *x = t < first_input ? &value : &c.pairs[idx[t]];
        c.param = t < first_input ? &value : NULL;
        c.param_at = idx[t];
        float num_h, num_h2;
        // Two step sizes: when they disagree, a ReLU or max-pool kink lies
        // within the interval and the sample says nothing; skip it.
        numeric_grad(model_loss_fn, &c, x, 1, &one, 1, &num_h, 5e-4f);
        numeric_grad(model_loss_fn, &c, x, 1, &one, 1, &num_h2, 2.5e-4f);
        if (c.param)  // the parameter back as it was
            m->be->ops->upload(m->be, m->params + idx[t], &value, sizeof value);
        if (fabs(num_h - num_h2) > 2e-4 + 5e-2 * fabs(num_h2)) {
            kinks++;
            continue;
        }
        double an = *where[t];
        if (fabs(an - num_h2) > 2.5e-4 + 3e-2 * fabs(num_h2)) {
            bad++;
            fprintf(stderr, "  sample %d (%s %zu): analytic %.6g numeric %.6g\n", t,
                    t < first_input ? "param" : "input", idx[t], an, num_h2);
        }
    }
    CHECK(bad == 0, "%d of %d model gradients disagree with central differences", bad, n - kinks);
    CHECK(kinks < n / 4, "%d of %d samples sat on a kink: the check lost its power", kinks, n);
    free(c.pairs);
    free(c.labels);
    model_free(m);
}

int main(void) {
    Err e;
    if (backend_cpu_open(&be, 2, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    rng_seed(&rng, 42);
    test_conv(2, 5, 4, 3, 4);
    test_conv(1, 3, 6, 5, 2);
    test_conv(1, 1, 1, 2, 3);
    test_pool(2, 4, 6, 3);
    test_pool(1, 5, 7, 2);  // odd sizes: the last row and column are dropped
    test_dense(3, 7, 5);
    test_relu_absdiff_bce();
    test_model();
    test_pool_ties(2, 7, 9, 19);
    test_pool_ties(1, 4, 6, 3);  // last: its draws leave the others' random inputs as they were
    backend_close(be);
    return check_summary("gradcheck");
}
