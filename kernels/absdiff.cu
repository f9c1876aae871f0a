// absdiff: the Siamese head's |f1 - f2| and its gradient.
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

__global__ static void absdiff_forward(float *out, const float *x1, const float *x2, size_t n) {
    GRID_STRIDE_LOOP(i, n) out[i] = fabsf(x1[i] - x2[i]);
}

// sign(0) = 0 as PyTorch, so equal features pass no gradient.
__global__ static void absdiff_backward(float *dx1, float *dx2, const float *dout, const float *x1,
                                        const float *x2, size_t n) {
    GRID_STRIDE_LOOP(i, n) {
        float a = x1[i], b = x2[i];
        float d = a > b ? dout[i] : a < b ? -dout[i] : 0.0f;
        dx1[i] = d;
        dx2[i] = -d;
    }
}

extern "C" void kernel_absdiff_forward(cudaStream_t s, float *out, const float *x1,
                                       const float *x2, size_t n) {
    if (!n) return;
    KERNEL_REQUIRE(out && x1 && x2, "absdiff_forward", "n=%zu", n);
    KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, absdiff_forward)(out, x1, x2, n);
    KERNEL_LAUNCHED("absdiff_forward");
}

extern "C" void kernel_absdiff_backward(cudaStream_t s, float *dx1, float *dx2, const float *dout,
                                        const float *x1, const float *x2, size_t n) {
    if (!n) return;
    KERNEL_REQUIRE(dx1 && dx2 && dout && x1 && x2 && dx1 != dx2, "absdiff_backward", "n=%zu", n);
    KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, absdiff_backward)(dx1, dx2, dout, x1, x2, n);
    KERNEL_LAUNCHED("absdiff_backward");
}
