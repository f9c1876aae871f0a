// cudnn_graph: one pass of a 3x3 'same' convolution through cuDNN's graph
// (backend) API, for backend_cuda.c (ConvApi: one pair's forward pass, or
// every pass with SIAMESE_CUDA_CONV=graph; built into libsiamese_cuda.so
// only).
//
// The legacy API's cudnnFind searches a fixed list of algorithms; the graph
// API's heuristics offer every engine and configuration (tile sizes,
// split-K for the filter gradient) that cuDNN has for the shape, as
// PyTorch's cudnn.benchmark sees them. graph_conv_build asks the
// heuristics (modes A and fallback) for candidates, drops those whose
// arithmetic the precision forbids (inputs converted down; tensor cores,
// which mean TF32, on float data without TF32), times each one that fits
// the workspace on the real buffers, and keeps the fastest: an execution
// plan, run by graph_conv_run with any buffers of the same shape.
#ifndef SIAMESE_CUDNN_GRAPH_H
#define SIAMESE_CUDNN_GRAPH_H

#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <stddef.h>

// The three passes, as backend_cuda.c's ConvPass: the buffers are (x, w, y)
// forward, (w, dy, dx) backward data and (x, dy, dw) backward filter, w in
// cuDNN's (K,3,3,C) layout, every tensor NHWC.
enum { GRAPH_FORWARD, GRAPH_BACKWARD_DATA, GRAPH_BACKWARD_FILTER };

// Every pointer given to a plan must be aligned so (bytes): the engines
// worth having need it, and cudaMalloc gives 256.
#define GRAPH_ALIGNMENT 16

typedef struct GraphConv GraphConv;

// The fastest plan for `pass` of (N,H,W,C) -> (N,H,W,K) in `type`
// (FLOAT or BFLOAT16, FLOAT accumulation), tf32 allowing tensor cores on
// FLOAT data, within ws_bytes of workspace ws, timed on a, b, out (which
// it overwrites) on stream s (the handle's). NULL when no engine fits,
// with why (for a one-time note) filled.
GraphConv *graph_conv_build(cudnnHandle_t h, cudaStream_t s, int pass, int N, int H, int W, int C,
                            int K, cudnnDataType_t type, int tf32, void *ws, size_t ws_bytes,
                            const void *a, const void *b, void *out, char *why, size_t why_len);
// Runs the plan on a, b, out (ordered as for the build, aligned to
// GRAPH_ALIGNMENT) with the workspace ws; cuDNN's status.
cudnnStatus_t graph_conv_run(cudnnHandle_t h, const GraphConv *g, const void *a, const void *b,
                             void *out, void *ws);
void graph_conv_free(GraphConv *g);

#endif
