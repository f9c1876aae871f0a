// test_kernels: every kernel of kernels/*.cu, compiled for the host and run
// by the emulator of tests/kernel_emu.h (one fiber per GPU thread, real
// barriers), against the CPU reference: engine/backend_cpu.c's operations
// where the backend has one, the plain definition where it has none (the
// bfloat16 conversions, transposes, channel copies, bias_relu). Float32 and
// bfloat16 storage wherever a kernel has both, on shapes that reach each
// kernel's edges: odd heights and widths, 1-wide tensors, many slices of the
// partial-sum kernels (and their cap), sizes whose grid-stride or grid-row
// loops wrap around. What the emulator cannot see (warps, the memory model,
// timing) is listed in kernel_emu.h.
//
// Exact everywhere, but for sigmoid_bce's loss (a tree sum in double
// against a sequential one: 1e-6 relative after rounding to float). The
// sums of the bias-gradient kernels run in another order than the CPU's,
// so their gradients are on a grid of 2^-8 in (-1, 1): every partial sum of
// up to 2^16 of them is a float32 exactly, in any order, and the sums must
// equal the CPU's bit for bit (a dropped or doubled term shows).
//
// Every buffer a kernel sees ends at a guard page (a read or write past its
// end stops the test, naming the case) and starts after a filled margin
// (a write before it fails the case); outputs start as junk, so an element
// a kernel should write and does not shows.
#ifdef KERNEL_EMU_NO_CUDA
#include <stdio.h>
int main(void) {
    printf("SKIP: CUDA's headers (cuda_bf16.h, cuda_runtime_api.h) were not found: the "
           "kernels cannot be compiled for the host\n");
    return 77;
}
#else

#define KERNEL_EMU_MAIN
#include "kernel_emu.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

#include "../engine/backend.h"
#include "../kernels/kernels.h"
#include "../kernels/launch.cuh"
#include "bf16.h"
#include "check.h"

static Backend *cpu;
static char case_name[160];  // the case running, for every message
#define CASE(...) snprintf(case_name, sizeof case_name, __VA_ARGS__)

// ---- what kernels/check.cu does on a GPU ----------------------------------------

// A launcher's failed check or a refused launch: a failure of the case,
// unless the case expects one (expect_failure armed).
static jmp_buf *expect_failure;
extern "C" void cuda_fail(const char *file, int line, int out_of_memory, const char *what,
                          const char *hint, const char *fmt, ...) {
    if (expect_failure) longjmp(*expect_failure, 1);
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL %s: %s:%d: %s: %s (%s)\n", case_name, file, line, what, detail, hint);
    exit(1);
}
extern "C" const char *cuda_error_hint(cudaError_t) { return "kernel_emu"; }

// ---- device memory: guarded host memory ------------------------------------------

static void on_segv(int) {
    static const char msg[] = "FAIL: a kernel read or wrote past the end of a buffer (guard "
                              "page) in case: ";
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, case_name, strlen(case_name));
    (void)!write(2, "\n", 1);
    _exit(1);
}

// n elements of T whose end touches a PROT_NONE page, after a margin of
// MARGIN_BYTE; filled with `fill`.
template <typename T> struct Dev {
    enum { MARGIN = 256, MARGIN_BYTE = 0xa5 };
    T *p = nullptr;
    size_t n = 0;
    char *base = nullptr;
    size_t data_pages = 0;
    explicit Dev(size_t n_, T fill = T()) : n(n_) {
        const size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = n * sizeof(T) + MARGIN;
        data_pages = (bytes + page - 1) / page * page;
        base = (char *)mmap(NULL, data_pages + page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED || mprotect(base + data_pages, page, PROT_NONE)) {
            perror("test_kernels: mmap");
            exit(1);
        }
        p = (T *)(base + data_pages - n * sizeof(T));
        memset(base, MARGIN_BYTE, (char *)p - base);
        for (size_t i = 0; i < n; i++) p[i] = fill;
    }
    explicit Dev(const std::vector<T> &v) : Dev(v.size()) {
        if (n) memcpy(p, v.data(), n * sizeof(T));
    }
    Dev(const Dev &) = delete;
    Dev &operator=(const Dev &) = delete;
    ~Dev() {
        size_t bad = 0;
        for (char *q = base; q < (char *)p; q++) bad += (unsigned char)*q != MARGIN_BYTE;
        CHECK(!bad, "%s: %zu bytes written before a buffer", case_name, bad);
        munmap(base, data_pages + (size_t)sysconf(_SC_PAGESIZE));
    }
    T &operator[](size_t i) { return p[i]; }
};

