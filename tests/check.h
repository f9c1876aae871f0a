// check: the tiny test harness of the C tests. Each test program counts its
// checks, prints one line per failure (file:line and why) and exits
// non-zero if any failed. Tests that need something absent (a GPU, a
// fixture) print "SKIP: reason" and exit 77.
#ifndef SIAMESE_CHECK_H
#define SIAMESE_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures, check_count;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        check_count++;                                                      \
        if (!(cond)) {                                                      \
            check_failures++;                                               \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

// Largest absolute difference of two float arrays; *where gets its index.
static inline double check_max_abs_diff(const float *a, const float *b, size_t n, size_t *where) {
    double m = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) {
            m = d;
            w = i;
        }
    }
    if (where) *where = w;
    return m;
}

// max|a-b| / max(max|b|, floor): a relative error robust to tiny entries.
static inline double check_rel_err(const float *a, const float *b, size_t n, double floor) {
    double scale = floor;
    for (size_t i = 0; i < n; i++)
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    return check_max_abs_diff(a, b, n, NULL) / scale;
}

static inline int check_summary(const char *name) {
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

// snprintf into a test's fixed buffer (a path): text that does not fit is a
// broken test, which stops here.
static inline void check_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void check_snprintf(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "test text longer than its %zu-byte buffer: %s...\n", size, buf);
        exit(2);
    }
}

#define CHECK_SKIP(...)              \
    do {                             \
        printf("SKIP: " __VA_ARGS__); \
        printf("\n");                \
        exit(77);                    \
    } while (0)

#endif
