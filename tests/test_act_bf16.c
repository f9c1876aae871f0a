// test_act_bf16: the model over a backend whose activations are bfloat16
// (backend.h: BackendActType), against the same model in float32.
//
// Only the GPU keeps activations in bfloat16 (under --precision bf16), but
// what the model does around them, the conversions at the backbone's two
// ends, the float32 features for the head and the store, the input
// gradient through a ping-pong buffer, buffers made again when the storage
// changes, is the model's own, so it is checked here on any machine, on
// the CPU reference with emulated activations (act_emu.h) in two storages:
//  - scrambled: float32 with its bits flipped by a key. The model's path
//    must then give exactly the float32 model's numbers, bit for bit; a
//    buffer handed over unconverted (or converted twice, or never written)
//    reads as garbage. This is the plumbing's test.
//  - bfloat16, rounded to nearest even as the GPU's kernels round: the
//    outputs and the losses of a few SGD steps stay within bfloat16's
//    rounding of the float32 model's. (Gradients are not compared element
//    by element: at random weights bfloat16's rounding moves the ReLU
//    decisions of the hidden layer, and with them up to half of the
//    gradients' norm; rounding the convolutions' operands instead, as
//    --precision bf16 does without bfloat16 activations, moves them as much.)
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/backend.h"
#include "../engine/model.h"
#include "../engine/rng.h"
#include "act_emu.h"
#include "check.h"

// bfloat16: probabilities, losses and features, relative to the largest
// value: a dozen layers' roundings of 2^-9 each.
#define TOL_BF16 2e-2

