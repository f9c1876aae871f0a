// check: cuda_fail and the hints for the CUDA runtime's errors.
#include <stdarg.h>
#include <stdio.h>

#include "../engine/backend.h"
#include "check.h"

extern "C" void cuda_fail(const char *file, int line, int out_of_memory, const char *what,
                          const char *hint, const char *fmt, ...) {
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    backend_op_fail(out_of_memory ? BACKEND_OUT_OF_MEMORY : BACKEND_FAULT, "%s:%d: %s: %s%s%s",
                    file, line, what, detail, hint && *hint ? "; hint: " : "", hint ? hint : "");
}

extern "C" const char *cuda_error_hint(cudaError_t s) {
    switch (s) {
    case cudaErrorNoDevice:
        return "no CUDA GPU is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES, or use "
               "--device cpu";
    case cudaErrorInsufficientDriver:
        return "the NVIDIA driver is missing or too old for this build's CUDA runtime: install "
               "or update it, or use --device cpu";
    case cudaErrorInvalidDevice:
        return "no GPU has that index: see nvidia-smi for the GPUs present";
    case cudaErrorMemoryAllocation:
        return "the GPU is out of memory: use a smaller batch size, or free the GPU (nvidia-smi "
               "lists the processes using it)";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidPtx:
    case cudaErrorUnsupportedPtxVersion:
        return "this build holds code for sm_90 and PTX for compute_90: rebuild with "
               "CUDA_ARCH set for your GPU (see cuda.mk), or update the driver";
    case cudaErrorDevicesUnavailable:
        return "the GPU is busy or in exclusive mode: another process holds it";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
        return "a kernel faulted: rerun with CUDA_LAUNCH_BLOCKING=1 to find which; this is a "
               "bug in siamese";
    default:
        return "";
    }
}
