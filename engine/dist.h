// dist: data-parallel training over several processes ("ranks"), each with
// a device of its own, started by an MPI launcher:
//     mpirun -np 4 ./siamese train ...
//
// index and eval share their embedding the same way (eval.h,
// eval_embed_shared): rank 0 runs the command, sends each block's image
// paths, and receives the features its ranks computed (gather_bytes).
//
// Every rank runs the same training. Each step's batch is drawn as one
// process would draw it, and rank r builds and computes its fixed share of
// the batch's pairs (dist_share); the ranks' gradients are summed
// (dist_sum_gradients) so every rank applies the same update to the same
// weights. The model has no batch statistics, so the sum is the one-process
// gradient up to the order of the float additions: results do not depend
// on the rank count. Between steps the ranks exchange a few numbers
// (dist_vote): their losses, a stop asked by a signal or a limit, and
// failures, so that they stop at the same step and fail together.
//
// The seam has two implementations: the one-process stub (dist_solo: no
// exchange at all), and MPI in libsiamese_mpi.so (dist_mpi.c, built with
// mpicc where it is found), which dist_open loads at run time when an MPI
// launcher started the program, so the program itself needs no MPI.
// Device gradients are summed by the backend's communicator (NCCL for
// CUDA, backend.h's comm ops) when every rank has a device of its own, and
// through host memory by MPI otherwise (the CPU, or ranks sharing a GPU).
//
// Every exchange waits at most `timeout` seconds (SIAMESE_DIST_TIMEOUT,
// default 300): a rank that hangs ends the job with a message naming it
// instead of a hang; one that dies is reported by the launcher.
#ifndef SIAMESE_DIST_H
#define SIAMESE_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "err.h"

typedef struct Dist Dist;

// The transport between the ranks (dist_mpi.c). Every call is collective:
// all ranks make it, in the same order. On failure: -1 with e filled, and
// the job must end by close(d, 1).
typedef struct DistOps {
    // all (size * n doubles) = every rank's mine (n doubles), in rank order.
    int (*gather)(Dist *d, const double *mine, int n, double *all, Err *e);
    // p (n host floats) = their sum over the ranks, the same bits on every rank.
    int (*sum)(Dist *d, float *p, size_t n, Err *e);
    // buf (bytes) = rank 0's buf.
    int (*broadcast)(Dist *d, void *buf, size_t bytes, Err *e);
    // On rank 0, all = every rank's mine, one after another in rank order,
    // bytes[r] of them from rank r (mine_bytes on rank r); the other ranks
    // pass all and bytes NULL. The results that rank 0 alone keeps (the
    // features the ranks embedded for index and eval), a block at a time.
    int (*gather_bytes)(Dist *d, const void *mine, size_t mine_bytes, void *all,
                        const size_t *bytes, Err *e);
    // The end: a clean finish, or with abort (after a failed exchange) the
    // whole job ends at once, as the other ranks cannot be waited for.
    void (*close)(Dist *d, int abort);
} DistOps;

struct Dist {
    int rank, size;              // this rank of size; 0 of 1: one process
    int local_rank, local_size;  // among the ranks on this machine
    double timeout;              // seconds an exchange waits for the others
    int broken;                  // an exchange failed: dist_close ends the job
    int embed_done;              // rank 0 ended the shared embedding (eval_embed_done)
    const DistOps *ops;          // NULL: the one-process stub
    void *impl;                  // the transport's state
    void *library;               // libsiamese_mpi.so's handle
    // dist_attach's choice of how gradients are summed.
    Backend *be;
    int device_comm;             // by the backend's communicator (NCCL)
    float *host;                 // else: device gradients go through this host copy
    size_t host_n;
    // A sum in step with a backward pass (dist_sum_start): grads[0, unsent)
    // are not queued yet; the first failure to queue a bucket, for later.
    float *grads;
    size_t unsent;
    int queue_failed;
    Err queue_err;
};

