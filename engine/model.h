// model: the Siamese network as a list of layers over one parameter buffer.
//
//   image (S,S,3) -> VGG16 backbone: 5 blocks of 3x3 conv+ReLU (2,2,3,3,3
//   convs) each followed by a 2x2 max-pool -> flatten (channels-last, as
//   Keras) -> feature f (F = s*s*C5 values, s = S/32 rounded down per pool)
//   pair: |f1 - f2| -> Dense(hidden, ReLU) -> Dense(1) -> logit -> sigmoid
//
// Both twins share the backbone and run as one batch of 2N images: rows
// [0,N) are the first images of the pairs, rows [N,2N) the second ones.
// Every parameter lives in one device buffer (and its gradient in a second
// one of the same layout); each layer holds offsets ("views") into it, in
// Keras layout so a weights file maps onto it without transposes.
#ifndef SIAMESE_MODEL_H
#define SIAMESE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "err.h"

#define MODEL_BLOCKS 5
#define MODEL_MAX_LAYERS 24
#define MODEL_MIN_INPUT 32    // five 2x2 pools need at least 32 pixels
#define MODEL_MAX_INPUT 1024
#define MODEL_READBACKS 2     // forward passes whose loss may be unread (siamese_forward_queued)

// How an image becomes the network's input; recorded in the weights file so
// that predict preprocesses exactly as training did.
typedef struct Preprocess {
    int letterbox;  // 0: shorter side to S (bilinear) + centre crop; 1: fit (bicubic) + grey pad
    int invert;     // 1: x -> 1 - x after scaling (dark strokes on white become 1)
} Preprocess;

typedef struct ModelSpec {
    int input_size;            // S: the square input side, 105 in the original
    int widths[MODEL_BLOCKS];  // conv channels per block: vgg16 64,128,256,512,512
    int hidden;                // units of the hidden Dense layer, 512
    Preprocess pre;
} ModelSpec;

typedef enum LayerKind { LAYER_CONV, LAYER_POOL, LAYER_DENSE } LayerKind;

typedef struct Layer {
    LayerKind kind;
    char name[32];        // Keras layer name: block1_conv1, block1_pool, dense_1, dense_2
    int H, W, C;          // input shape per image (dense: C = inputs)
    int OH, OW, K;        // output shape per image (dense: K = outputs)
    int relu;
    size_t w_off, w_len;  // kernel view in the parameter buffer (floats)
    size_t b_off, b_len;  // bias view
} Layer;

typedef struct Model {
    ModelSpec spec;
    Backend *be;
    Layer layers[MODEL_MAX_LAYERS];
    int n_layers;        // backbone layers first, then the 2 dense layers
    int n_backbone;
    int feat_dim;        // F
    size_t n_params;
    BackendParamLayout layout;  // its conv kernels, for alloc_params
    float *params;       // device, n_params (alloc_params)
    float *grads;        // device, n_params (alloc_params); NULL until model_enable_training
    int training;
    // The backbone's buffers, for up to cap_images images (N pairs are 2N).
    int cap_images;
    // The activations and their gradients (acts, dbuf, input_act) are in
    // the backend's storage, be->act (backend.h): float32, or bfloat16 in
    // buffers sized for floats. The input, the features and the input
    // gradient are float32 always: under bfloat16 activations the model
    // converts at the backbone's ends (input_act, feats, dfeats).
    float *input;                      // (B,S,S,3)
    float *acts[MODEL_MAX_LAYERS];     // each backbone layer's output (B,OH,OW,K)
    uint8_t *argmax[MODEL_MAX_LAYERS]; // a pool layer's window maxima (B,OH,OW,K), when training
    float *dbuf[2];                    // backward ping-pong, the largest activation
    float *dinput;                     // (B,S,S,3) when input gradients are asked for
    float *input_act;                  // (B,S,S,3) the input converted (bfloat16 only)
    float *feats, *dfeats;             // (B,F) the features and their gradient (bfloat16 only)
    // The head's buffers, for up to cap_pairs pairs: sized apart from the
    // backbone's, since the head runs on many more pairs at a time
    // (model_head on stored features) than the backbone on images.
    int cap_pairs;
    float *head_in;                    // (2N,F): model_head's f1 then f2 (not on the CPU)
    float *diff;                       // (N,F)
    float *hidden;                     // (N,hidden)
    float *logit, *prob, *labels, *loss;  // (N), (N), (N), (1)
    float *ddiff, *dhidden, *dlogit;   // (N,F), (N,hidden), (N)
    // Host copies (backend host memory) of queued forward passes' results,
    // (1 + cap_pairs) floats each: the loss, then the N probabilities.
    float *readback[MODEL_READBACKS];
} Model;

