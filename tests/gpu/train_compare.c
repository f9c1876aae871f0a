// train_compare: trains the same model from the same initial weights on two
// backends in lockstep (same batches, same optimizer) and prints both loss
// curves, for the GPU check (tests/gpu/check.sh): the CUDA backend must
// train as the CPU reference does.
//
// Independent of the train module on purpose: model.h and the backend's
// optimizer operations only, with a fixed pair sampler (seeded), so that
// any difference comes from the backends alone.
//
// Pass criteria (exit 0), every loss being finite:
//  - both in FP32: the first 10 losses agree within 1e-3 (they differ only
//    by rounding, which training then slowly amplifies), and the mean
//    losses of the last quarter of the run agree within 5% (the curves stay
//    together);
//  - B with --precision bf16 or tf32 (A in FP32, from the same weights):
//    the first 10 losses agree within 2e-2 (bfloat16 operands carry about 3
//    significant digits, TF32 ones about 4), and the mean |loss A - loss B|
//    over all steps is at most 0.02 (the curves agree while the two runs'
//    weights drift apart).
// Exit 1 otherwise, 2 on usage.
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/image.h"
#include "../../engine/rng.h"
#include "tool.h"

#define EARLY_STEPS 10
#define EARLY_TOL 1e-3
#define LATE_REL_TOL 0.05
#define AMP_EARLY_TOL 2e-2
#define AMP_MEAN_TOL 0.02

// One class (an Omniglot character): the paths of its images.
typedef struct Class {
    char **paths;
    int n;
} Class;

typedef struct Data {
    Class *classes;
    int n;
    int synthetic;  // no files: each class is a random pattern plus noise
} Data;

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}
static int visible(const struct dirent *d) { return d->d_name[0] != '.'; }

// dir/name into buf; a path longer than buf (than any the system opens) ends the tool.
static void join_path(char *buf, size_t size, const char *dir, const char *name) {
    if (snprintf(buf, size, "%s/%s", dir, name) >= (int)size) {
        fprintf(stderr, "%s/%s: the path is too long\n", dir, name);
        exit(1);
    }
}

// The sorted entries of dir (so the same files give the same run anywhere).
static int list_dir(const char *dir, struct dirent ***out) {
    return scandir(dir, out, visible, by_name);
}

// DIR/alphabet/character/image: every character folder with two images or more.
static void data_scan(Data *d, const char *root) {
    struct dirent **alpha;
    int na = list_dir(root, &alpha);
    if (na < 0) {
        fprintf(stderr, "--data %s: cannot read the folder\n", root);
        exit(1);
    }
    for (int a = 0; a < na; a++) {
        char adir[4096];
        join_path(adir, sizeof adir, root, alpha[a]->d_name);
        struct dirent **chars;
        int nc = list_dir(adir, &chars);
        for (int c = 0; c < nc; c++) {
            char cdir[4096];
            join_path(cdir, sizeof cdir, adir, chars[c]->d_name);
            struct dirent **imgs;
            int ni = list_dir(cdir, &imgs);
            if (ni >= 2) {
                d->classes = realloc(d->classes, (d->n + 1) * sizeof *d->classes);
                Class *k = &d->classes[d->n++];
                k->n = ni;
                k->paths = malloc(ni * sizeof *k->paths);
                for (int i = 0; i < ni; i++) {
                    k->paths[i] = malloc(strlen(cdir) + strlen(imgs[i]->d_name) + 2);
                    sprintf(k->paths[i], "%s/%s", cdir, imgs[i]->d_name);
                }
            }
            for (int i = 0; i < ni; i++) free(imgs[i]);
            if (ni >= 0) free(imgs);
            free(chars[c]);
        }
        if (nc >= 0) free(chars);
        free(alpha[a]);
    }
    free(alpha);
    if (d->n < 2) {
        fprintf(stderr, "--data %s: expected alphabet/character/image folders with at least two "
                        "characters of two images each; found %d\n", root, d->n);
        exit(1);
    }
}

// Image `index` of class k as network input (S,S,3).
static void data_image(const Data *d, int k, int index, int S, Rng *r, float *out) {
    if (d->synthetic) {
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float v = (float)((x * (k + 1) + y * (k + 3)) % 17) / 17.0f;
                v += 0.2f * rng_uniform(r) - 0.1f;
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                for (int c = 0; c < 3; c++) out[((size_t)y * S + x) * 3 + c] = v;
            }
        return;
    }
    Image img;
    Err e;
    Preprocess pre = {0, 0};
    const char *path = d->classes[k].paths[index];
    if (image_load(path, &img, &e) || image_to_input(&img, S, &pre, out)) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        exit(1);
    }
    image_free(&img);
}