// An activation tensor in a kernel's storage (KernelType): float32, or
// bfloat16 as its 16 bits.
struct Acts {
    KernelType t;
    Dev<float> f;
    Dev<uint16_t> h;
    Acts(KernelType t_, size_t n, float fill)
        : t(t_), f(t_ == KERNEL_F32 ? n : 0, fill), h(t_ == KERNEL_BF16 ? n : 0, bf16_round(fill)) {}
    Acts(KernelType t_, const std::vector<float> &v) : Acts(t_, v.size(), 0.0f) {
        for (size_t i = 0; i < v.size(); i++) set(i, v[i]);
    }
    void *p() { return t == KERNEL_BF16 ? (void *)h.p : (void *)f.p; }
    float at(size_t i) { return t == KERNEL_BF16 ? bf16_widen(h[i]) : f[i]; }
    void set(size_t i, float v) {
        if (t == KERNEL_BF16) h[i] = bf16_round(v);
        else f[i] = v;
    }
};

static const char *type_name(KernelType t) { return t == KERNEL_BF16 ? "bf16" : "f32"; }

// ---- values ------------------------------------------------------------------------

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint32_t next_u32(void) {  // splitmix64: the same values on every machine
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}
static float uniform(void) { return (float)(next_u32() >> 8) / (float)(1 << 23) - 1.0f; }
// On a grid of 2^-8 in (-1, 1): a bfloat16 exactly, and sums of up to 2^16
// of them are float32 exactly in any order.
static float on_grid(void) { return (float)((int)(next_u32() % 511) - 255) / 256.0f; }
// Ties, zeros and negatives: `levels` values (0: uniform), as a T holds them.
static std::vector<float> values(size_t n, int levels, KernelType t) {
    std::vector<float> v(n);
    for (float &x : v) {
        x = levels ? (float)(next_u32() % levels) / levels - 0.3f : uniform();
        if (t == KERNEL_BF16) x = bf16_widen(bf16_round(x));
    }
    return v;
}
static std::vector<float> grid_values(size_t n) {
    std::vector<float> v(n);
    for (float &x : v) x = on_grid();
    return v;
}

// The same value: the same bits, or both NaN.
static bool same(float a, float b) {
    if (a != a && b != b) return true;
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y;
}
// Elements of got (in storage t) that are not want's, and the first of them.
template <typename Got> static size_t mismatches(Got got, const float *want, size_t n, size_t *first) {
    size_t bad = 0;
    *first = 0;
    for (size_t i = 0; i < n; i++)
        if (!same(got(i), want[i]) && !bad++) *first = i;
    return bad;
}
#define CHECK_SAME(what, got, want, n)                                                             \
    do {                                                                                           \
        size_t first_;                                                                             \
        const size_t bad_ = mismatches(got, want, n, &first_);                                     \
        CHECK(!bad_, "%s: %s: %zu of %zu differ, first [%zu]: %g, want %g", case_name, what, bad_, \
              (size_t)(n), first_, (double)got(first_), (double)want[first_]);                     \
    } while (0)

// ---- the max-pool and its backward passes ---------------------------------------------

