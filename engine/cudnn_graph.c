// cudnn_graph: a convolution pass through cuDNN's graph API (see the header).
#include "cudnn_graph.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Engine configurations timed, at most, per pass and shape: the first of
// mode A's ranking (its best guesses), then fallback engines. Each one's
// plan is finalized (its kernels loaded) and run four times, so this bounds
// the first step's tuning time.
#define CANDIDATES_MAX 16
#define MODE_A_MAX 12
#define TIMED_RUNS 3       // each timed after one untimed run

typedef cudnnBackendDescriptor_t Desc;

// The descriptors of one pass's graph, kept as long as a plan made from it:
// the plan refers to its engine configuration, which refers to the graph,
// which refers to its operation and tensors.
typedef struct Graph {
    Desc t[3], conv, op, graph;
} Graph;

static void graph_free(Graph *g) {
    Desc d[] = {g->graph, g->op, g->conv, g->t[0], g->t[1], g->t[2]};
    for (size_t i = 0; i < sizeof d / sizeof *d; i++)
        if (d[i]) cudnnBackendDestroyDescriptor(d[i]);
    memset(g, 0, sizeof *g);
}

struct GraphConv {
    Graph graph;
    Desc cfg, plan;
};

// Each step of a descriptor's set-up continues only while the status is
// success (0): `s = s ? s : call` chains them, and the first failure stays.
#define STEP(s, call) ((s) = (s) ? (s) : (call))

static cudnnStatus_t set(Desc d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                         int64_t n, const void *value) {
    return cudnnBackendSetAttribute(d, name, type, n, value);
}

// A tensor of logical shape (n,c,h,w), laid out channels-last (NHWC; a
// (K,3,3,C) filter is the same with n = K, h = w = 3).
static cudnnStatus_t tensor(Desc *t, int64_t uid, cudnnDataType_t type, int64_t n, int64_t c,
                            int64_t h, int64_t w) {
    const int64_t dims[4] = {n, c, h, w}, strides[4] = {h * w * c, 1, w * c, c};
    const int64_t align = GRAPH_ALIGNMENT;
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_TENSOR_DESCRIPTOR, t);
    STEP(s, set(*t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type));
    STEP(s, set(*t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims));
    STEP(s, set(*t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides));
    STEP(s, set(*t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
    STEP(s, set(*t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align));
    STEP(s, cudnnBackendFinalize(*t));
    return s;
}

// Keras's 3x3 'same' convolution: a cross-correlation, stride 1, padding 1,
// accumulated in FLOAT whatever the data type.
static cudnnStatus_t convolution(Desc *d) {
    const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    const int64_t dims = 2, one[2] = {1, 1}, pad[2] = {1, 1};
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, d);
    STEP(s, set(*d, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp));
    STEP(s, set(*d, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    STEP(s, set(*d, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &dims));
    STEP(s, set(*d, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, one));
    STEP(s, set(*d, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, one));
    STEP(s, set(*d, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad));
    STEP(s, set(*d, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad));
    STEP(s, cudnnBackendFinalize(*d));
    return s;
}

// Per pass: the operation, and its attributes for alpha, beta, the
// convolution and the three tensors in (a, b, out) order.
static const struct {
    cudnnBackendDescriptorType_t type;
    cudnnBackendAttributeName_t alpha, beta, conv, tensors[3];
} OPS[3] = {
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
     {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
      CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y}},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
     {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX}},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
     {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW}},
};

