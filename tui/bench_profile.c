// bench_profile: a training step, operation by operation (see the header).
#include "bench_profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/profile.h"
#include "../engine/rng.h"

// The columns, in the order a step meets them: profile.c's kinds and the
// pieces the backends name. "backward" is a backward pass that did not name
// its pieces; "other" is everything else (fences, allocations).
static const char *const PIECES[] = {"copy",  "forward", "bias+relu", "pool",     "head",
                                     "relu bwd", "bias grad", "wgrad", "dgrad", "pool bwd",
                                     "convert",  "backward",  "optimizer", "other"};
#define N_PIECES ((int)(sizeof PIECES / sizeof *PIECES))
#define MAX_LABELS 64

// One step's milliseconds by label (rows, in the order met) and piece.
typedef struct StepSums {
    const char *labels[MAX_LABELS];
    int n;
    double ms[MAX_LABELS][N_PIECES];
    double wall_ms;  // from the step's first mark to its last
    double ops_ms;   // inside its operations: at most wall_ms
} StepSums;

static int piece_index(const char *piece) {
    for (int i = 0; i < N_PIECES; i++)
        if (!strcmp(PIECES[i], piece)) return i;
    return N_PIECES - 1;
}

// The row of label, added when new (the last row takes any overflow).
static int label_index(StepSums *s, const char *label) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->labels[i], label)) return i;
    if (s->n == MAX_LABELS) return MAX_LABELS - 1;
    s->labels[s->n] = label;
    return s->n++;
}

static void sum_profile(const Profile *p, StepSums *s) {
    for (int i = 0; i < p->n; i++) {
        const ProfileEntry *e = &p->entries[i];
        s->ms[label_index(s, e->label)][piece_index(e->piece)] += e->ms;
        s->ops_ms += e->ms;
    }
    s->wall_ms = p->wall_ms;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The median over the runs of cell (label, piece), the label found by name.
static double cell(StepSums *runs, int n_runs, const char *label, int piece, double *scratch) {
    for (int r = 0; r < n_runs; r++) {
        scratch[r] = 0;
        for (int i = 0; i < runs[r].n; i++)
            if (!strcmp(runs[r].labels[i], label)) scratch[r] = runs[r].ms[i][piece];
    }
    return bench_median(scratch, n_runs);
}

static void print_table(StepSums *runs, int n_runs, double *scratch) {
    const StepSums *first = &runs[0];
    double med[MAX_LABELS][N_PIECES], col[N_PIECES] = {0}, busy = 0;
    for (int i = 0; i < first->n; i++)
        for (int j = 0; j < N_PIECES; j++) {
            med[i][j] = cell(runs, n_runs, first->labels[i], j, scratch);
            col[j] += med[i][j];
            busy += med[i][j];
        }
    // Columns that took no time in any row are left out.
    int show[N_PIECES];
    for (int j = 0; j < N_PIECES; j++) show[j] = col[j] >= 0.0005;
    printf("%-14s", "layer");
    for (int j = 0; j < N_PIECES; j++)
        if (show[j]) printf(" %9s", PIECES[j]);
    printf(" %9s\n", "total");
    for (int i = 0; i < first->n; i++) {
        double row = 0;
        printf("%-14s", first->labels[i]);
        for (int j = 0; j < N_PIECES; j++) {
            row += med[i][j];
            if (show[j]) printf(" %9.3f", med[i][j]);
        }
        printf(" %9.3f\n", row);
    }
    printf("%-14s", "total");
    for (int j = 0; j < N_PIECES; j++)
        if (show[j]) printf(" %9.3f", col[j]);
    printf(" %9.3f\n", busy);
    // The step's span and its time inside operations, each the median over
    // the steps of that step's figure: as every step's span holds its
    // operations, the medians keep that order (the sum of the cells'
    // medians, the total above, may exceed the span's median).
    for (int r = 0; r < n_runs; r++) scratch[r] = runs[r].wall_ms;
    const double wall = bench_median(scratch, n_runs);
    for (int r = 0; r < n_runs; r++) scratch[r] = runs[r].ops_ms;
    const double ops = bench_median(scratch, n_runs);
    printf("step: %.3f ms from its first operation to its last, %.3f ms inside operations "
           "(%.3f ms between them)\n",
           wall, ops, wall - ops);
    // Every piece that ran has a line, however short (block5's bias sums
    // at a small input take well under a microsecond): only a piece that
    // never ran in a row sums to exactly 0.
    for (int i = 0; i < first->n; i++)
        for (int j = 0; j < N_PIECES; j++)
            if (med[i][j] > 0)
                printf("PROFILE layer=%s piece=%s ms=%.6f\n", first->labels[i], PIECES[j],
                       med[i][j]);
    printf("PROFILE step_ms=%.4f ops_ms=%.4f\n", wall, ops);
}

int bench_profile(Model *m, int N, int repeat, Err *e) {
    Backend *be = m->be;
    const int S = m->spec.input_size;
    const size_t bytes = 2 * (size_t)N * S * S * 3;
    uint8_t *px = NULL;
    float *labels = malloc(N * sizeof(float)), *mom = NULL;
    double *scratch = malloc(repeat * sizeof(double));
    StepSums *runs = calloc(repeat, sizeof *runs);
    Profile prof = {0};
    int rc = model_enable_training(m, e);
    if (!rc && (!(px = be->ops->host_alloc(be, bytes)) ||
                !(mom = be->ops->alloc(be, m->n_params * sizeof(float))) || !labels || !runs ||
                !scratch))
        rc = backend_check(be, e) ? -1 : err_set(e, "out of memory for a batch of %d pairs", N);
    if (!rc) {
        Rng r;
        rng_seed(&r, 3);
        for (size_t i = 0; i < bytes; i++) px[i] = (uint8_t)rng_below(&r, 256);
        for (int i = 0; i < N; i++) labels[i] = (float)(i % 2);
    }
    // Step 0 is not timed: it searches cuDNN's algorithms and allocates.
    for (int step = 0; !rc && step <= repeat; step++) {
        float loss;
        if (step) profile_start(be, &prof);
        rc = siamese_forward_queued(m, px, labels, N, 0, e);
        if (!rc) {
            siamese_backward(m, N, 0);
            backend_label(be, "optimizer");
            be->ops->sgd_nesterov_step(be, m->params, m->grads, mom, m->n_params, 1e-4f, 0.9f,
                                       0.0f);
            rc = siamese_readback(m, 0, N, &loss, NULL, e);
        }
        if (step) {
            int stopped = profile_stop(be, rc ? NULL : e);
            if (!rc) rc = stopped;
            if (!rc) sum_profile(&prof, &runs[step - 1]);
        }
    }
    if (!rc) {
        char arch[96];
        model_spec_describe(&m->spec, arch, sizeof arch);
        printf("profile %s, input %d, %d pairs a step, %s, %s: the median of %d step%s, "
               "milliseconds (%s)\n",
               arch, S, N, be->desc, backend_precision_name(be->precision), repeat,
               repeat == 1 ? "" : "s",
               be->is_cpu ? "the clock around each operation" : "CUDA events around each piece");
        if (prof.lost)
            printf("(%d piece%s could not be timed)\n", prof.lost, prof.lost == 1 ? "" : "s");
        print_table(runs, repeat, scratch);
    }
    profile_free(&prof);
    if (px) be->ops->host_free(be, px);
    if (mom) be->ops->free(be, mom);
    free(labels);
    free(scratch);
    free(runs);
    return rc;
}
