// Evaluation: the trials' rules (one alphabet, drawers kept apart, the
// true candidate anywhere), ties never count as correct (a constant model
// scores 0), the runs format, ROC AUC and the confidence interval.
#include <string.h>

#include "../engine/eval.h"
#include "check.h"
#include "synth.h"

static void test_stats(void) {
    const float s[4] = {0.1f, 0.4f, 0.35f, 0.8f}, y[4] = {0, 0, 1, 1};
    CHECK(fabs(eval_roc_auc(s, y, 4) - 0.75) < 1e-12, "auc %g", eval_roc_auc(s, y, 4));
    const float tie[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    CHECK(fabs(eval_roc_auc(tie, y, 4) - 0.5) < 1e-12, "ties give 0.5");
    const float perfect[4] = {0.1f, 0.2f, 0.9f, 0.8f};
    CHECK(eval_roc_auc(perfect, y, 4) == 1.0, "perfect");
    Accuracy a = {.trials = 100, .correct = 50};
    eval_accuracy_finish(&a);
    CHECK(fabs(a.lo - 0.4038) < 1e-4 && fabs(a.hi - 0.5962) < 1e-4, "wilson %g %g", a.lo, a.hi);
    Accuracy z = {.trials = 10, .correct = 0};
    eval_accuracy_finish(&z);
    CHECK(z.acc == 0 && z.lo == 0 && fabs(z.hi - 0.2775) < 1e-4, "wilson at 0: %g", z.hi);
}

static void test_plan(const Dataset *ds) {
    EpisodeConfig ec = {.ways = 5, .shots = 2, .episodes = 300, .seed = 4};
    EpisodePlan p;
    Err e;
    CHECK(eval_episodes_plan(ds, &ec, &p, &e) == 0, "%s", e.msg);
    int ok = 1, hits[5] = {0};
    for (int i = 0; i < p.n; i++) {
        const int *cls = p.cls + i * 5, g = ds->classes[cls[0]].group;
        hits[p.truth[i]]++;
        ok &= ds->images[p.test[i]].cls == cls[p.truth[i]];
        for (int k = 0; k < 5; k++) {
            ok &= ds->classes[cls[k]].group == g;  // within one alphabet
            for (int j = 0; j < k; j++) ok &= cls[j] != cls[k];
            const int *sup = p.support + (i * 5 + k) * 2;
            for (int s = 0; s < 2; s++) {
                ok &= ds->images[sup[s]].cls == cls[k];
                ok &= ds->images[sup[s]].drawer != ds->images[p.test[i]].drawer;
            }
            ok &= sup[0] != sup[1];
        }
    }
    CHECK(ok, "trials keep to one alphabet, distinct candidates, other drawers");
    int drawers[6] = {0};
    for (int i = 0; i < p.n; i++) drawers[ds->images[p.test[i]].drawer]++;
    CHECK(drawers[1] && drawers[2] && drawers[3] && drawers[4] && drawers[5],
          "test drawings come from every drawer: %d %d %d %d %d", drawers[1], drawers[2],
          drawers[3], drawers[4], drawers[5]);
    CHECK(hits[0] > 30 && hits[1] > 30 && hits[2] > 30 && hits[3] > 30 && hits[4] > 30,
          "the true candidate's position is random: %d %d %d %d %d", hits[0], hits[1], hits[2],
          hits[3], hits[4]);
    eval_episodes_plan_free(&p);
    ec.ways = 7;  // alphabets have 6 characters
    CHECK(eval_episodes_plan(ds, &ec, &p, &e) < 0 && strstr(e.msg, "no alphabet has 7"),
          "too many ways: %s", e.msg);
}

// Trials on one's own classes (no drawers): the support drawings never
// include the test image, even where a class has just enough images.
static void test_plan_classes(const char *tmp) {
    char root[600];
    snprintf(root, sizeof root, "%s/own", tmp);
    synth_classes(root, 6, 4, 32);
    Dataset ds;
    Err e;
    CHECK(dataset_scan(&ds, root, LAYOUT_AUTO, DATASET_EVALUATION, 2, 1, &e) == 0, "%s", e.msg);
    EpisodeConfig ec = {.ways = 5, .shots = 3, .episodes = 200, .seed = 2};
    EpisodePlan p;
    CHECK(eval_episodes_plan(&ds, &ec, &p, &e) == 0, "%s", e.msg);
    int ok = 1;
    for (int i = 0; i < p.n; i++)
        for (int k = 0; k < 5 * 3; k++) {
            const int sup = p.support[i * 5 * 3 + k];
            ok &= sup != p.test[i] && ds.images[sup].cls == p.cls[i * 5 + k / 3];
        }
    CHECK(ok, "own classes: support drawings of the candidate's class, never the test image");
    eval_episodes_plan_free(&p);
    dataset_free(&ds);
}

// Trials and pairs on classes of 2 images, the fewest evaluation keeps:
// every class is a true candidate, tested on one image against the other
// as its support; verification's same pairs are the two images.
static void test_two_image_classes(const char *tmp, Model *m) {
    char root[600];
    snprintf(root, sizeof root, "%s/pairs", tmp);
    synth_classes(root, 5, 2, 32);
    Dataset ds;
    Err e;
    CHECK(dataset_scan(&ds, root, LAYOUT_AUTO, DATASET_EVALUATION, 2, 1, &e) == 0, "%s", e.msg);
    CHECK(ds.n_classes == 5 && ds.n_images == 10 && !ds.notes[0], "%d classes, %d images: %s",
          ds.n_classes, ds.n_images, ds.notes);
    EpisodeConfig ec = {.ways = 5, .shots = 1, .episodes = 200, .seed = 6};
    EpisodePlan p;
    CHECK(eval_episodes_plan(&ds, &ec, &p, &e) == 0, "%s", e.msg);
    int ok = 1, truths[5] = {0};
    for (int i = 0; i < p.n; i++) {
        const int *cls = p.cls + i * 5;
        truths[cls[p.truth[i]]]++;
        ok &= ds.images[p.test[i]].cls == cls[p.truth[i]];
        for (int k = 0; k < 5; k++) ok &= ds.images[p.support[i * 5 + k]].cls == cls[k];
        ok &= p.support[i * 5 + p.truth[i]] != p.test[i];
    }
    CHECK(ok, "2-image classes: the true candidate's support is its other image");
    CHECK(truths[0] && truths[1] && truths[2] && truths[3] && truths[4],
          "every class is a true candidate: %d %d %d %d %d", truths[0], truths[1], truths[2],
          truths[3], truths[4]);
    eval_episodes_plan_free(&p);
    ec.shots = 2;  // a candidate's 2 drawings and the test need 3 images
    CHECK(eval_episodes_plan(&ds, &ec, &p, &e) < 0 && strstr(e.msg, "0 classes have 3 images"),
          "2 shots: %s", e.msg);
    EvalOpts o = {.threads = 1};
    Verification v;
    CHECK(eval_verification(m, &ds, 30, 0, 2, &o, &v, &e) == 0 && v.pairs == 60, "%s", e.msg);
    dataset_free(&ds);
    // Training needs a third image of a class: none of these serve it.
    CHECK(dataset_scan(&ds, root, LAYOUT_AUTO, DATASET_TRAINING, 2, 1, &e) < 0 &&
              strstr(e.msg, "0 usable classes (with at least 3 readable images each)") &&
              strstr(e.msg, "5 classes have fewer than 3 images and are left out (a class "
                            "must give a positive pair and a third image)"),
          "training: %s", e.msg);
}

// The runs format, written from the synthetic alphabet 0: candidates from
// drawer 1, test items from drawer 2, labels relative to the runs folder.
static void write_runs(const char *tmp, const char *omni, int n_runs) {
    char p[1024], q[1024], labels[4096];
    for (int r = 0; r < n_runs; r++) {
        snprintf(p, sizeof p, "%s/runs/run%02d/training", tmp, r + 1);
        synth_mkdirs(p);
        snprintf(p, sizeof p, "%s/runs/run%02d/test", tmp, r + 1);
        synth_mkdirs(p);
        labels[0] = '\0';
        for (int c = 0; c < 6; c++) {
            snprintf(p, sizeof p, "%s/runs/run%02d/training/class%02d.png", tmp, r + 1, c + 1);
            snprintf(q, sizeof q, "%s/A%d/c%02d/%04d_01.png", omni, r, c, r * 6 + c);
            CHECK(symlink(q, p) == 0, "link %s", p);
            int t = (c + 2) % 6;  // items in another order than the classes
            snprintf(p, sizeof p, "%s/runs/run%02d/test/item%02d.png", tmp, r + 1, c + 1);
            snprintf(q, sizeof q, "%s/A%d/c%02d/%04d_02.png", omni, r, t, r * 6 + t);
            CHECK(symlink(q, p) == 0, "link %s", p);
            size_t u = strlen(labels);
            snprintf(labels + u, sizeof labels - u,
                     "run%02d/test/item%02d.png run%02d/training/class%02d.png\n", r + 1, c + 1,
                     r + 1, t + 1);
        }
        snprintf(p, sizeof p, "%s/runs/run%02d/class_labels.txt", tmp, r + 1);
        synth_text(p, labels);
    }
}

// A model whose every parameter is 0 outputs 0.5 for every pair: every
// trial is a tie, and ties are misses.
// eval_embed_shared in one process: blocks in order, the features of
// eval_embed_files bit for bit, why a file did not decode, a stop, and a
// failure of take.
typedef struct Taken {
    float feats[8 * 64];
    unsigned char ok[8];
    char why[256];
    long next, calls;
    int F, fail;  // features a file; take fails
} Taken;

static int take(long first, long count, const float *feats, const unsigned char *ok,
                const EvalWhy *why, void *ctx, Err *e) {
    Taken *t = ctx;
    const int F = t->F;
    CHECK(first == t->next && count <= 2, "block at %ld of %ld, expected at %ld", first, count,
          t->next);
    t->calls++;
    if (t->fail) return err_set(e, "take failed");
    t->next = first + count;
    memcpy(t->feats + first * F, feats, count * F * sizeof(float));
    memcpy(t->ok + first, ok, count);
    for (long i = 0; i < count; i++)
        if (!ok[i]) snprintf(t->why, sizeof t->why, "%s", why[i]);
    return 0;
}

static void test_shared(Model *m, const Dataset *ds) {
    Err e;
    const char *paths[5] = {ds->images[0].path, ds->images[1].path, "/nonexistent.png",
                            ds->images[2].path, ds->images[3].path};
    float feats[5 * 64];
    unsigned char ok[5];
    EvalOpts o = {.threads = 1, .batch = 2};
    CHECK(m->feat_dim <= 32, "feature size %d", m->feat_dim);
    CHECK(eval_embed_files(m, paths, 5, &(EvalOpts){.threads = 1}, feats, ok, NULL, 0, &e) == 0,
          "%s", e.msg);
    Taken t = {.F = m->feat_dim};
    int stopped = -1;
    CHECK(eval_embed_shared(m, paths, 5, &o, NULL, &stopped, take, &t, &e) == 0 && !stopped,
          "%s", e.msg);
    CHECK(t.next == 5 && t.calls == 3, "blocks: %ld files in %ld calls", t.next, t.calls);
    CHECK(!memcmp(t.ok, ok, 5) && !memcmp(t.feats, feats, 5 * m->feat_dim * sizeof(float)),
          "shared features differ from eval_embed_files'");
    CHECK(strstr(t.why, "/nonexistent.png") != NULL, "why: %s", t.why);
    volatile sig_atomic_t stop = SIGTERM;
    Taken s = {.F = m->feat_dim};
    CHECK(eval_embed_shared(m, paths, 5, &o, &stop, &stopped, take, &s, &e) < 0 &&
              stopped == SIGTERM && s.calls == 0,
          "a stop: stopped %d, %ld calls", stopped, s.calls);
    Taken f = {.F = m->feat_dim, .fail = 1};
    CHECK(eval_embed_shared(m, paths, 5, &o, NULL, &stopped, take, &f, &e) < 0 && f.calls == 1 &&
              !strcmp(e.msg, "take failed"),
          "a failed take: %ld calls, %s", f.calls, e.msg);
}

static void test_constant_model(const char *tmp, const char *omni, const Dataset *ds) {
    Backend *be;
    Model *m;
    Err e;
    ModelSpec spec;
    model_spec_compact(&spec, 32);
    const int w[5] = {2, 2, 2, 2, 2};
    memcpy(spec.widths, w, sizeof w);
    spec.hidden = 4;
    CHECK(backend_cpu_open(&be, 1, &e) == 0 && model_create(&m, &spec, be, &e) == 0, "%s", e.msg);
    EvalOpts o = {.threads = 1};
    EpisodeConfig ec = {.ways = 5, .shots = 1, .episodes = 40, .seed = 1};
    Accuracy a;
    CHECK(eval_episodes(m, ds, &ec, &o, &a, &e) == 0, "%s", e.msg);
    CHECK(a.trials == 40 && a.correct == 0 && a.ties == 40, "constant model: %ld correct, %ld ties",
          a.correct, a.ties);
    write_runs(tmp, omni, 2);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/runs", tmp);
    RunResult *runs;
    int n;
    double mean;
    CHECK(eval_runs(m, dir, &o, &runs, &n, &mean, &e) == 0, "%s", e.msg);
    CHECK(n == 2 && runs[0].items == 6 && runs[0].wrong == 6 && mean == 100.0,
          "constant model misses every run item: %d %d %g", n, n ? runs[0].wrong : -1, mean);
    free(runs);
    Verification v;
    CHECK(eval_verification(m, ds, 50, 0.5, 3, &o, &v, &e) == 0, "%s", e.msg);
    CHECK(v.pairs == 100 && fabs(v.auc - 0.5) < 1e-12, "constant model: auc %g", v.auc);

    // Random weights: a model that is not constant still runs every path,
    // and rank scores the query against itself like the model says.
    CHECK(model_init_random(m, 5, &e) == 0, "%s", e.msg);
    CHECK(eval_runs(m, dir, &o, &runs, &n, &mean, &e) == 0 && mean >= 0 && mean <= 100, "%s",
          e.msg);
    free(runs);
    const char *gallery[3] = {ds->images[0].path, ds->images[1].path, "/nonexistent.png"};
    float scores[3];
    unsigned char ok[3];
    CHECK(eval_rank(m, ds->images[0].path, gallery, 3, &o, scores, ok, &e) == 0, "%s", e.msg);
    CHECK(ok[0] && ok[1] && !ok[2], "unreadable gallery image flagged");
    float prob;
    float fa[64], fb[64];
    const char *pair[2] = {ds->images[0].path, ds->images[1].path};
    unsigned char pok[2];
    CHECK(m->feat_dim <= 32, "feature size %d", m->feat_dim);
    float feats[64];
    eval_embed_files(m, pair, 2, &o, feats, pok, NULL, 0, &e);
    memcpy(fa, feats, m->feat_dim * sizeof(float));
    memcpy(fb, feats + m->feat_dim, m->feat_dim * sizeof(float));
    eval_head(m, fa, fb, 1, &prob, &e);
    CHECK(fabs(prob - scores[1]) < 1e-6, "rank's score is the head's: %g %g", prob, scores[1]);
    test_shared(m, ds);
    test_two_image_classes(tmp, m);
    // A broken runs folder is explained.
    snprintf(dir, sizeof dir, "%s/runs/run01/class_labels.txt", tmp);
    synth_text(dir, "run01/test/item01.png run01/training/class99.png\n");
    snprintf(dir, sizeof dir, "%s/runs", tmp);
    CHECK(eval_runs(m, dir, &o, &runs, &n, &mean, &e) < 0 && strstr(e.msg, "class99"), "%s",
          e.msg);
    // Blank lines (spaces, a CR) are skipped; a line that is not two paths
    // is an error naming the file and line, never skipped; a file that
    // lists no items is an error.
    char labels[600];
    snprintf(labels, sizeof labels, "%s/runs/run01/class_labels.txt", tmp);
    synth_text(labels, "\n  \r\nrun01/test/item01.png run01/training/class03.png\n\n");
    CHECK(eval_runs(m, dir, &o, &runs, &n, &mean, &e) == 0 && n == 2 && runs[0].items == 1 &&
              runs[1].items == 6,
          "blank lines: %s", e.msg);
    free(runs);
    synth_text(labels, "run01/test/item01.png run01/training/class03.png\nrun01/test/item02.png\n");
    CHECK(eval_runs(m, dir, &o, &runs, &n, &mean, &e) < 0 &&
              strstr(e.msg, "class_labels.txt:2: expected 'test-image training-image'"),
          "a line of one path: %s", e.msg);
    synth_text(labels, "\n");
    CHECK(eval_runs(m, dir, &o, &runs, &n, &mean, &e) < 0 && strstr(e.msg, "no test items listed"),
          "no items: %s", e.msg);
    model_free(m);
    backend_close(be);
}

int main(void) {
    test_stats();
    char *tmp = synth_tmpdir(), omni[512];
    snprintf(omni, sizeof omni, "%s/omni", tmp);
    synth_omniglot(omni, 3, 6, 5, 32);
    Dataset ds;
    Err e;
    CHECK(dataset_scan(&ds, omni, LAYOUT_AUTO, DATASET_EVALUATION, 2, 1, &e) == 0, "%s", e.msg);
    test_plan(&ds);
    test_plan_classes(tmp);
    test_constant_model(tmp, omni, &ds);
    dataset_free(&ds);
    synth_cleanup(tmp);
    return check_summary("test_eval");
}
