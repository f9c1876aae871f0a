// sgd_nesterov: one step of PyTorch's SGD(momentum, nesterov=True,
// weight_decay) over the whole parameter buffer:
//   g += wd*p; buf = momentum*buf + g; p -= lr * (g + momentum*buf)
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

__global__ static void sgd_nesterov(float *p, const float *g, float *buf, size_t n, float lr,
                                    float momentum, float wd) {
    GRID_STRIDE_LOOP(i, n) {
        float gi = g[i] + wd * p[i];
        float b = momentum * buf[i] + gi;
        buf[i] = b;
        p[i] -= lr * (gi + momentum * b);
    }
}

extern "C" void kernel_sgd_nesterov(cudaStream_t s, float *p, const float *g, float *buf, size_t n,
                                    float lr, float momentum, float wd) {
    if (!n) return;
    KERNEL_REQUIRE(p && g && buf && p != buf, "sgd_nesterov", "n=%zu", n);
    KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, sgd_nesterov)(p, g, buf, n, lr, momentum, wd);
    KERNEL_LAUNCHED("sgd_nesterov");
}
