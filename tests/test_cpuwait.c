// cpuwait: it learns the calling thread's OpenMP team, and when other
// threads compete for every CPU while the team computes (two spinning
// threads a CPU at the team's own priority, so that the team waits about
// half its time however many CPUs there are) it says the machine is busy
// within a few windows, and stays busy for the hold that follows. (On a
// quiet machine it may say either: other programs may run beside the test.)
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "../engine/cpuwait.h"
#include "check.h"

static atomic_int stop;

static void *spin(void *arg) {
    (void)arg;
    volatile unsigned long x = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) x++;
    return NULL;
}

// About a millisecond of work on each of the team's threads.
static double work(int threads) {
    double sum = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : sum) schedule(static)
    for (int i = 0; i < threads * 200000; i++) sum += (double)(i % 7) * 1e-9;
    return sum;
}

int main(void) {
    CpuWait w;
    memset(&w, 0, sizeof w);
    CHECK(cpuwait_busy(&w, 1) == 0, "one thread is never held up by its partners");
    if (access("/proc/self/task", R_OK)) {
        printf("SKIP: no /proc/self/task here\n");
        return 77;
    }
    cpuwait_busy(&w, 2);
    CHECK(w.n == 2 && w.tids[0] && w.tids[1] && w.tids[0] != w.tids[1],
          "the team of 2 learned: %d threads, ids %d %d", w.n, (int)w.tids[0], (int)w.tids[1]);
    // Every CPU taken by two spinning threads: the team's threads wait.
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    enum { SPINNERS_MAX = 256 };
    pthread_t spinners[SPINNERS_MAX];
    int n = 0;
    for (; n < 2 * cpus && n < SPINNERS_MAX; n++)
        CHECK(pthread_create(&spinners[n], NULL, spin, NULL) == 0, "pthread_create");
    int busy = 0;
    double sink = 0;
    const double until = omp_get_wtime() + 5.0;  // a bound, not a timing: found in a few windows
    while (!busy && omp_get_wtime() < until) {
        sink += work(2);
        busy = cpuwait_busy(&w, 2);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++) pthread_join(spinners[i], NULL);
    CHECK(busy, "a team of 2 beside %d spinning threads on %ld CPUs: never busy (%g)", n, cpus,
          sink);
    CHECK(cpuwait_busy(&w, 2) == 1, "busy, then not held for CPUWAIT_HOLD_S");
    return check_summary("cpuwait");
}
