// float_to_bf16: the rounding of mixed precision (--amp bf16). Before a
// convolution or a dense product in bfloat16, its float32 operands (an
// activation, an output gradient, a dense kernel) are copied as bfloat16:
// float32's exponent, 8 bits of mantissa, rounded to nearest even, as
// PyTorch's autocast casts them.
#include <cuda_bf16.h>

#include "check.h"
#include "kernels.h"
#include "launch.cuh"

__global__ static void float_to_bf16(__nv_bfloat16 *dst, const float *src, size_t n) {
    GRID_STRIDE_LOOP(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

extern "C" void kernel_float_to_bf16(cudaStream_t s, uint16_t *dst, const float *src, size_t n) {
    if (!n) return;
    KERNEL_REQUIRE(dst && src, "float_to_bf16", "n=%zu", n);
    KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, float_to_bf16)((__nv_bfloat16 *)dst, src, n);
    KERNEL_LAUNCHED("float_to_bf16");
}
