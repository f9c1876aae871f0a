// optim: the optimizers and learning-rate schedule of the Python original
// (bubbliiiing's Siamese train.py and utils.get_lr_scheduler).
//
// The learning rate is scaled to the batch size against a nominal batch of
// 64 and clamped:  lr_fit = min(max(batch/64 * lr, lo), hi)  with
// [lo, hi] = [5e-4, 1e-1] for SGD and [3e-4, 1e-3] for Adam, and the
// minimum likewise within [lo/100, hi/100]. The schedule sets one rate per
// epoch (epoch counted from 0 over the run's `epochs`):
//   cos   quadratic warm-up from max(0.1 lr, 1e-6) over
//         min(max(0.05 E, 1), 3) epochs, cosine down to min_lr, then a flat
//         min_lr tail over the last min(max(0.05 E, 1), 15) epochs;
//   step  10 steps: lr * r^floor(epoch / (E/10)), r = (min_lr/lr)^(1/9).
// SGD is Nesterov with momentum; Adam uses beta1 = momentum, beta2 = 0.999,
// eps = 1e-8; both add weight decay to the gradient (L2), as PyTorch.
#ifndef SIAMESE_OPTIM_H
#define SIAMESE_OPTIM_H

#include "err.h"
#include "model.h"

typedef enum OptimKind { OPTIM_SGD, OPTIM_ADAM } OptimKind;
typedef enum LrDecay { LR_COS, LR_STEP } LrDecay;

#define OPTIM_NOMINAL_BATCH 64

// The batch-size scaled and clamped initial and minimum rates.
void optim_fit_lr(OptimKind k, int batch_size, double lr, double min_lr, double *lr_fit,
                  double *min_lr_fit);
// The rate of epoch (0-based) of a run of `epochs` epochs.
double optim_schedule(LrDecay d, double lr, double min_lr, int epochs, int epoch);
// The total step count below which the original warns: 3e4 (sgd), 1e4 (adam).
long optim_wanted_steps(OptimKind k);

typedef struct Optim {
    OptimKind kind;
    double momentum, weight_decay;
    long t;            // steps taken (Adam's bias correction counts from 1)
    float *slot[2];    // device: SGD momentum buffer; Adam first and second moments
    size_t n;
} Optim;

int optim_create(Optim *o, OptimKind k, double momentum, double weight_decay, Model *m, Err *e);
void optim_free(Optim *o, Model *m);
// One update of m->params from m->grads at rate lr.
void optim_step(Optim *o, Model *m, double lr);
// Number of slots in use (1 SGD, 2 Adam).
int optim_slots(const Optim *o);

#endif
