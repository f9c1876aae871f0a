// cpuwait: whether other programs keep this process's threads waiting for
// a CPU, from the kernel's scheduler statistics of each thread
// (/proc/self/task/TID/schedstat: time on a CPU, time waiting in a run
// queue).
//
// The CPU backend asks it before a small forward operation (backend_cpu.c,
// forward_threads): on a quiet machine one pair of the compact network is
// fastest on every core, but where other programs compete for the cores a
// thread woken for a fraction of a millisecond costs more than it brings
// (OpenMP's idle threads spin, a partner the scheduler has put aside holds
// up the whole loop), and one thread is faster, or far faster.
#ifndef SIAMESE_CPUWAIT_H
#define SIAMESE_CPUWAIT_H

#include <sys/types.h>

#define CPUWAIT_THREADS_MAX 64

// One watcher per backend; zero-initialised. It watches the OpenMP threads
// of the thread that calls it (the team an operation of `threads` threads
// would run on).
typedef struct CpuWait {
    pid_t caller;                     // the thread whose team is known (0: none yet)
    int n;                            // that team's threads, tids[0] the caller
    pid_t tids[CPUWAIT_THREADS_MAX];
    double window_start;              // seconds (CLOCK_MONOTONIC); 0: no window open
    long long waited;                 // the team's run-queue wait at window_start, ns
    double busy_until;                // seconds: counted busy until then
} CpuWait;

// 1 while the machine counts as busy, else 0. The team's time waiting in
// run queues is summed over windows of CPUWAIT_WINDOW_S; a window in which
// it waited CPUWAIT_BUSY_SHARE of the window's length or more makes the
// machine busy for CPUWAIT_HOLD_S, after which the next window looks again.
// Costs a clock reading a call, and reading the team's statistics once a
// window. Without /proc (or for one thread) it always says 0.
int cpuwait_busy(CpuWait *w, int threads);

#define CPUWAIT_WINDOW_S 0.02
#define CPUWAIT_BUSY_SHARE 0.10
#define CPUWAIT_HOLD_S 1.0

#endif
