// winograd: see winograd.h. The transforms, with d the 4x4 input patch, g
// the 3x3 kernel and m the 4x4 product of one tile:
//   B^T = [1  0 -1  0]    G = [ 1    0    0 ]    A^T = [1  1  1  0]
//         [0  1  1  0]        [1/2  1/2  1/2]          [0  1 -1 -1]
//         [0 -1  1  0]        [1/2 -1/2  1/2]
//         [0  1  0 -1]        [ 0    0    1 ]
// Work is split into blocks of TILES tiles. A thread transforms a block's
// input into V (16 matrices (TILES,C)), multiplies each by its U (made by
// winograd_transform_kernel, packed for gemm.c, and kept by the caller while
// the weights stay the same) into M (16 matrices (TILES,K)), and transforms M
// into the block's output pixels, so the block's data stays in the caches
// and memory use does not grow with the batch. V and M are stored tile by
// tile (tile r's 16 vectors of C floats together, matrix xi's rows 16C
// apart): a tile's transform writes or reads one run of memory, not 16
// streams a matrix apart, whose addresses did not fit the registers (the
// transforms were a third of block1_conv2's time on one thread, now 28%).
#include "winograd.h"

#include <omp.h>
#include <string.h>

#include "gemm.h"

// The transforms are vector loops over channels, written once (TRANSFORM:
// inlined into each instantiation) and built three times: for AVX-512, for
// AVX2 and for any x86-64 (the default build's target); the one that
// matches the matrix products' kernel runs (gemm_kernel), so a test that
// forces a kernel tests its transforms too. They only add, subtract and
// halve, and the build contracts no multiply-add (-ffp-contract=off), so all
// three round alike.
#define TRANSFORM static inline __attribute__((always_inline))
#if defined(__x86_64__) && defined(__GNUC__)
#define TARGET_AVX512 __attribute__((target("avx512f")))
#define TARGET_AVX2 __attribute__((target("avx2")))
#else
#define TARGET_AVX512
#define TARGET_AVX2
#endif

#define TILES 96  // tiles per block: enough rows for the kernel
#define XI 16     // positions in the transformed domain

// Tiles of one image from which F(2x2,3x3) pays: 6x6 maps (block 5, 9
// tiles), measured as one pair's 18 since the CPU backend keeps the
// transformed kernels between passes.
#define MIN_TILES 8

int winograd_pays(int H, int W, int C, int K) {
    const long tiles = (long)((H + 1) / 2) * ((W + 1) / 2);
    // Few channels: the transforms cost as much as the products they save
    // (measured: slower than the direct method at 16 and 32 channels, faster
    // from 64). Few tiles: transforming the kernel (16/9 of its size) once a
    // pass cost more than it saved on one pair's 6x6 maps of block 5 (18
    // tiles), but the CPU backend keeps it between passes (backend_cpu.c):
    // there, 2 threads, min of 100 (2026-12-01), 512 channels 1.0 to 1.2 ms
    // against 1.4 to 2.1 direct, 128 channels 0.09 against 0.09 to 0.11 (one
    // thread 0.13 against 0.16); a pass that makes it anew (training at one
    // pair) pays 2.6 against 2.0 ms.
    return C >= 64 && K >= 64 && tiles >= MIN_TILES;
}

// A thread's V (TILES x 16 x C), M (TILES x 16 x K) and discard row (K).
static size_t per_thread(int C, int K) { return XI * TILES * ((size_t)C + K) + K; }

size_t winograd_kernel_floats(int C, int K) { return XI * gemm_packed_b_floats(C, K); }

// The threads' scratch; the rotated kernel (9CK) shares it, as it is free
// while U is made.
size_t winograd_work_floats(int C, int K, int threads) {
    const size_t s = (size_t)threads * per_thread(C, K);
    return s > 9 * (size_t)C * K ? s : 9 * (size_t)C * K;
}

