// gemm: see gemm.h. The layout of the work, from the inside out:
//
//  - the micro-kernel keeps a 6x16 tile of the result in 12 AVX registers
//    and, per reduction step, loads 16 floats of packed B (two registers)
//    and broadcasts one float from each of the 6 rows of A: 12 FMAs per 8
//    loads, which keeps both FMA pipes of a core busy;
//  - a kernel call runs a CHUNK of the reduction for every tap (at most
//    KSTEPS steps in all) so the part of B it reads (KSTEPS x 16 floats =
//    32 KiB) stays close (level 1-2 cache) while the call is repeated down
//    a block of rows;
//  - a block of MC rows shares one table of row pointers (built once) and
//    its result tiles stay in the level-2 cache across chunks;
//  - threads take whole row blocks (dynamic schedule: the machine may be
//    shared, so equal shares need not finish together).
#include "gemm.h"

#include <omp.h>
#include <string.h>

// Sizes measured best on a 2-core AMD EPYC (Zen 3) among 48..288 rows and
// 128..1024 steps; the differences were within 15%.
#define MC 144         // rows per block (a multiple of GEMM_MR)
#define KSTEPS 512     // reduction steps per kernel call, all taps together
#define TN_KC 128      // gemm_rows_tn: reduction rows (pixels) per packed block
#define TN_MC 96       // gemm_rows_tn: output rows (channels) per packed A block

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

// The result tile a kernel call writes and what it does to it.
typedef struct Tile {
    float *c;
    ptrdiff_t ldc;
    int mr, nr;          // valid rows (<= 6) and columns (<= 16)
    int accumulate;      // add to C's current values (later chunks)
    const float *bias;   // else start from bias (NULL: from zero)
    int relu;            // clamp at zero after adding (last chunk)
} Tile;

// Result of a kernel call, in tmp (6x16), to the tile: the one place the
// bias, the accumulation and the ReLU happen, shared by both kernels.
static void tile_store(const Tile *t, float tmp[GEMM_MR][GEMM_NR]) {
    for (int i = 0; i < t->mr; i++) {
        float *c = t->c + i * t->ldc;
        for (int j = 0; j < t->nr; j++) {
            float v = tmp[i][j] + (t->accumulate ? c[j] : t->bias ? t->bias[j] : 0.0f);
            c[j] = t->relu && v < 0.0f ? 0.0f : v;
        }
    }
}

// The kernel's contract: for i < 6, j < 16,
//   tile[i][j] = sum_{t < ntaps} sum_{k < kc} a[t*6+i][aoff + k*as] * b[t*bts + k*16 + j]
// a holds 6 row pointers per tap; as is 1 for rows read in place and 6 for
// an A packed 6 rows at a time (gemm_rows_tn).
typedef void (*KernelFn)(int ntaps, int kc, const float *const *a, ptrdiff_t aoff, ptrdiff_t as,
                         const float *b, ptrdiff_t bts, const Tile *t);

