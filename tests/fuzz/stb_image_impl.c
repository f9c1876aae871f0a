// stb_image compiled into the fuzz harnesses, so the sanitizers and the
// fuzzer's coverage reach inside the decoders (the program links Debian's
// libstb, which is not instrumented). Same header, same version.
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
