// Gallery search (engine/proxy.c, gallery.c, search.c): the proxy's codes
// and scores (the SAD kernel against the portable loop and against the
// formula), an index of made-up entries read back, exact search against
// the head on every entry, the two-stage search with a shortlist of every
// entry equal to it, ties in entry order, the query's own entry left out,
// and finding an entry by its path.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/backend.h"
#include "../engine/gallery.h"
#include "../engine/h5attr.h"
#include "../engine/proxy.h"
#include "../engine/rng.h"
#include "../engine/search.h"
#include "check.h"

static void test_proxy(Model *m) {
    Proxy p;
    Err e;
    CHECK(proxy_init(&p, m, &e) == 0, "%s", e.msg);
    const int F = m->feat_dim, C = p.code_dim, n = 50;
    CHECK(
        C % PROXY_ALIGN == 0 && p.pos_bytes % PROXY_ALIGN == 0 && C >= F && C < F + 2 * PROXY_ALIGN,
        "code layout %d (%d positive) for %d features", C, p.pos_bytes, F);
    float *f = malloc((size_t)n * F * sizeof *f);
    uint8_t *codes = malloc((size_t)n * C);
    int32_t *s1 = malloc(n * sizeof *s1), *s2 = malloc(n * sizeof *s2);
    Rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < n * F; i++) f[i] = rng_uniform(&r) < 0.5f ? 0.0f : rng_uniform(&r);
    f[5] = NAN;  // becomes 0
    const float top = proxy_max(&p, f, n, 0), step = top / 255.0f;
    proxy_encode(&p, step, f, n, codes);
    int max_code = 0, pad_ok = 1;
    for (int i = 0; i < n * C; i++) max_code = codes[i] > max_code ? codes[i] : max_code;
    for (int k = 0; k < C; k++)
        if (p.src[k] < 0)
            for (int i = 0; i < n; i++) pad_ok &= codes[i * C + k] == 0;
    CHECK(max_code == 255, "the largest value maps to 255: %d", max_code);
    CHECK(pad_ok, "padding bytes are 0");
    proxy_score(&p, codes, codes, n, s1);
    proxy_force_portable(1);
    proxy_score(&p, codes, codes, n, s2);
    proxy_force_portable(0);
    int same = 1, formula = 1;
    for (int i = 0; i < n; i++) {
        same &= s1[i] == s2[i];
        int32_t want = 0;
        for (int k = 0; k < C; k++)
            want += (k < p.pos_bytes ? 1 : -1) * abs((int)codes[k] - (int)codes[i * C + k]);
        formula &= s1[i] == want;
    }
    CHECK(same, "the SAD kernel and the portable loop agree");
    CHECK(formula, "the score is the signed sum of absolute byte differences");
    CHECK(s1[0] == 0, "a code against itself scores 0: %d", s1[0]);
    // The score follows the head's linear part: v . |q - g| with v = W1 w2.
    double worst = 0;
    for (int i = 1; i < n; i++) {
        double lin = 0;
        for (int k = 0; k < C; k++) {
            if (p.src[k] < 0) continue;
            float a = isnan(f[p.src[k]]) ? 0 : f[p.src[k]], b = f[i * F + p.src[k]];
            lin += (k < p.pos_bytes ? 1 : -1) * p.weight[k] * fabs(a - b);
        }
        // Rounding: half a step a value, two values a dimension.
        double d = fabs(lin - step * s1[i]) / (step * C);
        worst = d > worst ? d : worst;
    }
    CHECK(worst <= 1.0, "step * score is v . |q - g| within a step a dimension: %g", worst);
    free(f);
    free(codes);
    free(s1);
    free(s2);
    proxy_free(&p);
}

static int same_hits(const SearchHit *a, const SearchHit *b, long n) {
    for (long i = 0; i < n; i++)
        if (a[i].index != b[i].index || a[i].score != b[i].score) return 0;
    return 1;
}

