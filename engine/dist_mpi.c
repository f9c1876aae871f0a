// dist_mpi: dist.h's transport on MPI, built by mpicc into
// libsiamese_mpi.so (mpi.mk) and loaded by dist_open when an MPI launcher
// started the program.
//
// Design points:
//  - Every wait is bounded: requests are nonblocking and polled (MPI_Test*)
//    until done or until the timeout, so a rank that hangs ends the job
//    with a message instead of a hang. Between polls the rank yields the
//    core, then sleeps: ranks often share cores with ranks still computing.
//  - gather goes through rank 0 by point-to-point messages, so that after
//    a timeout rank 0 knows, and says, which ranks did not arrive. After a
//    collective's timeout rank 0 pings every rank (the others answer while
//    they wait) and names those that do not answer. The other ranks wait
//    twice as long as rank 0, so that rank 0 reports first.
//  - sum is a reduce-scatter, then an all-gather: each part of the buffer
//    is added up once, on one rank, and copied to the others, so every
//    rank gets the same bits (MPI_Allreduce does not promise that).
//  - MPI_THREAD_SERIALIZED: training may run in a thread of its own (the
//    dashboard's); one thread at a time calls MPI.
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist.h"

enum { TAG_UP = 1, TAG_DOWN = 2, TAG_PING = 3, TAG_PONG = 4 };


typedef struct Mpi {
    MPI_Comm comm;         // a copy of MPI_COMM_WORLD that returns errors
    int rank;
    int *counts, *displs;  // sum's parts of parts_n floats, per rank
    size_t parts_n;
    float *part;           // this rank's part of a sum
    MPI_Request ping;      // ranks but 0: rank 0's next ping, into ping_buf
    int ping_buf;
} Mpi;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int mpi_error(Err *e, int code, const char *call) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, msg, &len);
    return err_set(e, "%s failed: %s", call, msg);
}

