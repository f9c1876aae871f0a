#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

static const int CONVS_PER_BLOCK[MODEL_BLOCKS] = {2, 2, 3, 3, 3};
static const int VGG16_WIDTHS[MODEL_BLOCKS] = {64, 128, 256, 512, 512};
static const int COMPACT_WIDTHS[MODEL_BLOCKS] = {16, 32, 64, 128, 128};

static void spec_with(ModelSpec *s, const int *widths, int hidden, int input_size) {
    memset(s, 0, sizeof *s);
    s->input_size = input_size;
    memcpy(s->widths, widths, sizeof s->widths);
    s->hidden = hidden;
}

void model_spec_vgg16(ModelSpec *s, int input_size) { spec_with(s, VGG16_WIDTHS, 512, input_size); }
void model_spec_compact(ModelSpec *s, int input_size) {
    spec_with(s, COMPACT_WIDTHS, 512, input_size);
}

int model_spec_check(const ModelSpec *s, Err *e) {
    if (s->input_size < MODEL_MIN_INPUT || s->input_size > MODEL_MAX_INPUT)
        return err_set(e,
                       "input size %d is out of range: the five 2x2 max-pools need %d to %d pixels",
                       s->input_size, MODEL_MIN_INPUT, MODEL_MAX_INPUT);
    for (int i = 0; i < MODEL_BLOCKS; i++)
        if (s->widths[i] < 1 || s->widths[i] > 4096)
            return err_set(e, "block %d has %d channels (expected 1 to 4096)", i + 1, s->widths[i]);
    if (s->hidden < 1 || s->hidden > 65536)
        return err_set(e, "the hidden Dense layer has %d units (expected 1 to 65536)", s->hidden);
    return 0;
}

void model_spec_describe(const ModelSpec *s, char *buf, size_t len) {
    if (!memcmp(s->widths, VGG16_WIDTHS, sizeof VGG16_WIDTHS) && s->hidden == 512)
        snprintf(buf, len, "vgg16");
    else if (!memcmp(s->widths, COMPACT_WIDTHS, sizeof COMPACT_WIDTHS) && s->hidden == 512)
        snprintf(buf, len, "compact");
    else
        snprintf(buf, len, "custom(%d,%d,%d,%d,%d; dense %d)", s->widths[0], s->widths[1],
                 s->widths[2], s->widths[3], s->widths[4], s->hidden);
}

// Lays out the layers and their parameter views.
static void build_layers(Model *m) {
    const ModelSpec *s = &m->spec;
    int H = s->input_size, W = s->input_size, C = 3;
    size_t off = 0;
    Layer *L = m->layers;
    int n = 0;
    for (int b = 0; b < MODEL_BLOCKS; b++) {
        for (int i = 0; i < CONVS_PER_BLOCK[b]; i++) {
            Layer *l = &L[n++];
            l->kind = LAYER_CONV;
            snprintf(l->name, sizeof l->name, "block%d_conv%d", b + 1, i + 1);
            l->H = l->OH = H;
            l->W = l->OW = W;
            l->C = C;
            l->K = s->widths[b];
            l->relu = 1;
            l->w_off = off;
            l->w_len = 9 * (size_t)C * l->K;
            off += l->w_len;
            l->b_off = off;
            l->b_len = l->K;
            off += l->b_len;
            C = l->K;
        }
        Layer *p = &L[n++];
        p->kind = LAYER_POOL;
        snprintf(p->name, sizeof p->name, "block%d_pool", b + 1);
        p->H = H;
        p->W = W;
        p->C = p->K = C;
        p->OH = H = H / 2;
        p->OW = W = W / 2;
    }
    m->n_backbone = n;
    m->feat_dim = H * W * C;
    const int ins[2] = {m->feat_dim, s->hidden}, outs[2] = {s->hidden, 1};
    for (int d = 0; d < 2; d++) {
        Layer *l = &L[n++];
        l->kind = LAYER_DENSE;
        snprintf(l->name, sizeof l->name, "dense_%d", d + 1);
        l->H = l->W = l->OH = l->OW = 1;
        l->C = ins[d];
        l->K = outs[d];
        l->relu = d == 0;
        l->w_off = off;
        l->w_len = (size_t)ins[d] * outs[d];
        off += l->w_len;
        l->b_off = off;
        l->b_len = outs[d];
        off += l->b_len;
    }
    m->n_layers = n;
    m->n_params = off;
    // The conv kernels, which a backend may keep in its own layout.
    m->layout.floats = off;
    m->layout.n_views = 0;
    for (int i = 0; i < n && m->layout.n_views < BACKEND_KERNEL_VIEWS_MAX; i++)
        if (L[i].kind == LAYER_CONV)
            m->layout.views[m->layout.n_views++] = (BackendKernelView){L[i].w_off, L[i].C, L[i].K};
}

