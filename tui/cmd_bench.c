// siamese bench: times one configuration of the engine and prints one
// line of key=value figures (bench/run.sh runs one process per
// configuration so that each peak resident size is its own, and sets the
// figures beside PyTorch's). Inputs are random: timings do not depend on
// the values.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../engine/gemm.h"
#include "../engine/rng.h"
#include "bench_profile.h"
#include "cli.h"
#include "commands.h"

enum { MODE_LATENCY, MODE_BATCH, MODE_TRAIN, MODE_LAYERS, MODE_PROFILE, MODE_SGEMM };
static const char *const MODES[] = {"latency", "batch", "train", "layers", "profile", "sgemm"};

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s bench [options]\n"
            "Times one configuration and prints one line of key=value figures.\n\n"
            "  --mode M            latency (one pair), batch (inference), train (forward,\n"
            "                      backward, SGD update), layers (each conv layer's forward\n"
            "                      at the batch size), profile (each operation of a training\n"
            "                      step timed, a table by layer: CUDA events on a GPU, the clock\n"
            "                      on the CPU), sgemm (our 2048^3 product); default latency\n"
            "  --weights PATH      the model to time (default: random weights)\n"
            "  --backbone vgg16|compact   without --weights (default vgg16)\n"
            "  --input-shape N     without --weights (default 105)\n"
            "  --batch N           pairs per batch for batch, train, layers (default 32)\n"
            "  --repeat N          timed runs; the median is reported (default 20, train and\n"
            "                      profile 5)\n"
            "  --threads N         CPU threads (default: all cores)\n"
            "  --device DEV        auto, cpu, cuda or cuda:N (default cpu)\n"
            "  --precision P       fp32, tf32 or bf16, as train --precision (default tf32:\n"
            "                      TF32 convolutions on a GPU, fp32 on the CPU)\n"
            "  --amp bf16|off      the older spelling of --precision bf16|fp32\n"
            "  -h, --help          this text\n"
            "Exit status: 0 done, 1 runtime failure, 2 usage error.\n",
            cli_prog);
}

static long peak_rss_kib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;  // KiB on Linux
}

static float *random_floats(size_t n, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    float *v = malloc(n * sizeof(float));
    if (v)
        for (size_t i = 0; i < n; i++) v[i] = (float)rng_uniform(&r);
    return v;
}

// Our product at 2048^3 through the same path as a dense layer.
static int bench_sgemm(int threads, int repeat) {
    const int n = 2048;
    float *a = random_floats((size_t)n * n, 1), *b = random_floats((size_t)n * n, 2);
    float *c = malloc(sizeof(float) * n * n), *bp = malloc(sizeof(float) * gemm_packed_b_floats(n, n));
    if (!a || !b || !c || !bp) {
        cli_error("out of memory for the 2048^3 product");
        return EXIT_RUNTIME;
    }
    const GemmMatrix rows = {a, n};
    double *t = malloc(sizeof(double) * (repeat + 1));
    for (int i = 0; i <= repeat; i++) {  // the first run warms up
        double t0 = cli_now();
        gemm_pack_b(bp, n, n, 0, n, b, n, 1);
        gemm_rows(c, n, n, n, 1, n, gemm_matrix_rows, &rows, bp, 0, NULL, 0, threads);
        t[i] = cli_now() - t0;
    }
    double med = bench_median(t + 1, repeat);
    printf("mode=sgemm n=%d threads=%d median_ms=%.2f gflops=%.1f\n", n, threads, med * 1e3,
           2.0 * n * n * n / med * 1e-9);
    free(a), free(b), free(c), free(bp), free(t);
    return EXIT_OK;
}

// The command line, parsed.
typedef struct BenchOpts {
    int mode;
    const char *weights, *backbone, *device;
    BackendPrecision precision;
    long size, batch, repeat, threads;
} BenchOpts;

