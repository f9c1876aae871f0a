// Dataset scanning (both layouts, the wrong-layout messages, what is left
// out and reported), the split, the pair sampler (never loops, valid
// pairs) and the gallery listing (symbolic-link loops).
#include <string.h>

#include "../engine/dataset.h"
#include "check.h"
#include "synth.h"

static char path[1024];

static const char *at(const char *dir, const char *rel) {
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return path;
}

static void test_layouts(const char *tmp) {
    Dataset ds;
    Err e;
    // Omniglot: 2 alphabets x 3 characters x 4 drawings.
    synth_omniglot(at(tmp, "omni"), 2, 3, 4, 20);
    synth_text(at(tmp, "omni/A0/c00/README.txt"), "not an image");
    synth_text(at(tmp, "omni/A0/c00/.hidden.png"), "hidden, skipped");
    CHECK(dataset_scan(&ds, at(tmp, "omni"), LAYOUT_AUTO, DATASET_TRAINING, 2, 2, &e) == 0,
          "%s", e.msg);
    CHECK(ds.layout == LAYOUT_OMNIGLOT, "layout %d", ds.layout);
    CHECK(ds.n_groups == 2 && ds.n_classes == 6 && ds.n_images == 24, "%d %d %d", ds.n_groups,
          ds.n_classes, ds.n_images);
    CHECK(!strcmp(ds.classes[4].name, "A1/c01"), "class name %s", ds.classes[4].name);
    CHECK(ds.images[0].drawer == 1 && ds.images[3].drawer == 4, "drawers %d %d",
          ds.images[0].drawer, ds.images[3].drawer);
    CHECK(ds.n_other_files == 1 && strstr(ds.notes, "1 entry without an image extension"),
          "other files %d: %s", ds.n_other_files, ds.notes);
    dataset_free(&ds);
    // --own-data on the Omniglot layout explains itself.
    CHECK(dataset_scan(&ds, at(tmp, "omni"), LAYOUT_CLASSES, DATASET_TRAINING, 2, 2, &e) < 0 &&
              strstr(e.msg, "drop --own-data"),
          "own-data on omniglot: %s", e.msg);

    // Own classes: 3 classes x 5 images.
    synth_classes(at(tmp, "own"), 3, 5, 16);
    CHECK(dataset_scan(&ds, at(tmp, "own"), LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) == 0,
          "%s", e.msg);
    CHECK(ds.layout == LAYOUT_CLASSES && ds.n_classes == 3 && ds.n_groups == 1 &&
              ds.n_images == 15 && ds.images[0].drawer == -1,
          "own: %d %d %d", ds.layout, ds.n_classes, ds.n_images);
    dataset_free(&ds);
    CHECK(dataset_scan(&ds, at(tmp, "own"), LAYOUT_OMNIGLOT, DATASET_TRAINING, 2, 1, &e) < 0 &&
              strstr(e.msg, "expected the Omniglot layout"),
          "omniglot wanted: %s", e.msg);

    // Mixed: a class folder beside an alphabet folder.
    synth_omniglot(at(tmp, "mixed"), 1, 2, 3, 16);
    synth_classes(at(tmp, "mixed"), 1, 3, 16);
    CHECK(dataset_scan(&ds, at(tmp, "mixed"), LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) < 0 &&
              strstr(e.msg, "mixes two layouts") && strstr(e.msg, "'k0'") && strstr(e.msg, "'A0'"),
          "mixed: %s", e.msg);
    // Images straight in the root.
    synth_mkdirs(at(tmp, "flat"));
    synth_png(at(tmp, "flat/a.png"), 16, 1);
    synth_png(at(tmp, "flat/b.png"), 16, 2);
    CHECK(dataset_scan(&ds, at(tmp, "flat"), LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) < 0 &&
              strstr(e.msg, "holds 2 images directly"),
          "flat: %s", e.msg);
    // Empty, missing, a file.
    synth_mkdirs(at(tmp, "empty"));
    CHECK(dataset_scan(&ds, at(tmp, "empty"), LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) < 0 &&
              strstr(e.msg, "is empty") && strstr(e.msg, "ROOT/<class>/<image>"),
          "empty: %s", e.msg);
    CHECK(dataset_scan(&ds, at(tmp, "missing"), LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) < 0 &&
              strstr(e.msg, "No such file"),
          "missing: %s", e.msg);
    synth_mkdirs(at(tmp, "emptyclasses/a"));
    synth_mkdirs(at(tmp, "emptyclasses/b"));
    CHECK(dataset_scan(&ds, at(tmp, "emptyclasses"), LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) < 0 &&
              strstr(e.msg, "no images"),
          "empty classes: %s", e.msg);
}