// Forward (with and without argmax), both backward passes (the search and
// the argmax) and the fused pool + ReLU + bias gradient, against the CPU.
// nan: some inputs are NaN (a NaN first in its window is its maximum).
static void pool_case(KernelType t, int N, int H, int W, int C, int levels, bool nan) {
    CASE("maxpool %s N=%d H=%d W=%d C=%d levels=%d%s", type_name(t), N, H, W, C, levels,
         nan ? " NaN" : "");
    const int OH = H / 2, OW = W / 2;
    const size_t nin = (size_t)N * H * W * C, nout = (size_t)N * OH * OW * C;
    std::vector<float> in = values(nin, levels, t);
    if (nan)
        for (size_t i = 0; i < nin; i += 7) in[i] = NAN;
    std::vector<float> out_c(nout), din_c(nin), din_search_c(nin);
    std::vector<uint8_t> arg_c(nout);
    cpu->ops->maxpool2_forward(cpu, out_c.data(), arg_c.data(), in.data(), N, H, W, C);

    Acts in_k(t, in), out_k(t, nout, 9.5f);
    Dev<uint8_t> arg_k(nout, 7);
    kernel_maxpool2_forward_argmax(nullptr, out_k.p(), arg_k.p, in_k.p(), N, H, W, C, t);
    CHECK_SAME("out", [&](size_t i) { return out_k.at(i); }, out_c.data(), nout);
    size_t bad = 0;
    for (size_t i = 0; i < nout; i++) bad += arg_k[i] != arg_c[i];
    CHECK(!bad, "%s: argmax: %zu of %zu differ", case_name, bad, nout);
    {
        Acts out2(t, nout, 9.5f);
        kernel_maxpool2_forward_argmax(nullptr, out2.p(), nullptr, in_k.p(), N, H, W, C, t);
        CHECK_SAME("out without argmax", [&](size_t i) { return out2.at(i); }, out_c.data(), nout);
    }

    const std::vector<float> dout = grid_values(nout);
    Acts dout_k(t, dout);
    cpu->ops->maxpool2_backward(cpu, din_c.data(), dout.data(), in.data(), out_c.data(),
                                arg_c.data(), N, H, W, C);
    cpu->ops->maxpool2_backward(cpu, din_search_c.data(), dout.data(), in.data(), out_c.data(),
                                NULL, N, H, W, C);
    {
        Acts din(t, nin, 5.5f);
        kernel_maxpool2_backward_argmax(nullptr, din.p(), dout_k.p(), arg_k.p, N, H, W, C, t);
        CHECK_SAME("din (argmax)", [&](size_t i) { return din.at(i); }, din_c.data(), nin);
    }
    {
        Acts din(t, nin, 5.5f);
        kernel_maxpool2_backward(nullptr, din.p(), dout_k.p(), in_k.p(), out_k.p(), N, H, W, C, t);
        CHECK_SAME("din (search)", [&](size_t i) { return din.at(i); }, din_search_c.data(), nin);
    }

    // The fused pass masks dout in place and sums it per channel.
    std::vector<float> dmask_c(dout), din_f_c(nin), dbias_c(C);
    cpu->ops->maxpool2_relu_backward(cpu, din_f_c.data(), dbias_c.data(), dmask_c.data(),
                                     out_c.data(), arg_c.data(), N, H, W, C);
    Acts din(t, nin, 5.5f), dmask(t, dout);
    Dev<float> dbias(C, 99.0f);
    Dev<float> partial((size_t)kernel_relu_bias_grad_parts(N * OH * OW, C) * C, NAN);
    kernel_maxpool2_relu_bias_grad(nullptr, dbias.p, din.p(), dmask.p(), out_k.p(), arg_k.p, N, H,
                                   W, C, partial.p, t);
    CHECK_SAME("fused din", [&](size_t i) { return din.at(i); }, din_f_c.data(), nin);
    CHECK_SAME("fused masked dout", [&](size_t i) { return dmask.at(i); }, dmask_c.data(), nout);
    CHECK_SAME("fused dbias", [&](size_t i) { return dbias[i]; }, dbias_c.data(), (size_t)C);
}

// The backward passes alone where no window fits (H or W of 1): din all zeros.
static void pool_backward_empty_case(KernelType t, int N, int H, int W, int C) {
    CASE("maxpool backward %s N=%d H=%d W=%d C=%d (no window)", type_name(t), N, H, W, C);
    const size_t nin = (size_t)N * H * W * C;
    const std::vector<float> zeros(nin, 0.0f);
    Acts in(t, values(nin, 0, t)), none(t, 0, 0.0f);
    Dev<uint8_t> arg(0);
    Acts din(t, nin, 5.5f), din2(t, nin, 5.5f);
    kernel_maxpool2_backward_argmax(nullptr, din.p(), none.p(), arg.p, N, H, W, C, t);
    CHECK_SAME("din (argmax)", [&](size_t i) { return din.at(i); }, zeros.data(), nin);
    kernel_maxpool2_backward(nullptr, din2.p(), none.p(), in.p(), none.p(), N, H, W, C, t);
    CHECK_SAME("din (search)", [&](size_t i) { return din2.at(i); }, zeros.data(), nin);
}

// ---- bias gradients --------------------------------------------------------------------

// CPU reference of a bias gradient: dense_backward's column sums.
static std::vector<float> cpu_column_sums(const std::vector<float> &x, int rows, int cols) {
    std::vector<float> dbias(cols), dw(cols), in(rows, 0.0f), w(cols, 0.0f);
    cpu->ops->dense_backward(cpu, NULL, dw.data(), dbias.data(), x.data(), in.data(), w.data(),
                             rows, 1, cols);
    return dbias;
}

