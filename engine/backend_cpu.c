// backend_cpu: the reference implementation of every backend operation.
//
// Heavy work is single-precision GEMM (OpenBLAS through CBLAS); everything
// else is plain loops, parallel over OpenMP threads where it pays. A 3x3
// 'same' convolution in NHWC is one GEMM once the input is unrolled
// ("im2col"): each output pixel's row holds its 3x3xC neighbourhood in the
// order (ky,kx,c), which is exactly the row order of a Keras (3,3,C,K)
// kernel seen as a (9C,K) matrix. The unrolled buffer is built a chunk of
// output rows at a time, so memory stays bounded for any batch.
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

// Not in every cblas.h; OpenBLAS exports it.
void openblas_set_num_threads(int num_threads);

// Upper bound for one im2col chunk (floats): 8 Mi floats = 32 MiB.
#define IM2COL_CHUNK_FLOATS (8u << 20)

typedef struct CpuImpl {
    int threads;
    float *col;        // im2col workspace, col_cap floats
    size_t col_cap;
} CpuImpl;

static CpuImpl *impl_of(Backend *b) { return (CpuImpl *)b->impl; }

static float *workspace(Backend *b, size_t floats) {
    CpuImpl *c = impl_of(b);
    if (floats > c->col_cap) {
        free(c->col);
        c->col = malloc(floats * sizeof(float));
        if (!c->col) {
            fprintf(stderr, "siamese: out of memory for a %zu MiB convolution workspace\n",
                    floats * sizeof(float) >> 20);
            abort();
        }
        c->col_cap = floats;
    }
    return c->col;
}

// ---- memory ------------------------------------------------------------------

static void *cpu_alloc(Backend *b, size_t bytes) {
    (void)b;
    return calloc(1, bytes ? bytes : 1);
}
static void cpu_free(Backend *b, void *p) { (void)b; free(p); }
static void cpu_zero(Backend *b, void *p, size_t bytes) { (void)b; memset(p, 0, bytes); }
static void cpu_copy(Backend *b, void *dst, const void *src, size_t bytes) {
    (void)b;
    if (dst != src) memcpy(dst, src, bytes);
}
static void cpu_upload_u8(Backend *b, float *dst, const uint8_t *src, size_t n, int invert) {
    (void)b;
    for (size_t i = 0; i < n; i++) {
        float x = src[i] / 255.0f;
        dst[i] = invert ? 1.0f - x : x;
    }
}
static void cpu_synchronize(Backend *b) { (void)b; }
static void cpu_destroy(Backend *b) {
    free(impl_of(b)->col);
    free(b->impl);
    free(b);
}

// ---- convolution -------------------------------------------------------------

// Rows [r0, r0+rows) of the unrolled input. in is (N,H,W,C), col is (rows, 9C).
static void im2col3x3(float *col, const float *in, size_t r0, size_t rows, int H, int W, int C) {
    const size_t rowlen = 9 * (size_t)C;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        size_t p = r0 + r;  // output pixel index in (N,H,W)
        int x = (int)(p % W), y = (int)(p / W % H);
        size_t n = p / ((size_t)W * H);
        float *dst = col + r * rowlen;
        for (int ky = 0; ky < 3; ky++) {
            int iy = y + ky - 1;
            for (int kx = 0; kx < 3; kx++, dst += C) {
                int ix = x + kx - 1;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                    memset(dst, 0, C * sizeof(float));
                else
                    memcpy(dst, in + ((n * H + iy) * W + ix) * C, C * sizeof(float));
            }
        }
    }
}

// The inverse scatter: din += col2im(dcol) for rows [r0, r0+rows).
// Serial over rows within one image neighbourhood would race, so threads
// split the channel range instead: every thread touches its own channels.
static void col2im3x3_add(float *din, const float *dcol, size_t r0, size_t rows, int H, int W, int C) {
    const size_t rowlen = 9 * (size_t)C;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int c0 = (int)((long)C * t / nt), c1 = (int)((long)C * (t + 1) / nt);
        for (size_t r = 0; r < rows; r++) {
            size_t p = r0 + r;
            int x = (int)(p % W), y = (int)(p / W % H);
            size_t n = p / ((size_t)W * H);
            const float *src = dcol + r * rowlen;
            for (int ky = 0; ky < 3; ky++) {
                int iy = y + ky - 1;
                for (int kx = 0; kx < 3; kx++, src += C) {
                    int ix = x + kx - 1;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                    float *dst = din + ((n * H + iy) * W + ix) * C;
                    for (int c = c0; c < c1; c++) dst[c] += src[c];
                }
            }
        }
    }
}

static size_t chunk_rows(int C) {
    size_t rows = IM2COL_CHUNK_FLOATS / (9 * (size_t)C);
    return rows ? rows : 1;
}

