#include "args.h"

#include <stdlib.h>
#include <string.h>

void args_free(int argc, char **argv) {
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
}

int args_split(const char *line, int *argc, char ***argv) {
    size_t len = strlen(line);
    // At most one word per two characters, plus the NULL.
    char **v = calloc(len / 2 + 2, sizeof *v);
    char *word = malloc(len + 1);
    int n = 0;
    if (!v || !word) goto fail;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        size_t k = 0;
        char quote = 0;
        for (; *p && (quote || (*p != ' ' && *p != '\t')); p++) {
            if (quote) {
                if (*p == quote)
                    quote = 0;
                else if (*p == '\\' && quote == '"' && (p[1] == '"' || p[1] == '\\'))
                    word[k++] = *++p;
                else
                    word[k++] = *p;
            } else if (*p == '\'' || *p == '"') {
                quote = *p;
            } else if (*p == '\\' && p[1]) {
                word[k++] = *++p;
            } else {
                word[k++] = *p;
            }
        }
        if (quote) goto fail;
        word[k] = '\0';
        if (!(v[n] = strdup(word))) goto fail;
        n++;
    }
    free(word);
    *argc = n;
    *argv = v;
    return 0;
fail:
    free(word);
    if (v) args_free(n, v);
    return -1;
}
