// backend_cpu: the reference implementation of every backend operation.
//
// Heavy work is single-precision matrix products (gemm.c: one AVX2/FMA
// micro-kernel, threads over rows); everything else is plain loops,
// parallel over OpenMP threads where it pays. A 3x3 'same' convolution in
// NHWC is one product once each output pixel's 3x3xC neighbourhood is laid
// out as a row in the order (ky,kx,c) ("im2col"), because that is exactly
// the row order of a Keras (3,3,C,K) kernel seen as a (9C,K) matrix. The
// neighbourhood is never copied: the product reads, for each of the 9
// taps, a pointer to the input pixel the tap sees (or to a row of zeros
// outside the image), so memory stays that of the tensors themselves.
//  - backward data is the same convolution run on dout with the kernel
//    rotated by 180 degrees and its channel axes swapped;
//  - backward filter sums, over pixels, tap-shifted input rows times dout.
// Layers with enough channels and pixels take Winograd's F(2x2,3x3) instead
// (winograd.c: 2.25x fewer multiplies, the same results up to rounding);
// the direct products here serve the rest (the RGB input layer, the small
// deep layers of a single pair) and are what the tests check it against.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpuwait.h"
#include "gemm.h"
#include "profile.h"
#include "winograd.h"

// A buffer of alloc_params and how often it has been written (see "kept
// forms" below).
typedef struct ParamBuffer {
    const float *base;
    size_t floats;
    unsigned long version;  // a new one (CpuImpl.clock) at each operation that writes it
} ParamBuffer;

// What a forward pass makes of a kernel before its products read it.
typedef enum KeptKind {
    KEPT_PACKED,    // the (rows, cols) matrix packed (gemm_pack_b)
    KEPT_WINOGRAD,  // a (3,3,rows,cols) kernel transformed (winograd_transform_kernel)
} KeptKind;

// A form of the kernel at w, made from it at the buffer's version `version`.
typedef struct KeptForm {
    const float *w;
    KeptKind kind;
    int rows, cols;
    unsigned long version;  // of w's buffer when last asked for
    int made;               // data holds the form at that version
    float *data;            // NULL until the form is asked for twice at one version
    size_t floats;          // data's size
} KeptForm;

typedef struct CpuImpl {
    int threads;
    float *work;        // packed weights and gemm scratch, work_cap floats
    size_t work_cap;
    float *zeros;       // a row of zeros, what taps outside the image read
    size_t zeros_cap;
    double *marks;      // timer_mark's clock readings (seconds), n_marks of cap_marks
    int n_marks, cap_marks;
    ParamBuffer *buffers;  // alloc_params' buffers, n_buffers
    int n_buffers;
    unsigned long clock;   // the last version given to a buffer: none is given twice
    KeptForm *kept;        // n_kept forms of their kernels
    int n_kept;
    CpuWait wait;          // whether other programs keep our threads waiting (forward_threads)
} CpuImpl;

static CpuImpl *impl_of(Backend *b) { return (CpuImpl *)b->impl; }

// Buffers only grow, so after the first batch nothing is allocated. When
// memory runs out the operation ends there (backend_op_fail), the buffer
// empty but consistent.
static float *grow(float **buf, size_t *cap, size_t floats, int zeroed) {
    if (floats > *cap) {
        free(*buf);
        *cap = 0;
        *buf = zeroed ? calloc(floats, sizeof(float)) : malloc(floats * sizeof(float));
        if (!*buf)
            backend_op_fail(BACKEND_OUT_OF_MEMORY,
                            "out of memory for a %zu MiB CPU workspace: use a smaller batch size",
                            floats * sizeof(float) >> 20);
        *cap = floats;
    }
    return *buf;
}
static float *workspace(Backend *b, size_t floats) {
    return grow(&impl_of(b)->work, &impl_of(b)->work_cap, floats, 0);
}
static const float *zeros(Backend *b, size_t floats) {
    return grow(&impl_of(b)->zeros, &impl_of(b)->zeros_cap, floats, 1);
}

// ---- kept forms of the kernels ------------------------------------------------
//
// A forward pass makes its kernels into the forms its products read: packed
// panels (gemm_pack_b) and Winograd's transformed kernels (16/9 of a
// kernel's size; making them was 11% of a VGG16 pair on 2 cores). Within
// one set of weights these are the same every pass, so the backend keeps
// them. The weights are alloc_params buffers, which change only through
// this backend's operations (backend.h: nothing else writes their kernels):
// each buffer has a version, a new one at every operation that writes into
// it (the copies, zero, the optimizer steps, the weight gradients), and a
// form serves while its buffer's version is the one it was made at. A form gets
// memory of its own only when its kernel is asked for a second time at one
// version: training, whose weights change every step, keeps none (and
// makes its forms in the workspace, as before); inference keeps them from
// its second pass. Kept or not, a form is the same floats, so results do
// not depend on it.

