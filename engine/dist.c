// dist: the one-process stub, loading the MPI transport, and what training
// needs on top of a transport (see dist.h).
#include "dist.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"

#define DEFAULT_TIMEOUT 300.0

void dist_solo(Dist *d) {
    memset(d, 0, sizeof *d);
    d->size = d->local_size = 1;
    d->timeout = DEFAULT_TIMEOUT;
}

// The variable by which an MPI launcher tells its processes their count:
// Open MPI, MPICH's and Intel's Hydra, MVAPICH; PMIx launchers (srun
// --mpi=pmix, prterun) set PMIX_RANK.
static const char *launcher_variable(const char **value) {
    static const char *const names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE",
                                        "PMIX_RANK"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if ((*value = getenv(names[i]))) return names[i];
    return NULL;
}

static int read_timeout(Dist *d, Err *e) {
    const char *s = getenv("SIAMESE_DIST_TIMEOUT");
    if (!s || !*s) return 0;
    char *end;
    double t = strtod(s, &end);
    if (*end || !(t >= 1 && t <= 1e6))
        return err_set(e, "SIAMESE_DIST_TIMEOUT=%s: expected seconds, 1 to 1000000", s);
    d->timeout = t;
    return 0;
}

int dist_launched_size(int *exact) {
    const char *value, *var = launcher_variable(&value);
    *exact = 1;
    if (!var) return 1;
    const long n = strtol(value, NULL, 10);
    if (!strcmp(var, "PMIX_RANK")) {
        *exact = n == 0;
        return n > 0 ? 2 : 1;
    }
    return n > 1 ? (int)n : 1;
}

// The number an environment variable holds, or -1 (unset or not one).
static long env_number(const char *name) {
    const char *s = name ? getenv(name) : NULL;
    if (!s || !*s) return -1;
    char *end;
    const long n = strtol(s, &end, 10);
    return *end || n < 0 ? -1 : n;
}

