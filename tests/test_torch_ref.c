// The CPU engine against PyTorch (float64 reference, tests/gen_torch_reference.py):
// a small Siamese model (widths 4,4|8,8|8,8,8|16,16,16|16,16,16, dense 32,
// input 32x32) on 3 pairs. Compared tensor by tensor: probabilities,
// loss, features, every parameter gradient, the input gradients, and the
// weights after 3 steps of SGD-Nesterov and of Adam (PyTorch semantics).
//
// Tolerances (float32 engine vs float64 reference): forward values 1e-5
// absolute; gradients 1e-4 of the tensor's largest entry (accumulation
// order in float32 GEMMs; relative to max(largest entry, 1e-2), since a
// tensor that is 0 in exact arithmetic holds only rounding noise); weights
// after 3 optimizer steps 1e-5 absolute. The steps go through optim.c, as
// training takes them, so its constants (Adam's beta2 and epsilon, the step
// count of the bias correction, which settings reach the backend) are
// checked against PyTorch's too, not only the backend's update rules.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/model.h"
#include "../engine/optim.h"
#include "../engine/weights.h"
#include "check.h"
#include "h5read.h"

#define REF "tests/fixtures/torch_ref.h5"
#define WEIGHTS "tests/fixtures/torch_ref_weights.h5"

static Backend *be;

static float *ref(const char *name, size_t want) {
    size_t n = 0;
    float *v = h5_floats(REF, name, &n);
    if (!v || n != want) {
        fprintf(stderr, "FAIL: %s has %zu values, expected %zu\n", name, n, want);
        exit(1);
    }
    return v;
}

static Model *load(void) {
    Model *m;
    WeightsInfo info;
    Err e;
    if (weights_open_model(&m, WEIGHTS, be, &info, &e)) {
        fprintf(stderr, "FAIL: %s\n", e.msg);
        exit(1);
    }
    CHECK(info.spec.input_size == 32, "input size inferred as %d", info.spec.input_size);
    if (model_enable_training(m, &e)) exit(1);
    return m;
}

// One training step on the batch with the optimizer, at PyTorch's settings
// (tests/gen_torch_reference.py: SGD_HP, ADAM_HP): momentum (Adam's beta1)
// 0.9, weight decay 5e-4, rate 0.01 (SGD) or 1e-3 (Adam).
static float step(Model *m, Optim *o, const float *pairs, const float *y, int N) {
    float loss;
    Err e;
    siamese_forward(m, pairs, y, N, NULL, &loss, &e);
    siamese_backward(m, N, 1);
    optim_step(o, m, o->kind == OPTIM_SGD ? 0.01 : 1e-3);
    return loss;
}

static void compare_params(Model *m, const char *group, const float *source, double tol,
                           int relative) {
    char name[96];
    for (int i = 0; i < m->n_layers; i++) {
        const Layer *l = &m->layers[i];
        if (l->kind == LAYER_POOL) continue;
        for (int part = 0; part < 2; part++) {
            snprintf(name, sizeof name, "%s/%s/%s", group, l->name, part ? "bias" : "kernel");
            size_t off = part ? l->b_off : l->w_off, len = part ? l->b_len : l->w_len;
            float *want = ref(name, len);
            double err = relative ? check_rel_err(source + off, want, len, 1e-2)
                                  : check_max_abs_diff(source + off, want, len, NULL);
            double t = tol;
            if (!strcmp(group, "adam")) {
                // The last conv layer's bias gradient is 0 in exact
                // arithmetic (|f1 - f2| ignores a shift of both twins), so
                // both sides hold rounding noise that Adam's m/sqrt(v)
                // turns into steps of up to lr: only bound the drift.
                snprintf(name, sizeof name, "grad/%s/%s", l->name, part ? "bias" : "kernel");
                float *g = ref(name, len);
                double gmax = 0;
                for (size_t q = 0; q < len; q++) gmax = fmax(gmax, fabs(g[q]));
                if (gmax < 1e-6) t = 3 * 3 * 1e-3;
                free(g);
                snprintf(name, sizeof name, "%s/%s/%s", group, l->name, part ? "bias" : "kernel");
            }
            CHECK(err <= t, "%s: %s error %.3g > %.1g", name, relative ? "relative" : "absolute",
                  err, tol);
            free(want);
        }
    }
}

