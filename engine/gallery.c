// qsort_r
#define _GNU_SOURCE
#include "gallery.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "atomicfile.h"
#include "dataset.h"
#include "h5attr.h"
#include "proxy.h"
#include "rng.h"

// The entries' bytes go to and from the file as they lie in memory, and
// the datasets say little-endian.
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gallery.c writes little-endian data as it lies in memory"
#endif

// ---- the model's identity ---------------------------------------------------------

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

int gallery_model_id(const Model *m, char out[17], Err *e) {
    const ModelSpec *s = &m->spec;
    // The fields one by one: the struct's padding is not part of the identity.
    const int arch[] = {s->input_size, s->widths[0], s->widths[1],     s->widths[2], s->widths[3],
                        s->widths[4],  s->hidden,    s->pre.letterbox, s->pre.invert};
    uint64_t h = fnv1a(0xcbf29ce484222325ull, arch, sizeof arch);
    float *host = malloc(m->n_params * sizeof(float));
    if (!host) return err_set(e, "out of memory for a copy of the weights");
    m->be->ops->download(m->be, host, m->params, m->n_params * sizeof(float));
    h = fnv1a(h, host, m->n_params * sizeof(float));
    free(host);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return backend_check(m->be, e);
}

void gallery_model_describe(const Model *m, char *buf, size_t len) {
    char spec[96];
    model_spec_describe(&m->spec, spec, sizeof spec);
    snprintf(buf, len, "%s, %d px%s%s", spec, m->spec.input_size,
             m->spec.pre.invert ? ", inverted input" : "",
             m->spec.pre.letterbox ? ", letterboxed" : "");
}

void gallery_arithmetic(const Backend *b, char *buf, size_t len) {
    snprintf(buf, len, "%s %s%s", b->is_cpu ? "cpu" : "cuda", backend_precision_name(b->precision),
             b->act == BACKEND_ACT_BF16 ? " with bf16 activations" : "");
}

// Fails, naming both, when g records another arithmetic than be's; the
// hint gives the options that compute in g's ("cuda tf32": --device cuda
// --precision tf32).
static int check_arithmetic(const Gallery *g, const Backend *be, Err *e) {
    char mine[64], device[16] = "", precision[16] = "", hint[160] = "";
    gallery_arithmetic(be, mine, sizeof mine);
    if (!g->arithmetic[0] || !strcmp(g->arithmetic, mine)) return 0;
    const int acts = strstr(g->arithmetic, "bf16 activations") != NULL;
    // tf32 on a GPU where NVIDIA_TF32_OVERRIDE=0 forbids it computes fp32:
    // the options alone would not give g's "cuda tf32".
    const int tf32_forbidden = backend_precision_effective(BACKEND_TF32, 1,
                                                           getenv("NVIDIA_TF32_OVERRIDE"), NULL) !=
                               BACKEND_TF32;
    if (sscanf(g->arithmetic, "%15s %15[a-z0-9]", device, precision) == 2)
        snprintf(hint, sizeof hint, "give --device %s --precision %s%s%s, or ", device, precision,
                 acts                                     ? " with SIAMESE_CUDA_ACTS=bf16"
                 : be->act == BACKEND_ACT_BF16 && !be->is_cpu ? " with SIAMESE_CUDA_ACTS=f32"
                                                          : "",
                 !strcmp(device, "cuda") && !strcmp(precision, "tf32") && tf32_forbidden
                     ? " without NVIDIA_TF32_OVERRIDE=0"
                     : "");
    return err_set(e,
                   "%s holds features computed in %s, not in %s as this run computes them (its "
                   "scores would differ from a fresh computation's in their last digits): %sindex "
                   "again in %s into another file",
                   g->path, g->arithmetic, mine, hint, mine);
}

int gallery_check_model(const Gallery *g, const Model *m, const char *model_path, Err *e) {
    char id[17], desc[160];
    if (gallery_model_id(m, id, e)) return -1;
    if (strcmp(id, g->model_id)) {
        gallery_model_describe(m, desc, sizeof desc);
        return err_set(e,
                       "%s was indexed with %s [%s], not with %s (%s) [%s]: give that --model, or "
                       "index again with this one into another file",
                       g->path, g->model, g->model_id, model_path, desc, id);
    }
    // The identity is what the file says: its rows must also be the size
    // every reader's buffers take from the model.
    if (g->feat_dim != m->feat_dim)
        return err_set(e, "%s: entries of %d features under the identity of %s, which makes %d "
                       "(a damaged index)", g->path, g->feat_dim, model_path, m->feat_dim);
    return check_arithmetic(g, m->be, e);
}

// ---- HDF5 helpers -----------------------------------------------------------------

// The datasets of an index: name, element type and size, rank, and where
// Gallery keeps its offset.
typedef struct DatasetDef {
    const char *name;
    H5T_class_t cls;
    size_t elem;
    int rank;
    size_t at;  // offsetof(Gallery, at_...)
} DatasetDef;

enum {
    DS_FEATURES,
    DS_CODES,
    DS_CODE_STEP,
    DS_READABLE,
    DS_SIZE,
    DS_MTIME,
    DS_PATH_OFFSETS,
    DS_PATHS,
    DS_COUNT
};

