// text_escape: strings from files (layer names, file names) made safe to
// print; the messages built from them (err_set, err_prefix); text_fit's
// cut that shows.
#include <ctype.h>
#include <string.h>

#include "../engine/err.h"
#include "../engine/text.h"
#include "check.h"

typedef struct Case {
    const char *in, *out;
} Case;

static const Case CASES[] = {
    {"block1_conv1/kernel:0", "block1_conv1/kernel:0"},
    {"", ""},
    // Valid UTF-8 passes: accents, CJK, a 4-byte emoji, U+00A0 (the first
    // code point after the C1 controls), U+10FFFF (the last).
    {"\xc3\xbc \xc3\xb1 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", "\xc3\xbc \xc3\xb1 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"},
    {"\xc2\xa0|\xf4\x8f\xbf\xbf", "\xc2\xa0|\xf4\x8f\xbf\xbf"},
    // Controls: the terminal-clearing name of the issue, tab, CR, DEL, C1 CSI.
    {"evil\x1b[2J\nname", "evil\\x1b[2J\\nname"},
    {"a\tb\rc\x7f" "d\x01", "a\\tb\\rc\\x7fd\\x01"},
    {"x\xc2\x9b" "2Jy", "x\\xc2\\x9b2Jy"},
    // Every C1 control, the first (U+0080) and the last (U+009F, APC) too.
    {"\xc2\x80|\xc2\x9f", "\\xc2\\x80|\\xc2\\x9f"},
    // Not UTF-8: a Latin-1 byte, a stray continuation byte, overlong forms,
    // a surrogate, past U+10FFFF, a lead byte that cannot start anything,
    // a sequence cut short (mid-string and at the end).
    {"caf\xe9.png", "caf\\xe9.png"},
    {"\x80", "\\x80"},
    {"\xc0\xaf|\xe0\x80\xaf|\xf0\x80\x80\xaf", "\\xc0\\xaf|\\xe0\\x80\\xaf|\\xf0\\x80\\x80\\xaf"},
    {"\xed\xa0\x80", "\\xed\\xa0\\x80"},
    {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
    {"\xf5\xff", "\\xf5\\xff"},
    {"\xe6\x97z", "\\xe6\\x97z"},
    {"ok\xe6\x97", "ok\\xe6\\x97"},
    // Backslashes stay: escaping is idempotent.
    {"a\\x1b", "a\\x1b"},
};

int main(void) {
    char out[256], again[256];
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        text_escape(CASES[i].in, out, sizeof out);
        CHECK(!strcmp(out, CASES[i].out), "case %zu: got '%s', want '%s'", i, out, CASES[i].out);
        text_escape(out, again, sizeof again);
        CHECK(!strcmp(out, again), "case %zu: escaping twice changed '%s' to '%s'", i, out, again);
    }
    // A small buffer takes whole pieces only: no half escape, no half character.
    text_escape("ab\x1b" "cd", out, 6);
    CHECK(!strcmp(out, "ab"), "cap 6: '%s'", out);
    text_escape("ab\xe6\x97\xa5", out, 5);
    CHECK(!strcmp(out, "ab"), "cap 5 before a 3-byte character: '%s'", out);
    text_escape("ab\xe6\x97\xa5", out, 6);
    CHECK(!strcmp(out, "ab\xe6\x97\xa5"), "cap 6: '%s'", out);
    text_escape("abc", out, 1);
    CHECK(out[0] == '\0', "cap 1: '%s'", out);

    // Every byte value, alone: printable ASCII passes, the rest is escaped;
    // nothing printed holds a control byte or a byte >= 0x80.
    for (int b = 1; b < 256; b++) {
        char in[2] = {(char)b, 0};
        text_escape(in, out, sizeof out);
        int printable = b >= 0x20 && b < 0x7f;
        CHECK(printable ? !strcmp(out, in) : out[0] == '\\', "byte 0x%02x: '%s'", b, out);
        for (const unsigned char *p = (const unsigned char *)out; *p; p++)
            CHECK(*p >= 0x20 && *p < 0x7f, "byte 0x%02x escaped to a raw byte 0x%02x", b, *p);
    }

    // Messages: err_set escapes what it is given, err_prefix keeps the old
    // message as it was (escaped once, not twice).
    Err e;
    CHECK(err_set(&e, "%s: layer '%s' is missing", "w.h5", "x\x1b[2J\ny") == -1, "return value");
    CHECK(!strcmp(e.msg, "w.h5: layer 'x\\x1b[2J\\ny' is missing"), "err_set: %s", e.msg);
    err_prefix(&e, "loading %s", "m\n.h5");
    CHECK(!strcmp(e.msg, "loading m\\n.h5: w.h5: layer 'x\\x1b[2J\\ny' is missing"), "err_prefix: %s", e.msg);

    // A message longer than Err holds keeps its start and its end (what
    // went wrong, after a long path), cut between characters and escapes.
    {
        // Folders of letters, control bytes (escaped) and accents (2 bytes).
        char path[3000] = "";
        const char *pieces[] = {"d", "\x01", "\xc3\xa9", "/"};
        for (size_t i = 0; strlen(path) < sizeof path - 8; i++) strcat(path, pieces[i % 7 % 4]);
        err_set(&e, "image 1: %s/missing.png: %s", path, "No such file or directory");
        const size_t len = strlen(e.msg);
        CHECK(len < sizeof e.msg && len > sizeof e.msg - 8, "elided to %zu bytes", len);
        CHECK(!strncmp(e.msg, "image 1: ", 9), "the start kept: %.40s", e.msg);
        CHECK(strstr(e.msg, "..."), "the cut shown: %s", e.msg);
        const char *end = "/missing.png: No such file or directory";
        CHECK(len > strlen(end) && !strcmp(e.msg + len - strlen(end), end), "the end kept: %s", e.msg);
        char again[sizeof e.msg];
        CHECK(!strcmp(text_escape(e.msg, again, sizeof again), e.msg),
              "cut inside an escape or a character: %s", e.msg);
        err_prefix(&e, "loading %s", "m.h5");
        CHECK(!strncmp(e.msg, "loading m.h5: image 1: ", 23) && strlen(e.msg) < sizeof e.msg &&
                  !strcmp(e.msg + strlen(e.msg) - strlen(end), end),
              "err_prefix on a long message: %s", e.msg);
        // Every cut point: the result always escapes to itself.
        char out[64];
        for (size_t n = 40; n < 200; n++) {
            char raw[256], s2[1024];
            snprintf(raw, sizeof raw, "%.*s", (int)n, path);
            text_elide(text_escape(raw, s2, sizeof s2), out, sizeof out);
            CHECK(strlen(out) < sizeof out && !strcmp(text_escape(out, again, sizeof again), out),
                  "cut at %zu: %s", n, out);
            // (The pieces begin with 'd', '\\', '/' or é's first byte.)
            const char *cut = strstr(out, "...");
            CHECK(cut && strchr("d\\/\xc3", cut[3]), "cut at %zu inside a piece: %s", n, out);
            for (const char *b = strchr(out, '\\'); b; b = strchr(b + 1, '\\'))
                CHECK(b[1] == 'x' && isxdigit((unsigned char)b[2]) && isxdigit((unsigned char)b[3]),
                      "cut at %zu inside an escape: %s", n, out);
        }
    }

    // text_fit: what fits as is; a cut ends in "..." within the buffer.
    char fit[8];
    text_fit(fit, sizeof fit, "%s", "1234567");
    CHECK(!strcmp(fit, "1234567"), "fits: '%s'", fit);
    text_fit(fit, sizeof fit, "%s-%d", "abcdef", 42);
    CHECK(!strcmp(fit, "abcd..."), "cut: '%s'", fit);
    return check_summary("test_text");
}
