// kernel_emu: our CUDA kernels (kernels/*.cu) compiled as host C++ and run
// on the CPU, so that tests/test_kernels.cpp checks each against the CPU
// reference on any machine, without a GPU. The Makefile compiles every
// kernels/*.cu but check.cu with g++ -x c++ -include tests/kernel_emu.h;
// the kernels' launches go through KERNEL_LAUNCH (kernels/launch.cuh),
// which is <<<grid, block, 0, stream>>> under nvcc and emu_launch here.
//
// What it emulates:
//  - the launch: every block of the grid, every thread of a block, with
//    threadIdx, blockIdx, blockDim and gridDim set as the GPU sets them,
//    and CUDA's limits on the configuration (a block of at most 1024
//    threads, 1024 in x and y, 64 in z; grid.y and grid.z at most 65535):
//    a launch beyond them runs nothing and leaves
//    cudaErrorInvalidConfiguration for cudaGetLastError, as on a GPU;
//  - __syncthreads as a real barrier: the threads of a block are fibers
//    (ucontext) on one host thread, and each runs until it reaches the
//    barrier or ends; a barrier some threads reach while others have ended
//    (divergent) stops the program with a message. A fiber costs context
//    switches (system calls) per thread, so a kernel whose first block
//    reaches no barrier is run from then on as plain calls, one thread
//    after the other (the grid-stride loops take millions); if such a
//    kernel reaches one later (a barrier on a path its first block did not
//    take) the program stops and says so;
//  - __shared__ memory: one static array per kernel, which the block's
//    fibers share (blocks run one at a time);
//  - bfloat16: cuda_bf16.h's own host functions (__float2bfloat16_rn and
//    __bfloat162float round as the device does);
//  - threads in a different order in alternate blocks (forward, then
//    backward), so that a result that depends on the order of threads
//    without a barrier between them (a race) shows as a mismatch.
//
// What it cannot emulate:
//  - warps: no warp-synchronous behaviour, shuffles, votes or warp-level
//    atomics (our kernels use none); no atomics at all;
//  - the memory model: blocks run one after another and every write is
//    seen at once, so a race between blocks, or a read of another thread's
//    write without a barrier that happens to follow it in the order here,
//    passes; memory is host memory (no coalescing, no alignment faults: the
//    test puts guard pages after its buffers to catch reads and writes
//    past their ends);
//  - device arithmetic: the host's libm (exp, log1p) rather than CUDA's
//    (both within 1-2 ulp), and no multiply-add contraction (nvcc fuses
//    a*b + c by default; the host build uses -ffp-contract=off as the CPU
//    reference does), so element-wise results that are exact here may
//    differ from the GPU's in the last bit;
//  - timing, streams (each launch runs to its end when called), occupancy,
//    and shared-memory or register limits.
#ifndef SIAMESE_TESTS_KERNEL_EMU_H
#define SIAMESE_TESTS_KERNEL_EMU_H

#ifdef __CUDACC__
#error "kernel_emu.h is for compiling kernels as host code, not for nvcc"
#endif

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stddef.h>

#include <tuple>
#include <utility>

// The CUDA headers leave these defined for a host compiler (some as
// attributes it does not know): here a kernel is a plain function and its
// shared memory a static array.
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

// The thread the emulator is running (set before each thread runs or resumes).
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

// CUDA's device min for ints (the host has std::min only).
static inline int min(int a, int b) { return a < b ? a : b; }

// Runs body(ctx) for every thread of grid x block (kernel names the kernel:
// whether it reaches barriers is learned once per kernel).
void emu_run(dim3 grid, dim3 block, const void *kernel, void (*body)(void *), void *ctx);
void __syncthreads(void);
// Launches so far (the test checks that a call launched at all).
long emu_launches(void);

// What KERNEL_LAUNCH(grid, block, stream, kernel) gives: called with the
// kernel's arguments, it converts them to the parameters' types (as a
// launch does), then runs the grid.
template <typename... P> struct EmuLaunch {
    dim3 grid, block;
    void (*kernel)(P...);
    template <typename... A> void operator()(A &&...args) const {
        std::tuple<P...> params(std::forward<A>(args)...);
        auto call = [&] { std::apply(kernel, params); };
        emu_run(grid, block, (const void *)kernel, [](void *c) { (*(decltype(call) *)c)(); },
                &call);
    }
};
template <typename... P>
EmuLaunch<P...> emu_launch(dim3 grid, dim3 block, cudaStream_t, void (*kernel)(P...)) {
    return EmuLaunch<P...>{grid, block, kernel};
}

// ---- the emulator itself, in the one file that defines KERNEL_EMU_MAIN ----------------
#ifdef KERNEL_EMU_MAIN
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <map>
#include <vector>