static ParamBuffer *buffer_of(CpuImpl *c, const void *p) {
    for (int i = 0; i < c->n_buffers; i++)
        if ((const float *)p >= c->buffers[i].base &&
            (const float *)p < c->buffers[i].base + c->buffers[i].floats)
            return &c->buffers[i];
    return NULL;
}

// An operation writes [p, p + bytes): the forms made from there are stale.
static void written(Backend *b, const void *p, size_t bytes) {
    CpuImpl *c = impl_of(b);
    const char *lo = p, *hi = lo + bytes;
    for (int i = 0; i < c->n_buffers; i++) {
        const char *base = (const char *)c->buffers[i].base;
        if (lo < base + c->buffers[i].floats * sizeof(float) && hi > base)
            c->buffers[i].version = ++c->clock;
    }
}

// The form `kind` of the (rows, cols) kernel at w, `floats` floats, as
// kept: NULL when none is (the caller makes the form for this call alone);
// else its floats, and *fill = 1 when the caller must make it there now
// (nothing that can fail may come between: it counts as made).
static float *kept_form(Backend *b, const float *w, KeptKind kind, int rows, int cols,
                        size_t floats, int *fill) {
    CpuImpl *c = impl_of(b);
    const ParamBuffer *buf = buffer_of(c, w);
    *fill = 0;
    if (!buf) return NULL;
    KeptForm *f = NULL;
    for (int i = 0; i < c->n_kept && !f; i++)
        if (c->kept[i].w == w && c->kept[i].kind == kind && c->kept[i].rows == rows &&
            c->kept[i].cols == cols)
            f = &c->kept[i];
    if (!f) {  // the first time: remembered, not kept
        KeptForm *k = realloc(c->kept, (c->n_kept + 1) * sizeof *k);
        if (!k) return NULL;
        c->kept = k;
        c->kept[c->n_kept++] = (KeptForm){w, kind, rows, cols, buf->version, 0, NULL, 0};
        return NULL;
    }
    if (f->version != buf->version) {  // the weights changed since
        f->version = buf->version;
        f->made = 0;
        return NULL;
    }
    if (f->made) return f->data;
    // Asked for again at the same version: worth keeping.
    if (f->floats < floats) {
        float *d = realloc(f->data, floats * sizeof(float));
        if (!d) return NULL;
        f->data = d;
        f->floats = floats;
    }
    f->made = 1;
    *fill = 1;
    return f->data;
}

// ---- memory ------------------------------------------------------------------