// The entry point libsiamese_mpi.so exports: fills d's ranks and ops.
typedef int (*DistMpiOpenFn)(Dist *d, Err *e);
#define DIST_MPI_LIBRARY "libsiamese_mpi.so"
#define DIST_MPI_SYMBOL "dist_mpi_open"

// One process, nothing to exchange.
void dist_solo(Dist *d);
// The ranks of this job: MPI's when an MPI launcher started the program
// (its environment says so), else one process. Fails when launched by MPI
// but the MPI library cannot be loaded (a build without MPI, say): N copies
// of one training must not run side by side. Returns -1 on a failure of
// this rank's own (MPI's start), DIST_FAILED_ON_MACHINE on one that every
// rank on this machine meets alike (the library, SIAMESE_DIST_TIMEOUT).
#define DIST_FAILED_ON_MACHINE (-2)
int dist_open(Dist **out, Err *e);

// Before MPI starts the ranks cannot tell each other what they met, but an
// MPI launcher tells each its rank in the environment (OMPI_COMM_WORLD_RANK,
// PMI_RANK, ...). An error that the ranks meet alike is then said by one of
// them, as one process says it, and the others exit with the same status,
// silent. Which errors the ranks meet alike:
typedef enum {
    // those decided by the command line, the same on every rank (an
    // unknown option, a value out of range; with the launcher's rank
    // count): said by rank 0;
    DIST_ALIKE_IN_JOB,
    // those decided by the machine (its installation, the environment the
    // launcher gives the ranks it starts there): by the first rank on it.
    DIST_ALIKE_ON_MACHINE,
} DistAlike;
// Whether this process says the errors of scope: 1 when no launcher
// started it, or when the launcher's environment does not say the rank.
// Open MPI's mpirun may start several command lines (mpirun -np 1 A : -np
// 1 B), each with its own arguments, program and environment: there every
// rank says its own (1). (Other launchers do not say when they do that: a
// rank other than 0 whose own line has an error that rank 0's lacks would
// fail without a word, the job with its status.) Anything a rank may meet
// otherwise than the others (a file, its GPU) is not of either scope: each
// rank that meets it says it.
int dist_says_alike(DistAlike scope);
// How many processes an MPI launcher started, as its environment says,
// without loading MPI: 1 when none did. PMIx launchers give a rank only:
// there a rank other than 0 counts 2, at least (*exact = 0), rank 0 1. The
// commands that do not share their work between ranks (all but train)
// refuse more than one, rather than run N copies that each do all of it
// (N indexes of one file racing to replace it).
int dist_launched_size(int *exact);
// Ends the job's exchanges (MPI_Finalize); after a failed exchange (broken)
// ends the whole job instead (MPI_Abort): call it after reporting the error.
void dist_close(Dist *d);

// This rank's fixed part [*first, *first + *count) of n items: n / size
// each, the first n % size ranks one more.
void dist_share(const Dist *d, int n, int *first, int *count);
// The same for any rank (the transport splits its sums so).
static inline void dist_part(long n, int rank, int size, long *first, long *count) {
    long base = n / size, extra = n % size;
    *first = rank * base + (rank < extra ? rank : extra);
    *count = base + (rank < extra);
}
// The device of this rank for --device: "auto" and "cuda" become
// cuda:<local rank modulo the GPUs> when there are GPUs; others as given.
void dist_device(const Dist *d, const char *device, char *out, size_t len);
// CPU threads of this rank for --threads (0 = all cores: the cores shared
// by the ranks on this machine).
int dist_threads(const Dist *d, int threads);

// Every rank's result of a step of its own: fails (-1) on every rank when
// any rank failed (rc < 0, its message in e). Each message is said once:
// one that every rank failed with (the same file missing everywhere) by
// rank 0 as one process says it; another by the first rank that failed
// with it, prefixed with the ranks that did ("rank 1: ", "ranks 0, 2: ");
// on rank 0 when it did not fail, which ranks did. e is empty on the
// other ranks, which leave the report to those. Otherwise returns rc (the
// largest of the ranks').
int dist_agree(Dist *d, int rc, Err *e);