// The original's two backbones.
void model_spec_vgg16(ModelSpec *s, int input_size);
void model_spec_compact(ModelSpec *s, int input_size);
// "vgg16" (64..512) or "compact" (16..128) or a custom list; checks sizes.
int model_spec_check(const ModelSpec *s, Err *e);
// "vgg16", "compact" or "custom(4,8,8,16,16)"
void model_spec_describe(const ModelSpec *s, char *buf, size_t len);

int model_create(Model **out, const ModelSpec *spec, Backend *be, Err *e);
void model_free(Model *m);

// Keras's defaults: glorot-uniform kernels, zero biases; deterministic in seed.
int model_init_random(Model *m, uint64_t seed, Err *e);
// Allocates gradients and backward buffers.
int model_enable_training(Model *m, Err *e);

// Looks a layer up by its Keras name; NULL if absent.
Layer *model_layer(Model *m, const char *name);
// The first conv layer's input as the backbone sees it (in be->act's
// storage), after a forward pass: m->input, or its converted copy.
const float *model_backbone_input(const Model *m);

// Each of these returns -1 with the message in e when an allocation or a
// backend operation failed (backend.h, "Failures"); the host outputs are
// then undefined.

// Features of B single images. images is (B,S,S,3) host; feats is (B,F) host.
int model_embed(Model *m, const float *images, int B, float *feats, Err *e);
// The head on precomputed features: f1, f2 are (N,F) host, prob (N) host.
int model_head(Model *m, const float *f1, const float *f2, int N, float *prob, Err *e);

// Full forward on N pairs. pairs is (2N,S,S,3) host (first images, then
// second images); labels (N) host or NULL. prob (N) host or NULL; returns
// the mean BCE loss in *loss when labels are given.
int siamese_forward(Model *m, const float *pairs, const float *labels, int N, float *prob,
                    float *loss, Err *e);
// The same with the pairs as 8-bit pixels (2N,S,S,3) host, before the /255
// and the spec's invert, which the device applies (backend upload_u8): the
// batch crosses to the device as a quarter of the bytes.
int siamese_forward_u8(Model *m, const uint8_t *pairs, const float *labels, int N, float *prob,
                       float *loss, Err *e);
// A training or validation forward pass queued without waiting for the
// device, so the backward pass and the optimizer step can be queued behind
// it: siamese_forward_u8 with labels, whose loss and probabilities are
// copied into readback slot `slot` (0 .. MODEL_READBACKS-1) as the device
// gets there. A trainer reads them a step later (siamese_readback), while
// the device works on the next step.
int siamese_forward_queued(Model *m, const uint8_t *pairs, const float *labels, int N, int slot,
                           Err *e);
// Waits for slot's copy; puts its loss in *loss and, when prob is not NULL,
// its N probabilities in prob (host). -1 when the backend failed (the
// queued pass or the wait: backend.h, Failures), with the message in e.
int siamese_readback(Model *m, int slot, int N, float *loss, float *prob, Err *e);
// Backward of the last siamese_forward (which must have had labels):
// fills m->grads; when want_input_grad, also m->dinput. Queued work: a
// failure shows at the caller's next backend_check.
void siamese_backward(Model *m, int N, int want_input_grad);
// Called by a backward pass as gradients become final: m->grads[from,
// n_params) do not change again in this pass (the layers run backward, and
// the parameters of each come after those of the layers before it), so
// they may be sent on while the pass goes on (dist.h's buckets).
typedef void (*GradsReadyFn)(void *ctx, size_t from);
// The same when these N pairs are a part of a batch of batch_pairs
// (data-parallel training, dist.h): m->grads is the gradient of the whole
// batch's mean loss from these pairs, so the parts' gradients add up to
// the batch's (the model has no batch statistics: pairs are independent).
// ready (may be NULL) hears of each layer's gradients once they are done.
void siamese_backward_part(Model *m, int N, int batch_pairs, int want_input_grad,
                           GradsReadyFn ready, void *ctx);

// Parameter and FLOP counts for the user.
size_t model_param_count(const Model *m);
double model_forward_flops_per_image(const Model *m);

#endif