static const DatasetDef DATASETS[DS_COUNT] = {
    {"features", H5T_FLOAT, 4, 2, offsetof(Gallery, at_features)},
    {"codes", H5T_INTEGER, 1, 2, offsetof(Gallery, at_codes)},
    {"code_step", H5T_FLOAT, 4, 1, offsetof(Gallery, at_code_step)},
    {"readable", H5T_INTEGER, 1, 1, offsetof(Gallery, at_readable)},
    {"file_size", H5T_INTEGER, 8, 1, offsetof(Gallery, at_size)},
    {"file_mtime_ns", H5T_INTEGER, 8, 1, offsetof(Gallery, at_mtime)},
    {"path_offsets", H5T_INTEGER, 8, 1, offsetof(Gallery, at_path_offsets)},
    {"paths", H5T_INTEGER, 1, 1, offsetof(Gallery, at_paths)},
};

// The dimensions dataset d must have in an index of n entries.
static void dataset_dims(int d, const Gallery *g, hsize_t dims[2]) {
    dims[0] = d == DS_CODE_STEP      ? 1
              : d == DS_PATH_OFFSETS ? g->n + 1
              : d == DS_PATHS        ? g->paths_bytes
                                     : g->n;
    dims[1] = d == DS_CODES ? g->code_dim : g->feat_dim;
}

static size_t dataset_bytes(int d, const Gallery *g) {
    hsize_t dims[2];
    dataset_dims(d, g, dims);
    return dims[0] * (DATASETS[d].rank == 2 ? dims[1] : 1) * DATASETS[d].elem;
}

static off_t *at(Gallery *g, int d) { return (off_t *)((char *)g + DATASETS[d].at); }
static off_t at_const(const Gallery *g, int d) {
    return *(const off_t *)((const char *)g + DATASETS[d].at);
}

// ---- reading ----------------------------------------------------------------------

static int read_at(const Gallery *g, off_t off, void *buf, size_t n, Err *e) {
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = pread(g->fd, p, n, off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return err_set(e, "%s: %s", g->path,
                           r == 0 ? "the file ends early (truncated?)" : strerror(errno));
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

// Checks dataset d of the open file and notes its offset; the message says
// what is wrong.
static int open_dataset(hid_t file, Gallery *g, int d, Err *e) {
    const DatasetDef *def = &DATASETS[d];
    hsize_t want[2], dims[2] = {0, 0};
    dataset_dims(d, g, want);
    hid_t ds = H5Dopen2(file, def->name, H5P_DEFAULT);
    if (ds < 0) return err_set(e, "%s: the index has no '%s' dataset", g->path, def->name);
    hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds), dcpl = H5Dget_create_plist(ds);
    int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (rank == def->rank) H5Sget_simple_extent_dims(sp, dims, NULL);
    haddr_t off = H5Dget_offset(ds);
    int rc = 0;
    if (t < 0 || H5Tget_class(t) != def->cls || H5Tget_size(t) != def->elem ||
        H5Tget_order(t) != H5T_ORDER_LE)
        rc = err_set(e, "%s: '%s' holds another type than %zu-byte little-endian %s", g->path,
                     def->name, def->elem, def->cls == H5T_FLOAT ? "floats" : "integers");
    else if (rank != def->rank || dims[0] != want[0] || (rank == 2 && dims[1] != want[1]))
        rc = err_set(e, "%s: '%s' has %d dimensions (%llu, %llu), expected (%llu%s%llu)", g->path,
                     def->name, rank, (unsigned long long)dims[0], (unsigned long long)dims[1],
                     (unsigned long long)want[0], def->rank == 2 ? ", " : "",
                     def->rank == 2 ? (unsigned long long)want[1] : 0ull);
    else if (dcpl < 0 || H5Pget_layout(dcpl) != H5D_CONTIGUOUS || off == HADDR_UNDEF)
        rc = err_set(e, "%s: '%s' is not stored contiguously (not written by siamese index)",
                     g->path, def->name);
    else
        *at(g, d) = (off_t)off;
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Dclose(ds);
    return rc;
}

static int read_header(hid_t file, Gallery *g, Err *e) {
    int version = 0, F = 0;
    long long count = -1, paths_bytes = -1;
    if (h5attr_read_int(file, "siamese_index", &version))
        return err_set(e, "%s: not a gallery index (siamese index writes them)", g->path);
    if (version != GALLERY_FORMAT)
        return err_set(e, "%s: an index of format %d; this program reads format %d", g->path,
                       version, GALLERY_FORMAT);
    if (h5attr_read_int64(file, "count", &count) || count < 0 ||
        h5attr_read_int(file, "feat_dim", &F) || F < 1 ||
        h5attr_read_int(file, "code_dim", &g->code_dim) || g->code_dim < 1 ||
        h5attr_read_string(file, "model_id", g->model_id, sizeof g->model_id) ||
        h5attr_read_string(file, "model", g->model, sizeof g->model))
        return err_set(e,
                       "%s: the index's attributes (count, feat_dim, code_dim, model_id, "
                       "model) are missing or wrong",
                       g->path);
    // An index written before the arithmetic was recorded has none ("").
    if (h5attr_read_string(file, "arithmetic", g->arithmetic, sizeof g->arithmetic))
        g->arithmetic[0] = '\0';
    g->n = (long)count;
    g->feat_dim = F;
    // The paths' size comes from the dataset itself.
    hid_t ds = H5Dopen2(file, "paths", H5P_DEFAULT);
    hid_t sp = ds < 0 ? -1 : H5Dget_space(ds);
    hsize_t pb = 0;
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1) H5Sget_simple_extent_dims(sp, &pb, NULL);
    paths_bytes = (long long)pb;
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    g->paths_bytes = (long)paths_bytes;
    for (int d = 0; d < DS_COUNT; d++)
        if (open_dataset(file, g, d, e)) return -1;
    return 0;
}