static void free_buffers(Backend *be, float **bufs[], size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (*bufs[i]) be->ops->free(be, *bufs[i]);
        *bufs[i] = NULL;
    }
}

static void free_backbone(Model *m) {
    float **bufs[] = {&m->input, &m->dbuf[0], &m->dbuf[1], &m->dinput,
                      &m->input_act, &m->feats, &m->dfeats};
    free_buffers(m->be, bufs, sizeof bufs / sizeof *bufs);
    for (int i = 0; i < m->n_backbone; i++) {
        if (m->acts[i]) m->be->ops->free(m->be, m->acts[i]);
        if (m->argmax[i]) m->be->ops->free(m->be, m->argmax[i]);
        m->acts[i] = NULL;
        m->argmax[i] = NULL;
    }
    m->cap_images = 0;
}

static void free_head(Model *m) {
    float **bufs[] = {&m->head_in, &m->diff,  &m->hidden, &m->logit,   &m->prob,  &m->labels,
                      &m->loss,    &m->ddiff, &m->dhidden, &m->dlogit};
    free_buffers(m->be, bufs, sizeof bufs / sizeof *bufs);
    for (int i = 0; i < MODEL_READBACKS; i++) {
        if (m->readback[i]) m->be->ops->host_free(m->be, m->readback[i]);
        m->readback[i] = NULL;
    }
    m->cap_pairs = 0;
}

static size_t image_floats(const Model *m) {
    return (size_t)m->spec.input_size * m->spec.input_size * 3;
}

#define ALLOC(ptr, floats) ok &= ((ptr) = be->ops->alloc(be, (floats) * sizeof(float))) != NULL

// Whether the backbone's activations are float32 (backend.h: act).
static int acts_f32(const Model *m) { return m->be->act == BACKEND_ACT_F32; }

// Makes sure the backbone's buffers hold B images, with the conversions'
// buffers when the activations are not float32 (kept when the precision
// goes back: a bf16 run validates in tf32 every epoch).
static int reserve_backbone(Model *m, int B, Err *e) {
    if (B <= m->cap_images && (acts_f32(m) || m->input_act)) return 0;
    if (B < m->cap_images) B = m->cap_images;
    free_backbone(m);
    Backend *be = m->be;
    size_t largest = (size_t)B * image_floats(m);
    int ok = 1;
    ALLOC(m->input, (size_t)B * image_floats(m));
    for (int i = 0; i < m->n_backbone; i++) {
        const Layer *l = &m->layers[i];
        size_t n = (size_t)B * l->OH * l->OW * l->K;
        if (n > largest) largest = n;
        ALLOC(m->acts[i], n);
        // Which element of each window was the maximum, for the backward pass.
        if (m->training && l->kind == LAYER_POOL)
            ok &= (m->argmax[i] = be->ops->alloc(be, n)) != NULL;
    }
    if (m->training) {
        ALLOC(m->dbuf[0], largest);
        ALLOC(m->dbuf[1], largest);
        ALLOC(m->dinput, (size_t)B * image_floats(m));
    }
    if (!acts_f32(m)) {
        ALLOC(m->input_act, (size_t)B * image_floats(m));
        ALLOC(m->feats, (size_t)B * m->feat_dim);
        if (m->training) ALLOC(m->dfeats, (size_t)B * m->feat_dim);
    }
    if (!ok) {
        free_backbone(m);
        return err_set(e, "out of memory for a batch of %d images (%s memory)", B,
                       be->is_cpu ? "host" : "device");
    }
    m->cap_images = B;
    return 0;
}

