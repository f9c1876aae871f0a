// plugin: the optional parts of the program that are shared libraries
// loaded at run time (the CUDA backend, the MPI transport of data-parallel
// training), so that the program itself links neither CUDA nor MPI and
// runs where they are not installed.
#ifndef SIAMESE_PLUGIN_H
#define SIAMESE_PLUGIN_H

#include <stddef.h>

// dlopen of the library called name: from the executable's folder first
// (where `make` puts it), then on the loader's path. NULL with the reason
// in why when it cannot be loaded.
void *plugin_open(const char *name, char *why, size_t why_len);

#endif
