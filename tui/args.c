#include "args.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void args_free(int argc, char **argv) {
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
}

// The home folder a word's "~" or "~user" prefix (name, len bytes after
// the tilde) stands for, or NULL (the word then stays as typed, as in sh).
static const char *home_of(const char *name, size_t len) {
    if (len == 0) {
        const char *home = getenv("HOME");
        if (home && *home) return home;
        struct passwd *pw = getpwuid(getuid());
        return pw ? pw->pw_dir : NULL;
    }
    char user[256];
    if (len >= sizeof user) return NULL;
    memcpy(user, name, len);
    user[len] = '\0';
    struct passwd *pw = getpwnam(user);
    return pw ? pw->pw_dir : NULL;
}

// Reads one word from *p into a malloc'ed string, as sh does: quotes group,
// a backslash escapes (inside "" only before " and \), and an unquoted
// leading ~ or ~user up to the first '/' is a home folder. Blanks end the
// word only when `blanks_split`. Moves *p past the word; NULL on an
// unclosed quote or out of memory.
static char *read_word(const char **p, int blanks_split) {
    const char *s = *p, *tilde_end = NULL, *home = NULL;
    if (*s == '~') {
        tilde_end = s + 1 + strcspn(s + 1, "/ \t'\"\\");
        if (*tilde_end == '/' || *tilde_end == '\0' || (blanks_split && strchr(" \t", *tilde_end)))
            home = home_of(s + 1, (size_t)(tilde_end - s - 1));
    }
    size_t cap = strlen(s) + (home ? strlen(home) : 0) + 1, k = 0;
    char *word = malloc(cap);
    if (!word) return NULL;
    if (home) {
        k = strlen(home);
        memcpy(word, home, k);
        s = tilde_end;
    }
    char quote = 0;
    for (; *s && (quote || !blanks_split || (*s != ' ' && *s != '\t')); s++) {
        if (quote) {
            if (*s == quote)
                quote = 0;
            else if (*s == '\\' && quote == '"' && (s[1] == '"' || s[1] == '\\'))
                word[k++] = *++s;
            else
                word[k++] = *s;
        } else if (*s == '\'' || *s == '"') {
            quote = *s;
        } else if (*s == '\\' && s[1]) {
            word[k++] = *++s;
        } else {
            word[k++] = *s;
        }
    }
    if (quote) {
        free(word);
        return NULL;
    }
    word[k] = '\0';
    *p = s;
    return word;
}

int args_split(const char *line, int *argc, char ***argv) {
    // At most one word per two characters, plus the NULL.
    char **v = calloc(strlen(line) / 2 + 2, sizeof *v);
    int n = 0;
    if (!v) return -1;
    for (const char *p = line;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (!(v[n] = read_word(&p, 1))) {
            args_free(n, v);
            return -1;
        }
        n++;
    }
    *argc = n;
    *argv = v;
    return 0;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

// "file:///a%20b.png" (or file://localhost/...) -> "/a b.png", in place.
static void uri_to_path(char *s) {
    const char *src = s + strlen("file://");
    if (!strncmp(src, "localhost/", 10)) src += 9;
    char *dst = s;
    for (; *src; src++) {
        int hi, lo;
        if (*src == '%' && (hi = hex_digit(src[1])) >= 0 && (lo = hex_digit(src[2])) >= 0) {
            *dst++ = (char)(hi << 4 | lo);
            src += 2;
        } else {
            *dst++ = *src;
        }
    }
    *dst = '\0';
}

char *args_path(const char *line) {
    if (access(line, F_OK) == 0) return strdup(line);
    const char *p = line;
    char *word = read_word(&p, 0);
    if (!word) return strdup(line);  // an unclosed quote: the name as typed
    if (!strncmp(word, "file:///", 8) || !strncmp(word, "file://localhost/", 17))
        uri_to_path(word);
    return word;
}