// The operation graph of one pass (one operation), finalized, into g.
// The tensors' unique ids are the buffers' places: 1, 2, 3 for a, b, out.
static cudnnStatus_t pass_graph(cudnnHandle_t h, int pass, int N, int H, int W, int C, int K,
                                cudnnDataType_t type, Graph *g) {
    // x (N,C,H,W), w (K,C,3,3), y (N,K,H,W), and which of them a, b and out are.
    const int64_t shape[3][4] = {{N, C, H, W}, {K, C, 3, 3}, {N, K, H, W}};
    const int place[3][3] = {{0, 1, 2}, {1, 2, 0}, {0, 2, 1}};
    const float alpha = 1.0f, beta = 0.0f;
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    memset(g, 0, sizeof *g);
    for (int i = 0; i < 3; i++) {
        const int64_t *d = shape[place[pass][i]];
        STEP(s, tensor(&g->t[i], i + 1, type, d[0], d[1], d[2], d[3]));
    }
    STEP(s, convolution(&g->conv));
    STEP(s, cudnnBackendCreateDescriptor(OPS[pass].type, &g->op));
    STEP(s, set(g->op, OPS[pass].alpha, CUDNN_TYPE_FLOAT, 1, &alpha));
    STEP(s, set(g->op, OPS[pass].beta, CUDNN_TYPE_FLOAT, 1, &beta));
    STEP(s, set(g->op, OPS[pass].conv, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->conv));
    for (int i = 0; i < 3; i++)
        STEP(s, set(g->op, OPS[pass].tensors[i], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->t[i]));
    STEP(s, cudnnBackendFinalize(g->op));
    STEP(s, cudnnBackendCreateDescriptor(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &g->graph));
    STEP(s, set(g->graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->op));
    STEP(s, set(g->graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h));
    STEP(s, cudnnBackendFinalize(g->graph));
    return s;
}

// Engine configurations the heuristics in `mode` rank for graph, best first,
// appended to cfgs (n of cap used); returns the new n.
static int ranked(Desc graph, cudnnBackendHeurMode_t mode, Desc *cfgs, int n, int cap) {
    Desc heur = NULL;
    int64_t count = 0, got = 0;
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur);
    STEP(s, set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                &graph));
    STEP(s, set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode));
    STEP(s, cudnnBackendFinalize(heur));
    STEP(s, cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, NULL));
    if (!s && count > cap - n) count = cap - n;
    int made = 0;
    for (; !s && made < count; made++)
        s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[n + made]);
    if (!s && made)
        s = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, made, &got, &cfgs[n]);
    if (s) got = 0;
    for (int i = (int)got; i < made; i++) cudnnBackendDestroyDescriptor(cfgs[n + i]);
    if (heur) cudnnBackendDestroyDescriptor(heur);
    return n + (int)got;
}

// Whether cfg's arithmetic is allowed: never inputs converted down (to
// FP16); tensor cores on FLOAT data only with tf32 (they round to TF32);
// no kernel compiled at run time (seconds, the first time).
static int allowed(Desc cfg, cudnnDataType_t type, int tf32) {
    Desc e = NULL;
    int64_t n = 0;
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
    int64_t n_notes = 0, n_behavior = 0;
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &e);
    STEP(s, cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                     1, &n, &e));
    STEP(s, cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                     CUDNN_TYPE_NUMERICAL_NOTE, CUDNN_NUMERICAL_NOTE_TYPE_COUNT,
                                     &n_notes, notes));
    STEP(s, cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                     CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &n_behavior, behavior));
    if (e) cudnnBackendDestroyDescriptor(e);
    if (s) return 0;
    for (int64_t i = 0; i < n_notes && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; i++) {
        if (notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) return 0;
        if (notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE && type == CUDNN_DATA_FLOAT && !tf32)
            return 0;
    }
    for (int64_t i = 0; i < n_behavior && i < CUDNN_BEHAVIOR_NOTE_TYPE_COUNT; i++)
        if (behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) return 0;
    return 1;
}

static cudnnStatus_t execute(cudnnHandle_t h, Desc plan, const void *a, const void *b, void *out,
                             void *ws) {
    const int64_t uids[3] = {1, 2, 3};
    void *ptrs[3] = {(void *)a, (void *)b, out};
    Desc pack = NULL;
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack);
    STEP(s, set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids));
    STEP(s, set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptrs));
    STEP(s, set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws));
    STEP(s, cudnnBackendFinalize(pack));
    STEP(s, cudnnBackendExecute(h, plan, pack));
    if (pack) cudnnBackendDestroyDescriptor(pack);
    return s;
}

