// profile: timing a run of backend operations (see profile.h). Compiled
// into the program and into libsiamese_cuda.so (cuda.mk), as
// backend_failure.c is: the state is the Profile the Backend points to.
#include "profile.h"

#include <stdlib.h>
#include <string.h>

// A backward pass names its pieces (dgrad, wgrad, bias grad); until its
// first one it is this placeholder, which the first piece renames, so the
// few instructions before it are not a column of their own.
static const char BACKWARD[] = "backward";

// An operation's kind, from its function's name without the backend's
// prefix ("cuda_conv3x3_forward" -> "conv3x3_forward").
static const struct {
    const char *op, *piece;
} KINDS[] = {
    {"conv3x3_forward", "forward"},    {"dense_forward", "forward"},
    {"conv3x3_backward", BACKWARD},    {"dense_backward", BACKWARD},
    {"relu_backward", "relu bwd"},     {"maxpool2_forward", "pool"},
    {"maxpool2_backward", "pool bwd"}, {"maxpool2_relu_backward", BACKWARD},
    {"act_from_float", "convert"},     {"act_to_float", "convert"},
    {"absdiff_forward", "head"},
    {"absdiff_backward", "head"},      {"sigmoid_bce_forward", "head"},
    {"sigmoid_bce_backward", "head"},  {"upload", "copy"},
    {"upload_u8", "copy"},             {"download", "copy"},
    {"download_async", "copy"},        {"zero", "copy"},
    {"copy", "copy"},  // the CPU's upload and download
    {"sgd_nesterov_step", "optimizer"}, {"adam_step", "optimizer"},
};

static const char *kind_of(const char *op) {
    const char *name = strchr(op, '_');
    name = name ? name + 1 : op;
    for (size_t i = 0; i < sizeof KINDS / sizeof *KINDS; i++)
        if (!strcmp(KINDS[i].op, name)) return KINDS[i].piece;
    return "other";  // alloc, fences, synchronize
}

// Opens an entry for piece from mark m (the entry stays open: p->open).
static void open_entry(Backend *b, const char *piece, int m) {
    Profile *p = b->profile;
    p->open = -1;
    if (m < 0) {
        p->lost++;
        return;
    }
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 256;
        ProfileEntry *e = realloc(p->entries, cap * sizeof *e);
        if (!e) {
            p->lost++;
            return;
        }
        p->entries = e;
        p->cap = cap;
    }
    p->entries[p->n] = (ProfileEntry){b->label ? b->label : "-", piece, m, -1, 0};
    p->open = p->n++;
}

static void close_entry(Profile *p, int m) {
    if (p->open >= 0) p->entries[p->open].to = m;
    p->open = -1;
}

void profile_start(Backend *b, Profile *p) {
    p->n = 0;
    p->open = -1;
    p->lost = 0;
    p->wall_ms = 0;
    b->ops->timer_reset(b);
    p->first = b->ops->timer_mark(b);
    b->profile = p;
}

int profile_stop(Backend *b, Err *e) {
    Profile *p = b->profile;
    p->last = b->ops->timer_mark(b);
    b->profile = NULL;
    b->ops->synchronize(b);
    if (backend_check(b, e)) return -1;
    for (int i = 0; i < p->n; i++) {
        ProfileEntry *en = &p->entries[i];
        en->ms = en->to >= 0 ? b->ops->timer_ms(b, en->from, en->to) : 0;
    }
    p->wall_ms = p->first >= 0 && p->last >= 0 ? b->ops->timer_ms(b, p->first, p->last) : 0;
    return 0;
}

void profile_free(Profile *p) {
    free(p->entries);
    memset(p, 0, sizeof *p);
}

void profile_piece(Backend *b, const char *piece) {
    Profile *p = b->profile;
    if (!p || p->open < 0) return;
    if (p->entries[p->open].piece == BACKWARD) {
        p->entries[p->open].piece = piece;
        return;
    }
    int m = b->ops->timer_mark(b);
    close_entry(p, m);
    open_entry(b, piece, m);
}

void profile_op_begin(Backend *b, const char *op) {
    if (b->profile) open_entry(b, kind_of(op), b->ops->timer_mark(b));
}

void profile_op_end(Backend *b) {
    Profile *p = b->profile;
    if (p && p->open >= 0) close_entry(p, b->ops->timer_mark(b));
}