static void *cpu_alloc(Backend *b, size_t bytes) {
    BACKEND_OP(b, NULL);
    return calloc(1, bytes ? bytes : 1);
}
// The CPU's layout is Keras's. The buffer is registered: its kernels' forms
// are kept while it does not change.
static void *cpu_alloc_params(Backend *b, const BackendParamLayout *layout) {
    CpuImpl *c = impl_of(b);
    ParamBuffer *bufs = realloc(c->buffers, (c->n_buffers + 1) * sizeof *bufs);
    if (!bufs) return NULL;
    c->buffers = bufs;
    float *p = cpu_alloc(b, layout->floats * sizeof(float));
    if (p) c->buffers[c->n_buffers++] = (ParamBuffer){p, layout->floats, ++c->clock};
    return p;
}
// A parameter buffer's kept forms go with it (its address may come back
// with other weights).
static void cpu_free(Backend *b, void *p) {
    CpuImpl *c = impl_of(b);
    ParamBuffer *buf = p ? buffer_of(c, p) : NULL;
    if (buf && buf->base == p) {
        for (int i = 0; i < c->n_kept;)
            if (c->kept[i].w >= buf->base && c->kept[i].w < buf->base + buf->floats) {
                free(c->kept[i].data);
                c->kept[i] = c->kept[--c->n_kept];
            } else {
                i++;
            }
        *buf = c->buffers[--c->n_buffers];
    }
    free(p);
}
static void cpu_zero(Backend *b, void *p, size_t bytes) {
    BACKEND_OP(b);
    written(b, p, bytes);
    memset(p, 0, bytes);
}
static void cpu_copy(Backend *b, void *dst, const void *src, size_t bytes) {
    BACKEND_OP(b);
    written(b, dst, bytes);
    if (dst != src) memcpy(dst, src, bytes);
}
static void cpu_upload_u8(Backend *b, float *dst, const uint8_t *src, size_t n, int invert) {
    BACKEND_OP(b);
    written(b, dst, n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float x = src[i] / 255.0f;
        dst[i] = invert ? 1.0f - x : x;
    }
}
static void cpu_synchronize(Backend *b) { BACKEND_OP(b); }
static void *cpu_host_alloc(Backend *b, size_t bytes) {
    BACKEND_OP(b, NULL);
    return calloc(1, bytes ? bytes : 1);
}
// Everything runs when called: a fence has always been passed.
static void cpu_fence(Backend *b, int i) {
    BACKEND_OP(b);
    (void)i;
}
// Operations run when called: the clock marks where they end.
static int cpu_timer_mark(Backend *b) {
    CpuImpl *c = impl_of(b);
    if (c->n_marks == c->cap_marks) {
        int cap = c->cap_marks ? 2 * c->cap_marks : 1024;
        double *m = realloc(c->marks, cap * sizeof *m);
        if (!m) return -1;
        c->marks = m;
        c->cap_marks = cap;
    }
    c->marks[c->n_marks] = omp_get_wtime();
    return c->n_marks++;
}
static double cpu_timer_ms(Backend *b, int from, int to) {
    return 1e3 * (impl_of(b)->marks[to] - impl_of(b)->marks[from]);
}
static void cpu_timer_reset(Backend *b) { impl_of(b)->n_marks = 0; }

static void cpu_destroy(Backend *b) {
    for (int i = 0; i < impl_of(b)->n_kept; i++) free(impl_of(b)->kept[i].data);
    free(impl_of(b)->kept);
    free(impl_of(b)->buffers);
    free(impl_of(b)->work);
    free(impl_of(b)->zeros);
    free(impl_of(b)->marks);
    free(b->impl);
    free(b);
}

// ---- matrix products -----------------------------------------------------------

// Row pointers of the unrolled 3x3 neighbourhoods of an (N,H,W,C) image:
// for output pixel m and tap t = 3ky+kx, the input pixel (y+ky-1, x+kx-1).
typedef struct ConvRows {
    const float *in, *zeros;
    int H, W, C;
} ConvRows;

static void conv_rows(const void *ctx, int m0, int count, const float *(*ptr)[GEMM_MAX_TAPS]) {
    const ConvRows *r = ctx;
    const ptrdiff_t C = r->C, row = (ptrdiff_t)r->W * C;  // signed: taps step back too
    int x = m0 % r->W, y = m0 / r->W % r->H;
    const float *at = r->in + (size_t)m0 * C;  // the output pixel's own input pixel
    for (int i = 0; i < count; i++, at += C) {
        if (y > 0 && y < r->H - 1 && x > 0 && x < r->W - 1) {  // inside: no checks
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                    ptr[i][3 * ky + kx] = at + (ky - 1) * row + (kx - 1) * C;
        } else {
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    const int iy = y + ky - 1, ix = x + kx - 1;
                    ptr[i][3 * ky + kx] = iy < 0 || iy >= r->H || ix < 0 || ix >= r->W
                                              ? r->zeros
                                              : at + (ky - 1) * row + (kx - 1) * C;
                }
        }
        if (++x == r->W) {  // next pixel in (n,y,x) order
            x = 0;
            if (++y == r->H) y = 0;
        }
    }
}