int main(void) {
    Err e;
    if (backend_cpu_open(&be, 2, &e)) return 1;
    const int N = 3, S = 32;
    const size_t img = (size_t)S * S * 3;
    float *x1 = ref("x1", N * img), *x2 = ref("x2", N * img), *y = ref("y", N);
    float *pairs = malloc(2 * N * img * sizeof *pairs);
    memcpy(pairs, x1, N * img * sizeof *pairs);
    memcpy(pairs + N * img, x2, N * img * sizeof *pairs);

    // Forward and gradients.
    Model *m = load();
    float prob[3], loss;
    siamese_forward(m, pairs, y, N, prob, &loss, &e);
    float *want_prob = ref("prob", N), *want_loss = ref("loss", 1);
    CHECK(check_max_abs_diff(prob, want_prob, N, NULL) < 1e-5, "prob %g %g %g vs %g %g %g",
          prob[0], prob[1], prob[2], want_prob[0], want_prob[1], want_prob[2]);
    CHECK(fabs(loss - want_loss[0]) < 1e-5, "loss %.8g vs %.8g", loss, want_loss[0]);
    float *feats = malloc(2 * N * m->feat_dim * sizeof *feats);
    m->be->ops->download(be, feats, m->acts[m->n_backbone - 1], 2 * N * m->feat_dim * sizeof *feats);
    float *f1 = ref("feat1", N * m->feat_dim), *f2 = ref("feat2", N * m->feat_dim);
    CHECK(check_max_abs_diff(feats, f1, N * m->feat_dim, NULL) < 1e-5, "features of image 1");
    CHECK(check_max_abs_diff(feats + N * m->feat_dim, f2, N * m->feat_dim, NULL) < 1e-5,
          "features of image 2");
    siamese_backward(m, N, 1);
    compare_params(m, "grad", m->grads, 1e-4, 1);
    float *gx1 = ref("grad/x1", N * img), *gx2 = ref("grad/x2", N * img);
    double e1 = check_rel_err(m->dinput, gx1, N * img, 1e-6);
    double e2 = check_rel_err(m->dinput + N * img, gx2, N * img, 1e-6);
    CHECK(e1 < 1e-4 && e2 < 1e-4, "input gradients: relative error %.3g, %.3g", e1, e2);
    model_free(m);

    // Three optimizer steps, each optimizer from the same initial weights.
    const char *opts[2] = {"sgd", "adam"};
    for (int o = 0; o < 2; o++) {
        m = load();
        Optim opt;
        if (optim_create(&opt, o ? OPTIM_ADAM : OPTIM_SGD, 0.9, 5e-4, m, &e)) {
            fprintf(stderr, "FAIL: %s\n", e.msg);
            return 1;
        }
        char name[64];
        snprintf(name, sizeof name, "%s/losses", opts[o]);
        float *want_losses = ref(name, 3);
        for (long t = 1; t <= 3; t++) {
            float l = step(m, &opt, pairs, y, N);
            CHECK(fabs(l - want_losses[t - 1]) < 1e-5, "%s step %ld loss %.8g vs %.8g", opts[o], t,
                  l, want_losses[t - 1]);
        }
        CHECK(opt.t == 3, "%s: %ld steps counted", opts[o], opt.t);
        compare_params(m, opts[o], m->params, 1e-5, 0);
        free(want_losses);
        optim_free(&opt, m);
        model_free(m);
    }
    free(x1), free(x2), free(y), free(pairs), free(want_prob), free(want_loss), free(feats);
    free(f1), free(f2), free(gx1), free(gx2);
    backend_close(be);
    return check_summary("torch_ref");
}
