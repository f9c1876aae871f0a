// comm_nccl: see comm_nccl.h.
//
// Communicators are nonblocking (config.blocking = 0): initialisation and
// every all-reduce return at once and this file polls their state, so each
// wait ends after its timeout (a peer died or hangs) with ncclCommAbort
// instead of a hang. The all-reduces run on a stream of their own: each
// waits (an event) for the backend's stream to reach the point where it was
// queued, so a bucket of finished layers' gradients is summed while the
// backward pass computes the earlier layers'; nccl_comm_wait then holds the
// backend's stream (the optimizer step) until the sums are done, and the
// host polls for that, so a failure shows at its step.
#include "comm_nccl.h"

#include <dlfcn.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// NCCL's entry points, from libnccl.so.2 loaded at first use.
static struct {
    void *lib;
    __typeof__(&ncclGetUniqueId) get_unique_id;
    __typeof__(&ncclCommInitRankConfig) init_rank_config;
    __typeof__(&ncclCommGetAsyncError) get_async_error;
    __typeof__(&ncclAllReduce) all_reduce;
    __typeof__(&ncclCommFinalize) finalize;
    __typeof__(&ncclCommDestroy) destroy;
    __typeof__(&ncclCommAbort) abort;
    __typeof__(&ncclGetErrorString) error_string;
} nccl;

struct NcclComm {
    ncclComm_t comm;
    cudaStream_t stream;       // the sums
    cudaEvent_t ready, done;   // the backend's stream reached a sum; the sums are done
    double timeout;
};

