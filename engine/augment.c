#include "augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[] = {"none", "standard", "koch"};

int augment_kind_parse(const char *name) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, KIND_NAMES[i])) return i;
    return -1;
}

const char *augment_kind_name(AugmentKind k) { return KIND_NAMES[k]; }

void augment_preset(AugmentParams *p, AugmentKind k) {
    // "none": every range empty, every probability 0: the identity.
    *p = (AugmentParams){.crop_min = 1, .crop_ratio = 1, .scale_min = 1, .scale_max = 1};
    if (k == AUGMENT_NONE) return;
    // Koch, Zemel and Salakhutdinov (2015), section 4.
    p->rotate = 10;
    p->shear = 0.3;
    p->scale_min = 0.8;
    p->scale_max = 1.2;
    p->translate = 2;
    p->p_each = 0.5;
    if (k == AUGMENT_KOCH) return;
    // The original's random resized crop and flip, mild enough to keep the object.
    p->crop_min = 0.64;
    p->crop_ratio = 4.0 / 3.0;
    p->flip = 0.5;
}

static double uniform(Rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

void augment_draw(const AugmentParams *p, Rng *r, int w, int h, double m[6]) {
    // Draw every number first, in a fixed order.
    double area = uniform(r, p->crop_min, 1.0);
    double log_ratio = uniform(r, -log(p->crop_ratio), log(p->crop_ratio));
    double fx = uniform(r, -1, 1), fy = uniform(r, -1, 1);
    int flip = rng_uniform(r) < p->flip;
    int use_rot = rng_uniform(r) < p->p_each, use_shear = rng_uniform(r) < p->p_each;
    int use_scale = rng_uniform(r) < p->p_each, use_shift = rng_uniform(r) < p->p_each;
    double theta = uniform(r, -p->rotate, p->rotate) * M_PI / 180.0;
    double shx = uniform(r, -p->shear, p->shear), shy = uniform(r, -p->shear, p->shear);
    double sx = uniform(r, p->scale_min, p->scale_max), sy = uniform(r, p->scale_min, p->scale_max);
    double px = w / 105.0;  // Koch's translations are pixels of a 105 px image
    double tx = uniform(r, -p->translate, p->translate) * px;
    double ty = uniform(r, -p->translate, p->translate) * px;
    if (!use_rot) theta = 0;
    if (!use_shear) shx = shy = 0;
    if (!use_scale) sx = sy = 1;
    if (!use_shift) tx = ty = 0;

    // Crop window (cw, ch) centred at offset (ox, oy) from the image centre.
    double aspect = exp(log_ratio);
    double cw = fmin(w * sqrt(area * aspect), w), ch = fmin(h * sqrt(area / aspect), h);
    double ox = fx * (w - cw) / 2, oy = fy * (h - ch) / 2;
    // Forward map on centred coordinates: q = A D (u - o) + t with
    // D = diag(+-w/cw, h/ch) (crop + flip), A = rotation * shear * scale.
    double c = cos(theta), s = sin(theta);
    // shear * scale = [[sx, shx sy], [shy sx, sy]]; A = R * that.
    double a00 = c * sx - s * shy * sx, a01 = c * shx * sy - s * sy;
    double a10 = s * sx + c * shy * sx, a11 = s * shx * sy + c * sy;
    double d0 = (flip ? -1.0 : 1.0) * w / cw, d1 = h / ch;
    double m00 = a00 * d0, m01 = a01 * d1, m10 = a10 * d0, m11 = a11 * d1;
    double det = m00 * m11 - m01 * m10;
    double i00 = m11 / det, i01 = -m01 / det, i10 = -m10 / det, i11 = m00 / det;
    // Output pixel x has centred coordinate x - (w/2 - 0.5); the source
    // index is the centred coordinate + (w/2 - 0.5) again.
    double cx = w / 2.0 - 0.5, cy = h / 2.0 - 0.5;
    m[0] = i00;
    m[1] = i01;
    m[2] = i00 * (-cx - tx) + i01 * (-cy - ty) + ox + cx;
    m[3] = i10;
    m[4] = i11;
    m[5] = i10 * (-cx - tx) + i11 * (-cy - ty) + oy + cy;
}

void augment_skip(const AugmentParams *p, Rng *r) {
    // The count of numbers drawn does not depend on the size.
    double m[6];
    augment_draw(p, r, 1, 1, m);
}

int augment_warp(const Image *src, const double m[6], Image *dst) {
    const int w = src->w, h = src->h;
    dst->w = w;
    dst->h = h;
    dst->rgb = malloc((size_t)w * h * 3);
    if (!dst->rgb) return -1;
    // Source coordinates advance by (m[0], m[3]) along a row; the bilinear
    // weights are 8-bit fixed point, so a pixel costs a few integer ops.
    const float xmax = (float)(w - 1), ymax = (float)(h - 1);
    for (int y = 0; y < h; y++) {
        unsigned char *o = dst->rgb + (size_t)y * w * 3;
        float sx = (float)(m[1] * y + m[2]), sy = (float)(m[4] * y + m[5]);
        const float dx = (float)m[0], dy = (float)m[3];
        for (int x = 0; x < w; x++, o += 3, sx += dx, sy += dy) {
            // Clamp to the edge pixels' centres: the border is replicated.
            float cx = sx < 0 ? 0 : sx > xmax ? xmax : sx;
            float cy = sy < 0 ? 0 : sy > ymax ? ymax : sy;
            int x0 = (int)cx, y0 = (int)cy;
            int ax = (int)((cx - x0) * 256.0f + 0.5f), ay = (int)((cy - y0) * 256.0f + 0.5f);
            int stepx = x0 + 1 < w ? 3 : 0;
            size_t stepy = y0 + 1 < h ? (size_t)w * 3 : 0;
            const unsigned char *p = src->rgb + ((size_t)y0 * w + x0) * 3;
            for (int k = 0; k < 3; k++) {
                int top = p[k] * 256 + ax * (p[k + stepx] - p[k]);
                int bot = p[k + stepy] * 256 + ax * (p[k + stepy + stepx] - p[k + stepy]);
                // top, bot carry 8 fraction bits; the blend adds 8 more.
                o[k] = (unsigned char)((top * 256 + ay * (bot - top) + (1 << 15)) >> 16);
            }
        }
    }
    return 0;
}
