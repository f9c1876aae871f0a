// maxpool: the 2x2, stride-2, 'valid' max-pool with its window maxima kept:
// the forward pass writes, beside each maximum, which element of the window
// it was (0 top left, 1 top right, 2 bottom left, 3 bottom right: the first
// in row-major order, as PyTorch routes ties), and the backward pass reads
// that byte instead of the window's four inputs and its output.
//
// Both run over rows of the tensor (an image row: n*H + y), a block's
// threads across the row's W*C values (consecutive channels: coalesced),
// with 32-bit indices (the backend keeps tensors under 2^31 elements); the
// grid's y loops when there are more rows than it has blocks. The
// activations are float32 or bfloat16 (element.cuh): a maximum is copied,
// never rounded, so both storages route alike.
#include "check.h"
#include "element.cuh"
#include "kernels.h"
#include "launch.cuh"

#define THREADS 256
#define MAX_GRID_ROWS 65535

// out, argmax: (N,OH,OW,C); row = n*OH + oy. argmax may be NULL (inference).
template <typename T>
__global__ static void maxpool2_forward_argmax(T *out, unsigned char *argmax, const T *in,
                                               int rows, int OH, int H, int W, int C) {
    const int OW = W / 2, row_len = OW * C;
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= row_len) return;
    const int ox = j / C, c = j - ox * C;
    for (int row = blockIdx.y; row < rows; row += gridDim.y) {
        const int n = row / OH, oy = row - n * OH;
        const int q0 = ((n * H + 2 * oy) * W + 2 * ox) * C + c;
        const T v[4] = {in[q0], in[q0 + C], in[q0 + W * C], in[q0 + W * C + C]};
        int best = 0;
        for (int k = 1; k < 4; k++)
            if (to_float(v[k]) > to_float(v[best])) best = k;  // strictly: the first maximum stays
        out[row * row_len + j] = v[best];
        if (argmax) argmax[row * row_len + j] = (unsigned char)best;
    }
}

// din: (N,H,W,C), every element written; row = n*H + y.
template <typename T>
__global__ static void maxpool2_backward_argmax(T *din, const T *dout, const unsigned char *argmax,
                                                int rows, int H, int W, int C) {
    const int OH = H / 2, OW = W / 2, row_len = W * C;
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= row_len) return;
    const int x = j / C, c = j - x * C, ox = x >> 1;
    for (int row = blockIdx.y; row < rows; row += gridDim.y) {
        const int n = row / H, y = row - n * H, oy = y >> 1;
        T g = from_float<T>(0.0f);
        if (oy < OH && ox < OW) {  // the odd last row/column is outside every window
            const int o = ((n * OH + oy) * OW + ox) * C + c;
            if (argmax[o] == ((y & 1) << 1 | (x & 1))) g = dout[o];
        }
        din[row * row_len + j] = g;
    }
}

static dim3 grid_of(int row_len, int rows) {
    return dim3((row_len + THREADS - 1) / THREADS, rows < MAX_GRID_ROWS ? rows : MAX_GRID_ROWS);
}

extern "C" void kernel_maxpool2_forward_argmax(cudaStream_t s, void *out, unsigned char *argmax,
                                               const void *in, int N, int H, int W, int C,
                                               KernelType t) {
    KERNEL_REQUIRE(out && in && N > 0 && H >= 2 && W >= 2 && C > 0 &&
                       (long long)N * H * W * C <= 0x7fffffffLL,
                   "maxpool2_forward_argmax", "N=%d H=%d W=%d C=%d", N, H, W, C);
    const int rows = N * (H / 2);
    ELEMENT_LAUNCH(t, maxpool2_forward_argmax, grid_of(W / 2 * C, rows), THREADS, s, (T *)out,
                   argmax, (const T *)in, rows, H / 2, H, W, C);
    KERNEL_LAUNCHED("maxpool2_forward_argmax");
}

extern "C" void kernel_maxpool2_backward_argmax(cudaStream_t s, void *din, const void *dout,
                                                const unsigned char *argmax, int N, int H, int W,
                                                int C, KernelType t) {
    KERNEL_REQUIRE(din && dout && argmax && N > 0 && H > 0 && W > 0 && C > 0 &&
                       (long long)N * H * W * C <= 0x7fffffffLL,
                   "maxpool2_backward_argmax", "N=%d H=%d W=%d C=%d", N, H, W, C);
    const int rows = N * H;
    ELEMENT_LAUNCH(t, maxpool2_backward_argmax, grid_of(W * C, rows), THREADS, s, (T *)din,
                   (const T *)dout, argmax, rows, H, W, C);
    KERNEL_LAUNCHED("maxpool2_backward_argmax");
}
