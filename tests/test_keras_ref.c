// Keras compatibility: weight files written by Keras (and by h5py in the
// layouts Keras reads) load, and our predictions equal Keras's
// model.predict on the same images to 1e-5 absolute.
//
//   keras_compact.h5         tf-keras save_weights, compact widths, Dense
//                            layers named dense_1/dense_2 (the Keras 2.1.5
//                            file of the original repositories)
//   keras_tiny_tfkeras.h5    today's tf-keras names (dense, dense_1)
//   keras_tiny_fullmodel.h5  model.save: weights under /model_weights,
//                            variable-length string attributes
//   keras_split_attr_tiny.h5 layer_names split into layer_names0, 1, ...
//   keras1_vgg_notop_tiny.h5 Keras 1 names (block1_conv1_W_1:0), backbone only
// Images are decoded and preprocessed by our code (the default pipeline),
// so this proves the decoding, the resize and the crop, not only the
// weights: every pair runs from PIL's decoded pixels
// (tests/fixtures/preprocess_ref.h5 decoded/*) and from our own decoder,
// and both must match Keras to 1e-5, JPEG pairs included (4:2:0 photos,
// 4:2:2, progressive, grey, CMYK). The models' predictions spread over
// (0.018, 0.982), so a decoder a few levels off shows: the same pairs
// decoded by stb_image (what decoded JPEG before libjpeg-turbo) must miss
// Keras by more than 1e-5 wherever stb's pixels differ from Pillow's, or
// the 1e-5 would prove nothing.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "../engine/compare.h"
#include "../engine/weights.h"
#include "check.h"
#include "h5read.h"

#define FIX "tests/fixtures/"

static Backend *be;

static int is_jpeg(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".jpg") || !strcmp(dot, ".jpeg"));
}

// PIL's decoded RGB pixels of a fixture image.
static int pil_pixels(const char *name, Image *img) {
    char ds[300];
    snprintf(ds, sizeof ds, "decoded/%s", name);
    size_t n;
    float *v = h5_floats(FIX "preprocess_ref.h5", ds, &n);
    if (!v) return -1;
    // The geometry lives in the dataset's shape; read width/height by name.
    hid_t f = H5Fopen(FIX "preprocess_ref.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT), sp = H5Dget_space(d);
    hsize_t dims[3];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp), H5Dclose(d), H5Fclose(f);
    img->h = (int)dims[0];
    img->w = (int)dims[1];
    img->rgb = malloc(n);
    for (size_t i = 0; i < n; i++) img->rgb[i] = (unsigned char)v[i];
    free(v);
    return 0;
}

// stb_image's decoding of a fixture image, as RGB; NULL pixels on failure.
static Image stb_pixels(const char *path) {
    Image img = {0};
    int comp;
    img.rgb = stbi_load(path, &img.w, &img.h, &comp, 3);
    return img;
}

// Whether two images have the same pixels.
static int same_pixels(const Image *a, const Image *b) {
    return a->w == b->w && a->h == b->h && !memcmp(a->rgb, b->rgb, (size_t)a->w * a->h * 3);
}

