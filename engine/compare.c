#include "compare.h"

#include <math.h>
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
    // A NaN or infinite weight poisons the output; never pass NaN on as a score.
    if (!rc && !isfinite(*prob))
        rc = err_set(e, "the model's output is not a number (its weights hold NaN or infinite "
                     "values, or overflowed)");
    free(x);
    return rc;
}
