// adam: one step of PyTorch's Adam (L2 weight decay added to the gradient):
//   g += wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
// The bias corrections are computed once on the host, in double, exactly as
// the CPU reference does, so both backends take the same step.
#include <math.h>

#include "check.h"
#include "kernels.h"
#include "launch.cuh"

__global__ static void adam(float *p, const float *g, float *m, float *v, size_t n, float step,
                            float rbc2, float beta1, float beta2, float eps, float wd) {
    GRID_STRIDE_LOOP(i, n) {
        float gi = g[i] + wd * p[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (sqrtf(vi) * rbc2 + eps);
    }
}

extern "C" void kernel_adam(cudaStream_t s, float *p, const float *g, float *m, float *v, size_t n,
                            float lr, float beta1, float beta2, float eps, float wd, long t) {
    if (!n) return;
    KERNEL_REQUIRE(p && g && m && v && m != v && t >= 1, "adam", "n=%zu t=%ld", n, t);
    const double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    const float step = (float)(lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
    KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, adam)(p, g, m, v, n, step, rbc2, beta1, beta2,
                                                         eps, wd);
    KERNEL_LAUNCHED("adam");
}
