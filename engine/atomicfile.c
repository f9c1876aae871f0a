#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

// Writes all of data to fd, through short writes and interruptions.
static int write_all(int fd, const unsigned char *data, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

int atomicfile_write(const char *path, const void *data, size_t n, Err *e) {
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return err_set(e, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int err = errno;
        snprintf(dir, sizeof dir, "%s", path);
        return err_set(e, "%s: cannot create a file in %s: %s", path, dirname(dir), strerror(err));
    }
    // Past a file-size limit (ulimit -f) the kernel would kill the process
    // with SIGXFSZ; ignored, the write fails with EFBIG and is reported
    // like a full disk.
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGXFSZ, &ign, &old);
    int rc = write_all(fd, data, n);
    if (!rc) rc = fsync(fd);
    int err = errno;
    sigaction(SIGXFSZ, &old, NULL);
    // close can report a delayed write error (NFS): it counts too.
    if (close(fd) != 0 && !rc) {
        rc = -1;
        err = errno;
    }
    if (rc) {
        unlink(tmp);
        return err_set(e, "%s: writing failed: %s; the previous file is unchanged", path,
                       strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        return err_set(e, "%s: cannot replace the file: %s; the previous file is unchanged", path,
                       strerror(err));
    }
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // best effort: the data itself is already safe
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
