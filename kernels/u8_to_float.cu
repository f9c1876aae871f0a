// u8_to_float: the last step of preprocessing on the GPU. A batch crosses
// the bus as 8-bit pixels (a quarter of the bytes of floats) and becomes
// the network's input here, with the same arithmetic as image_to_input:
// x = v / 255, then 1 - x when the model was trained on inverted images.
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

__global__ static void u8_to_float(float *dst, const unsigned char *src, size_t n, int invert) {
    GRID_STRIDE_LOOP(i, n) {
        float x = src[i] / 255.0f;  // IEEE division (nvcc's default), as on the CPU
        dst[i] = invert ? 1.0f - x : x;
    }
}

extern "C" void kernel_u8_to_float(cudaStream_t s, float *dst, const unsigned char *src, size_t n,
                                   int invert) {
    if (!n) return;
    KERNEL_REQUIRE(dst && src, "u8_to_float", "n=%zu", n);
    KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, u8_to_float)(dst, src, n, invert);
    KERNEL_LAUNCHED("u8_to_float");
}
