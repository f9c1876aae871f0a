// gallery: an index of the images under folders, their features computed
// once, for 1:N search (search.h) without decoding a gallery again.
//
// The index is an HDF5 file (n entries, F features each):
//   /  attrs        siamese_index (the format's version, 1), model_id (16 hex
//                   digits, gallery_model_id), model (what it was, for
//                   messages), feat_dim F, count n, code_dim C,
//                   arithmetic (what computed the features, gallery_arithmetic:
//                   "cpu fp32", "cuda tf32"...; absent from an index written
//                   before it was recorded, or holding entries of one)
//   /features       float32 (n,F)  the backbone's features: the exact head's input
//   /codes          uint8   (n,C)  the same in the cheap stage's 8-bit code (proxy.h)
//   /code_step      float32 (1)    the codes' step
//   /readable       uint8   (n)    0: the file did not decode (its features are
//                                  zeros); kept, and tried again at each update
//                                  (a permission fixed changes neither size
//                                  nor time)
//   /file_size      int64   (n)    bytes, and
//   /file_mtime_ns  int64   (n)    modification time: a file whose size or time
//                                  differs from these is embedded again
//   /path_offsets   int64   (n+1)  entry i's path is paths[path_offsets[i] ..]
//   /paths          uint8          absolute paths, each ending in a NUL
// Every dataset is contiguous: the entries are read and written with
// pread/pwrite at their offsets (HDF5 itself writes only the few KB of
// metadata), and h5py or h5dump read the file as any other.
#ifndef SIAMESE_GALLERY_H
#define SIAMESE_GALLERY_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "eval.h"
#include "model.h"

#define GALLERY_FORMAT 1
// Undecodable files an update names one by one (GalleryUpdate).
#define GALLERY_NAMED 10

// An open index: the attributes, and where each dataset's bytes lie.
typedef struct Gallery {
    char path[4096];
    int fd;
    long n;        // entries
    int feat_dim;  // F
    int code_dim;  // C
    char model_id[17];
    char model[512];  // "model_data/x.h5 (compact, 105 px, inverted input)"
    char arithmetic[64];  // "cpu fp32" (gallery_arithmetic); "" when not recorded
    float code_step;
    off_t at_features, at_codes, at_code_step, at_readable, at_size, at_mtime, at_path_offsets,
        at_paths;
    long paths_bytes;
} Gallery;

int gallery_open(Gallery *g, const char *path, Err *e);
void gallery_close(Gallery *g);

// Rows [i0, i0+count) of the features (count,F), the codes (count,C) and
// the readable flags (count).
int gallery_read_features(const Gallery *g, long i0, long count, float *out, Err *e);
int gallery_read_codes(const Gallery *g, long i0, long count, uint8_t *out, Err *e);
int gallery_read_readable(const Gallery *g, long i0, long count, uint8_t *out, Err *e);
// Entry i's path.
int gallery_entry_path(const Gallery *g, long i, char *buf, size_t len, Err *e);
// Whether entry i's file (path, its path) is still the one indexed: *current
// 1 when a file of the recorded size and time is there (or the entry is a
// made-up one), 0 when it is gone or changed since.
int gallery_entry_current(const Gallery *g, long i, const char *path, int *current, Err *e);
// The entry whose path is path (absolute, as stored), or -1 in *index.
int gallery_find_path(const Gallery *g, const char *path, long *index, Err *e);

// The model's identity: FNV-1a over its architecture, its preprocessing
// and every weight, as 16 hex digits. Features of two models agree only
// when their identities do.
int gallery_model_id(const Model *m, char out[17], Err *e);
// "compact, 105 px, inverted input" into buf.
void gallery_model_describe(const Model *m, char *buf, size_t len);
// The arithmetic b computes features in, as an index records it: its kind
// of device, the precision it computes in (b->precision: tf32 on the CPU
// is fp32) and bfloat16 activations where it keeps them: "cpu fp32",
// "cuda tf32", "cuda bf16 with bf16 activations". Features of one model agree
// to the last digit only within one arithmetic.
void gallery_arithmetic(const Backend *b, char *buf, size_t len);
// Fails, naming both models, unless g was indexed with m, and unless its
// rows have m's feature count (every reader sizes its buffers by m);
// model_path is m's file, for the message. Fails too, naming g's file and
// both arithmetics, when g records another arithmetic than m's backend
// computes in. An index that records none passes (g->arithmetic is "").
int gallery_check_model(const Gallery *g, const Model *m, const char *model_path, Err *e);

typedef struct GalleryUpdate {
    long entries;                 // in the index written
    long kept;                    // entries carried over without embedding
    long added;                   // files new to the index
    long changed;                 // files embedded again (size or time changed)
    long retried;                 // unchanged files that did not decode, tried again
    long removed;                 // entries under the folder whose file is gone
    long unreadable;              // files just embedded that did not decode
    // The first GALLERY_NAMED of them, in path order: "PATH: why".
    char unreadable_msg[GALLERY_NAMED][sizeof(((Err *)0)->msg)];
    int unrecorded;               // entries kept from an index that recorded no
                                  // arithmetic: the new one records none either
    int stopped;                  // the signal that stopped the update, on this
                                  // rank or another (0: none)
} GalleryUpdate;

// Indexes the images under dir (recursively) into out: a new index, or an
// update of an existing one made with the same model (entries of other
// folders stay; under dir, new and changed files are embedded and removed
// ones dropped). out is replaced atomically (atomicfile.h): a failure or a
// kill at any moment leaves the previous index as it was. model_path names
// the model in the index, for messages. o's progress gets
// "images embedded". When *stop becomes non-zero (a signal) the update
// ends between two batches, as a failure that changed nothing. Under an
// MPI launcher (o->dist) rank 0 calls this and the other ranks embed their
// shares of the files (eval_embed_serve); a signal on any rank stops all.
int gallery_index(Model *m, const char *model_path, const char *dir, const char *out,
                  const EvalOpts *o, const volatile sig_atomic_t *stop, GalleryUpdate *st, Err *e);

// For benchmarks: a new index of n made-up entries (paths synthetic/NNN;
// features drawn in clusters, shaped as a trained backbone's ReLU outputs,
// deterministic in seed) for model m. o's progress gets "entries made".
int gallery_index_synthetic(Model *m, const char *model_path, long n, uint64_t seed,
                            const char *out, const EvalOpts *o, GalleryUpdate *st, Err *e);

#endif