// Threads for a forward operation of `flops` work (counted as the direct
// method's multiply-adds times two). A forward result does not depend on
// how many threads compute it (each output element is one thread's sum, in
// an order fixed by the sizes alone), so an operation takes one thread per
// FORWARD_FLOPS_PER_THREAD (about a tenth of a millisecond of one core's
// work): on a quiet machine one pair of the compact network then takes
// both cores for all but its dense layers, 4.2 ms against 7.9 on one
// thread (2026-12-01 02:23, medians of interleaved runs; PyTorch 7.8).
// Where other programs compete for the cores, a thread woken for so little
// costs more than it brings: OpenMP's idle threads spin, and a partner the
// scheduler has put aside holds up the whole loop (behind two busy loops
// on the two cores, up to 184 ms a pair against 6.4 on one thread). So
// while this process's threads wait for a CPU (cpuwait.h), an operation
// takes one thread per FORWARD_FLOPS_PER_THREAD_BUSY, about two
// milliseconds of a core: one compact pair stays on one thread, VGG16's
// large layers and any batch take every core (6.2 ms a compact pair behind
// one busy loop, against 8.6 with both threads). The backward operations
// split sums between threads: they keep the configured count, which a
// checkpoint records, so that a run repeats exactly.
//
// Operations that read more than they compute (the max-pools; a dense
// layer's product for one pair, which reads its weights once for one row)
// count FORWARD_FLOPS_PER_BYTE operations for each byte they read: a thread
// per 250 KB, so on a quiet machine compact's first two pools (1.4 and 0.7
// MB) and its first dense layer (2.4 MB of weights, each thread reading
// half, a half that can stay in its core's level-2 cache from pass to pass)
// take both cores: one compact pair 5% faster (2026-12-01 02:51, the median
// of 30 interleaved runs' ratios); while busy, a thread per 2.5 MB.
#define FORWARD_FLOPS_PER_THREAD 1e7
#define FORWARD_FLOPS_PER_THREAD_BUSY 1e8
#define FORWARD_FLOPS_PER_BYTE 40.0
static int forward_threads(Backend *b, double flops) {
    CpuImpl *c = impl_of(b);
    const int most = c->threads;
    if (most == 1) return 1;
    const double per = cpuwait_busy(&c->wait, most) ? FORWARD_FLOPS_PER_THREAD_BUSY
                                                    : FORWARD_FLOPS_PER_THREAD;
    const int n = (int)(flops / per);
    return n < 1 ? 1 : n < most ? n : most;
}

// Packs B (Kd,N), element (k,n) at src[k*rs + n*cs], into bp
// (gemm_packed_b_floats); threads split the rows.
static void pack_b_into(float *bp, const float *src, int Kd, int N, ptrdiff_t rs, ptrdiff_t cs,
                        int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int k0 = 0; k0 < Kd; k0 += 64)
        gemm_pack_b(bp, Kd, N, k0, Kd - k0 < 64 ? Kd - k0 : 64, src + k0 * rs, rs, cs);
}
// The same into the workspace.
static float *pack_b(Backend *b, const float *src, int Kd, int N, ptrdiff_t rs, ptrdiff_t cs,
                     int threads) {
    float *bp = workspace(b, gemm_packed_b_floats(Kd, N));
    pack_b_into(bp, src, Kd, N, rs, cs, threads);
    return bp;
}

// B (Kd,N), row-major at w, packed: as kept, else into scratch
// (gemm_packed_b_floats).
static const float *packed_b(Backend *b, const float *w, int Kd, int N, float *scratch,
                             int threads) {
    int fill;
    float *kept = kept_form(b, w, KEPT_PACKED, Kd, N, gemm_packed_b_floats(Kd, N), &fill);
    if (kept && !fill) return kept;
    pack_b_into(kept ? kept : scratch, w, Kd, N, N, 1, threads);
    return kept ? kept : scratch;
}

// B (Kd,N), row-major at w, as a forward product over M rows reads it
// (gemm_rows' b and *ldb): packed as kept; else, for few rows, in place
// (packing costs about what it saves); else packed into the workspace.
static const float *forward_b(Backend *b, const float *w, int Kd, int N, int M, int threads,
                              ptrdiff_t *ldb) {
    int fill;
    float *kept = kept_form(b, w, KEPT_PACKED, Kd, N, gemm_packed_b_floats(Kd, N), &fill);
    *ldb = 0;
    if (kept) {
        if (fill) pack_b_into(kept, w, Kd, N, N, 1, threads);
        return kept;
    }
    if (gemm_b_in_place(M, N, threads)) {
        *ldb = N;
        return w;
    }
    return pack_b(b, w, Kd, N, N, 1, threads);
}

