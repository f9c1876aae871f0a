// args: a command line typed in the compare screen (":train --epochs 3")
// split into words as a shell would: blanks separate, quotes ('' and "")
// group, a backslash escapes the next character.
#ifndef SIAMESE_ARGS_H
#define SIAMESE_ARGS_H

// *argv gets argc words plus a NULL; 0, or -1 on an unclosed quote or out
// of memory (nothing to free then).
int args_split(const char *line, int *argc, char ***argv);
void args_free(int argc, char **argv);

#endif