// The head on every entry, by hand: the reference for search_gallery.
static float *all_scores(Model *m, const Gallery *g, const float *q) {
    const int F = g->feat_dim;
    float *feats = malloc((size_t)g->n * F * sizeof *feats),
          *rep = malloc((size_t)g->n * F * sizeof *rep);
    float *prob = malloc(g->n * sizeof *prob);
    Err e;
    CHECK(gallery_read_features(g, 0, g->n, feats, &e) == 0, "%s", e.msg);
    for (long i = 0; i < g->n; i++) memcpy(rep + i * F, q, F * sizeof *q);
    CHECK(eval_head(m, rep, feats, g->n, prob, &e) == 0, "%s", e.msg);
    free(feats);
    free(rep);
    return prob;
}

static void test_index(Model *m, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/g.h5", dir);
    GalleryUpdate st;
    Err e;
    const long n = 3000;
    CHECK(gallery_index_synthetic(m, "random.h5", n, 5, path, NULL, &st, &e) == 0, "%s", e.msg);
    Gallery g;
    CHECK(gallery_open(&g, path, &e) == 0, "%s", e.msg);
    CHECK(g.n == n && g.feat_dim == m->feat_dim, "%ld entries of %d", g.n, g.feat_dim);
    CHECK(gallery_check_model(&g, m, "random.h5", &e) == 0, "%s", e.msg);
    long at;
    char name[64];
    CHECK(gallery_find_path(&g, "synthetic/000002345", &at, &e) == 0 && at == 2345, "found at %ld",
          at);
    CHECK(gallery_find_path(&g, "synthetic/00000234", &at, &e) == 0 && at == -1,
          "a prefix is no match");
    CHECK(gallery_entry_path(&g, 17, name, sizeof name, &e) == 0 &&
              !strcmp(name, "synthetic/000000017"),
          "entry 17: %s", name);

    float *q = malloc(m->feat_dim * sizeof *q);
    CHECK(gallery_read_features(&g, 100, 1, q, &e) == 0, "%s", e.msg);
    float *ref = all_scores(m, &g, q);
    SearchHit *hits = malloc(n * sizeof *hits);
    long n_hits;
    SearchOpts so = {.exact = 1, .top = 10, .skip = -1};
    CHECK(search_gallery(m, &g, q, &so, hits, &n_hits, &e) == 0 && n_hits == 10, "%s", e.msg);
    int ok = 1;
    for (long i = 0; i < n_hits; i++) {
        ok &= hits[i].score == ref[hits[i].index];
        // Nothing outside the results beats the last one.
        for (long j = 0; i == n_hits - 1 && j < n; j++) {
            int listed = 0;
            for (long k = 0; k < n_hits; k++) listed |= hits[k].index == j;
            ok &=
                listed || ref[j] < hits[i].score || (ref[j] == hits[i].score && j > hits[i].index);
        }
        if (i)
            ok &= hits[i - 1].score > hits[i].score ||
                  (hits[i - 1].score == hits[i].score && hits[i - 1].index < hits[i].index);
    }
    CHECK(ok, "exact search: the head's 10 best, best first, ties in entry order");
    // The two stages with every entry on the shortlist are the exact search.
    SearchHit *two = malloc(n * sizeof *two);
    long n_two;
    SearchOpts so2 = {.top = 10, .shortlist = n, .skip = -1};
    CHECK(search_gallery(m, &g, q, &so2, two, &n_two, &e) == 0 && n_two == 10, "%s", e.msg);
    CHECK(same_hits(two, hits, 10), "a shortlist of every entry gives the exact 10");
    // The query's own entry left out.
    so.skip = so2.skip = hits[0].index;
    CHECK(search_gallery(m, &g, q, &so, two, &n_two, &e) == 0, "%s", e.msg);
    CHECK(two[0].index == hits[1].index, "skip: the first is now the second");
    CHECK(search_gallery(m, &g, q, &so2, two, &n_two, &e) == 0, "%s", e.msg);
    CHECK(two[0].index == hits[1].index, "skip in two stages");
    // Every entry, exactly.
    SearchOpts all = {.top = 0, .skip = -1};
    CHECK(search_gallery(m, &g, q, &all, two, &n_two, &e) == 0 && n_two == n, "%ld", n_two);
    CHECK(same_hits(two, hits, 10), "--top 0 begins as the top 10");

    // Another model's index is refused, naming both.
    Backend *be = m->be;
    Model *other;
    CHECK(model_create(&other, &m->spec, be, &e) == 0, "%s", e.msg);
    CHECK(model_init_random(other, 99, &e) == 0, "%s", e.msg);
    CHECK(gallery_check_model(&g, other, "other.h5", &e) < 0 && strstr(e.msg, "random.h5") &&
              strstr(e.msg, "other.h5"),
          "%s", e.msg);
    model_free(other);
    gallery_close(&g);
    free(q);
    free(ref);
    free(hits);
    free(two);
    unlink(path);
}