// N pairs (first images in rows [0,N), second in [N,2N)), alternately the
// same class (label 1) and two different classes (label 0).
static void data_batch(const Data *d, Rng *r, int N, int S, float *pairs, float *labels) {
    const size_t img = (size_t)S * S * 3;
    for (int i = 0; i < N; i++) {
        int same = i % 2 == 0;
        int k1 = (int)rng_below(r, d->n), k2 = k1;
        while (!same && k2 == k1) k2 = (int)rng_below(r, d->n);
        int n1 = d->synthetic ? 20 : d->classes[k1].n, n2 = d->synthetic ? 20 : d->classes[k2].n;
        int i1 = (int)rng_below(r, n1), i2 = (int)rng_below(r, n2);
        while (same && i2 == i1) i2 = (int)rng_below(r, n2);
        data_image(d, k1, i1, S, r, pairs + i * img);
        data_image(d, k2, i2, S, r, pairs + (N + i) * img);
        labels[i] = (float)same;
    }
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: train_compare [options]\n"
            "Trains one model on two backends in lockstep and compares the loss curves.\n"
            "  --a DEV, --b DEV       the two backends (default cpu and cuda)\n"
            "  --data DIR|synthetic   alphabet/character/image folders (default synthetic)\n"
            "  --backbone NAME        vgg16 or compact (default vgg16)\n"
            "  --input N              input side (default 105)\n"
            "  --batch N              pairs per step (default 8)\n"
            "  --steps N              steps (default 200)\n"
            "  --optimizer sgd|adam   (default sgd: lr 0.01, Nesterov momentum 0.9, decay 5e-4)\n"
            "  --lr X                 learning rate\n"
            "  --time-limit S         stop after S seconds, reporting the steps done (0: none)\n"
            "  --every N              print every N-th step (default 10)\n"
            "  --csv PATH             write step,loss_a,loss_b\n"
            "  --precision P          B's precision: fp32, tf32 or bf16 (A is fp32; default fp32)\n");
}