static void test_left_out(const char *tmp) {
    Dataset ds;
    Err e;
    // Classes of 4, 2 and 1 images, and a broken file beside the 4 of k1.
    synth_classes(at(tmp, "small"), 2, 4, 16);
    synth_mkdirs(at(tmp, "small/two"));
    synth_png(at(tmp, "small/two/a.png"), 16, 1);
    synth_png(at(tmp, "small/two/b.png"), 16, 2);
    synth_mkdirs(at(tmp, "small/one"));
    synth_png(at(tmp, "small/one/a.png"), 16, 3);
    synth_text(at(tmp, "small/k1/broken.png"), "this is not a PNG");
    CHECK(dataset_scan(&ds, at(tmp, "small"), LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) == 0,
          "%s", e.msg);
    CHECK(ds.n_classes == 2 && ds.n_images == 8, "kept %d classes, %d images", ds.n_classes,
          ds.n_images);
    CHECK(ds.n_small_classes == 2 && strstr(ds.notes, "one (1)") && strstr(ds.notes, "two (2)"),
          "small classes reported: %s", ds.notes);
    CHECK(strstr(ds.notes, "2 classes have fewer than 3 images and are left out (a class must "
                           "give a positive pair and a third image)"),
          "training's reason: %s", ds.notes);
    CHECK(ds.n_unreadable == 1 && strstr(ds.notes, "broken.png"), "unreadable reported: %s",
          ds.notes);
    dataset_free(&ds);
    // For evaluation a class of 2 images serves (a trial's test image and
    // its support, a same pair): only the class of 1 is left out, saying so.
    CHECK(dataset_scan(&ds, at(tmp, "small"), LAYOUT_AUTO, DATASET_EVALUATION, 2, 1, &e) == 0,
          "%s", e.msg);
    CHECK(ds.n_classes == 3 && ds.n_images == 10 && !strcmp(ds.classes[2].name, "two") &&
              ds.classes[2].count == 2,
          "evaluation kept %d classes, %d images", ds.n_classes, ds.n_images);
    CHECK(ds.n_small_classes == 1 && !strstr(ds.notes, "two (2)") &&
              strstr(ds.notes, "1 class has fewer than 2 images and is left out (a class must "
                               "give two different images: a trial's test image and its "
                               "support, or a same pair): one (1)"),
          "evaluation's reason: %s", ds.notes);
    // The pair sampler draws that class too: its positive pair is its two
    // images, its negative pair's one of them.
    int all[10], seen_two = 0, ok = 1;
    for (int i = 0; i < 10; i++) all[i] = i;
    PairSampler s;
    CHECK(sampler_init(&s, &ds, all, 10, 0, &e) == 0 && s.n_pos == 3, "%s", e.msg);
    Rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < 300; i++) {
        int q[4];
        sampler_draw(&s, &r, q);
        const int c = ds.images[q[0]].cls;
        ok &= q[0] != q[1] && ds.images[q[1]].cls == c && ds.images[q[2]].cls == c &&
              ds.images[q[3]].cls != c;
        ok &= ds.classes[c].count == 2 || (q[2] != q[0] && q[2] != q[1]);
        seen_two += c == 2;
    }
    CHECK(ok && seen_two > 50, "evaluation's pairs: valid %d, %d of 300 from the class of 2", ok,
          seen_two);
    sampler_free(&s);
    dataset_free(&ds);
    // Too few usable classes: a clear message before anything else.
    CHECK(dataset_scan(&ds, at(tmp, "small"), LAYOUT_AUTO, DATASET_TRAINING, 3, 1, &e) < 0 &&
              strstr(e.msg, "2 usable classes") && strstr(e.msg, "3 needed"),
          "too few: %s", e.msg);
}