namespace {
enum FiberState { FIBER_READY, FIBER_AT_BARRIER, FIBER_DONE };
struct Fiber {
    ucontext_t ctx;
    char *stack;
    FiberState state;
    dim3 idx;
};
const size_t FIBER_STACK = 256 * 1024;  // kernels keep a few locals; libm may use more
std::vector<Fiber> fibers;              // one per thread of the largest block so far
ucontext_t scheduler;
Fiber *running;  // the fiber running now; NULL when threads are plain calls
void (*block_body)(void *);
void *block_ctx;
bool block_reached_barrier;
std::map<const void *, bool> kernel_has_barrier;  // learned from each kernel's first block
cudaError_t last_error = cudaSuccess;
long launches;

[[noreturn]] void emu_die(const char *what) {
    fprintf(stderr, "kernel_emu: %s\n", what);
    abort();
}

void fiber_entry() {
    block_body(block_ctx);
    running->state = FIBER_DONE;  // back to the scheduler through uc_link
}

// One block as fibers: rounds in which every thread runs to the barrier or
// its end, until all have ended.
void run_block_fibers(unsigned nt, bool backward) {
    if (fibers.size() < nt) {
        size_t had = fibers.size();
        fibers.resize(nt);
        for (size_t t = had; t < nt; t++) {
            void *s = mmap(NULL, FIBER_STACK, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (s == MAP_FAILED) emu_die("no memory for a fiber's stack");
            fibers[t].stack = (char *)s;
        }
    }
    for (unsigned t = 0; t < nt; t++) {
        Fiber &f = fibers[t];
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack;
        f.ctx.uc_stack.ss_size = FIBER_STACK;
        f.ctx.uc_link = &scheduler;
        makecontext(&f.ctx, fiber_entry, 0);
        f.state = FIBER_READY;
        f.idx = dim3(t % blockDim.x, t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y));
    }
    for (;;) {
        unsigned at_barrier = 0, done = 0;
        for (unsigned k = 0; k < nt; k++) {
            Fiber &f = fibers[backward ? nt - 1 - k : k];
            if (f.state == FIBER_READY) {
                running = &f;
                threadIdx = f.idx;
                swapcontext(&scheduler, &f.ctx);
                running = NULL;
            }
            at_barrier += f.state == FIBER_AT_BARRIER;
            done += f.state == FIBER_DONE;
        }
        if (done == nt) return;
        if (done) emu_die("__syncthreads reached by some threads of a block after others ended");
        for (unsigned t = 0; t < nt; t++) fibers[t].state = FIBER_READY;
    }
}

void run_block_plain(unsigned nt, bool backward) {
    for (unsigned k = 0; k < nt; k++) {
        const unsigned t = backward ? nt - 1 - k : k;
        threadIdx = dim3(t % blockDim.x, t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y));
        block_body(block_ctx);
    }
}
}  // namespace

void __syncthreads(void) {
    if (!running)
        emu_die("__syncthreads in a kernel whose first block reached none: a barrier on a path "
                "that not every block takes (tests/kernel_emu.h)");
    block_reached_barrier = true;
    running->state = FIBER_AT_BARRIER;
    swapcontext(&running->ctx, &scheduler);
}

long emu_launches(void) { return launches; }

void emu_run(dim3 grid, dim3 block, const void *kernel, void (*body)(void *), void *ctx) {
    launches++;
    const unsigned long long nt = (unsigned long long)block.x * block.y * block.z;
    if (!nt || nt > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 || !grid.x ||
        !grid.y || !grid.z || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    gridDim = grid;
    blockDim = block;
    block_body = body;
    block_ctx = ctx;
    auto learned = kernel_has_barrier.find(kernel);
    bool fibers_needed = learned == kernel_has_barrier.end() || learned->second;
    unsigned long long linear = 0;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++, linear++) {
                blockIdx = dim3(x, y, z);
                if (fibers_needed) {
                    block_reached_barrier = false;
                    run_block_fibers((unsigned)nt, linear & 1);
                    if (learned == kernel_has_barrier.end()) {
                        learned = kernel_has_barrier.emplace(kernel, block_reached_barrier).first;
                        fibers_needed = block_reached_barrier;
                    }
                } else {
                    run_block_plain((unsigned)nt, linear & 1);
                }
            }
}

// The runtime calls that kernels/check.h makes after a launch.
extern "C" cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
extern "C" const char *cudaGetErrorString(cudaError_t e) {
    return e == cudaErrorInvalidConfiguration ? "invalid configuration argument"
                                              : "error (kernel_emu)";
}
extern "C" const char *cudaGetErrorName(cudaError_t e) {
    return e == cudaErrorInvalidConfiguration ? "cudaErrorInvalidConfiguration"
                                              : "cudaError (kernel_emu)";
}
#endif

#endif
