#include "compare.h"

#include <stdlib.h>

int compare_images(Model *m, const Image *a, const Image *b, float *prob, Err *e) {
    const int S = m->spec.input_size;
    const size_t per = (size_t)S * S * 3;
    float *x = malloc(2 * per * sizeof(float));  // (2,S,S,3): the pair as one batch
    if (!x) return err_set(e, "out of memory preprocessing the images");
    int rc = 0;
    if (image_to_input(a, S, &m->spec.pre, x) || image_to_input(b, S, &m->spec.pre, x + per))
        rc = err_set(e, "out of memory resizing the images");
    if (!rc) rc = siamese_forward(m, x, NULL, 1, prob, NULL, e);
    free(x);
    return rc;
}