int main(int argc, char **argv) {
    static const struct option longs[] = {
        {"a", required_argument, 0, 'a'},         {"b", required_argument, 0, 'b'},
        {"data", required_argument, 0, 'd'},      {"backbone", required_argument, 0, 'k'},
        {"input", required_argument, 0, 's'},     {"batch", required_argument, 0, 'n'},
        {"steps", required_argument, 0, 't'},     {"optimizer", required_argument, 0, 'o'},
        {"lr", required_argument, 0, 'l'},        {"time-limit", required_argument, 0, 'T'},
        {"every", required_argument, 0, 'e'},     {"csv", required_argument, 0, 'c'},
        {"precision", required_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *dev[2] = {"cpu", "cuda"}, *data = "synthetic", *backbone = "vgg16";
    const char *optimizer = "sgd", *csv = NULL;
    BackendPrecision asked = BACKEND_FP32;
    int S = 105, N = 8, steps = 200, every = 10;
    double lr = -1, time_limit = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'a': dev[0] = optarg; break;
        case 'b': dev[1] = optarg; break;
        case 'd': data = optarg; break;
        case 'k': backbone = optarg; break;
        case 's': S = (int)tool_int("--input", optarg, MODEL_MIN_INPUT, MODEL_MAX_INPUT); break;
        case 'n': N = (int)tool_int("--batch", optarg, 1, 4096); break;
        case 't': steps = (int)tool_int("--steps", optarg, 1, 1000000); break;
        case 'o': optimizer = optarg; break;
        case 'l': lr = atof(optarg); break;
        case 'T': time_limit = atof(optarg); break;
        case 'e': every = (int)tool_int("--every", optarg, 1, 1000000); break;
        case 'c': csv = optarg; break;
        case 'p': asked = tool_precision(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int adam = !strcmp(optimizer, "adam");
    if (!adam && strcmp(optimizer, "sgd")) {
        fprintf(stderr, "--optimizer %s: expected sgd or adam\n", optimizer);
        return 2;
    }
    if (lr <= 0) lr = adam ? 1e-4 : 1e-2;

    Data d = {0};
    if (!strcmp(data, "synthetic")) {
        d.synthetic = 1;
        d.n = 20;
    } else {
        data_scan(&d, data);
    }
    ModelSpec spec;
    tool_spec(&spec, backbone, S);
    Backend *be[2];
    Model *m[2];
    float *slot[2][2];
    BackendPrecision precision = BACKEND_FP32;
    for (int k = 0; k < 2; k++) {
        be[k] = tool_backend(dev[k]);
        BackendPrecision p = tool_set_precision(be[k], k == 1 ? asked : BACKEND_FP32);
        if (k == 1) precision = p;
        m[k] = tool_model(&spec, be[k], 1, 1);
        for (int j = 0; j < 2; j++)
            slot[k][j] = be[k]->ops->alloc(be[k], m[k]->n_params * sizeof(float));
        if (!slot[k][0] || !slot[k][1]) {
            fprintf(stderr, "out of memory for the optimizer state\n");
            return 1;
        }
        printf("backend %c: %s, %s\n", 'A' + k, be[k]->desc, backend_precision_name(p));
    }
    char name[64];
    model_spec_describe(&spec, name, sizeof name);
    printf("model %s, input %d, %zu parameters; %d pairs per step, %d steps, %s lr %g, data %s "
           "(%d classes)\n",
           name, S, m[0]->n_params, N, steps, optimizer, lr, data, d.n);

    const size_t img = (size_t)S * S * 3;
    float *pairs = malloc(2 * N * img * sizeof(float)), *labels = malloc(N * sizeof(float));
    float *loss[2] = {malloc(steps * sizeof(float)), malloc(steps * sizeof(float))};
    double spent[2] = {0, 0}, start = tool_now();
    Rng r;
    rng_seed(&r, 1234);
    int done = 0;
    printf("%6s %12s %12s %10s\n", "step", "loss A", "loss B", "|A-B|");
    for (int step = 0; step < steps; step++) {
        data_batch(&d, &r, N, S, pairs, labels);
        for (int k = 0; k < 2; k++) {
            Err e;
            double t0 = tool_now();
            if (siamese_forward(m[k], pairs, labels, N, NULL, &loss[k][step], &e)) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
            }
            siamese_backward(m[k], N, 0);
            const BackendOps *o = be[k]->ops;
            if (adam)
                o->adam_step(be[k], m[k]->params, m[k]->grads, slot[k][0], slot[k][1],
                             m[k]->n_params, (float)lr, 0.9f, 0.999f, 1e-7f, 5e-4f, step + 1);
            else
                o->sgd_nesterov_step(be[k], m[k]->params, m[k]->grads, slot[k][0],
                                     m[k]->n_params, (float)lr, 0.9f, 5e-4f);
            o->synchronize(be[k]);
            spent[k] += tool_now() - t0;
        }
        done = step + 1;
        if (step % every == 0 || step == steps - 1)
            printf("%6d %12.6f %12.6f %10.2e\n", step + 1, loss[0][step], loss[1][step],
                   fabs(loss[0][step] - loss[1][step]));
        fflush(stdout);
        if (time_limit > 0 && tool_now() - start > time_limit && done < steps) {
            printf("time limit of %.0f s reached after %d of %d steps\n", time_limit, done, steps);
            break;
        }
    }

    const int reduced = precision != BACKEND_FP32;  // tf32 or bf16 against fp32
    const double early_tol = reduced ? AMP_EARLY_TOL : EARLY_TOL;
    double early = 0, late[2] = {0, 0}, mean_diff = 0;
    int n_early = done < EARLY_STEPS ? done : EARLY_STEPS, from = done - (done + 3) / 4;
    for (int i = 0; i < n_early; i++) early = fmax(early, fabs(loss[0][i] - loss[1][i]));
    for (int i = from; i < done; i++)
        for (int k = 0; k < 2; k++) late[k] += loss[k][i] / (done - from);
    for (int i = 0; i < done; i++) mean_diff += fabs(loss[0][i] - loss[1][i]) / done;
    double late_rel = fabs(late[0] - late[1]) / fmax(fabs(late[0]), 1e-12);
    printf("first %d steps: max |loss A - loss B| = %.2e (limit %.0e)\n", n_early, early,
           early_tol);
    printf("last %d steps: mean loss A %.6f, B %.6f, relative difference %.2e", done - from,
           late[0], late[1], late_rel);
    if (reduced)
        printf("\nall %d steps: mean |loss A - loss B| = %.2e (limit %.0e)\n", done, mean_diff,
               AMP_MEAN_TOL);
    else
        printf(" (limit %.0e)\n", LATE_REL_TOL);
    printf("first loss %.6f -> last-quarter mean %.6f (A)\n", loss[0][0], late[0]);
    printf("time per step: A %.1f ms, B %.1f ms\n", 1e3 * spent[0] / done, 1e3 * spent[1] / done);
    if (csv) {
        FILE *f = fopen(csv, "w");
        if (!f) {
            fprintf(stderr, "--csv %s: cannot write\n", csv);
            return 1;
        }
        fprintf(f, "step,loss_a,loss_b\n");
        for (int i = 0; i < done; i++) fprintf(f, "%d,%.7f,%.7f\n", i + 1, loss[0][i], loss[1][i]);
        fclose(f);
    }
    int finite = 1;
    for (int i = 0; i < done; i++) finite &= isfinite(loss[0][i]) && isfinite(loss[1][i]);
    if (!finite) printf("a loss is not finite: training diverged (lower --lr)\n");
    int ok = finite && early <= early_tol &&
             (reduced ? mean_diff <= AMP_MEAN_TOL : late_rel <= LATE_REL_TOL);
    printf("%s: the loss curves %s\n", ok ? "PASS" : "FAIL", ok ? "agree" : "differ");
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 2; j++) be[k]->ops->free(be[k], slot[k][j]);
        model_free(m[k]);
        backend_close(be[k]);
        free(loss[k]);
    }
    free(pairs);
    free(labels);
    return ok ? 0 : 1;
}