// An MPI call that must succeed: else e names it and the function fails.
#define MPI_TRY(call)                                          \
    do {                                                       \
        int c_ = (call);                                       \
        if (c_ != MPI_SUCCESS) return mpi_error(e, c_, #call); \
    } while (0)

// Ranks but 0, while they wait: answers rank 0's ping, if one came.
static void answer_ping(Mpi *m) {
    int came = 0;
    if (m->rank == 0 || MPI_Test(&m->ping, &came, MPI_STATUS_IGNORE) != MPI_SUCCESS || !came) return;
    MPI_Send(&m->ping_buf, 1, MPI_INT, 0, TAG_PONG, m->comm);
    MPI_Irecv(&m->ping_buf, 1, MPI_INT, 0, TAG_PING, m->comm, &m->ping);
}

// Completes the n requests, or gives up after limit seconds: then returns
// 1, and done[i] says which completed (done may be NULL). -1: MPI failed.
static int wait_all(Mpi *m, MPI_Request *req, int n, int *done, double limit, Err *e) {
    int *idx = malloc(n * sizeof(int)), left = n, poll = 0, rc = 0;
    if (!idx) return err_set(e, "out of memory");
    const double t0 = now_s();
    while (left > 0) {
        int out, c = MPI_Testsome(n, req, &out, idx, MPI_STATUSES_IGNORE);
        if (c != MPI_SUCCESS) {
            rc = mpi_error(e, c, "MPI_Testsome");
            break;
        }
        if (out == MPI_UNDEFINED) break;  // every request is done
        for (int i = 0; i < out; i++)
            if (done) done[idx[i]] = 1;
        if ((left -= out) <= 0) break;
        if (now_s() - t0 > limit) {
            rc = 1;
            break;
        }
        answer_ping(m);
        // Most waits are short: yield for the first thousand polls, then sleep.
        if (++poll < 1000) sched_yield();
        else nanosleep(&(struct timespec){0, 100 * 1000}, NULL);
    }
    free(idx);
    return rc;
}

// "2" or "ranks 2, 5" and its verb's ending: the ranks whose done[r - 1] is 0.
static int missing_ranks(const Dist *d, const int *done, char *list, size_t len) {
    int k = 0;
    list[0] = '\0';
    for (int r = 1; r < d->size; r++) {
        if (done[r - 1]) continue;
        size_t u = strlen(list);
        snprintf(list + u, len - u, "%s%d", k++ ? ", " : "", r);
    }
    return k;
}

// Rank 0, after what (a collective) did not finish in time: pings every
// rank and names those that do not answer. Returns -1 with e filled.
static int name_silent(Dist *d, Mpi *m, const char *what, Err *e) {
    const int others = d->size - 1;
    MPI_Request *req = malloc(2 * others * sizeof *req);
    int *done = calloc(2 * others, sizeof(int)), *pong = malloc(others * sizeof(int)), one = 1;
    char list[256] = "";
    int k = -1;
    if (req && done && pong) {
        for (int r = 1; r < d->size; r++) {
            MPI_Irecv(&pong[r - 1], 1, MPI_INT, r, TAG_PONG, m->comm, &req[r - 1]);
            MPI_Isend(&one, 1, MPI_INT, r, TAG_PING, m->comm, &req[others + r - 1]);
        }
        Err ignored;
        // (The pings to silent ranks never complete: only the answers count.)
        // Half the timeout: the other ranks give up at twice it, and rank 0
        // must have spoken by then.
        if (wait_all(m, req, others, done, d->timeout / 2, &ignored) >= 0)
            k = missing_ranks(d, done, list, sizeof list);
    }
    free(req);
    free(done);
    free(pong);
    if (k > 0)
        return err_set(e,
                       "rank%s %s %s not answer (%s did not finish within %.0f s, "
                       "SIAMESE_DIST_TIMEOUT): %s died or hang%s; the job ends",
                       k > 1 ? "s" : "", list, k > 1 ? "do" : "does", what, d->timeout,
                       k > 1 ? "they" : "it", k > 1 ? "" : "s");
    return err_set(e, "%s did not finish within %.0f s (SIAMESE_DIST_TIMEOUT), though every rank "
                      "answers; the job ends",
                   what, d->timeout);
}

// Rank 0's side of gather: every rank's part in, the whole table out.
static int gather_root(Dist *d, Mpi *m, double *all, int n, MPI_Request *req, int *done, Err *e) {
    const int others = d->size - 1;
    for (int r = 1; r < d->size; r++)
        MPI_TRY(MPI_Irecv(all + (size_t)r * n, n, MPI_DOUBLE, r, TAG_UP, m->comm, &req[r - 1]));
    int w = wait_all(m, req, others, done, d->timeout, e);
    if (w < 0) return -1;
    // A rank missing here may be alive, still waiting in a collective with
    // the one that hangs (an all-reduce can finish on rank 0 first): the
    // ranks that answer a ping are not named.
    if (w > 0) return name_silent(d, m, "the exchange of this step", e);
    for (int r = 1; r < d->size; r++)
        MPI_TRY(MPI_Isend(all, d->size * n, MPI_DOUBLE, r, TAG_DOWN, m->comm, &req[r - 1]));
    w = wait_all(m, req, others, NULL, d->timeout, e);
    if (w > 0) err_set(e, "the other ranks did not take the exchange of this step within %.0f s",
                       d->timeout);
    return w ? -1 : 0;
}

static int gather_leaf(Dist *d, Mpi *m, const double *mine, double *all, int n, Err *e) {
    MPI_Request req[2];
    MPI_TRY(MPI_Isend(mine, n, MPI_DOUBLE, 0, TAG_UP, m->comm, &req[0]));
    MPI_TRY(MPI_Irecv(all, d->size * n, MPI_DOUBLE, 0, TAG_DOWN, m->comm, &req[1]));
    int w = wait_all(m, req, 2, NULL, 2 * d->timeout, e);
    if (w > 0)
        err_set(e,
                "rank %d: rank 0 did not answer the exchange of this step within %.0f s: it "
                "died or hangs; the job ends",
                d->rank, 2 * d->timeout);
    return w ? -1 : 0;
}

static int mpi_gather(Dist *d, const double *mine, int n, double *all, Err *e) {
    Mpi *m = d->impl;
    memcpy(all + (size_t)d->rank * n, mine, n * sizeof(double));
    if (d->size == 1) return 0;
    if (d->rank > 0) return gather_leaf(d, m, mine, all, n, e);
    MPI_Request *req = malloc((d->size - 1) * sizeof *req);
    int *done = calloc(d->size - 1, sizeof(int));
    int rc = req && done ? gather_root(d, m, all, n, req, done, e) : err_set(e, "out of memory");
    free(req);
    free(done);
    return rc;
}

// After a collective (what) timed out: rank 0 names the silent ranks, the
// others say that they waited. Returns -1.
static int timed_out(Dist *d, Mpi *m, const char *what, Err *e) {
    if (d->rank == 0) return name_silent(d, m, what, e);
    return err_set(e,
                   "rank %d: %s did not finish within %.0f s (SIAMESE_DIST_TIMEOUT): another rank "
                   "died or hangs; the job ends",
                   d->rank, what, 2 * d->timeout);
}

// The parts of a sum of n floats: dist_share's split.
static int set_parts(Dist *d, Mpi *m, size_t n, Err *e) {
    if (m->parts_n == n) return 0;
    free(m->part);
    if (!m->counts) m->counts = malloc(d->size * sizeof(int));
    if (!m->displs) m->displs = malloc(d->size * sizeof(int));
    m->part = malloc((n / d->size + 1) * sizeof(float));
    if (!m->counts || !m->displs || !m->part) {
        m->parts_n = 0;
        return err_set(e, "out of memory");
    }
    for (int r = 0; r < d->size; r++) {
        long first, count;
        dist_part((long)n, r, d->size, &first, &count);
        m->displs[r] = (int)first;
        m->counts[r] = (int)count;
    }
    m->parts_n = n;
    return 0;
}

static int mpi_sum(Dist *d, float *p, size_t n, Err *e) {
    Mpi *m = d->impl;
    if (d->size == 1) return 0;
    if (n > (size_t)0x7fffffff) return err_set(e, "%zu gradients are too many for MPI", n);
    if (set_parts(d, m, n, e)) return -1;
    MPI_Request req;
    const double limit = d->rank ? 2 * d->timeout : d->timeout;
    MPI_TRY(MPI_Ireduce_scatter(p, m->part, m->counts, MPI_FLOAT, MPI_SUM, m->comm, &req));
    int w = wait_all(m, &req, 1, NULL, limit, e);
    if (!w) {
        MPI_TRY(MPI_Iallgatherv(m->part, m->counts[d->rank], MPI_FLOAT, p, m->counts, m->displs,
                                MPI_FLOAT, m->comm, &req));
        w = wait_all(m, &req, 1, NULL, limit, e);
    }
    return w > 0 ? timed_out(d, m, "the sum of the gradients", e) : w;
}

static int mpi_broadcast(Dist *d, void *buf, size_t bytes, Err *e) {
    Mpi *m = d->impl;
    MPI_Request req;
    MPI_TRY(MPI_Ibcast(buf, (int)bytes, MPI_BYTE, 0, m->comm, &req));
    int w = wait_all(m, &req, 1, NULL, d->rank ? 2 * d->timeout : d->timeout, e);
    return w > 0 ? timed_out(d, m, "a broadcast from rank 0", e) : w;
}

static int mpi_gather_bytes(Dist *d, const void *mine, size_t mine_bytes, void *all,
                            const size_t *bytes, Err *e) {
    Mpi *m = d->impl;
    int *counts = NULL, *displs = NULL, rc = 0;
    if (d->rank == 0) {
        counts = malloc(d->size * sizeof(int));
        displs = malloc(d->size * sizeof(int));
        if (!counts || !displs) rc = err_set(e, "out of memory");
        size_t at = 0;
        for (int r = 0; !rc && r < d->size; r++) {
            // MPI counts in ints: the callers' blocks stay far below.
            if (at + bytes[r] > (size_t)0x7fffffff)
                rc = err_set(e, "a gather of over 2 GB to rank 0 (%d ranks)", d->size);
            counts[r] = (int)bytes[r];
            displs[r] = (int)at;
            at += bytes[r];
        }
    }
    if (!rc && mine_bytes > (size_t)0x7fffffff)
        rc = err_set(e, "rank %d: a gather of over 2 GB", d->rank);
    MPI_Request req;
    int c = rc ? MPI_SUCCESS
               : MPI_Igatherv(mine, (int)mine_bytes, MPI_BYTE, all, counts, displs, MPI_BYTE, 0,
                              m->comm, &req);
    if (!rc && c != MPI_SUCCESS) rc = mpi_error(e, c, "MPI_Igatherv");
    if (!rc) {
        int w = wait_all(m, &req, 1, NULL, d->rank ? 2 * d->timeout : d->timeout, e);
        rc = w > 0 ? timed_out(d, m, "a gather of results to rank 0", e) : w;
    }
    free(counts);
    free(displs);
    return rc;
}

static void mpi_close(Dist *d, int abort) {
    Mpi *m = d->impl;
    // The job cannot wait for a rank that died or hangs: end all of it.
    if (abort) MPI_Abort(MPI_COMM_WORLD, 1);
    if (d->rank > 0) {
        MPI_Cancel(&m->ping);
        MPI_Wait(&m->ping, MPI_STATUS_IGNORE);
    }
    MPI_Comm_free(&m->comm);
    MPI_Finalize();
    free(m->counts);
    free(m->displs);
    free(m->part);
    free(m);
    d->impl = NULL;
}

static const DistOps mpi_ops = {
    .gather = mpi_gather,
    .sum = mpi_sum,
    .broadcast = mpi_broadcast,
    .gather_bytes = mpi_gather_bytes,
    .close = mpi_close,
};

static int open_world(Dist *d, Mpi *m, Err *e) {
    int provided;
    MPI_TRY(MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided));
    if (provided < MPI_THREAD_SERIALIZED)
        return err_set(e, "this MPI library cannot be called from a second thread "
                          "(MPI_THREAD_SERIALIZED), which training may run in");
    MPI_TRY(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_TRY(MPI_Comm_dup(MPI_COMM_WORLD, &m->comm));
    MPI_TRY(MPI_Comm_rank(m->comm, &d->rank));
    MPI_TRY(MPI_Comm_size(m->comm, &d->size));
    // The ranks on this machine share its cores and GPUs.
    MPI_Comm local;
    MPI_TRY(MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local));
    MPI_TRY(MPI_Comm_rank(local, &d->local_rank));
    MPI_TRY(MPI_Comm_size(local, &d->local_size));
    MPI_TRY(MPI_Comm_free(&local));
    m->rank = d->rank;
    if (d->rank > 0) MPI_TRY(MPI_Irecv(&m->ping_buf, 1, MPI_INT, 0, TAG_PING, m->comm, &m->ping));
    return 0;
}

__attribute__((visibility("default"))) int dist_mpi_open(Dist *d, Err *e) {
    Mpi *m = calloc(1, sizeof *m);
    if (!m) return err_set(e, "out of memory");
    if (open_world(d, m, e)) {
        free(m);
        return -1;
    }
    d->ops = &mpi_ops;
    d->impl = m;
    return 0;
}