static void relu_bias_grad_case(KernelType t, int rows, int cols, bool masked) {
    const int parts = kernel_relu_bias_grad_parts(rows, cols);
    CASE("relu_bias_grad %s rows=%d cols=%d%s (%d parts)", type_name(t), rows, cols,
         masked ? " masked" : "", parts);
    const size_t n = (size_t)rows * cols;
    const std::vector<float> dout = grid_values(n), y = values(n, 5, t);
    std::vector<float> dm(dout);
    if (masked) cpu->ops->relu_backward(cpu, dm.data(), dout.data(), y.data(), n);
    const std::vector<float> dbias_c = cpu_column_sums(dm, rows, cols);
    Acts dout_k(t, dout), y_k(t, y);
    Dev<float> dbias(cols, 99.0f), partial((size_t)parts * cols, NAN);
    kernel_relu_bias_grad(nullptr, dbias.p, dout_k.p(), masked ? y_k.p() : nullptr, rows, cols,
                          partial.p, t);
    CHECK_SAME("masked dout", [&](size_t i) { return dout_k.at(i); }, dm.data(), n);
    CHECK_SAME("dbias", [&](size_t i) { return dbias[i]; }, dbias_c.data(), (size_t)cols);
}

static void column_sums_case(int rows, int cols) {
    CASE("column_sums rows=%d cols=%d", rows, cols);
    const std::vector<float> x = grid_values((size_t)rows * cols);
    const std::vector<float> want = cpu_column_sums(x, rows, cols);
    Dev<float> x_k(x), sums(cols, 99.0f);
    kernel_column_sums(nullptr, sums.p, x_k.p, rows, cols);
    CHECK_SAME("sums", [&](size_t i) { return sums[i]; }, want.data(), (size_t)cols);
}

// ---- element-wise kernels ---------------------------------------------------------------

// x += bias, then ReLU: the plain definition (the CPU fuses it into its
// products), rounded once to the storage.
static void bias_relu_case(KernelType t, int rows, int cols) {
    const size_t n = (size_t)rows * cols;
    std::vector<float> x = values(n, 0, t);
    x[n / 2] = NAN;
    const std::vector<float> b = values(cols, 0, KERNEL_F32);
    for (int relu = 0; relu <= 1; relu++) {
        CASE("bias_relu %s rows=%d cols=%d relu=%d", type_name(t), rows, cols, relu);
        std::vector<float> want(n);
        for (size_t i = 0; i < n; i++) {
            float v = x[i] + b[i % cols];
            v = relu && v < 0.0f ? 0.0f : v;
            want[i] = t == KERNEL_BF16 ? bf16_widen(bf16_round(v)) : v;
        }
        Acts x_k(t, x);
        Dev<float> b_k(b);
        kernel_bias_relu(nullptr, x_k.p(), b_k.p, rows, cols, relu, t);
        CHECK_SAME("x", [&](size_t i) { return x_k.at(i); }, want.data(), n);
    }
}

static void relu_backward_case(size_t n) {
    CASE("relu_backward n=%zu", n);
    const std::vector<float> dy = values(n, 0, KERNEL_F32), y = values(n, 4, KERNEL_F32);
    std::vector<float> want(n);
    cpu->ops->relu_backward(cpu, want.data(), dy.data(), y.data(), n);
    Dev<float> dy_k(dy), y_k(y), dx(n, 9.5f);
    kernel_relu_backward(nullptr, dx.p, dy_k.p, y_k.p, n);
    CHECK_SAME("dx", [&](size_t i) { return dx[i]; }, want.data(), n);
    kernel_relu_backward(nullptr, dy_k.p, dy_k.p, y_k.p, n);  // in place, as the model runs it
    CHECK_SAME("dx in place", [&](size_t i) { return dy_k[i]; }, want.data(), n);
}

static void absdiff_case(size_t n) {
    CASE("absdiff n=%zu", n);
    const std::vector<float> x1 = values(n, 3, KERNEL_F32), x2 = values(n, 3, KERNEL_F32);
    const std::vector<float> dout = values(n, 0, KERNEL_F32);
    std::vector<float> out_c(n), dx1_c(n), dx2_c(n);
    cpu->ops->absdiff_forward(cpu, out_c.data(), x1.data(), x2.data(), n);
    cpu->ops->absdiff_backward(cpu, dx1_c.data(), dx2_c.data(), dout.data(), x1.data(), x2.data(),
                               n);
    Dev<float> x1_k(x1), x2_k(x2), dout_k(dout), out(n, 9.5f), dx1(n, 9.5f), dx2(n, 9.5f);
    kernel_absdiff_forward(nullptr, out.p, x1_k.p, x2_k.p, n);
    kernel_absdiff_backward(nullptr, dx1.p, dx2.p, dout_k.p, x1_k.p, x2_k.p, n);
    CHECK_SAME("out", [&](size_t i) { return out[i]; }, out_c.data(), n);
    CHECK_SAME("dx1", [&](size_t i) { return dx1[i]; }, dx1_c.data(), n);
    CHECK_SAME("dx2", [&](size_t i) { return dx2[i]; }, dx2_c.data(), n);
}

