// libFuzzer harness: an image file's bytes through the whole image path of
// predict: image_decode (format sniffing, the pixel limit, truncation
// checks, libjpeg-turbo for JPEG through engine/jpeg.c, stb_image for the
// rest), then image_to_input at the original's size and a small one,
// centre-cropped and letterboxed. Built by `make fuzz` with stb_image
// compiled in and instrumented (tests/fuzz/stb_image_impl.c); libjpeg is
// Debian's library, not instrumented (its crashes show, its memory errors
// do not), our error manager and source around it are.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../engine/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Image img;
    Err e;
    if (image_decode(data, size, "fuzz", &img, &e)) return 0;
    // The pixel limit lets through images of up to 50 megapixels, whose
    // letterbox resize is ~0.5 s natively but can pass the fuzzer's 10 s
    // timeout under coverage instrumentation: the resize is fuzzed on
    // images up to 4 megapixels (tests/test_image_extremes.c resizes
    // 3-megapixel extremes natively).
    if ((long)img.w * img.h > 4000000) {
        image_free(&img);
        return 0;
    }
    static const int sizes[] = {105, 32};
    float *x = malloc(sizeof(float) * 105 * 105 * 3);
    for (int s = 0; s < 2 && x; s++)
        for (int lb = 0; lb < 2; lb++) {
            Preprocess pre = {lb, lb};
            if (image_to_input(&img, sizes[s], &pre, x)) abort();  // only memory can fail
        }
    free(x);
    image_free(&img);
    return 0;
}
