// sigmoid_bce: probabilities and the mean binary cross-entropy from logits.
//
// N is a batch of pairs (tens to thousands), so one block does it all; the
// arithmetic is in double as in the CPU reference, and the loss is summed
// by a fixed tree, so the result is the same on every run.
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

#define BCE_THREADS 256

__global__ static void sigmoid_bce_forward(float *prob, float *loss, const float *logit,
                                           const float *y, int N) {
    __shared__ double part[BCE_THREADS];
    double sum = 0.0;
    for (int i = threadIdx.x; i < N; i += BCE_THREADS) {
        double z = logit[i];
        prob[i] = (float)(1.0 / (1.0 + exp(-z)));
        // max(z,0) - z*y + log(1 + exp(-|z|)): never overflows, exact for large |z|.
        if (y) sum += (z > 0 ? z : 0) - z * y[i] + log1p(exp(-fabs(z)));
    }
    part[threadIdx.x] = sum;
    __syncthreads();
    for (int half = BCE_THREADS / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0 && y) *loss = (float)(part[0] / N);
}

__global__ static void sigmoid_bce_backward(float *dlogit, const float *prob, const float *y,
                                            int N, int mean_over) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N) dlogit[i] = (prob[i] - y[i]) / (float)mean_over;
}

extern "C" void kernel_sigmoid_bce_forward(cudaStream_t s, float *prob, float *loss,
                                           const float *logit, const float *y, int N) {
    KERNEL_REQUIRE(N > 0 && prob && logit && (!y || loss), "sigmoid_bce_forward", "N=%d", N);
    KERNEL_LAUNCH(1, BCE_THREADS, s, sigmoid_bce_forward)(prob, loss, logit, y, N);
    KERNEL_LAUNCHED("sigmoid_bce_forward");
}

extern "C" void kernel_sigmoid_bce_backward(cudaStream_t s, float *dlogit, const float *prob,
                                            const float *y, int N, int mean_over) {
    KERNEL_REQUIRE(N > 0 && mean_over >= N && dlogit && prob && y, "sigmoid_bce_backward",
                   "N=%d mean_over=%d", N, mean_over);
    KERNEL_LAUNCH((N + 255) / 256, 256, s, sigmoid_bce_backward)(dlogit, prob, y, N, mean_over);
    KERNEL_LAUNCHED("sigmoid_bce_backward");
}
