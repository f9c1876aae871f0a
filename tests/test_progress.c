// The progress line of the long commands (tui/progress.c): counts, rate
// and time left, throttled, a summary at the end of a stage, a new stage
// on its own line, and silence when off.
#include "../tui/progress.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

// What p wrote since the last call, \r and the clear-line escape shown
// as '|' and nothing, so a check reads as the terminal would.
static char *drain(FILE *f, char **buf, size_t *len) {
    fflush(f);
    static char out[4096];
    size_t o = 0;
    for (size_t i = 0; i < *len && o + 1 < sizeof out; i++) {
        if ((*buf)[i] == '\r')
            out[o++] = '|';
        else if (!strncmp(*buf + i, "\033[K", 3))
            i += 2;
        else
            out[o++] = (*buf)[i];
    }
    out[o] = '\0';
    rewind(f);
    return out;
}

int main(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    Progress p;
    progress_init(&p);
    p.out = f;
    p.on = 1;

    progress_at(&p, "images embedded", 0, 13180, 100.0);
    char *s = drain(f, &buf, &len);
    CHECK(!strcmp(s, "|siamese: 0/13180 images embedded"), "got '%s'", s);
    // Within a quarter of a second: not redrawn.
    progress_at(&p, "images embedded", 64, 13180, 100.2);
    s = drain(f, &buf, &len);
    CHECK(!strcmp(s, ""), "got '%s'", s);
    // 3200 in 77.7 s: 41.2 a second, 9980 left: 4 min 02 s.
    progress_at(&p, "images embedded", 3200, 13180, 177.7);
    s = drain(f, &buf, &len);
    CHECK(!strcmp(s, "|siamese: 3200/13180 images embedded (41.2/s, 4m02s left)"), "got '%s'", s);
    // The end of the stage: a summary, and the line ends.
    progress_at(&p, "images embedded", 13180, 13180, 420.0);
    s = drain(f, &buf, &len);
    CHECK(!strcmp(s, "|siamese: 13180/13180 images embedded in 5m20s (41.2/s)\n"), "got '%s'", s);
    // A new stage whose first count ends the line of an unfinished one.
    progress_at(&p, "episodes scored", 50, 400, 421.0);
    progress_at(&p, "images embedded", 10, 7000, 425.0);
    s = drain(f, &buf, &len);
    CHECK(!strcmp(s, "|siamese: 50/400 episodes scored\n|siamese: 10/7000 images embedded"),
          "got '%s'", s);
    // Hours for long stages; progress_end closes an open line once.
    progress_at(&p, "images embedded", 100, 7000, 435.0);
    progress_end(&p);
    progress_end(&p);
    s = drain(f, &buf, &len);
    CHECK(!strcmp(s, "|siamese: 100/7000 images embedded (10.0/s, 11m30s left)\n"), "got '%s'", s);
    progress_at(&p, "entries scored", 1, 100000, 0.0);
    progress_at(&p, "entries scored", 10, 100000, 10.0);
    s = drain(f, &buf, &len);
    CHECK(strstr(s, "(1.0/s, 27h46m left)") != NULL, "got '%s'", s);
    progress_end(&p);
    drain(f, &buf, &len);

    // Off: nothing at all.
    p.on = 0;
    progress_at(&p, "images embedded", 1, 2, 1000.0);
    progress_at(&p, "images embedded", 2, 2, 2000.0);
    progress_end(&p);
    s = drain(f, &buf, &len);
    CHECK(!strcmp(s, ""), "got '%s'", s);

    // SIAMESE_PROGRESS decides over the terminal test.
    setenv("SIAMESE_PROGRESS", "1", 1);
    progress_init(&p);
    CHECK(p.on, "SIAMESE_PROGRESS=1 turns it on");
    setenv("SIAMESE_PROGRESS", "0", 1);
    progress_init(&p);
    CHECK(!p.on, "SIAMESE_PROGRESS=0 turns it off");
    fclose(f);
    free(buf);
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures != 0;
}
