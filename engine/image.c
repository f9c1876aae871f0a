#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>

#include "imageformat.h"
#include "jpeg.h"

// ---- decoding ---------------------------------------------------------------

// The most bytes a file may hold: stb_image takes an int length.
#define IMAGE_MAX_FILE_BYTES 0x7fffffffL

static unsigned char *read_failed(Err *e, const char *path, const char *why, int fd) {
    err_set(e, "%s: %s", path, why);
    if (fd >= 0) close(fd);
    return NULL;
}

// Reads the whole file; names it in every error. Only a regular file or a
// pipe (bash's <(...)) is read, and never past IMAGE_MAX_FILE_BYTES: a
// device named like an image (a link to /dev/zero in a gallery) would be
// read until memory ran out, and a named pipe without a writer (a FIFO
// x.jpg in a folder) would block the run forever; opened without
// blocking, it reads as empty.
static unsigned char *read_file(const char *path, size_t *len, Err *e) {
    struct stat st;
    if (stat(path, &st) != 0) return read_failed(e, path, strerror(errno), -1);
    if (S_ISDIR(st.st_mode)) return read_failed(e, path, "is a directory, not an image", -1);
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
        return read_failed(e, path, "is a device or socket, not an image file", -1);
    if (st.st_size > IMAGE_MAX_FILE_BYTES)
        return read_failed(e, path, "the file is larger than 2 GB", -1);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return read_failed(e, path, strerror(errno), -1);
    // Blocking again: a pipe's writer is waited for as any reader would.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) return read_failed(e, path, "out of memory", fd);
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            free(buf);
            return read_failed(e, path, strerror(errno), fd);
        }
        if (got == 0) break;
        n += (size_t)got;
        if (n > IMAGE_MAX_FILE_BYTES) {
            free(buf);
            return read_failed(e, path, "the file is larger than 2 GB", fd);
        }
        if (n == cap) {  // the file grew, or st_size lied (a pipe)
            unsigned char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    close(fd);
    if (n == 0 && S_ISFIFO(st.st_mode)) {
        free(buf);
        return read_failed(e, path, "a named pipe (FIFO) that nothing wrote to, not an image", -1);
    }
    *len = n;
    return buf;
}

// stb's reason for a failure (it may have none).
static const char *stb_reason(void) {
    const char *r = stbi_failure_reason();
    return r ? r : "no reason given";
}

// Runs the format's structure check: 0 when it passes, else -1 and the message.
static int check_structure(const ImageFormat *f, const unsigned char *data, size_t len,
                           const char *name, Err *e) {
    const char *why = "";
    ImageCheck c = f->check(data, len, &why);
    if (c == IMAGEFORMAT_TRUNCATED) return err_set(e, IMAGEFORMAT_TRUNCATED_MSG, name, f->name);
    if (c == IMAGEFORMAT_CORRUPT) return err_set(e, "%s: the %s data is corrupt: %s", name, f->name, why);
    if (c == IMAGEFORMAT_UNSUPPORTED)
        return err_set(e, "%s: the %s file has %s, which this program does not read", name, f->name,
                       why);
    return 0;
}

static int too_big(Err *e, const char *name, long w, long h) {
    return err_set(e, IMAGEFORMAT_TOO_BIG_MSG, name, w, h, (double)w * h / 1e6,
                   IMAGE_MAX_PIXELS / 1000000);
}

// Whether name ends with ext (".tga"), in any case.
static int has_extension(const char *name, const char *ext) {
    size_t n = strlen(name), k = strlen(ext);
    return n >= k && !strcasecmp(name + n - k, ext);
}