int dist_says_alike(DistAlike scope) {
    // Each launcher's rank in the job and rank on the machine, in
    // launcher_variable's order (PMIx gives no rank on the machine).
    static const char *const ranks[][2] = {
        {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"},
        {"PMI_RANK", "MPI_LOCALRANKID"},
        {"MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_LOCAL_RANK"},
        {"PMIX_RANK", NULL},
    };
    const char *value;
    if (!launcher_variable(&value) || env_number("OMPI_NUM_APP_CTX") > 1) return 1;
    for (size_t i = 0; i < sizeof ranks / sizeof *ranks; i++)
        if (getenv(ranks[i][0]))
            return env_number(ranks[i][scope == DIST_ALIKE_IN_JOB ? 0 : 1]) <= 0;
    return 1;
}

int dist_open(Dist **out, Err *e) {
    Dist *d = malloc(sizeof *d);
    if (!d) return err_set(e, "out of memory");
    dist_solo(d);
    // (The launcher gives the ranks on a machine one environment.)
    if (read_timeout(d, e)) {
        free(d);
        return DIST_FAILED_ON_MACHINE;
    }
    const char *value, *var = launcher_variable(&value);
    char why[512];
    void *h = var ? plugin_open(DIST_MPI_LIBRARY, why, sizeof why) : NULL;
    DistMpiOpenFn fn = h ? (DistMpiOpenFn)dlsym(h, DIST_MPI_SYMBOL) : NULL;
    // Not launched by MPI, or as its only process by a build without MPI.
    if (!var || (!fn && strcmp(var, "PMIX_RANK") && !strcmp(value, "1"))) {
        *out = d;
        return 0;
    }
    if (!fn) {
        free(d);
        err_set(e,
                "started by an MPI launcher (%s=%s), but this siamese cannot load %s "
                "(%s): it was built without MPI. Install Open MPI (apt-get install "
                "libopenmpi-dev openmpi-bin) and run make, or run siamese without mpirun",
                var, value, DIST_MPI_LIBRARY, h ? "no entry point" : why);
        return DIST_FAILED_ON_MACHINE;  // (one program, one installation)
    }
    d->library = h;
    if (fn(d, e)) {
        free(d);
        return err_prefix(e, "MPI");
    }
    *out = d;
    return 0;
}

void dist_close(Dist *d) {
    if (!d) return;
    if (d->ops) d->ops->close(d, d->broken);
    free(d);
}

void dist_share(const Dist *d, int n, int *first, int *count) {
    long f, c;
    dist_part(n, d->rank, d->size, &f, &c);
    *first = (int)f;
    *count = (int)c;
}

void dist_device(const Dist *d, const char *device, char *out, size_t len) {
    int gpus = 0;
    // One process keeps --device as given (auto: the first GPU, or the CPU).
    if (d->ops && (!strcmp(device, "auto") || !strcmp(device, "cuda")))
        gpus = backend_cuda_devices();
    if (gpus > 0) snprintf(out, len, "cuda:%d", d->local_rank % gpus);
    else snprintf(out, len, "%s", device);
}

int dist_threads(const Dist *d, int threads) {
    if (threads > 0 || !d->ops) return threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long share = cores / d->local_size;
    return share < 1 ? 1 : (int)share;
}

// ---- exchanges -------------------------------------------------------------------

static int transport_failed(Dist *d) {
    d->broken = 1;
    return -1;
}

int dist_fail_alone(Dist *d, Err *e) {
    d->broken = 1;
    return d->size > 1 ? err_prefix(e, "rank %d", d->rank) : -1;
}

static int gather(Dist *d, const double *mine, int n, double *all, Err *e) {
    return d->ops->gather(d, mine, n, all, e) ? transport_failed(d) : 0;
}

int dist_gather(Dist *d, const double *mine, int n, double *all, Err *e) {
    if (!d->ops) {
        memcpy(all, mine, n * sizeof *mine);
        return 0;
    }
    return gather(d, mine, n, all, e);
}

int dist_broadcast(Dist *d, void *buf, size_t bytes, Err *e) {
    // (In pieces: MPI counts in ints.)
    const size_t piece = (size_t)1 << 30;
    for (size_t at = 0; d->ops && at < bytes; at += piece)
        if (d->ops->broadcast(d, (char *)buf + at, bytes - at < piece ? bytes - at : piece, e))
            return transport_failed(d);
    return 0;
}

int dist_gather_bytes(Dist *d, const void *mine, size_t mine_bytes, void *all,
                      const size_t *bytes, Err *e) {
    if (!d->ops) {
        memcpy(all, mine, mine_bytes);
        return 0;
    }
    return d->ops->gather_bytes(d, mine, mine_bytes, all, bytes, e) ? transport_failed(d) : 0;
}

// The ranks that failed (failed[r]), all of them (said NULL) or those
// whose message hashes to what (said[r] == what), as "1, 3" into list;
// how many, and the first in *first.
static int failed_ranks(const Dist *d, const int *failed, const uint64_t *said, uint64_t what,
                        char *list, size_t len, int *first) {
    int n = 0;
    list[0] = '\0';
    for (int r = 0; r < d->size; r++) {
        if (!failed[r] || (said && said[r] != what)) continue;
        if (!n) *first = r;
        size_t u = strlen(list);
        snprintf(list + u, len - u, "%s%d", n++ ? ", " : "", r);
    }
    return n;
}

// A 64-bit hash as two exact halves (a double holds 53 bits), for a gather.
static void hash_halves(uint64_t h, double out[2]) {
    out[0] = (double)(h >> 32);
    out[1] = (double)(h & 0xffffffffu);
}
static uint64_t hash_join(const double in[2]) {
    return (uint64_t)in[0] << 32 | (uint64_t)in[1];
}

// What a failed rank said (e's message), hashed: the ranks that said the
// same are told apart from those with a failure of their own.
static uint64_t message_hash(const Err *e) {
    return dist_hash(DIST_HASH_START, e->msg, strnlen(e->msg, sizeof e->msg));
}

// The failure report of dist_agree and dist_vote (failed[r]: rank r
// failed, saying what hashes to said[r]). Each message is said once, by
// the first rank that failed with it, naming the ranks that did
// ("rank 1: ...", "ranks 0, 2: ..."), or by rank 0 as one process says it
// when every rank said it (a missing file, a bad option: N copies would
// say nothing more); the other ranks' messages are emptied. Rank 0, when
// it did not fail, names those that did.
static int report_failure(Dist *d, const int *failed, const uint64_t *said, Err *e) {
    char list[256];
    int first = -1;
    if (failed[d->rank]) {
        const int n = failed_ranks(d, failed, said, said[d->rank], list, sizeof list, &first);
        if (first != d->rank) e->msg[0] = '\0';
        else if (n < d->size) err_prefix(e, "rank%s %s", n > 1 ? "s" : "", list);
        return -1;
    }
    if (d->rank > 0) {
        e->msg[0] = '\0';
        return -1;
    }
    const int n = failed_ranks(d, failed, NULL, 0, list, sizeof list, &first);
    return err_set(e, "rank%s %s failed (%s message says why): every rank stopped",
                   n > 1 ? "s" : "", list, n > 1 ? "their" : "its");
}

// The gathered fields of one rank in dist_agree and dist_vote: after the
// caller's own, whether it failed and its message's hash.
enum { FAILED_FIELDS = 3 };
static void failure_fields(int failed, const Err *e, double out[FAILED_FIELDS]) {
    out[0] = failed;
    hash_halves(failed ? message_hash(e) : 0, out + 1);
}

// The ranks' failures from the gathered table all (size rows of stride
// doubles, the failure fields at field): report_failure's, or 0 when none
// failed.
static int gathered_failures(Dist *d, const double *all, int stride, int field, Err *e) {
    int *failed = calloc(d->size, sizeof(int)), any = 0;
    uint64_t *said = calloc(d->size, sizeof *said);
    int rc = -1;
    if (!failed || !said) {
        err_set(e, "out of memory");
    } else {
        for (int r = 0; r < d->size; r++) {
            const double *f = all + (size_t)r * stride + field;
            failed[r] = f[0] != 0;
            said[r] = hash_join(f + 1);
            any |= failed[r];
        }
        rc = any ? report_failure(d, failed, said, e) : 0;
    }
    free(failed);
    free(said);
    return rc;
}

int dist_agree(Dist *d, int rc, Err *e) {
    if (!d->ops) return rc;
    enum { RC, FAILED, FIELDS = FAILED + FAILED_FIELDS };
    double mine[FIELDS] = {rc}, *all = malloc(d->size * sizeof mine);
    failure_fields(rc < 0, e, mine + FAILED);
    int out = -1;
    Err te;
    if (!all) {
        err_set(e, "out of memory");
    } else if (gather(d, mine, FIELDS, all, &te)) {
        *e = te;
    } else if (!(out = gathered_failures(d, all, FIELDS, FAILED, e))) {
        out = rc;
        for (int r = 0; r < d->size; r++)
            if (all[r * FIELDS + RC] > out) out = (int)all[r * FIELDS + RC];
    }
    free(all);
    return out;
}

int dist_vote(Dist *d, DistVote *v, Err *e) {
    if (!d->ops) return v->failed ? -1 : 0;
    enum { LOSS, CORRECT, STOP, FAILED, FIELDS = FAILED + FAILED_FIELDS };
    double mine[FIELDS] = {v->loss, v->correct, v->stop};
    failure_fields(v->failed, e, mine + FAILED);
    double *all = malloc(d->size * sizeof mine);
    int rc = -1;
    if (!all) {
        err_set(e, "out of memory");
    } else if (gather(d, mine, FIELDS, all, v->failed ? &(Err){{0}} : e) == 0) {
        // In rank order, so every rank adds the same numbers the same way.
        DistVote sum = {0};
        for (int r = 0; r < d->size; r++) {
            const double *a = all + r * FIELDS;
            sum.loss += a[LOSS];
            sum.correct += a[CORRECT];
            sum.stop |= a[STOP] != 0;
        }
        *v = sum;
        rc = gathered_failures(d, all, FIELDS, FAILED, e);
    }
    free(all);
    return rc;
}

int dist_gather_groups(Dist *d, const char *report, DistGroup **groups, int *n, Err *e) {
    char mine[DIST_REPORT_BYTES] = "", *all = NULL;
    size_t *bytes = NULL;
    DistGroup *g = NULL;
    snprintf(mine, sizeof mine, "%s", report);
    *groups = NULL;
    *n = 0;
    if (d->rank == 0) {
        all = malloc((size_t)d->size * sizeof mine);
        bytes = malloc(d->size * sizeof *bytes);
        g = malloc(d->size * sizeof *g);
        for (int r = 0; all && bytes && r < d->size; r++) bytes[r] = sizeof mine;
    }
    // (Out of memory on rank 0: the others are sent nowhere; said by the
    // agreement every rank takes part in.)
    int ok = d->rank > 0 || (all && bytes && g);
    if (dist_agree(d, ok ? 0 : err_set(e, "out of memory"), e) ||
        dist_gather_bytes(d, mine, sizeof mine, all, bytes, e))
        ok = 0;
    for (int r = 0, last; ok && d->rank == 0 && r < d->size; r = last + 1) {
        const char *text = all + (size_t)r * sizeof mine;
        for (last = r; last + 1 < d->size && !strcmp(all + (size_t)(last + 1) * sizeof mine, text);)
            last++;
        DistGroup *group = &g[(*n)++];
        group->first = r;
        group->last = last;
        memcpy(group->report, text, sizeof mine);
    }
    free(all);
    free(bytes);
    if (ok && d->rank == 0) *groups = g;
    else free(g);
    if (!ok) *n = 0;
    return ok ? 0 : -1;
}

void dist_group_ranks(const DistGroup *g, char *out, size_t len) {
    if (g->last > g->first) snprintf(out, len, "ranks %d-%d", g->first, g->last);
    else snprintf(out, len, "rank %d", g->first);
}

// Every rank's hash (malloc'ed, size of them), or NULL with e filled.
static uint64_t *gather_hashes(Dist *d, uint64_t hash, Err *e) {
    double mine[2];
    hash_halves(hash, mine);
    double *all = malloc(d->size * sizeof mine);
    uint64_t *h = malloc(d->size * sizeof *h);
    if (!all || !h) {
        err_set(e, "out of memory");
    } else if (gather(d, mine, 2, all, e) == 0) {
        for (int r = 0; r < d->size; r++)
            h[r] = hash_join(all + 2 * r);
        free(all);
        return h;
    }
    free(all);
    free(h);
    return NULL;
}

int dist_check_same(Dist *d, const char *what, uint64_t hash, Err *e) {
    if (!d->ops) return 0;
    uint64_t *all = gather_hashes(d, hash, e);
    if (!all) return -1;
    char list[256] = "";
    int n = 0;
    for (int r = 1; r < d->size; r++) {
        if (all[r] == all[0]) continue;
        size_t u = strlen(list);
        snprintf(list + u, sizeof list - u, "%s%d", n++ ? ", " : "", r);
    }
    free(all);
    if (!n) return 0;
    if (d->rank > 0) {
        e->msg[0] = '\0';  // rank 0 reports
        return -1;
    }
    return err_set(e,
                   "rank%s %s differ%s from rank 0 in %s: every rank must read the same files "
                   "(a shared folder, or identical copies at the same paths) with the same options",
                   n > 1 ? "s" : "", list, n > 1 ? "" : "s", what);
}

uint64_t dist_hash(uint64_t h, const void *p, size_t bytes) {
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

// ---- gradients ---------------------------------------------------------------------

// Whether two ranks of this job use the same device (same machine, same
// GPU): NCCL needs a device per rank.
static int devices_shared(Dist *d, Backend *be, int *shared, Err *e) {
    char host[256] = "", dev[sizeof be->desc];
    gethostname(host, sizeof host - 1);
    snprintf(dev, sizeof dev, "%s", be->desc);
    dev[strcspn(dev, " ")] = '\0';  // "cuda:0"
    uint64_t h = dist_hash(dist_hash(DIST_HASH_START, host, strlen(host)), dev, strlen(dev));
    uint64_t *all = gather_hashes(d, h, e);
    if (!all) return -1;
    *shared = 0;
    for (int r = 0; r < d->size; r++)
        for (int q = 0; q < r; q++) *shared |= all[r] == all[q];
    free(all);
    return 0;
}

// The backend's communicator (NCCL) between the ranks' devices: rank 0
// makes its identity, MPI hands it to the others, all join. Returns 0 when
// every rank joined, 1 when it is not to be (why in why), -1 on a failed exchange.
static int join_device_comm(Dist *d, Backend *be, char *why, size_t why_len, Err *e) {
    unsigned char id[BACKEND_COMM_ID_BYTES] = {0};
    Err ce = {{0}}, ae = {{0}};
    int rc = d->rank == 0 ? be->ops->comm_id(be, id, sizeof id, &ce) : 0;
    int all = dist_agree(d, rc, &ae);
    if (all == 0) {
        if (d->ops->broadcast(d, id, sizeof id, &ae)) transport_failed(d);
        rc = d->broken ? -1
                       : be->ops->comm_join(be, id, sizeof id, d->rank, d->size, d->timeout, &ce);
        all = d->broken ? -1 : dist_agree(d, rc, &ae);
        // A rank that joined leaves again: the others did not.
        if (all < 0 && rc == 0) be->ops->comm_leave(be, 1);
    }
    if (d->broken) {
        *e = ae;
        return -1;
    }
    if (all == 0) return 0;
    snprintf(why, why_len, "NCCL could not connect the ranks (%s)",
             ce.msg[0] ? ce.msg : "on another rank");
    return 1;
}

int dist_attach(Dist *d, Backend *be, size_t n_params, char *how, size_t how_len, Err *e) {
    how[0] = '\0';
    if (!d->ops) return 0;
    d->be = be;
    const char *plural = d->size > 1 ? "s" : "";
    if (be->is_cpu) {
        snprintf(how, how_len, "%d rank%s; gradients summed by MPI", d->size, plural);
        return 0;
    }
    char why[1200] = "";
    int shared = 0;
    if (devices_shared(d, be, &shared, e)) return -1;
    if (shared) snprintf(why, sizeof why, "ranks share a GPU, which NCCL refuses");
    else if (!be->ops->comm_join) snprintf(why, sizeof why, "this backend has no NCCL");
    else {
        int rc = join_device_comm(d, be, why, sizeof why, e);
        if (rc < 0) return -1;
        if (rc == 0) {
            d->device_comm = 1;
            snprintf(how, how_len, "%d rank%s; gradients summed by NCCL between the GPUs", d->size,
                     plural);
            return 0;
        }
    }
    if (!(d->host = malloc(n_params * sizeof(float)))) return err_set(e, "out of memory");
    d->host_n = n_params;
    snprintf(how, how_len, "%d rank%s; gradients summed by MPI through host memory: %s", d->size,
             plural, why);
    return 0;
}

void dist_sum_start(Dist *d, float *grads, size_t n) {
    d->grads = grads;
    d->unsent = n;
    d->queue_failed = 0;
}

void dist_grads_ready(void *dist, size_t from) {
    Dist *d = dist;
    if (!d->device_comm || d->queue_failed || (d->unsent - from) * sizeof(float) < DIST_BUCKET_BYTES)
        return;
    if (d->be->ops->comm_sum(d->be, d->grads + from, d->unsent - from, &d->queue_err))
        d->queue_failed = 1;
    d->unsent = from;
}

int dist_sum_gradients(Dist *d, float *grads, size_t n, Err *e) {
    if (!d->ops) return 0;
    Backend *be = d->be;
    if (d->device_comm) {
        // What the backward pass did not queue (all, without dist_sum_start).
        const size_t rest = d->grads == grads ? d->unsent : n;
        d->grads = NULL;
        if (d->queue_failed) {
            *e = d->queue_err;
            return transport_failed(d);
        }
        if ((rest && be->ops->comm_sum(be, grads, rest, e)) || be->ops->comm_wait(be, e))
            return transport_failed(d);
        return 0;
    }
    if (be->is_cpu) return d->ops->sum(d, grads, n, e) ? transport_failed(d) : 0;
    if (n > d->host_n)
        return err_set(e, "internal error: %zu gradients, room for %zu", n, d->host_n);
    // (A failure here, after the step's vote, is this rank's alone.)
    be->ops->download(be, d->host, grads, n * sizeof(float));
    if (backend_check(be, e)) return dist_fail_alone(d, e);
    if (d->ops->sum(d, d->host, n, e)) return transport_failed(d);
    be->ops->upload(be, grads, d->host, n * sizeof(float));
    return backend_check(be, e) ? dist_fail_alone(d, e) : 0;
}

void dist_detach(Dist *d) {
    if (d->device_comm) d->be->ops->comm_leave(d->be, d->broken);
    d->device_comm = 0;
    d->be = NULL;
    free(d->host);
    d->host = NULL;
    d->host_n = 0;
}
