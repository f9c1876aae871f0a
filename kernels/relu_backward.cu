// relu_backward: the ReLU's gradient from its output: dx = dy where y > 0.
// Done in place on the model's gradient buffer (dx == dy) before each
// convolution's backward pass.
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

__global__ static void relu_backward(float *dx, const float *dy, const float *y, size_t n) {
    GRID_STRIDE_LOOP(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

extern "C" void kernel_relu_backward(cudaStream_t s, float *dx, const float *dy, const float *y,
                                     size_t n) {
    if (!n) return;
    KERNEL_REQUIRE(dx && dy && y, "relu_backward", "n=%zu", n);
    KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, relu_backward)(dx, dy, y, n);
    KERNEL_LAUNCHED("relu_backward");
}
