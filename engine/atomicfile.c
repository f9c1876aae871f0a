#include "atomicfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

// This machine's name, for the temporary files' names: a folder shared
// between machines (NFS) holds other machines' temporaries, whose process
// numbers mean nothing here.
static void host_name(char *buf, size_t len) {
    if (gethostname(buf, len) != 0 || !buf[0]) snprintf(buf, len, "localhost");
    buf[len - 1] = '\0';
    for (char *c = buf; *c; c++)
        if (*c == '/') *c = '_';
}

// Removes the temporary files of path ("PATH.tmpPID.HOST") that processes
// of this machine left when they died before they could (SIGKILL, a second
// Ctrl-C, a crash, a power cut): each may be as large as the file itself,
// and nothing else would ever remove them. A process that still runs keeps
// its own; so does a process of another machine.
static void remove_stale(const char *path, const char *host) {
    char dir[sizeof ((AtomicFile *)0)->path], base[sizeof dir];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(base, sizeof base, "%s", path);
    const char *name = basename(base);
    const size_t nlen = strlen(name);
    DIR *d = opendir(dirname(dir));
    if (!d) return;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        const char *s = ent->d_name;
        if (strncmp(s, name, nlen) || strncmp(s + nlen, ".tmp", 4)) continue;
        char *end;
        errno = 0;
        long pid = strtol(s + nlen + 4, &end, 10);
        if (errno || end == s + nlen + 4 || pid <= 0 || pid == (long)getpid() || *end != '.' ||
            strcmp(end + 1, host))
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to ask)
        unlinkat(dirfd(d), s, 0);
    }
    closedir(d);
}

const char *atomicfile_outcome(const char *path) {
    return access(path, F_OK) == 0 ? "the previous file is unchanged" : "no file was written";
}

int atomicfile_begin(AtomicFile *f, const char *path, Err *e) {
    char dir[sizeof f->path], host[256];
    f->fd = -1;
    host_name(host, sizeof host);
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path ||
        snprintf(f->tmp, sizeof f->tmp, "%s.tmp%ld.%s", path, (long)getpid(), host) >=
            (int)sizeof f->tmp)
        return err_set(e, "%s: path too long", path);
    remove_stale(path, host);
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
    return err_set(e, "%s: writing failed: %s; %s", f->path, strerror(err),
                   atomicfile_outcome(f->path));
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
        return err_set(e, "%s: writing failed: %s; %s", f->path, strerror(err),
                       atomicfile_outcome(f->path));
    }
    if (rename(f->tmp, f->path) != 0) {
        err = errno;
        unlink(f->tmp);
        return err_set(e, "%s: cannot replace the file: %s; %s", f->path, strerror(err),
                       atomicfile_outcome(f->path));
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