int gallery_open(Gallery *g, const char *path, Err *e) {
    memset(g, 0, sizeof *g);
    g->fd = -1;
    snprintf(g->path, sizeof g->path, "%s", path);
    h5attr_quiet();
    struct stat st;
    if (stat(path, &st) != 0) return err_set(e, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return err_set(e, "%s: is a directory, not a gallery index", path);
    if (H5Fis_hdf5(path) <= 0)
        return err_set(e, "%s: not an HDF5 file, so not a gallery index", path);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return err_set(e, "%s: HDF5 cannot open it (truncated or damaged?)", path);
    int rc = read_header(file, g, e);
    H5Fclose(file);
    if (rc) return -1;
    g->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (g->fd < 0) return err_set(e, "%s: %s", path, strerror(errno));
    // Every dataset's bytes must be in the file: a truncated copy says so now.
    off_t end = 0;
    for (int d = 0; d < DS_COUNT; d++) {
        off_t last = at_const(g, d) + (off_t)dataset_bytes(d, g);
        if (last > end) end = last;
    }
    rc = 0;
    if (fstat(g->fd, &st) != 0 || st.st_size < end)
        rc = err_set(e, "%s: the file ends at byte %lld, its entries at %lld (truncated?)", path,
                     (long long)st.st_size, (long long)end);
    else if (read_at(g, g->at_code_step, &g->code_step, sizeof g->code_step, e))
        rc = -1;
    else if (!(g->code_step > 0))
        rc = err_set(e, "%s: the code step is %g, not a positive number (damaged?)", path,
                     g->code_step);
    if (rc) gallery_close(g);
    return rc;
}

void gallery_close(Gallery *g) {
    if (g->fd >= 0) close(g->fd);
    g->fd = -1;
}

int gallery_read_features(const Gallery *g, long i0, long count, float *out, Err *e) {
    const size_t row = (size_t)g->feat_dim * sizeof(float);
    return read_at(g, g->at_features + (off_t)(i0 * row), out, count * row, e);
}

int gallery_read_codes(const Gallery *g, long i0, long count, uint8_t *out, Err *e) {
    return read_at(g, g->at_codes + (off_t)i0 * g->code_dim, out, (size_t)count * g->code_dim, e);
}

int gallery_read_readable(const Gallery *g, long i0, long count, uint8_t *out, Err *e) {
    return read_at(g, g->at_readable + i0, out, (size_t)count, e);
}

int gallery_entry_path(const Gallery *g, long i, char *buf, size_t len, Err *e) {
    int64_t off[2];
    if (read_at(g, g->at_path_offsets + i * 8, off, sizeof off, e)) return -1;
    if (off[0] < 0 || off[1] <= off[0] || off[1] > g->paths_bytes ||
        (size_t)(off[1] - off[0]) > len)
        return err_set(e, "%s: entry %ld's path is damaged", g->path, i);
    if (read_at(g, g->at_paths + off[0], buf, (size_t)(off[1] - off[0]), e)) return -1;
    buf[off[1] - off[0] - 1] = '\0';
    return 0;
}

int gallery_entry_current(const Gallery *g, long i, const char *path, int *current, Err *e) {
    *current = 1;
    if (path[0] != '/') return 0;  // made-up entries (synthetic/NNN) have no file
    int64_t size, mtime;
    if (read_at(g, g->at_size + i * 8, &size, 8, e) || read_at(g, g->at_mtime + i * 8, &mtime, 8, e))
        return -1;
    struct stat st;
    *current = stat(path, &st) == 0 && st.st_size == size &&
               (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == mtime;
    return 0;
}

int gallery_find_path(const Gallery *g, const char *path, long *index, Err *e) {
    *index = -1;
    // Block by block: a block's paths lie together, after its offsets.
    const long block = 65536;
    const size_t plen = strlen(path) + 1;
    int64_t *offs = malloc((block + 1) * sizeof *offs);
    char *names = NULL;
    size_t cap = 0;
    int rc = offs ? 0 : err_set(e, "out of memory");
    for (long i0 = 0; !rc && *index < 0 && i0 < g->n; i0 += block) {
        long k = g->n - i0 < block ? g->n - i0 : block;
        if ((rc = read_at(g, g->at_path_offsets + i0 * 8, offs, (k + 1) * sizeof *offs, e))) break;
        if (offs[0] < 0 || offs[k] < offs[0] || offs[k] > g->paths_bytes) {
            rc = err_set(e, "%s: the path offsets are damaged", g->path);
            break;
        }
        size_t bytes = (size_t)(offs[k] - offs[0]);
        if (bytes > cap) {
            char *nn = realloc(names, bytes);
            if (!nn) {
                rc = err_set(e, "out of memory");
                break;
            }
            names = nn;
            cap = bytes;
        }
        if ((rc = read_at(g, g->at_paths + offs[0], names, bytes, e))) break;
        for (long i = 0; i < k; i++)
            if (offs[i] >= offs[0] && offs[i + 1] <= offs[k] &&
                (size_t)(offs[i + 1] - offs[i]) == plen &&
                !memcmp(names + (offs[i] - offs[0]), path, plen)) {
                *index = i0 + i;
                break;
            }
    }
    free(offs);
    free(names);
    return rc;
}

// ---- writing an index -------------------------------------------------------------

// A file of the folder being indexed.
typedef struct Listed {
    char *given;  // the path as listed (what is opened)
    char *path;   // absolute: the folder's real path and the rest as listed
    int64_t size, mtime_ns;
} Listed;

// The previous index's entries, in memory (everything but the features).
typedef struct OldIndex {
    Gallery g;
    int open;
    uint8_t *readable;
    int64_t *size, *mtime, *path_off;
    char *paths;
} OldIndex;

static void old_free(OldIndex *o) {
    if (o->open) gallery_close(&o->g);
    free(o->readable);
    free(o->size);
    free(o->mtime);
    free(o->path_off);
    free(o->paths);
    memset(o, 0, sizeof *o);
}

static int old_load(OldIndex *o, const char *path, const Model *m, const char *model_path, Err *e) {
    if (gallery_open(&o->g, path, e)) return -1;
    o->open = 1;
    if (gallery_check_model(&o->g, m, model_path, e)) return -1;
    const long n = o->g.n;
    o->readable = malloc(n + 1);
    o->size = malloc((n + 1) * 8);
    o->mtime = malloc((n + 1) * 8);
    o->path_off = malloc((n + 1) * 8);
    o->paths = malloc(o->g.paths_bytes + 1);
    if (!o->readable || !o->size || !o->mtime || !o->path_off || !o->paths)
        return err_set(e, "out of memory reading %s", path);
    if (read_at(&o->g, o->g.at_readable, o->readable, n, e) ||
        read_at(&o->g, o->g.at_size, o->size, n * 8, e) ||
        read_at(&o->g, o->g.at_mtime, o->mtime, n * 8, e) ||
        read_at(&o->g, o->g.at_path_offsets, o->path_off, (n + 1) * 8, e) ||
        read_at(&o->g, o->g.at_paths, o->paths, o->g.paths_bytes, e))
        return -1;
    for (long i = 0; i < n; i++)
        if (o->path_off[i] < 0 || o->path_off[i + 1] <= o->path_off[i] ||
            o->path_off[i + 1] > o->g.paths_bytes || o->paths[o->path_off[i + 1] - 1] != '\0')
            return err_set(e, "%s: entry %ld's path is damaged", path, i);
    return 0;
}

static const char *old_path(const OldIndex *o, long i) { return o->paths + o->path_off[i]; }

static int listed_cmp(const void *a, const void *b) {
    return strcmp(((const Listed *)a)->path, ((const Listed *)b)->path);
}

static int old_cmp(const void *a, const void *b, void *ctx) {
    return strcmp(old_path(ctx, *(const long *)a), old_path(ctx, *(const long *)b));
}

static void listed_free(Listed *l, int n) {
    for (int i = 0; i < n; i++) {
        free(l[i].given);
        free(l[i].path);
    }
    free(l);
}

// The image files under dir with their absolute paths, sizes and times,
// sorted by path; *root gets dir's real path.
static int list_folder(const char *dir, Listed **out, int *n_out, char *root, Err *e) {
    if (!realpath(dir, root)) return err_set(e, "%s: %s", dir, strerror(errno));
    char **given;
    int n, n_other;
    if (dataset_list_images(dir, &given, &n, &n_other, e)) return -1;
    Listed *l = calloc(n ? n : 1, sizeof *l);
    int rc = l ? 0 : err_set(e, "out of memory listing %s", dir);
    const size_t dlen = strlen(dir);
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct stat st;
        // A file gone since the listing is simply not indexed. A link that
        // leads nowhere (broken, a loop) is, with the link's own size and
        // time: as an entry that does not decode, it is named and tried
        // again at each update, where dropped it would go unsaid.
        if (rc || (stat(given[i], &st) != 0 && lstat(given[i], &st) != 0)) {
            free(given[i]);
            continue;
        }
        const char *rest = given[i] + dlen;
        while (*rest == '/') rest++;
        size_t len = strlen(root) + strlen(rest) + 2;
        l[k].given = given[i];
        l[k].path = malloc(len);
        if (!l[k].path) {
            rc = err_set(e, "out of memory listing %s", dir);
            free(given[i]);
            continue;
        }
        snprintf(l[k].path, len, "%s%s%s", root, strcmp(root, "/") ? "/" : "", rest);
        l[k].size = st.st_size;
        l[k].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        k++;
    }
    free(given);
    if (rc) {
        listed_free(l, k);
        return -1;
    }
    qsort(l, k, sizeof *l, listed_cmp);
    *out = l;
    *n_out = k;
    return 0;
}

// What the new index holds: the old entries kept (in their order), then
// the files to embed (in path order).
typedef struct Plan {
    long *keep;  // old entry numbers
    long n_keep;
    int *embed;  // listed file numbers
    long n_embed;
} Plan;

static int plan_update(const OldIndex *o, const Listed *l, int n_listed, const char *root, Plan *p,
                       GalleryUpdate *st, Err *e) {
    const long n_old = o->open ? o->g.n : 0;
    long *by_path = malloc((n_old + 1) * sizeof *by_path);
    unsigned char *keep = calloc(n_old + 1, 1);
    p->keep = malloc((n_old + 1) * sizeof *p->keep);
    p->embed = malloc((n_listed + 1) * sizeof *p->embed);
    if (!by_path || !keep || !p->keep || !p->embed) {
        free(by_path);
        free(keep);
        return err_set(e, "out of memory");
    }
    for (long i = 0; i < n_old; i++) by_path[i] = i;
    qsort_r(by_path, n_old, sizeof *by_path, old_cmp, (void *)o);
    // Both lists sorted by path: one walk pairs a file with its old entry.
    char prefix[PATH_MAX + 2];
    snprintf(prefix, sizeof prefix, "%s%s", root, strcmp(root, "/") ? "/" : "");
    const size_t plen = strlen(prefix);
    long j = 0;
    for (int i = 0; i < n_listed; i++) {
        while (j < n_old && strcmp(old_path(o, by_path[j]), l[i].path) < 0) j++;
        long old = j < n_old && !strcmp(old_path(o, by_path[j]), l[i].path) ? by_path[j] : -1;
        const int same = old >= 0 && o->size[old] == l[i].size && o->mtime[old] == l[i].mtime_ns;
        // A file that did not decode is tried again even when unchanged: what
        // kept it from decoding may have gone without touching its size or
        // time (its permissions, a decoder this program has gained).
        if (same && o->readable[old]) {
            keep[old] = 1;
        } else {
            p->embed[p->n_embed++] = i;
            if (same)
                st->retried++;
            else if (old >= 0)
                st->changed++;
            else
                st->added++;
        }
    }
    // Entries of other folders stay; those under this one whose file is
    // gone are dropped (changed ones were counted above).
    for (long i = 0; i < n_old; i++) {
        if (!keep[i] && strncmp(old_path(o, i), prefix, plen)) keep[i] = 1;
        if (keep[i]) p->keep[p->n_keep++] = i;
    }
    st->kept = p->n_keep;
    st->removed = n_old - p->n_keep - st->changed - st->retried;
    free(by_path);
    free(keep);
    return 0;
}

// Whether the file system and the process's file-size limit leave room
// for bytes more; the message says which does not.
static int check_room(const AtomicFile *f, size_t bytes, Err *e) {
    struct statvfs vfs;
    struct rlimit lim;
    const double mb = 1 << 20;
    if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < bytes)
        return err_set(e,
                       "%s: the index needs %.0f MB, over the file-size limit (ulimit -f) of "
                       "%.0f MB; %s",
                       f->path, bytes / mb, lim.rlim_cur / mb, atomicfile_outcome(f->path));
    if (fstatvfs(f->fd, &vfs) == 0 && (double)vfs.f_bavail * vfs.f_frsize < bytes)
        return err_set(e, "%s: the index needs %.0f MB, the disk has %.0f MB free; %s", f->path,
                       bytes / mb, (double)vfs.f_bavail * vfs.f_frsize / mb,
                       atomicfile_outcome(f->path));
    return 0;
}