// dbias (K) = column sums of dout (M,K). The rows are cut into blocks of a
// fixed size (not one per thread); each block is summed in row order into
// its own partial sums, which are then added in block order. So dout is read
// once, by all threads, and the result does not depend on the thread count
// (a resumed run on another machine sums alike).
#define COLUMN_SUM_ROWS 256
static void column_sums(Backend *b, float *dbias, const float *dout, size_t M, int K) {
    const size_t blocks = (M + COLUMN_SUM_ROWS - 1) / COLUMN_SUM_ROWS;
    float *partial = workspace(b, blocks * K);
#pragma omp parallel for schedule(static) num_threads(impl_of(b)->threads)
    for (size_t blk = 0; blk < blocks; blk++) {
        const size_t r0 = blk * COLUMN_SUM_ROWS;
        const size_t r1 = M - r0 < COLUMN_SUM_ROWS ? M : r0 + COLUMN_SUM_ROWS;
        float *restrict s = partial + blk * K;
        memcpy(s, dout + r0 * K, K * sizeof(float));
        for (size_t r = r0 + 1; r < r1; r++) {
            const float *restrict d = dout + r * K;
#pragma omp simd
            for (int k = 0; k < K; k++) s[k] += d[k];
        }
    }
    memcpy(dbias, partial, K * sizeof(float));
    for (size_t blk = 1; blk < blocks; blk++)
        for (int k = 0; k < K; k++) dbias[k] += partial[blk * K + k];
}

// ---- convolution -------------------------------------------------------------

static void cpu_conv3x3_forward(Backend *b, float *out, const float *in, const float *w,
                                const float *bias, int N, int H, int W, int C, int K, int relu) {
    BACKEND_OP(b);
    const int M = N * H * W, threads = forward_threads(b, 18.0 * M * C * K);
    const float *zc = zeros(b, C);
    if (winograd_pays(H, W, C, K)) {
        const size_t nu = winograd_kernel_floats(C, K);
        float *work = workspace(b, nu + winograd_work_floats(C, K, threads));
        int fill;
        float *U = kept_form(b, w, KEPT_WINOGRAD, C, K, nu, &fill);
        if (!U || fill) winograd_transform_kernel(U ? U : work, w, 0, C, K, work + nu, threads);
        winograd_conv(out, in, U ? U : work, bias, N, H, W, C, K, relu, zc, work + nu, threads);
        return;
    }
    if (gemm_conv_padded_ok(C)) {
        // The threads' padded rows, then (unless kept) the packed kernel, in
        // the workspace.
        const size_t npad = gemm_conv_padded_work_floats(W, C, threads);
        float *pad = workspace(b, npad + gemm_packed_b_floats(9 * C, K));
        const float *bw = packed_b(b, w, 9 * C, K, pad + npad, threads);
        gemm_conv_padded(out, in, N, H, W, C, K, bw, bias, relu, pad, threads);
        return;
    }
    // out (M,K) = unrolled in (M,9C) @ w (9C,K), + bias, ReLU
    const ConvRows rows = {in, zc, H, W, C};
    ptrdiff_t ldb;
    const float *bw = forward_b(b, w, 9 * C, K, M, threads, &ldb);
    gemm_rows(out, K, M, K, 9, C, conv_rows, &rows, bw, ldb, bias, relu, threads);
}

// dx = dy where y > 0, else 0; dx may alias dy. A select in SIMD lanes, not
// a branch: the mask is close to random, and a mispredicted branch per
// element cost more than the memory traffic (14% of a compact training step
// on one thread).
static void relu_mask(float *dx, const float *dy, const float *y, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float d = dy[i];  // read unconditionally, so the loop has no branch
        dx[i] = y[i] > 0.0f ? d : 0.0f;
    }
}

static void cpu_conv3x3_backward(Backend *b, float *din, float *dw, float *dbias, float *dout,
                                 const float *y, const float *in, const float *w, int N, int H,
                                 int W, int C, int K) {
    BACKEND_OP(b);
    const int M = N * H * W, threads = impl_of(b)->threads;
    written(b, dw, 9 * sizeof(float) * C * K);
    if (y) {
        profile_piece(b, "relu bwd");
        relu_mask(dout, dout, y, (size_t)M * K);
    }
    if (dbias) {  // (else made by the pool after this layer: maxpool2_relu_backward)
        written(b, dbias, K * sizeof(float));
        profile_piece(b, "bias grad");
        column_sums(b, dbias, dout, M, K);
    }
    profile_piece(b, "wgrad");
    // dw (9C,K): row t*C+c = sum over pixels of the tap-t-shifted input
    // (channel c) times dout.
    const ConvRows in_rows = {in, zeros(b, C > K ? C : K), H, W, C};
    if (winograd_pays(H, W, C, K))
        winograd_backward_filter(dw, in, dout, N, H, W, C, K, in_rows.zeros,
                                 workspace(b, winograd_backward_filter_work_floats(C, K, threads)),
                                 threads);
    else
        gemm_rows_tn(dw, M, K, 9, C, conv_rows, &in_rows, dout, K, 0,
                     workspace(b, gemm_rows_tn_work_floats(9, C, K, threads)), threads);
    if (!din) return;
    profile_piece(b, "dgrad");
    if (winograd_pays(H, W, K, C)) {
        const size_t nu = winograd_kernel_floats(K, C);
        float *U = workspace(b, nu + winograd_work_floats(K, C, threads));
        winograd_transform_kernel(U, w, 1, K, C, U + nu, threads);
        winograd_conv(din, dout, U, NULL, N, H, W, K, C, 0, in_rows.zeros, U + nu, threads);
        return;
    }
    // din (M,C) = unrolled dout (M,9K) @ B (9K,C) where row t*K+k of B is
    // w[8-t][c][k] over c: tap t of the rotated kernel, channels swapped.
    float *bp = workspace(b, gemm_packed_b_floats(9 * K, C));
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int t = 0; t < 9; t++)
        gemm_pack_b(bp, 9 * K, C, t * K, K, w + (size_t)(8 - t) * C * K, 1, K);
    const ConvRows dout_rows = {dout, in_rows.zeros, H, W, K};
    gemm_rows(din, C, M, C, 9, K, conv_rows, &dout_rows, bp, 0, NULL, 0, threads);
}

