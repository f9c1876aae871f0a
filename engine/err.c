#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

// A text longer than its buffer is cut, and the cut shows: it ends in "...".
static void vfit(char *buf, size_t size, const char *fmt, va_list ap) {
    int n = vsnprintf(buf, size, fmt, ap);
    if (n >= 0 && (size_t)n >= size && size > 4) memcpy(buf + size - 4, "...", 4);
}

void text_fit(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfit(buf, size, fmt, ap);
    va_end(ap);
}

int err_set(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    vfit(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    char head[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vfit(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    text_fit(e->msg, sizeof e->msg, "%s: %s", head, old);
    return -1;
}