// Returns -1 when the command goes on, else the exit status (--help, a usage error).
static int parse_opts(int argc, char **argv, BenchOpts *o) {
    static const struct option longs[] = {{"mode", required_argument, 0, 'm'},
                                          {"weights", required_argument, 0, 'w'},
                                          {"backbone", required_argument, 0, 'b'},
                                          {"input-shape", required_argument, 0, 's'},
                                          {"batch", required_argument, 0, 'n'},
                                          {"repeat", required_argument, 0, 'r'},
                                          {"threads", required_argument, 0, 't'},
                                          {"device", required_argument, 0, 'd'},
                                          {"precision", required_argument, 0, 'p'},
                                          {"amp", required_argument, 0, 'a'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    *o = (BenchOpts){.mode = MODE_LATENCY, .backbone = "vgg16", .device = "cpu",
                     .precision = BACKEND_DEFAULT_PRECISION, .size = 105, .batch = 32,
                     .repeat = -1};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->mode = -1;
            for (int i = 0; i < (int)(sizeof MODES / sizeof *MODES); i++)
                if (!strcmp(optarg, MODES[i])) o->mode = i;
            if (o->mode < 0) {
                cli_error("--mode: '%s' is not latency, batch, train, layers, profile or sgemm",
                          optarg);
                return EXIT_USAGE;
            }
            break;
        case 'w': o->weights = optarg; break;
        case 'b': o->backbone = optarg; break;
        case 'd': o->device = optarg; break;
        case 'p':
            if (cli_parse_precision(optarg, &o->precision)) return EXIT_USAGE;
            break;
        case 'a':
            if (cli_parse_amp(optarg, &o->precision)) return EXIT_USAGE;
            break;
        case 's':
            if (cli_parse_int("--input-shape", optarg, MODEL_MIN_INPUT, MODEL_MAX_INPUT, &o->size))
                return EXIT_USAGE;
            break;
        case 'n':
            if (cli_parse_int("--batch", optarg, 1, 4096, &o->batch)) return EXIT_USAGE;
            break;
        case 'r':
            if (cli_parse_int("--repeat", optarg, 1, 100000, &o->repeat)) return EXIT_USAGE;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 1024, &o->threads)) return EXIT_USAGE;
            break;
        case 'h': cli_help(usage); return EXIT_OK;
        default: return cli_option_error(c, argv);
        }
    }
    if (optind != argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!o->weights && strcmp(o->backbone, "vgg16") && strcmp(o->backbone, "compact")) {
        cli_error("--backbone: '%s' is not vgg16 or compact", o->backbone);
        return EXIT_USAGE;
    }
    if (o->repeat < 0) o->repeat = o->mode == MODE_TRAIN || o->mode == MODE_PROFILE ? 5 : 20;
    return -1;
}

// The model to time: --weights, or random weights of --backbone.
static int open_model(const BenchOpts *o, Backend *be, Model **m, Err *e) {
    if (o->weights) return weights_open_model(m, o->weights, be, NULL, e);
    ModelSpec spec;
    if (!strcmp(o->backbone, "vgg16")) model_spec_vgg16(&spec, (int)o->size);
    else model_spec_compact(&spec, (int)o->size);
    if (model_create(m, &spec, be, e)) return -1;
    return model_init_random(*m, 1, e);
}

// --mode layers: one forward fills every activation; then each conv layer
// alone, at the batch size.
static int bench_layers(Model *m, const float *pairs, int N, int repeat, double *t, Err *e) {
    Backend *be = m->be;
    char arch[96];
    model_spec_describe(&m->spec, arch, sizeof arch);
    if (siamese_forward(m, pairs, NULL, N, NULL, NULL, e)) return -1;
    for (int i = 0; i < m->n_backbone; i++) {
        const Layer *l = &m->layers[i];
        if (l->kind != LAYER_CONV) continue;
        const float *in = i ? m->acts[i - 1] : model_backbone_input(m);
        for (int r = 0; r <= repeat; r++) {  // run 0 warms up
            double t0 = cli_now();
            be->ops->conv3x3_forward(be, m->acts[i], in, m->params + l->w_off, m->params + l->b_off,
                                     2 * N, l->H, l->W, l->C, l->K, 1);
            be->ops->synchronize(be);
            t[r] = cli_now() - t0;
        }
        if (backend_check(be, e)) return -1;
        double med = bench_median(t + 1, repeat);
        double fl = 2.0 * 2 * N * l->OH * l->OW * 9.0 * l->C * l->K;
        printf("mode=layers arch=%s layer=%s batch=%d median_ms=%.3f gflops=%.1f\n", arch, l->name,
               N, med * 1e3, fl / med * 1e-9);
    }
    return 0;
}