static void cpu_relu_backward(Backend *b, float *dx, const float *dy, const float *y, size_t n) {
    BACKEND_OP(b);
    relu_mask(dx, dy, y, n);
}

// ---- pooling -----------------------------------------------------------------

// The CPU keeps the argmax (the backward pass then reads one byte per
// window instead of four inputs): 0..3, the window's first maximum in
// row-major order. A later element replaces the maximum only when strictly
// greater, so ties and a NaN in the first place keep it, and a NaN later is
// never taken. The channels of a pixel are SIMD lanes and each comparison a
// select, not a branch (per element, a mispredicted branch cost more than
// the memory traffic: a tenth of a compact pair's forward pass); one output
// row per iteration, so no divisions per pixel.
static void cpu_maxpool2_forward(Backend *b, float *out, uint8_t *argmax, const float *in, int N,
                                 int H, int W, int C) {
    BACKEND_OP(b);
    const int OH = H / 2, OW = W / 2;
    const int threads = forward_threads(b, FORWARD_FLOPS_PER_BYTE * sizeof(float) * N * H * W * C);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long r = 0; r < (long)N * OH; r++) {  // output row r = n*OH + oy
        const long n = r / OH, oy = r % OH;
        const float *top = in + ((n * H + 2 * oy) * W) * C, *bottom = top + (size_t)W * C;
        uint8_t spare[C];  // where the argmax goes when the caller keeps none
        for (int ox = 0; ox < OW; ox++) {
            const size_t p = (size_t)r * OW + ox;
            const float *q0 = top + 2 * ox * C, *q1 = q0 + C, *q2 = bottom + 2 * ox * C,
                        *q3 = q2 + C;
            float *restrict o = out + p * C;
            uint8_t *restrict a = argmax ? argmax + p * C : spare;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                float m = q0[c];
                uint8_t best = 0;
                if (q1[c] > m) m = q1[c], best = 1;
                if (q2[c] > m) m = q2[c], best = 2;
                if (q3[c] > m) m = q3[c], best = 3;
                o[c] = m;
                a[c] = best;
            }
        }
    }
}

// Each input gets dout where it was its window's maximum (the argmax the
// forward pass kept, else the first input equal to the output: none for a
// NaN) and zero elsewhere, written once: selects in SIMD lanes over the
// channels, not a zeroing pass and a scattered store per element. Threads
// take input rows; inputs no window covers (the last row and column of an
// odd size) are zeroed.
static void maxpool2_route(float *din, const float *dout, const float *in, const float *out,
                           const uint8_t *argmax, int N, int H, int W, int C) {
    const int OH = H / 2, OW = W / 2;
    const size_t row = (size_t)W * C;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)N * H; r++) {  // input row r = n*H + y
        const long n = r / H, y = r % H;
        float *d = din + r * row;
        if (y >= 2 * OH) {
            memset(d, 0, row * sizeof(float));
            continue;
        }
        const uint8_t k0 = (uint8_t)(y % 2 * 2);  // window element of this row's left input
        const float *top = in + (n * H + y - y % 2) * row, *bottom = top + row;
        uint8_t found[C];  // the window maxima when the forward pass kept none
        for (int ox = 0; ox < OW; ox++) {
            const size_t p = ((size_t)n * OH + y / 2) * OW + ox;
            const float *restrict g = dout + p * C;
            const uint8_t *restrict a = argmax ? argmax + p * C : found;
            if (!argmax) {
                const float *q0 = top + 2 * ox * C, *q1 = q0 + C, *q2 = bottom + 2 * ox * C,
                            *q3 = q2 + C, *m = out + p * C;
#pragma omp simd
                for (int c = 0; c < C; c++) {  // from the last: the first equal stays
                    uint8_t f = 4;
                    f = q3[c] == m[c] ? 3 : f;
                    f = q2[c] == m[c] ? 2 : f;
                    f = q1[c] == m[c] ? 1 : f;
                    found[c] = q0[c] == m[c] ? 0 : f;
                }
            }
            float *restrict left = d + 2 * ox * C, *restrict right = left + C;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                const float gc = g[c];
                left[c] = a[c] == k0 ? gc : 0.0f;
                right[c] = a[c] == k0 + 1 ? gc : 0.0f;
            }
        }
        if (W % 2) memset(d + 2 * OW * C, 0, C * sizeof(float));
    }
}

