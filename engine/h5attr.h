// h5attr: the scalar HDF5 attributes the weights and gallery files share,
// each call returning 0, or -1 when the attribute is absent, of another
// kind, or cannot be written.
#ifndef SIAMESE_H5ATTR_H
#define SIAMESE_H5ATTR_H

#include <hdf5.h>
#include <stddef.h>

// HDF5 prints no error stack of its own: the callers report what failed.
void h5attr_quiet(void);

int h5attr_write_int(hid_t loc, const char *name, int v);              // 32-bit little-endian
int h5attr_write_int64(hid_t loc, const char *name, long long v);      // 64-bit little-endian
int h5attr_write_string(hid_t loc, const char *name, const char *s);   // fixed length, NUL-padded

int h5attr_read_int(hid_t loc, const char *name, int *v);
int h5attr_read_int64(hid_t loc, const char *name, long long *v);
// A fixed-length string shorter than len, NUL-terminated into buf.
int h5attr_read_string(hid_t loc, const char *name, char *buf, size_t len);

#endif