// Creates the HDF5 file f->tmp with every dataset allocated (contiguous,
// never filled) and notes their offsets in g. HDF5 writes only its
// metadata here; the entries go in with pwrite. check_room has made sure
// the disk has room: a write of its own that fails is the one thing HDF5
// 1.10 does not survive (it crashes at exit over the half-closed file).
static int create_file(const AtomicFile *f, Gallery *g, const char *model_desc, Err *e) {
    hid_t file = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return err_set(e, "%s: HDF5 cannot create %s", f->path, f->tmp);
    int rc = h5attr_write_int(file, "siamese_index", GALLERY_FORMAT);
    rc |= h5attr_write_string(file, "model_id", g->model_id);
    rc |= h5attr_write_string(file, "model", model_desc);
    rc |= h5attr_write_int(file, "feat_dim", g->feat_dim);
    rc |= h5attr_write_int(file, "code_dim", g->code_dim);
    rc |= h5attr_write_int64(file, "count", g->n);
    if (g->arithmetic[0]) rc |= h5attr_write_string(file, "arithmetic", g->arithmetic);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);  // an offset now
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);    // and no write of a fill value
    for (int d = 0; d < DS_COUNT && !rc; d++) {
        const DatasetDef *def = &DATASETS[d];
        hsize_t dims[2];
        dataset_dims(d, g, dims);
        hid_t type = def->cls == H5T_FLOAT ? H5T_IEEE_F32LE
                     : def->elem == 8      ? H5T_STD_I64LE
                                           : H5T_STD_U8LE;
        hid_t sp = H5Screate_simple(def->rank, dims, NULL);
        hid_t ds = H5Dcreate2(file, def->name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        haddr_t off = ds < 0 ? HADDR_UNDEF : H5Dget_offset(ds);
        if (off == HADDR_UNDEF)
            rc = -1;
        else
            *at(g, d) = (off_t)off;
        if (ds >= 0) H5Dclose(ds);
        H5Sclose(sp);
    }
    H5Pclose(dcpl);
    if (H5Fclose(file) < 0) rc = -1;
    return rc ? err_set(e, "%s: HDF5 failed to lay out the index in %s", f->path, f->tmp) : 0;
}