// --mode latency, batch and train: whole steps (a training step: forward,
// backward and an SGD update), timed end to end.
static int bench_steps(const BenchOpts *o, Model *m, const float *pairs, int N, int nthreads,
                       double *t, Err *e) {
    Backend *be = m->be;
    const int train = o->mode == MODE_TRAIN, repeat = (int)o->repeat;
    float *labels = malloc(N * sizeof(float)), *prob = malloc(N * sizeof(float)), *mom = NULL;
    int rc = labels && prob ? 0 : err_set(e, "out of memory for a batch of %d pairs", N);
    if (!rc && train) {
        rc = model_enable_training(m, e);
        if (!rc && !(mom = be->ops->alloc(be, m->n_params * sizeof(float))))
            rc = err_set(e, "out of memory for the momentum buffer");
    }
    for (int i = 0; !rc && i < N; i++) labels[i] = (float)(i % 2);
    for (int r = 0; !rc && r <= repeat; r++) {  // run 0 warms up (allocations, caches)
        double t0 = cli_now();
        float loss;
        rc = siamese_forward(m, pairs, train ? labels : NULL, N, prob, train ? &loss : NULL, e);
        if (!rc && train) {
            siamese_backward(m, N, 0);
            be->ops->sgd_nesterov_step(be, m->params, m->grads, mom, m->n_params, 1e-4f, 0.9f,
                                       0.0f);
        }
        be->ops->synchronize(be);
        t[r] = cli_now() - t0;
        if (!rc) rc = backend_check(be, e);
    }
    if (!rc) {
        double med = bench_median(t + 1, repeat), lo = t[1], hi = t[1];
        for (int r = 1; r <= repeat; r++) lo = fmin(lo, t[r]), hi = fmax(hi, t[r]);
        // A training step costs about three forwards (forward, backward
        // data, backward filter); the first layer's backward data is skipped.
        const double flops = model_forward_flops_per_image(m) * 2 * N * (train ? 3.0 : 1.0);
        char arch[96];
        model_spec_describe(&m->spec, arch, sizeof arch);
        printf("mode=%s arch=%s device=%s precision=%s threads=%d batch=%d repeat=%d "
               "median_ms=%.2f min_ms=%.2f max_ms=%.2f pairs_per_s=%.2f gflops=%.1f "
               "peak_rss_mib=%.1f\n",
               MODES[o->mode], arch, be->is_cpu ? "cpu" : "cuda",
               backend_precision_name(be->precision), nthreads, N, repeat, med * 1e3, lo * 1e3,
               hi * 1e3, N / med, flops / med * 1e-9, peak_rss_kib() / 1024.0);
    }
    free(labels);
    free(prob);
    if (mom) be->ops->free(be, mom);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    BenchOpts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    Backend *be;
    Err e;
    char notice[256];
    if (backend_open(&be, o.device, (int)o.threads, notice, sizeof notice, &e)) {
        cli_error("%s", e.msg);
        return EXIT_RUNTIME;
    }
    if (cli_set_precision(be, o.precision, notice)) {
        backend_close(be);
        return EXIT_USAGE;
    }
    if (notice[0]) fprintf(stderr, "%s: %s\n", cli_prog, notice);
    int nthreads = 0;
    if (sscanf(be->desc, "cpu, %d", &nthreads) != 1) nthreads = (int)o.threads;
    if (o.mode == MODE_SGEMM) {
        backend_close(be);
        return bench_sgemm(nthreads > 0 ? nthreads : 1, (int)o.repeat);
    }
    Model *m = NULL;
    float *pairs = NULL;
    double *t = NULL;
    rc = open_model(&o, be, &m, &e);
    const int N = o.mode == MODE_LATENCY ? 1 : (int)o.batch;
    if (!rc && o.mode != MODE_PROFILE) {  // (the profile builds its own batch, as bytes)
        const int S = m->spec.input_size;
        pairs = random_floats(2 * (size_t)N * S * S * 3, 3);
        t = malloc(sizeof(double) * (o.repeat + 1));
        if (!pairs || !t) rc = err_set(&e, "out of memory for a batch of %d pairs", N);
    }
    if (!rc && o.mode == MODE_PROFILE) rc = bench_profile(m, N, (int)o.repeat, &e);
    else if (!rc && o.mode == MODE_LAYERS) rc = bench_layers(m, pairs, N, (int)o.repeat, t, &e);
    else if (!rc) rc = bench_steps(&o, m, pairs, N, nthreads, t, &e);
    if (rc) cli_error("%s", e.msg);
    free(pairs);
    free(t);
    model_free(m);
    backend_close(be);
    return rc ? EXIT_RUNTIME : EXIT_OK;
}
