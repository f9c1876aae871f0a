#include "history.h"

#include <readline/history.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char history_path[4096];

void history_open(void) {
    const char *env = getenv("SIAMESE_HISTORY"), *home = getenv("HOME");
    if (env && *env) snprintf(history_path, sizeof history_path, "%s", env);
    else if (home && *home) snprintf(history_path, sizeof history_path, "%s/.siamese_history", home);
    else history_path[0] = '\0';
    using_history();
    stifle_history(HISTORY_MAX_ENTRIES);
    if (history_path[0]) read_history(history_path);  // a missing file is a fresh start
}

void history_remember(const char *line) {
    if (!line || !*line) return;
    for (int i = history_length - 1; i >= 0; i--) {
        HIST_ENTRY *h = history_get(history_base + i);
        if (h && !strcmp(h->line, line)) {
            HIST_ENTRY *gone = remove_history(i);
            if (gone) free_history_entry(gone);
        }
    }
    add_history(line);
    // Point past the end again: readline's callback mode starts the next
    // line before the screen adds this one, and a history position left on
    // an entry makes readline overwrite that entry with the next edit.
    using_history();
}

void history_save(void) {
    if (!history_path[0]) return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", history_path, (long)getpid());
    if (write_history(tmp) == 0) {
        if (rename(tmp, history_path) != 0) unlink(tmp);
    } else {
        unlink(tmp);
    }
}
