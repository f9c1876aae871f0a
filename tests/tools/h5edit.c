// h5edit: damages Keras-layout weight files in precise ways, so the tests
// can check what the program says about each kind of bad file without
// h5py or committed binaries. Edits FILE in place (work on a copy):
//
//   h5edit FILE delete LAYER                  the layer's group and its entry in layer_names
//   h5edit FILE rename LAYER NEW              the group and the entry in layer_names
//   h5edit FILE weight-name LAYER I NEW       weight I of LAYER renamed (its dataset and its
//                                             entry in weight_names)
//   h5edit FILE reshape LAYER I D0,D1,...     weight I of LAYER becomes float32 zeros of that shape
//   h5edit FILE retype LAYER I int32|float64|string   weight I, same shape, another type
//   h5edit FILE set LAYER I K VALUE           element K of weight I (VALUE: nan, inf, -inf, a number)
//   h5edit FILE unwritten LAYER I             weight I, same shape, storage never written
//   h5edit FILE drop-attr NAME                a root attribute (e.g. layer_names)
//   h5edit FILE set-attr NAME STRING          a root string attribute, made or replaced
//                                             (e.g. an index's arithmetic)
//   h5edit FILE state KEY VALUE               the line KEY=... of the training state becomes
//                                             KEY=VALUE (a checkpoint's settings)
//   h5edit FILE state-key KEY NEWKEY VALUE    ... becomes NEWKEY=VALUE (an older spelling)
//   h5edit FILE new NAME:D0xD1x.. ...         a new Keras-layout file, one layer per argument
//                                             (kernel of that shape + bias, data never written)
// Exits 0 on success, 1 with a message on failure.
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const char *arg) {
    fprintf(stderr, "h5edit: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    exit(1);
}

// A fixed-length string list attribute, read and written whole.
typedef struct Names {
    char s[256][128];
    int n;
} Names;

static void names_read(hid_t loc, const char *attr, Names *out) {
    hid_t a = H5Aopen(loc, attr, H5P_DEFAULT);
    if (a < 0) die("no attribute", attr);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (n > 256) die("too many names in", attr);
    out->n = (int)n;
    if (n > 0) {
        size_t sz = H5Tget_size(t);
        char *buf = calloc(n, sz);
        if (H5Tis_variable_str(t) > 0) die("variable-length names not supported in", attr);
        if (H5Aread(a, t, buf) < 0) die("cannot read", attr);
        for (hssize_t i = 0; i < n; i++)
            snprintf(out->s[i], sizeof out->s[i], "%.*s", (int)sz, buf + i * sz);
        free(buf);
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
}

static void names_write(hid_t loc, const char *attr, const Names *l) {
    if (H5Aexists(loc, attr) > 0) H5Adelete(loc, attr);
    size_t sz = 1, n = l->n > 0 ? (size_t)l->n : 1;
    for (int i = 0; i < l->n; i++)
        if (strlen(l->s[i]) > sz) sz = strlen(l->s[i]);
    char *buf = calloc(n, sz);
    for (int i = 0; i < l->n; i++) memcpy(buf + i * sz, l->s[i], strlen(l->s[i]));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, sz);
    hsize_t dim = l->n;
    hid_t sp = l->n ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_NULL);
    hid_t a = H5Acreate2(loc, attr, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || (l->n && H5Awrite(a, t, buf) < 0)) die("cannot write", attr);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    free(buf);
}

// The path of weight i of layer ("layer/name" inside the layer's group).
static void weight_path(hid_t file, const char *layer, int i, char *out, size_t len) {
    hid_t g = H5Gopen2(file, layer, H5P_DEFAULT);
    if (g < 0) die("no layer", layer);
    Names w;
    names_read(g, "weight_names", &w);
    H5Gclose(g);
    if (i < 0 || i >= w.n) die("no such weight index in layer", layer);
    snprintf(out, len, "%s/%s", layer, w.s[i]);
}

// Replaces dataset path with a new one of type t and the given shape;
// writes data when not NULL (in t's memory form).
static void replace(hid_t file, const char *path, hid_t t, int rank, const hsize_t *dims,
                    const void *data) {
    if (H5Lexists(file, path, H5P_DEFAULT) > 0 && H5Ldelete(file, path, H5P_DEFAULT) < 0)
        die("cannot delete", path);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(file, path, t, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0) die("cannot create", path);
    if (data && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) die("cannot write", path);
    H5Dclose(d);
    H5Sclose(sp);
    H5Pclose(lcpl);
}

static int shape_of(hid_t file, const char *path, hsize_t dims[8]) {
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) die("no dataset", path);
    hid_t sp = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(sp);
    if (r < 0 || r > 8) die("bad rank", path);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    return r;
}