// One block of 256 threads for any N: N above 256 makes each thread take several.
static void sigmoid_bce_case(int N, int mean_over) {
    CASE("sigmoid_bce N=%d mean_over=%d", N, mean_over);
    std::vector<float> logit = values(N, 0, KERNEL_F32), y(N);
    for (int i = 0; i < N; i++) {
        logit[i] *= i % 5 == 0 ? 60.0f : 4.0f;  // saturated and moderate
        y[i] = (float)(next_u32() & 1);
    }
    std::vector<float> prob_c(N), dlogit_c(N);
    float loss_c = 0;
    cpu->ops->sigmoid_bce_forward(cpu, prob_c.data(), &loss_c, logit.data(), y.data(), N);
    cpu->ops->sigmoid_bce_backward(cpu, dlogit_c.data(), prob_c.data(), y.data(), N, mean_over);
    Dev<float> logit_k(logit), y_k(y), prob(N, 9.5f), loss(1, 9.5f), dlogit(N, 9.5f);
    kernel_sigmoid_bce_forward(nullptr, prob.p, loss.p, logit_k.p, y_k.p, N);
    CHECK_SAME("prob", [&](size_t i) { return prob[i]; }, prob_c.data(), (size_t)N);
    CHECK(fabsf(loss[0] - loss_c) <= 1e-6f * fabsf(loss_c), "%s: loss %.9g, want %.9g",
          case_name, loss[0], loss_c);
    kernel_sigmoid_bce_backward(nullptr, dlogit.p, prob.p, y_k.p, N, mean_over);
    CHECK_SAME("dlogit", [&](size_t i) { return dlogit[i]; }, dlogit_c.data(), (size_t)N);
    // Inference: no labels, no loss written.
    Dev<float> prob2(N, 9.5f), loss2(1, 9.5f);
    kernel_sigmoid_bce_forward(nullptr, prob2.p, loss2.p, logit_k.p, nullptr, N);
    CHECK_SAME("prob (no labels)", [&](size_t i) { return prob2[i]; }, prob_c.data(), (size_t)N);
    CHECK(loss2[0] == 9.5f, "%s: loss written without labels", case_name);
}

// Two steps of each optimizer from the same state as the CPU's.
static void optimizer_case(size_t n) {
    const std::vector<float> p0 = values(n, 0, KERNEL_F32), g = values(n, 0, KERNEL_F32);
    {
        CASE("sgd_nesterov n=%zu", n);
        std::vector<float> p_c(p0), buf_c(n, 0.0f);
        Dev<float> p(p0), buf(n, 0.0f), g_k(g);
        for (int step = 0; step < 2; step++) {
            cpu->ops->sgd_nesterov_step(cpu, p_c.data(), g.data(), buf_c.data(), n, 0.01f, 0.9f,
                                        5e-4f);
            kernel_sgd_nesterov(nullptr, p.p, g_k.p, buf.p, n, 0.01f, 0.9f, 5e-4f);
        }
        CHECK_SAME("p", [&](size_t i) { return p[i]; }, p_c.data(), n);
        CHECK_SAME("buf", [&](size_t i) { return buf[i]; }, buf_c.data(), n);
    }
    {
        CASE("adam n=%zu", n);
        std::vector<float> p_c(p0), m_c(n, 0.0f), v_c(n, 0.0f);
        Dev<float> p(p0), m(n, 0.0f), v(n, 0.0f), g_k(g);
        for (long step = 1; step <= 2; step++) {
            cpu->ops->adam_step(cpu, p_c.data(), g.data(), m_c.data(), v_c.data(), n, 1e-3f, 0.9f,
                                0.999f, 1e-7f, 1e-4f, step);
            kernel_adam(nullptr, p.p, g_k.p, m.p, v.p, n, 1e-3f, 0.9f, 0.999f, 1e-7f, 1e-4f, step);
        }
        CHECK_SAME("p", [&](size_t i) { return p[i]; }, p_c.data(), n);
        CHECK_SAME("m", [&](size_t i) { return m[i]; }, m_c.data(), n);
        CHECK_SAME("v", [&](size_t i) { return v[i]; }, v_c.data(), n);
    }
}

