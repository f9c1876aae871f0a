// gemm: see gemm.h. The layout of the work, from the inside out:
//
//  - a micro-kernel keeps an MR x NR tile of the result in registers and,
//    per reduction step, loads NR floats of packed B and broadcasts one
//    float from each of the MR rows of A. Three kernels, the best the CPU
//    runs chosen once (gemm_kernel):
//      AVX-512  14x32: 28 of the 32 zmm registers accumulate, two hold B;
//               28 FMAs per 2 vector loads and 14 broadcasts keep both
//               512-bit FMA pipes of a core busy (measured in the level-1
//               cache: 164 GFLOP/s on one core of a 2.1 GHz Xeon, about its
//               peak);
//      AVX2     6x16: 12 of the 16 ymm registers, 12 FMAs per 8 loads;
//      portable 6x16 in plain C.
//    A 32-column tile reads two 16-column panels of B side by side, so B's
//    packed layout is the same for every kernel; an odd last panel takes a
//    14x16 kernel;
//  - a kernel call runs a CHUNK of the reduction for every tap (at most
//    KSTEPS steps in all); B is cut into column blocks of NC_PANELS panels
//    (1 MiB a chunk: the level-2 cache), walked so that what is reused
//    stays in the level-1 cache (gemm_rows says which);
//  - a block of rows (mc) shares one table of row pointers (built once) and
//    its result tiles stay in the level-2 cache across chunks;
//  - threads take whole row blocks (dynamic schedule: the machine may be
//    shared, so equal shares need not finish together).
//
// Every kernel sums an output element in the same order (taps, then steps,
// one rounding each: FMA where the CPU has it), chunk by chunk as KSTEPS and
// TN_KC cut the reduction, whatever its tile's shape: the AVX2 and AVX-512
// paths give the same results bit for bit, so a run resumed on the other
// kind of CPU (with as many threads: gemm_rows_tn's sum over pixels is split
// between them) repeats exactly (test_gemm checks it).
#include "gemm.h"

#include <omp.h>
#include <string.h>

#define KSTEPS 512     // reduction steps per kernel call, all taps together
#define TN_KC 128      // gemm_rows_tn: reduction rows (pixels) per packed block
#define MR_MAX 14      // the tallest tile of any kernel
#define NC_PANELS 32   // panels of B per column block: 512 steps x 512 columns = 1 MiB
#define MC_MAX 224     // the most rows per block of any kernel

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

// The result tile a kernel call writes and what it does to it.
typedef struct Tile {
    float *c;
    ptrdiff_t ldc;
    int mr, nr;          // valid rows (<= the kernel's) and columns (<= 16 x its panels)
    int accumulate;      // add to C's current values (later chunks)
    const float *bias;   // else start from bias (NULL: from zero)
    int relu;            // clamp at zero after adding (last chunk)
} Tile;

// The kernel's contract, for a tile of MR rows and 16 x NP columns (NP = 1
// or 2 panels): for i < MR, j < 16, panel v < NP,
//   tile[i][16v+j] = sum_{t < ntaps} sum_{k < kc}
//                    a[i*GEMM_MAX_TAPS+t][aoff + k*as] * b[v*b2 + t*bts + k*bs + j]
// a[i*GEMM_MAX_TAPS + t] points at row i of tap t: the layout a GemmRowsFn
// fills, so gemm_rows hands its table over as it is (re-sorting it by tap
// took 6% of a compact pair's forward pass). The "rows" kernels read rows
// in place (as is 1); the "packed" ones read an A packed by gemm_rows_tn,
// row i of a tile at a[0] + i and steps as floats apart (one tap). bs is
// 16 for a packed B; b2 is where the second panel starts (16 for a B read
// in place).
typedef void (*KernelFn)(int ntaps, int kc, const float *const *a, ptrdiff_t aoff, ptrdiff_t as,
                         const float *b, ptrdiff_t bts, ptrdiff_t bs, ptrdiff_t b2, const Tile *t);