// U (16 packed (C,K) matrices) = G g G^T for every channel pair; w is
// (3,3,C,K). Vector loops over 16 output channels: one row of a panel.
TRANSFORM void transform_kernel_channel(float *U, size_t stride, const float *w, int C,
                                                   int K, int c) {
    for (int k0 = 0; k0 < K; k0 += GEMM_NR) {
        const int kn = K - k0 < GEMM_NR ? K - k0 : GEMM_NR;
        const float *g = w + (size_t)c * K + k0;  // g[(3ky+kx)*C*K + k]: tap (ky,kx)
        const size_t ts = (size_t)C * K;
        float *u = U + ((size_t)(k0 / GEMM_NR) * C + c) * GEMM_NR;  // row c of panel k0/16
#pragma omp simd
        for (int k = 0; k < kn; k++) {
            // t = G g, one column j of the kernel at a time
#define G_COL(j)                                                                   \
    const float g0##j = g[j * ts + k], g1##j = g[(3 + j) * ts + k],               \
                g2##j = g[(6 + j) * ts + k], t0##j = g0##j,                       \
                t1##j = 0.5f * (g0##j + g1##j + g2##j), t2##j = 0.5f * (g0##j - g1##j + g2##j), \
                t3##j = g2##j
            G_COL(0);
            G_COL(1);
            G_COL(2);
            // u = t G^T, one row i at a time; xi = 4i + j
#define GT_ROW(i)                                                           \
    u[(4 * i + 0) * stride + k] = t##i##0;                                  \
    u[(4 * i + 1) * stride + k] = 0.5f * (t##i##0 + t##i##1 + t##i##2);     \
    u[(4 * i + 2) * stride + k] = 0.5f * (t##i##0 - t##i##1 + t##i##2);     \
    u[(4 * i + 3) * stride + k] = t##i##2
            GT_ROW(0);
            GT_ROW(1);
            GT_ROW(2);
            GT_ROW(3);
#undef G_COL
#undef GT_ROW
        }
    }
}

// The kernel a rotated call convolves with, in (3,3,C,K) layout: tap t is
// the original's tap 8-t with its channel axes swapped. orig is (3,3,K,C).
// Transposed in 16x16 blocks so that reads and writes both stay in cache.
static void rotate_kernel(float *dst, const float *orig, int C, int K, int threads) {
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int t = 0; t < 9; t++)
        for (int k0 = 0; k0 < K; k0 += 16) {
            const float *src = orig + (size_t)(8 - t) * K * C;  // (K,C) at tap 8-t
            float *d = dst + (size_t)t * C * K;                  // (C,K) at tap t
            const int k1 = K - k0 < 16 ? K : k0 + 16;
            for (int c0 = 0; c0 < C; c0 += 16) {
                const int c1 = C - c0 < 16 ? C : c0 + 16;
                for (int k = k0; k < k1; k++)
                    for (int c = c0; c < c1; c++) d[(size_t)c * K + k] = src[(size_t)k * C + c];
            }
        }
}

// V's tile r, xi (C floats at V + (16r + xi)C) = (B^T d B)[xi] for tile
// t0+r, r < nt. The loop over channels is written with named scalars (no
// local arrays) so that it compiles to vector code.
TRANSFORM void transform_input(float *V, const float *in, const float *zeros, int t0, int nt,
                               int H, int W, int C) {
    const int TH = (H + 1) / 2, TW = (W + 1) / 2;
    const size_t xs = (size_t)C;  // from one xi's vector to the next
    for (int r = 0; r < nt; r++) {
        const int t = t0 + r, tx = t % TW, ty = t / TW % TH;
        const size_t n = (size_t)t / ((size_t)TW * TH);
        const float *p[4][4];  // the patch's pixels; zeros outside the image
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                const int y = 2 * ty - 1 + i, x = 2 * tx - 1 + j;
                p[i][j] = y < 0 || y >= H || x < 0 || x >= W ? zeros
                                                             : in + ((n * H + y) * W + x) * C;
            }
        float *v = V + (size_t)r * XI * C;
#pragma omp simd
        for (int c = 0; c < C; c++) {
            // s = B^T d, one column j of the patch at a time
#define BT_COL(j)                                                                    \
    const float s0##j = p[0][j][c] - p[2][j][c], s1##j = p[1][j][c] + p[2][j][c], \
                s2##j = p[2][j][c] - p[1][j][c], s3##j = p[1][j][c] - p[3][j][c]
            BT_COL(0);
            BT_COL(1);
            BT_COL(2);
            BT_COL(3);
            // v = s B, one row i at a time; xi = 4i + j
#define B_ROW(i)                                          \
    v[(4 * i + 0) * xs + c] = s##i##0 - s##i##2;          \
    v[(4 * i + 1) * xs + c] = s##i##1 + s##i##2;          \
    v[(4 * i + 2) * xs + c] = s##i##2 - s##i##1;          \
    v[(4 * i + 3) * xs + c] = s##i##1 - s##i##3
            B_ROW(0);
            B_ROW(1);
            B_ROW(2);
            B_ROW(3);
#undef BT_COL
#undef B_ROW
        }
    }
}

