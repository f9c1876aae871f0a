// check: the one way CUDA failures are reported, shared by the kernel
// launchers and backend_cuda.c.
//
// Backend operations return void (the model issues dozens per step and a
// device fault is not something a caller can repair), so a failed CUDA
// call inside an operation prints where it happened, what failed and a hint
// for the user, then aborts, as the CPU backend does when it runs out of
// memory. Failures while opening the backend go through Err instead (see
// backend_cuda.c), so `--device auto` can fall back to the CPU.
#ifndef SIAMESE_KERNELS_CHECK_H
#define SIAMESE_KERNELS_CHECK_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

// Prints "siamese: FILE:LINE: WHAT: DETAIL\n  hint: HINT" on stderr and aborts.
void cuda_fail(const char *file, int line, const char *what, const char *hint, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 5, 6)));

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
            cuda_fail(__FILE__, __LINE__, #call, cuda_error_hint(s_), "%s (%s)",           \
                      cudaGetErrorString(s_), cudaGetErrorName(s_));                       \
    } while (0)

// A launcher's argument check: a violation is a bug in the caller.
#define KERNEL_REQUIRE(cond, kernel, ...)                                                  \
    do {                                                                                   \
        if (!(cond))                                                                       \
            cuda_fail(__FILE__, __LINE__, kernel,                                          \
                      "this is a bug in siamese, not in your data: please report it",      \
                      "needs " #cond ": " __VA_ARGS__);                                    \
    } while (0)

// After a launch: a bad configuration shows now, a fault in the kernel at
// the next synchronising call (named in that call's report).
#define KERNEL_LAUNCHED(kernel)                                                            \
    do {                                                                                   \
        cudaError_t s_ = cudaGetLastError();                                               \
        if (s_ != cudaSuccess)                                                             \
            cuda_fail(__FILE__, __LINE__, "launching " kernel, cuda_error_hint(s_),        \
                      "%s (%s)", cudaGetErrorString(s_), cudaGetErrorName(s_));            \
    } while (0)

#endif