static void cpu_maxpool2_backward(Backend *b, float *din, const float *dout, const float *in,
                                  const float *out, const uint8_t *argmax, int N, int H, int W,
                                  int C) {
    BACKEND_OP(b);
    maxpool2_route(din, dout, in, out, argmax, N, H, W, C);
}

// The pooled gradient masked where the window's maximum (its output) is not
// positive, the ReLU's mask at the one input each window routes to; the
// bias sums over the windows, a quarter of the conv's output (backend.h).
static void cpu_maxpool2_relu_backward(Backend *b, float *din, float *dbias, float *dout,
                                       const float *out, const uint8_t *argmax, int N, int H,
                                       int W, int C) {
    BACKEND_OP(b);
    if (!argmax)
        backend_op_fail(BACKEND_FAULT, "maxpool2_relu_backward without the forward pass's "
                                       "argmax: this is a bug in siamese");
    const size_t windows = (size_t)N * (H / 2) * (W / 2);
    written(b, dbias, C * sizeof(float));
    profile_piece(b, "relu bwd");
    relu_mask(dout, dout, out, windows * C);
    profile_piece(b, "bias grad");
    if (windows) column_sums(b, dbias, dout, windows, C);
    else memset(dbias, 0, C * sizeof(float));
    profile_piece(b, "pool bwd");
    maxpool2_route(din, dout, NULL, NULL, argmax, N, H, W, C);
}

// ---- dense -------------------------------------------------------------------

static void cpu_dense_forward(Backend *b, float *out, const float *in, const float *w,
                              const float *bias, int N, int In, int Out, int relu) {
    BACKEND_OP(b);
    // out (N,Out) = in (N,In) @ w (In,Out), + bias, ReLU
    const double flops = 2.0 * N * In * Out, bytes = sizeof(float) * ((double)In * Out + N * In);
    const int threads = forward_threads(
        b, flops > FORWARD_FLOPS_PER_BYTE * bytes ? flops : FORWARD_FLOPS_PER_BYTE * bytes);
    const GemmMatrix rows = {in, (size_t)In};
    ptrdiff_t ldb;
    const float *bw = forward_b(b, w, In, Out, N, threads, &ldb);
    gemm_rows(out, Out, N, Out, 1, In, gemm_matrix_rows, &rows, bw, ldb, bias, relu, threads);
}

static void cpu_dense_backward(Backend *b, float *din, float *dw, float *dbias, const float *dout,
                               const float *in, const float *w, int N, int In, int Out) {
    BACKEND_OP(b);
    const int threads = impl_of(b)->threads;
    written(b, dw, sizeof(float) * In * Out);
    written(b, dbias, Out * sizeof(float));
    profile_piece(b, "bias grad");
    column_sums(b, dbias, dout, (size_t)N, Out);
    profile_piece(b, "wgrad");
    // dw (In,Out) = in^T (In,N) @ dout (N,Out)
    const GemmMatrix in_rows = {in, (size_t)In};
    gemm_rows_tn(dw, N, Out, 1, In, gemm_matrix_rows, &in_rows, dout, Out, 0,
                 workspace(b, gemm_rows_tn_work_floats(1, In, Out, threads)), threads);
    if (!din) return;
    profile_piece(b, "dgrad");
    // din (N,In) = dout (N,Out) @ w^T (Out,In)
    const float *bp = pack_b(b, w, Out, In, 1, Out, threads);
    const GemmMatrix dout_rows = {dout, (size_t)Out};
    gemm_rows(din, In, N, In, 1, Out, gemm_matrix_rows, &dout_rows, bp, 0, NULL, 0, threads);
}