static void kernel_portable(int ntaps, int kc, const float *const *a, ptrdiff_t aoff, ptrdiff_t as,
                            const float *b, ptrdiff_t bts, const Tile *t) {
    float acc[GEMM_MR][GEMM_NR] = {{0}};
    for (int tap = 0; tap < ntaps; tap++) {
        const float *const *ar = a + tap * GEMM_MR;
        const float *bp = b + tap * bts;
        for (int k = 0; k < kc; k++, bp += GEMM_NR)
            for (int i = 0; i < GEMM_MR; i++) {
                const float x = ar[i][aoff + k * as];
                for (int j = 0; j < GEMM_NR; j++) acc[i][j] += x * bp[j];
            }
    }
    tile_store(t, acc);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

// The full-tile epilogue stays in registers; partial tiles go through
// tile_store.
AVX2 static inline __m256 epilogue(__m256 acc, const float *c, const Tile *t, int j) {
    __m256 base = t->accumulate ? _mm256_loadu_ps(c + j)
                  : t->bias     ? _mm256_loadu_ps(t->bias + j)
                                : _mm256_setzero_ps();
    acc = _mm256_add_ps(acc, base);
    return t->relu ? _mm256_max_ps(acc, _mm256_setzero_ps()) : acc;
}

// AS is a constant in each instantiation so the row addressing compiles to
// one indexed load.
#define KERNEL_AVX2(NAME, AS)                                                                  \
    AVX2 static void NAME(int ntaps, int kc, const float *const *a, ptrdiff_t aoff,             \
                          ptrdiff_t as, const float *b, ptrdiff_t bts, const Tile *t) {         \
        (void)as;                                                                               \
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,           \
               c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;     \
        for (int tap = 0; tap < ntaps; tap++) {                                                 \
            const float *const *ar = a + tap * GEMM_MR;                                         \
            const float *a0 = ar[0] + aoff, *a1 = ar[1] + aoff, *a2 = ar[2] + aoff,             \
                        *a3 = ar[3] + aoff, *a4 = ar[4] + aoff, *a5 = ar[5] + aoff;             \
            const float *bp = b + tap * bts;                                                    \
            _Pragma("GCC unroll 4") for (int k = 0; k < kc; k++, bp += GEMM_NR) {               \
                const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);            \
                __m256 x;                                                                       \
                x = _mm256_broadcast_ss(a0 + k * AS);                                           \
                c00 = _mm256_fmadd_ps(x, b0, c00), c01 = _mm256_fmadd_ps(x, b1, c01);           \
                x = _mm256_broadcast_ss(a1 + k * AS);                                           \
                c10 = _mm256_fmadd_ps(x, b0, c10), c11 = _mm256_fmadd_ps(x, b1, c11);           \
                x = _mm256_broadcast_ss(a2 + k * AS);                                           \
                c20 = _mm256_fmadd_ps(x, b0, c20), c21 = _mm256_fmadd_ps(x, b1, c21);           \
                x = _mm256_broadcast_ss(a3 + k * AS);                                           \
                c30 = _mm256_fmadd_ps(x, b0, c30), c31 = _mm256_fmadd_ps(x, b1, c31);           \
                x = _mm256_broadcast_ss(a4 + k * AS);                                           \
                c40 = _mm256_fmadd_ps(x, b0, c40), c41 = _mm256_fmadd_ps(x, b1, c41);           \
                x = _mm256_broadcast_ss(a5 + k * AS);                                           \
                c50 = _mm256_fmadd_ps(x, b0, c50), c51 = _mm256_fmadd_ps(x, b1, c51);           \
            }                                                                                   \
        }                                                                                       \
        __m256 r[GEMM_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21},                             \
                                {c30, c31}, {c40, c41}, {c50, c51}};                            \
        if (t->mr == GEMM_MR && t->nr == GEMM_NR) {                                             \
            for (int i = 0; i < GEMM_MR; i++) {                                                 \
                float *c = t->c + i * t->ldc;                                                   \
                _mm256_storeu_ps(c, epilogue(r[i][0], c, t, 0));                                \
                _mm256_storeu_ps(c + 8, epilogue(r[i][1], c, t, 8));                            \
            }                                                                                   \
        } else {                                                                                \
            float tmp[GEMM_MR][GEMM_NR];                                                        \
            for (int i = 0; i < GEMM_MR; i++) {                                                 \
                _mm256_storeu_ps(tmp[i], r[i][0]);                                              \
                _mm256_storeu_ps(tmp[i] + 8, r[i][1]);                                          \
            }                                                                                   \
            tile_store(t, tmp);                                                                 \
        }                                                                                       \
    }

KERNEL_AVX2(kernel_avx2_rows, 1)
KERNEL_AVX2(kernel_avx2_packed, GEMM_MR)

static int have_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
static int have_avx2(void) { return 0; }
#define kernel_avx2_rows kernel_portable
#define kernel_avx2_packed kernel_portable
#endif

static int force_portable;
void gemm_force_portable(int on) { force_portable = on; }

// The kernel for rows read in place (as == 1) or packed A (as == 6).
static KernelFn kernel_for(int packed) {
    static int avx2 = -1;  // probed once; every thread would find the same
    if (avx2 < 0) avx2 = have_avx2();
    if (force_portable || !avx2) return kernel_portable;
    return packed ? kernel_avx2_packed : kernel_avx2_rows;
}

void gemm_matrix_rows(const void *ctx, int m0, int count, const float *(*ptr)[GEMM_MAX_TAPS]) {
    const GemmMatrix *a = ctx;
    for (int i = 0; i < count; i++) ptr[i][0] = a->base + (size_t)(m0 + i) * a->ld;
}

size_t gemm_packed_b_floats(int Kd, int N) { return (size_t)Kd * round_up((size_t)N, GEMM_NR); }