// The output pixels of tiles t0 .. t0+nt-1 from M (tile r's xi at
// Mx + (16r + xi)K): A^T m A, + bias, ReLU. Pixels past the image's last
// row/column go to discard (K floats) instead, which keeps the loop free of
// branches.
TRANSFORM void transform_output(float *out, const float *Mx, const float *bias, int relu,
                                float *discard, int t0, int nt, int H, int W, int K) {
    const int TH = (H + 1) / 2, TW = (W + 1) / 2;
    const size_t xs = (size_t)K;
    for (int r = 0; r < nt; r++) {
        const int t = t0 + r, tx = t % TW, ty = t / TW % TH;
        const size_t n = (size_t)t / ((size_t)TW * TH);
        float *o[2][2];
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) {
                const int y = 2 * ty + a, x = 2 * tx + b;
                o[a][b] = y < H && x < W ? out + ((n * H + y) * W + x) * K : discard;
            }
        const float *m = Mx + (size_t)r * XI * K;
        float *o00 = o[0][0], *o01 = o[0][1], *o10 = o[1][0], *o11 = o[1][1];
#pragma omp simd
        for (int k = 0; k < K; k++) {
            // s = A^T m, one column j at a time
#define AT_COL(j)                                                                \
    const float s0##j = m[j * xs + k] + m[(4 + j) * xs + k] + m[(8 + j) * xs + k], \
                s1##j = m[(4 + j) * xs + k] - m[(8 + j) * xs + k] - m[(12 + j) * xs + k]
            AT_COL(0);
            AT_COL(1);
            AT_COL(2);
            AT_COL(3);
#undef AT_COL
            const float b = bias ? bias[k] : 0.0f;
            // y = s A, + bias
            float y00 = s00 + s01 + s02 + b, y01 = s01 - s02 - s03 + b;
            float y10 = s10 + s11 + s12 + b, y11 = s11 - s12 - s13 + b;
            if (relu) {
                y00 = y00 > 0.0f ? y00 : 0.0f;
                y01 = y01 > 0.0f ? y01 : 0.0f;
                y10 = y10 > 0.0f ? y10 : 0.0f;
                y11 = y11 > 0.0f ? y11 : 0.0f;
            }
            o00[k] = y00;
            o01[k] = y01;
            o10[k] = y10;
            o11[k] = y11;
        }
    }
}


// The adjoint of transform_output: dM's tile r, xi (K floats at dM +
// (16r + xi)K) = (A dy A^T)[xi] for the 2x2 output gradient dy of tile
// t0+r (zeros outside the image).
TRANSFORM void transform_dout(float *dM, const float *dout, const float *zeros, int t0, int nt,
                              int H, int W, int K) {
    const int TH = (H + 1) / 2, TW = (W + 1) / 2;
    const size_t xs = (size_t)K;
    for (int r = 0; r < nt; r++) {
        const int t = t0 + r, tx = t % TW, ty = t / TW % TH;
        const size_t n = (size_t)t / ((size_t)TW * TH);
        const float *q[2][2];
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) {
                const int y = 2 * ty + a, x = 2 * tx + b;
                q[a][b] = y < H && x < W ? dout + ((n * H + y) * W + x) * K : zeros;
            }
        const float *q00 = q[0][0], *q01 = q[0][1], *q10 = q[1][0], *q11 = q[1][1];
        float *m = dM + (size_t)r * XI * K;
#pragma omp simd
        for (int k = 0; k < K; k++) {
            // s = A dy: rows (y0, y0 + y1, y0 - y1, -y1), per column b
            const float s00 = q00[k], s01 = q01[k], s10 = q00[k] + q10[k], s11 = q01[k] + q11[k],
                        s20 = q00[k] - q10[k], s21 = q01[k] - q11[k], s30 = -q10[k],
                        s31 = -q11[k];
            // m = s A^T: columns (s0, s0 + s1, s0 - s1, -s1), per row i
#define A_ROW(i)                                  \
    m[(4 * i + 0) * xs + k] = s##i##0;            \
    m[(4 * i + 1) * xs + k] = s##i##0 + s##i##1;  \
    m[(4 * i + 2) * xs + k] = s##i##0 - s##i##1;  \
    m[(4 * i + 3) * xs + k] = -s##i##1
            A_ROW(0);
            A_ROW(1);
            A_ROW(2);
            A_ROW(3);
#undef A_ROW
        }
    }
}