// Makes sure the head's buffers hold N pairs.
static int reserve_head(Model *m, int N, Err *e) {
    if (N <= m->cap_pairs) return 0;
    free_head(m);
    Backend *be = m->be;
    const size_t F = m->feat_dim, H = m->spec.hidden;
    int ok = 1;
    if (!be->is_cpu) ALLOC(m->head_in, 2 * N * F);  // the CPU reads the host's features
    ALLOC(m->diff, N * F);
    ALLOC(m->hidden, N * H);
    ALLOC(m->logit, N);
    ALLOC(m->prob, N);
    ALLOC(m->labels, N);
    ALLOC(m->loss, 1);
    if (m->training) {
        ALLOC(m->ddiff, N * F);
        ALLOC(m->dhidden, N * H);
        ALLOC(m->dlogit, N);
    }
    if (!ok) {
        free_head(m);
        return err_set(e, "out of memory for the head on %d pairs (%s memory)", N,
                       be->is_cpu ? "host" : "device");
    }
    m->cap_pairs = N;
    return 0;
}

#undef ALLOC

// A batch of N pairs through the whole network: 2N images, N pairs.
static int reserve_pairs(Model *m, int N, Err *e) {
    return reserve_backbone(m, 2 * N, e) || reserve_head(m, N, e) ? -1 : 0;
}

int model_create(Model **out, const ModelSpec *spec, Backend *be, Err *e) {
    if (model_spec_check(spec, e)) return -1;
    Model *m = calloc(1, sizeof *m);
    if (!m) return err_set(e, "out of memory creating the model");
    m->spec = *spec;
    m->be = be;
    build_layers(m);
    m->params = be->ops->alloc_params(be, &m->layout);
    if (!m->params) {
        size_t n = m->n_params;
        free(m);
        return err_set(e, "out of %s memory for %zu parameters", be->is_cpu ? "host" : "device", n);
    }
    *out = m;
    return 0;
}

void model_free(Model *m) {
    if (!m) return;
    free_backbone(m);
    free_head(m);
    m->be->ops->free(m->be, m->params);
    if (m->grads) m->be->ops->free(m->be, m->grads);
    free(m);
}

int model_init_random(Model *m, uint64_t seed, Err *e) {
    Rng r;
    rng_seed(&r, seed);
    float *host = calloc(m->n_params, sizeof(float));
    if (!host) return err_set(e, "out of memory for %zu initial weights", m->n_params);
    for (int i = 0; i < m->n_layers; i++) {
        const Layer *l = &m->layers[i];
        if (l->kind == LAYER_POOL) continue;
        // Glorot uniform: fan_in and fan_out count the receptive field.
        double rf = l->kind == LAYER_CONV ? 9.0 : 1.0;
        double limit = sqrt(6.0 / (rf * l->C + rf * l->K));
        for (size_t j = 0; j < l->w_len; j++)
            host[l->w_off + j] = (float)((2.0 * rng_uniform(&r) - 1.0) * limit);
    }
    m->be->ops->upload(m->be, m->params, host, m->n_params * sizeof(float));
    free(host);
    return backend_check(m->be, e);
}