// ---- siamese head --------------------------------------------------------------

static void cpu_absdiff_forward(Backend *b, float *out, const float *x1, const float *x2, size_t n) {
    BACKEND_OP(b);
    // Memory-bound: every core's share of the bandwidth helps (a gallery
    // search runs it on millions of features between two products).
#pragma omp parallel for schedule(static) num_threads(impl_of(b)->threads) if (n >= 65536)
    for (size_t i = 0; i < n; i++) out[i] = fabsf(x1[i] - x2[i]);
}

static void cpu_absdiff_backward(Backend *b, float *dx1, float *dx2, const float *dout,
                                 const float *x1, const float *x2, size_t n) {
    BACKEND_OP(b);
    for (size_t i = 0; i < n; i++) {
        float d = x1[i] > x2[i] ? dout[i] : x1[i] < x2[i] ? -dout[i] : 0.0f;
        dx1[i] = d;
        dx2[i] = -d;
    }
}

static void cpu_sigmoid_bce_forward(Backend *b, float *prob, float *loss, const float *logit,
                                    const float *y, int N) {
    BACKEND_OP(b);
    double sum = 0.0;
    for (int i = 0; i < N; i++) {
        double z = logit[i];
        prob[i] = (float)(1.0 / (1.0 + exp(-z)));
        if (y) sum += (z > 0 ? z : 0) - z * y[i] + log1p(exp(-fabs(z)));
    }
    if (y) *loss = (float)(sum / N);
}

static void cpu_sigmoid_bce_backward(Backend *b, float *dlogit, const float *prob, const float *y,
                                     int N, int mean_over) {
    BACKEND_OP(b);
    for (int i = 0; i < N; i++) dlogit[i] = (prob[i] - y[i]) / (float)mean_over;
}

// ---- optimizers ----------------------------------------------------------------

static void cpu_sgd_nesterov_step(Backend *b, float *p, const float *g, float *buf, size_t n,
                                  float lr, float momentum, float wd) {
    BACKEND_OP(b);
    written(b, p, n * sizeof(float));
    written(b, buf, n * sizeof(float));
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        buf[i] = momentum * buf[i] + gi;
        p[i] -= lr * (gi + momentum * buf[i]);
    }
}

static void cpu_adam_step(Backend *b, float *p, const float *g, float *m, float *v, size_t n,
                          float lr, float beta1, float beta2, float eps, float wd, long t) {
    BACKEND_OP(b);
    written(b, p, n * sizeof(float));
    written(b, m, n * sizeof(float));
    written(b, v, n * sizeof(float));
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
    .alloc_params = cpu_alloc_params,
    .free = cpu_free,
    .zero = cpu_zero,
    .upload = cpu_copy,
    .upload_u8 = cpu_upload_u8,
    .download = cpu_copy,
    .synchronize = cpu_synchronize,
    .destroy = cpu_destroy,
    .host_alloc = cpu_host_alloc,
    .host_free = cpu_free,
    .download_async = cpu_copy,
    .fence_record = cpu_fence,
    .fence_wait = cpu_fence,
    .timer_mark = cpu_timer_mark,
    .timer_ms = cpu_timer_ms,
    .timer_reset = cpu_timer_reset,
    .conv3x3_forward = cpu_conv3x3_forward,
    .conv3x3_backward = cpu_conv3x3_backward,
    .relu_backward = cpu_relu_backward,
    .maxpool2_forward = cpu_maxpool2_forward,
    .maxpool2_backward = cpu_maxpool2_backward,
    .maxpool2_relu_backward = cpu_maxpool2_relu_backward,
    .dense_forward = cpu_dense_forward,
    .dense_backward = cpu_dense_backward,
    .absdiff_forward = cpu_absdiff_forward,
    .absdiff_backward = cpu_absdiff_backward,
    .sigmoid_bce_forward = cpu_sigmoid_bce_forward,
    .sigmoid_bce_backward = cpu_sigmoid_bce_backward,
    .sgd_nesterov_step = cpu_sgd_nesterov_step,
    .adam_step = cpu_adam_step,
    .set_precision = NULL,  // the reference computes in FP32 only
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
    b->ops = &cpu_ops;
    b->impl = c;
    b->is_cpu = 1;
    snprintf(b->desc, sizeof b->desc, "cpu, %d thread%s", threads, threads == 1 ? "" : "s");
    *out = b;
    return 0;
}