// Made-up entries a block.
#define EMBED_BATCH 64

// The state of a write in progress.
typedef struct Writer {
    AtomicFile f;
    Gallery g;  // the new index's layout
    const Proxy *proxy;
    float top;       // the largest |v_j| f_j so far (proxy_max)
    long block;      // rows a block of copying or encoding
    float *feats;    // (block,F)
    uint8_t *codes;  // (block,C)
    const volatile sig_atomic_t *stop;
    // An update: the file it read (was; absent when !existed), which must
    // still be there when it replaces it.
    int update, existed;
    struct stat was;
} Writer;

// The message of a stop asked by a signal (here or on another rank).
static int interrupted_now(const Writer *w, Err *e) {
    return err_set(e, "%s: interrupted; %s", w->f.path, atomicfile_outcome(w->f.path));
}

// Whether a signal asked to stop (then the message says so).
static int interrupted(const Writer *w, Err *e) {
    return w->stop && *w->stop ? interrupted_now(w, e) : 0;
}

// Whether the file an update read is still the one at its path (or still
// absent): two updates of one index at once (two folders indexed into it
// side by side) each read the same file, and the later rename would drop
// the other's entries without a word. The window left, between this check
// and the rename, is microseconds against the minutes of an update.
static int unchanged_since_read(const Writer *w, Err *e) {
    struct stat now;
    const int exists = stat(w->g.path, &now) == 0;
    if (!w->update || (exists == w->existed &&
                       (!exists || (now.st_dev == w->was.st_dev && now.st_ino == w->was.st_ino &&
                                    now.st_size == w->was.st_size &&
                                    now.st_mtim.tv_sec == w->was.st_mtim.tv_sec &&
                                    now.st_mtim.tv_nsec == w->was.st_mtim.tv_nsec))))
        return 0;
    return err_set(e,
                   "%s was %s by another process while this update ran (another 'siamese "
                   "index' of it?): this update is dropped, so as not to drop that one's; run "
                   "it again",
                   w->g.path, w->existed ? "replaced" : "created");
}