// The adjoint of the kernel transform: dw (3,3,C,K) row c = G^T du G from
// du (16 matrices (C,K)). G^T has rows (1,1/2,1/2,0), (0,1/2,-1/2,0),
// (0,1/2,1/2,1).
TRANSFORM void transform_dw_channel(float *dw, const float *dU, int C, int K, int c) {
    const size_t xs = (size_t)C * K;
    const float *u = dU + (size_t)c * K;
    float *g = dw + (size_t)c * K;  // tap (ky,kx) at g[(3ky+kx)*C*K + k]
#pragma omp simd
    for (int k = 0; k < K; k++) {
        // t = G^T du, one column j at a time
#define GT_COL(j)                                                                         \
    const float t0##j = u[j * xs + k] + 0.5f * (u[(4 + j) * xs + k] + u[(8 + j) * xs + k]), \
                t1##j = 0.5f * (u[(4 + j) * xs + k] - u[(8 + j) * xs + k]),              \
                t2##j = 0.5f * (u[(4 + j) * xs + k] + u[(8 + j) * xs + k]) + u[(12 + j) * xs + k]
        GT_COL(0);
        GT_COL(1);
        GT_COL(2);
        GT_COL(3);
        // g = t G, one row ky at a time
#define G_ROW(i)                                                              \
    g[(3 * i + 0) * xs + k] = t##i##0 + 0.5f * (t##i##1 + t##i##2);           \
    g[(3 * i + 1) * xs + k] = 0.5f * (t##i##1 - t##i##2);                     \
    g[(3 * i + 2) * xs + k] = 0.5f * (t##i##1 + t##i##2) + t##i##3
        G_ROW(0);
        G_ROW(1);
        G_ROW(2);
#undef GT_COL
#undef G_ROW
    }
}

// The transforms built for one target.
typedef struct Transforms {
    void (*kernel_channel)(float *U, size_t stride, const float *w, int C, int K, int c);
    void (*input)(float *V, const float *in, const float *zeros, int t0, int nt, int H, int W,
                  int C);
    void (*output)(float *out, const float *Mx, const float *bias, int relu, float *discard,
                   int t0, int nt, int H, int W, int K);
    void (*dout)(float *dM, const float *dout, const float *zeros, int t0, int nt, int H, int W,
                 int K);
    void (*dw_channel)(float *dw, const float *dU, int C, int K, int c);
} Transforms;

#define TRANSFORMS(NAME, TARGET)                                                                \
    TARGET static void NAME##_kernel_channel(float *U, size_t stride, const float *w, int C,     \
                                             int K, int c) {                                     \
        transform_kernel_channel(U, stride, w, C, K, c);                                         \
    }                                                                                            \
    TARGET static void NAME##_input(float *V, const float *in, const float *zeros, int t0,       \
                                    int nt, int H, int W, int C) {                               \
        transform_input(V, in, zeros, t0, nt, H, W, C);                                          \
    }                                                                                            \
    TARGET static void NAME##_output(float *out, const float *Mx, const float *bias, int relu,   \
                                     float *discard, int t0, int nt, int H, int W, int K) {      \
        transform_output(out, Mx, bias, relu, discard, t0, nt, H, W, K);                         \
    }                                                                                            \
    TARGET static void NAME##_dout(float *dM, const float *dout, const float *zeros, int t0,     \
                                   int nt, int H, int W, int K) {                                \
        transform_dout(dM, dout, zeros, t0, nt, H, W, K);                                        \
    }                                                                                            \
    TARGET static void NAME##_dw_channel(float *dw, const float *dU, int C, int K, int c) {     \
        transform_dw_channel(dw, dU, C, K, c);                                                   \
    }                                                                                            \
    static const Transforms NAME = {NAME##_kernel_channel, NAME##_input, NAME##_output,          \
                                    NAME##_dout, NAME##_dw_channel};
TRANSFORMS(transforms_avx512, TARGET_AVX512)
TRANSFORMS(transforms_avx2, TARGET_AVX2)
TRANSFORMS(transforms_portable, )

static const Transforms *transforms(void) {
    switch (gemm_kernel()) {
    case GEMM_KERNEL_AVX512: return &transforms_avx512;
    case GEMM_KERNEL_AVX2: return &transforms_avx2;
    default: return &transforms_portable;
    }
}

static void transform_kernel(float *U, const float *w, int C, int K, int threads) {
    const size_t stride = gemm_packed_b_floats(C, K);
    if (K % GEMM_NR) memset(U, 0, XI * stride * sizeof(float));  // padding columns
    const Transforms *T = transforms();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int c = 0; c < C; c++) T->kernel_channel(U, stride, w, C, K, c);
}

