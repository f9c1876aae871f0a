// atomicfile: replacing a file so that a crash, a kill or a full disk at any
// moment leaves either the old file or the new one, never a mix or nothing.
//
// The data goes to a temporary file beside the target (same directory, so
// the same file system), is flushed to the disk (fsync), and only then
// renamed over the target (atomic on POSIX file systems); the directory is
// synced so that the rename itself survives a power cut. The temporary file
// is PATH.tmpPID.HOST; one that a process of this machine left when it was
// killed (SIGKILL, a second Ctrl-C, a crash) is removed by the next write
// of PATH.
#ifndef SIAMESE_ATOMICFILE_H
#define SIAMESE_ATOMICFILE_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

// Writes n bytes of data as path. On failure (no space, no permission, a
// missing directory, a file-size limit) the temporary file is removed, path
// is untouched, and the message names path and says what went wrong.
int atomicfile_write(const char *path, const void *data, size_t n, Err *e);

// The same for a file too large to build in memory (a gallery index),
// written in pieces: begin creates the temporary file (tmp, empty, open
// for reading and writing as fd); pwrite writes a piece at an offset (< 0:
// at the end); commit flushes it and renames it over path. Any failure
// removes the temporary file, leaves path untouched and names path in the
// message; abort does the same on the caller's own failure.
typedef struct AtomicFile {
    char path[4096], tmp[4096 + 320];  // tmp: path.tmpPID.HOST
    int fd;                     // -1 once committed or aborted
    struct sigaction old_xfsz;  // SIGXFSZ's disposition before begin
} AtomicFile;

// What a failed write left at path, for its message: "the previous file
// is unchanged", or "no file was written" where there was none.
const char *atomicfile_outcome(const char *path);

int atomicfile_begin(AtomicFile *f, const char *path, Err *e);
int atomicfile_pwrite(AtomicFile *f, const void *data, size_t n, off_t offset, Err *e);
int atomicfile_commit(AtomicFile *f, Err *e);
void atomicfile_abort(AtomicFile *f);

#endif