static int write_rows(Writer *w, int d, long row, const void *data, long count, Err *e) {
    const size_t row_bytes = d == DS_FEATURES ? (size_t)w->g.feat_dim * sizeof(float)
                             : d == DS_CODES  ? (size_t)w->g.code_dim
                                              : DATASETS[d].elem;
    return atomicfile_pwrite(&w->f, data, count * row_bytes, at_const(&w->g, d) + row * row_bytes,
                             e);
}

// The kept entries' features (the first rows), copied from the old index
// in runs of consecutive rows.
static int copy_kept(Writer *w, const OldIndex *o, const Plan *p, Err *e) {
    for (long i = 0; i < p->n_keep;) {
        if (interrupted(w, e)) return -1;
        long run = 1;
        while (i + run < p->n_keep && run < w->block && p->keep[i + run] == p->keep[i] + run) run++;
        if (gallery_read_features(&o->g, p->keep[i], run, w->feats, e)) return -1;
        w->top = proxy_max(w->proxy, w->feats, run, w->top);
        if (write_rows(w, DS_FEATURES, i, w->feats, run, e)) return -1;
        i += run;
    }
    return 0;
}

// Where new entries go: after the kept ones (at), their readable flags
// into readable, the first undecodable files' messages into st.
typedef struct NewRows {
    Writer *w;
    long at;
    uint8_t *readable;
    GalleryUpdate *st;
} NewRows;

// An EvalTake: files [first, first + count) of the plan's, into the index.
static int take_new(long first, long count, const float *feats, const unsigned char *ok,
                    const EvalWhy *why, void *ctx, Err *e) {
    NewRows *t = ctx;
    GalleryUpdate *st = t->st;
    memcpy(t->readable + t->at + first, ok, count);
    for (long i = 0; i < count; i++)
        if (!ok[i] && st->unreadable++ < GALLERY_NAMED)
            memcpy(st->unreadable_msg[st->unreadable - 1], why[i], sizeof why[i]);
    t->w->top = proxy_max(t->w->proxy, feats, count, t->w->top);
    return write_rows(t->w, DS_FEATURES, t->at + first, feats, count, e);
}

// Where the features of new entries come from: their images (index), or
// made up (benchmarks). embed gives those of the files p->embed to take,
// a block at a time, and fails with *stopped set when a signal stopped it.
typedef struct Source {
    int (*embed)(struct Source *s, Writer *w, const Listed *l, const Plan *p, NewRows *t,
                 const EvalOpts *o, int *stopped, Err *e);
    Model *m;
    uint64_t seed;  // made up: the features' seed,
    float *protos;  // and their cluster centres (SYNTH_CLUSTERS,F)
} Source;

// The images, embedded by the ranks of o->dist together (eval_embed_shared).
static int embed_images(Source *s, Writer *w, const Listed *l, const Plan *p, NewRows *t,
                        const EvalOpts *o, int *stopped, Err *e) {
    const char **given = malloc((p->n_embed + 1) * sizeof *given);
    if (!given) return err_set(e, "out of memory");
    for (long i = 0; i < p->n_embed; i++) given[i] = l[p->embed[i]].given;
    int rc = eval_embed_shared(s->m, given, p->n_embed, o, w->stop, stopped, take_new, t, e);
    free(given);
    return rc;
}

static int embed_new(Writer *w, Source *src, const Listed *l, const Plan *p, uint8_t *readable,
                     const EvalOpts *o, GalleryUpdate *st, Err *e) {
    NewRows t = {w, p->n_keep, readable, st};
    int stopped = 0;
    int rc = src->embed(src, w, l, p, &t, o, &stopped, e);
    if (rc && stopped) {
        st->stopped = stopped;
        interrupted_now(w, e);
    }
    // The other ranks have done their part (the index is rank 0's to write).
    eval_embed_done(o);
    return rc;
}