static void cpu_conv3x3_forward(Backend *b, float *out, const float *in, const float *w,
                                const float *bias, int N, int H, int W, int C, int K, int relu) {
    const size_t M = (size_t)N * H * W, step = chunk_rows(C);
    const int KK = 9 * C;
    float *col = workspace(b, (step < M ? step : M) * KK);
    for (size_t r0 = 0; r0 < M; r0 += step) {
        size_t rows = M - r0 < step ? M - r0 : step;
        im2col3x3(col, in, r0, rows, H, W, C);
        float *o = out + r0 * K;
        // o (rows,K) = col (rows,9C) @ w (9C,K)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, K, KK, 1.0f, col, KK, w,
                    K, 0.0f, o, K);
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < rows; r++) {
            float *orow = o + r * K;
            for (int k = 0; k < K; k++) {
                float v = orow[k] + bias[k];
                orow[k] = relu && v < 0.0f ? 0.0f : v;
            }
        }
    }
}

// Sum over rows: dbias (K) = sum_r dout (M,K)
static void column_sums(float *dbias, const float *dout, size_t M, int K) {
    memset(dbias, 0, K * sizeof(float));
    for (size_t r = 0; r < M; r++) {
        const float *d = dout + r * K;
        for (int k = 0; k < K; k++) dbias[k] += d[k];
    }
}

static void cpu_conv3x3_backward(Backend *b, float *din, float *dw, float *dbias, const float *dout,
                                 const float *in, const float *w, int N, int H, int W, int C,
                                 int K) {
    const size_t M = (size_t)N * H * W, step = chunk_rows(C);
    const int KK = 9 * C;
    float *col = workspace(b, (step < M ? step : M) * KK);
    column_sums(dbias, dout, M, K);
    if (din) memset(din, 0, M * C * sizeof(float));
    for (size_t r0 = 0; r0 < M; r0 += step) {
        size_t rows = M - r0 < step ? M - r0 : step;
        const float *d = dout + r0 * K;
        im2col3x3(col, in, r0, rows, H, W, C);
        // dw (9C,K) (+)= col^T (9C,rows) @ d (rows,K)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, KK, K, (int)rows, 1.0f, col, KK, d, K,
                    r0 ? 1.0f : 0.0f, dw, K);
        if (din) {
            // dcol (rows,9C) = d (rows,K) @ w^T (K,9C); reuses the workspace
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, KK, K, 1.0f, d, K, w,
                        K, 0.0f, col, KK);
            col2im3x3_add(din, col, r0, rows, H, W, C);
        }
    }
}

static void cpu_relu_backward(Backend *b, float *dx, const float *dy, const float *y, size_t n) {
    (void)b;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// ---- pooling -----------------------------------------------------------------

static void cpu_maxpool2_forward(Backend *b, float *out, const float *in, int N, int H, int W, int C) {
    (void)b;
    const int OH = H / 2, OW = W / 2;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < (long)N * OH * OW; p++) {
        int ox = (int)(p % OW), oy = (int)(p / OW % OH);
        long n = p / ((long)OW * OH);
        const float *i00 = in + ((n * H + 2 * oy) * W + 2 * ox) * C;
        const float *i01 = i00 + C, *i10 = i00 + (size_t)W * C, *i11 = i10 + C;
        float *o = out + p * C;
        for (int c = 0; c < C; c++) {
            float m = i00[c];
            if (i01[c] > m) m = i01[c];
            if (i10[c] > m) m = i10[c];
            if (i11[c] > m) m = i11[c];
            o[c] = m;
        }
    }
}

static void cpu_maxpool2_backward(Backend *b, float *din, const float *dout, const float *in,
                                  const float *out, int N, int H, int W, int C) {
    (void)b;
    const int OH = H / 2, OW = W / 2;
    memset(din, 0, (size_t)N * H * W * C * sizeof(float));
#pragma omp parallel for schedule(static)
    for (long p = 0; p < (long)N * OH * OW; p++) {
        int ox = (int)(p % OW), oy = (int)(p / OW % OH);
        long n = p / ((long)OW * OH);
        size_t base = ((n * H + 2 * oy) * W + 2 * ox) * C;
        size_t offs[4] = {base, base + C, base + (size_t)W * C, base + (size_t)W * C + C};
        for (int c = 0; c < C; c++) {
            float m = out[p * C + c];
            for (int q = 0; q < 4; q++) {
                if (in[offs[q] + c] == m) {  // first maximum in row-major order
                    din[offs[q] + c] = dout[p * C + c];
                    break;
                }
            }
        }
    }
}

// ---- dense -------------------------------------------------------------------

