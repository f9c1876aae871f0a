#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "image.h"
#include "text.h"

#define LAYOUT_HELP                                                                        \
    "expected ROOT/<alphabet>/<character>/<image> (the Omniglot layout) or ROOT/<class>/<image> " \
    "(your own classes, --own-data)"

const char *dataset_layout_name(DatasetLayout l) {
    return l == LAYOUT_OMNIGLOT ? "Omniglot (alphabet/character/image)"
           : l == LAYOUT_CLASSES ? "own classes (class/image)"
                                 : "auto";
}

int dataset_is_image_name(const char *name) {
    static const char *const EXT[] = {"png", "jpg", "jpeg", "bmp", "gif", "tga", "pgm",
                                      "ppm", "pnm", "pbm", "psd", "hdr", "pic"};
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof EXT / sizeof *EXT; i++)
        if (!strcasecmp(dot + 1, EXT[i])) return 1;
    return 0;
}

int dataset_drawer_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *us = strrchr(base, '_'), *dot = strrchr(base, '.');
    if (!us || !dot || dot < us + 2) return -1;
    int v = 0;
    for (const char *p = us + 1; p < dot; p++) {
        if (*p < '0' || *p > '9' || v > 100000) return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static void notef(Dataset *ds, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notef(Dataset *ds, const char *fmt, ...) {
    size_t used = strlen(ds->notes);
    if (used + 2 >= sizeof ds->notes) return;
    // Notes name files found on disk: escaped (text_escape), one line each.
    char raw[sizeof ds->notes];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    text_escape(raw, ds->notes + used, sizeof ds->notes - used - 1);
    used = strlen(ds->notes);
    ds->notes[used] = '\n';
    ds->notes[used + 1] = '\0';
}

// The notes as one line, for an error message (which escapes a line break,
// and showed the last note's as a literal "\n"): a note's indented lines
// follow its colon after a blank, notes are separated by "; ", and the
// last line break goes. out has the size of Dataset's notes.
static void notes_inline(const char *notes, char *out) {
    size_t n = 0;
    for (const char *p = notes; *p; p++) {
        if (*p != '\n') {
            out[n++] = *p;
            continue;
        }
        while (p[1] == ' ') p++;
        if (!p[1]) break;
        const char *join = n && out[n - 1] == ':' ? " " : "; ";
        // (A break becomes at most 2 bytes: never longer than the notes.)
        for (; *join; join++) out[n++] = *join;
    }
    out[n] = '\0';
}

// ---- directory listing ---------------------------------------------------------

typedef struct Entry {
    char *name;
    int is_dir, is_file;
} Entry;

typedef struct Listing {
    Entry *e;
    int n;
} Listing;

static void listing_free(Listing *l) {
    for (int i = 0; i < l->n; i++) free(l->e[i].name);
    free(l->e);
    l->e = NULL;
    l->n = 0;
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const Entry *)a)->name, ((const Entry *)b)->name);
}

// The visible entries of dir, sorted, with symbolic links resolved (a
// broken link counts as a file, so decoding reports it).
static int list_dir(const char *dir, Listing *out, Err *e) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return err_set(e, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    int cap = 0, rc = 0;
    char path[8192];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;  // ., .., hidden files (.DS_Store)
        if (out->n == cap) {
            cap = cap ? 2 * cap : 64;
            Entry *ne = realloc(out->e, cap * sizeof *ne);
            if (!ne) {
                rc = err_set(e, "out of memory listing %s", dir);
                break;
            }
            out->e = ne;
        }
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        Entry *en = &out->e[out->n];
        en->is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        en->is_file = !en->is_dir;
        if (!(en->name = strdup(de->d_name))) {
            rc = err_set(e, "out of memory listing %s", dir);
            break;
        }
        out->n++;
    }
    closedir(d);
    if (rc) {
        listing_free(out);
        return -1;
    }
    // (An empty folder leaves e NULL, which qsort may not be given.)
    if (out->n > 1) qsort(out->e, out->n, sizeof *out->e, entry_cmp);
    return 0;
}

static int count_images(const Listing *l) {
    int n = 0;
    for (int i = 0; i < l->n; i++) n += l->e[i].is_file && dataset_is_image_name(l->e[i].name);
    return n;
}