void gemm_pack_b(float *dst, int Kd, int N, int k0, int kn, const float *src, ptrdiff_t rs,
                 ptrdiff_t cs) {
    const int panels = (N + GEMM_NR - 1) / GEMM_NR;
    for (int p = 0; p < panels; p++) {
        const int n0 = p * GEMM_NR, nr = N - n0 < GEMM_NR ? N - n0 : GEMM_NR;
        float *d = dst + ((size_t)p * Kd + k0) * GEMM_NR;
        for (int k = 0; k < kn; k++, d += GEMM_NR) {
            const float *s = src + k * rs + n0 * cs;
            if (cs == 1 && nr == GEMM_NR) {
                memcpy(d, s, GEMM_NR * sizeof(float));  // a constant size: inlined, no call
            } else {
                for (int j = 0; j < GEMM_NR; j++) d[j] = j < nr ? s[j * cs] : 0.0f;
            }
        }
    }
}

// Splits n reduction steps into equal chunks of at most max steps.
static int chunk_count(int n, int max) { return (n + max - 1) / max; }

void gemm_rows(float *c, ptrdiff_t ldc, int M, int N, int ntaps, int Kc, GemmRowsFn rows,
               const void *ctx, const float *bpacked, const float *bias, int relu, int threads) {
    const KernelFn kernel = kernel_for(0);
    const int kmax = KSTEPS / ntaps > 0 ? KSTEPS / ntaps : 1;
    const int nchunks = chunk_count(Kc, kmax), kcc = (Kc + nchunks - 1) / nchunks;
    const int panels = (N + GEMM_NR - 1) / GEMM_NR;
    const ptrdiff_t Kd = (ptrdiff_t)ntaps * Kc;
    // Small M (one pair's deep layers): blocks shrink so every thread has one.
    int mc = (int)round_up((size_t)(M + threads - 1) / threads, GEMM_MR);
    if (mc > MC) mc = MC;
    const int blocks = (M + mc - 1) / mc;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int blk = 0; blk < blocks; blk++) {
        const int m0 = blk * mc, mb = M - m0 < mc ? M - m0 : mc;
        const int groups = (mb + GEMM_MR - 1) / GEMM_MR;
        // ind[g][t][i]: row pointer of row m0+6g+i for tap t; rows past M
        // repeat the group's first row (computed, never stored).
        const float *ind[MC / GEMM_MR][GEMM_MAX_TAPS][GEMM_MR];
        const float *ptr[MC][GEMM_MAX_TAPS];
        rows(ctx, m0, mb, ptr);
        for (int r = 0; r < groups * GEMM_MR; r++)
            for (int t = 0; t < ntaps; t++)
                ind[r / GEMM_MR][t][r % GEMM_MR] = ptr[r < mb ? r : r - r % GEMM_MR][t];
        for (int ch = 0; ch < nchunks; ch++) {
            const int k0 = ch * kcc, kn = Kc - k0 < kcc ? Kc - k0 : kcc;
            for (int p = 0; p < panels; p++) {
                const float *bp = bpacked + (p * Kd + k0) * GEMM_NR;
                for (int g = 0; g < groups; g++) {
                    const int r0 = g * GEMM_MR;
                    Tile tile = {.c = c + (m0 + r0) * ldc + p * GEMM_NR,
                                 .ldc = ldc,
                                 .mr = mb - r0 < GEMM_MR ? mb - r0 : GEMM_MR,
                                 .nr = N - p * GEMM_NR < GEMM_NR ? N - p * GEMM_NR : GEMM_NR,
                                 .accumulate = ch > 0,
                                 .bias = bias ? bias + p * GEMM_NR : NULL,
                                 .relu = relu && ch == nchunks - 1};
                    kernel(ntaps, kn, &ind[g][0][0], k0, 1, bp, (ptrdiff_t)Kc * GEMM_NR, &tile);
                }
            }
        }
    }
}

// Threads that share the reduction: each wants at least one full block.
static int tn_threads(int M, int threads) {
    int t = (M + TN_KC - 1) / TN_KC;
    return t < threads ? (t > 0 ? t : 1) : threads;
}

size_t gemm_rows_tn_work_floats(int ntaps, int Kc, int N, int threads) {
    const size_t per_thread = round_up(TN_KC, 1) * round_up((size_t)N, GEMM_NR)  // packed D
                              + (size_t)TN_KC * TN_MC;                           // packed A
    const size_t g = (size_t)ntaps * Kc * N;
    return (size_t)threads * per_thread + (size_t)(threads - 1) * g;
}

