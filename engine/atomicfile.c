#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

// Writes all of data to fd at offset (or at the file position when offset
// < 0), through short writes and interruptions.
static int write_all(int fd, const unsigned char *data, size_t n, off_t offset) {
    while (n > 0) {
        ssize_t w = offset < 0 ? write(fd, data, n) : pwrite(fd, data, n, offset);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        data += w;
        n -= (size_t)w;
        if (offset >= 0) offset += w;
    }
    return 0;
}

int atomicfile_begin(AtomicFile *f, const char *path, Err *e) {
    char dir[sizeof f->path];
    f->fd = -1;
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path ||
        snprintf(f->tmp, sizeof f->tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof f->tmp)
        return err_set(e, "%s: path too long", path);
    f->fd = open(f->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int err = errno;
        snprintf(dir, sizeof dir, "%s", path);
        return err_set(e, "%s: cannot create a file in %s: %s", path, dirname(dir), strerror(err));
    }
    // Past a file-size limit (ulimit -f) the kernel would kill the process
    // with SIGXFSZ; ignored, the write fails with EFBIG and is reported
    // like a full disk.
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(&ign.sa_mask);
    sigaction(SIGXFSZ, &ign, &f->old_xfsz);
    return 0;
}

void atomicfile_abort(AtomicFile *f) {
    if (f->fd < 0) return;
    close(f->fd);
    unlink(f->tmp);
    sigaction(SIGXFSZ, &f->old_xfsz, NULL);
    f->fd = -1;
}

int atomicfile_pwrite(AtomicFile *f, const void *data, size_t n, off_t offset, Err *e) {
    if (write_all(f->fd, data, n, offset) == 0) return 0;
    int err = errno;
    atomicfile_abort(f);
    return err_set(e, "%s: writing failed: %s; the previous file is unchanged", f->path,
                   strerror(err));
}

int atomicfile_commit(AtomicFile *f, Err *e) {
    int rc = fsync(f->fd), err = errno;
    // close can report a delayed write error (NFS): it counts too.
    if (close(f->fd) != 0 && !rc) {
        rc = -1;
        err = errno;
    }
    f->fd = -1;
    sigaction(SIGXFSZ, &f->old_xfsz, NULL);
    if (rc) {
        unlink(f->tmp);
        return err_set(e, "%s: writing failed: %s; the previous file is unchanged", f->path,
                       strerror(err));
    }
    if (rename(f->tmp, f->path) != 0) {
        err = errno;
        unlink(f->tmp);
        return err_set(e, "%s: cannot replace the file: %s; the previous file is unchanged",
                       f->path, strerror(err));
    }
    char dir[sizeof f->path];
    snprintf(dir, sizeof dir, "%s", f->path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // best effort: the data itself is already safe
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int atomicfile_write(const char *path, const void *data, size_t n, Err *e) {
    AtomicFile f;
    if (atomicfile_begin(&f, path, e) || atomicfile_pwrite(&f, data, n, -1, e)) return -1;
    return atomicfile_commit(&f, e);
}