// Packs rows [r0, r0+mcb) of the stacked A^T (row t*Kc + c is channel c of
// tap t) over reduction rows [0, kb), from the row pointers ind[p][t]:
// dst[p*ld + i] holds row r0+i at reduction row p, zeros for mcb <= i < ld.
// Taking all taps as one range keeps the kernel's tiles full when Kc is
// small (3 for RGB input); each reduction row is copied as runs of
// consecutive channels of one tap, and runs whose sources follow on in
// memory (a pixel's three taps along x inside the image, when the block
// holds all their channels) as one: 3 copies of 3C floats instead of 9 of
// C. Each path compiles it for its vector width (pack_a_tn_*), not one
// build with target_clones (an ifunc, which crashed the ThreadSanitizer
// build at load time): the copies are much of a narrow layer's packing,
// which took 11% of a compact training step on one thread in 16-byte moves
// and 7.6% in AVX-512's 64-byte ones.
static inline __attribute__((always_inline)) void pack_a_tn(float *dst, int ld,
                                                            const float *const (*ind)[GEMM_MAX_TAPS],
                                                            int Kc, int kb, int r0, int mcb) {
    // A run ends only where a tap does, so there are at most ntaps runs.
    int at[GEMM_MAX_TAPS + 1], tap[GEMM_MAX_TAPS], ch[GEMM_MAX_TAPS], runs = 0;
    for (int i = 0; i < mcb;) {  // rows [at[s], at[s+1]) are channels ch[s].. of tap tap[s]
        const int r = r0 + i, left = Kc - r % Kc;
        at[runs] = i, tap[runs] = r / Kc, ch[runs] = r % Kc, runs++;
        i += left < mcb - i ? left : mcb - i;
    }
    at[runs] = mcb;
    for (int p = 0; p < kb; p++, dst += ld) {
        for (int s = 0, e; s < runs; s = e) {
            const float *restrict src = ind[p][tap[s]] + ch[s];
            for (e = s + 1; e < runs && ind[p][tap[e]] + ch[e] == src + (at[e] - at[s]); e++) {}
            float *restrict d = dst + at[s];
            const int n = at[e] - at[s];
#pragma omp simd
            for (int i = 0; i < n; i++) d[i] = src[i];
        }
        for (int i = mcb; i < ld; i++) dst[i] = 0.0f;
    }
}

typedef void (*PackAFn)(float *dst, int ld, const float *const (*ind)[GEMM_MAX_TAPS], int Kc,
                        int kb, int r0, int mcb);
#define PACK_A_TN(NAME, TARGET)                                                                 \
    TARGET static void NAME(float *dst, int ld, const float *const (*ind)[GEMM_MAX_TAPS], int Kc, \
                            int kb, int r0, int mcb) {                                           \
        pack_a_tn(dst, ld, ind, Kc, kb, r0, mcb);                                                \
    }

// One set of kernels and the blocking sized for them.
typedef struct GemmPath {
    int mr;               // rows of a tile
    int np;               // 16-column panels of a full tile (1 or 2)
    int mc;               // rows per block (a multiple of mr, at most MC_MAX)
    int tn_mc;            // gemm_rows_tn: output rows per packed A block (a multiple of mr)
    int group_outer;      // gemm_rows with B packed: row groups in the outer loop
    KernelFn rows, rows1;      // rows read in place: np panels, one panel (an odd last)
    KernelFn packed, packed1;  // A packed mr rows at a time
    PackAFn pack_a;            // gemm_rows_tn's packing of A, for this path's vector width
} GemmPath;

// gemm_conv_padded's kernels for C input channels (rows at a stride of C
// floats): rows x 32 columns (two panels), rows x 16 (an odd last panel),
// tall_rows x 16 (one panel: 16 output channels).
typedef struct StridedKernels {
    int C, rows, tall_rows;
    KernelFn wide, narrow, tall;
} StridedKernels;

// Result of a kernel call, in tmp (rows of ld floats), to the tile: bias,
// accumulation and ReLU for the kernels that do not do them in registers.
static void tile_store(const Tile *t, const float *tmp, int ld) {
    for (int i = 0; i < t->mr; i++) {
        float *c = t->c + i * t->ldc;
        for (int j = 0; j < t->nr; j++) {
            float v = tmp[i * ld + j] + (t->accumulate ? c[j] : t->bias ? t->bias[j] : 0.0f);
            c[j] = t->relu && v < 0.0f ? 0.0f : v;
        }
    }
}

#define PORTABLE_MR 6
static void kernel_portable(int ntaps, int kc, const float *const *a, ptrdiff_t aoff, ptrdiff_t as,
                            const float *b, ptrdiff_t bts, ptrdiff_t bs, ptrdiff_t b2,
                            const Tile *t) {
    float acc[PORTABLE_MR][GEMM_NR] = {{0}};
    for (int tap = 0; tap < ntaps; tap++) {
        const float *const *ar = a + tap;  // row i at ar[i * GEMM_MAX_TAPS]
        const float *bp = b + tap * bts;
        for (int k = 0; k < kc; k++, bp += bs)
            for (int i = 0; i < PORTABLE_MR; i++) {
                const float x = ar[i * GEMM_MAX_TAPS][aoff + k * as];
                for (int j = 0; j < GEMM_NR; j++) acc[i][j] += x * bp[j];
            }
    }
    tile_store(t, &acc[0][0], GEMM_NR);
}

