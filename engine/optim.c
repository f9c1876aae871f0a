#include "optim.h"

#include <math.h>

void optim_fit_lr(OptimKind k, int batch_size, double lr, double min_lr, double *lr_fit,
                  double *min_lr_fit) {
    const double hi = k == OPTIM_ADAM ? 1e-3 : 1e-1, lo = k == OPTIM_ADAM ? 3e-4 : 5e-4;
    const double f = (double)batch_size / OPTIM_NOMINAL_BATCH;
    *lr_fit = fmin(fmax(f * lr, lo), hi);
    *min_lr_fit = fmin(fmax(f * min_lr, lo * 1e-2), hi * 1e-2);
}

double optim_schedule(LrDecay d, double lr, double min_lr, int epochs, int epoch) {
    const double total = epochs, it = epoch;
    if (d == LR_COS) {
        const double warmup = fmin(fmax(0.05 * total, 1), 3);
        const double warmup_start = fmax(0.1 * lr, 1e-6);
        const double tail = fmin(fmax(0.05 * total, 1), 15);
        if (it <= warmup) return (lr - warmup_start) * pow(it / warmup, 2) + warmup_start;
        if (it >= total - tail) return min_lr;
        return min_lr +
               0.5 * (lr - min_lr) * (1.0 + cos(M_PI * (it - warmup) / (total - warmup - tail)));
    }
    const int step_num = 10;
    const double rate = pow(min_lr / lr, 1.0 / (step_num - 1));
    // The original raises "step_size must above 1" for runs under 10
    // epochs; a step of at least one epoch keeps such runs going instead.
    const double step_size = fmax(total / step_num, 1.0);
    return lr * pow(rate, floor(it / step_size));
}

long optim_wanted_steps(OptimKind k) { return k == OPTIM_SGD ? 30000 : 10000; }

int optim_slots(const Optim *o) { return o->kind == OPTIM_ADAM ? 2 : 1; }

int optim_create(Optim *o, OptimKind k, double momentum, double weight_decay, Model *m, Err *e) {
    *o = (Optim){.kind = k, .momentum = momentum, .weight_decay = weight_decay, .n = m->n_params};
    for (int i = 0; i < optim_slots(o); i++) {
        // Zero-filled: the state of a fresh optimizer. In the parameters'
        // layout, as the element-wise steps pair each slot with its
        // parameter and a checkpoint reads and writes them in Keras's.
        o->slot[i] = m->be->ops->alloc_params(m->be, &m->layout);
        if (!o->slot[i]) {
            optim_free(o, m);
            return err_set(e, "out of memory for the optimizer state (%zu parameters)",
                           m->n_params);
        }
    }
    return 0;
}

void optim_free(Optim *o, Model *m) {
    for (int i = 0; i < 2; i++)
        if (o->slot[i]) m->be->ops->free(m->be, o->slot[i]);
    o->slot[0] = o->slot[1] = NULL;
}

void optim_step(Optim *o, Model *m, double lr) {
    Backend *be = m->be;
    o->t++;
    backend_label(be, "optimizer");
    if (o->kind == OPTIM_SGD)
        be->ops->sgd_nesterov_step(be, m->params, m->grads, o->slot[0], m->n_params, (float)lr,
                                   (float)o->momentum, (float)o->weight_decay);
    else
        be->ops->adam_step(be, m->params, m->grads, o->slot[0], o->slot[1], m->n_params, (float)lr,
                           (float)o->momentum, 0.999f, 1e-8f, (float)o->weight_decay, o->t);
}
