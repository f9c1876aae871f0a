// dataset: the image folders of training and evaluation, the train /
// validation split and the pair sampler.
//
// Two layouts, as the Python original reads them:
//   Omniglot   ROOT/<alphabet>/<character>/*.png   classes are characters,
//                                                  grouped by alphabet;
//   classes    ROOT/<class>/*                      a user's own classes (one
//                                                  group holds them all).
// ROOT is DIR/images_background for training and e.g. images_evaluation
// for evaluation. Scanning is sorted (the same order on every machine),
// skips hidden entries, follows symbolic links without looping, decodes
// every image once so that a broken file is reported before training
// starts, and leaves out (and reports) classes with too few images for the
// dataset's use (DatasetUse), so the sampler never has to retry.
#ifndef SIAMESE_DATASET_H
#define SIAMESE_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rng.h"

typedef enum DatasetLayout {
    LAYOUT_AUTO = 0,   // detect (a request only)
    LAYOUT_OMNIGLOT,   // ROOT/<alphabet>/<character>/<image>
    LAYOUT_CLASSES,    // ROOT/<class>/<image>
} DatasetLayout;

// What a dataset is scanned for, which decides the images a class needs:
//   DATASET_TRAINING    3: a training sample takes a positive pair of a
//                       class and a third image for its negative pair;
//   DATASET_EVALUATION  2: a one-shot trial takes a test image of its true
//                       class and a different one as its support, and a
//                       verification same pair two different images.
typedef enum DatasetUse {
    DATASET_TRAINING,
    DATASET_EVALUATION,
} DatasetUse;

typedef struct DatasetImage {
    char *path;
    int cls;      // index into classes
    int drawer;   // Omniglot's <charid>_<drawer>.png, else -1
} DatasetImage;

typedef struct DatasetClass {
    char *name;   // "alphabet/character" or "class"
    int group;    // index into groups
    int first, count;  // its images: images[first .. first+count)
} DatasetClass;

typedef struct Dataset {
    char root[4096];
    DatasetLayout layout;
    DatasetImage *images;   // sorted by class, then file name
    int n_images;
    DatasetClass *classes;
    int n_classes;
    char **groups;          // alphabet names; one "" group in the classes layout
    int n_groups;
    int min_class_images;   // the images a class needs for the scan's DatasetUse
    // What the scan left out, for the user.
    int n_small_classes;    // classes with fewer than min_class_images images
    int n_unreadable;       // files that did not decode
    int n_other_files;      // files without an image extension
    char notes[4096];       // one line per finding, ready to show
} Dataset;

// Scans root for use. want is LAYOUT_AUTO to detect, or the layout to
// insist on. threads decode the images in parallel (<= 0: all cores).
// Fails with a message that explains the expected layout when root does
// not fit it, or when fewer than min_classes usable classes remain.
int dataset_scan(Dataset *ds, const char *root, DatasetLayout want, DatasetUse use,
                 int min_classes, int threads, Err *e);
// The same, telling `progress` now and then (a few times a second, from one
// of the decoding threads, and once at the end) how many of the files are
// decoded: decoding a large dataset takes a while.
typedef void (*DatasetProgressFn)(int done, int total, void *ctx);
int dataset_scan_progress(Dataset *ds, const char *root, DatasetLayout want, DatasetUse use,
                          int min_classes, int threads, DatasetProgressFn progress, void *ctx,
                          Err *e);
void dataset_free(Dataset *ds);
const char *dataset_layout_name(DatasetLayout l);

// The original's split: all image indices shuffled with a fixed seed (1,
// whatever --seed is, so the validation images never change), the first
// int(n * (1 - val_ratio)) for training. train and val get malloc'ed arrays.
int dataset_split(const Dataset *ds, double val_ratio, int **train, int *n_train, int **val,
                  int *n_val, Err *e);

// Pair sampling over a subset of the images (a split), as the original:
// each sample draws a class with at least ds->min_class_images images of
// the subset, takes two of them as a positive pair and a third against an
// image of another class as a negative pair (in an evaluation's dataset,
// where a class may have 2 images, one of the pair's when the class has
// no third). With probability same_group the other class comes
// from the same alphabet (when the alphabet has another class there).
// Every draw is from precomputed lists: it never retries or loops.
typedef struct PairSampler {
    const Dataset *ds;
    double same_group;
    int *img;            // the subset's image indices grouped by class
    int *cls_first;      // per class: its images in img[cls_first .. +cls_count)
    int *cls_count;
    int *pos;            // classes with >= ds->min_class_images images in the subset
    int n_pos;
    int *neg;            // classes with >= 1 image in the subset, grouped by group
    int n_neg;
    int *neg_at;         // per class: its index in neg, or -1
    int *grp_first;      // per group: its classes in neg[grp_first .. +grp_count)
    int *grp_count;
} PairSampler;

int sampler_init(PairSampler *s, const Dataset *ds, const int *subset, int n, double same_group,
                 Err *e);
void sampler_free(PairSampler *s);
// One sample: out[0], out[1] the positive pair, out[2], out[3] the negative
// pair (image indices into ds->images).
void sampler_draw(const PairSampler *s, Rng *r, int out[4]);

// A seed for one batch of one stream, so that any batch can be rebuilt
// alone (by any thread, after a resume) with the same numbers.
uint64_t dataset_batch_seed(uint64_t seed, int stream, long epoch, long batch);

// Omniglot's drawer number from "<charid>_<drawer>.<ext>", or -1.
int dataset_drawer_of(const char *path);

// Every image file under dir (recursively, sorted, symbolic links followed
// once), for ranking a gallery. paths is malloc'ed (free each and the
// array). Non-image files are counted in *n_other.
int dataset_list_images(const char *dir, char ***paths, int *n, int *n_other, Err *e);

// Whether a file name has an image extension we decode.
int dataset_is_image_name(const char *name);

#endif
