// maxpool_backward: the gradient of the 2x2, stride-2, 'valid' max-pool.
//
// cuDNN computes the forward pass, but its backward pass does not document
// which element of a window with tied maxima gets the gradient; the
// contract (backend.h, and PyTorch) says the first in row-major order. So
// one thread per INPUT element: it finds its window's first maximum and
// writes dout there, 0 elsewhere. Every element of din is written once, so
// no zeroing pass and no atomics; consecutive threads take consecutive
// channels, so reads and writes are coalesced. Float32 or bfloat16
// activations (element.cuh): the output is a copy of a window's element,
// so equality finds it in either storage.
#include "check.h"
#include "element.cuh"
#include "kernels.h"
#include "launch.cuh"

template <typename T>
__global__ static void maxpool2_backward(T *din, const T *dout, const T *in, const T *out, size_t n,
                                         int H, int W, int C) {
    const int OH = H / 2, OW = W / 2;
    GRID_STRIDE_LOOP(i, n) {
        const int c = (int)(i % C);
        const int x = (int)(i / C % W), y = (int)(i / ((size_t)C * W) % H);
        const size_t img = i / ((size_t)C * W * H);
        const int oy = y / 2, ox = x / 2;
        T g = from_float<T>(0.0f);
        if (oy < OH && ox < OW) {  // the odd last row/column is outside every window
            const size_t o = ((img * OH + oy) * OW + ox) * C + c;
            const float m = to_float(out[o]);
            const size_t q0 = ((img * H + 2 * oy) * W + 2 * ox) * C + c;
            const size_t q1 = q0 + C, q2 = q0 + (size_t)W * C, q3 = q2 + C;
            const size_t first = to_float(in[q0]) == m   ? q0
                                 : to_float(in[q1]) == m ? q1
                                 : to_float(in[q2]) == m ? q2
                                 : to_float(in[q3]) == m ? q3
                                                         : (size_t)-1;
            if (first == i) g = dout[o];
        }
        din[i] = g;
    }
}

extern "C" void kernel_maxpool2_backward(cudaStream_t s, void *din, const void *dout,
                                         const void *in, const void *out, int N, int H, int W,
                                         int C, KernelType t) {
    KERNEL_REQUIRE(din && dout && in && out && N > 0 && H > 0 && W > 0 && C > 0,
                   "maxpool2_backward", "N=%d H=%d W=%d C=%d", N, H, W, C);
    size_t n = (size_t)N * H * W * C;
    ELEMENT_LAUNCH(t, maxpool2_backward, kernel_grid(n), KERNEL_BLOCK, s, (T *)din,
                   (const T *)dout, (const T *)in, (const T *)out, n, H, W, C);
    KERNEL_LAUNCHED("maxpool2_backward");
}