static void cpu_dense_forward(Backend *b, float *out, const float *in, const float *w,
                              const float *bias, int N, int In, int Out, int relu) {
    (void)b;
    // out (N,Out) = in (N,In) @ w (In,Out)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Out, In, 1.0f, in, In, w, Out, 0.0f, out, Out);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < Out; o++) {
            float v = out[(size_t)n * Out + o] + bias[o];
            out[(size_t)n * Out + o] = relu && v < 0.0f ? 0.0f : v;
        }
}

static void cpu_dense_backward(Backend *b, float *din, float *dw, float *dbias, const float *dout,
                               const float *in, const float *w, int N, int In, int Out) {
    (void)b;
    column_sums(dbias, dout, (size_t)N, Out);
    // dw (In,Out) = in^T (In,N) @ dout (N,Out)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, In, Out, N, 1.0f, in, In, dout, Out, 0.0f, dw, Out);
    // din (N,In) = dout (N,Out) @ w^T (Out,In)
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, In, Out, 1.0f, dout, Out, w, Out, 0.0f,
                    din, In);
}

// ---- siamese head --------------------------------------------------------------

static void cpu_absdiff_forward(Backend *b, float *out, const float *x1, const float *x2, size_t n) {
    (void)b;
    for (size_t i = 0; i < n; i++) out[i] = fabsf(x1[i] - x2[i]);
}

static void cpu_absdiff_backward(Backend *b, float *dx1, float *dx2, const float *dout,
                                 const float *x1, const float *x2, size_t n) {
    (void)b;
    for (size_t i = 0; i < n; i++) {
        float d = x1[i] > x2[i] ? dout[i] : x1[i] < x2[i] ? -dout[i] : 0.0f;
        dx1[i] = d;
        dx2[i] = -d;
    }
}

static void cpu_sigmoid_bce_forward(Backend *b, float *prob, float *loss, const float *logit,
                                    const float *y, int N) {
    (void)b;
    double sum = 0.0;
    for (int i = 0; i < N; i++) {
        double z = logit[i];
        prob[i] = (float)(1.0 / (1.0 + exp(-z)));
        if (y) sum += (z > 0 ? z : 0) - z * y[i] + log1p(exp(-fabs(z)));
    }
    if (y) *loss = (float)(sum / N);
}

static void cpu_sigmoid_bce_backward(Backend *b, float *dlogit, const float *prob, const float *y,
                                     int N) {
    (void)b;
    for (int i = 0; i < N; i++) dlogit[i] = (prob[i] - y[i]) / (float)N;
}

// ---- optimizers ----------------------------------------------------------------

static void cpu_sgd_nesterov_step(Backend *b, float *p, const float *g, float *buf, size_t n,
                                  float lr, float momentum, float wd) {
    (void)b;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        buf[i] = momentum * buf[i] + gi;
        p[i] -= lr * (gi + momentum * buf[i]);
    }
}

static void cpu_adam_step(Backend *b, float *p, const float *g, float *m, float *v, size_t n,
                          float lr, float beta1, float beta2, float eps, float wd, long t) {
    (void)b;
    const double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    const float step = (float)(lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        m[i] = beta1 * m[i] + (1.0f - beta1) * gi;
        v[i] = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        p[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
    }
}

static const BackendOps cpu_ops = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .zero = cpu_zero,
    .upload = cpu_copy,
    .upload_u8 = cpu_upload_u8,
    .download = cpu_copy,
    .synchronize = cpu_synchronize,
    .destroy = cpu_destroy,
    .conv3x3_forward = cpu_conv3x3_forward,
    .conv3x3_backward = cpu_conv3x3_backward,
    .relu_backward = cpu_relu_backward,
    .maxpool2_forward = cpu_maxpool2_forward,
    .maxpool2_backward = cpu_maxpool2_backward,
    .dense_forward = cpu_dense_forward,
    .dense_backward = cpu_dense_backward,
    .absdiff_forward = cpu_absdiff_forward,
    .absdiff_backward = cpu_absdiff_backward,
    .sigmoid_bce_forward = cpu_sigmoid_bce_forward,
    .sigmoid_bce_backward = cpu_sigmoid_bce_backward,
    .sgd_nesterov_step = cpu_sgd_nesterov_step,
    .adam_step = cpu_adam_step,
};

int backend_cpu_open(Backend **out, int threads, Err *e) {
    Backend *b = calloc(1, sizeof *b);
    CpuImpl *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(b);
        free(c);
        return err_set(e, "out of memory opening the CPU backend");
    }
    if (threads <= 0) threads = omp_get_num_procs();
    c->threads = threads;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    b->ops = &cpu_ops;
    b->impl = c;
    b->is_cpu = 1;
    snprintf(b->desc, sizeof b->desc, "cpu, %d thread%s", threads, threads == 1 ? "" : "s");
    *out = b;
    return 0;
}
