#include "tta.h"

#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "rng.h"

// Seeds of the warps: version k (1..n) draws from TTA_SEED + k.
#define TTA_SEED 0x77A0

int tta_inputs(const Image *img, int n, int size, const Preprocess *pre, float *out) {
    const size_t per = (size_t)size * size * 3;
    if (image_to_input(img, size, pre, out)) return -1;
    AugmentParams p;
    augment_preset(&p, AUGMENT_KOCH);
    for (int k = 1; k <= n; k++) {
        Rng r;
        rng_seed(&r, TTA_SEED + (uint64_t)k);
        double m[6];
        augment_draw(&p, &r, img->w, img->h, m);
        Image warped;
        if (augment_warp(img, m, &warped)) return -1;
        int rc = image_to_input(&warped, size, pre, out + (size_t)k * per);
        image_free(&warped);
        if (rc) return -1;
    }
    return 0;
}

int tta_head(Model *m, const float *fa, const float *fb, long n, int versions, float *prob,
             Err *e) {
    const size_t F = m->feat_dim;
    const int V = versions, VV = V * V;
    // Pairs go to the head by chunks of about 1024, each pair's V*V pairings together.
    const long per_chunk = VV >= 1024 ? 1 : 1024 / VV;
    float *a = V > 1 ? malloc((size_t)per_chunk * VV * F * sizeof(float)) : NULL;
    float *b = V > 1 ? malloc((size_t)per_chunk * VV * F * sizeof(float)) : NULL;
    float *p = V > 1 ? malloc((size_t)per_chunk * VV * sizeof(float)) : NULL;
    if (V > 1 && (!a || !b || !p)) {
        free(a), free(b), free(p);
        return err_set(e, "out of memory for test-time augmentation");
    }
    int rc = 0;
    for (long i = 0; !rc && i < n; i += per_chunk) {
        const long k = n - i < per_chunk ? n - i : per_chunk;
        if (V == 1) {
            rc = model_head(m, fa + i * F, fb + i * F, (int)k, prob + i, e);
            continue;
        }
        // Pairing (s, t) of pair j: fa's version s against fb's version t.
        for (long j = 0; j < k; j++)
            for (int s = 0; s < V; s++)
                for (int t = 0; t < V; t++) {
                    size_t row = ((size_t)j * V + s) * V + t;
                    memcpy(a + row * F, fa + ((size_t)(i + j) * V + s) * F, F * sizeof(float));
                    memcpy(b + row * F, fb + ((size_t)(i + j) * V + t) * F, F * sizeof(float));
                }
        rc = model_head(m, a, b, (int)(k * VV), p, e);
        for (long j = 0; !rc && j < k; j++) {
            double sum = 0;
            for (int q = 0; q < VV; q++) sum += p[j * VV + q];
            prob[i + j] = (float)(sum / VV);
        }
    }
    free(a), free(b), free(p);
    return rc;
}