static int load_nccl(Err *e) {
    if (nccl.lib) return 0;
    void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return err_set(e, "NCCL is not available (%s): it comes with the CUDA toolkit or the "
                          "nvidia-nccl wheel; put its lib folder on LD_LIBRARY_PATH",
                       dlerror());
#define SYM(field, name)                                                                 \
    if (!(nccl.field = (__typeof__(nccl.field))dlsym(h, name))) {                        \
        dlclose(h);                                                                      \
        return err_set(e, "libnccl.so.2 has no %s: NCCL 2.14 or newer is needed", name); \
    }
    SYM(get_unique_id, "ncclGetUniqueId");
    SYM(init_rank_config, "ncclCommInitRankConfig");
    SYM(get_async_error, "ncclCommGetAsyncError");
    SYM(all_reduce, "ncclAllReduce");
    SYM(finalize, "ncclCommFinalize");
    SYM(destroy, "ncclCommDestroy");
    SYM(abort, "ncclCommAbort");
    SYM(error_string, "ncclGetErrorString");
#undef SYM
    nccl.lib = h;
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void pause_briefly(void) { nanosleep(&(struct timespec){0, 50 * 1000}, NULL); }

static int nccl_error(Err *e, ncclResult_t r, const char *what) {
    return err_set(e, "NCCL %s: %s", what, nccl.error_string(r));
}

// Waits until the communicator has no operation in progress (host side).
static ncclResult_t settle(ncclComm_t comm, double deadline) {
    ncclResult_t state;
    for (;;) {
        ncclResult_t r = nccl.get_async_error(comm, &state);
        if (r != ncclSuccess) return r;
        if (state != ncclInProgress || now_s() > deadline) return state;
        pause_briefly();
    }
}

int nccl_comm_id(void *id, size_t len, Err *e) {
    if (len < sizeof(ncclUniqueId)) return err_set(e, "internal error: NCCL's id needs %zu bytes",
                                                   sizeof(ncclUniqueId));
    if (load_nccl(e)) return -1;
    ncclUniqueId u;
    ncclResult_t r = nccl.get_unique_id(&u);
    if (r != ncclSuccess) return nccl_error(e, r, "ncclGetUniqueId");
    memcpy(id, &u, sizeof u);
    return 0;
}

// Frees what join made (comm aborted or destroyed already, or NULL).
static void comm_free(NcclComm *c) {
    if (c->done) cudaEventDestroy(c->done);
    if (c->ready) cudaEventDestroy(c->ready);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

int nccl_comm_join(NcclComm **out, const void *id, size_t len, int rank, int size, double timeout_s,
                   Err *e) {
    if (len < sizeof(ncclUniqueId))
        return err_set(e, "internal error: NCCL's id needs %zu bytes", sizeof(ncclUniqueId));
    if (load_nccl(e)) return -1;
    NcclComm *c = calloc(1, sizeof *c);
    if (!c) return err_set(e, "out of memory");
    c->timeout = timeout_s;
    cudaError_t s = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (s == cudaSuccess) s = cudaEventCreateWithFlags(&c->ready, cudaEventDisableTiming);
    if (s == cudaSuccess) s = cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming);
    if (s != cudaSuccess) {
        comm_free(c);
        return err_set(e, "NCCL's stream: %s", cudaGetErrorString(s));
    }
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t r = nccl.init_rank_config(&c->comm, size, u, rank, &config);
    if (r == ncclInProgress) r = settle(c->comm, now_s() + timeout_s);
    if (r != ncclSuccess) {
        if (c->comm) nccl.abort(c->comm);
        comm_free(c);
        if (r == ncclInProgress)
            return err_set(e, "NCCL: the ranks did not connect within %.0f s", timeout_s);
        return nccl_error(e, r, "ncclCommInitRankConfig");
    }
    *out = c;
    return 0;
}

int nccl_comm_sum(NcclComm *c, cudaStream_t stream, float *p, size_t n, Err *e) {
    cudaError_t s = cudaEventRecord(c->ready, stream);
    if (s == cudaSuccess) s = cudaStreamWaitEvent(c->stream, c->ready, 0);
    if (s != cudaSuccess) return err_set(e, "queueing the gradient sum: %s", cudaGetErrorString(s));
    ncclResult_t r = nccl.all_reduce(p, p, n, ncclFloat, ncclSum, c->comm, c->stream);
    // (A nonblocking communicator takes the next call once this one is queued.)
    if (r == ncclInProgress) r = settle(c->comm, now_s() + c->timeout);
    if (r == ncclInProgress)
        return err_set(e, "NCCL did not take the gradient sum within %.0f s", c->timeout);
    return r == ncclSuccess ? 0 : nccl_error(e, r, "ncclAllReduce");
}

int nccl_comm_wait(NcclComm *c, cudaStream_t stream, Err *e) {
    const double deadline = now_s() + c->timeout;
    cudaError_t s = cudaEventRecord(c->done, c->stream);
    if (s == cudaSuccess) s = cudaStreamWaitEvent(stream, c->done, 0);
    if (s != cudaSuccess) return err_set(e, "waiting for the gradient sum: %s", cudaGetErrorString(s));
    // Done when the sums' stream has run them; the communicator reports a peer's failure.
    for (;;) {
        s = cudaEventQuery(c->done);
        if (s == cudaSuccess) return 0;
        if (s != cudaErrorNotReady)
            return err_set(e, "the GPU failed during the gradient sum: %s", cudaGetErrorString(s));
        ncclResult_t state;
        if (nccl.get_async_error(c->comm, &state) == ncclSuccess && state != ncclSuccess &&
            state != ncclInProgress)
            return nccl_error(e, state, "the gradient sum");
        if (now_s() > deadline)
            return err_set(e,
                           "the gradient sum (NCCL) did not finish within %.0f s "
                           "(SIAMESE_DIST_TIMEOUT): another rank died or hangs; the job ends",
                           c->timeout);
        pause_briefly();
    }
}

void nccl_comm_leave(NcclComm *c, int abort) {
    if (!c) return;
    if (abort) {
        nccl.abort(c->comm);
    } else {
        // A clean finish: what is queued completes, then the resources go.
        ncclResult_t r = nccl.finalize(c->comm);
        if (r == ncclInProgress) r = settle(c->comm, now_s() + 60);
        if (r == ncclSuccess) nccl.destroy(c->comm);
        else nccl.abort(c->comm);
    }
    comm_free(c);
}