static size_t count(int rank, const hsize_t *dims) {
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    return n;
}

static int parse_dims(const char *s, const char *seps, hsize_t dims[8]) {
    int r = 0;
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    for (char *t = strtok_r(buf, seps, &save); t && r < 8; t = strtok_r(NULL, seps, &save))
        dims[r++] = strtoull(t, NULL, 10);
    return r;
}

// A Keras-layout file from scratch: each "name:D0xD1..." a layer whose
// kernel has that shape and whose bias has the last dimension. The data is
// never written (the file stays small; HDF5 reads unwritten data as zeros).
static void make_new(const char *path, int n, char **specs) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) die("cannot create", path);
    Names layers = {.n = 0};
    for (int i = 0; i < n; i++) {
        char name[100], *colon = strchr(specs[i], ':');
        if (!colon) die("expected NAME:D0xD1..., got", specs[i]);
        if (colon - specs[i] >= (long)sizeof name) die("name too long", specs[i]);
        snprintf(name, sizeof name, "%.*s", (int)(colon - specs[i]), specs[i]);
        hsize_t dims[8];
        int r = parse_dims(colon + 1, "x", dims);
        if (r < 1) die("no dimensions in", specs[i]);
        snprintf(layers.s[layers.n++], sizeof layers.s[0], "%s", name);
        hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        Names w = {.n = 2};
        snprintf(w.s[0], sizeof w.s[0], "%s/kernel:0", name);
        snprintf(w.s[1], sizeof w.s[1], "%s/bias:0", name);
        names_write(g, "weight_names", &w);
        H5Gclose(g);
        char p[300];
        snprintf(p, sizeof p, "%s/%s", name, w.s[0]);
        replace(f, p, H5T_IEEE_F32LE, r, dims, NULL);
        snprintf(p, sizeof p, "%s/%s", name, w.s[1]);
        replace(f, p, H5T_IEEE_F32LE, 1, &dims[r - 1], NULL);
    }
    names_write(f, "layer_names", &layers);
    H5Fclose(f);
}

// The training state is one scalar string, siamese_state's "text" attribute
// (weights.c): "key=value" lines. Rewrites the line of key as new_key=value.
static void state_set(hid_t file, const char *key, const char *new_key, const char *value) {
    hid_t g = H5Gopen2(file, "siamese_state", H5P_DEFAULT);
    if (g < 0) die("no training state (siamese_state) in the file", NULL);
    hid_t a = H5Aopen(g, "text", H5P_DEFAULT);
    if (a < 0) die("no attribute", "siamese_state/text");
    hid_t t = H5Aget_type(a);
    size_t n = H5Tget_size(t), kl = strlen(key);
    char *text = calloc(n + 1, 1), *out = malloc(n + strlen(new_key) + strlen(value) + 2);
    if (H5Aread(a, t, text) < 0) die("cannot read", "siamese_state/text");
    H5Aclose(a);
    H5Tclose(t);
    char *line = NULL;
    for (char *p = text; p && *p && !line; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, kl) && p[kl] == '=') line = p;
    if (!line) die("no such key in the training state", key);
    const char *rest = strchr(line, '\n');
    sprintf(out, "%.*s%s=%s%s", (int)(line - text), text, new_key, value, rest ? rest : "");
    if (H5Adelete(g, "text") < 0) die("cannot delete", "siamese_state/text");
    t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(out));
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hid_t sp = H5Screate(H5S_SCALAR);
    a = H5Acreate2(g, "text", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, t, out) < 0) die("cannot write", "siamese_state/text");
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    H5Gclose(g);
    free(text);
    free(out);
}

