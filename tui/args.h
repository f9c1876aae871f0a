// args: what is typed at the compare loop's prompts, read as a shell would.
// A command line (":train --epochs 3") splits into words: blanks separate,
// quotes ('' and "") group, a backslash escapes the next character, and a
// word's leading ~ or ~user names a home folder. A path (the image
// prompts) is the whole line as one word, so that a name with blanks needs
// no quoting, while a path pasted quoted or escaped (as file managers and
// drag and drop write them) or as a file:// URI works too.
#ifndef SIAMESE_ARGS_H
#define SIAMESE_ARGS_H

// *argv gets argc words plus a NULL; 0, or -1 on an unclosed quote or out
// of memory (nothing to free then).
int args_split(const char *line, int *argc, char ***argv);
void args_free(int argc, char **argv);

// The file a line typed at an image prompt names (malloc'ed; NULL when out
// of memory): the line itself when such a file exists (a name may hold
// quotes or backslashes), else the line read as one shell word (blanks
// kept), else a file:// URI's path, percent-decoded.
char *args_path(const char *line);

#endif