static void test_split_and_sampler(const char *tmp) {
    Dataset ds;
    Err e;
    synth_omniglot(at(tmp, "s"), 3, 4, 6, 12);
    CHECK(dataset_scan(&ds, at(tmp, "s"), LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) == 0,
          "%s", e.msg);
    int *tr, *va, nt, nv, *tr2, *va2, nt2, nv2;
    CHECK(dataset_split(&ds, 0.1, &tr, &nt, &va, &nv, &e) == 0, "%s", e.msg);
    CHECK(nt == (int)(72 * 0.9) && nv == 72 - nt, "split %d %d", nt, nv);
    dataset_split(&ds, 0.1, &tr2, &nt2, &va2, &nv2, &e);
    CHECK(!memcmp(tr, tr2, nt * sizeof *tr) && !memcmp(va, va2, nv * sizeof *va), "fixed shuffle");
    int seen[72] = {0};
    for (int i = 0; i < nt; i++) seen[tr[i]]++;
    for (int i = 0; i < nv; i++) seen[va[i]]++;
    int all_once = 1;
    for (int i = 0; i < 72; i++) all_once &= seen[i] == 1;
    CHECK(all_once, "the split is a partition");

    // Same-alphabet negatives always (fraction 1) and never (0).
    for (int mode = 0; mode < 2; mode++) {
        PairSampler s;
        CHECK(sampler_init(&s, &ds, tr, nt, mode ? 1.0 : 0.0, &e) == 0, "%s", e.msg);
        Rng r;
        rng_seed(&r, 5);
        int ok = 1, same_group = 0;
        for (int i = 0; i < 20000; i++) {
            int q[4];
            sampler_draw(&s, &r, q);
            int c0 = ds.images[q[0]].cls;
            ok &= c0 == ds.images[q[1]].cls && c0 == ds.images[q[2]].cls;
            ok &= q[0] != q[1] && q[0] != q[2] && q[1] != q[2];
            ok &= ds.images[q[3]].cls != c0;
            same_group += ds.classes[ds.images[q[3]].cls].group == ds.classes[c0].group;
        }
        CHECK(ok, "positive pairs share a class, negatives do not (mode %d)", mode);
        if (mode) CHECK(same_group == 20000, "all negatives in the alphabet: %d", same_group);
        // Uniform negatives: 3 of the 11 other classes share the alphabet.
        else CHECK(same_group > 20000 * 0.2 && same_group < 20000 * 0.35, "%d", same_group);
        sampler_free(&s);
    }
    // Every class of the subset is drawn as the sample's class, and every
    // image of the subset as a negative pair's second image: no class or
    // image is left out of training. Half the negatives from the
    // alphabet: 0.5 + 0.5 * 3/11 of them share it.
    {
        PairSampler s;
        CHECK(sampler_init(&s, &ds, tr, nt, 0.5, &e) == 0, "%s", e.msg);
        Rng r;
        rng_seed(&r, 6);
        int per_class[12] = {0}, as_negative[72] = {0}, same_group = 0;
        for (int i = 0; i < 24000; i++) {
            int q[4];
            sampler_draw(&s, &r, q);
            per_class[ds.images[q[0]].cls]++;
            as_negative[q[3]]++;
            same_group += ds.classes[ds.images[q[3]].cls].group ==
                          ds.classes[ds.images[q[0]].cls].group;
        }
        int classes_ok = 1, images_ok = 1;
        for (int c = 0; c < 12; c++) classes_ok &= per_class[c] > 1000 && per_class[c] < 3000;
        for (int i = 0; i < nt; i++) images_ok &= as_negative[tr[i]] > 0;
        CHECK(classes_ok, "each class drawn about 2000 times of 24000");
        CHECK(images_ok, "every training image is some negative pair's second image");
        CHECK(same_group > 24000 * 0.60 && same_group < 24000 * 0.67,
              "same-alphabet negatives at 0.5: %d of 24000, expected about 15270", same_group);
        sampler_free(&s);
    }
    // An alphabet with a single class in the subset (here the last one,
    // A2, down to its first character): its samples' negatives come from
    // every other class, as when same_group is 0.
    {
        int sub[51], n_sub = 0;
        for (int i = 0; i < 48; i++) sub[n_sub++] = i;  // A0 and A1: classes 0..7
        for (int i = 48; i < 51; i++) sub[n_sub++] = i;  // A2: 3 images of class 8
        PairSampler s;
        CHECK(sampler_init(&s, &ds, sub, n_sub, 1.0, &e) == 0, "%s", e.msg);
        Rng r;
        rng_seed(&r, 8);
        int against[12] = {0};
        for (int i = 0; i < 20000; i++) {
            int q[4];
            sampler_draw(&s, &r, q);
            if (ds.images[q[0]].cls == 8) against[ds.images[q[3]].cls]++;
        }
        int spread = 1;
        for (int c = 0; c < 12; c++) spread &= c < 8 ? against[c] > 50 : against[c] == 0;
        CHECK(spread, "a lone class's negatives from classes 0..7: %d %d %d %d %d %d %d %d, "
                      "%d %d %d %d", against[0], against[1], against[2], against[3], against[4],
              against[5], against[6], against[7], against[8], against[9], against[10], against[11]);
        sampler_free(&s);
    }
    // A subset whose classes all have fewer than 3 images: an error, not a hang.
    int few[4] = {0, 1, 6, 7};  // two images of each of two classes
    PairSampler s;
    CHECK(sampler_init(&s, &ds, few, 4, 0, &e) < 0 && strstr(e.msg, "at least 3"),
          "no positive class: %s", e.msg);
    // One class of 3 and one of 1: draws work, always against that one.
    int three[4] = {0, 1, 2, 6};
    CHECK(sampler_init(&s, &ds, three, 4, 0.5, &e) == 0, "%s", e.msg);
    Rng r;
    rng_seed(&r, 1);
    int q[4];
    for (int i = 0; i < 100; i++) sampler_draw(&s, &r, q);
    CHECK(q[3] == 6, "the only other class");
    sampler_free(&s);
    free(tr);
    free(va);
    free(tr2);
    free(va2);
    dataset_free(&ds);
}

static void test_gallery(const char *tmp) {
    synth_classes(at(tmp, "g"), 2, 2, 8);
    synth_mkdirs(at(tmp, "g/k0/deeper"));
    synth_png(at(tmp, "g/k0/deeper/x.png"), 8, 9);
    char target[1024];
    snprintf(target, sizeof target, "%s/g", tmp);
    CHECK(symlink(target, at(tmp, "g/k1/loop")) == 0, "symlink");
    synth_text(at(tmp, "g/notes.txt"), "x");
    char **paths;
    int n, other;
    Err e;
    CHECK(dataset_list_images(at(tmp, "g"), &paths, &n, &other, &e) == 0, "%s", e.msg);
    CHECK(n == 5 && other == 1, "gallery: %d images, %d other", n, other);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    CHECK(dataset_drawer_of("a/b/0709_17.png") == 17 && dataset_drawer_of("x.png") == -1 &&
              dataset_drawer_of("a_b.png") == -1,
          "drawer parsing");
}

int main(void) {
    char *tmp = synth_tmpdir();
    test_layouts(tmp);
    test_left_out(tmp);
    test_split_and_sampler(tmp);
    test_gallery(tmp);
    synth_cleanup(tmp);
    return check_summary("test_dataset");
}
