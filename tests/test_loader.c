// The loader: batches are a function of (seed, epoch, batch) only, the
// same from any number of worker threads and after a restart in the
// middle, whether the ring is plain memory or a backend's; labels are half
// positive; the batch's bytes become image_to_input's floats exactly on a
// backend; a file that disappears mid-run is an error naming it, not a
// crash; each label says whether its pair's images share a class.
#include <string.h>

#include "../engine/image.h"
#include "../engine/loader.h"
#include "check.h"
#include "synth.h"

int main(void) {
    char *tmp = synth_tmpdir(), root[512];
    snprintf(root, sizeof root, "%s/omni", tmp);
    synth_omniglot(root, 2, 4, 5, 24);
    Dataset ds;
    Err e;
    CHECK(dataset_scan(&ds, root, LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) == 0, "%s", e.msg);
    int all[40];
    for (int i = 0; i < 40; i++) all[i] = i;
    PairSampler s;
    CHECK(sampler_init(&s, &ds, all, 40, 0.5, &e) == 0, "%s", e.msg);
    AugmentParams aug;
    augment_preset(&aug, AUGMENT_STANDARD);
    const int S = 32, B = 3, P = 2 * B;
    const size_t bytes = 2 * (size_t)P * S * S * 3;
    LoaderConfig c = {.ds = &ds, .sampler = &s, .samples = B, .size = S, .pre = {0, 1},
                      .aug = &aug, .seed = 11, .workers = 3, .depth = 3};
    // The reference: every batch of 2 epochs of 3 batches, built in this thread.
    uint8_t *ref[6];
    float ref_labels[6][6];
    for (int g = 0; g < 6; g++) {
        ref[g] = malloc(bytes);
        CHECK(loader_build(&c, g / 3, g % 3, ref[g], ref_labels[g], &e) == 0, "%s", e.msg);
        int pos = 0;
        for (int j = 0; j < P; j++) pos += ref_labels[g][j] == 1.0f;
        CHECK(pos == B, "half the pairs are positive (%d of %d)", pos, P);
    }
    CHECK(memcmp(ref[0], ref[1], bytes) != 0, "batches differ");
    CHECK(memcmp(ref[0], ref[3], bytes) != 0, "epochs differ");
    // Bytes that become, on a backend, exactly image_to_input's floats: an
    // image preprocessed both ways.
    {
        Backend *cpu;
        CHECK(backend_cpu_open(&cpu, 1, &e) == 0, "%s", e.msg);
        const size_t n = (size_t)S * S * 3;
        float *via_bytes = malloc(n * sizeof(float)), *direct = malloc(n * sizeof(float));
        Image img;
        CHECK(image_load(ds.images[0].path, &img, &e) == 0, "%s", e.msg);
        uint8_t *px = malloc(n);
        CHECK(image_to_pixels(&img, S, &c.pre, px) == 0 && image_to_input(&img, S, &c.pre, direct) == 0,
              "preprocess");
        cpu->ops->upload_u8(cpu, via_bytes, px, n, c.pre.invert);
        CHECK(!memcmp(via_bytes, direct, n * sizeof(float)),
              "upload_u8 of image_to_pixels equals image_to_input, bit for bit");
        image_free(&img);
        free(px);
        free(via_bytes);
        free(direct);
        backend_close(cpu);
    }
    // With 1 and 3 workers, the ring in plain memory and in a backend's.
    Backend *ring_be;
    CHECK(backend_cpu_open(&ring_be, 1, &e) == 0, "%s", e.msg);
    for (int workers = 1; workers <= 3; workers += 2) {
        c.workers = workers;
        c.depth = workers == 1 ? 3 : LOADER_DEPTH(workers);
        c.be = workers == 1 ? NULL : ring_be;
        Loader *l;
        CHECK(loader_open(&l, &c, &e) == 0, "%s", e.msg);
        for (int round = 0; round < 2; round++) {
            // Round 0 from the start; round 1 restarts in the middle (a resume).
            int first = round ? 4 : 0;
            loader_start(l, first, 6, 3);
            for (int g = first; g < 6; g++) {
                const LoaderBatch *b;
                CHECK(loader_next(l, &b, &e) == 0, "%s", e.msg);
                CHECK(b->epoch == g / 3 && b->index == g % 3 && b->n_pairs == P, "batch numbering");
                CHECK(!memcmp(b->pixels, ref[g], bytes) &&
                          !memcmp(b->labels, ref_labels[g], sizeof ref_labels[g]),
                      "batch %d from %d workers equals the reference", g, workers);
            }
        }
        loader_close(l);
    }
    // Data-parallel training: the parts of a batch, built apart (even and
    // uneven shares, by a loader too), are the whole batch's pairs in order:
    // the same pixels and labels one process builds.
    const int shares[2][3] = {{2, 2, 2}, {3, 2, 1}};
    const size_t img = (size_t)S * S * 3;
    c.be = NULL;
    for (int k = 0; k < 2; k++) {
        for (int part = 0, first = 0; part < 3; first += shares[k][part++]) {
            LoaderConfig pc = c;
            pc.part_first = first;
            pc.part_pairs = shares[k][part];
            const int n = pc.part_pairs;
            CHECK(loader_pairs(&pc) == n, "a part's pair count");
            uint8_t *got = malloc(2 * n * img);
            float lab[6];
            Loader *l;
            const LoaderBatch *b;
            CHECK(loader_open(&l, &pc, &e) == 0, "%s", e.msg);
            loader_start(l, 4, 5, 3);
            CHECK(loader_next(l, &b, &e) == 0 && b->n_pairs == n, "%s", e.msg);
            CHECK(loader_build(&pc, 1, 1, got, lab, &e) == 0, "%s", e.msg);
            CHECK(!memcmp(b->pixels, got, 2 * n * img), "loader = loader_build");
            loader_close(l);
            // First images of pairs first..first+n, then their second images.
            CHECK(!memcmp(got, ref[4] + first * img, n * img) &&
                      !memcmp(got + n * img, ref[4] + (P + first) * img, n * img) &&
                      !memcmp(lab, ref_labels[4] + first, n * sizeof(float)),
                  "share %d of %d,%d,%d: pairs %d..%d of the whole batch", part, shares[k][0],
                  shares[k][1], shares[k][2], first, first + n - 1);
            free(got);
        }
    }
    backend_close(ring_be);
    // Another seed, other batches.
    c.seed = 12;
    uint8_t *other = malloc(bytes);
    float lab[6];
    loader_build(&c, 0, 0, other, lab, &e);
    CHECK(memcmp(other, ref[0], bytes) != 0, "the seed matters");
    // Labels say what the pairs are: 1 for two images of one class, 0 for
    // two classes. Checked without augmentation, where each image of a
    // batch is exactly one dataset image's preprocessed bytes, on images
    // that all differ (synth_png repeats itself past `size` seeds).
    {
        char root2[600];
        snprintf(root2, sizeof root2, "%s/distinct", tmp);
        synth_omniglot(root2, 2, 4, 5, 256);
        Dataset ds2;
        PairSampler s2;
        CHECK(dataset_scan(&ds2, root2, LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) == 0 &&
                  sampler_init(&s2, &ds2, all, 40, 0.5, &e) == 0,
              "%s", e.msg);
        LoaderConfig plain = c;
        plain.ds = &ds2;
        plain.sampler = &s2;
        plain.aug = NULL;
        uint8_t *known = malloc(ds2.n_images * img), *px = malloc(2 * P * img);
        for (int i = 0; i < ds2.n_images; i++) {
            Image im;
            CHECK(image_load(ds2.images[i].path, &im, &e) == 0 &&
                      image_to_pixels(&im, S, &plain.pre, known + i * img) == 0,
                  "%s", ds2.images[i].path);
            image_free(&im);
        }
        int distinct = 1;
        for (int i = 0; i < ds2.n_images; i++)
            for (int j = 0; j < i; j++) distinct &= memcmp(known + i * img, known + j * img, img) != 0;
        CHECK(distinct, "the dataset's images differ, so a batch's images can be told apart");
        int ok = 1, positives = 0;
        for (int g = 0; g < 4; g++) {
            float lab[6];
            CHECK(loader_build(&plain, 0, g, px, lab, &e) == 0, "%s", e.msg);
            for (int j = 0; j < P; j++) {
                int a = -1, b = -1;
                for (int i = 0; i < ds2.n_images; i++) {
                    if (!memcmp(px + j * img, known + i * img, img)) a = i;
                    if (!memcmp(px + (P + j) * img, known + i * img, img)) b = i;
                }
                const int same = a >= 0 && b >= 0 && ds2.images[a].cls == ds2.images[b].cls;
                ok &= a >= 0 && b >= 0 && a != b && lab[j] == (same ? 1.0f : 0.0f);
                positives += same;
            }
        }
        CHECK(ok && positives == 4 * B, "labels match the pairs' classes (%d positive pairs)",
              positives);
        free(known);
        free(px);
        sampler_free(&s2);
        dataset_free(&ds2);
    }
    // A file removed after the scan.
    for (int i = 0; i < ds.n_images; i++) unlink(ds.images[i].path);
    Loader *l;
    CHECK(loader_open(&l, &c, &e) == 0, "%s", e.msg);
    loader_start(l, 0, 2, 3);
    const LoaderBatch *b;
    CHECK(loader_next(l, &b, &e) < 0 && strstr(e.msg, "unreadable") && strstr(e.msg, ".png"),
          "vanished file: %s", e.msg);
    loader_close(l);
    free(other);
    for (int g = 0; g < 6; g++) free(ref[g]);
    sampler_free(&s);
    dataset_free(&ds);
    synth_cleanup(tmp);
    return check_summary("test_loader");
}