// The codes of every entry, from the features just written (read back
// from the new file) and the step their largest value sets.
static int write_codes(Writer *w, Err *e) {
    float step = w->top > 0 ? w->top / 255.0f : 1.0f;  // all zeros: any step will do
    if (atomicfile_pwrite(&w->f, &step, sizeof step, w->g.at_code_step, e)) return -1;
    w->g.fd = w->f.fd;
    for (long r = 0; r < w->g.n; r += w->block) {
        if (interrupted(w, e)) return -1;
        long k = w->g.n - r < w->block ? w->g.n - r : w->block;
        if (gallery_read_features(&w->g, r, k, w->feats, e)) return -1;
        proxy_encode(w->proxy, step, w->feats, k, w->codes);
        if (write_rows(w, DS_CODES, r, w->codes, k, e)) return -1;
    }
    return 0;
}

// The per-entry arrays: readable flags, sizes, times, paths.
static int write_entries(Writer *w, const OldIndex *o, const Listed *l, const Plan *p,
                         const uint8_t *readable, Err *e) {
    const long n = w->g.n;
    int64_t *size = malloc(n * 8), *mtime = malloc(n * 8), *off = malloc((n + 1) * 8);
    char *paths = malloc(w->g.paths_bytes);
    int rc = size && mtime && off && paths ? 0 : err_set(e, "out of memory");
    if (!rc) off[0] = 0;
    for (long i = 0; !rc && i < n; i++) {
        const char *path;
        if (i < p->n_keep) {
            long k = p->keep[i];
            size[i] = o->size[k];
            mtime[i] = o->mtime[k];
            path = old_path(o, k);
        } else {
            const Listed *f = &l[p->embed[i - p->n_keep]];
            size[i] = f->size;
            mtime[i] = f->mtime_ns;
            path = f->path;
        }
        size_t len = strlen(path) + 1;
        memcpy(paths + off[i], path, len);
        off[i + 1] = off[i] + (int64_t)len;
    }
    if (!rc) rc = write_rows(w, DS_READABLE, 0, readable, n, e);
    if (!rc) rc = write_rows(w, DS_SIZE, 0, size, n, e);
    if (!rc) rc = write_rows(w, DS_MTIME, 0, mtime, n, e);
    if (!rc) rc = write_rows(w, DS_PATH_OFFSETS, 0, off, n + 1, e);
    if (!rc) rc = write_rows(w, DS_PATHS, 0, paths, w->g.paths_bytes, e);
    free(size);
    free(mtime);
    free(off);
    free(paths);
    return rc;
}

// Writes the index w->g.path (its layout in w->g but for the counts) of
// the old entries p->keep and the files p->embed, features from src.
static int write_index(Writer *w, const Model *m, const char *model_path, const OldIndex *old,
                       const Listed *l, const Plan *p, Source *src, const EvalOpts *o,
                       GalleryUpdate *st, Err *e) {
    Proxy proxy;
    if (proxy_init(&proxy, m, e)) return -1;
    Gallery *g = &w->g;
    char desc[160], model_desc[sizeof g->model];
    g->n = p->n_keep + p->n_embed;
    g->feat_dim = m->feat_dim;
    g->code_dim = proxy.code_dim;
    gallery_model_describe(m, desc, sizeof desc);
    snprintf(model_desc, sizeof model_desc, "%s (%s)", model_path, desc);
    for (long i = 0; i < p->n_keep; i++)
        g->paths_bytes += old->path_off[p->keep[i] + 1] - old->path_off[p->keep[i]];
    for (long i = 0; i < p->n_embed; i++) g->paths_bytes += strlen(l[p->embed[i]].path) + 1;
    w->proxy = &proxy;
    w->feats = malloc(w->block * g->feat_dim * sizeof(float));
    w->codes = malloc(w->block * g->code_dim);
    uint8_t *readable = malloc(g->n);
    int rc = w->feats && w->codes && readable ? 0 : err_set(e, "out of memory");
    if (!rc) rc = gallery_model_id(m, g->model_id, e);
    // Entries kept from an index that recorded no arithmetic may be any
    // arithmetic's: the new index does not claim one for them.
    st->unrecorded = p->n_keep > 0 && old->open && !old->g.arithmetic[0];
    if (!st->unrecorded) gallery_arithmetic(m->be, g->arithmetic, sizeof g->arithmetic);
    for (long i = 0; !rc && i < p->n_keep; i++) readable[i] = old->readable[p->keep[i]];
    size_t bytes = 1 << 20;  // HDF5's metadata: a few KB
    for (int d = 0; d < DS_COUNT; d++) bytes += dataset_bytes(d, g);
    if (!rc && !(rc = atomicfile_begin(&w->f, g->path, e))) {
        rc = check_room(&w->f, bytes, e);
        if (!rc) rc = create_file(&w->f, g, model_desc, e);
        // (The new entries first: the other ranks embed while this one
        // copies nothing, and are free once they are done.)
        if (!rc) rc = embed_new(w, src, l, p, readable, o, st, e);
        if (!rc) rc = copy_kept(w, old, p, e);
        if (!rc) rc = write_codes(w, e);
        if (!rc) rc = write_entries(w, old, l, p, readable, e);
        if (!rc) rc = interrupted(w, e);
        if (!rc) rc = unchanged_since_read(w, e);
        if (!rc)
            rc = atomicfile_commit(&w->f, e);
        else
            atomicfile_abort(&w->f);
    }
    st->entries = g->n;
    free(readable);
    free(w->feats);
    free(w->codes);
    proxy_free(&proxy);
    return rc;
}