int main(int argc, char **argv) {
    if (argc < 3) die("usage: h5edit FILE COMMAND ARGS... (see tests/tools/h5edit.c)", NULL);
    const char *file = argv[1], *cmd = argv[2];
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);  // our own messages only
    if (!strcmp(cmd, "new")) {
        make_new(file, argc - 3, argv + 3);
        return 0;
    }
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) die("cannot open", file);
    char path[300];
    if (!strcmp(cmd, "delete") && argc == 4) {
        Names l;
        names_read(f, "layer_names", &l);
        int k = 0;
        for (int i = 0; i < l.n; i++)
            if (strcmp(l.s[i], argv[3])) memcpy(l.s[k++], l.s[i], sizeof l.s[i]);
        if (k == l.n) die("no layer", argv[3]);
        l.n = k;
        names_write(f, "layer_names", &l);
        if (H5Ldelete(f, argv[3], H5P_DEFAULT) < 0) die("cannot delete", argv[3]);
    } else if (!strcmp(cmd, "rename") && argc == 5) {
        Names l;
        names_read(f, "layer_names", &l);
        int found = 0;
        for (int i = 0; i < l.n; i++)
            if (!strcmp(l.s[i], argv[3])) {
                snprintf(l.s[i], sizeof l.s[i], "%s", argv[4]);
                found = 1;
            }
        if (!found) die("no layer", argv[3]);
        names_write(f, "layer_names", &l);
        if (H5Lmove(f, argv[3], f, argv[4], H5P_DEFAULT, H5P_DEFAULT) < 0) die("cannot rename", argv[3]);
    } else if (!strcmp(cmd, "weight-name") && argc == 6) {
        hid_t g = H5Gopen2(f, argv[3], H5P_DEFAULT);
        if (g < 0) die("no layer", argv[3]);
        Names w;
        names_read(g, "weight_names", &w);
        int i = atoi(argv[4]);
        if (i < 0 || i >= w.n) die("no such weight index in layer", argv[3]);
        hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(lcpl, 1);
        if (H5Lmove(g, w.s[i], g, argv[5], lcpl, H5P_DEFAULT) < 0) die("cannot rename", w.s[i]);
        H5Pclose(lcpl);
        snprintf(w.s[i], sizeof w.s[i], "%s", argv[5]);
        names_write(g, "weight_names", &w);
        H5Gclose(g);
    } else if (!strcmp(cmd, "reshape") && argc == 6) {
        weight_path(f, argv[3], atoi(argv[4]), path, sizeof path);
        hsize_t dims[8];
        int r = parse_dims(argv[5], ",", dims);
        float *zeros = calloc(count(r, dims) ? count(r, dims) : 1, sizeof(float));
        replace(f, path, H5T_NATIVE_FLOAT, r, dims, zeros);
        free(zeros);
    } else if (!strcmp(cmd, "retype") && argc == 6) {
        weight_path(f, argv[3], atoi(argv[4]), path, sizeof path);
        hsize_t dims[8];
        int r = shape_of(f, path, dims);
        size_t n = count(r, dims);
        hid_t t;
        if (!strcmp(argv[5], "int32")) t = H5Tcopy(H5T_NATIVE_INT);
        else if (!strcmp(argv[5], "float64")) t = H5Tcopy(H5T_NATIVE_DOUBLE);
        else if (!strcmp(argv[5], "string")) {
            t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, 4);
        } else die("unknown type", argv[5]);
        void *data = calloc(n ? n : 1, H5Tget_size(t));
        replace(f, path, t, r, dims, data);
        free(data);
        H5Tclose(t);
    } else if (!strcmp(cmd, "set") && argc == 7) {
        weight_path(f, argv[3], atoi(argv[4]), path, sizeof path);
        hsize_t dims[8];
        int r = shape_of(f, path, dims);
        size_t n = count(r, dims), k = strtoull(argv[5], NULL, 10);
        if (k >= n) die("element out of range in", path);
        float *v = malloc(n * sizeof(float));
        hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
        if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) die("cannot read", path);
        v[k] = !strcmp(argv[6], "nan") ? NAN : !strcmp(argv[6], "inf") ? INFINITY
             : !strcmp(argv[6], "-inf") ? -INFINITY : strtof(argv[6], NULL);
        if (H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) die("cannot write", path);
        H5Dclose(d);
        free(v);
    } else if (!strcmp(cmd, "unwritten") && argc == 5) {
        weight_path(f, argv[3], atoi(argv[4]), path, sizeof path);
        hsize_t dims[8];
        int r = shape_of(f, path, dims);
        replace(f, path, H5T_IEEE_F32LE, r, dims, NULL);
    } else if (!strcmp(cmd, "drop-attr") && argc == 4) {
        if (H5Adelete(f, argv[3]) < 0) die("no root attribute", argv[3]);
    } else if (!strcmp(cmd, "set-attr") && argc == 5) {
        if (H5Aexists(f, argv[3]) > 0 && H5Adelete(f, argv[3]) < 0) die("cannot replace", argv[3]);
        // As the program writes its strings: fixed length, NUL-padded.
        hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
        H5Tset_size(t, strlen(argv[4]) ? strlen(argv[4]) : 1);
        H5Tset_strpad(t, H5T_STR_NULLPAD);
        hid_t a = H5Acreate2(f, argv[3], t, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (a < 0 || H5Awrite(a, t, argv[4]) < 0) die("cannot write", argv[3]);
        H5Aclose(a);
        H5Sclose(sp);
        H5Tclose(t);
    } else if (!strcmp(cmd, "state") && argc == 5) {
        state_set(f, argv[3], argv[3], argv[4]);
    } else if (!strcmp(cmd, "state-key") && argc == 6) {
        state_set(f, argv[3], argv[4], argv[5]);
    } else {
        die("unknown command or wrong arguments", cmd);
    }
    if (H5Fclose(f) < 0) die("cannot close", file);
    return 0;
}
