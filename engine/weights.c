#include "weights.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "h5attr.h"
#include "text.h"

// ---- reading helpers -------------------------------------------------------

typedef struct StrList {
    char **s;
    int n;
} StrList;

static void strlist_free(StrList *l) {
    for (int i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    l->s = NULL;
    l->n = 0;
}

static int strlist_push(StrList *l, const char *s, size_t len) {
    char **ns = realloc(l->s, (l->n + 1) * sizeof *ns);
    if (!ns) return -1;
    l->s = ns;
    // Fixed-length strings are NUL-padded (numpy 'S'), or space-padded.
    while (len && (s[len - 1] == '\0' || s[len - 1] == ' ')) len--;
    size_t n = strnlen(s, len);
    if (!(l->s[l->n] = malloc(n + 1))) return -1;
    memcpy(l->s[l->n], s, n);
    l->s[l->n][n] = '\0';
    l->n++;
    return 0;
}

// Appends the strings of one attribute (fixed or variable length, any rank).
static int read_string_attr(hid_t loc, const char *name, StrList *out) {
    int rc = -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a), mt = -1;
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (t < 0 || sp < 0 || n < 0) goto done;
    if (H5Sget_simple_extent_type(sp) == H5S_NULL || n == 0) {
        rc = 0;  // an empty list (a layer without weights)
        goto done;
    }
    if (H5Tget_class(t) != H5T_STRING) goto done;
    mt = H5Tcopy(H5T_C_S1);
    if (H5Tis_variable_str(t) > 0) {
        char **buf = calloc(n, sizeof *buf);
        H5Tset_size(mt, H5T_VARIABLE);
        if (buf && H5Aread(a, mt, buf) >= 0) {
            rc = 0;
            for (hssize_t i = 0; i < n && !rc; i++)
                rc = strlist_push(out, buf[i] ? buf[i] : "", buf[i] ? strlen(buf[i]) : 0);
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
        }
        free(buf);
    } else {
        size_t sz = H5Tget_size(t);
        char *buf = calloc(n, sz);
        H5Tset_size(mt, sz);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
        if (buf && H5Aread(a, mt, buf) >= 0) {
            rc = 0;
            for (hssize_t i = 0; i < n && !rc; i++) rc = strlist_push(out, buf + i * sz, sz);
        }
        free(buf);
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return rc;
}

// An attribute Keras may have split into name0, name1, ... (over 64 KB).
// Returns 0, or -1 when neither form exists or it cannot be read.
static int read_string_list(hid_t loc, const char *name, StrList *out) {
    if (H5Aexists(loc, name) > 0) return read_string_attr(loc, name, out);
    char part[128];
    int k = 0;
    for (;; k++) {
        snprintf(part, sizeof part, "%s%d", name, k);
        if (H5Aexists(loc, part) <= 0) break;
        if (read_string_attr(loc, part, out)) return -1;
    }
    return k ? 0 : -1;
}

// ---- the file as a list of layers -----------------------------------------

typedef struct FileLayer {
    char *name;
    StrList weights;     // weight_names, in order
    int rank0;           // rank of the first weight (4 conv, 2 dense), 0 if none
    hsize_t dims0[4];
} FileLayer;

typedef struct WFile {
    const char *path;
    hid_t file, root;    // root is "/" or "/model_weights"
    FileLayer *layers;
    int n_layers;
    int dense[2];        // indices of the hidden and output Dense layers, -1 if absent
} WFile;

static void wfile_close(WFile *f) {
    for (int i = 0; i < f->n_layers; i++) {
        free(f->layers[i].name);
        strlist_free(&f->layers[i].weights);
    }
    free(f->layers);
    if (f->root >= 0) H5Gclose(f->root);
    if (f->file >= 0) H5Fclose(f->file);
    memset(f, 0, sizeof *f);
    f->file = f->root = -1;
}

static int dataset_shape(hid_t grp, const char *name, int *rank, hsize_t dims[4]) {
    hid_t d = H5Dopen2(grp, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(sp);
    if (r >= 0 && r <= 4) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    if (r < 0 || r > 4) return -1;
    *rank = r;
    return 0;
}

static const char *fmt_dims(char *buf, size_t len, int rank, const hsize_t *dims) {
    int o = snprintf(buf, len, "(");
    for (int i = 0; i < rank && o < (int)len; i++)
        o += snprintf(buf + o, len - o, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
    if (o < (int)len) snprintf(buf + o, len - o, "%s)", rank == 1 ? "," : "");
    return buf;
}

// The file size an HDF5 file's superblock records (absolute: its base
// address plus its end-of-file address), or -1 when no superblock is found
// or it has a layout this does not know. HDF5 refuses a file shorter than
// that with a generic error; reading it first lets the message say
// "truncated" and how much is missing.
static long long hdf5_recorded_size(FILE *fp, long long file_size) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char b[64];
    // The superblock sits at 0, 512, 1024, 2048... (after a user block).
    for (long long at = 0; at + (long long)sizeof b <= file_size || at == 0; at = at ? at * 2 : 512) {
        if (fseeko(fp, at, SEEK_SET) || fread(b, 1, sizeof b, fp) < 32) return -1;
        if (memcmp(b, sig, 8)) continue;
        int version = b[8], osize, pos;
        if (version <= 1) {
            osize = b[13];
            pos = version == 0 ? 24 : 28;  // fixed fields before the addresses
        } else if (version <= 3) {
            osize = b[9];
            pos = 12;
        } else {
            return -1;
        }
        if (osize != 4 && osize != 8) return -1;
        // Addresses: base, then (v0/1: free-space; v2/3: superblock
        // extension), then end of file; little-endian.
        unsigned long long base = 0, eof = 0;
        for (int i = osize - 1; i >= 0; i--) {
            base = base << 8 | b[pos + i];
            eof = eof << 8 | b[pos + 2 * osize + i];
        }
        if (base > (1ULL << 62) || eof > (1ULL << 62)) return -1;
        return (long long)(base + eof);
    }
    return -1;
}

static int wfile_open(WFile *f, const char *path, Err *e) {
    h5attr_quiet();
    memset(f, 0, sizeof *f);
    f->file = f->root = -1;
    f->path = path;
    f->dense[0] = f->dense[1] = -1;
    struct stat st;
    if (stat(path, &st) != 0)
        return err_set(e, "%s: cannot open weights file: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return err_set(e, "%s: is a directory, not a weights file", path);
    if (access(path, R_OK) != 0)
        return err_set(e, "%s: cannot read weights file: %s", path, strerror(errno));
    if (st.st_size == 0) return err_set(e, "%s: the weights file is empty", path);
    if (H5Fis_hdf5(path) <= 0)
        return err_set(e, "%s: not an HDF5 file (expected Keras .h5 weights)", path);
    FILE *fp = fopen(path, "rb");
    long long recorded = fp ? hdf5_recorded_size(fp, (long long)st.st_size) : -1;
    if (fp) fclose(fp);
    if (recorded > (long long)st.st_size)
        return err_set(e, "%s: the HDF5 file is truncated: it has %lld bytes, its header says %lld",
                       path, (long long)st.st_size, recorded);
    f->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->file < 0)
        return err_set(e, "%s: the HDF5 file is corrupt (HDF5 cannot open it)", path);
    int nested = H5Lexists(f->file, "model_weights", H5P_DEFAULT) > 0;
    f->root = H5Gopen2(f->file, nested ? "model_weights" : "/", H5P_DEFAULT);
    StrList names = {0};
    if (f->root < 0 || read_string_list(f->root, "layer_names", &names)) {
        // A gallery index (engine/gallery.c) is HDF5 too, and sits beside
        // the models: say what it is and where it goes.
        const int index = H5Aexists(f->file, "model_id") > 0 && H5Aexists(f->file, "feat_dim") > 0;
        wfile_close(f);
        if (index)
            return err_set(e,
                           "%s is a gallery index (written by 'siamese index'), not model "
                           "weights: search it with 'siamese rank QUERY %s'",
                           path, path);
        return err_set(e,
                       "%s: no 'layer_names' attribute: not a Keras weights file (save_weights or "
                       "model.save layout)",
                       path);
    }
    f->layers = calloc(names.n ? names.n : 1, sizeof *f->layers);
    if (!f->layers) {
        strlist_free(&names);
        wfile_close(f);
        return err_set(e, "out of memory reading %s", path);
    }
    for (int i = 0; i < names.n; i++) {
        FileLayer *l = &f->layers[f->n_layers++];
        l->name = names.s[i];
        names.s[i] = NULL;
        hid_t g = H5Gopen2(f->root, l->name, H5P_DEFAULT);
        if (g < 0 || read_string_list(g, "weight_names", &l->weights)) {
            if (g >= 0) H5Gclose(g);
            strlist_free(&names);
            int rc = err_set(e, "%s: layer '%s' is listed but its group or weight_names is missing "
                             "(truncated or corrupt file)", path, l->name);
            wfile_close(f);
            return rc;
        }
        if (l->weights.n && dataset_shape(g, l->weights.s[0], &l->rank0, l->dims0)) {
            H5Gclose(g);
            strlist_free(&names);
            int rc = err_set(e, "%s: layer '%s': weight '%s' cannot be read (truncated or corrupt "
                             "file)", path, l->name, l->weights.s[0]);
            wfile_close(f);
            return rc;
        }
        H5Gclose(g);
    }
    strlist_free(&names);
    // Dense layers in topological order: the hidden one, then the output one.
    int nd = 0;
    for (int i = 0; i < f->n_layers; i++)
        if (f->layers[i].rank0 == 2 && nd < 2) f->dense[nd++] = i;
    // A lone Dense layer (a partial file for train --model-path) does not
    // say which of the two it is: the output layer has 1 unit, so a layer
    // of 1 unit is taken for it, any other for the hidden layer. (Only a
    // model whose hidden layer has 1 unit too can tell otherwise:
    // wfile_place_lone_dense.)
    if (nd == 1 && f->layers[f->dense[0]].dims0[1] == 1) {
        f->dense[1] = f->dense[0];
        f->dense[0] = -1;
    }
    return 0;
}

// A lone Dense layer of 1 unit is also the shape of the hidden layer of a
// model with 1 hidden unit: given the model, the layer takes the one role
// whose kernel shape it has (when it has both, or neither, wfile_open's
// guess stands, and a misfit is reported against that role).
static void wfile_place_lone_dense(WFile *f, const Model *m) {
    if ((f->dense[0] >= 0) == (f->dense[1] >= 0)) return;  // both or none
    const int lone = f->dense[0] >= 0 ? f->dense[0] : f->dense[1];
    const FileLayer *fl = &f->layers[lone];
    int fits[2] = {0, 0}, k = 0;
    for (int i = 0; i < m->n_layers && k < 2; i++)
        if (m->layers[i].kind == LAYER_DENSE)
            fits[k++] = fl->dims0[0] == (hsize_t)m->layers[i].C &&
                        fl->dims0[1] == (hsize_t)m->layers[i].K;
    if (fits[0] == fits[1]) return;
    f->dense[0] = fits[0] ? lone : -1;
    f->dense[1] = fits[1] ? lone : -1;
}

static FileLayer *wfile_layer(WFile *f, const char *name) {
    for (int i = 0; i < f->n_layers; i++)
        if (!strcmp(f->layers[i].name, name)) return &f->layers[i];
    return NULL;
}

// The file layer that plays the part of model layer l.
static FileLayer *wfile_match(WFile *f, const Layer *l, int dense_index) {
    if (l->kind == LAYER_DENSE) return f->dense[dense_index] >= 0 ? &f->layers[f->dense[dense_index]] : NULL;
    return wfile_layer(f, l->name);
}

// "conv1 (7,7,3,64), bn_conv1 (64,), ... and 3 more": the layers that hold
// weights, with their first weight's shape, to say what a file is.
static void describe_layers(const WFile *f, char *buf, size_t len) {
    int o = 0, shown = 0, total = 0;
    char dims[64];
    buf[0] = '\0';
    for (int i = 0; i < f->n_layers; i++) {
        const FileLayer *l = &f->layers[i];
        if (!l->weights.n) continue;
        total++;
        if (shown == 6 || o >= (int)len - 1) continue;
        o += snprintf(buf + o, len - o, "%s%.40s %s", shown ? ", " : "", l->name,
                      fmt_dims(dims, sizeof dims, l->rank0, l->dims0));
        if (o >= (int)len) o = (int)len - 1;  // cut short, never past the end
        shown++;
    }
    if (!total) snprintf(buf, len, "no layers with weights");
    else if (total > shown) snprintf(buf + o, len - o, " and %d more", total - shown);
}

#define EXPECTED_NETWORK                                                                   \
    "expected a Siamese VGG16: the 3x3 convolutions block1_conv1 to block5_conv3, then a " \
    "hidden Dense layer and a Dense layer with 1 output"

// ---- inspect ----------------------------------------------------------------

int weights_inspect(const char *path, WeightsInfo *info, Err *e) {
    WFile f;
    if (wfile_open(&f, path, e)) return -1;
    memset(info, 0, sizeof *info);
    ModelSpec *s = &info->spec;
    model_spec_vgg16(s, 105);
    info->has_backbone = 1;
    static const int convs[MODEL_BLOCKS] = {2, 2, 3, 3, 3};
    char name[32], dims[64];
    for (int b = 0; b < MODEL_BLOCKS; b++) {
        for (int i = 1; i <= convs[b]; i++) {
            snprintf(name, sizeof name, "block%d_conv%d", b + 1, i);
            FileLayer *l = wfile_layer(&f, name);
            if (!l || l->rank0 != 4) {
                info->has_backbone = 0;
                if (i == 1) {
                    char what[400];
                    describe_layers(&f, what, sizeof what);
                    int rc = err_set(e, "%s: not a Siamese VGG16 weights file: %s '%s'; the file "
                                     "holds %s; " EXPECTED_NETWORK, path,
                                     l ? "no 3x3 convolution in layer" : "no layer", name, what);
                    wfile_close(&f);
                    return rc;
                }
                continue;
            }
            if (i == 1) s->widths[b] = (int)l->dims0[3];
            if (l->dims0[0] != 3 || l->dims0[1] != 3) {
                int rc = err_set(e, "%s: layer '%s' has kernel shape %s, expected (3,3,cin,cout)",
                                 path, name, fmt_dims(dims, sizeof dims, 4, l->dims0));
                wfile_close(&f);
                return rc;
            }
        }
    }
    const FileLayer *hid = f.dense[0] >= 0 ? &f.layers[f.dense[0]] : NULL;
    const FileLayer *out = f.dense[1] >= 0 ? &f.layers[f.dense[1]] : NULL;
    info->has_head = hid && out;
    // The hidden width is the hidden layer's output, and the output layer's input.
    if (hid) s->hidden = (int)hid->dims0[1];
    else if (out) s->hidden = (int)out->dims0[0];
    info->hidden_known = hid || out;
    hid_t r = f.root;
    int v;
    if (!h5attr_read_int(r, "siamese_input_size", &v) || !h5attr_read_int(f.file, "siamese_input_size", &v)) {
        s->input_size = v;
        info->input_size_known = 1;
    } else if (hid) {
        // Keras files do not record the input size: infer it from the
        // flattened feature length F = s*s*C5; s = 3 is the original's 105.
        int C5 = s->widths[4];
        long F = (long)hid->dims0[0];
        int side = (int)lround(sqrt((double)F / C5));
        if (side >= 1 && (long)side * side * C5 == F) s->input_size = side == 3 ? 105 : side * 32;
    }
    if (!h5attr_read_int(f.file, "siamese_letterbox", &v)) s->pre.letterbox = v;
    if (!h5attr_read_int(f.file, "siamese_invert", &v)) s->pre.invert = v;
    StrList kv = {0};
    if (!read_string_list(f.file, "keras_version", &kv) && kv.n)
        text_escape(kv.s[0], info->keras_version, sizeof info->keras_version);
    strlist_free(&kv);
    wfile_close(&f);
    return 0;
}

// Why a file that weights_inspect accepted is not a whole Siamese network
// (some of the 13 convolutions missing, no head, or a head that is not the
// Siamese one, such as an ImageNet classifier's); 0 when it is one.
static int check_whole(const char *path, Err *e) {
    WFile f;
    if (wfile_open(&f, path, e)) return -1;
    static const int convs[MODEL_BLOCKS] = {2, 2, 3, 3, 3};
    char missing[256] = "", dense[300] = "", dims[64];
    int o = 0, n_missing = 0, n_dense = 0, last_out = 0;
    for (int b = 0; b < MODEL_BLOCKS; b++)
        for (int i = 1; i <= convs[b]; i++) {
            char name[32];
            snprintf(name, sizeof name, "block%d_conv%d", b + 1, i);
            const FileLayer *l = wfile_layer(&f, name);
            if (l && l->rank0 == 4) continue;
            n_missing++;
            o += snprintf(missing + o, sizeof missing - o, "%s%s", o ? ", " : "", name);
            if (o >= (int)sizeof missing) o = sizeof missing - 1;
        }
    o = 0;
    for (int i = 0; i < f.n_layers; i++) {
        const FileLayer *l = &f.layers[i];
        if (l->rank0 != 2) continue;
        n_dense++;
        last_out = (int)l->dims0[1];
        o += snprintf(dense + o, sizeof dense - o, "%s%.40s %s", o ? ", " : "", l->name,
                      fmt_dims(dims, sizeof dims, 2, l->dims0));
        if (o >= (int)sizeof dense) o = sizeof dense - 1;
    }
    int rc = 0;
    if (n_missing)
        rc = err_set(e, "%s: not a whole Siamese network: %d of the 13 VGG16 convolutions %s "
                     "missing (%s)%s", path, n_missing, n_missing == 1 ? "is" : "are", missing,
                     n_dense ? "" : ", and there is no Dense head");
    else if (n_dense == 0)
        rc = err_set(e, "%s: holds a VGG16 backbone without the Siamese Dense head (as Keras's "
                     "'notop' files): it can start a training run (train --model-path), not "
                     "predict", path);
    else if (n_dense != 2 || last_out != 1)
        rc = err_set(e, "%s: not a Siamese network: its head has %d Dense layer%s (%s)%s; "
                     EXPECTED_NETWORK, path, n_dense, n_dense == 1 ? "" : "s", dense,
                     n_dense >= 2 && last_out > 1 ? ", as a classifier's" : "");
    wfile_close(&f);
    return rc;
}

int weights_open_model(Model **out, const char *path, Backend *be, WeightsInfo *info, Err *e) {
    WeightsInfo local;
    if (!info) info = &local;
    if (weights_inspect(path, info, e) || check_whole(path, e)) return -1;
    Model *m;
    if (model_create(&m, &info->spec, be, e)) return err_prefix(e, "%s", path);
    WeightsReport rep;
    if (weights_load(m, path, 1, &rep, e)) {
        model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

// ---- load -------------------------------------------------------------------

static int read_floats(hid_t grp, const char *dname, float *dst, Err *e, const char *path,
                       const char *layer) {
    hid_t d = H5Dopen2(grp, dname, H5P_DEFAULT);
    if (d < 0) return err_set(e, "%s: layer '%s': weight '%s' is missing", path, layer, dname);
    hid_t t = H5Dget_type(d);
    H5T_class_t cls = H5Tget_class(t);
    size_t tsize = H5Tget_size(t);
    H5Tclose(t);
    int rc = 0;
    hid_t sp = H5Dget_space(d);
    hssize_t npoints = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (sp >= 0) H5Sclose(sp);
    if (cls != H5T_FLOAT)
        rc = err_set(e, "%s: layer '%s': weight '%s' holds %s values, expected float32", path,
                     layer, dname, cls == H5T_INTEGER ? "integer" : "non-numeric");
    // A corrupt type can claim floats of billions of bytes, which HDF5
    // would allocate (and zero) for the conversion: float16/32/64 only.
    else if (tsize != 2 && tsize != 4 && tsize != 8)
        rc = err_set(e, "%s: layer '%s': weight '%s' holds %zu-byte floating-point values, "
                     "expected float32", path, layer, dname, tsize);
    // HDF5 reads a dataset whose data was never written as zeros: refuse
    // it, as a file whose writer stopped early.
    else if (npoints > 0 && H5Dget_storage_size(d) == 0)
        rc = err_set(e, "%s: layer '%s': weight '%s' has no data stored (the file was not "
                     "completely written)", path, layer, dname);
    else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
        rc = err_set(e, "%s: layer '%s': weight '%s' cannot be read (truncated or corrupt file)",
                     path, layer, dname);
    H5Dclose(d);
    // A NaN or an infinity anywhere makes every score meaningless, and not
    // always visibly: a NaN in a kernel can vanish in a ReLU or a max-pool
    // and leave a plausible 0.5. Refused here, naming the layer.
    long bad = 0, first = -1;
    for (hssize_t i = 0; !rc && i < npoints; i++)
        if (!isfinite(dst[i]) && !bad++) first = (long)i;
    if (bad)
        rc = err_set(e, "%s: layer '%s': weight '%s' holds %ld NaN or infinite value%s (the "
                     "first at index %ld): the file cannot be used (a training run that "
                     "diverged?)", path, layer, dname, bad, bad == 1 ? "" : "s", first);
    return rc;
}

// The report's lines hold names from the file, of any length: escaped, as
// the errors, and cut visibly.
static void report_skip(WeightsReport *rep, const char *fmt, const char *a, const char *b) {
    if (!rep || rep->n_skipped >= MODEL_MAX_LAYERS) return;
    char raw[sizeof rep->skipped[0]];
    text_fit(raw, sizeof raw, fmt, a, b);
    text_escape(raw, rep->skipped[rep->n_skipped++], sizeof rep->skipped[0]);
}

int weights_load(Model *m, const char *path, int strict, WeightsReport *rep, Err *e) {
    WFile f;
    if (wfile_open(&f, path, e)) return -1;
    wfile_place_lone_dense(&f, m);
    if (rep) memset(rep, 0, sizeof *rep);
    float *host = malloc(m->n_params * sizeof(float));
    if (!host) {
        wfile_close(&f);
        return err_set(e, "out of memory loading %s", path);
    }
    // Start from the model's current values: skipped layers keep them.
    m->be->ops->download(m->be, host, m->params, m->n_params * sizeof(float));
    int rc = backend_check(m->be, e) ? err_prefix(e, "%s", path) : 0, dense_index = 0;
    char want[64], got[64];
    for (int i = 0; i < m->n_layers && !rc; i++) {
        const Layer *l = &m->layers[i];
        if (l->kind == LAYER_POOL) continue;
        int di = l->kind == LAYER_DENSE ? dense_index++ : 0;
        FileLayer *fl = wfile_match(&f, l, di);
        const char *role = l->kind == LAYER_DENSE ? (di ? "output Dense layer" : "hidden Dense layer") : l->name;
        if (!fl) {
            if (strict)
                rc = err_set(e, "%s: no %s%s%s in the file (expected the layer of a Siamese "
                             "network)", path, l->kind == LAYER_DENSE ? "" : "layer '", role,
                             l->kind == LAYER_DENSE ? "" : "'");
            else
                report_skip(rep, "%s: %s", role, "not in the file");
            continue;
        }
        hsize_t kd[4];
        int kr;
        if (l->kind == LAYER_CONV) {
            kr = 4;
            kd[0] = kd[1] = 3;
            kd[2] = l->C;
            kd[3] = l->K;
        } else {
            kr = 2;
            kd[0] = l->C;
            kd[1] = l->K;
        }
        hid_t g = H5Gopen2(f.root, fl->name, H5P_DEFAULT);
        int brank = 0;
        hsize_t bd[4] = {0};
        int shape_ok = fl->weights.n >= 2 && fl->rank0 == kr &&
                       !memcmp(fl->dims0, kd, kr * sizeof *kd) &&
                       !dataset_shape(g, fl->weights.s[1], &brank, bd) && brank == 1 &&
                       bd[0] == (hsize_t)l->K;
        if (!shape_ok) {
            char msg[200];
            if (fl->weights.n < 2)
                snprintf(msg, sizeof msg, "has %d weight(s), expected a kernel and a bias",
                         fl->weights.n);
            else if (fl->rank0 != kr || memcmp(fl->dims0, kd, kr * sizeof *kd))
                snprintf(msg, sizeof msg, "kernel shape is %s, expected %s",
                         fmt_dims(got, sizeof got, fl->rank0, fl->dims0),
                         fmt_dims(want, sizeof want, kr, kd));
            else {
                hsize_t bw = l->K;
                snprintf(msg, sizeof msg, "bias shape is %s, expected %s",
                         fmt_dims(got, sizeof got, brank, bd), fmt_dims(want, sizeof want, 1, &bw));
            }
            if (strict) {
                rc = err_set(e, "%s: layer '%s': %s", path, fl->name, msg);
            } else {
                if (rep) rep->n_misfit++;
                report_skip(rep, "%s: %s", fl->name, msg);
            }
            H5Gclose(g);
            continue;
        }
        rc = read_floats(g, fl->weights.s[0], host + l->w_off, e, path, fl->name);
        if (!rc) rc = read_floats(g, fl->weights.s[1], host + l->b_off, e, path, fl->name);
        H5Gclose(g);
        if (!rc && rep && rep->n_loaded < MODEL_MAX_LAYERS)
            text_escape(fl->name, rep->loaded[rep->n_loaded++], sizeof rep->loaded[0]);
    }
    if (!rc) {
        m->be->ops->upload(m->be, m->params, host, m->n_params * sizeof(float));
        if (backend_check(m->be, e)) rc = err_prefix(e, "%s", path);
    }
    free(host);
    wfile_close(&f);
    return rc;
}

// ---- save -------------------------------------------------------------------

// A fixed-length (NUL-padded, as numpy 'S') string array attribute.
static int write_string_attr(hid_t loc, const char *name, const char *const *s, int n) {
    size_t sz = 1;
    for (int i = 0; i < n; i++)
        if (strlen(s[i]) > sz) sz = strlen(s[i]);
    char *buf = calloc(n > 0 ? (size_t)n : 1, sz);
    if (!buf) return -1;
    for (int i = 0; i < n; i++) memcpy(buf + i * sz, s[i], strlen(s[i]));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, sz);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hsize_t dim = n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, t, buf) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    free(buf);
    return rc;
}

static int write_floats(hid_t loc, const char *name, const float *data, int rank,
                        const hsize_t *dims) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0 ? -1 : 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Pclose(lcpl);
    return rc;
}

static int write_model(hid_t file, const Model *m, const float *host, const WeightsState *st) {
    // The layer list of the Keras 2.1.5 model, weightless layers included.
    const char *names[MODEL_MAX_LAYERS + 8];
    int n = 0;
    names[n++] = "input_1";
    names[n++] = "input_2";
    for (int i = 0; i < m->n_backbone; i++) names[n++] = m->layers[i].name;
    names[n++] = "flatten_1";
    names[n++] = "lambda_1";
    for (int i = m->n_backbone; i < m->n_layers; i++) names[n++] = m->layers[i].name;
    int rc = write_string_attr(file, "layer_names", names, n);
    rc |= h5attr_write_string(file, "backend", "tensorflow");
    rc |= h5attr_write_string(file, "keras_version", "2.1.5");
    rc |= h5attr_write_int(file, "siamese_input_size", m->spec.input_size);
    rc |= h5attr_write_int(file, "siamese_letterbox", m->spec.pre.letterbox);
    rc |= h5attr_write_int(file, "siamese_invert", m->spec.pre.invert);
    for (int i = 0; i < n && !rc; i++) {
        hid_t g = H5Gcreate2(file, names[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) return -1;
        const Layer *l = model_layer((Model *)m, names[i]);
        if (!l || l->kind == LAYER_POOL) {
            rc = write_string_attr(g, "weight_names", NULL, 0);
        } else {
            char kname[80], bname[80];
            snprintf(kname, sizeof kname, "%s/kernel:0", l->name);
            snprintf(bname, sizeof bname, "%s/bias:0", l->name);
            const char *wn[2] = {kname, bname};
            hsize_t kd[4] = {3, 3, (hsize_t)l->C, (hsize_t)l->K}, dd[2] = {(hsize_t)l->C, (hsize_t)l->K};
            hsize_t bd = l->K;
            rc = write_string_attr(g, "weight_names", wn, 2);
            rc |= l->kind == LAYER_CONV ? write_floats(g, kname, host + l->w_off, 4, kd)
                                        : write_floats(g, kname, host + l->w_off, 2, dd);
            rc |= write_floats(g, bname, host + l->b_off, 1, &bd);
        }
        H5Gclose(g);
    }
    if (!rc && st && st->text && st->text[0]) {
        hid_t g = H5Gcreate2(file, "siamese_state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) return -1;
        rc = h5attr_write_string(g, "text", st->text);
        hsize_t dim = st->n;
        for (int k = 0; k < 2 && !rc; k++)
            if (st->slot[k]) rc = write_floats(g, k ? "slot1" : "slot0", st->slot[k], 1, &dim);
        H5Gclose(g);
    }
    return rc;
}

int weights_save(const Model *m, const char *path, const WeightsState *st, Err *e) {
    h5attr_quiet();
    float *host = malloc(m->n_params * sizeof(float));
    if (!host) return err_set(e, "out of memory saving %s", path);
    m->be->ops->download(m->be, host, m->params, m->n_params * sizeof(float));
    if (backend_check(m->be, e)) {
        free(host);
        return err_prefix(e, "%s: the weights could not be read from the device", path);
    }
    // The file is built in memory (HDF5's core driver, no backing store)
    // and written out by atomicfile: HDF5 never touches the disk, so a full
    // disk or a file-size limit is an error of ours to report cleanly.
    // (HDF5 1.10 crashes at exit after a failed write of its own: a file
    // whose flush failed stays open and H5_term_library trips over it.)
    static int serial;
    char name[64];
    snprintf(name, sizeof name, "siamese-save-%ld-%d", (long)getpid(), serial++);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 20, 0);
    hid_t file = fapl < 0 ? -1 : H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    int rc = file < 0 ? -1 : write_model(file, m, host, st);
    free(host);
    ssize_t size = rc || H5Fflush(file, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(file, NULL, 0);
    void *image = size > 0 ? malloc((size_t)size) : NULL;
    if (image && H5Fget_file_image(file, image, (size_t)size) != size) size = -1;
    if (file >= 0) H5Fclose(file);
    if (size <= 0 || !image) {
        free(image);
        return err_set(e, "%s: building the weights file failed (%s); the previous file is "
                       "unchanged", path, size > 0 ? "out of memory" : "HDF5 error");
    }
    rc = atomicfile_write(path, image, (size_t)size, e);
    free(image);
    return rc;
}

int weights_load_state(const char *path, WeightsState *st, Err *e) {
    memset(st, 0, sizeof *st);
    WFile f;
    if (wfile_open(&f, path, e)) return -1;
    int rc = 0;
    if (H5Lexists(f.file, "siamese_state", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(f.file, "siamese_state", H5P_DEFAULT);
        StrList t = {0};
        if (g < 0 || read_string_list(g, "text", &t) || t.n != 1) {
            rc = err_set(e, "%s: the training state is unreadable", path);
        } else {
            if (!(st->text = strdup(t.s[0]))) rc = err_set(e, "out of memory reading %s", path);
            for (int k = 0; k < 2 && !rc; k++) {
                const char *name = k ? "slot1" : "slot0";
                if (H5Lexists(g, name, H5P_DEFAULT) <= 0) continue;
                int r;
                hsize_t d[4];
                if (dataset_shape(g, name, &r, d) || r != 1) {
                    rc = err_set(e, "%s: optimizer state '%s' has a wrong shape", path, name);
                    break;
                }
                st->n = d[0];
                st->slot[k] = malloc(d[0] * sizeof(float));
                if (!st->slot[k]) rc = err_set(e, "out of memory reading %s", path);
                else rc = read_floats(g, name, st->slot[k], e, path, "siamese_state");
            }
        }
        strlist_free(&t);
        if (g >= 0) H5Gclose(g);
    }
    wfile_close(&f);
    if (rc) weights_state_free(st);
    return rc;
}

void weights_state_free(WeightsState *st) {
    free(st->text);
    free(st->slot[0]);
    free(st->slot[1]);
    st->text = NULL;
    st->slot[0] = st->slot[1] = NULL;
}