// dW, in blocks of DW_TILES tiles (each block costs one pass over dU, so
// blocks are large), two ways:
//  - small dU (16 C K floats, at most PRIVATE_DU): each thread takes whole
//    blocks into its own dU, added up at the end: no barrier per block;
//  - large dU: all threads share each block (each transforms a part of it),
//    then take the 16 products dU[xi] += V[xi]^T dM[xi] between them, so
//    each dU[xi] has one owner and the threads' copies would not fit the
//    caches anyway.
#define DW_TILES 384
#define PRIVATE_DU (16 * 128 * 128)

static int private_du(int C, int K) { return XI * (size_t)C * K <= PRIVATE_DU; }

size_t winograd_backward_filter_work_floats(int C, int K, int threads) {
    const size_t du = XI * (size_t)C * K, vm = XI * (size_t)DW_TILES * (C + K);
    const size_t tn = gemm_rows_tn_work_floats(1, C, K, 1);
    return private_du(C, K) ? (size_t)threads * (du + vm + tn) : du + vm + (size_t)threads * tn;
}

// dU[xi] (C,K) = [dU[xi] +] the product of nt tiles, whose V and dM are
// already transformed.
static void products(float *dU, const float *V, const float *dM, int nt, int C, int K,
                     int accumulate, int xi, float *tnwork) {
    const GemmMatrix a = {V + (size_t)xi * C, (size_t)XI * C};
    gemm_rows_tn(dU + (size_t)xi * C * K, nt, K, 1, C, gemm_matrix_rows, &a, dM + (size_t)xi * K,
                 (ptrdiff_t)XI * K, accumulate, tnwork, 1);
}

void winograd_backward_filter(float *dw, const float *in, const float *dout, int N, int H, int W,
                              int C, int K, const float *zeros, float *work, int threads) {
    const size_t du = XI * (size_t)C * K, vm = XI * (size_t)DW_TILES * (C + K);
    const size_t tn = gemm_rows_tn_work_floats(1, C, K, 1);
    const int priv = private_du(C, K);
    const int ntiles = N * ((H + 1) / 2) * ((W + 1) / 2);
    // Equal blocks: every block costs a pass over dU, so no small last one;
    // with private sums, as many for each thread.
    const int bsize = gemm_block_rows(ntiles, DW_TILES, priv ? threads : 1);
    const int nblocks = (ntiles + bsize - 1) / bsize;
    const Transforms *T = transforms();
#pragma omp parallel num_threads(threads)
    {
        const int nth = omp_get_num_threads(), th = omp_get_thread_num();
        if (priv) {
            float *dU = work + th * (du + vm + tn), *V = dU + du;
            float *dM = V + XI * (size_t)DW_TILES * C, *my_tn = dU + du + vm;
            int first = 1;
            // A static split: the same blocks are summed in the same order on
            // every run, so training is reproducible.
#pragma omp for schedule(static) nowait
            for (int blk = 0; blk < nblocks; blk++) {
                const int t0 = blk * bsize, nt = ntiles - t0 < bsize ? ntiles - t0 : bsize;
                T->input(V, in, zeros, t0, nt, H, W, C);
                T->dout(dM, dout, zeros, t0, nt, H, W, K);
                for (int xi = 0; xi < XI; xi++) products(dU, V, dM, nt, C, K, !first, xi, my_tn);
                first = 0;
            }
            if (first) memset(dU, 0, du * sizeof(float));  // no block came this way
#pragma omp barrier
            // Sum the copies into thread 0's, split by rows.
#pragma omp for schedule(static)
            for (size_t i = 0; i < du; i++)
                for (int o = 1; o < nth; o++) work[i] += work[o * (du + vm + tn) + i];
        } else {
            float *dU = work, *V = dU + du, *dM = V + XI * (size_t)DW_TILES * C;
            float *my_tn = dU + du + vm + th * tn;
            for (int t0 = 0; t0 < ntiles; t0 += bsize) {
                const int nt = ntiles - t0 < bsize ? ntiles - t0 : bsize;
                // This thread's share of the block's tiles; the barriers keep V
                // and dM whole while the products read them.
                const int r0 = nt * th / nth, r1 = nt * (th + 1) / nth;
                T->input(V + (size_t)r0 * XI * C, in, zeros, t0 + r0, r1 - r0, H, W, C);
                T->dout(dM + (size_t)r0 * XI * K, dout, zeros, t0 + r0, r1 - r0, H, W, K);
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
                for (int xi = 0; xi < XI; xi++) products(dU, V, dM, nt, C, K, t0 > 0, xi, my_tn);
            }
        }
#pragma omp for schedule(static)
        for (int c = 0; c < C; c++) T->dw_channel(dw, work, C, K, c);
    }
}