int model_enable_training(Model *m, Err *e) {
    if (m->training) return 0;
    m->grads = m->be->ops->alloc_params(m->be, &m->layout);
    if (!m->grads) return err_set(e, "out of memory for the gradients");
    m->training = 1;
    // The next reserves add the backward buffers.
    free_backbone(m);
    free_head(m);
    return 0;
}

Layer *model_layer(Model *m, const char *name) {
    for (int i = 0; i < m->n_layers; i++)
        if (!strcmp(m->layers[i].name, name)) return &m->layers[i];
    return NULL;
}

const float *model_backbone_input(const Model *m) { return acts_f32(m) ? m->input : m->input_act; }

// The features (B,F) in float32, channels-last (flatten is free): the last
// activation buffer, or its float32 copy.
static const float *features(const Model *m) {
    return acts_f32(m) ? m->acts[m->n_backbone - 1] : m->feats;
}

// Runs the backbone over B images already in m->input; the features end
// where features() says.
static void backbone_forward(Model *m, int B) {
    Backend *be = m->be;
    if (!acts_f32(m)) be->ops->act_from_float(be, m->input_act, m->input, B * image_floats(m));
    const float *x = model_backbone_input(m);
    for (int i = 0; i < m->n_backbone; i++) {
        const Layer *l = &m->layers[i];
        backend_label(be, l->name);
        if (l->kind == LAYER_CONV)
            be->ops->conv3x3_forward(be, m->acts[i], x, m->params + l->w_off, m->params + l->b_off,
                                     B, l->H, l->W, l->C, l->K, l->relu);
        else
            be->ops->maxpool2_forward(be, m->acts[i], m->argmax[i], x, B, l->H, l->W, l->C);
        x = m->acts[i];
    }
    if (!acts_f32(m)) {
        backend_label(be, "head");
        be->ops->act_to_float(be, m->feats, x, (size_t)B * m->feat_dim);
    }
}

// The head on features f1, f2 (device, (N,F) each); leaves prob in m->prob.
static void head_forward(Model *m, const float *f1, const float *f2, int N) {
    Backend *be = m->be;
    const Layer *d1 = &m->layers[m->n_backbone], *d2 = d1 + 1;
    backend_label(be, "head");
    be->ops->absdiff_forward(be, m->diff, f1, f2, (size_t)N * m->feat_dim);
    backend_label(be, d1->name);
    be->ops->dense_forward(be, m->hidden, m->diff, m->params + d1->w_off, m->params + d1->b_off, N,
                           d1->C, d1->K, 1);
    backend_label(be, d2->name);
    be->ops->dense_forward(be, m->logit, m->hidden, m->params + d2->w_off, m->params + d2->b_off,
                           N, d2->C, d2->K, 0);
}

int model_embed(Model *m, const float *images, int B, float *feats, Err *e) {
    if (reserve_backbone(m, B, e)) return -1;
    m->be->ops->upload(m->be, m->input, images, (size_t)B * image_floats(m) * sizeof(float));
    backbone_forward(m, B);
    m->be->ops->download(m->be, feats, features(m), (size_t)B * m->feat_dim * sizeof(float));
    return backend_check(m->be, e);
}

int model_head(Model *m, const float *f1, const float *f2, int N, float *prob, Err *e) {
    if (reserve_head(m, N, e)) return -1;
    Backend *be = m->be;
    const float *d1 = f1, *d2 = f2;
    // On the CPU the device is the host: the features are read where they
    // are (a gallery search streams millions of rows through here).
    if (!be->is_cpu) {
        const size_t bytes = (size_t)N * m->feat_dim * sizeof(float);
        be->ops->upload(be, m->head_in, f1, bytes);
        be->ops->upload(be, m->head_in + (size_t)N * m->feat_dim, f2, bytes);
        d1 = m->head_in;
        d2 = m->head_in + (size_t)N * m->feat_dim;
    }
    head_forward(m, d1, d2, N);
    be->ops->sigmoid_bce_forward(be, m->prob, NULL, m->logit, NULL, N);
    be->ops->download(be, prob, m->prob, N * sizeof(float));
    return backend_check(be, e);
}

