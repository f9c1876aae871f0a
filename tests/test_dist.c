// Data-parallel training's arithmetic (engine/dist.h), in one process:
// the ranks' shares of a batch cover it exactly once; the gradients of a
// batch's parts (siamese_backward_part) add up to the whole batch's
// gradient; the one-process stub's exchanges give back what was put in.
// The exchanges between processes are tested by tests/sh/train_mpi.sh.
#include <string.h>

#include "../engine/dist.h"
#include "../engine/model.h"
#include "../engine/rng.h"
#include "check.h"

static void test_shares(void) {
    for (int size = 1; size <= 9; size++) {
        for (int n = size; n <= 70; n += 3) {
            Dist d;
            dist_solo(&d);
            d.size = size;
            int next = 0, lo = n, hi = 0;
            for (d.rank = 0; d.rank < size; d.rank++) {
                int first, count;
                dist_share(&d, n, &first, &count);
                CHECK(first == next, "n %d, %d ranks: rank %d starts at %d, not %d", n, size,
                      d.rank, first, next);
                next = first + count;
                lo = count < lo ? count : lo;
                hi = count > hi ? count : hi;
            }
            CHECK(next == n && hi - lo <= 1 && lo >= 1,
                  "n %d over %d ranks: covered %d, shares %d..%d", n, size, next, lo, hi);
        }
    }
}

#define IMG (32 * 32 * 3)  // the floats of one of the tiny model's images

// A tiny model for training on a CPU backend of one thread (*be), its
// weights drawn from seed.
static Model *tiny_model(Backend **be, uint64_t seed) {
    Err e;
    CHECK(backend_cpu_open(be, 1, &e) == 0, "%s", e.msg);
    ModelSpec s = {.input_size = 32, .widths = {3, 4, 4, 5, 6}, .hidden = 7};
    Model *m;
    CHECK(model_create(&m, &s, *be, &e) == 0 && model_enable_training(m, &e) == 0, "%s", e.msg);
    CHECK(model_init_random(m, seed, &e) == 0, "%s", e.msg);
    return m;
}

// N pairs of random images (2N, 32, 32, 3), drawn from seed (malloc'ed).
static float *random_pairs(int N, uint64_t seed) {
    float *pairs = malloc(2 * N * IMG * sizeof(float));
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < 2 * (size_t)N * IMG; i++) pairs[i] = rng_uniform(&r);
    return pairs;
}

// The gradient of a batch's mean loss is the sum of its parts' gradients
// (each part's mean taken over the whole batch), up to float rounding.
static void test_parts_add_up(void) {
    Backend *be;
    Err e;
    Model *m = tiny_model(&be, 5);
    const int N = 7;
    const size_t img = IMG, n = m->n_params;
    float *pairs = random_pairs(N, 9), labels[7], part_pairs[2 * 7 * IMG];
    float *whole = malloc(n * sizeof(float)), *sum = calloc(n, sizeof(float)), loss;
    for (int i = 0; i < N; i++) labels[i] = (float)(i % 2);
    CHECK(siamese_forward(m, pairs, labels, N, NULL, &loss, &e) == 0, "%s", e.msg);
    siamese_backward(m, N, 0);
    memcpy(whole, m->grads, n * sizeof(float));
    // One part that is the whole batch: exactly siamese_backward.
    siamese_backward_part(m, N, N, 0, NULL, NULL);
    CHECK(!memcmp(whole, m->grads, n * sizeof(float)), "a part of all pairs is the whole batch");
    // Three uneven parts: pairs 0..2, 3..4, 5..6 (first images, then second images).
    const int first[3] = {0, 3, 5}, count[3] = {3, 2, 2};
    double loss_sum = 0;
    for (int k = 0; k < 3; k++) {
        const int c = count[k];
        memcpy(part_pairs, pairs + first[k] * img, c * img * sizeof(float));
        memcpy(part_pairs + c * img, pairs + (N + first[k]) * img, c * img * sizeof(float));
        float part_loss;
        CHECK(siamese_forward(m, part_pairs, labels + first[k], c, NULL, &part_loss, &e) == 0, "%s",
              e.msg);
        siamese_backward_part(m, c, N, 0, NULL, NULL);
        for (size_t i = 0; i < n; i++) sum[i] += m->grads[i];
        loss_sum += (double)part_loss * c;
    }
    double err = check_rel_err(sum, whole, n, 1e-12);
    CHECK(err < 1e-5, "the parts' gradients add up to the batch's: max rel err %.2e", err);
    CHECK(fabs(loss_sum / N - loss) < 1e-6, "the parts' losses: mean %.8f, batch %.8f",
          loss_sum / N, (double)loss);
    // Without the batch's count (each part its own mean) they would not.
    siamese_backward_part(m, count[2], count[2], 0, NULL, NULL);
    CHECK(check_rel_err(m->grads, whole, n, 1e-12) > 0.1, "a part's own mean is another gradient");
    free(pairs);
    free(whole);
    free(sum);
    model_free(m);
    backend_close(be);
}

