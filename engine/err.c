#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

// Messages carry names read from files (layers, weights, images): each is
// escaped as it is made (text_escape), so whoever prints an Err prints
// text that cannot drive the terminal. One longer than Err holds is cut,
// visibly (text_fit).
int err_set(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    char raw[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    text_vfit(raw, sizeof raw, fmt, ap);
    va_end(ap);
    text_escape(raw, e->msg, sizeof e->msg);
    return -1;
}

int err_prefix(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    char head[512], raw[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    text_vfit(head, sizeof head, fmt, ap);
    va_end(ap);
    // The old message is escaped already; escaping it again changes nothing.
    text_fit(raw, sizeof raw, "%s: %s", head, e->msg);
    text_escape(raw, e->msg, sizeof e->msg);
    return -1;
}
