// bias_relu: a dense layer's bias and optional ReLU after its cuBLAS GEMM.
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

__global__ static void bias_relu(float *x, const float *bias, size_t n, int cols, int relu) {
    GRID_STRIDE_LOOP(i, n) {
        float v = x[i] + bias[i % cols];
        x[i] = relu && v < 0.0f ? 0.0f : v;  // NaN stays NaN, as on the CPU
    }
}

extern "C" void kernel_bias_relu(cudaStream_t s, float *x, const float *bias, int rows, int cols,
                                 int relu) {
    KERNEL_REQUIRE(x && bias && rows > 0 && cols > 0, "bias_relu", "rows=%d cols=%d", rows, cols);
    size_t n = (size_t)rows * cols;
    bias_relu<<<kernel_grid(n), KERNEL_BLOCK, 0, s>>>(x, bias, n, cols, relu);
    KERNEL_LAUNCHED("bias_relu");
}
