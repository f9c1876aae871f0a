// synth: small synthetic image folders for the dataset, loader and eval
// tests, written into a temporary directory (never into the repository).
#ifndef SIAMESE_TEST_SYNTH_H
#define SIAMESE_TEST_SYNTH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "check.h"

// A fresh temporary folder; removed by synth_cleanup.
static inline char *synth_tmpdir(void) {
    static char dir[256];
    snprintf(dir, sizeof dir, "/tmp/siamese_test_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    return dir;
}

static inline void synth_cleanup(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static inline void synth_mkdirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0777);
            *p = '/';
        }
    mkdir(buf, 0777);
}

// A size x size grey PNG whose content depends on seed: a dark bar at a
// seed-dependent place on white, like a pen stroke.
static inline void synth_png(const char *path, int size, unsigned seed) {
    unsigned char *px = malloc((size_t)size * size);
    memset(px, 255, (size_t)size * size);
    int x0 = (int)(seed * 7 % (unsigned)size), y0 = (int)(seed * 13 % (unsigned)size);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            if (abs(x - x0) < size / 8 || abs(y - y0) < size / 10) px[y * size + x] = 0;
    if (!stbi_write_png(path, size, size, 1, px, size)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    free(px);
}

static inline void synth_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

// root/A<a>/c<c>/<id>_<drawer>.png: n_alpha alphabets of n_char characters
// with n_img drawings each (drawers 01..n_img), Omniglot's naming.
static inline void synth_omniglot(const char *root, int n_alpha, int n_char, int n_img, int size) {
    char path[1024];
    unsigned id = 0;
    for (int a = 0; a < n_alpha; a++)
        for (int c = 0; c < n_char; c++, id++) {
            check_snprintf(path, sizeof path, "%s/A%d/c%02d", root, a, c);
            synth_mkdirs(path);
            for (int i = 0; i < n_img; i++) {
                check_snprintf(path, sizeof path, "%s/A%d/c%02d/%04u_%02d.png", root, a, c, id,
                               i + 1);
                synth_png(path, size, id * 31 + i);
            }
        }
}

// root/k<k>/img<i>.png: n_class classes of n_img images.
static inline void synth_classes(const char *root, int n_class, int n_img, int size) {
    char path[1024];
    for (int k = 0; k < n_class; k++) {
        check_snprintf(path, sizeof path, "%s/k%d", root, k);
        synth_mkdirs(path);
        for (int i = 0; i < n_img; i++) {
            check_snprintf(path, sizeof path, "%s/k%d/img%d.png", root, k, i);
            synth_png(path, size, k * 17 + i);
        }
    }
}

#endif
