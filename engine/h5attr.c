#include "h5attr.h"

#include <string.h>

void h5attr_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static int write_scalar(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                        const void *v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, mem_type, v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

int h5attr_write_int(hid_t loc, const char *name, int v) {
    return write_scalar(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT, &v);
}

int h5attr_write_int64(hid_t loc, const char *name, long long v) {
    return write_scalar(loc, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &v);
}

int h5attr_write_string(hid_t loc, const char *name, const char *s) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(s) ? strlen(s) : 1);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    int rc = write_scalar(loc, name, t, t, s);
    H5Tclose(t);
    return rc;
}

static int read_scalar(hid_t loc, const char *name, hid_t mem_type, void *v) {
    if (H5Aexists(loc, name) <= 0) return -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    int rc = a < 0 || H5Aread(a, mem_type, v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    return rc;
}

int h5attr_read_int(hid_t loc, const char *name, int *v) {
    return read_scalar(loc, name, H5T_NATIVE_INT, v);
}

int h5attr_read_int64(hid_t loc, const char *name, long long *v) {
    return read_scalar(loc, name, H5T_NATIVE_LLONG, v);
}

int h5attr_read_string(hid_t loc, const char *name, char *buf, size_t len) {
    if (H5Aexists(loc, name) <= 0) return -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = a < 0 ? -1 : H5Aget_type(a);
    int rc = -1;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0 &&
        H5Tget_size(t) < len) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, len);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        memset(buf, 0, len);
        rc = H5Aread(a, mt, buf) < 0 ? -1 : 0;
        H5Tclose(mt);
    }
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return rc;
}