// Milliseconds of TIMED_RUNS runs of plan after an untimed one; < 0 when a
// run fails.
static float timed(cudnnHandle_t h, cudaStream_t st, Desc plan, const void *a, const void *b,
                   void *out, void *ws) {
    cudaEvent_t t0, t1;
    float ms = -1;
    if (cudaEventCreate(&t0) != cudaSuccess) return -1;
    if (cudaEventCreate(&t1) != cudaSuccess) {
        cudaEventDestroy(t0);
        return -1;
    }
    cudnnStatus_t s = execute(h, plan, a, b, out, ws);
    if (!s && cudaEventRecord(t0, st) == cudaSuccess) {
        for (int i = 0; i < TIMED_RUNS && !s; i++) s = execute(h, plan, a, b, out, ws);
        if (!s && cudaEventRecord(t1, st) == cudaSuccess && cudaEventSynchronize(t1) == cudaSuccess &&
            cudaEventElapsedTime(&ms, t0, t1) != cudaSuccess)
            ms = -1;
    }
    if (s) ms = -1;
    (void)cudaGetLastError();  // a failed candidate leaves nothing for the next check
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    return ms;
}

GraphConv *graph_conv_build(cudnnHandle_t h, cudaStream_t st, int pass, int N, int H, int W, int C,
                            int K, cudnnDataType_t type, int tf32, void *ws, size_t ws_bytes,
                            const void *a, const void *b, void *out, char *why, size_t why_len) {
    Graph graph;
    Desc cfgs[CANDIDATES_MAX], best = NULL;
    int n = 0, tried = 0, fitting = 0, best_cfg = -1;
    float best_ms = -1;
    cudnnStatus_t s = pass_graph(h, pass, N, H, W, C, K, type, &graph);
    if (!s) {
        n = ranked(graph.graph, CUDNN_HEUR_MODE_A, cfgs, n, MODE_A_MAX);
        n = ranked(graph.graph, CUDNN_HEUR_MODE_FALLBACK, cfgs, n, CANDIDATES_MAX);
    }
    for (int i = 0; i < n; i++) {
        Desc plan = NULL;
        int64_t count = 0, need = 0;
        if (!allowed(cfgs[i], type, tf32)) continue;
        tried++;
        cudnnStatus_t ps = cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR,
                                                        &plan);
        STEP(ps, set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h));
        STEP(ps, set(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                     1, &cfgs[i]));
        STEP(ps, cudnnBackendFinalize(plan));
        STEP(ps, cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                          CUDNN_TYPE_INT64, 1, &count, &need));
        float ms = -1;
        if (!ps && need >= 0 && (size_t)need <= ws_bytes) {
            fitting++;
            ms = timed(h, st, plan, a, b, out, ws);
        }
        if (ms >= 0 && (best_ms < 0 || ms < best_ms)) {
            if (best) cudnnBackendDestroyDescriptor(best);
            best = plan, best_ms = ms, best_cfg = i;
        } else if (plan) {
            cudnnBackendDestroyDescriptor(plan);
        }
    }
    for (int i = 0; i < n; i++)
        if (i != best_cfg) cudnnBackendDestroyDescriptor(cfgs[i]);
    GraphConv *g = best ? calloc(1, sizeof *g) : NULL;
    if (!g) {
        snprintf(why, why_len,
                 "%s; %d engine configurations ranked, %d allowed, %d within the workspace, "
                 "none ran",
                 s ? cudnnGetErrorString(s) : "no plan", n, tried, fitting);
        if (best) cudnnBackendDestroyDescriptor(best);
        if (best_cfg >= 0) cudnnBackendDestroyDescriptor(cfgs[best_cfg]);
        graph_free(&graph);
        return NULL;
    }
    g->graph = graph;
    g->cfg = cfgs[best_cfg];
    g->plan = best;
    return g;
}

cudnnStatus_t graph_conv_run(cudnnHandle_t h, const GraphConv *g, const void *a, const void *b,
                             void *out, void *ws) {
    return execute(h, g->plan, a, b, out, ws);
}

void graph_conv_free(GraphConv *g) {
    if (!g) return;
    cudnnBackendDestroyDescriptor(g->plan);
    cudnnBackendDestroyDescriptor(g->cfg);
    graph_free(&g->graph);
    free(g);
}