// Every pair of a "<img1> <img2> <probability>" file against the model.
static void check_pairs(const char *weights, const char *pairs_file) {
    Model *m;
    WeightsInfo info;
    Err e;
    int rc = weights_open_model(&m, weights, be, &info, &e);
    CHECK(rc == 0, "%s", e.msg);
    if (rc) return;
    CHECK(info.spec.input_size == 105, "%s: input size %d", weights, info.spec.input_size);
    FILE *f = fopen(pairs_file, "r");
    CHECK(f != NULL, "cannot open %s", pairs_file);
    if (!f) return;
    char a[256], b[256], pa[512], pb[512];
    double want, worst_pil = 0, worst_ours = 0, least_stb = 1, most_stb = 0;
    int n = 0, n_jpeg = 0, n_stb = 0;
    while (fscanf(f, "%255s %255s %lf", a, b, &want) == 3) {
        snprintf(pa, sizeof pa, FIX "images/%s", a);
        snprintf(pb, sizeof pb, FIX "images/%s", b);
        Image pil[2], ours[2], stb[2];
        float prob = -1;
        // PIL's pixels: the network and the preprocessing alone.
        CHECK(pil_pixels(a, &pil[0]) == 0 && pil_pixels(b, &pil[1]) == 0, "decoded pixels of %s %s",
              a, b);
        CHECK(compare_images(m, &pil[0], &pil[1], &prob, &e) == 0, "%s", e.msg);
        double d = fabs(prob - want);
        if (d > worst_pil) worst_pil = d;
        CHECK(d <= 1e-5, "%s: %s vs %s (PIL pixels): ours %.9f, Keras %.9f", weights, a, b, prob,
              want);
        // Our decoder: the whole predict path.
        CHECK(image_load(pa, &ours[0], &e) == 0, "%s", e.msg);
        CHECK(image_load(pb, &ours[1], &e) == 0, "%s", e.msg);
        CHECK(compare_images(m, &ours[0], &ours[1], &prob, &e) == 0, "%s", e.msg);
        d = fabs(prob - want);
        if (d > worst_ours) worst_ours = d;
        CHECK(d <= 1e-5, "%s: %s vs %s: ours %.9f, Keras %.9f", weights, a, b, prob, want);
        n_jpeg += is_jpeg(a) || is_jpeg(b);
        // The test's power: where stb's pixels differ from Pillow's (its
        // JPEGs), its prediction misses by more than the tolerance.
        stb[0] = stb_pixels(pa);
        stb[1] = stb_pixels(pb);
        CHECK(stb[0].rgb && stb[1].rgb, "stb_image cannot read %s or %s", a, b);
        if (stb[0].rgb && stb[1].rgb && (!same_pixels(&stb[0], &pil[0]) || !same_pixels(&stb[1], &pil[1])) &&
            !(same_pixels(&pil[0], &pil[1]) && same_pixels(&stb[0], &stb[1]))) {  // not an identical pair
            CHECK(compare_images(m, &stb[0], &stb[1], &prob, &e) == 0, "%s", e.msg);
            d = fabs(prob - want);
            if (d < least_stb) least_stb = d;
            if (d > most_stb) most_stb = d;
            n_stb++;
            CHECK(d > 1e-5, "%s: %s vs %s: stb_image's pixels differ from Pillow's, yet its "
                  "prediction %.9f is within 1e-5 of Keras's %.9f: the test cannot see decoding",
                  weights, a, b, prob, want);
        }
        for (int k = 0; k < 2; k++) {
            image_free(&pil[k]);
            image_free(&ours[k]);
            stbi_image_free(stb[k].rgb);
        }
        n++;
    }
    fclose(f);
    CHECK(n >= 19 && n_jpeg >= 10 && n_stb >= 8, "%s: %d pairs, %d with a JPEG, %d decoded "
          "differently by stb_image", pairs_file, n, n_jpeg, n_stb);
    printf("%s: %d pairs (%d with a JPEG), max |ours - Keras| = %.2g from PIL's pixels, %.2g from "
           "our decoding; stb_image's decoding misses by %.2g to %.2g on the %d pairs where its "
           "pixels differ\n", weights, n, n_jpeg, worst_pil, worst_ours, least_stb, most_stb, n_stb);
    model_free(m);
}

// Two models hold the same parameters.
static int same_params(const Model *x, const Model *y) {
    return x->n_params == y->n_params &&
           !memcmp(x->params, y->params, x->n_params * sizeof(float));
}

