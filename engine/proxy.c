#include "proxy.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int round_up(int x) { return (x + PROXY_ALIGN - 1) / PROXY_ALIGN * PROXY_ALIGN; }

int proxy_init(Proxy *p, const Model *m, Err *e) {
    memset(p, 0, sizeof *p);
    const Layer *d1 = &m->layers[m->n_backbone], *d2 = d1 + 1;
    const int F = d1->C, H = d1->K;
    float *w1 = malloc((size_t)F * H * sizeof(float)), *w2 = malloc(H * sizeof(float));
    double *v = malloc(F * sizeof(double));
    int rc = w1 && w2 && v ? 0 : err_set(e, "out of memory for the head's weights");
    if (!rc) {
        m->be->ops->download(m->be, w1, m->params + d1->w_off, (size_t)F * H * sizeof(float));
        m->be->ops->download(m->be, w2, m->params + d2->w_off, H * sizeof(float));
        rc = backend_check(m->be, e);
    }
    int n_pos = 0;
    for (int j = 0; !rc && j < F; j++) {  // v = W1 w2; W1 is (F,H), row j the weights of input j
        double s = 0;
        for (int k = 0; k < H; k++) s += (double)w1[(size_t)j * H + k] * w2[k];
        v[j] = s;
        n_pos += s > 0;
    }
    if (!rc) {
        p->feat_dim = F;
        p->pos_bytes = round_up(n_pos);
        p->code_dim = p->pos_bytes + round_up(F - n_pos);
        p->src = malloc(p->code_dim * sizeof *p->src);
        p->weight = calloc(p->code_dim, sizeof *p->weight);
        if (!p->src || !p->weight) rc = err_set(e, "out of memory for the head's weights");
    }
    if (!rc) {
        for (int i = 0; i < p->code_dim; i++) p->src[i] = -1;
        int pos = 0, neg = p->pos_bytes;
        for (int j = 0; j < F; j++) {
            int at = v[j] > 0 ? pos++ : neg++;
            p->src[at] = j;
            p->weight[at] = (float)fabs(v[j]);
        }
    }
    free(w1);
    free(w2);
    free(v);
    if (rc) proxy_free(p);
    return rc;
}

void proxy_free(Proxy *p) {
    free(p->src);
    free(p->weight);
    p->src = NULL;
    p->weight = NULL;
}

float proxy_max(const Proxy *p, const float *feats, long n, float top) {
    for (long i = 0; i < n; i++)
        for (int c = 0; c < p->code_dim; c++)
            if (p->src[c] >= 0) {
                float u = p->weight[c] * feats[i * p->feat_dim + p->src[c]];
                if (u > top) top = u;
            }
    return top;
}

void proxy_encode(const Proxy *p, float step, const float *feats, long n, uint8_t *codes) {
    const float inv = 1.0f / step;
    for (long i = 0; i < n; i++) {
        const float *f = feats + i * p->feat_dim;
        uint8_t *c = codes + i * p->code_dim;
        for (int k = 0; k < p->code_dim; k++) {
            float u = p->src[k] < 0 ? 0.0f : p->weight[k] * f[p->src[k]] * inv;
            // Features are ReLU outputs (>= 0); anything else (NaN) becomes 0.
            c[k] = u >= 255.0f ? 255 : u > 0 ? (uint8_t)lrintf(u) : 0;
        }
    }
}

// ---- the score: two sums of absolute byte differences -------------------------------

static int32_t sad_portable(const uint8_t *a, const uint8_t *b, int n) {
    int32_t s = 0;
    for (int i = 0; i < n; i++) s += abs((int)a[i] - (int)b[i]);
    return s;
}

static void score_portable(const Proxy *p, const uint8_t *q, const uint8_t *codes, long n,
                           int32_t *score) {
    const int P = p->pos_bytes, C = p->code_dim;
    for (long i = 0; i < n; i++) {
        const uint8_t *c = codes + i * C;
        score[i] = sad_portable(q, c, P) - sad_portable(q + P, c + P, C - P);
    }
}

#define AVX2 __attribute__((target("avx2")))

// 32 bytes at a time: _mm256_sad_epu8 sums |a-b| of each 8 bytes into a
// 64-bit lane; the lanes add up at the end.
AVX2 static int32_t sad_avx2(const uint8_t *a, const uint8_t *b, int n) {
    __m256i acc = _mm256_setzero_si256();
    for (int i = 0; i < n; i += 32)
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_loadu_si256((const __m256i *)(a + i)),
                                                    _mm256_loadu_si256((const __m256i *)(b + i))));
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    return (int32_t)(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1));
}

AVX2 static void score_avx2(const Proxy *p, const uint8_t *q, const uint8_t *codes, long n,
                            int32_t *score) {
    const int P = p->pos_bytes, C = p->code_dim;
    for (long i = 0; i < n; i++) {
        const uint8_t *c = codes + i * C;
        score[i] = sad_avx2(q, c, P) - sad_avx2(q + P, c + P, C - P);
    }
}

static int force_portable;
void proxy_force_portable(int on) { force_portable = on; }

void proxy_score(const Proxy *p, const uint8_t *q, const uint8_t *codes, long n, int32_t *score) {
    if (!force_portable && __builtin_cpu_supports("avx2"))
        score_avx2(p, q, codes, n, score);
    else
        score_portable(p, q, codes, n, score);
}
