// atomicfile: replacing a file so that a crash, a kill or a full disk at any
// moment leaves either the old file or the new one, never a mix or nothing.
//
// The data goes to a temporary file beside the target (same directory, so
// the same file system), is flushed to the disk (fsync), and only then
// renamed over the target (atomic on POSIX file systems); the directory is
// synced so that the rename itself survives a power cut.
#ifndef SIAMESE_ATOMICFILE_H
#define SIAMESE_ATOMICFILE_H

#include <stddef.h>

#include "err.h"

// Writes n bytes of data as path. On failure (no space, no permission, a
// missing directory, a file-size limit) the temporary file is removed, path
// is untouched, and the message names path and says what went wrong.
int atomicfile_write(const char *path, const void *data, size_t n, Err *e);

#endif
