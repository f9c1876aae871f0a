// element: the two storages of an activation (backend.h: BackendActType),
// float32 and bfloat16, for kernels written once over both (templates on
// T). Arithmetic is float32 whatever T: values are widened on reading and
// rounded to nearest even on writing, as PyTorch's autocast stores them.
#ifndef SIAMESE_KERNELS_ELEMENT_CUH
#define SIAMESE_KERNELS_ELEMENT_CUH

#include <cuda_bf16.h>

#include "kernels.h"
#include "launch.cuh"

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

// Launches kernel<float> or kernel<__nv_bfloat16> by t (KernelType), the
// activations' storage. The arguments may name T, the element type of the
// branch they land in: ELEMENT_LAUNCH(t, k, grid, block, s, (T *)out, n).
#define ELEMENT_LAUNCH(t, kernel, grid, block, stream, ...)                           \
    do {                                                                              \
        if ((t) == KERNEL_BF16) {                                                     \
            typedef __nv_bfloat16 T;                                                  \
            KERNEL_LAUNCH(grid, block, stream, kernel<T>)(__VA_ARGS__);               \
        } else {                                                                      \
            typedef float T;                                                          \
            KERNEL_LAUNCH(grid, block, stream, kernel<T>)(__VA_ARGS__);               \
        }                                                                             \
    } while (0)

#endif
