// h5read: reading reference tensors from the fixture HDF5 files in tests.
#ifndef SIAMESE_TESTS_H5READ_H
#define SIAMESE_TESTS_H5READ_H

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

// All values of dataset `name` in `path` as float32 (malloc'ed), count in
// *n; NULL (with a message) when absent.
static inline float *h5_floats(const char *path, const char *name, size_t *n) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    float *v = NULL;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        hssize_t cnt = H5Sget_simple_extent_npoints(sp);
        v = malloc((cnt ? cnt : 1) * sizeof *v);
        if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
            free(v);
            v = NULL;
        } else if (n) {
            *n = (size_t)cnt;
        }
        H5Sclose(sp);
        H5Dclose(d);
    }
    if (!v) fprintf(stderr, "%s: no dataset %s\n", path, name);
    H5Fclose(f);
    return v;
}

#endif
