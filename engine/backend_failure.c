// backend_failure: how a failed operation reaches the caller (backend.h,
// "Failures"). Both backends use it: the program's copy serves the CPU
// backend, and libsiamese_cuda.so links its own (cuda.mk).
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "profile.h"

// The operation in progress on this thread (innermost first).
static _Thread_local BackendOpFrame *current;

int backend_check(const Backend *b, Err *e) {
    if (b->failure == BACKEND_OK) return 0;
    return err_set(e, "%s", b->failure_msg);
}

int backend_recover(Backend *b) {
    if (b->failure == BACKEND_FAULT) return -1;
    b->failure = BACKEND_OK;
    b->failure_msg[0] = '\0';
    return 0;
}

// An outermost operation is timed when a profile is attached (profile.h).
int backend_op_begin(BackendOpFrame *f) {
    if (f->b->failure != BACKEND_OK) return 1;
    f->outer = current;
    current = f;
    if (!f->outer) profile_op_begin(f->b, f->op);
    return 0;
}

// (The frame of an operation that did not start was never current.)
void backend_op_end(BackendOpFrame *f) {
    if (current != f) return;
    current = f->outer;
    if (!f->outer) profile_op_end(f->b);
}

void backend_op_fail(BackendFailure kind, const char *fmt, ...) {
    char msg[sizeof ((Backend *)0)->failure_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    BackendOpFrame *f = current;
    if (!f) {
        fprintf(stderr, "siamese: %s\n  (a failure outside any backend operation: this is a bug "
                        "in siamese, please report it)\n", msg);
        abort();
    }
    // Operations start only on a backend that has not failed, so this is the first.
    f->b->failure = kind;
    snprintf(f->b->failure_msg, sizeof f->b->failure_msg, "%s", msg);
    longjmp(f->on_fail, 1);
}

// ---- SIAMESE_INJECT_OOM ------------------------------------------------------------

static long inject_at;         // the operation to fail, 1-based; 0: none
static atomic_long ops_begun;  // operations of the process so far
static pthread_once_t inject_once = PTHREAD_ONCE_INIT;

static void read_inject_env(void) {
    const char *s = getenv("SIAMESE_INJECT_OOM");
    if (s && *s) inject_at = strtol(s, NULL, 10);
}

void backend_op_injected(void) {
    pthread_once(&inject_once, read_inject_env);
    if (inject_at <= 0) return;
    long n = atomic_fetch_add(&ops_begun, 1) + 1;
    if (n == inject_at)
        backend_op_fail(BACKEND_OUT_OF_MEMORY,
                        "out of memory (injected: SIAMESE_INJECT_OOM=%ld fails operation %ld)",
                        inject_at, n);
}
