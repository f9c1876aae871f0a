// cpuwait: see cpuwait.h.
#include "cpuwait.h"

#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static pid_t thread_id(void) { return (pid_t)syscall(SYS_gettid); }

// Nanoseconds thread tid has waited in a run queue, or -1.
static long long run_queue_wait(pid_t tid) {
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
    const int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    unsigned long long on_cpu, waited;
    return sscanf(buf, "%llu %llu", &on_cpu, &waited) == 2 ? (long long)waited : -1;
}

// The team's summed run-queue wait, or -1.
static long long team_wait(const CpuWait *w) {
    long long sum = 0;
    for (int i = 0; i < w->n; i++) {
        const long long t = run_queue_wait(w->tids[i]);
        if (t < 0) return -1;
        sum += t;
    }
    return sum;
}

// Learns the threads of the caller's OpenMP team of `threads` (libgomp and
// libomp keep a pool per calling thread and give a team's places to the
// same threads each time).
static void learn_team(CpuWait *w, pid_t me, int threads) {
    if (threads > CPUWAIT_THREADS_MAX) threads = CPUWAIT_THREADS_MAX;
    int n = 0;
#pragma omp parallel num_threads(threads)
    {
#pragma omp single
        n = omp_get_num_threads();
        w->tids[omp_get_thread_num()] = thread_id();
    }
    w->caller = me;
    w->n = n;
    w->window_start = 0;
}

int cpuwait_busy(CpuWait *w, int threads) {
    if (threads < 2) return 0;
    const double now = seconds();
    if (now < w->busy_until) return 1;
    const pid_t me = thread_id();
    if (me != w->caller || (threads < CPUWAIT_THREADS_MAX ? threads : CPUWAIT_THREADS_MAX) != w->n)
        learn_team(w, me, threads);
    if (w->window_start && now - w->window_start < CPUWAIT_WINDOW_S) return 0;
    const long long waited = team_wait(w);
    if (waited < 0) return 0;  // no statistics: never busy
    const int busy = w->window_start &&
                     1e-9 * (double)(waited - w->waited) >=
                         CPUWAIT_BUSY_SHARE * (now - w->window_start);
    if (busy) {
        w->busy_until = now + CPUWAIT_HOLD_S;
        w->window_start = 0;  // the next window opens after the hold
        return 1;
    }
    w->window_start = now;
    w->waited = waited;
    return 0;
}
