// The learning-rate fitting and schedules against the original's formulas
// (utils.get_lr_scheduler, train.py), at hand-computed points.
#include <math.h>

#include "../engine/optim.h"
#include "check.h"

#define NEAR(a, b) (fabs((a) - (b)) <= 1e-12 + 1e-9 * fabs(b))

int main(void) {
    double lr, mn;
    // nbs = 64: the rate scales with batch / 64, then is clamped.
    optim_fit_lr(OPTIM_SGD, 32, 1e-2, 1e-4, &lr, &mn);
    CHECK(NEAR(lr, 5e-3) && NEAR(mn, 5e-5), "sgd 32: %g %g", lr, mn);
    optim_fit_lr(OPTIM_ADAM, 32, 1e-3, 1e-5, &lr, &mn);
    CHECK(NEAR(lr, 5e-4) && NEAR(mn, 5e-6), "adam 32: %g %g", lr, mn);
    optim_fit_lr(OPTIM_ADAM, 16, 1e-3, 1e-5, &lr, &mn);  // below the floor: 3e-4, 3e-6
    CHECK(NEAR(lr, 3e-4) && NEAR(mn, 3e-6), "adam 16: %g %g", lr, mn);
    optim_fit_lr(OPTIM_ADAM, 64, 4e-3, 4e-5, &lr, &mn);  // above the ceiling: 1e-3, 1e-5
    CHECK(NEAR(lr, 1e-3) && NEAR(mn, 1e-5), "adam 64 4e-3: %g %g", lr, mn);
    optim_fit_lr(OPTIM_SGD, 4096, 1e-2, 1e-4, &lr, &mn);
    CHECK(NEAR(lr, 1e-1) && NEAR(mn, 1e-3), "sgd 4096: %g %g", lr, mn);
    optim_fit_lr(OPTIM_SGD, 1, 1e-2, 1e-4, &lr, &mn);
    CHECK(NEAR(lr, 5e-4) && NEAR(mn, 5e-6), "sgd 1: %g %g", lr, mn);

    // cos over 100 epochs, lr 5e-3, min 5e-5: warm-up 3 epochs from 5e-4
    // (quadratic), cosine over epochs 3..95, flat tail from 95.
    const double L = 5e-3, M = 5e-5;
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 100, 0), 5e-4), "cos e0");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 100, 1), 1e-3), "cos e1: (L-5e-4)/9 + 5e-4");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 100, 3), L), "cos e3");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 100, 49), M + 0.5 * (L - M)), "cos e49: half way");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 100, 4), M + 0.5 * (L - M) * (1 + cos(M_PI / 92))),
          "cos e4");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 100, 95), M), "cos e95: tail");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 100, 99), M), "cos e99: tail");
    // 10 epochs: warm-up 1 epoch, tail 1 epoch, cosine over 1..9.
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 10, 0), 0.1 * L), "cos10 e0");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 10, 1), L), "cos10 e1");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 10, 5), M + 0.5 * (L - M)), "cos10 e5");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 10, 9), M), "cos10 e9");
    // 400 epochs: the warm-up stays at 3 epochs and the tail at 15 (both
    // 5% of the run, capped): cosine over 3..385, flat from 385.
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 400, 3), L), "cos400 e3");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 400, 194), M + 0.5 * (L - M)), "cos400 e194: half way");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 400, 384),
               M + 0.5 * (L - M) * (1 + cos(M_PI * 381 / 382))),
          "cos400 e384: the cosine's last epoch");
    CHECK(NEAR(optim_schedule(LR_COS, L, M, 400, 385), M), "cos400 e385: tail");
    // A tiny warm-up start is floored at 1e-6.
    CHECK(NEAR(optim_schedule(LR_COS, 5e-6, 5e-8, 100, 0), 1e-6), "cos floor");

    // step: 10 steps of E/10 epochs from lr to min_lr.
    const double r = pow(1e-4 / 1e-2, 1.0 / 9);
    CHECK(NEAR(optim_schedule(LR_STEP, 1e-2, 1e-4, 100, 0), 1e-2), "step e0");
    CHECK(NEAR(optim_schedule(LR_STEP, 1e-2, 1e-4, 100, 9), 1e-2), "step e9");
    CHECK(NEAR(optim_schedule(LR_STEP, 1e-2, 1e-4, 100, 10), 1e-2 * r), "step e10");
    CHECK(NEAR(optim_schedule(LR_STEP, 1e-2, 1e-4, 100, 55), 1e-2 * pow(r, 5)), "step e55");
    CHECK(NEAR(optim_schedule(LR_STEP, 1e-2, 1e-4, 100, 99), 1e-4), "step e99: min");
    CHECK(NEAR(optim_schedule(LR_STEP, 1e-2, 1e-4, 30, 6), 1e-2 * pow(r, 2)), "step30 e6");
    // Under 10 epochs a step lasts one epoch (the original refuses such runs).
    CHECK(NEAR(optim_schedule(LR_STEP, 1e-2, 1e-4, 5, 0), 1e-2), "step5 e0");
    CHECK(NEAR(optim_schedule(LR_STEP, 1e-2, 1e-4, 5, 4), 1e-2 * pow(r, 4)), "step5 e4");

    CHECK(optim_wanted_steps(OPTIM_SGD) == 30000 && optim_wanted_steps(OPTIM_ADAM) == 10000,
          "wanted steps");
    return check_summary("test_optim");
}
