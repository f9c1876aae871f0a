// proxy: the head's cheap stand-in, the first stage of a gallery search.
//
// The head scores a pair as logit = w2 . relu(W1^T d + b1) + b2 with
// d = |f1 - f2| (F values, W1 (F,H)). Without the ReLU it is linear in d:
//   logit ~ v . d + c,   v = W1 w2 (F values),
// F multiply-adds a pair instead of F*H. The pairs a search is after are
// near ones, whose hidden units mostly sit on the side of the ReLU that
// this keeps; the exact head then re-scores a shortlist. (Measured with
// the shipped model on images_evaluation: bench/RESULTS.md.)
//
// Since v_j |a_j - b_j| = sign(v_j) | |v_j| a_j - |v_j| b_j |, a feature
// row is stored as the bytes round(|v_j| f_j / step) (features are ReLU
// outputs, so >= 0; past 255 they saturate), the dimensions with v_j > 0
// first, then the others, each group zero-padded to a multiple of 32: the
// score of a pair is then a sum of absolute byte differences over the
// first group minus the same over the second (SAD instructions, 32 bytes
// at a time), up to the factor step. One step serves every entry of an
// index: the largest |v_j| f_j of all its entries maps to 255.
#ifndef SIAMESE_PROXY_H
#define SIAMESE_PROXY_H

#include <stdint.h>

#include "err.h"
#include "model.h"

#define PROXY_ALIGN 32

typedef struct Proxy {
    int feat_dim;   // F
    int code_dim;   // bytes a code: n_pos and the rest, each rounded up to 32
    int pos_bytes;  // the first group's bytes (a multiple of 32)
    int *src;       // (code_dim): the feature dimension of each byte, -1 for padding
    float *weight;  // (code_dim): |v_j| of that dimension, 0 for padding
} Proxy;

// From m's head (its Dense kernels, read from the device).
int proxy_init(Proxy *p, const Model *m, Err *e);
void proxy_free(Proxy *p);

// The largest |v_j| f_j of n rows of features (n,F), and at least top:
// a running maximum, from which the step is max / 255.
float proxy_max(const Proxy *p, const float *feats, long n, float top);

// codes (n,code_dim) of features (n,F).
void proxy_encode(const Proxy *p, float step, const float *feats, long n, uint8_t *codes);

// score[i] = sum over the first group of |q - c_i| minus the same over the
// second: logit(q, entry i) ~ step * score[i] + const. Higher is more similar.
void proxy_score(const Proxy *p, const uint8_t *q, const uint8_t *codes, long n, int32_t *score);

// For tests: 1 forces the portable loop, 0 restores the automatic choice.
void proxy_force_portable(int on);

#endif
