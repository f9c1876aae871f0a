#define _GNU_SOURCE  // vasprintf
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

// Messages carry names read from files (layers, weights, images): each is
// escaped as it is made (text_escape), so whoever prints an Err prints
// text that cannot drive the terminal. One longer than Err holds loses its
// middle (text_elide), not its end: a path near PATH_MAX would otherwise
// leave no room for what is wrong with it.
static int set_message(Err *e, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    char *raw = NULL, *escaped = NULL;
    const int n = vasprintf(&raw, fmt, ap);
    // (Each byte escapes to at most 4: "\xNN".)
    if (n >= 0 && (escaped = malloc(4 * (size_t)n + 1))) {
        text_elide(text_escape(raw, escaped, 4 * (size_t)n + 1), e->msg, sizeof e->msg);
    } else {  // out of memory: what fits, cut at the end
        char fitted[sizeof e->msg];
        text_vfit(fitted, sizeof fitted, fmt, again);
        text_escape(fitted, e->msg, sizeof e->msg);
    }
    va_end(again);
    if (n >= 0) free(raw);
    free(escaped);
    return -1;
}

int err_set(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    set_message(e, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    char head[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    text_vfit(head, sizeof head, fmt, ap);
    va_end(ap);
    // The old message is escaped already; escaping it again changes nothing.
    memcpy(old, e->msg, sizeof old);
    return err_set(e, "%s: %s", head, old);
}
