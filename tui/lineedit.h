// lineedit: readline for the compare loops.
//
// lineedit_setup configures completion for both loops: a line is one image
// path (spaces included) unless it starts with ':', where the first word
// completes to a command and later words to file names.
//
// In the curses screen, readline is embedded through its callback
// interface and never touches the terminal: curses owns the loop and hands
// each typed byte to lineedit_feed; readline edits its line buffer (Emacs
// keys, history, Ctrl-R search, Tab completion) and the screen draws the
// prompt, the text and the cursor from lineedit_prompt/text/point, and the
// completion candidates from lineedit_matches.
#ifndef SIAMESE_LINEEDIT_H
#define SIAMESE_LINEEDIT_H

// commands: NULL-terminated words starting with ':' that complete as the
// first word of a line (may be NULL).
void lineedit_setup(const char *const *commands);

// Called with each finished line (malloc'ed: the handler frees it), or
// with NULL at end of input (Ctrl-D on an empty line).
typedef void (*LineHandler)(char *line, void *ctx);

void lineedit_begin(const char *prompt, LineHandler handler, void *ctx);
void lineedit_end(void);
void lineedit_feed(int byte);
void lineedit_set_prompt(const char *prompt);
// Replaces the line being edited (the cursor at its end).
void lineedit_set_line(const char *text);

const char *lineedit_prompt(void);  // the prompt as shown (Ctrl-R shows its own)
const char *lineedit_text(void);
int lineedit_point(void);  // the cursor, a byte offset into the text

// The candidates of the last ambiguous Tab (names without their folder,
// folders with a '/'), until the next key that is not Tab. Returns how
// many; *list is owned by lineedit.
int lineedit_matches(const char *const **list);
void lineedit_clear_matches(void);

#endif
