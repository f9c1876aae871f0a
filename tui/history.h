// history: the readline history of image paths, kept between runs in a
// file (SIAMESE_HISTORY, else ~/.siamese_history), bounded, without
// duplicates, and written atomically (temporary file + rename).
#ifndef SIAMESE_HISTORY_H
#define SIAMESE_HISTORY_H

#define HISTORY_MAX_ENTRIES 1000

// Reads the file. One that cannot be read or written is said once (on
// standard error, naming the file and why) and the history is then not kept.
void history_open(void);
// Adds a line, dropping an earlier identical entry.
void history_remember(const char *line);
void history_save(void);

#endif
