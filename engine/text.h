// text: strings that come from files (layer and weight names, file names,
// lines of a labels file, a checkpoint's settings) made safe to print.
// A weights file can name a layer "\x1b[2J\n...": printed raw, that would
// clear the user's terminal and split one error over two lines.
#ifndef SIAMESE_TEXT_H
#define SIAMESE_TEXT_H

#include <stdarg.h>
#include <stddef.h>

// Copies s into out (cap bytes, always NUL-terminated) with control
// characters (C0, DEL, C1) written as \n, \r, \t or \xNN per byte, and
// every byte that is not part of valid UTF-8 (stray continuation bytes,
// overlong forms, surrogates, code points past U+10FFFF, cut-off
// sequences) as \xNN; valid UTF-8 text, accents and all, passes unchanged.
// Backslashes are kept as they are, so the result has nothing left to
// escape: escaping it again changes nothing (messages are escaped where
// they are made, and again where a message is wrapped in another). Never
// cuts an escape or a character in half when out is too small. Returns out.
char *text_escape(const char *s, char *out, size_t cap);

// Copies s, text that text_escape wrote, into out (cap bytes): whole when
// it fits, else its start and its end with "..." between them, cut
// between characters and escapes. A message is cut so: its end says what
// went wrong, and a long path before it would otherwise push that out.
char *text_elide(const char *s, char *out, size_t cap);

// snprintf for text that only shows (a message, a report line, a screen's
// row) in a buffer of a fixed size: what does not fit is cut, and the text
// then ends in "..." so that the cut shows. Text that is data (paths, a
// checkpoint's state) is sized to its content instead.
void text_fit(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void text_vfit(char *buf, size_t size, const char *fmt, va_list ap);

#endif