// Every format but JPEG: stb_image, after the structure checks.
static int decode_stb(const ImageFormat *f, const unsigned char *data, size_t len,
                      const char *name, Image *img, Err *e) {
    // The structure checks come before stb reads even the header (it
    // trusts some of it: see imageformat.h).
    if (check_structure(f, data, len, name, e)) return -1;
    int w, h, comp;
    // (stb's reason is no help here: it tries every decoder in turn.)
    if (!stbi_info_from_memory(data, (int)len, &w, &h, &comp))
        return err_set(e, "%s: the %s header is corrupt", name, f->name);
    // stb's info gives a top-down BMP's height (stored negative) as it is;
    // its loader takes the absolute value. (INT_MIN is over the pixel limit,
    // refused from the header before.)
    if (h < 0) h = -h;
    // stb's PNM reader lets a width or height of 0 through.
    if (w <= 0 || h <= 0)
        return err_set(e, "%s: the %s header is corrupt (%dx%d pixels)", name, f->name, w, h);
    // The limit again on what stb read, should its reading of the header differ.
    if ((long)w * h > IMAGE_MAX_PIXELS) return too_big(e, name, w, h);
    // RGBA, for the formats' corrections (to_pillow) to see what stb left
    // transparent.
    unsigned char *px = stbi_load_from_memory(data, (int)len, &w, &h, &comp, 4);
    if (px && (w <= 0 || h <= 0 || (long)w * h > IMAGE_MAX_PIXELS)) {  // as checked above
        stbi_image_free(px);
        return err_set(e, "%s: the %s data does not match its header", name, f->name);
    }
    if (!px)
        return err_set(e, "%s: the %s data is corrupt or truncated (%s)", name, f->name,
                       stb_reason());
    // Own the pixels with malloc so image_free needs no stb call.
    img->rgb = malloc((size_t)w * h * 3);
    if (!img->rgb) {
        stbi_image_free(px);
        return err_set(e, "%s: out of memory for %dx%d pixels", name, w, h);
    }
    if (f->to_pillow) f->to_pillow(data, len, px, w, h);
    for (size_t i = 0; i < (size_t)w * h; i++) memcpy(img->rgb + 3 * i, px + 4 * i, 3);
    stbi_image_free(px);
    img->w = w;
    img->h = h;
    return 0;
}

int image_decode(const unsigned char *data, size_t len, const char *name, Image *img, Err *e) {
    memset(img, 0, sizeof *img);
    if (len == 0) return err_set(e, "%s: the file is empty", name);
    if (len > IMAGE_MAX_FILE_BYTES) return err_set(e, "%s: the file is larger than 2 GB", name);
    const ImageFormat *f = imageformat_sniff(data, len);
    if (!f) {
        // TGA has no signature: a .tga whose header does not hold up is
        // told what is wrong with it; anything else is not an image.
        if (has_extension(name, ".tga"))
            return err_set(e, "%s: not a TGA image (its header: %s)", name,
                           imageformat_tga_problem(data, len));
        return err_set(e, "%s: not an image (expected " IMAGEFORMAT_READ ")", name);
    }
    if (f->decoder == DECODER_NONE)
        return err_set(e, "%s: a %s file; this program reads " IMAGEFORMAT_READ, name, f->name);
    // The pixel limit, on the header as read here, before any decoder runs.
    long hw, hh;
    if (!f->size(data, len, &hw, &hh) && (double)hw * hh > IMAGE_MAX_PIXELS)
        return too_big(e, name, hw, hh);
    if (f->decoder == DECODER_LIBJPEG)
        return jpeg_decode(data, len, name, IMAGE_MAX_PIXELS, &img->rgb, &img->w, &img->h, e);
    return decode_stb(f, data, len, name, img, e);
}