static void u8_to_float_case(size_t n) {
    std::vector<uint8_t> src(n);
    for (size_t i = 0; i < n; i++) src[i] = (uint8_t)(i < 256 ? i : next_u32());
    for (int invert = 0; invert <= 1; invert++) {
        CASE("u8_to_float n=%zu invert=%d", n, invert);
        std::vector<float> want(n);
        cpu->ops->upload_u8(cpu, want.data(), src.data(), n, invert);
        Dev<uint8_t> src_k(src);
        Dev<float> dst(n, 9.5f);
        kernel_u8_to_float(nullptr, dst.p, src_k.p, n, invert);
        CHECK_SAME("dst", [&](size_t i) { return dst[i]; }, want.data(), n);
    }
}

// ---- bfloat16 conversions, transposes, channel copies ------------------------------------

// float_to_bf16 against tests/bf16.h's rounding (ties to even, NaN, the
// infinities, subnormals, overflow to infinity), then bf16_to_float with
// and without bias and ReLU.
static void convert_case(size_t rows, int cols) {
    const size_t n = rows * (size_t)cols;
    std::vector<float> x = values(n, 0, KERNEL_F32);
    const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, -1e-41f, 3.4e38f,
                             1.00390625f /* a tie: to even */, 1.01171875f /* a tie: up */};
    for (size_t k = 0; k < sizeof special / sizeof *special && k < n; k++) x[k * n / 10] = special[k];
    CASE("float_to_bf16 n=%zu", n);
    std::vector<float> want(n);
    for (size_t i = 0; i < n; i++) want[i] = bf16_widen(bf16_round(x[i]));
    Dev<float> x_k(x);
    Dev<uint16_t> h(n, 0x7777);
    kernel_float_to_bf16(nullptr, h.p, x_k.p, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += !same(bf16_widen(h[i]), want[i]);
    CHECK(!bad, "%s: %zu of %zu differ", case_name, bad, n);
    const std::vector<float> b = values(cols, 0, KERNEL_F32);
    Dev<float> b_k(b);
    for (int mode = 0; mode < 3; mode++) {  // plain, + bias, + bias and ReLU
        CASE("bf16_to_float rows=%zu cols=%d %s", rows, cols,
             mode == 0 ? "plain" : mode == 1 ? "bias" : "bias relu");
        std::vector<float> want2(n);
        for (size_t i = 0; i < n; i++) {
            float v = mode ? want[i] + b[i % cols] : want[i];  // (-0 + 0 is +0)
            want2[i] = mode == 2 && v < 0.0f ? 0.0f : v;
        }
        Dev<float> dst(n, 9.5f);
        kernel_bf16_to_float(nullptr, dst.p, h.p, mode ? b_k.p : nullptr, rows, cols, mode == 2);
        CHECK_SAME("dst", [&](size_t i) { return dst[i]; }, want2.data(), n);
    }
}

// 32x32 tiles of 32x8 threads: shapes below, at and across a tile.
static void transpose_case(int rows, int cols) {
    const size_t n = (size_t)rows * cols;
    const std::vector<float> x = values(n, 0, KERNEL_F32);
    std::vector<float> want(n), want_bf(n);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            want[(size_t)c * rows + r] = x[(size_t)r * cols + c];
            want_bf[(size_t)c * rows + r] = bf16_widen(bf16_round(x[(size_t)r * cols + c]));
        }
    Dev<float> x_k(x);
    CASE("transpose rows=%d cols=%d", rows, cols);
    Dev<float> out(n, 9.5f);
    kernel_transpose(nullptr, out.p, x_k.p, rows, cols);
    CHECK_SAME("out", [&](size_t i) { return out[i]; }, want.data(), n);
    CASE("transpose_to_bf16 rows=%d cols=%d", rows, cols);
    Dev<uint16_t> out_h(n, 0x7777);
    kernel_transpose_to_bf16(nullptr, out_h.p, x_k.p, rows, cols);
    CHECK_SAME("out", [&](size_t i) { return bf16_widen(out_h[i]); }, want_bf.data(), n);
    CASE("transpose_from_bf16 rows=%d cols=%d", cols, rows);
    std::vector<float> back(n);  // back to (rows, cols), widened
    for (size_t i = 0; i < n; i++) back[i] = bf16_widen(bf16_round(x[i]));
    Dev<float> out_f(n, 9.5f);
    kernel_transpose_from_bf16(nullptr, out_f.p, out_h.p, cols, rows);
    CHECK_SAME("out", [&](size_t i) { return out_f[i]; }, back.data(), n);
}

