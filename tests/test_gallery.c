// The gallery index's record of the arithmetic its features were computed
// in (engine/gallery.c): features of one model differ in their last digits
// between the CPU's fp32, the GPU's tf32 and bf16, so an index made in one
// must not serve a query embedded in another (rank promises the scores of a
// fresh computation, to the last digit). Checked on any machine with the
// CPU reference and, for bfloat16, the CPU with emulated bfloat16
// activations (act_emu.h): real features of real images, which differ.
//  - an index records "cpu fp32" (tf32 on the CPU computes fp32);
//  - its features are those a fresh embedding gives, bit for bit;
//  - an index made in bf16 (or tf32) is refused by an fp32 run, and the
//    reverse, naming the file and both; an update is refused and leaves
//    the file as it was;
//  - under NVIDIA_TF32_OVERRIDE=0, tf32 on a backend with TF32 records
//    fp32 (what NVIDIA's libraries then compute) and serves fp32 runs;
//    backend_precision_effective's decision for every case;
//  - an index without the record (written before it existed) still ranks,
//    and an update keeps it unrecorded while it keeps any of its entries.
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/backend.h"
#include "../engine/gallery.h"
#include "../engine/h5attr.h"
#include "act_emu.h"
#include "check.h"
#include "synth.h"

// The whole file, for "unchanged" (*n bytes; NULL if unreadable).
static unsigned char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n ? *n : 1);
    if (b && fread(b, 1, *n, f) != (size_t)*n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static int same_bytes(const char *path, const unsigned char *want, long n_want) {
    long n;
    unsigned char *b = slurp(path, &n);
    int same = b && n == n_want && !memcmp(b, want, n);
    free(b);
    return same;
}

// The root attribute "arithmetic" into buf ("" when absent).
static void read_arithmetic(const char *path, char *buf, size_t len) {
    buf[0] = '\0';
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    if (h5attr_read_string(f, "arithmetic", buf, len)) buf[0] = '\0';
    H5Fclose(f);
}

static void drop_arithmetic(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Adelete(f, "arithmetic") >= 0, "dropping %s's arithmetic", path);
    if (f >= 0) H5Fclose(f);
}

// The index's features (n,F), and those a fresh embedding of its images
// on m gives, in its entries' order.
static void features(Model *m, const char *index, float **stored, float **fresh, long *n) {
    Gallery g;
    Err e;
    *stored = *fresh = NULL;
    *n = 0;
    if (gallery_open(&g, index, &e)) {
        CHECK(0, "%s", e.msg);
        return;
    }
    const int F = g.feat_dim;
    *n = g.n;
    *stored = malloc((size_t)g.n * F * sizeof(float));
    *fresh = malloc((size_t)g.n * F * sizeof(float));
    char **paths = calloc(g.n, sizeof *paths);
    unsigned char *ok = malloc(g.n);
    CHECK(gallery_read_features(&g, 0, g.n, *stored, &e) == 0, "%s", e.msg);
    for (long i = 0; i < g.n; i++) {
        paths[i] = malloc(4096);
        CHECK(gallery_entry_path(&g, i, paths[i], 4096, &e) == 0, "%s", e.msg);
    }
    char first[256];
    EvalOpts o = {.threads = 1};
    CHECK(eval_embed_files(m, (const char *const *)paths, (int)g.n, &o, *fresh, ok, first,
                           sizeof first, &e) == 0,
          "%s", e.msg);
    for (long i = 0; i < g.n; i++) free(paths[i]);
    free(paths);
    free(ok);
    gallery_close(&g);
}