int image_load(const char *path, Image *img, Err *e) {
    memset(img, 0, sizeof *img);
    size_t len;
    unsigned char *data = read_file(path, &len, e);
    if (!data) return -1;
    int rc = image_decode(data, len, path, img, e);
    free(data);
    return rc;
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

// One axis of a resize, in_size -> out_size (Pillow's precompute_coeffs and
// normalize_coeffs_8bpc). The weights of one output index depend on that
// index alone, so they are computed where needed rather than for the whole
// axis: only the crop window is ever computed, and memory stays O(support)
// however extreme the image's aspect ratio (the centre-crop path of a
// 1x5000000 image "resizes" it to 105x525000000 before cropping).
typedef struct Axis {
    int in_size;
    long out_size;                    // long: see above
    double scale, support, inv_fscale;
    double (*filter)(double);
    int ksize;                        // the most taps of one output
} Axis;

static void axis_init(Axis *a, int in_size, long out_size, ImageFilter f) {
    double fsupport = f == FILTER_BICUBIC ? 2.0 : 1.0;
    a->in_size = in_size;
    a->out_size = out_size;
    a->scale = (double)in_size / out_size;
    double filterscale = a->scale < 1.0 ? 1.0 : a->scale;  // widened when shrinking
    a->support = fsupport * filterscale;
    a->inv_fscale = 1.0 / filterscale;
    a->filter = f == FILTER_BICUBIC ? bicubic_filter : bilinear_filter;
    a->ksize = (int)ceil(a->support) * 2 + 1;
}

// First input index and tap count of output xx.
static void axis_bounds(const Axis *a, long xx, int *xmin, int *n) {
    double center = (xx + 0.5) * a->scale;
    int lo = (int)(center - a->support + 0.5), hi = (int)(center + a->support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > a->in_size) hi = a->in_size;
    *xmin = lo;
    *n = hi - lo;
}

// Fixed-point weights of output xx into k (ksize ints; kd is ksize doubles
// of scratch); returns the tap count, *xmin the first input index.
static int axis_weights(const Axis *a, long xx, double *kd, int *k, int *xmin) {
    int n;
    axis_bounds(a, xx, xmin, &n);
    double center = (xx + 0.5) * a->scale, ww = 0.0;
    for (int x = 0; x < n; x++) {
        kd[x] = a->filter((x + *xmin - center + 0.5) * a->inv_fscale);
        ww += kd[x];
    }
    for (int x = 0; x < n; x++) {
        double v = ww != 0.0 ? kd[x] / ww : kd[x];
        k[x] = (int)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
    }
    return n;
}

static unsigned char clip8(int v) {
    v >>= PRECISION_BITS;  // arithmetic shift, as Pillow
    return v < 0 ? 0 : v > 255 ? 255 : (unsigned char)v;
}

// The window (x0,y0,cw,ch) of src resized to W x H, into dst (cw x ch).
// Horizontal pass first (only when the width changes) over just the rows
// the vertical pass reads, 8-bit rounding in between, as Pillow.
static int resize_window(const Image *src, long W, long H, long x0, long y0, int cw, int ch,
                         ImageFilter f, Image *dst) {
    memset(dst, 0, sizeof *dst);
    if (cw <= 0 || ch <= 0 || x0 < 0 || y0 < 0 || x0 + cw > W || y0 + ch > H) return -1;
    Axis ax, ay;
    axis_init(&ax, src->w, W, f);
    axis_init(&ay, src->h, H, f);
    const int hpass = W != src->w, vpass = H != src->h;
    // Source rows [row0, row1) feed the window's output rows.
    int row0 = (int)y0, row1 = (int)(y0 + ch), n;
    if (vpass) {
        axis_bounds(&ay, y0, &row0, &n);
        axis_bounds(&ay, y0 + ch - 1, &row1, &n);
        row1 += n;
    }
    const int rows = row1 - row0, ks = ax.ksize > ay.ksize ? ax.ksize : ay.ksize;
    unsigned char *mid = malloc((size_t)cw * rows * 3), *out = malloc((size_t)cw * ch * 3);
    int *k = malloc(sizeof(int) * ks);
    double *kd = malloc(sizeof(double) * ks);
    if (!mid || !out || !k || !kd) goto fail;
    // mid is (rows, cw, 3): source rows [row0, row1), window columns.
    for (int xx = 0; xx < cw; xx++) {
        if (!hpass) {
            for (int y = 0; y < rows; y++)
                memcpy(mid + ((size_t)y * cw + xx) * 3,
                       src->rgb + ((size_t)(y + row0) * src->w + x0 + xx) * 3, 3);
            continue;
        }
        int xmin, taps = axis_weights(&ax, x0 + xx, kd, k, &xmin);
        for (int y = 0; y < rows; y++) {
            const unsigned char *in = src->rgb + ((size_t)(y + row0) * src->w + xmin) * 3;
            int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < taps; x++) {
                s0 += in[3 * x] * k[x];
                s1 += in[3 * x + 1] * k[x];
                s2 += in[3 * x + 2] * k[x];
            }
            unsigned char *o = mid + ((size_t)y * cw + xx) * 3;
            o[0] = clip8(s0);
            o[1] = clip8(s1);
            o[2] = clip8(s2);
        }
    }
    if (!vpass) {
        memcpy(out, mid, (size_t)cw * ch * 3);
    } else {
        for (int yy = 0; yy < ch; yy++) {
            int ymin, taps = axis_weights(&ay, y0 + yy, kd, k, &ymin);
            ymin -= row0;
            unsigned char *o = out + (size_t)yy * cw * 3;
            for (int xx = 0; xx < 3 * cw; xx++) {
                int s = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < taps; y++) s += mid[(size_t)(y + ymin) * cw * 3 + xx] * k[y];
                o[xx] = clip8(s);
            }
        }
    }
    free(mid);
    free(k);
    free(kd);
    dst->rgb = out;
    dst->w = cw;
    dst->h = ch;
    return 0;