// The forward pass of N pairs whose images are already in m->input.
static void forward_input(Model *m, const float *labels, int N, float *prob, float *loss) {
    Backend *be = m->be;
    // (Still under the callers' label, "input".)
    if (labels) be->ops->upload(be, m->labels, labels, N * sizeof(float));
    backbone_forward(m, 2 * N);
    const float *f = features(m);
    head_forward(m, f, f + (size_t)N * m->feat_dim, N);
    backend_label(be, "loss");
    be->ops->sigmoid_bce_forward(be, m->prob, m->loss, m->logit, labels ? m->labels : NULL, N);
    if (prob) be->ops->download(be, prob, m->prob, N * sizeof(float));
    if (labels && loss) be->ops->download(be, loss, m->loss, sizeof(float));
}

int siamese_forward(Model *m, const float *pairs, const float *labels, int N, float *prob,
                    float *loss, Err *e) {
    if (reserve_pairs(m, N, e)) return -1;
    backend_label(m->be, "input");
    m->be->ops->upload(m->be, m->input, pairs, 2 * (size_t)N * image_floats(m) * sizeof(float));
    forward_input(m, labels, N, prob, loss);
    return backend_check(m->be, e);
}

int siamese_forward_u8(Model *m, const uint8_t *pairs, const float *labels, int N, float *prob,
                       float *loss, Err *e) {
    if (reserve_pairs(m, N, e)) return -1;
    backend_label(m->be, "input");
    m->be->ops->upload_u8(m->be, m->input, pairs, 2 * (size_t)N * image_floats(m),
                          m->spec.pre.invert);
    forward_input(m, labels, N, prob, loss);
    return backend_check(m->be, e);
}

int siamese_forward_queued(Model *m, const uint8_t *pairs, const float *labels, int N, int slot,
                           Err *e) {
    if (siamese_forward_u8(m, pairs, labels, N, NULL, NULL, e)) return -1;
    Backend *be = m->be;
    // The read-backs, made at the first queued pass (predict and eval never
    // queue one), for the head's capacity; free_head drops them with it.
    for (int i = 0; i < MODEL_READBACKS; i++)
        if (!m->readback[i] &&
            !(m->readback[i] = be->ops->host_alloc(be, (1 + (size_t)m->cap_pairs) * sizeof(float))))
            return backend_check(be, e) ? -1
                                        : err_set(e, "out of host memory for a batch's results");
    be->ops->download_async(be, m->readback[slot], m->loss, sizeof(float));
    be->ops->download_async(be, m->readback[slot] + 1, m->prob, N * sizeof(float));
    be->ops->fence_record(be, slot);
    return backend_check(be, e);
}

int siamese_readback(Model *m, int slot, int N, float *loss, float *prob, Err *e) {
    m->be->ops->fence_wait(m->be, slot);
    if (backend_check(m->be, e)) return -1;
    *loss = m->readback[slot][0];
    if (prob) memcpy(prob, m->readback[slot] + 1, N * sizeof(float));
    return 0;
}

// Whether pool layer i's backward pass also masks by the ReLU of the conv
// layer before it and makes that layer's bias gradient: where the backend
// has the fused operation and the forward pass kept the window maxima.
static int pool_masks(const Model *m, int i) {
    if (i == 0 || !m->be->ops->maxpool2_relu_backward || !m->argmax[i]) return 0;
    const Layer *prev = &m->layers[i - 1];
    return prev->kind == LAYER_CONV && prev->relu;
}

void siamese_backward(Model *m, int N, int want_input_grad) {
    siamese_backward_part(m, N, N, want_input_grad, NULL, NULL);
}

