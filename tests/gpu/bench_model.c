// bench_model: pairs per second of the Siamese model on one backend, the C
// side of the GPU check's comparison with PyTorch (bench/gpu_torch.py runs
// the same model, batch and precision).
//
//   infer  one call of siamese_forward per batch, from host images to host
//          probabilities (so each batch ends with a synchronisation): at
//          batch 1 this is the single-pair latency;
//   train  forward with labels, backward, one SGD-Nesterov step, batches
//          queued back to back, synchronised every 4 batches to read the
//          clock (bench/gpu_torch.py does the same).
// Both send the batch from host memory every step, as a real loop does:
// page-locked memory (host_alloc), as bench/gpu_torch.py pins its batch
// (and as the trainer's loader slots and eval's batches are). Warm-up
// steps first (they include cuDNN's algorithm search).
//
// Prints a readable line and a machine-readable one:
//   RESULT mode=train batch=32 pairs_per_s=1234.5 ms_per_batch=25.9
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/rng.h"
#include "tool.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_model [options]\n"
            "  --device DEV       cpu, cuda, cuda:N (default cuda)\n"
            "  --mode infer|train (default infer)\n"
            "  --batch N          pairs per batch (default 1)\n"
            "  --backbone NAME    vgg16 or compact (default vgg16)\n"
            "  --input N          input side (default 105)\n"
            "  --seconds S        time to measure (default 3)\n"
            "  --warmup N         untimed steps first (default 5)\n"
            "  --u8               send 8-bit pixels, converted on the device\n"
            "  --precision P      fp32, tf32 or bf16, as siamese --precision (default tf32:\n"
            "                     TF32 convolutions, as PyTorch's default)\n");
}

int main(int argc, char **argv) {
    static const struct option longs[] = {
        {"device", required_argument, 0, 'd'},  {"mode", required_argument, 0, 'm'},
        {"batch", required_argument, 0, 'n'},   {"backbone", required_argument, 0, 'k'},
        {"input", required_argument, 0, 's'},   {"seconds", required_argument, 0, 't'},
        {"warmup", required_argument, 0, 'w'},  {"u8", no_argument, 0, 'u'},
        {"precision", required_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *device = "cuda", *mode = "infer", *backbone = "vgg16";
    BackendPrecision precision = BACKEND_DEFAULT_PRECISION;
    int N = 1, S = 105, warmup = 5, u8 = 0;
    double seconds = 3;
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 'm': mode = optarg; break;
        case 'n': N = (int)tool_int("--batch", optarg, 1, 4096); break;
        case 'k': backbone = optarg; break;
        case 's': S = (int)tool_int("--input", optarg, MODEL_MIN_INPUT, MODEL_MAX_INPUT); break;
        case 't': seconds = atof(optarg); break;
        case 'w': warmup = (int)tool_int("--warmup", optarg, 0, 100000); break;
        case 'u': u8 = 1; break;
        case 'p': precision = tool_precision(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int train = !strcmp(mode, "train");
    if (!train && strcmp(mode, "infer")) {
        fprintf(stderr, "--mode %s: expected infer or train\n", mode);
        return 2;
    }
    ModelSpec spec;
    tool_spec(&spec, backbone, S);
    Backend *be = tool_backend(device);
    const char *pname = backend_precision_name(tool_set_precision(be, precision));
    Model *m = tool_model(&spec, be, train, 1);
    float *mom = train ? be->ops->alloc(be, m->n_params * sizeof(float)) : NULL;

    const size_t n = 2 * (size_t)N * S * S * 3;
    float *pairs = be->ops->host_alloc(be, n * sizeof(float)), *labels = malloc(N * sizeof(float));
    float *prob = malloc(N * sizeof(float)), loss;
    uint8_t *bytes = be->ops->host_alloc(be, n);
    if (!pairs || !bytes) {
        fprintf(stderr, "out of page-locked memory for a batch of %d pairs\n", N);
        return 1;
    }
    Rng r;
    rng_seed(&r, 5);
    for (size_t i = 0; i < n; i++) {
        bytes[i] = (uint8_t)rng_below(&r, 256);
        pairs[i] = bytes[i] / 255.0f;
    }
    for (int i = 0; i < N; i++) labels[i] = (float)(i % 2);

    Err e;
    long iters = 0;
    double t0 = 0;
    for (long i = 0;; i++) {
        if (i == warmup) {
            be->ops->synchronize(be);
            t0 = tool_now();
        }
        const float *y = train ? labels : NULL;
        float *p = train ? NULL : prob;  // inference brings the answers back every batch
        int rc = u8 ? siamese_forward_u8(m, bytes, y, N, p, NULL, &e)
                    : siamese_forward(m, pairs, y, N, p, NULL, &e);
        if (rc) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        if (train) {
            siamese_backward(m, N, 0);
            be->ops->sgd_nesterov_step(be, m->params, m->grads, mom, m->n_params, 0.01f, 0.9f,
                                       5e-4f);
        }
        // Check the clock every few batches only: reading it is free, but
        // synchronising to read it would not be.
        if (i >= warmup && (i - warmup + 1) % 4 == 0) {
            if (train) be->ops->synchronize(be);
            if (tool_now() - t0 >= seconds) {
                iters = i - warmup + 1;
                break;
            }
        }
    }
    double dt = tool_now() - t0, pps = iters * N / dt;
    char name[64], last[48] = "";
    if (train) {
        be->ops->download(be, &loss, m->loss, sizeof loss);
        snprintf(last, sizeof last, ", last loss %.4f", loss);
    }
    model_spec_describe(&spec, name, sizeof name);
    printf("%s %s batch %d, input %d, %s%s, %s: %.1f pairs/s, %.3f ms per batch (%ld "
           "batches%s)\n",
           mode, name, N, S, be->desc, u8 ? ", uint8 input" : "", pname, pps, 1e3 * dt / iters,
           iters, last);
    printf("RESULT mode=%s batch=%d pairs_per_s=%.2f ms_per_batch=%.4f precision=%s\n", mode, N,
           pps, 1e3 * dt / iters, pname);
    if (mom) be->ops->free(be, mom);
    model_free(m);
    be->ops->host_free(be, pairs);
    be->ops->host_free(be, bytes);
    backend_close(be);
    free(labels);
    free(prob);
    return 0;
}