// Channel padding (backend_cuda.c, "narrow inputs"), against the layouts
// written out: dst (rows, dst_c) holds src's channels, then zeros; and a 3x3
// kernel in Keras's (3,3,C,K) or cuDNN's (K,3,3,C) layout, both ways.
static void channels_case(int C, int Cp, int rows, int K) {
    for (int bf = 0; bf <= 1; bf++) {
        const KernelType t = bf ? KERNEL_BF16 : KERNEL_F32;
        CASE("copy_channels %s rows=%d %d->%d and back", type_name(t), rows, C, Cp);
        const std::vector<float> x = values((size_t)rows * C, 0, t);
        std::vector<float> want((size_t)rows * Cp);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < Cp; c++) want[(size_t)r * Cp + c] = c < C ? x[(size_t)r * C + c] : 0;
        Acts src(t, x), padded(t, (size_t)rows * Cp, 9.5f), back(t, x.size(), 9.5f);
        kernel_copy_channels(nullptr, padded.p(), Cp, src.p(), C, rows, t);
        CHECK_SAME("padded", [&](size_t i) { return padded.at(i); }, want.data(), want.size());
        kernel_copy_channels(nullptr, back.p(), C, padded.p(), Cp, rows, t);
        CHECK_SAME("back", [&](size_t i) { return back.at(i); }, x.data(), x.size());
    }
    // Element (tap, ch, k) of a kernel with `ch_n` input channels in a layout.
    auto at = [&](int krsc, int ch_n, int tap, int ch, int k) {
        return krsc ? ((size_t)k * 9 + tap) * ch_n + ch : ((size_t)tap * ch_n + ch) * K + k;
    };
    const std::vector<float> w = values(9 * (size_t)C * K, 0, KERNEL_F32);  // Keras layout
    for (int src_krsc = 0; src_krsc <= 1; src_krsc++)
        for (int dst_krsc = 0; dst_krsc <= 1; dst_krsc++) {
            CASE("kernel_channels C=%d->%d K=%d %s->%s and back", C, Cp, K,
                 src_krsc ? "KRSC" : "RSCK", dst_krsc ? "KRSC" : "RSCK");
            std::vector<float> src(w.size()), want(9 * (size_t)Cp * K);
            for (int tap = 0; tap < 9; tap++)
                for (int k = 0; k < K; k++) {
                    for (int ch = 0; ch < C; ch++)
                        src[at(src_krsc, C, tap, ch, k)] = w[at(0, C, tap, ch, k)];
                    for (int ch = 0; ch < Cp; ch++)
                        want[at(dst_krsc, Cp, tap, ch, k)] = ch < C ? w[at(0, C, tap, ch, k)] : 0;
                }
            Dev<float> src_k(src), padded(want.size(), 9.5f), back(src.size(), 9.5f);
            kernel_kernel_channels(nullptr, padded.p, Cp, dst_krsc, src_k.p, C, src_krsc, K);
            CHECK_SAME("padded", [&](size_t i) { return padded[i]; }, want.data(), want.size());
            kernel_kernel_channels(nullptr, back.p, C, src_krsc, padded.p, Cp, dst_krsc, K);
            CHECK_SAME("back", [&](size_t i) { return back[i]; }, src.data(), src.size());
        }
}

// ---- the emulator itself -------------------------------------------------------------

#define SELF_THREADS 64
// Reverses a block's values through shared memory, with or without the
// barrier between the writes and the reads.
__global__ static void reverse_block(float *x, int barrier) {
    __shared__ float tile[SELF_THREADS];
    const int i = blockIdx.x * SELF_THREADS + threadIdx.x;
    tile[threadIdx.x] = x[i];
    if (barrier) __syncthreads();
    x[i] = tile[SELF_THREADS - 1 - threadIdx.x];
}