void siamese_backward_part(Model *m, int N, int batch_pairs, int want_input_grad,
                           GradsReadyFn ready, void *ctx) {
    Backend *be = m->be;
    const Layer *d1 = &m->layers[m->n_backbone], *d2 = d1 + 1;
    float *G = m->grads, *P = m->params;
    const size_t F = m->feat_dim;
    backend_label(be, "loss");
    be->ops->sigmoid_bce_backward(be, m->dlogit, m->prob, m->labels, N, batch_pairs);
    backend_label(be, d2->name);
    be->ops->dense_backward(be, m->dhidden, G + d2->w_off, G + d2->b_off, m->dlogit, m->hidden,
                            P + d2->w_off, N, d2->C, d2->K);
    if (ready) ready(ctx, d2->w_off);
    backend_label(be, d1->name);
    be->ops->relu_backward(be, m->dhidden, m->dhidden, m->hidden, (size_t)N * d1->K);
    be->ops->dense_backward(be, m->ddiff, G + d1->w_off, G + d1->b_off, m->dhidden, m->diff,
                            P + d1->w_off, N, d1->C, d1->K);
    if (ready) ready(ctx, d1->w_off);
    // d(features) of both twins, (2N,F), into the first ping-pong buffer
    // (through dfeats when the activations are not float32).
    const float *f = features(m);
    float *d = m->dbuf[0], *dnext = m->dbuf[1];
    float *df = acts_f32(m) ? d : m->dfeats;
    const int B = 2 * N;
    backend_label(be, "head");
    be->ops->absdiff_backward(be, df, df + N * F, m->ddiff, f, f + N * F, N * F);
    if (df != d) be->ops->act_from_float(be, d, df, B * F);
    float *dinput = NULL;  // where the first layer's input gradient went
    int bias_done = 0;     // the pool after this conv layer made its bias gradient
    for (int i = m->n_backbone - 1; i >= 0; i--) {
        const Layer *l = &m->layers[i];
        const float *in = i ? m->acts[i - 1] : model_backbone_input(m);
        // The input gradient goes to dinput itself, or through the free
        // ping-pong buffer to be converted.
        float *din = i ? dnext : !want_input_grad ? NULL : acts_f32(m) ? m->dinput : dnext;
        if (!i) dinput = din;
        backend_label(be, l->name);
        if (l->kind == LAYER_CONV) {
            // d holds dL/d(output): the conv masks it by its ReLU in place
            // first, unless the pool after it did (with the bias gradient).
            be->ops->conv3x3_backward(be, din, G + l->w_off, bias_done ? NULL : G + l->b_off, d,
                                      l->relu && !bias_done ? m->acts[i] : NULL, in,
                                      P + l->w_off, B, l->H, l->W, l->C, l->K);
            bias_done = 0;
            if (ready) ready(ctx, l->w_off);
        } else if (din && pool_masks(m, i)) {
            // The pool's gradient, the ReLU's mask and the bias gradient of
            // the conv layer before it, in one operation (backend.h).
            be->ops->maxpool2_relu_backward(be, din, G + l[-1].b_off, d, m->acts[i], m->argmax[i],
                                            B, l->H, l->W, l->C);
            bias_done = 1;
        } else if (din) {
            be->ops->maxpool2_backward(be, din, d, in, m->acts[i], m->argmax[i], B, l->H, l->W,
                                       l->C);
        }
        float *t = d;
        d = dnext;
        dnext = t;
    }
    if (dinput && dinput != m->dinput)
        be->ops->act_to_float(be, m->dinput, dinput, (size_t)B * image_floats(m));
}

size_t model_param_count(const Model *m) { return m->n_params; }

double model_forward_flops_per_image(const Model *m) {
    double f = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const Layer *l = &m->layers[i];
        if (l->kind == LAYER_CONV) f += 2.0 * l->OH * l->OW * 9.0 * l->C * l->K;
        if (l->kind == LAYER_DENSE) f += 2.0 * l->C * l->K / 2;  // head runs once per pair
    }
    return f;
}