// Packs rows [r0, r0+mcb) of the stacked A^T (row t*Kc + c is channel c of
// tap t) over reduction rows [0, kb), from the row pointers ind[p][t],
// into panels of 6 rows: dst[g][p][i], zero-padded. Taking all taps as one
// range keeps the 6-row groups full when Kc is small (3 for RGB input).
static void pack_a_tn(float *dst, const float *const (*ind)[GEMM_MAX_TAPS], int Kc, int kb, int r0,
                      int mcb) {
    const int groups = (mcb + GEMM_MR - 1) / GEMM_MR;
    for (int g = 0; g < groups; g++) {
        int tap[GEMM_MR], ch[GEMM_MR];
        for (int i = 0; i < GEMM_MR; i++) {
            const int r = r0 + g * GEMM_MR + i, valid = r < r0 + mcb;
            tap[i] = valid ? r / Kc : 0;
            ch[i] = valid ? r % Kc : -1;  // -1: a padding row
        }
        float *d = dst + (size_t)g * kb * GEMM_MR;
        if (tap[0] == tap[GEMM_MR - 1] && ch[GEMM_MR - 1] == ch[0] + GEMM_MR - 1) {
            // The usual case: 6 consecutive channels of one tap.
            for (int p = 0; p < kb; p++, d += GEMM_MR)
                memcpy(d, ind[p][tap[0]] + ch[0], GEMM_MR * sizeof(float));
        } else {
            for (int p = 0; p < kb; p++, d += GEMM_MR)
                for (int i = 0; i < GEMM_MR; i++) d[i] = ch[i] < 0 ? 0.0f : ind[p][tap[i]][ch[i]];
        }
    }
}

void gemm_rows_tn(float *g, int M, int N, int ntaps, int Kc, GemmRowsFn rows, const void *ctx,
                  const float *d, ptrdiff_t ldd, int accumulate, float *work, int threads) {
    const KernelFn kernel = kernel_for(1);
    const int nth = tn_threads(M, threads);
    const int panels = (N + GEMM_NR - 1) / GEMM_NR;
    const size_t gsize = (size_t)ntaps * Kc * N;
    const size_t per_thread = (size_t)TN_KC * round_up((size_t)N, GEMM_NR) + (size_t)TN_KC * TN_MC;
    float *privates = work + (size_t)threads * per_thread;
#pragma omp parallel num_threads(nth)
    {
        const int th = omp_get_thread_num();
        const int p0 = (int)((long)M * th / nth), p1 = (int)((long)M * (th + 1) / nth);
        float *gt = th ? privates + (th - 1) * gsize : g;
        float *dpack = work + th * per_thread, *apack = dpack + (size_t)TN_KC * round_up(N, GEMM_NR);
        const float *ind[TN_KC][GEMM_MAX_TAPS];
        for (int pb = p0; pb < p1; pb += TN_KC) {
            const int kb = p1 - pb < TN_KC ? p1 - pb : TN_KC;
            gemm_pack_b(dpack, kb, N, 0, kb, d + pb * ldd, ldd, 1);
            rows(ctx, pb, kb, ind);
            for (int r0 = 0; r0 < ntaps * Kc; r0 += TN_MC) {
                const int mcb = ntaps * Kc - r0 < TN_MC ? ntaps * Kc - r0 : TN_MC;
                const int groups = (mcb + GEMM_MR - 1) / GEMM_MR;
                pack_a_tn(apack, (const float *const(*)[GEMM_MAX_TAPS])ind, Kc, kb, r0, mcb);
                for (int p = 0; p < panels; p++) {
                    for (int q = 0; q < groups; q++) {
                        const float *ap = apack + (size_t)q * kb * GEMM_MR;
                        const float *a6[GEMM_MR] = {ap, ap + 1, ap + 2, ap + 3, ap + 4, ap + 5};
                        const int row = r0 + q * GEMM_MR;
                        Tile tile = {.c = gt + (size_t)row * N + p * GEMM_NR,
                                     .ldc = N,
                                     .mr = mcb - q * GEMM_MR < GEMM_MR ? mcb - q * GEMM_MR : GEMM_MR,
                                     .nr = N - p * GEMM_NR < GEMM_NR ? N - p * GEMM_NR : GEMM_NR,
                                     .accumulate = pb > p0 || (accumulate && th == 0)};
                        kernel(1, kb, a6, 0, GEMM_MR, dpack + (size_t)p * kb * GEMM_NR, 0, &tile);
                    }
                }
            }
        }
#pragma omp barrier
        // Sum the private copies into G, rows split between the threads.
        if (nth > 1) {
#pragma omp for schedule(static)
            for (size_t i = 0; i < gsize; i++)
                for (int o = 0; o < nth - 1; o++) g[i] += privates[o * gsize + i];
        }
    }
}
