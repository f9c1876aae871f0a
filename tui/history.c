#include "history.h"

#include <errno.h>
#include <readline/history.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static char history_path[4096];  // "" when the history is not kept
static int told;                 // the user was told it is not kept: once is enough

// Says once that the history is not kept, naming the file and why (in
// the compare screen the capture shows it among the messages).
static void not_kept(const char *verb, int err, const char *more) {
    if (!told++)
        cli_error("note: cannot %s the history file %s (%s): %sthe lines typed now will not be kept",
                  verb, history_path, strerror(err), more);
}

// Writes the history to a temporary file beside the history file and,
// when replace, renames it over the file, so that it is replaced whole or
// not at all. Returns 0 or the errno of the failure.
static int write_beside(int replace) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", history_path, (long)getpid());
    int err = write_history(tmp);
    if (!err && replace && rename(tmp, history_path) != 0) err = errno;
    if (err || !replace) unlink(tmp);
    return err;
}

void history_open(void) {
    const char *env = getenv("SIAMESE_HISTORY"), *home = getenv("HOME");
    if (env && *env) snprintf(history_path, sizeof history_path, "%s", env);
    else if (home && *home) snprintf(history_path, sizeof history_path, "%s/.siamese_history", home);
    else history_path[0] = '\0';
    using_history();
    stifle_history(HISTORY_MAX_ENTRIES);
    if (!history_path[0]) return;
    // A missing file is a fresh start. One that cannot be read is left as
    // it is: replaced by this run's lines, it would be lost.
    struct stat st;
    int err = stat(history_path, &st) == 0 && S_ISDIR(st.st_mode) ? EISDIR
                                                                   : read_history(history_path);
    if (err && err != ENOENT) {
        not_kept("read", err, "it is left as it is, and ");
        history_path[0] = '\0';
        return;
    }
    // Whether it can be written, found now (the file itself untouched),
    // while the user can still do something about it, rather than at the
    // first line, or never seen if that line quits.
    if ((err = write_beside(0))) {
        not_kept("write", err, "");
        history_path[0] = '\0';
    }
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
    int err = write_beside(1);
    if (err) not_kept("write", err, "");  // (since the start: a full disk)
}