// The per-step exchange. Each rank fills its own, dist_vote sums them in
// rank order (the same sums on every rank). A rank that failed sets failed
// (and its e); dist_vote then fails as dist_agree does.
typedef struct DistVote {
    double loss;     // the sum of its pairs' losses
    double correct;  // its pairs predicted right
    int stop;        // asked to stop (a signal, a limit): the step is not taken
    int failed;
} DistVote;
int dist_vote(Dist *d, DistVote *v, Err *e);

// A failure on this rank alone after the step's vote (the others go on):
// prefixes the rank to e's message and makes dist_close end the whole job.
// Returns -1.
int dist_fail_alone(Dist *d, Err *e);

// After the backend and the model exist, on every rank: how gradients in
// be's memory are summed. The backend's communicator (NCCL) when it has one
// and no two ranks share a device, else MPI through host memory. A line
// for the user in how.
int dist_attach(Dist *d, Backend *be, size_t n_params, char *how, size_t how_len, Err *e);
// grads (n floats in the backend's memory) = their sum over the ranks.
int dist_sum_gradients(Dist *d, float *grads, size_t n, Err *e);
// The same in step with a backward pass (the overlap of DDP's gradient
// buckets): dist_sum_start before the pass, dist_grads_ready as its
// GradsReadyFn (model.h), dist_sum_gradients after it. Where the backend's
// communicator sums (NCCL), the gradients of the layers done, in buckets of
// DIST_BUCKET_BYTES or more, are summed while the pass computes the earlier
// layers' (the last layers hold most of the parameters and the least of
// the work); elsewhere all are summed at the end.
#define DIST_BUCKET_BYTES (8u << 20)
void dist_sum_start(Dist *d, float *grads, size_t n);
void dist_grads_ready(void *dist, size_t from);
// Before the backend closes: leaves its communicator (aborting it after a
// failed exchange) and frees what dist_attach made.
void dist_detach(Dist *d);

// The transport's exchanges for any command, each rank calling them in the
// same order; one process copies (gather, gather_bytes) or does nothing
// (broadcast). A failure marks the job broken (dist_close ends it).
// all (size * n doubles) = every rank's mine (n), in rank order, on every rank.
int dist_gather(Dist *d, const double *mine, int n, double *all, Err *e);
// buf (bytes, any size) = rank 0's buf.
int dist_broadcast(Dist *d, void *buf, size_t bytes, Err *e);
// DistOps' gather_bytes: rank 0 gets every rank's mine in rank order.
int dist_gather_bytes(Dist *d, const void *mine, size_t mine_bytes, void *all,
                      const size_t *bytes, Err *e);

// Every rank's report (a line or a few: its device), gathered to rank 0 in
// rank order, ranks in a row with the same report as one group (CPU ranks,
// where every rank says the same), so that rank 0 can show all of them,
// each naming its ranks, in a few lines. Collective. On rank 0 *groups
// (malloc'ed) holds *n groups; the other ranks get NULL and 0. A report is
// cut at DIST_REPORT_BYTES - 1 bytes.
#define DIST_REPORT_BYTES 1024
typedef struct DistGroup {
    int first, last;  // the ranks [first, last]
    char report[DIST_REPORT_BYTES];
} DistGroup;
int dist_gather_groups(Dist *d, const char *report, DistGroup **groups, int *n, Err *e);
// A group's ranks for the user: "rank 1", "ranks 0-3".
void dist_group_ranks(const DistGroup *g, char *out, size_t len);

// Fails on every rank unless every rank has the same hash of what (a noun
// for the message, "the dataset"); the message names the ranks that differ.
int dist_check_same(Dist *d, const char *what, uint64_t hash, Err *e);
// FNV-1a over bytes, continuing from h (start with DIST_HASH_START).
#define DIST_HASH_START 14695981039346656037ull
uint64_t dist_hash(uint64_t h, const void *p, size_t bytes);

#endif