static int count_dirs(const Listing *l) {
    int n = 0;
    for (int i = 0; i < l->n; i++) n += l->e[i].is_dir;
    return n;
}

// ---- raw scan: (class, path) before decoding and filtering ----------------------

typedef struct Raw {
    char **paths;
    int *cls;
    int n, cap;
    char **cls_names;
    int *cls_group;
    int n_cls, cap_cls;
    char **groups;
    int n_groups, cap_groups;
} Raw;

static void raw_free(Raw *r) {
    for (int i = 0; i < r->n; i++) free(r->paths[i]);
    for (int i = 0; i < r->n_cls; i++) free(r->cls_names[i]);
    for (int i = 0; i < r->n_groups; i++) free(r->groups[i]);
    free(r->paths);
    free(r->cls);
    free(r->cls_names);
    free(r->cls_group);
    free(r->groups);
    memset(r, 0, sizeof *r);
}

static int grow(void **p, int *cap, int n, size_t elem) {
    if (n < *cap) return 0;
    int nc = *cap ? 2 * *cap : 256;
    void *np = realloc(*p, nc * elem);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static int raw_group(Raw *r, const char *name) {
    if (grow((void **)&r->groups, &r->cap_groups, r->n_groups, sizeof *r->groups)) return -1;
    if (!(r->groups[r->n_groups] = strdup(name))) return -1;
    return r->n_groups++;
}

static int raw_class(Raw *r, const char *name, int group) {
    int cap = r->cap_cls;
    if (grow((void **)&r->cls_names, &cap, r->n_cls, sizeof *r->cls_names)) return -1;
    cap = r->cap_cls;
    if (grow((void **)&r->cls_group, &cap, r->n_cls, sizeof *r->cls_group)) return -1;
    r->cap_cls = cap;
    if (!(r->cls_names[r->n_cls] = strdup(name))) return -1;
    r->cls_group[r->n_cls] = group;
    return r->n_cls++;
}

// Adds the image files of one class folder; counts the other files.
static int raw_add_class_dir(Raw *r, Dataset *ds, const char *dir, const char *cls_name, int group,
                             Err *e) {
    Listing l;
    if (list_dir(dir, &l, e)) return -1;
    int c = raw_class(r, cls_name, group), rc = c < 0 ? -1 : 0;
    for (int i = 0; i < l.n && !rc; i++) {
        if (!l.e[i].is_file || !dataset_is_image_name(l.e[i].name)) {
            ds->n_other_files++;
            continue;
        }
        int cap = r->cap;
        if (grow((void **)&r->paths, &cap, r->n, sizeof *r->paths) ||
            grow((void **)&r->cls, &r->cap, r->n, sizeof *r->cls)) {
            rc = -1;
            break;
        }
        size_t len = strlen(dir) + strlen(l.e[i].name) + 2;
        if (!(r->paths[r->n] = malloc(len))) {
            rc = -1;
            break;
        }
        snprintf(r->paths[r->n], len, "%s/%s", dir, l.e[i].name);
        r->cls[r->n++] = c;
    }
    listing_free(&l);
    if (rc) return err_set(e, "out of memory scanning %s", dir);
    return 0;
}

// a/b into buf (twice the longest path the system opens); -1 with the
// message when it does not fit.
static int join(char *buf, size_t len, const char *a, const char *b, Err *e) {
    if (snprintf(buf, len, "%s/%s", a, b) < (int)len) return 0;
    return err_set(e, "%s: a folder's path is too long (%zu characters or more)", a, len);
}

// Decides the layout from the first two levels under root.
static int detect_layout(const char *root, const Listing *top, DatasetLayout want,
                         DatasetLayout *out, Err *e) {
    char path[8192], direct_ex[256] = "", nested_ex[256] = "";
    int n_direct = 0, n_nested = 0;
    for (int i = 0; i < top->n; i++) {
        if (!top->e[i].is_dir) continue;
        Listing l;
        if (join(path, sizeof path, root, top->e[i].name, e) || list_dir(path, &l, e)) return -1;
        if (count_images(&l) > 0) {
            if (!n_direct++) snprintf(direct_ex, sizeof direct_ex, "%s", top->e[i].name);
        } else if (count_dirs(&l) > 0) {
            if (!n_nested++) snprintf(nested_ex, sizeof nested_ex, "%s", top->e[i].name);
        }
        listing_free(&l);
    }
    int top_images = count_images(top);
    if (!n_direct && !n_nested) {
        if (top_images)
            return err_set(e,
                           "%s holds %d image%s directly but no class folders; put each "
                           "class's images in a folder of its own: " LAYOUT_HELP,
                           root, top_images, top_images == 1 ? "" : "s");
        return err_set(e, "%s has no images in its folders; " LAYOUT_HELP, root);
    }
    if (want == LAYOUT_CLASSES) {
        if (!n_direct)
            return err_set(e,
                           "%s: with --own-data every folder is a class holding images, but "
                           "'%s' holds only folders: this looks like the Omniglot layout "
                           "(ROOT/<alphabet>/<character>/<image>); drop --own-data",
                           root, nested_ex);
        *out = LAYOUT_CLASSES;
        return 0;
    }
    if (n_direct && n_nested)
        return err_set(e,
                       "%s mixes two layouts: '%s' holds images (a class folder) while '%s' "
                       "holds folders (an alphabet folder); " LAYOUT_HELP,
                       root, direct_ex, nested_ex);
    if (want == LAYOUT_OMNIGLOT && !n_nested)
        return err_set(e,
                       "%s: expected the Omniglot layout ROOT/<alphabet>/<character>/<image>, "
                       "but '%s' holds images directly (the own-classes layout)",
                       root, direct_ex);
    *out = n_nested ? LAYOUT_OMNIGLOT : LAYOUT_CLASSES;
    return 0;
}

static int raw_scan(Raw *r, Dataset *ds, const char *root, const Listing *top, Err *e) {
    char path[8192], name[1024];
    for (int i = 0; i < top->n; i++) {
        if (!top->e[i].is_dir) {
            ds->n_other_files++;
            continue;
        }
        if (join(path, sizeof path, root, top->e[i].name, e)) return -1;
        if (ds->layout == LAYOUT_CLASSES) {
            if (r->n_groups == 0 && raw_group(r, "") < 0) return err_set(e, "out of memory");
            if (raw_add_class_dir(r, ds, path, top->e[i].name, 0, e)) return -1;
            continue;
        }
        Listing l;
        if (list_dir(path, &l, e)) return -1;
        int g = raw_group(r, top->e[i].name), rc = g < 0 ? err_set(e, "out of memory") : 0;
        for (int j = 0; j < l.n && !rc; j++) {
            if (!l.e[j].is_dir) {
                ds->n_other_files++;
                continue;
            }
            char sub[8192];
            snprintf(name, sizeof name, "%s/%s", top->e[i].name, l.e[j].name);
            rc = join(sub, sizeof sub, path, l.e[j].name, e) ||
                 raw_add_class_dir(r, ds, sub, name, g, e);
        }
        listing_free(&l);
        if (rc) return -1;
    }
    return 0;
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define PROGRESS_INTERVAL 0.2  // seconds between two progress calls

// Decodes every file once, in parallel; ok[i] = 1 when it decodes. The
// first few failures are noted with their reasons.
static void decode_all(Dataset *ds, const Raw *r, unsigned char *ok, int threads,
                       DatasetProgressFn progress, void *ctx) {
    if (threads <= 0) threads = omp_get_num_procs();
    Err first[3];
    int n_bad = 0, done = 0;
    double last = seconds_now();  // thread 0's alone
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
    for (int i = 0; i < r->n; i++) {
        Image img;
        Err e;
        ok[i] = image_load(r->paths[i], &img, &e) == 0;
#pragma omp atomic
        done++;
        // One thread reports, so the callback needs no lock of its own.
        if (progress && omp_get_thread_num() == 0 && seconds_now() - last >= PROGRESS_INTERVAL) {
            int d;
#pragma omp atomic read
            d = done;
            progress(d, r->n, ctx);
            last = seconds_now();
        }
        if (ok[i]) {
            image_free(&img);
        } else {
#pragma omp critical
            {
                if (n_bad < 3) first[n_bad] = e;
                n_bad++;
            }
        }
    }
    if (progress) progress(r->n, r->n, ctx);
    ds->n_unreadable = n_bad;
    if (n_bad) {
        notef(ds, "%d file%s could not be decoded and %s left out:", n_bad, n_bad == 1 ? "" : "s",
              n_bad == 1 ? "is" : "are");
        for (int i = 0; i < n_bad && i < 3; i++) notef(ds, "  %s", first[i].msg);
        if (n_bad > 3) notef(ds, "  ... and %d more", n_bad - 3);
    }
}

void dataset_free(Dataset *ds) {
    for (int i = 0; i < ds->n_images; i++) free(ds->images[i].path);
    for (int i = 0; i < ds->n_classes; i++) free(ds->classes[i].name);
    for (int i = 0; i < ds->n_groups; i++) free(ds->groups[i]);
    free(ds->images);
    free(ds->classes);
    free(ds->groups);
    memset(ds, 0, sizeof *ds);
}

// Moves the surviving images and classes of r into ds: those with at
// least ds->min_class_images readable images (why: the reason, for the note).
static int build(Dataset *ds, Raw *r, const unsigned char *ok, const char *why, Err *e) {
    int *per = calloc(r->n_cls, sizeof *per), *gmap = malloc(r->n_groups * sizeof *gmap);
    ds->images = malloc((r->n ? r->n : 1) * sizeof *ds->images);
    ds->classes = malloc((r->n_cls ? r->n_cls : 1) * sizeof *ds->classes);
    ds->groups = malloc((r->n_groups ? r->n_groups : 1) * sizeof *ds->groups);
    if (!per || !gmap || !ds->images || !ds->classes || !ds->groups) {
        free(per);
        free(gmap);
        return err_set(e, "out of memory building the dataset");
    }
    // The scan adds a class's files together, so each class is one run of r.
    int *rfirst = calloc(r->n_cls + 1, sizeof *rfirst);
    if (!rfirst) {
        free(per);
        free(gmap);
        return err_set(e, "out of memory building the dataset");
    }
    for (int i = r->n - 1; i >= 0; i--) rfirst[r->cls[i]] = i;
    for (int i = 0; i < r->n; i++) per[r->cls[i]] += ok[i];
    for (int g = 0; g < r->n_groups; g++) gmap[g] = -1;
    char small[512] = "";
    for (int c = 0; c < r->n_cls; c++) {
        if (per[c] < ds->min_class_images) {
            if (ds->n_small_classes++ < 5) {
                size_t u = strlen(small);
                snprintf(small + u, sizeof small - u, "%s%s (%d)", u ? ", " : "", r->cls_names[c],
                         per[c]);
            }
            per[c] = -1;
            continue;
        }
        int g = r->cls_group[c];
        if (gmap[g] < 0) {
            gmap[g] = ds->n_groups;
            ds->groups[ds->n_groups++] = r->groups[g];
            r->groups[g] = NULL;
        }
        DatasetClass *dc = &ds->classes[ds->n_classes];
        dc->name = r->cls_names[c];
        r->cls_names[c] = NULL;
        dc->group = gmap[g];
        dc->first = ds->n_images;
        dc->count = 0;
        for (int i = rfirst[c]; i < r->n && r->cls[i] == c; i++) {
            if (!ok[i]) continue;
            DatasetImage *im = &ds->images[ds->n_images++];
            im->path = r->paths[i];
            r->paths[i] = NULL;
            im->cls = ds->n_classes;
            im->drawer = ds->layout == LAYOUT_OMNIGLOT ? dataset_drawer_of(im->path) : -1;
            dc->count++;
        }
        ds->n_classes++;
    }
    if (ds->n_small_classes)
        notef(ds, "%d class%s fewer than %d images and %s left out (%s): %s%s",
              ds->n_small_classes, ds->n_small_classes == 1 ? " has" : "es have",
              ds->min_class_images, ds->n_small_classes == 1 ? "is" : "are", why, small,
              ds->n_small_classes > 5 ? ", ..." : "");
    free(per);
    free(gmap);
    free(rfirst);
    return 0;
}

int dataset_scan(Dataset *ds, const char *root, DatasetLayout want, DatasetUse use,
                 int min_classes, int threads, Err *e) {
    return dataset_scan_progress(ds, root, want, use, min_classes, threads, NULL, NULL, e);
}

// The images a class needs for each use, and why (dataset.h).
static const struct {
    int min_images;
    const char *why;
} USE_NEEDS[] = {
    [DATASET_TRAINING] = {3, "a class must give a positive pair and a third image"},
    [DATASET_EVALUATION] = {2, "a class must give two different images: a trial's test image "
                               "and its support, or a same pair"},
};

int dataset_scan_progress(Dataset *ds, const char *root, DatasetLayout want, DatasetUse use,
                          int min_classes, int threads, DatasetProgressFn progress, void *ctx,
                          Err *e) {
    memset(ds, 0, sizeof *ds);
    snprintf(ds->root, sizeof ds->root, "%s", root);
    ds->min_class_images = USE_NEEDS[use].min_images;
    struct stat st;
    if (stat(root, &st) != 0)
        return err_set(e, "%s: %s; " LAYOUT_HELP, root, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return err_set(e, "%s is not a folder; " LAYOUT_HELP, root);
    Listing top;
    if (list_dir(root, &top, e)) return -1;
    if (top.n == 0) {
        listing_free(&top);
        return err_set(e, "%s is empty; " LAYOUT_HELP, root);
    }
    Raw r = {0};
    int rc = detect_layout(root, &top, want, &ds->layout, e);
    if (!rc) rc = raw_scan(&r, ds, root, &top, e);
    listing_free(&top);
    unsigned char *ok = NULL;
    if (!rc && r.n == 0) rc = err_set(e, "%s: no image files found; " LAYOUT_HELP, root);
    if (!rc && !(ok = malloc(r.n))) rc = err_set(e, "out of memory scanning %s", root);
    if (!rc) {
        decode_all(ds, &r, ok, threads, progress, ctx);
        rc = build(ds, &r, ok, USE_NEEDS[use].why, e);
    }
    free(ok);
    raw_free(&r);
    if (!rc && ds->n_other_files)
        notef(ds, "%d entr%s without an image extension %s ignored", ds->n_other_files,
              ds->n_other_files == 1 ? "y" : "ies", ds->n_other_files == 1 ? "was" : "were");
    if (!rc && ds->n_classes < min_classes) {
        char notes[sizeof ds->notes];
        notes_inline(ds->notes, notes);
        rc = err_set(e,
                     "%s: %d usable class%s (with at least %d readable images each), %d needed%s%s",
                     root, ds->n_classes, ds->n_classes == 1 ? "" : "es", ds->min_class_images,
                     min_classes, notes[0] ? "; " : "", notes);
    }
    if (rc) {
        dataset_free(ds);
        return -1;
    }
    return 0;
}

// ---- split -------------------------------------------------------------------

int dataset_split(const Dataset *ds, double val_ratio, int **train, int *n_train, int **val,
                  int *n_val, Err *e) {
    const int n = ds->n_images;
    int *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx) return err_set(e, "out of memory splitting the dataset");
    for (int i = 0; i < n; i++) idx[i] = i;
    Rng r;
    rng_seed(&r, 1);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(&r, (uint32_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    int nt = (int)(n * (1.0 - val_ratio));
    *train = malloc((nt ? nt : 1) * sizeof **train);
    *val = malloc((n - nt ? n - nt : 1) * sizeof **val);
    if (!*train || !*val) {
        free(*train);
        free(*val);
        free(idx);
        return err_set(e, "out of memory splitting the dataset");
    }
    memcpy(*train, idx, nt * sizeof *idx);
    memcpy(*val, idx + nt, (n - nt) * sizeof *idx);
    *n_train = nt;
    *n_val = n - nt;
    free(idx);
    return 0;
}

// ---- sampler -----------------------------------------------------------------

void sampler_free(PairSampler *s) {
    free(s->img);
    free(s->cls_first);
    free(s->cls_count);
    free(s->pos);
    free(s->neg);
    free(s->neg_at);
    free(s->grp_first);
    free(s->grp_count);
    memset(s, 0, sizeof *s);
}

int sampler_init(PairSampler *s, const Dataset *ds, const int *subset, int n, double same_group,
                 Err *e) {
    memset(s, 0, sizeof *s);
    s->ds = ds;
    s->same_group = same_group;
    const int C = ds->n_classes, G = ds->n_groups;
    s->img = malloc((n ? n : 1) * sizeof *s->img);
    s->cls_first = calloc(C + 1, sizeof *s->cls_first);
    s->cls_count = calloc(C + 1, sizeof *s->cls_count);
    s->pos = malloc((C + 1) * sizeof *s->pos);
    s->neg = malloc((C + 1) * sizeof *s->neg);
    s->neg_at = malloc((C + 1) * sizeof *s->neg_at);
    s->grp_first = calloc(G + 1, sizeof *s->grp_first);
    s->grp_count = calloc(G + 1, sizeof *s->grp_count);
    if (!s->img || !s->cls_first || !s->cls_count || !s->pos || !s->neg || !s->neg_at ||
        !s->grp_first || !s->grp_count) {
        sampler_free(s);
        return err_set(e, "out of memory for the pair sampler");
    }
    // Counting sort of the subset by class, keeping the subset's order within a class.
    for (int i = 0; i < n; i++) s->cls_count[ds->images[subset[i]].cls]++;
    for (int c = 1; c < C; c++) s->cls_first[c] = s->cls_first[c - 1] + s->cls_count[c - 1];
    int *fill = calloc(C + 1, sizeof *fill);
    if (!fill) {
        sampler_free(s);
        return err_set(e, "out of memory for the pair sampler");
    }
    for (int i = 0; i < n; i++) {
        int c = ds->images[subset[i]].cls;
        s->img[s->cls_first[c] + fill[c]++] = subset[i];
    }
    free(fill);
    // Classes are stored group by group (the scan adds them so), so each
    // group's negative classes form one run of neg.
    for (int c = 0; c < C; c++) {
        s->neg_at[c] = -1;
        if (s->cls_count[c] >= ds->min_class_images) s->pos[s->n_pos++] = c;
        if (s->cls_count[c] >= 1) {
            int g = ds->classes[c].group;
            if (!s->grp_count[g]) s->grp_first[g] = s->n_neg;
            s->grp_count[g]++;
            s->neg_at[c] = s->n_neg;
            s->neg[s->n_neg++] = c;
        }
    }
    if (s->n_pos == 0 || s->n_neg < 2) {
        int n_pos = s->n_pos, n_neg = s->n_neg;
        sampler_free(s);
        return err_set(e,
                       "%d image%s in %d class%s: pairs need a class with at least %d images "
                       "(found %d) and another class (found %d class%s)",
                       n, n == 1 ? "" : "s", n_neg, n_neg == 1 ? "" : "es",
                       ds->min_class_images, n_pos, n_neg, n_neg == 1 ? "" : "es");
    }
    return 0;
}

// A sample's three images of a class of n (n >= 2), as indices in [0,n):
// out[0] and out[1] distinct, out[2] distinct from both when n >= 3, else
// (an evaluation's class of 2) one of them. A partial Fisher-Yates
// without storage.
static void pick3(Rng *r, int n, int out[3]) {
    out[0] = (int)rng_below(r, n);
    out[1] = (int)rng_below(r, n - 1);
    if (out[1] >= out[0]) out[1]++;
    if (n == 2) {
        out[2] = out[rng_below(r, 2)];
        return;
    }
    int lo = out[0] < out[1] ? out[0] : out[1], hi = out[0] ^ out[1] ^ lo;
    out[2] = (int)rng_below(r, n - 2);
    if (out[2] >= lo) out[2]++;
    if (out[2] >= hi) out[2]++;
}

// A class of neg[first .. first+count) other than c (at position at_c, or -1 when outside).
static int other_class(const PairSampler *s, Rng *r, int first, int count, int at_c) {
    int inside = at_c >= first && at_c < first + count;
    int k = (int)rng_below(r, (uint32_t)(count - inside));
    if (inside && first + k >= at_c) k++;
    return s->neg[first + k];
}

void sampler_draw(const PairSampler *s, Rng *r, int out[4]) {
    int c = s->pos[rng_below(r, s->n_pos)], k[3];
    pick3(r, s->cls_count[c], k);
    const int *imgs = s->img + s->cls_first[c];
    out[0] = imgs[k[0]];
    out[1] = imgs[k[1]];
    out[2] = imgs[k[2]];
    int g = s->ds->classes[c].group, other;
    // The uniform draw is always made, so the stream of numbers (and so
    // every later draw) does not depend on whether the group had room.
    int same = rng_uniform(r) < s->same_group;
    if (same && s->grp_count[g] >= 2)
        other = other_class(s, r, s->grp_first[g], s->grp_count[g], s->neg_at[c]);
    else
        other = other_class(s, r, 0, s->n_neg, s->neg_at[c]);
    out[3] = s->img[s->cls_first[other] + rng_below(r, s->cls_count[other])];
}

uint64_t dataset_batch_seed(uint64_t seed, int stream, long epoch, long batch) {
    // splitmix64 finaliser over the fields, chained, so nearby tuples give
    // unrelated seeds.
    uint64_t x = seed;
    const uint64_t f[3] = {(uint64_t)stream, (uint64_t)epoch, (uint64_t)batch};
    for (int i = 0; i < 3; i++) {
        x ^= f[i] + 0x9E3779B97F4A7C15ull + (x << 6) + (x >> 2);
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
        x ^= x >> 31;
    }
    return x;
}

// ---- gallery listing ---------------------------------------------------------

typedef struct Visited {
    dev_t *dev;
    ino_t *ino;
    int n, cap;
} Visited;

typedef struct Gallery {
    char **paths;
    int n, cap, n_other;
    Visited seen;
} Gallery;

static int gallery_walk(Gallery *g, const char *dir, int depth, Err *e) {
    struct stat st;
    if (stat(dir, &st) != 0) return err_set(e, "%s: %s", dir, strerror(errno));
    // A folder reached twice (a symbolic link to an ancestor) is walked once.
    for (int i = 0; i < g->seen.n; i++)
        if (g->seen.dev[i] == st.st_dev && g->seen.ino[i] == st.st_ino) return 0;
    int cap = g->seen.cap;
    if (grow((void **)&g->seen.dev, &cap, g->seen.n, sizeof *g->seen.dev) ||
        grow((void **)&g->seen.ino, &g->seen.cap, g->seen.n, sizeof *g->seen.ino))
        return err_set(e, "out of memory listing %s", dir);
    g->seen.dev[g->seen.n] = st.st_dev;
    g->seen.ino[g->seen.n++] = st.st_ino;
    if (depth > 64) return err_set(e, "%s: folders nested more than 64 deep", dir);
    Listing l;
    if (list_dir(dir, &l, e)) return -1;
    int rc = 0;
    for (int i = 0; i < l.n && !rc; i++) {
        size_t len = strlen(dir) + strlen(l.e[i].name) + 2;
        char *p = malloc(len);
        if (!p) {
            rc = err_set(e, "out of memory listing %s", dir);
            break;
        }
        snprintf(p, len, "%s/%s", dir, l.e[i].name);
        if (l.e[i].is_dir) {
            rc = gallery_walk(g, p, depth + 1, e);
            free(p);
        } else if (!dataset_is_image_name(l.e[i].name)) {
            g->n_other++;
            free(p);
        } else if (grow((void **)&g->paths, &g->cap, g->n, sizeof *g->paths)) {
            free(p);
            rc = err_set(e, "out of memory listing %s", dir);
        } else {
            g->paths[g->n++] = p;
        }
    }
    listing_free(&l);
    return rc;
}

int dataset_list_images(const char *dir, char ***paths, int *n, int *n_other, Err *e) {
    Gallery g = {0};
    int rc = gallery_walk(&g, dir, 0, e);
    free(g.seen.dev);
    free(g.seen.ino);
    if (rc) {
        for (int i = 0; i < g.n; i++) free(g.paths[i]);
        free(g.paths);
        return -1;
    }
    *paths = g.paths;
    *n = g.n;
    *n_other = g.n_other;
    return 0;
}
