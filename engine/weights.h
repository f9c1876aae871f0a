// weights: Keras-layout HDF5 weight files, read and written with the HDF5 C library.
//
// Layout (Keras 2 `save_weights`; `model.save` files hold the same under a
// `model_weights` group):
//   /                         attrs layer_names (or layer_names0, layer_names1, ...
//                             when Keras split an attribute over 64 KB),
//                             backend, keras_version
//   /<layer>                  attr weight_names: the layer's weights, in order
//   /<layer>/<weight name>    e.g. block1_conv1/kernel:0 (Keras 2) or
//                             block1_conv1_W_1:0 (Keras 1): conv (3,3,cin,cout),
//                             dense (in,out), bias (out)
// Layers match by name and the weights inside a layer by position, as Keras
// does. The two Dense layers match by position (their names differ between
// Keras versions: dense_1/dense_2 in 2.1.5, dense/dense_1 in tf-keras); a
// partial file's lone Dense layer by its shape (weights.c: wfile_open).
//
// Our files add root attributes siamese_input_size, siamese_letterbox and
// siamese_invert (how the model's inputs were made), and an optional
// training state (group siamese_state) so a run can resume.
#ifndef SIAMESE_WEIGHTS_H
#define SIAMESE_WEIGHTS_H

#include <stddef.h>

#include "err.h"
#include "model.h"

// What a file holds, before any model exists: the architecture it implies.
typedef struct WeightsInfo {
    ModelSpec spec;        // widths, hidden, input size and preprocessing
    int has_backbone;      // all 13 conv layers present
    int has_head;          // both Dense layers present
    int hidden_known;      // a Dense layer gives spec.hidden (else it is VGG16's 512)
    int input_size_known;  // 1 when the file records it (ours); else inferred
    char keras_version[32];  // escaped (text_escape), as every string from the file
} WeightsInfo;

// Which layers a load filled, for the user (the original prints these);
// the names are escaped (text_escape).
typedef struct WeightsReport {
    int n_loaded, n_skipped;
    int n_misfit;  // of the skipped, layers of the file whose shapes are not the model's
    char loaded[MODEL_MAX_LAYERS][64];
    // "hidden Dense layer: not in the file", "dense_1: kernel shape is (9,8), expected (8,8)"
    char skipped[MODEL_MAX_LAYERS][160];
} WeightsReport;

// A training state saved beside the weights: free text "key=value" lines
// plus up to two optimizer slots of n_params floats each (host memory).
typedef struct WeightsState {
    char *text;       // NUL-terminated, any length; NULL when absent
    float *slot[2];   // NULL when absent
    size_t n;         // floats per slot
} WeightsState;

int weights_inspect(const char *path, WeightsInfo *info, Err *e);

// Inspects path, creates the model it describes on be and loads every layer
// strictly (the predict path). info may be NULL.
int weights_open_model(Model **out, const char *path, Backend *be, WeightsInfo *info, Err *e);

// Loads every layer of m that the file has. strict: a missing layer or any
// shape mismatch is an error (predict); otherwise layers that don't match
// are skipped and reported (fine-tuning from other weights, as Keras's
// by_name=True, skip_mismatch=True). A NaN or infinite value in any
// weight is an error naming the layer, strict or not. rep may be NULL.
int weights_load(Model *m, const char *path, int strict, WeightsReport *rep, Err *e);

// Writes m (and st if not NULL) to path atomically: a temporary file beside
// it, flushed and fsync'ed, then renamed over path.
int weights_save(const Model *m, const char *path, const WeightsState *st, Err *e);

// Reads the training state if the file has one (returns 0 and st->text NULL
// when it has none). Text and slots are malloc'ed; free with weights_state_free.
int weights_load_state(const char *path, WeightsState *st, Err *e);
void weights_state_free(WeightsState *st);

#endif
