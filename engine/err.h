// err: the error message that travels up from the engine to the front.
// Engine functions never print or exit: they return -1 and fill an Err with
// a sentence that names the file (or option) and says what was expected and
// what was found. Only tui/ decides how to show it and which exit status.
// A message is at most 1023 bytes: a longer one loses its middle, visibly
// ("..."), keeping its start and what went wrong at its end.
#ifndef SIAMESE_ERR_H
#define SIAMESE_ERR_H

#include <stddef.h>

typedef struct Err {
    char msg[1024];
} Err;

// Sets the message (printf-style) and returns -1, so `return err_set(...)`.
// The message is escaped (text_escape): a name read from a file cannot put
// control characters or invalid UTF-8 on the user's terminal.
int err_set(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Prefixes an existing message ("while loading X: ...") and returns -1.
int err_prefix(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
