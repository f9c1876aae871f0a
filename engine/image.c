#include "image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image.h>

// ---- decoding ---------------------------------------------------------------

static unsigned char *read_file(const char *path, size_t *len, Err *e) {
    struct stat st;
    if (stat(path, &st) != 0) {
        err_set(e, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        err_set(e, "%s: is a directory, not an image", path);
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        err_set(e, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size : 4096, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {  // the file grew, or st_size lied (a pipe)
            unsigned char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    int rerr = ferror(fp);
    fclose(fp);
    if (!buf || rerr) {
        free(buf);
        err_set(e, "%s: %s", path, buf ? "read error" : "out of memory");
        return NULL;
    }
    if (n == 0) {
        free(buf);
        err_set(e, "%s: the file is empty", path);
        return NULL;
    }
    *len = n;
    return buf;
}

int image_load(const char *path, Image *img, Err *e) {
    memset(img, 0, sizeof *img);
    size_t len;
    unsigned char *data = read_file(path, &len, e);
    if (!data) return -1;
    if (len > 0x7fffffff) {
        free(data);
        return err_set(e, "%s: the file is larger than 2 GB", path);
    }
    int w, h, comp;
    if (!stbi_info_from_memory(data, (int)len, &w, &h, &comp)) {
        free(data);
        return err_set(e, "%s: not a readable image (PNG, JPEG, BMP, GIF, TGA, PNM): %s", path,
                       stbi_failure_reason());
    }
    if ((long)w * h > IMAGE_MAX_PIXELS) {
        free(data);
        return err_set(e, "%s: %dx%d is %.0f megapixels, above the limit of %ld", path, w, h,
                       (double)w * h / 1e6, IMAGE_MAX_PIXELS / 1000000);
    }
    unsigned char *px = stbi_load_from_memory(data, (int)len, &w, &h, &comp, 3);
    free(data);
    if (!px)
        return err_set(e, "%s: the image data is corrupt or truncated: %s", path,
                       stbi_failure_reason());
    // Own the pixels with malloc so image_free needs no stb call.
    img->rgb = malloc((size_t)w * h * 3);
    if (!img->rgb) {
        stbi_image_free(px);
        return err_set(e, "%s: out of memory for %dx%d pixels", path, w, h);
    }
    memcpy(img->rgb, px, (size_t)w * h * 3);
    stbi_image_free(px);
    img->w = w;
    img->h = h;
    return 0;
}

void image_free(Image *img) {
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

// ---- PIL-compatible resampling -------------------------------------------------

// Pillow's 8-bit fixed point: coefficients scaled by 2^22, sums rounded.
#define PRECISION_BITS (32 - 8 - 2)

static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double bicubic_filter(double x) {
    // Keys cubic with a = -0.5, as PIL.
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

typedef struct Coeffs {
    int ksize;
    int *bounds;  // (out, 2): first input index, count
    int *k;       // (out, ksize) fixed-point weights
} Coeffs;

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for in_size -> out_size.
static int coeffs_make(Coeffs *c, int in_size, int out_size, ImageFilter f) {
    double (*filter)(double) = f == FILTER_BICUBIC ? bicubic_filter : bilinear_filter;
    double fsupport = f == FILTER_BICUBIC ? 2.0 : 1.0;
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = fsupport * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc(sizeof(int) * 2 * out_size);
    c->k = malloc(sizeof(int) * c->ksize * out_size);
    double *kd = malloc(sizeof(double) * c->ksize);
    if (!c->bounds || !c->k || !kd) {
        free(kd);
        return -1;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = filter((x + xmin - center + 0.5) * ss);
            kd[x] = w;
            ww += w;
        }
        for (int x = 0; x < c->ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? kd[x] / ww : kd[x]) : 0.0;
            c->k[xx * c->ksize + x] =
                (int)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(kd);
    return 0;
}

static void coeffs_free(Coeffs *c) {
    free(c->bounds);
    free(c->k);
}

static unsigned char clip8(int v) {
    v >>= PRECISION_BITS;  // arithmetic shift, as Pillow
    return v < 0 ? 0 : v > 255 ? 255 : (unsigned char)v;
}

int image_resize(const Image *src, int w, int h, ImageFilter f, Image *dst) {
    memset(dst, 0, sizeof *dst);
    if (w <= 0 || h <= 0) return -1;
    if (w == src->w && h == src->h) {  // PIL returns a copy
        dst->rgb = malloc((size_t)w * h * 3);
        if (!dst->rgb) return -1;
        memcpy(dst->rgb, src->rgb, (size_t)w * h * 3);
        dst->w = w;
        dst->h = h;
        return 0;
    }
    Coeffs ch = {0}, cv = {0};
    unsigned char *tmp = NULL, *out = NULL;
    if (coeffs_make(&ch, src->w, w, f) || coeffs_make(&cv, src->h, h, f)) goto fail;
    // Horizontal pass (only when the width changes) over the rows the
    // vertical pass reads, then the vertical pass; 8-bit in between.
    const unsigned char *mid = src->rgb;
    int row0 = 0;
    if (w != src->w) {
        row0 = cv.bounds[0];
        int row1 = h != src->h ? cv.bounds[2 * h - 2] + cv.bounds[2 * h - 1] : src->h;
        if (h == src->h) row0 = 0;
        tmp = malloc((size_t)w * (row1 - row0) * 3);
        if (!tmp) goto fail;
        for (int y = row0; y < row1; y++) {
            const unsigned char *in = src->rgb + (size_t)y * src->w * 3;
            unsigned char *o = tmp + (size_t)(y - row0) * w * 3;
            for (int xx = 0; xx < w; xx++) {
                const int *k = ch.k + xx * ch.ksize, xmin = ch.bounds[2 * xx], n = ch.bounds[2 * xx + 1];
                int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < n; x++) {
                    const unsigned char *p = in + (size_t)(x + xmin) * 3;
                    s0 += p[0] * k[x];
                    s1 += p[1] * k[x];
                    s2 += p[2] * k[x];
                }
                o[3 * xx] = clip8(s0);
                o[3 * xx + 1] = clip8(s1);
                o[3 * xx + 2] = clip8(s2);
            }
        }
        mid = tmp;
    }
    out = malloc((size_t)w * h * 3);
    if (!out) goto fail;
    if (h == src->h) {
        memcpy(out, mid, (size_t)w * h * 3);
    } else {
        for (int yy = 0; yy < h; yy++) {
            const int *k = cv.k + yy * cv.ksize, ymin = cv.bounds[2 * yy] - row0, n = cv.bounds[2 * yy + 1];
            unsigned char *o = out + (size_t)yy * w * 3;
            for (int xx = 0; xx < 3 * w; xx++) {
                int s = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < n; y++) s += mid[(size_t)(y + ymin) * w * 3 + xx] * k[y];
                o[xx] = clip8(s);
            }
        }
    }
    free(tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    dst->rgb = out;
    dst->w = w;
    dst->h = h;
    return 0;
fail:
    free(tmp);
    free(out);
    coeffs_free(&ch);
    coeffs_free(&cv);
    return -1;
}

// ---- the network input --------------------------------------------------------

static void to_floats(float *out, const unsigned char *rgb, size_t n, int invert) {
    for (size_t i = 0; i < n; i++) {
        float v = rgb[i] / 255.0f;
        out[i] = invert ? 1.0f - v : v;
    }
}

int image_to_input(const Image *img, int size, const Preprocess *pre, float *out) {
    Image r;
    const int iw = img->w, ih = img->h;
    if (pre->letterbox) {
        double scale = fmin((double)size / iw, (double)size / ih);
        int nw = (int)(iw * scale), nh = (int)(ih * scale);
        if (nw < 1) nw = 1;
        if (nh < 1) nh = 1;
        if (image_resize(img, nw, nh, FILTER_BICUBIC, &r)) return -1;
        unsigned char *canvas = malloc((size_t)size * size * 3);
        if (!canvas) {
            image_free(&r);
            return -1;
        }
        memset(canvas, 128, (size_t)size * size * 3);
        int ox = (size - nw) / 2, oy = (size - nh) / 2;
        for (int y = 0; y < nh; y++)
            memcpy(canvas + ((size_t)(y + oy) * size + ox) * 3, r.rgb + (size_t)y * nw * 3,
                   (size_t)nw * 3);
        to_floats(out, canvas, (size_t)size * size * 3, pre->invert);
        free(canvas);
        image_free(&r);
        return 0;
    }
    // Shorter side to size; the longer one scaled and truncated, as
    // int(size * long / short) in Python.
    int ow = size, oh = size;
    if (iw < ih) oh = (int)((double)size * ih / iw);
    else ow = (int)((double)size * iw / ih);
    if (image_resize(img, ow, oh, FILTER_BILINEAR, &r)) return -1;
    // Centre crop: offsets rounded half-to-even, as Python's round().
    int top = (int)rint((oh - size) / 2.0), left = (int)rint((ow - size) / 2.0);
    for (int y = 0; y < size; y++)
        to_floats(out + (size_t)y * size * 3, r.rgb + ((size_t)(y + top) * ow + left) * 3,
                  (size_t)size * 3, pre->invert);
    image_free(&r);
    return 0;
}