int gallery_index(Model *m, const char *model_path, const char *dir, const char *out,
                  const EvalOpts *o, const volatile sig_atomic_t *stop, GalleryUpdate *st, Err *e) {
    memset(st, 0, sizeof *st);
    h5attr_quiet();
    Writer w = {.block = 1024, .stop = stop, .update = 1};
    snprintf(w.g.path, sizeof w.g.path, "%s", out);
    Source src = {.embed = embed_images, .m = m};
    OldIndex old = {0};
    Listed *l = NULL;
    Plan p = {0};
    int n_listed = 0;
    char root[PATH_MAX];
    struct stat sb;
    int rc = stat(out, &sb) == 0 ? old_load(&old, out, m, model_path, e) : 0;
    // What was read, from the descriptor read: a rename between the stat
    // and the open has then been read.
    w.existed = old.open;
    if (!rc && old.open && fstat(old.g.fd, &w.was) != 0)
        rc = err_set(e, "%s: %s", out, strerror(errno));
    if (!rc) rc = list_folder(dir, &l, &n_listed, root, e);
    if (!rc) rc = plan_update(&old, l, n_listed, root, &p, st, e);
    if (!rc && p.n_keep + p.n_embed == 0) rc = err_set(e, "%s: no image files found", dir);
    // Nothing new, changed or removed: the index is already this one, and
    // writing it again would copy every entry (gigabytes at a million).
    const int same = old.open && p.n_embed == 0 && st->removed == 0;
    if (!rc && same) {
        st->entries = old.g.n;
        st->unrecorded = !old.g.arithmetic[0];
    }
    if (!rc && !same) rc = write_index(&w, m, model_path, &old, l, &p, &src, o, st, e);
    old_free(&old);
    if (l) listed_free(l, n_listed);
    free(p.keep);
    free(p.embed);
    return rc;
}

// ---- made-up entries, for benchmarks ----------------------------------------------

#define SYNTH_CLUSTERS 1024

// Features shaped as a trained backbone's (ReLU outputs: three quarters
// zeros, the rest about exponential with mean 0.2), in clusters, so that
// an entry has near neighbours as a drawing has other drawings of its
// character: entry i is a cluster's centre with a fifth of its values
// redrawn. Deterministic in (seed, i).
static void synth_row(const Source *s, int F, long i, float *f) {
    Rng r;
    rng_seed(&r, s->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(i + 1)));
    const float *c = s->protos + (size_t)rng_below(&r, SYNTH_CLUSTERS) * F;
    for (int j = 0; j < F; j++) {
        float u = rng_uniform(&r);
        f[j] = u < 0.8f                  ? c[j]
               : rng_uniform(&r) < 0.25f ? -0.2f * logf(1.0f - rng_uniform(&r))
                                         : 0.0f;
    }
}

// Made-up entries (in this process): entry i's features are synth_row's i.
static int embed_synthetic(Source *s, Writer *w, const Listed *l, const Plan *p, NewRows *t,
                           const EvalOpts *o, int *stopped, Err *e) {
    const int F = s->m->feat_dim;
    uint8_t ok[EMBED_BATCH];
    memset(ok, 1, sizeof ok);
    for (long b0 = 0; b0 < p->n_embed; b0 += EMBED_BATCH) {
        const long k = p->n_embed - b0 < EMBED_BATCH ? p->n_embed - b0 : EMBED_BATCH;
        for (long i = 0; i < k; i++) synth_row(s, F, p->embed[b0 + i], w->feats + i * F);
        if (take_new(b0, k, w->feats, ok, NULL, t, e)) return -1;
        if (o && o->progress) o->progress("entries made", b0 + k, p->n_embed, o->ctx);
    }
    return 0;
}

int gallery_index_synthetic(Model *m, const char *model_path, long n, uint64_t seed,
                            const char *out, const EvalOpts *o, GalleryUpdate *st, Err *e) {
    memset(st, 0, sizeof *st);
    h5attr_quiet();
    const int F = m->feat_dim;
    Writer w = {.block = 1024};
    snprintf(w.g.path, sizeof w.g.path, "%s", out);
    Source src = {.embed = embed_synthetic, .m = m, .seed = seed};
    OldIndex none = {0};
    Plan p = {NULL, 0, malloc(n * sizeof *p.embed), n};
    Listed *l = calloc(n, sizeof *l);
    src.protos = malloc((size_t)SYNTH_CLUSTERS * F * sizeof(float));
    int rc = p.embed && l && src.protos ? 0 : err_set(e, "out of memory for %ld entries", n);
    Rng r;
    rng_seed(&r, seed);
    for (long i = 0; !rc && i < (long)SYNTH_CLUSTERS * F; i++)
        src.protos[i] = rng_uniform(&r) < 0.25f ? -0.2f * logf(1.0f - rng_uniform(&r)) : 0.0f;
    for (long i = 0; !rc && i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "synthetic/%09ld", i);
        if (!(l[i].path = strdup(name))) rc = err_set(e, "out of memory for %ld entries", n);
        p.embed[i] = (int)i;
    }
    st->added = n;
    if (!rc) rc = write_index(&w, m, model_path, &none, l, &p, &src, o, st, e);
    if (l) listed_free(l, (int)n);
    free(p.embed);
    free(src.protos);
    return rc;
}
