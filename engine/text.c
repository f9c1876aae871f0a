#include "text.h"

#include <stdio.h>
#include <string.h>

// Length of the valid UTF-8 sequence at s (1 to 4), or 0 when s does not
// start one. The ranges are those of RFC 3629's grammar: no overlong
// forms, no surrogates (U+D800..DFFF), nothing past U+10FFFF.
static int utf8_valid_length(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n;
    unsigned lo = 0x80, hi = 0xBF;  // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if (s[1] < lo || s[1] > hi) return 0;  // also stops at the NUL
    for (int i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

char *text_escape(const char *s, char *out, size_t cap) {
    if (!cap) return out;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        char piece[16];
        size_t len;
        int n = utf8_valid_length(p);
        // C1 controls (U+0080..U+009F) are C2 80..C2 9F in UTF-8: some
        // terminals obey them (C2 9B is CSI), so they are escaped too.
        int control = n == 1 ? *p < 0x20 || *p == 0x7F : n == 2 && p[0] == 0xC2 && p[1] < 0xA0;
        if (n && !control) {
            len = (size_t)n;
            for (int i = 0; i < n; i++) piece[i] = (char)p[i];
        } else {
            if (!n) n = 1;  // an invalid byte: escape it alone, resync on the next
            len = 0;
            for (int i = 0; i < n; i++) {
                const char *named = p[i] == '\n' ? "\\n" : p[i] == '\r' ? "\\r" : p[i] == '\t' ? "\\t" : NULL;
                if (named) len += (size_t)snprintf(piece + len, sizeof piece - len, "%s", named);
                else len += (size_t)snprintf(piece + len, sizeof piece - len, "\\x%02x", p[i]);
            }
        }
        if (o + len >= cap) break;  // whole pieces only
        for (size_t i = 0; i < len; i++) out[o++] = piece[i];
        p += n;
    }
    out[o] = '\0';
    return out;
}

// The length of what text_escape wrote at s: an escape (\n, \xNN) or one byte.
static size_t escape_length(const char *s) {
    if (s[0] != '\\') return 1;
    return s[1] == 'x' ? 4 : s[1] == 'n' || s[1] == 'r' || s[1] == 't' ? 2 : 1;
}

// Whether position at of s is inside a UTF-8 character or an escape; then
// *start gets where that begins and *end where it ends.
static int inside_piece(const char *s, size_t at, size_t *start, size_t *end) {
    size_t b = at;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
    if (b < at) {
        *start = b;
        *end = at;
        while (((unsigned char)s[*end] & 0xC0) == 0x80) (*end)++;
        return 1;
    }
    for (size_t k = 1; k <= 3 && k <= at; k++)
        if (s[at - k] == '\\' && escape_length(s + at - k) > k) {
            *start = at - k;
            *end = at - k + escape_length(s + at - k);
            return 1;
        }
    return 0;
}

char *text_elide(const char *s, char *out, size_t cap) {
    const size_t len = strlen(s);
    if (len < cap || cap < 16) return text_escape(s, out, cap);
    // A third of the room for the start, the rest for the end.
    size_t head = (cap - 4) / 3, tail = len - (cap - 4 - head), start, end;
    if (inside_piece(s, head, &start, &end)) head = start;
    if (inside_piece(s, tail, &start, &end)) tail = end;
    memcpy(out, s, head);
    memcpy(out + head, "...", 3);
    memcpy(out + head + 3, s + tail, len - tail + 1);
    return out;
}

void text_vfit(char *buf, size_t size, const char *fmt, va_list ap) {
    int n = vsnprintf(buf, size, fmt, ap);
    if (n >= 0 && (size_t)n >= size && size > 4) memcpy(buf + size - 4, "...", 4);
}

void text_fit(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    text_vfit(buf, size, fmt, ap);
    va_end(ap);
}