void winograd_transform_kernel(float *U, const float *w, int rotated, int C, int K, float *work,
                               int threads) {
    if (rotated) {
        rotate_kernel(work, w, C, K, threads);
        w = work;
    }
    transform_kernel(U, w, C, K, threads);
}

// Few tiles (one pair's deep layers): the threads share each block (of up
// to threads x TILES tiles) rather than take blocks of their own, as
// winograd_backward_filter's large case does: each transforms its share of
// the block's tiles, then they share out the 16 products, so each reads its
// part of U (16 MB at 512 channels) instead of all of it for a few rows,
// and the rows are not cut into blocks too short for the kernel's tiles.
#define SHARED_TILES (2 * TILES)  // tiles per thread up to which blocks are shared

void winograd_conv(float *out, const float *in, const float *U, const float *bias, int N, int H,
                   int W, int C, int K, int relu, const float *zeros, float *work, int threads) {
    const size_t ustride = gemm_packed_b_floats(C, K);
    const Transforms *T = transforms();
    const int ntiles = N * ((H + 1) / 2) * ((W + 1) / 2);
    if (threads > 1 && ntiles <= threads * SHARED_TILES) {
        // V (cap x 16 x C), M (cap x 16 x K), a discard row a thread: what
        // the threads' own blocks would take.
        const int cap = threads * TILES, nblocks = (ntiles + cap - 1) / cap;
        const int bsize = (ntiles + nblocks - 1) / nblocks;
        float *V = work, *Mx = V + (size_t)XI * cap * C;
#pragma omp parallel num_threads(threads)
        {
            const int th = omp_get_thread_num(), nth = omp_get_num_threads();
            float *discard = Mx + (size_t)XI * cap * K + (size_t)th * K;
            for (int t0 = 0; t0 < ntiles; t0 += bsize) {
                const int nt = ntiles - t0 < bsize ? ntiles - t0 : bsize;
                const int r0 = nt * th / nth, r1 = nt * (th + 1) / nth;
                T->input(V + (size_t)r0 * XI * C, in, zeros, t0 + r0, r1 - r0, H, W, C);
                // (V whole before the products; M's rows of the last block
                // read by their owners before these products overwrite them)
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
                for (int xi = 0; xi < XI; xi++) {
                    const GemmMatrix a = {V + (size_t)xi * C, (size_t)XI * C};
                    gemm_rows(Mx + (size_t)xi * K, XI * K, nt, K, 1, C, gemm_matrix_rows, &a,
                              U + xi * ustride, 0, NULL, 0, 1);
                }
                T->output(out, Mx + (size_t)r0 * XI * K, bias, relu, discard, t0 + r0, r1 - r0, H,
                          W, K);
            }
        }
        return;
    }
    const int bsize = gemm_block_rows(ntiles, TILES, threads);
    const int blocks = (ntiles + bsize - 1) / bsize;
#pragma omp parallel num_threads(threads)
    {
        float *V = work + (size_t)omp_get_thread_num() * per_thread(C, K);
        float *Mx = V + (size_t)XI * TILES * C, *discard = Mx + (size_t)XI * TILES * K;
#pragma omp for schedule(dynamic, 1)
        for (int blk = 0; blk < blocks; blk++) {
            const int t0 = blk * bsize, nt = ntiles - t0 < bsize ? ntiles - t0 : bsize;
            T->input(V, in, zeros, t0, nt, H, W, C);
            for (int xi = 0; xi < XI; xi++) {
                const GemmMatrix a = {V + (size_t)xi * C, (size_t)XI * C};
                gemm_rows(Mx + (size_t)xi * K, XI * K, nt, K, 1, C, gemm_matrix_rows, &a,
                          U + xi * ustride, 0, NULL, 0, 1);
            }
            T->output(out, Mx, bias, relu, discard, t0, nt, H, W, K);
        }
    }
}