fail:
    free(mid);
    free(out);
    free(k);
    free(kd);
    return -1;
}

int image_resize(const Image *src, int w, int h, ImageFilter f, Image *dst) {
    return resize_window(src, w, h, 0, 0, w, h, f, dst);
}

// ---- the network input --------------------------------------------------------

static void to_floats(float *out, const unsigned char *rgb, size_t n, int invert) {
    for (size_t i = 0; i < n; i++) {
        float v = rgb[i] / 255.0f;
        out[i] = invert ? 1.0f - v : v;
    }
}

int image_to_pixels(const Image *img, int size, const Preprocess *pre, uint8_t *out) {
    Image r;
    const int iw = img->w, ih = img->h;
    if (pre->letterbox) {
        double scale = fmin((double)size / iw, (double)size / ih);
        int nw = (int)(iw * scale), nh = (int)(ih * scale);
        if (nw < 1) nw = 1;
        if (nh < 1) nh = 1;
        if (image_resize(img, nw, nh, FILTER_BICUBIC, &r)) return -1;
        memset(out, 128, (size_t)size * size * 3);
        int ox = (size - nw) / 2, oy = (size - nh) / 2;
        for (int y = 0; y < nh; y++)
            memcpy(out + ((size_t)(y + oy) * size + ox) * 3, r.rgb + (size_t)y * nw * 3,
                   (size_t)nw * 3);
        image_free(&r);
        return 0;
    }
    // Shorter side to size; the longer one scaled and truncated, as
    // int(size * long / short) in Python (it may be huge: see Axis).
    long ow = size, oh = size;
    if (iw < ih) oh = (long)((double)size * ih / iw);
    else ow = (long)((double)size * iw / ih);
    // Centre crop: offsets rounded half-to-even, as Python's round(); only
    // the crop is computed.
    long top = (long)rint((oh - size) / 2.0), left = (long)rint((ow - size) / 2.0);
    if (resize_window(img, ow, oh, left, top, size, size, FILTER_BILINEAR, &r)) return -1;
    memcpy(out, r.rgb, (size_t)size * size * 3);
    image_free(&r);
    return 0;
}

int image_to_input(const Image *img, int size, const Preprocess *pre, float *out) {
    const size_t n = (size_t)size * size * 3;
    uint8_t *px = malloc(n);
    if (!px) return -1;
    int rc = image_to_pixels(img, size, pre, px);
    if (!rc) to_floats(out, px, n, pre->invert);
    free(px);
    return rc;
}