// The model on the emulated storage against the float32 model: inference
// (features, probabilities), then three SGD steps with input gradients.
static void compare_models(Backend *cpu, Backend *emu) {
    Err e;
    const int exact = act_emu_storage == ACT_EMU_SCRAMBLED;
    printf("activations stored %s\n", exact ? "scrambled (exact)" : "as bfloat16");
    ModelSpec spec;
    model_spec_compact(&spec, 64);
    Model *mf, *me;  // float32 activations, emulated storage
    CHECK(model_create(&mf, &spec, cpu, &e) == 0, "%s", e.msg);
    CHECK(model_create(&me, &spec, emu, &e) == 0, "%s", e.msg);
    CHECK(model_init_random(mf, 5, &e) == 0 && model_init_random(me, 5, &e) == 0, "%s", e.msg);
    const int N = 3;
    const size_t img = 64 * 64 * 3, F = mf->feat_dim, P = mf->n_params;
    Rng rng;
    rng_seed(&rng, 11);
    float *pairs = malloc(2 * N * img * sizeof *pairs), labels[3] = {1, 0, 1};
    // The second images darker than the first: at random weights two
    // random images give nearly the same features, whose difference (the
    // head's input) bfloat16's rounding of each would swamp; a trained
    // model's features of two images differ as these do.
    for (size_t i = 0; i < 2 * N * img; i++)
        pairs[i] = rng_uniform(&rng) * (i < N * img ? 1.0f : 0.25f);
    const double tol = exact ? 0.0 : TOL_BF16;

    // Inference first (no training buffers): single images, then pairs.
    float *ff = malloc(2 * N * F * sizeof *ff), *fe = malloc(2 * N * F * sizeof *fe);
    CHECK(model_embed(mf, pairs, 2 * N, ff, &e) == 0, "%s", e.msg);
    CHECK(model_embed(me, pairs, 2 * N, fe, &e) == 0, "%s", e.msg);
    double err = check_rel_err(fe, ff, 2 * N * F, 1e-30);
    printf("  features (model_embed): max rel err %.2e (tolerance %.0e)\n", err, tol);
    CHECK(err <= tol, "features %.3e", err);
    float pf[3], pe[3], lf, le;
    CHECK(siamese_forward(mf, pairs, NULL, N, pf, NULL, &e) == 0, "%s", e.msg);
    CHECK(siamese_forward(me, pairs, NULL, N, pe, NULL, &e) == 0, "%s", e.msg);
    err = check_rel_err(pe, pf, N, 1e-30);
    printf("  probabilities: max rel err %.2e (tolerance %.0e)\n", err, tol);
    CHECK(err <= tol, "probabilities %.3e", err);

    // Training: the backward pass with the input gradient, then an SGD step.
    CHECK(model_enable_training(mf, &e) == 0 && model_enable_training(me, &e) == 0, "%s", e.msg);
    float *mom[2] = {cpu->ops->alloc(cpu, P * sizeof(float)),
                     cpu->ops->alloc(cpu, P * sizeof(float))};
    for (int step = 0; step < 3; step++) {
        CHECK(siamese_forward(mf, pairs, labels, N, pf, &lf, &e) == 0, "%s", e.msg);
        CHECK(siamese_forward(me, pairs, labels, N, pe, &le, &e) == 0, "%s", e.msg);
        err = fabs(le - lf) / fabs(lf);
        printf("  step %d: loss %.7f, float32 %.7f: rel err %.2e (tolerance %.0e)\n", step, le, lf,
               err, tol);
        CHECK(err <= tol, "loss at step %d: %.3e", step, err);
        siamese_backward(mf, N, 1);
        siamese_backward(me, N, 1);
        CHECK(backend_check(cpu, &e) == 0 && backend_check(emu, &e) == 0, "%s", e.msg);
        if (exact) {
            CHECK(!memcmp(me->grads, mf->grads, P * sizeof(float)),
                  "step %d: the parameter gradients differ", step);
            CHECK(!memcmp(me->dinput, mf->dinput, 2 * N * img * sizeof(float)),
                  "step %d: the input gradients differ", step);
        }
        cpu->ops->sgd_nesterov_step(cpu, mf->params, mf->grads, mom[0], P, 0.05f, 0.9f, 0.0f);
        cpu->ops->sgd_nesterov_step(emu, me->params, me->grads, mom[1], P, 0.05f, 0.9f, 0.0f);
    }
    if (exact) printf("  parameter and input gradients: exact at every step\n");
    // The backend's storage back to float32 (a bf16 run validates in
    // tf32): the same model object on the float32 path, exactly.
    CHECK(backend_set_precision(emu, BACKEND_FP32, &e) == 0 && emu->act == BACKEND_ACT_F32,
          "float32 activations in FP32");
    Model *mc;
    CHECK(model_create(&mc, &spec, cpu, &e) == 0, "%s", e.msg);
    cpu->ops->upload(cpu, mc->params, me->params, P * sizeof(float));
    CHECK(model_embed(me, pairs, 2 * N, fe, &e) == 0, "%s", e.msg);
    CHECK(model_embed(mc, pairs, 2 * N, ff, &e) == 0, "%s", e.msg);
    CHECK(!memcmp(fe, ff, 2 * N * F * sizeof *ff), "float32 again after the emulated storage");
    printf("  float32 activations again on the same model: features exact\n");
    model_free(mc);
    model_free(mf);
    model_free(me);
    cpu->ops->free(cpu, mom[0]);
    cpu->ops->free(cpu, mom[1]);
    free(pairs);
    free(ff);
    free(fe);
}

int main(void) {
    Err e;
    Backend *cpu, *inner;
    if (backend_open(&cpu, "cpu", 1, NULL, 0, &e) || backend_open(&inner, "cpu", 1, NULL, 0, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    Backend *emu = act_emu_open(inner);
    const ActEmuStorage storages[] = {ACT_EMU_SCRAMBLED, ACT_EMU_BF16};
    for (int i = 0; i < 2; i++) {
        act_emu_storage = storages[i];
        CHECK(backend_set_precision(emu, BACKEND_BF16, &e) == 0 && emu->act == BACKEND_ACT_BF16,
              "emulated activations under bf16");
        compare_models(cpu, emu);
    }
    backend_close(emu);
    backend_close(cpu);
    return check_summary("test_act_bf16");
}