// An index whose rows are another model's (more features a row) under m's
// identity (a damaged or forged model_id): refused by its feature count
// before anything reads its rows into buffers sized for m's. (An update
// read its kept rows into them: 300 rows of 512 floats overran a block of
// 1024 rows of 128.)
static void test_other_rows(Model *m, const char *dir) {
    char path[4096], folder[4096], file[4200];
    snprintf(path, sizeof path, "%s/other.h5", dir);
    snprintf(folder, sizeof folder, "%s/images", dir);
    snprintf(file, sizeof file, "%s/x.png", folder);
    ModelSpec spec;
    model_spec_compact(&spec, 64);  // features: 2x2x128
    Model *big;
    GalleryUpdate st;
    Err e;
    CHECK(model_create(&big, &spec, m->be, &e) == 0 && model_init_random(big, 4, &e) == 0, "%s",
          e.msg);
    CHECK(gallery_index_synthetic(big, "big.h5", 300, 1, path, NULL, &st, &e) == 0, "%s", e.msg);
    model_free(big);
    char id[17];
    CHECK(gallery_model_id(m, id, &e) == 0, "%s", e.msg);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Adelete(f, "model_id") >= 0 && h5attr_write_string(f, "model_id", id) == 0,
          "rewriting the model_id of %s", path);
    if (f >= 0) H5Fclose(f);
    Gallery g;
    CHECK(gallery_open(&g, path, &e) == 0, "%s", e.msg);
    CHECK(gallery_check_model(&g, m, "random.h5", &e) < 0 && strstr(e.msg, path) &&
              strstr(e.msg, "512 features"),
          "ranking: %s", e.msg);
    gallery_close(&g);
    // An update from a folder of one file (which does not decode).
    mkdir(folder, 0755);
    FILE *x = fopen(file, "w");
    if (x) fclose(x);
    CHECK(gallery_index(m, "random.h5", folder, path, NULL, NULL, &st, &e) < 0 &&
              strstr(e.msg, "512 features"),
          "updating: %s", e.msg);
    unlink(file);
    rmdir(folder);
    unlink(path);
}

// The shortlist README.md promises: 1% of the entries, at least 256.
static void test_default_shortlist(void) {
    const long n[5] = {1, 3000, 25600, 100000, 1000000}, want[5] = {256, 256, 256, 1000, 10000};
    for (int i = 0; i < 5; i++)
        CHECK(search_default_shortlist(n[i]) == want[i], "%ld entries: a shortlist of %ld, not %ld",
              n[i], search_default_shortlist(n[i]), want[i]);
}

int main(void) {
    test_default_shortlist();
    Backend *be;
    Model *m;
    Err e;
    ModelSpec spec;
    model_spec_compact(&spec, 32);  // features: 1x1x128
    if (backend_cpu_open(&be, 2, &e) || model_create(&m, &spec, be, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    if (model_init_random(m, 3, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    test_proxy(m);
    char dir[] = "/tmp/test_search.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    test_index(m, dir);
    test_other_rows(m, dir);
    rmdir(dir);
    model_free(m);
    backend_close(be);
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures != 0;
}