PACK_A_TN(pack_a_tn_portable, )

static const GemmPath PATH_PORTABLE = {PORTABLE_MR,     1,
                                       144,             96,
                                       0,               kernel_portable,
                                       kernel_portable, kernel_portable,
                                       kernel_portable, pack_a_tn_portable};

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// ---- AVX2 + FMA: 6x16 ----------------------------------------------------------

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
                          ptrdiff_t as, const float *b, ptrdiff_t bts, ptrdiff_t bs,            \
                          ptrdiff_t b2, const Tile *t) {                                        \
        (void)as, (void)b2;  /* as: read where AS names it */                                   \
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,           \
               c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;     \
        for (int tap = 0; tap < ntaps; tap++) {                                                 \
            const float *const *ar = a + tap; /* row i at ar[i * GEMM_MAX_TAPS] */              \
            const float *a0 = ar[0] + aoff, *a1 = ar[GEMM_MAX_TAPS] + aoff,                     \
                        *a2 = ar[2 * GEMM_MAX_TAPS] + aoff, *a3 = ar[3 * GEMM_MAX_TAPS] + aoff, \
                        *a4 = ar[4 * GEMM_MAX_TAPS] + aoff, *a5 = ar[5 * GEMM_MAX_TAPS] + aoff; \
            const float *bp = b + tap * bts;                                                    \
            _Pragma("GCC unroll 4") for (int k = 0; k < kc; k++, bp += bs) {                    \
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
        __m256 r[6][2] = {{c00, c01}, {c10, c11}, {c20, c21},                                   \
                          {c30, c31}, {c40, c41}, {c50, c51}};                                  \
        if (t->mr == 6 && t->nr == GEMM_NR) {                                                   \
            for (int i = 0; i < 6; i++) {                                                       \
                float *c = t->c + i * t->ldc;                                                   \
                _mm256_storeu_ps(c, epilogue(r[i][0], c, t, 0));                                \
                _mm256_storeu_ps(c + 8, epilogue(r[i][1], c, t, 8));                            \
            }                                                                                   \
        } else {                                                                                \
            float tmp[6][GEMM_NR];                                                              \
            for (int i = 0; i < 6; i++) {                                                       \
                _mm256_storeu_ps(tmp[i], r[i][0]);                                              \
                _mm256_storeu_ps(tmp[i] + 8, r[i][1]);                                          \
            }                                                                                   \
            tile_store(t, &tmp[0][0], GEMM_NR);                                                 \
        }                                                                                       \
    }

KERNEL_AVX2(kernel_avx2_rows, 1)
KERNEL_AVX2(kernel_avx2_packed, as)

PACK_A_TN(pack_a_tn_avx2, AVX2)

static const GemmPath PATH_AVX2 = {6, 1, 144, 96, 0, kernel_avx2_rows, kernel_avx2_rows,
                                   kernel_avx2_packed, kernel_avx2_packed, pack_a_tn_avx2};

// ---- AVX-512: 14x32 ------------------------------------------------------------

#define AVX512 __attribute__((target("avx512f")))
#define AVX512_MR 14

#define AVX512_MR_TALL 28  // rows of the one-panel tile with rows at a constant stride
// Rows at a stride shorter than the reduction (3 floats for RGB input) read
// the same floats several steps apart; GCC's predictive commoning then
// carries them from step to step through the stack (1.4x slower). Clang
// has no optimize attribute (it warns of one): its builds, the
// ThreadSanitizer and fuzzing ones, where speed does not matter, go without.
#if defined(__GNUC__) && !defined(__clang__)
#define NO_PCOM __attribute__((optimize("no-predictive-commoning")))
#else
#define NO_PCOM
#endif

// The kernel for MR rows and NP panels. A's rows: PACKED, interleaved (row
// i at a[tap] + i, reduction steps as floats apart); else, RS > 0, at a
// constant stride (row i at a[tap] + i*RS, steps consecutive: the output
// pixels of an image row of a padded input, gemm_conv_padded); else each
// read in place through its pointer. The loops over rows and panels have
// constant bounds and unroll fully, so acc lives in registers. Partial
// tiles store through masks: rows past t->mr are computed (they repeat a
// valid row, or read past it) but not stored.
AVX512 static inline __attribute__((always_inline)) void kernel_avx512(
    const int MR, const int NP, const int PACKED, const int RS, int ntaps, int kc,
    const float *const *a, ptrdiff_t aoff, ptrdiff_t as, const float *b, ptrdiff_t bts,
    ptrdiff_t bs, ptrdiff_t b2, const Tile *t) {
    __m512 acc[AVX512_MR_TALL][2];
#pragma GCC unroll 28
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
        for (int v = 0; v < NP; v++) acc[i][v] = _mm512_setzero_ps();
    for (int tap = 0; tap < ntaps; tap++) {
        const float *bp = b + tap * bts;
        if (PACKED || RS) {
            const float *ap = a[tap] + aoff;
            for (int k = 0; k < kc; k++, bp += bs, ap += RS ? 1 : as) {
                const __m512 b0 = _mm512_loadu_ps(bp), b1 = NP > 1 ? _mm512_loadu_ps(bp + b2) : b0;
#pragma GCC unroll 28
                for (int i = 0; i < MR; i++) {
                    const __m512 x = _mm512_set1_ps(ap[RS ? i * RS : i]);
                    acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
                    if (NP > 1) acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
                }
            }
        } else {
            const float *ap[AVX512_MR];
#pragma GCC unroll 14
            for (int i = 0; i < MR; i++) ap[i] = a[i * GEMM_MAX_TAPS + tap] + aoff;
            for (int k = 0; k < kc; k++, bp += bs) {
                const __m512 b0 = _mm512_loadu_ps(bp), b1 = NP > 1 ? _mm512_loadu_ps(bp + b2) : b0;
#pragma GCC unroll 14
                for (int i = 0; i < MR; i++) {
                    const __m512 x = _mm512_set1_ps(ap[i][k]);
                    acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
                    if (NP > 1) acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
                }
            }
        }
    }
    // The epilogue: + C's values (later chunks) or the bias or nothing, then
    // ReLU, as tile_store does.
    __mmask16 m[2];
    for (int v = 0; v < NP; v++) {
        const int cols = t->nr - 16 * v;
        m[v] = cols >= 16 ? 0xffff : cols > 0 ? (__mmask16)((1u << cols) - 1) : 0;
    }
#pragma GCC unroll 28
    for (int i = 0; i < MR; i++) {
        if (i >= t->mr) break;
        float *c = t->c + i * t->ldc;
#pragma GCC unroll 2
        for (int v = 0; v < NP; v++) {
            const __m512 base = t->accumulate ? _mm512_maskz_loadu_ps(m[v], c + 16 * v)
                                : t->bias     ? _mm512_maskz_loadu_ps(m[v], t->bias + 16 * v)
                                              : _mm512_setzero_ps();
            __m512 r = _mm512_add_ps(acc[i][v], base);
            if (t->relu) r = _mm512_max_ps(r, _mm512_setzero_ps());
            _mm512_mask_storeu_ps(c + 16 * v, m[v], r);
        }
    }
}

#define KERNEL_AVX512(NAME, MR, NP, PACKED, RS)                                                \
    AVX512 NO_PCOM static void NAME(int ntaps, int kc, const float *const *a, ptrdiff_t aoff,   \
                                    ptrdiff_t as, const float *b, ptrdiff_t bts, ptrdiff_t bs,  \
                                    ptrdiff_t b2, const Tile *t) {                              \
        kernel_avx512(MR, NP, PACKED, RS, ntaps, kc, a, aoff, as, b, bts, bs, b2, t);           \
    }
KERNEL_AVX512(kernel_avx512_rows, AVX512_MR, 2, 0, 0)
KERNEL_AVX512(kernel_avx512_rows1, AVX512_MR, 1, 0, 0)
KERNEL_AVX512(kernel_avx512_packed, AVX512_MR, 2, 1, 0)
KERNEL_AVX512(kernel_avx512_packed1, AVX512_MR, 1, 1, 0)

// gemm_conv_padded's kernels for C input channels: 14 x 32, 14 x 16, 28 x 16.
#define KERNELS_STRIDED(C)                                                  \
    KERNEL_AVX512(kernel_avx512_c##C##_wide, AVX512_MR, 2, 0, C)            \
    KERNEL_AVX512(kernel_avx512_c##C##_narrow, AVX512_MR, 1, 0, C)          \
    KERNEL_AVX512(kernel_avx512_c##C##_tall, AVX512_MR_TALL, 1, 0, C)
KERNELS_STRIDED(3)
KERNELS_STRIDED(16)
KERNELS_STRIDED(32)
#define STRIDED(C)                                                                   \
    {C, AVX512_MR, AVX512_MR_TALL, kernel_avx512_c##C##_wide, kernel_avx512_c##C##_narrow, \
     kernel_avx512_c##C##_tall}
static const StridedKernels STRIDED_AVX512[] = {STRIDED(3), STRIDED(16), STRIDED(32)};

PACK_A_TN(pack_a_tn_avx512, AVX512)

static const GemmPath PATH_AVX512 = {AVX512_MR, 2, 16 * AVX512_MR, 7 * AVX512_MR, 1,
                                     kernel_avx512_rows, kernel_avx512_rows1,
                                     kernel_avx512_packed, kernel_avx512_packed1, pack_a_tn_avx512};

static int cpu_has(GemmKernel k) {
    __builtin_cpu_init();
    switch (k) {
    case GEMM_KERNEL_AVX512: return __builtin_cpu_supports("avx512f");
    case GEMM_KERNEL_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return 1;
    }
}
static const GemmPath *path_of(GemmKernel k) {
    return k == GEMM_KERNEL_AVX512 ? &PATH_AVX512 : k == GEMM_KERNEL_AVX2 ? &PATH_AVX2
                                                                            : &PATH_PORTABLE;
}
static const StridedKernels *strided_of(GemmKernel k, int C) {
    if (k != GEMM_KERNEL_AVX512) return NULL;
    for (size_t i = 0; i < sizeof STRIDED_AVX512 / sizeof STRIDED_AVX512[0]; i++)
        if (STRIDED_AVX512[i].C == C) return &STRIDED_AVX512[i];
    return NULL;
}
#else
static int cpu_has(GemmKernel k) { return k == GEMM_KERNEL_PORTABLE; }
static const GemmPath *path_of(GemmKernel k) { (void)k; return &PATH_PORTABLE; }
static const StridedKernels *strided_of(GemmKernel k, int C) { (void)k, (void)C; return NULL; }
#endif

// The kernel in use: the best the CPU runs, unless a test forced one.
static GemmKernel chosen = GEMM_KERNEL_AUTO;

static GemmKernel best_kernel(void) {
    static GemmKernel best = GEMM_KERNEL_AUTO;  // probed once; every thread finds the same
    if (best == GEMM_KERNEL_AUTO)
        best = cpu_has(GEMM_KERNEL_AVX512) ? GEMM_KERNEL_AVX512
               : cpu_has(GEMM_KERNEL_AVX2) ? GEMM_KERNEL_AVX2
                                           : GEMM_KERNEL_PORTABLE;
    return best;
}

int gemm_force_kernel(GemmKernel k) {
    if (k != GEMM_KERNEL_AUTO && !cpu_has(k)) return 0;
    chosen = k;
    return 1;
}

GemmKernel gemm_kernel(void) { return chosen == GEMM_KERNEL_AUTO ? best_kernel() : chosen; }

static const GemmPath *gemm_path(void) { return path_of(gemm_kernel()); }

void gemm_matrix_rows(const void *ctx, int m0, int count, const float *(*ptr)[GEMM_MAX_TAPS]) {
    const GemmMatrix *a = ctx;
    for (int i = 0; i < count; i++) ptr[i][0] = a->base + (size_t)(m0 + i) * a->ld;
}

int gemm_block_rows(int M, int max, int threads) {
    int blocks = (M + max - 1) / max;
    blocks = (blocks + threads - 1) / threads * threads;
    return (M + blocks - 1) / blocks;
}

int gemm_b_in_place(int M, int N, int threads) {
    // Each block of rows reads B once: with two blocks per thread or fewer,
    // packing (a read and a write of B) costs about what it saves.
    return N % GEMM_NR == 0 && M <= 2 * threads * gemm_path()->mc;
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

// Panels of the column tile that starts at panel p: the path's width, or
// one for an odd last panel.
static int tile_panels(const GemmPath *P, int p, int panels) {
    return panels - p >= P->np ? P->np : 1;
}

// One product of gemm_rows and the blocking it chose.
typedef struct RowsJob {
    const GemmPath *P;
    float *c;
    ptrdiff_t ldc, Kd, bs, b2, ldb;
    int M, N, ntaps, Kc, nchunks, kcc, panels, tiles, parts, mc;
    GemmRowsFn rows;
    const void *ctx;
    const float *b, *bias;
    int relu;
} RowsJob;

// Item `item` of a gemm_rows product: block item / parts of rows, its part
// item % parts of the columns.
static void rows_item(const RowsJob *j, int item) {
    const GemmPath *P = j->P;
    const int MR = P->mr, M = j->M, N = j->N, ntaps = j->ntaps, Kc = j->Kc, parts = j->parts;
    const int nchunks = j->nchunks, kcc = j->kcc, panels = j->panels, tiles = j->tiles, mc = j->mc;
    const ptrdiff_t ldc = j->ldc, Kd = j->Kd, bs = j->bs, b2 = j->b2, ldb = j->ldb;
    float *c = j->c;
    const float *b = j->b, *bias = j->bias;
    const int relu = j->relu;
    const int blk = item / parts, part = item % parts;
    // This part's panels: [p_first, p_end), whole tiles.
    const int p_first = P->np * (int)((long)tiles * part / parts);
    const int p_last = P->np * (int)((long)tiles * (part + 1) / parts);
    const int p_end = p_last < panels ? p_last : panels;
    const int m0 = blk * mc, mb = M - m0 < mc ? M - m0 : mc;
    const int groups = (mb + MR - 1) / MR;
    // ptr[r][t]: row pointer of row m0+r for tap t; rows past M repeat
    // their group's first row (computed, never stored).
    const float *ptr[MC_MAX][GEMM_MAX_TAPS];
    j->rows(j->ctx, m0, mb, ptr);
    for (int r = mb; r < groups * MR; r++) memcpy(ptr[r], ptr[r - r % MR], sizeof ptr[r]);
    for (int ch = 0; ch < nchunks; ch++) {
        const int k0 = ch * kcc, kn = Kc - k0 < kcc ? Kc - k0 : kcc;
        // Column blocks of B small enough for the level-2 cache, each
        // walked column tile by column tile (the tile of B stays close
        // across the row groups) or, on the AVX-512 path with B packed,
        // row group by row group (the group's rows of A stay in the
        // level-1 cache across the column tiles, which a 512-step tile
        // of B, 64 KiB, would not).
        const int by_group = P->group_outer && !ldb;
        for (int pb = p_first; pb < p_end; pb += NC_PANELS) {
            const int pe = p_end - pb < NC_PANELS ? p_end : pb + NC_PANELS;
            const int ntiles = (pe - pb + P->np - 1) / P->np;
            const int outer = by_group ? groups : ntiles, inner = by_group ? ntiles : groups;
            for (int o = 0; o < outer; o++)
                for (int in = 0; in < inner; in++) {
                    const int g = by_group ? o : in, p = pb + P->np * (by_group ? in : o);
                    const int np = tile_panels(P, p, pe), r0 = g * MR;
                    const float *bp =
                        ldb ? b + k0 * ldb + p * GEMM_NR : b + (p * Kd + k0) * GEMM_NR;
                    Tile tile = {.c = c + (m0 + r0) * ldc + p * GEMM_NR,
                                 .ldc = ldc,
                                 .mr = mb - r0 < MR ? mb - r0 : MR,
                                 .nr = N - p * GEMM_NR < np * GEMM_NR ? N - p * GEMM_NR
                                                                      : np * GEMM_NR,
                                 .accumulate = ch > 0,
                                 .bias = bias ? bias + p * GEMM_NR : NULL,
                                 .relu = relu && ch == nchunks - 1};
                    (np == P->np ? P->rows : P->rows1)(ntaps, kn, ptr[r0], k0, 1, bp, Kc * bs,
                                                       bs, b2, &tile);
                }
        }
    }
}

void gemm_rows(float *c, ptrdiff_t ldc, int M, int N, int ntaps, int Kc, GemmRowsFn rows,
               const void *ctx, const float *b, ptrdiff_t ldb, const float *bias, int relu,
               int threads) {
    const GemmPath *P = gemm_path();
    const int MR = P->mr;
    const int kmax = KSTEPS / ntaps > 0 ? KSTEPS / ntaps : 1;
    const int nchunks = chunk_count(Kc, kmax), kcc = (Kc + nchunks - 1) / nchunks;
    const int panels = (N + GEMM_NR - 1) / GEMM_NR;
    const ptrdiff_t Kd = (ptrdiff_t)ntaps * Kc;
    // Packed: panel p, row k0; the next panel Kd rows on. In place: row k0,
    // column 16p; the next panel 16 columns on.
    const ptrdiff_t bs = ldb ? ldb : GEMM_NR, b2 = ldb ? GEMM_NR : Kd * GEMM_NR;
    // As many blocks of at most mc rows as a multiple of the threads, of
    // equal size: one pair's deep layers have only a few hundred rows, and an
    // odd small block left to one thread would keep the other waiting. With
    // fewer rows than a block for each thread, the threads share the columns
    // instead (as many parts as threads, of whole tiles): each reads its part
    // of B rather than all of it for a few rows (one pair's block 5 and dense
    // layers), and no block is cut short. Each output element is still one
    // kernel's sum in the same order, so the results do not change.
    const int tiles = (panels + P->np - 1) / P->np;
    const int natural = (M + P->mc - 1) / P->mc;
    const int parts = natural < threads && tiles >= threads ? threads : 1;
    const int mc = parts > 1 ? (int)round_up((M + natural - 1) / natural, MR)
                             : (int)round_up(gemm_block_rows(M, P->mc, threads), MR);
    const int blocks = (M + mc - 1) / mc;
    const RowsJob job = {.P = P, .c = c, .ldc = ldc, .Kd = Kd, .bs = bs, .b2 = b2, .ldb = ldb,
                         .M = M, .N = N, .ntaps = ntaps, .Kc = Kc, .nchunks = nchunks,
                         .kcc = kcc, .panels = panels, .tiles = tiles, .parts = parts, .mc = mc,
                         .rows = rows, .ctx = ctx, .b = b, .bias = bias, .relu = relu};
    // One thread: no parallel region (a nested one, as each of Winograd's
    // 16 products in a layer shared by the threads is, costs 0.8 us to
    // set up and tear down).
    if (threads == 1) {
        for (int item = 0; item < blocks * parts; item++) rows_item(&job, item);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int item = 0; item < blocks * parts; item++) rows_item(&job, item);
}

int gemm_conv_padded_ok(int C) { return strided_of(gemm_kernel(), C) != NULL; }

// A thread's padded rows: a row of zeros and a ring of three input rows,
// each (W+2)*C floats inside a border of zeros and GEMM_PADDED_SLACK(C)
// zeros after it (a tile's rows past the image's width read on into it).
static size_t padded_row_floats(int W, int C) {
    return (size_t)(W + 2) * C + GEMM_PADDED_SLACK(C);
}

size_t gemm_conv_padded_work_floats(int W, int C, int threads) {
    return 4 * padded_row_floats(W, C) * threads;
}

void gemm_conv_padded(float *out, const float *in, int N, int H, int W, int C, int K,
                      const float *b, const float *bias, int relu, float *work, int threads) {
    const StridedKernels *S = strided_of(gemm_kernel(), C);
    const int panels = (K + GEMM_NR - 1) / GEMM_NR;
    const ptrdiff_t Kd = 9 * (ptrdiff_t)C;
    const size_t prow = padded_row_floats(W, C), row = (size_t)W * C;
    // One panel: tall tiles (28 rows); else 14 rows, by two panels and an odd
    // last one.
    const int mr = panels == 1 ? S->tall_rows : S->rows;
    // Each thread pads the input rows its output rows read into rows of its
    // own, inside the one parallel region: no pass over the whole input
    // before the products (its own region, and a barrier, per layer) and a
    // copy that stays in the level-1/2 cache. Input row g = n*H + y goes to
    // ring slot g % 3 (an output row reads three consecutive rows of one
    // image), copied only if the slot holds another row: a run of
    // consecutive output rows copies each input row once.
#pragma omp parallel num_threads(threads)
    {
        float *zero = work + 4 * prow * (size_t)omp_get_thread_num(), *ring = zero + prow;
        long held[3] = {-1, -1, -1};
        memset(zero, 0, 4 * prow * sizeof(float));
#pragma omp for schedule(dynamic, 4)
        for (int r = 0; r < N * H; r++) {  // output row r = n*H + y
            const int n = r / H, y = r % H;
            // Tap ky: input row y+ky-1, padded, from the tile's first pixel;
            // its three pixels x..x+2 (kx) are 3C consecutive floats, the
            // rows (ky,kx,c) of B, in the direct method's order.
            const float *padded[3];
            for (int ky = 0; ky < 3; ky++) {
                const int iy = y + ky - 1;
                if (iy < 0 || iy >= H) {
                    padded[ky] = zero;
                    continue;
                }
                const long g = (long)n * H + iy;
                float *slot = ring + (size_t)(g % 3) * prow;
                if (held[g % 3] != g) {
                    memcpy(slot + C, in + (size_t)g * row, row * sizeof(float));
                    held[g % 3] = g;
                }
                padded[ky] = slot;
            }
            for (int x0 = 0; x0 < W; x0 += mr) {
                const float *a[3] = {padded[0] + (size_t)x0 * C, padded[1] + (size_t)x0 * C,
                                     padded[2] + (size_t)x0 * C};
                for (int p = 0, np; p < panels; p += np) {
                    np = panels - p >= 2 ? 2 : 1;
                    const KernelFn kernel = panels == 1 ? S->tall : np == 2 ? S->wide : S->narrow;
                    Tile tile = {.c = out + ((size_t)r * W + x0) * K + p * GEMM_NR,
                                 .ldc = K,
                                 .mr = W - x0 < mr ? W - x0 : mr,
                                 .nr = K - p * GEMM_NR < np * GEMM_NR ? K - p * GEMM_NR
                                                                      : np * GEMM_NR,
                                 .accumulate = 0,
                                 .bias = bias ? bias + p * GEMM_NR : NULL,
                                 .relu = relu};
                    kernel(3, 3 * C, a, 0, 1, b + p * Kd * GEMM_NR, 3 * C * GEMM_NR, GEMM_NR,
                           Kd * GEMM_NR, &tile);
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

// Rows of A^T packed at a time: all of them when they are few (a small
// layer's 9 taps x 16 channels: one pass over the row pointers), else
// tn_mc, so that the packed block stays in the level-2 cache.
#define TN_ALL_ROWS 640
static int tn_block_rows(const GemmPath *P, int Kd) {
    return Kd <= TN_ALL_ROWS ? (int)round_up(Kd, P->mr) : P->tn_mc;
}

// A thread's packed D (TN_KC x N) and packed A (TN_KC x its block rows).
static size_t tn_per_thread(int Kd, int N) {
    return (size_t)TN_KC * (round_up((size_t)N, GEMM_NR) + tn_block_rows(gemm_path(), Kd));
}

size_t gemm_rows_tn_work_floats(int ntaps, int Kc, int N, int threads) {
    const size_t g = (size_t)ntaps * Kc * N;
    return (size_t)threads * tn_per_thread(ntaps * Kc, N) + (size_t)(threads - 1) * g;
}

void gemm_rows_tn(float *g, int M, int N, int ntaps, int Kc, GemmRowsFn rows, const void *ctx,
                  const float *d, ptrdiff_t ldd, int accumulate, float *work, int threads) {
    const GemmPath *P = gemm_path();
    const int MR = P->mr, Kd = ntaps * Kc, mc = tn_block_rows(P, Kd);
    const int nth = tn_threads(M, threads);
    const int panels = (N + GEMM_NR - 1) / GEMM_NR;
    const size_t gsize = (size_t)Kd * N, per_thread = tn_per_thread(Kd, N);
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
            for (int r0 = 0; r0 < Kd; r0 += mc) {
                const int mcb = Kd - r0 < mc ? Kd - r0 : mc, ld = (int)round_up(mcb, MR);
                P->pack_a(apack, ld, (const float *const(*)[GEMM_MAX_TAPS])ind, Kc, kb, r0, mcb);
                for (int p = 0, np; p < panels; p += np) {
                    np = tile_panels(P, p, panels);
                    const KernelFn kernel = np == P->np ? P->packed : P->packed1;
                    for (int q = 0; q < ld / MR; q++) {
                        // row i of the tile at am[i * GEMM_MAX_TAPS] = am[0] + i
                        const float *am[MR_MAX * GEMM_MAX_TAPS];
                        for (int i = 0; i < MR; i++) am[i * GEMM_MAX_TAPS] = apack + q * MR + i;
                        const int row = r0 + q * MR;
                        Tile tile = {.c = gt + (size_t)row * N + p * GEMM_NR,
                                     .ldc = N,
                                     .mr = mcb - q * MR < MR ? mcb - q * MR : MR,
                                     .nr = N - p * GEMM_NR < np * GEMM_NR ? N - p * GEMM_NR
                                                                          : np * GEMM_NR,
                                     .accumulate = pb > p0 || (accumulate && th == 0)};
                        kernel(1, kb, am, 0, ld, dpack + (size_t)p * kb * GEMM_NR, 0, GEMM_NR,
                               (ptrdiff_t)kb * GEMM_NR, &tile);
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