int main(void) {
    Err e;
    Backend *cpu = NULL, *emu = NULL;
    CHECK(backend_open(&cpu, "cpu", 1, NULL, 0, &e) == 0, "%s", e.msg);
    CHECK(backend_open(&emu, "cpu", 1, NULL, 0, &e) == 0, "%s", e.msg);
    if (check_failures) return 1;
    emu = act_emu_open(emu);
    act_emu_storage = ACT_EMU_BF16;
    // The same weights on both: the model's identity agrees, only the
    // arithmetic differs.
    ModelSpec spec;
    model_spec_compact(&spec, 32);
    Model *mc, *me;
    if (model_create(&mc, &spec, cpu, &e) || model_init_random(mc, 3, &e) ||
        model_create(&me, &spec, emu, &e) || model_init_random(me, 3, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const char *dir = synth_tmpdir();
    char images[300], fp32[300], bf16[300], old[300];
    snprintf(images, sizeof images, "%s/images", dir);
    snprintf(fp32, sizeof fp32, "%s/fp32.h5", dir);
    snprintf(bf16, sizeof bf16, "%s/bf16.h5", dir);
    snprintf(old, sizeof old, "%s/old.h5", dir);
    synth_classes(images, 3, 4, 40);  // 12 images
    GalleryUpdate st;
    Gallery g;
    char rec[64];

    // The CPU's index: "cpu fp32" under the default tf32, its features a
    // fresh embedding's bit for bit.
    CHECK(backend_set_precision(cpu, BACKEND_TF32, &e) == 0, "%s", e.msg);
    CHECK(gallery_index(mc, "random.h5", images, fp32, NULL, NULL, &st, &e) == 0, "%s", e.msg);
    read_arithmetic(fp32, rec, sizeof rec);
    CHECK(!strcmp(rec, "cpu fp32"), "the CPU's index records '%s'", rec);
    float *stored, *fresh;
    long n;
    features(mc, fp32, &stored, &fresh, &n);
    CHECK(n == 12 && stored && fresh && !memcmp(stored, fresh, n * mc->feat_dim * sizeof(float)),
          "the index holds the CPU's fresh features, bit for bit");
    free(stored);
    free(fresh);

    // The same images in bf16 (bfloat16 activations): other features, so
    // the index must not serve an fp32 query.
    CHECK(backend_set_precision(emu, BACKEND_BF16, &e) == 0, "%s", e.msg);
    CHECK(gallery_index(me, "random.h5", images, bf16, NULL, NULL, &st, &e) == 0, "%s", e.msg);
    read_arithmetic(bf16, rec, sizeof rec);
    CHECK(!strcmp(rec, "cpu bf16 with bf16 activations"), "the bf16 index records '%s'", rec);
    features(mc, bf16, &stored, &fresh, &n);
    size_t where;
    double diff = stored && fresh ? check_max_abs_diff(stored, fresh, n * mc->feat_dim, &where) : 0;
    CHECK(diff > 0, "bf16 features differ from fp32 ones (by %g)", diff);
    free(stored);
    free(fresh);
    // Ranking in fp32 on the bf16 index: refused, naming the file and both.
    CHECK(gallery_open(&g, bf16, &e) == 0, "%s", e.msg);
    CHECK(gallery_check_model(&g, mc, "random.h5", &e) < 0 && strstr(e.msg, bf16) &&
              strstr(e.msg, "cpu bf16 with bf16 activations") && strstr(e.msg, "cpu fp32"),
          "fp32 on a bf16 index: %s", gallery_check_model(&g, mc, "random.h5", &e) ? e.msg : "taken");
    CHECK(gallery_check_model(&g, me, "random.h5", &e) == 0, "bf16 on its own index: %s", e.msg);
    gallery_close(&g);
    // The reverse: bf16 on the fp32 index.
    CHECK(gallery_open(&g, fp32, &e) == 0, "%s", e.msg);
    CHECK(gallery_check_model(&g, me, "random.h5", &e) < 0 && strstr(e.msg, fp32) &&
              strstr(e.msg, "cpu bf16 with bf16 activations") && strstr(e.msg, "cpu fp32"),
          "bf16 on an fp32 index: %s", gallery_check_model(&g, me, "random.h5", &e) ? e.msg : "taken");
    gallery_close(&g);
    // An fp32 update of the bf16 index (a new image to embed): refused,
    // the file as it was.
    long n_before;
    unsigned char *before = slurp(bf16, &n_before);
    char extra[400];
    snprintf(extra, sizeof extra, "%s/k0/new.png", images);
    synth_png(extra, 40, 99);
    CHECK(gallery_index(mc, "random.h5", images, bf16, NULL, NULL, &st, &e) < 0 &&
              strstr(e.msg, bf16) && strstr(e.msg, "cpu fp32"),
          "an fp32 update of a bf16 index: %s", st.entries ? "taken" : e.msg);
    CHECK(before && same_bytes(bf16, before, n_before), "the refused update left the file as it was");
    free(before);

    // tf32 where a backend has it (the emulation takes the setting): recorded
    // as such, and refused by the CPU's fp32.
    CHECK(backend_set_precision(emu, BACKEND_TF32, &e) == 0, "%s", e.msg);
    char tf32[300];
    snprintf(tf32, sizeof tf32, "%s/tf32.h5", dir);
    CHECK(gallery_index_synthetic(me, "random.h5", 20, 1, tf32, NULL, &st, &e) == 0, "%s", e.msg);
    read_arithmetic(tf32, rec, sizeof rec);
    CHECK(!strcmp(rec, "cpu tf32"), "a tf32 index records '%s'", rec);
    CHECK(gallery_open(&g, tf32, &e) == 0, "%s", e.msg);
    CHECK(gallery_check_model(&g, mc, "random.h5", &e) < 0 && strstr(e.msg, "cpu tf32") &&
              strstr(e.msg, "--precision tf32"),
          "fp32 on a tf32 index: %s", gallery_check_model(&g, mc, "random.h5", &e) ? e.msg : "taken");
    gallery_close(&g);

    // NVIDIA_TF32_OVERRIDE=0 forbids TF32 to cuDNN and cuBLAS: tf32 on a
    // backend that has it (the emulation stands in for the GPU) computes,
    // says and records fp32, and its index serves an fp32 run as one made
    // with --precision fp32 would (a GPU cannot run here: the decision is
    // backend_set_precision's, the same for every backend).
    setenv("NVIDIA_TF32_OVERRIDE", "0", 1);
    CHECK(backend_set_precision(emu, BACKEND_TF32, &e) == 0, "%s", e.msg);
    CHECK(emu->precision == BACKEND_FP32 && !strcmp(emu->precision_note, "NVIDIA_TF32_OVERRIDE=0"),
          "tf32 under NVIDIA_TF32_OVERRIDE=0: precision %s, note '%s'",
          backend_precision_name(emu->precision), emu->precision_note);
    char overridden[300];
    snprintf(overridden, sizeof overridden, "%s/overridden.h5", dir);
    CHECK(gallery_index_synthetic(me, "random.h5", 20, 1, overridden, NULL, &st, &e) == 0, "%s",
          e.msg);
    read_arithmetic(overridden, rec, sizeof rec);
    CHECK(!strcmp(rec, "cpu fp32"), "a tf32 index under NVIDIA_TF32_OVERRIDE=0 records '%s'", rec);
    CHECK(gallery_open(&g, overridden, &e) == 0, "%s", e.msg);
    CHECK(gallery_check_model(&g, mc, "random.h5", &e) == 0, "fp32 on it: %s", e.msg);
    gallery_close(&g);
    unsetenv("NVIDIA_TF32_OVERRIDE");
    CHECK(backend_set_precision(emu, BACKEND_TF32, &e) == 0 && emu->precision == BACKEND_TF32 &&
              !emu->precision_note[0],
          "tf32 again without the override: %s", backend_precision_name(emu->precision));
    // The decision itself, for every precision, backend kind and value:
    // only 0 forbids TF32 (NVIDIA's documented value), nothing touches
    // bf16 on a backend that has it, and the CPU never has TF32 or bf16.
    static const struct {
        BackendPrecision asked;
        int has_reduced;
        const char *env;
        int want;
        const char *why;
    } cases[] = {
        {BACKEND_FP32, 1, NULL, BACKEND_FP32, ""},
        {BACKEND_FP32, 1, "0", BACKEND_FP32, ""},
        {BACKEND_TF32, 1, NULL, BACKEND_TF32, ""},
        {BACKEND_TF32, 1, "1", BACKEND_TF32, ""},
        {BACKEND_TF32, 1, "", BACKEND_TF32, ""},
        {BACKEND_TF32, 1, "0", BACKEND_FP32, "NVIDIA_TF32_OVERRIDE=0"},
        {BACKEND_BF16, 1, NULL, BACKEND_BF16, ""},
        {BACKEND_BF16, 1, "0", BACKEND_BF16, ""},
        {BACKEND_FP32, 0, NULL, BACKEND_FP32, ""},
        {BACKEND_TF32, 0, NULL, BACKEND_FP32, "this device has no TF32"},
        {BACKEND_TF32, 0, "0", BACKEND_FP32, "this device has no TF32"},
        {BACKEND_BF16, 0, NULL, -1, NULL},
        {BACKEND_BF16, 0, "0", -1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = NULL;
        int got = backend_precision_effective(cases[i].asked, cases[i].has_reduced, cases[i].env, &why);
        CHECK(got == cases[i].want && (got < 0 || (why && !strcmp(why, cases[i].why))),
              "%s on a backend %s reduced precisions, NVIDIA_TF32_OVERRIDE %s: %d (%s), want %d (%s)",
              backend_precision_name(cases[i].asked), cases[i].has_reduced ? "with" : "without",
              cases[i].env ? cases[i].env : "unset", got, why ? why : "-", cases[i].want,
              cases[i].why ? cases[i].why : "-");
    }

    // An index from before the record: it ranks (readable), Gallery says
    // it is unrecorded; an update that keeps some of its entries keeps it
    // unrecorded (they may be any arithmetic's), one that embeds them all
    // again records this run's.
    unlink(extra);
    CHECK(gallery_index(mc, "random.h5", images, old, NULL, NULL, &st, &e) == 0, "%s", e.msg);
    drop_arithmetic(old);
    CHECK(gallery_open(&g, old, &e) == 0, "an unrecorded index opens: %s", e.msg);
    CHECK(g.arithmetic[0] == '\0', "unrecorded: '%s'", g.arithmetic);
    CHECK(gallery_check_model(&g, mc, "random.h5", &e) == 0, "an unrecorded index ranks: %s", e.msg);
    gallery_close(&g);
    synth_png(extra, 40, 99);
    CHECK(gallery_index(mc, "random.h5", images, old, NULL, NULL, &st, &e) == 0 && st.added == 1 &&
              st.kept == 12 && st.unrecorded,
          "an update of an unrecorded index: %s", e.msg);
    read_arithmetic(old, rec, sizeof rec);
    CHECK(rec[0] == '\0', "still unrecorded after keeping its entries: '%s'", rec);
    // Every image changed (its time): nothing of the old index is kept.
    char cmd[400];
    snprintf(cmd, sizeof cmd, "find '%s' -type f -exec touch -d 2001-01-01 {} +", images);
    CHECK(system(cmd) == 0, "%s", cmd);
    CHECK(gallery_index(mc, "random.h5", images, old, NULL, NULL, &st, &e) == 0 && st.changed == 13 &&
              st.kept == 0 && !st.unrecorded,
          "every entry embedded again: %s", e.msg);
    read_arithmetic(old, rec, sizeof rec);
    CHECK(!strcmp(rec, "cpu fp32"), "recorded once every entry is this run's: '%s'", rec);

    model_free(mc);
    model_free(me);
    backend_close(emu);
    backend_close(cpu);
    synth_cleanup(dir);
    return check_summary("test_gallery");
}
