// check: the one way CUDA failures are reported, shared by the kernel
// launchers and backend_cuda.c.
//
// Backend operations return void (the model issues dozens per step, and
// most device faults show only at a later synchronising call), so a failed
// CUDA call inside an operation ends that operation and is recorded in the
// Backend with where it happened, what failed and a hint for the user
// (backend.h, "Failures": backend_op_fail); the caller finds it at its next
// check. Out of memory leaves the device usable (the trainer then saves its
// checkpoint); anything else is a fault. Every function that makes such
// calls runs inside an operation (BACKEND_OP), and holds no resource across
// them. Failures while opening the backend go through Err instead (see
// backend_cuda.c), so `--device auto` can fall back to the CPU.
#ifndef SIAMESE_KERNELS_CHECK_H
#define SIAMESE_KERNELS_CHECK_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

// Ends the operation in progress with the failure "FILE:LINE: WHAT:
// DETAIL; hint: HINT", as out of memory when out_of_memory, else as a fault.
void cuda_fail(const char *file, int line, int out_of_memory, const char *what, const char *hint,
               const char *fmt, ...) __attribute__((noreturn, format(printf, 6, 7)));

// A sentence telling the user what to do about s ("" when there is nothing
// better to say than the error string itself).
const char *cuda_error_hint(cudaError_t s);

#ifdef __cplusplus
}
#endif

// Every CUDA runtime call inside an operation goes through this.
#define CUDA_CHECK(call)                                                                   \
    do {                                                                                   \
        cudaError_t s_ = (call);                                                           \
        if (s_ != cudaSuccess)                                                             \
            cuda_fail(__FILE__, __LINE__, s_ == cudaErrorMemoryAllocation, #call,          \
                      cuda_error_hint(s_), "%s (%s)", cudaGetErrorString(s_),              \
                      cudaGetErrorName(s_));                                               \
    } while (0)

// A launcher's argument check: a violation is a bug in the caller.
#define KERNEL_REQUIRE(cond, kernel, ...)                                                  \
    do {                                                                                   \
        if (!(cond))                                                                       \
            cuda_fail(__FILE__, __LINE__, 0, kernel,                                       \
                      "this is a bug in siamese, not in your data: please report it",      \
                      "needs " #cond ": " __VA_ARGS__);                                    \
    } while (0)

// After a launch: a bad configuration shows now, a fault in the kernel at
// the next synchronising call (named in that call's report).
#define KERNEL_LAUNCHED(kernel)                                                            \
    do {                                                                                   \
        cudaError_t s_ = cudaGetLastError();                                               \
        if (s_ != cudaSuccess)                                                             \
            cuda_fail(__FILE__, __LINE__, s_ == cudaErrorMemoryAllocation,                 \
                      "launching " kernel, cuda_error_hint(s_), "%s (%s)",                 \
                      cudaGetErrorString(s_), cudaGetErrorName(s_));                       \
    } while (0)

#endif
