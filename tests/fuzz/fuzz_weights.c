// libFuzzer harness: a weights file's bytes through everything that reads
// one: weights_inspect, weights_open_model (the predict path: architecture
// checks, strict load) and weights_load_state (resume). HDF5 needs a file,
// so each input is written to one temporary file first.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../engine/backend.h"
#include "../../engine/weights.h"

static char path[64];
static Backend *be;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/fuzz_weights_%ld.h5", dir, (long)getpid());
    Err e;
    if (backend_cpu_open(&be, 1, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return 0;
}

// Parameters the file's architecture implies. A few-KB file can declare
// layers of 4096 channels whose data HDF5 would decompress from nothing;
// the harness keeps to models that fit its memory limit (the program
// itself would simply need that much memory).
static double param_count(const ModelSpec *s) {
    static const int convs[MODEL_BLOCKS] = {2, 2, 3, 3, 3};
    double n = 0, side = s->input_size;
    int cin = 3;
    for (int b = 0; b < MODEL_BLOCKS; b++) {
        for (int i = 0; i < convs[b]; i++) {
            n += 9.0 * cin * s->widths[b];
            cin = s->widths[b];
        }
        side = (int)side / 2;
    }
    return n + side * side * cin * s->hidden + s->hidden;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();
    WeightsInfo info;
    Err e;
    if (!weights_inspect(path, &info, &e) && param_count(&info.spec) < 4e6) {
        Model *m;
        if (!weights_open_model(&m, path, be, &info, &e)) model_free(m);
    }
    WeightsState st;
    if (!weights_load_state(path, &st, &e)) weights_state_free(&st);
    return 0;
}
