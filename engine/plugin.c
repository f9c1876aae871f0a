#include "plugin.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void *plugin_open(const char *name, char *why, size_t why_len) {
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    void *h = NULL;
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(path, sizeof path, "%s/%s", exe, name);
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        // Present but not loadable (a library it needs is missing): that reason.
        if (!h && access(path, F_OK) == 0) {
            snprintf(why, why_len, "%s", dlerror());
            return NULL;
        }
    }
    if (!h) h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!h) snprintf(why, why_len, "%s", dlerror());
    return h;
}