static void emulator_case(void) {
    const int blocks = 3, n = blocks * SELF_THREADS;
    for (int barrier = 1; barrier >= 0; barrier--) {
        CASE("emulator: shared memory %s a barrier", barrier ? "with" : "without");
        Dev<float> x(n);
        for (int i = 0; i < n; i++) x[i] = (float)i;
        KERNEL_LAUNCH(blocks, SELF_THREADS, nullptr, reverse_block)(x.p, barrier);
        CHECK(cudaGetLastError() == cudaSuccess, "%s: launch refused", case_name);
        size_t bad = 0;
        for (int i = 0; i < n; i++)
            bad += x[i] != (float)(i / SELF_THREADS * SELF_THREADS + SELF_THREADS - 1 -
                                    i % SELF_THREADS);
        if (barrier) CHECK(!bad, "%s: %zu of %d wrong", case_name, bad, n);
        else  // the race: the threads of a block run in turn, each reading before the others write
            CHECK(bad, "%s: a missing barrier went unseen", case_name);
    }
    CASE("emulator: a block of 1025 threads is refused");
    Dev<float> x(1);
    KERNEL_LAUNCH(1, 1025, nullptr, reverse_block)(x.p, 0);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "%s", case_name);
    KERNEL_LAUNCH(dim3(1, 65536), 1, nullptr, reverse_block)(x.p, 0);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "%s (grid.y 65536)", case_name);
    CASE("emulator: a launcher's check fails a bad call");
    jmp_buf caught;
    volatile int failed = 0;
    if (setjmp(caught)) failed = 1;
    else {
        expect_failure = &caught;
        kernel_transpose(nullptr, x.p, x.p, 1, 1);  // in place: refused
    }
    expect_failure = nullptr;
    CHECK(failed, "%s: transpose in place was not refused", case_name);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    Err e;
    if (backend_open(&cpu, "cpu", 1, NULL, 0, &e)) {
        fprintf(stderr, "test_kernels: %s\n", e.msg);
        return 1;
    }
    emulator_case();
    const KernelType types[2] = {KERNEL_F32, KERNEL_BF16};
    for (KernelType t : types) {
        pool_case(t, 2, 7, 9, 5, 0, false);  // odd H and W
        pool_case(t, 1, 2, 2, 1, 3, false);  // one window, one channel
        pool_case(t, 3, 5, 4, 37, 4, true);  // ties, NaNs; C across warps
        pool_case(t, 2, 9, 7, 70, 3, false);
        pool_case(t, 1, 3, 40, 3, 2, false);   // one output row
        pool_case(t, 3, 21, 23, 5, 2, false);  // 330 windows: 2 slices of the fused pass
        pool_case(t, 1, 41, 45, 33, 0, true);  // 440 windows, C = 32 + 1
        pool_backward_empty_case(t, 2, 3, 1, 4);
        pool_backward_empty_case(t, 1, 1, 5, 3);
        relu_bias_grad_case(t, 1, 1, true);
        relu_bias_grad_case(t, 257, 37, true);  // 2 slices, the second of 1 row
        relu_bias_grad_case(t, 300, 37, false);
        relu_bias_grad_case(t, 3001, 70, true);  // 12 slices, 3 column blocks
        bias_relu_case(t, 7, 33);
        bias_relu_case(t, 1, 1);
    }
    // The grid's rows loop: more rows than its 65535 blocks.
    pool_case(KERNEL_BF16, 33000, 4, 2, 1, 3, false);
    // The fused pass's slices capped (1024 blocks): 1800 rows of 129 column
    // blocks take 7 slices of 258 rows.
    relu_bias_grad_case(KERNEL_F32, 1800, 4097, true);
    column_sums_case(1, 1);
    column_sums_case(9, 33);
    column_sums_case(1000, 65);
    relu_backward_case(1);
    relu_backward_case(1001);
    absdiff_case(1);
    absdiff_case(4099);
    sigmoid_bce_case(1, 1);
    sigmoid_bce_case(300, 300);
    sigmoid_bce_case(1000, 2500);
    optimizer_case(1);
    optimizer_case(3001);
    u8_to_float_case(1);
    u8_to_float_case(777);
    convert_case(1, 1);
    convert_case(33, 65);
    transpose_case(1, 1);
    transpose_case(1, 100);
    transpose_case(100, 1);
    transpose_case(32, 32);
    transpose_case(33, 65);
    for (int C = 1; C <= 9; C += 2) channels_case(C, (C + 7) / 8 * 8, 37, 5);
    channels_case(3, 16, 5, 2);
    // Grid-stride loops that wrap: more elements than the capped grid's
    // 65536 x 256 threads.
    const size_t wrap = (size_t)65536 * 256 + 4099;
    bias_relu_case(KERNEL_BF16, (int)(wrap / 259), 259);
    relu_backward_case(wrap);
    u8_to_float_case(wrap);
    int failed = check_summary("test_kernels");
    printf("test_kernels: %ld launches emulated\n", emu_launches());
    backend_close(cpu);
    return failed;
}
#endif