// What a backward pass says is done is done: the gradients it reports
// final (from an offset to the end) are the pass's final ones, the report
// reaches the first parameter, and it comes layer by layer (buckets can go
// out while the pass goes on).
typedef struct Ready {
    const Model *m;
    float *seen;   // grads as each report found them, from its offset on
    size_t last;   // the last report's offset
    int calls, ordered;
} Ready;

// Keeps each gradient as the first report that calls it final finds it.
static void on_ready(void *ctx, size_t from) {
    Ready *r = ctx;
    r->ordered &= from < r->last;
    if (from < r->last) memcpy(r->seen + from, r->m->grads + from, (r->last - from) * sizeof(float));
    r->last = from;
    r->calls++;
}

static void test_ready_reports(void) {
    Backend *be;
    Err e;
    Model *m = tiny_model(&be, 6);
    const int N = 3;
    const size_t n = m->n_params;
    float *pairs = random_pairs(N, 4), labels[3] = {1, 0, 1}, loss;
    Ready r = {.m = m, .seen = calloc(n, sizeof(float)), .last = n, .ordered = 1};
    // Earlier gradients in the buffer: a report must not rely on its zeroing.
    for (size_t i = 0; i < n; i++) m->grads[i] = 1e30f;
    CHECK(siamese_forward(m, pairs, labels, N, NULL, &loss, &e) == 0, "%s", e.msg);
    siamese_backward_part(m, N, N, 0, on_ready, &r);
    CHECK(r.calls == 15 && r.ordered && r.last == 0,
          "one report per layer with weights, each from an earlier offset, down to 0 (%d calls, "
          "last from %zu)",
          r.calls, r.last);
    CHECK(!memcmp(r.seen, m->grads, n * sizeof(float)),
          "every gradient reported final has its final value then");
    free(pairs);
    free(r.seen);
    model_free(m);
    backend_close(be);
}

// One process: nothing is exchanged, everything comes back as it was.
static void test_solo(void) {
    Dist d;
    dist_solo(&d);
    Err e = {{0}};
    DistVote v = {.loss = 1.25, .correct = 3, .stop = 0};
    CHECK(dist_vote(&d, &v, &e) == 0 && v.loss == 1.25 && v.correct == 3 && !v.stop, "vote");
    v.failed = 1;
    CHECK(dist_vote(&d, &v, &e) < 0, "a failed step fails");
    CHECK(dist_agree(&d, 1, &e) == 1 && dist_agree(&d, -1, &e) == -1, "agree passes rc on");
    CHECK(dist_check_same(&d, "x", 42, &e) == 0, "one rank is the same as itself");
    char dev[32], how[64] = "x";
    dist_device(&d, "auto", dev, sizeof dev);
    CHECK(!strcmp(dev, "auto"), "one process keeps --device auto: %s", dev);
    CHECK(dist_threads(&d, 0) == 0 && dist_threads(&d, 3) == 3, "one process keeps --threads");
    CHECK(dist_attach(&d, NULL, 10, how, sizeof how, &e) == 0 && !how[0], "nothing to attach");
    float g[2] = {1, 2};
    CHECK(dist_sum_gradients(&d, g, 2, &e) == 0 && g[0] == 1 && g[1] == 2, "a sum of one");
    dist_sum_start(&d, g, 2);
    dist_grads_ready(&d, 1);
    dist_grads_ready(&d, 0);
    CHECK(dist_sum_gradients(&d, g, 2, &e) == 0 && g[0] == 1 && g[1] == 2, "a sum in buckets");
    uint64_t h = dist_hash(DIST_HASH_START, "ab", 2);
    CHECK(h != dist_hash(DIST_HASH_START, "ba", 2), "the hash sees the order");
    double mine[2] = {3, 4}, all[2] = {0, 0};
    CHECK(dist_gather(&d, mine, 2, all, &e) == 0 && all[0] == 3 && all[1] == 4, "a gather of one");
    char buf[3] = "ab", got[3] = "";
    size_t bytes = 3;
    CHECK(dist_broadcast(&d, buf, 3, &e) == 0 && !strcmp(buf, "ab"), "a broadcast to itself");
    CHECK(dist_gather_bytes(&d, buf, 3, got, &bytes, &e) == 0 && !strcmp(got, "ab"),
          "a gather of bytes from one");
}

int main(void) {
    test_shares();
    test_parts_add_up();
    test_ready_reports();
    test_solo();
    return check_summary("test_dist");
}
