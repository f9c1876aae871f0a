// bias_relu: a layer's bias and optional ReLU after its product: a dense
// layer's cuBLAS GEMM (float32), or a convolution's cuDNN pass where they
// are not fused (float32 or bfloat16 activations: element.cuh).
#include "check.h"
#include "element.cuh"
#include "kernels.h"
#include "launch.cuh"

template <typename T>
__global__ static void bias_relu(T *x, const float *bias, size_t n, int cols, int relu) {
    GRID_STRIDE_LOOP(i, n) {
        float v = to_float(x[i]) + bias[i % cols];
        x[i] = from_float<T>(relu && v < 0.0f ? 0.0f : v);  // NaN stays NaN, as on the CPU
    }
}

extern "C" void kernel_bias_relu(cudaStream_t s, void *x, const float *bias, int rows, int cols,
                                 int relu, KernelType t) {
    KERNEL_REQUIRE(x && bias && rows > 0 && cols > 0, "bias_relu", "rows=%d cols=%d", rows, cols);
    size_t n = (size_t)rows * cols;
    ELEMENT_LAUNCH(t, bias_relu, kernel_grid(n), KERNEL_BLOCK, s, (T *)x, bias, n, cols, relu);
    KERNEL_LAUNCHED("bias_relu");
}