int main(void) {
    Err e;
    if (backend_cpu_open(&be, 2, &e)) return 1;
    check_pairs(FIX "keras_compact.h5", FIX "keras_compact_pairs.txt");
    check_pairs(FIX "keras_tiny_tfkeras.h5", FIX "keras_tiny_pairs.txt");
    check_pairs(FIX "keras_tiny_fullmodel.h5", FIX "keras_tiny_pairs.txt");
    check_pairs(FIX "keras_split_attr_tiny.h5", FIX "keras_tiny_pairs.txt");

    // The compact file is recognised as the compact architecture.
    WeightsInfo info;
    CHECK(weights_inspect(FIX "keras_compact.h5", &info, &e) == 0, "%s", e.msg);
    char desc[64];
    model_spec_describe(&info.spec, desc, sizeof desc);
    CHECK(!strcmp(desc, "compact"), "keras_compact.h5 described as %s", desc);

    // Keras 1 backbone: the conv layers load by name, the head stays as
    // initialised, and it is not taken for a whole model.
    CHECK(weights_inspect(FIX "keras1_vgg_notop_tiny.h5", &info, &e) == 0, "%s", e.msg);
    CHECK(info.has_backbone && !info.has_head, "notop: backbone %d head %d", info.has_backbone,
          info.has_head);
    Model *full, *m;
    CHECK(weights_open_model(&full, FIX "keras_tiny_tfkeras.h5", be, NULL, &e) == 0, "%s", e.msg);
    CHECK(weights_open_model(&m, FIX "keras1_vgg_notop_tiny.h5", be, NULL, &e) != 0,
          "a backbone-only file must not pass as a whole model");
    CHECK(strstr(e.msg, "without the Siamese Dense head") != NULL, "message: %s", e.msg);
    info.spec.hidden = full->spec.hidden;
    CHECK(model_create(&m, &info.spec, be, &e) == 0, "%s", e.msg);
    WeightsReport rep;
    CHECK(weights_load(m, FIX "keras1_vgg_notop_tiny.h5", 0, &rep, &e) == 0, "%s", e.msg);
    CHECK(rep.n_loaded == 13 && rep.n_skipped == 2, "notop: %d loaded, %d skipped", rep.n_loaded,
          rep.n_skipped);
    // Loaded by name into the right views: compare two layers with the file.
    const char *probe[2][2] = {{"block1_conv1", "block1_conv1/block1_conv1_W_1:0"},
                               {"block5_conv3", "block5_conv3/block5_conv3_b_1:0"}};
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        float *want = h5_floats(FIX "keras1_vgg_notop_tiny.h5", probe[i][1], &n);
        const Layer *l = model_layer(m, probe[i][0]);
        size_t off = i ? l->b_off : l->w_off, len = i ? l->b_len : l->w_len;
        CHECK(want && n == len && !memcmp(m->params + off, want, len * sizeof(float)),
              "notop %s loaded wrongly", probe[i][1]);
        free(want);
    }

    // Our own files round-trip exactly, and Keras's layout is what we write;
    // the preprocessing the model wants comes back with them (inverted
    // input here, centre-cropped: the two must not be confused).
    const char *tmp = "build/tests/roundtrip.h5";
    full->spec.pre.invert = 1;
    full->spec.pre.letterbox = 0;
    CHECK(weights_save(full, tmp, NULL, &e) == 0, "%s", e.msg);
    Model *back = NULL;
    WeightsInfo saved = {0};
    CHECK(weights_open_model(&back, tmp, be, &saved, &e) == 0, "%s", e.msg);
    CHECK(back && same_params(full, back), "round trip changed the weights");
    CHECK(saved.input_size_known && saved.spec.input_size == full->spec.input_size &&
              saved.spec.pre.invert == 1 && saved.spec.pre.letterbox == 0,
          "round trip: input %d (known %d), invert %d, letterbox %d; saved %d, 1, 0",
          saved.spec.input_size, saved.input_size_known, saved.spec.pre.invert,
          saved.spec.pre.letterbox, full->spec.input_size);
    if (back) model_free(back);
    model_free(m);
    model_free(full);
    remove(tmp);
    backend_close(be);
    return check_summary("keras_ref");
}
