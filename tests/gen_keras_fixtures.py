#!/usr/bin/env python3
"""Keras weight files and Keras predictions for the C loader / forward tests.

Builds the Siamese network of the Keras "Siamese-keras" repository
(bubbliiiing: nets/siamese.py + nets/vgg.py) with tf-keras, at reduced widths,
with deterministic random weights, and writes (tests/fixtures/):

  keras_compact.h5          save_weights, widths 16,16|32,32|64x3|128x3|128x3,
                            Dense 512 + 1 named dense_1/dense_2 (as Keras 2.1.5)
  keras_compact_pairs.txt   Keras predictions for fixture image pairs
  keras_tiny_tfkeras.h5     save_weights, widths 4,4|8,8|8x3|16x3|16x3, Dense 32
                            + 1 with tf-keras default names (dense, dense_1)
  keras_tiny_fullmodel.h5   model.save of the same tiny model (HDF5 full model)
  keras_tiny_pairs.txt      its predictions for the same pairs
  keras1_vgg_notop_tiny.h5  h5py-made Keras 1 style VGG16 "notop" file, tiny
                            widths (layout of vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5)
  keras_split_attr_tiny.h5  keras_tiny_tfkeras.h5 with layer_names split over
                            layer_names0, layer_names1, ... attributes

Run from the repo root after gen_images.py:
    /work/venv/bin/python tests/gen_keras_fixtures.py
"""
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py
import numpy as np
import tensorflow as tf
import tf_keras as keras
from tf_keras import backend as K
from tf_keras.layers import Conv2D, Dense, Flatten, Input, Lambda, MaxPooling2D
from tf_keras.models import Model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_preprocess_ref import IMAGES, image_names, load_default  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")

COMPACT = (16, 16, 32, 32, 64, 64, 64, 128, 128, 128, 128, 128, 128)
TINY = (4, 4, 8, 8, 8, 8, 8, 16, 16, 16, 16, 16, 16)
CONV_NAMES = ["block1_conv1", "block1_conv2",
              "block2_conv1", "block2_conv2",
              "block3_conv1", "block3_conv2", "block3_conv3",
              "block4_conv1", "block4_conv2", "block4_conv3",
              "block5_conv1", "block5_conv2", "block5_conv3"]
POOL_AFTER = {"block1_conv2": "block1_pool", "block2_conv2": "block2_pool",
              "block3_conv3": "block3_pool", "block4_conv3": "block4_pool",
              "block5_conv3": "block5_pool"}
VGG_LAYER_ORDER = []
for _c in CONV_NAMES:
    VGG_LAYER_ORDER.append(_c)
    if _c in POOL_AFTER:
        VGG_LAYER_ORDER.append(POOL_AFTER[_c])

# Image pairs (file names in tests/fixtures/images): identical pairs, and
# pairs of different sizes / modes / formats.
PAIRS = [
    ("glyph_105x105_L.png", "glyph_105x105_L.png"),
    ("big_300x300_RGB.jpg", "big_300x300_RGB.jpg"),
    ("glyph_105x105_L.png", "glyph_105x105_LA.png"),
    ("glyph_105x105_L.png", "glyph_106x105_L.pgm"),
    ("shapes_64x64_RGB.jpg", "glyph_64x64_L.jpg"),
    ("scene_200x150_RGBA.png", "tall_150x200_RGB.bmp"),
    ("strip_31x97_P.gif", "glyph_105x105_P.png"),
    ("dot_1x1_RGB.ppm", "noise_105x105_RGB.tga"),
    ("big_300x300_RGB.jpg", "scene_200x150_RGBA.png"),
    ("glyph_105x105_P.png", "glyph_105x105_LA.png"),
    ("noise_105x105_RGB.tga", "glyph_106x105_L.pgm"),
    ("tall_150x200_RGB.bmp", "strip_31x97_P.gif"),
    ("glyph_64x64_L.jpg", "glyph_105x105_L.png"),
    # JPEGs as users' photos are (4:2:0, progressive, 4:2:2, CMYK): these
    # hold the decoder to Pillow's pixels, not only the network.
    ("photo_320x240_RGB.jpg", "glyph_105x105_L.png"),
    ("prog_160x120_RGB.jpg", "s422_90x70_RGB.jpg"),
    ("cmyk_80x60_CMYK.jpg", "shapes_64x64_RGB.jpg"),
    ("photo_320x240_RGB.jpg", "big_300x300_RGB.jpg"),
    ("s422_90x70_RGB.jpg", "glyph_64x64_L.jpg"),
    ("prog_160x120_RGB.jpg", "cmyk_80x60_CMYK.jpg"),
]


class VGG16:
    """Shared layers, called on both inputs (as nets/vgg.py of the repo)."""

    def __init__(self, widths):
        self.layers = []
        for name, w in zip(CONV_NAMES, widths):
            self.layers.append(Conv2D(w, (3, 3), activation="relu", padding="same", name=name))
            if name in POOL_AFTER:
                self.layers.append(MaxPooling2D((2, 2), strides=(2, 2), name=POOL_AFTER[name]))
        self.flatten = Flatten(name="flatten")

    def call(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.flatten(x)


def build_siamese(widths, hidden, size, names=None):
    """names: optional dict with input_1, input_2, lambda, dense_a, dense_b."""
    names = names or {}
    vgg = VGG16(widths)
    in1 = Input(shape=(size, size, 3), name=names.get("input_1"))
    in2 = Input(shape=(size, size, 3), name=names.get("input_2"))
    e1 = vgg.call(in1)
    e2 = vgg.call(in2)
    l1 = Lambda(lambda t: K.abs(t[0] - t[1]), name=names.get("lambda"))([e1, e2])
    h = Dense(hidden, activation="relu", name=names.get("dense_a"))(l1)
    out = Dense(1, activation="sigmoid", name=names.get("dense_b"))(h)
    return Model([in1, in2], out)


def dense_layers(model):
    return [l for l in model.layers if isinstance(l, Dense)]


def init_weights(model, rng):
    """He-uniform conv kernels (keeps the 13-layer ReLU stack alive),
    Glorot-uniform dense kernels, small non-zero random biases."""
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        kernel, bias = ws
        if isinstance(layer, Conv2D):
            fan_in = kernel.shape[0] * kernel.shape[1] * kernel.shape[2]
            lim = np.sqrt(6.0 / fan_in)
        else:
            lim = np.sqrt(6.0 / (kernel.shape[0] + kernel.shape[1]))
        kernel = rng.uniform(-lim, lim, size=kernel.shape).astype(np.float32)
        bias = rng.uniform(-0.05, 0.05, size=bias.shape).astype(np.float32)
        layer.set_weights([kernel, bias])


# The logit of identical images, and minus that of the least similar pair:
# predictions spread over (0.018, 0.982). Near 0.5 everywhere (an untouched
# random head), an input error of a few levels moves no prediction by 1e-5
# and the test would prove nothing about decoding.
LOGIT_SPREAD = 4.0


def spread_head(model, x1, x2, rng):
    """Rescale the output Dense so predictions spread over (0, 1): identical
    images (distance 0) -> logit +LOGIT_SPREAD, the farthest pair -> -LOGIT_SPREAD."""
    d_hidden, d_out = dense_layers(model)
    sub = Model(model.inputs, d_hidden.output)
    h = sub.predict([x1, x2], verbose=0).astype(np.float64)          # (P, hidden)
    h0 = np.maximum(d_hidden.get_weights()[1].astype(np.float64), 0)  # distance 0
    w = -np.abs(rng.uniform(0.2, 1.0, size=(h.shape[1], 1)))
    z = (h @ w)[:, 0]
    z0 = float(h0 @ w[:, 0])
    zmin = float(z.min())
    if not z0 - zmin > 1e-6:
        sys.exit("degenerate head: cannot spread predictions")
    a = 2 * LOGIT_SPREAD / (z0 - zmin)
    b = LOGIT_SPREAD - a * z0
    d_out.set_weights([(a * w).astype(np.float32), np.array([b], np.float32)])


def load_pairs():
    names = set(image_names())
    for p in PAIRS:
        for n in p:
            if n not in names:
                sys.exit(f"missing fixture image {n}: run tests/gen_images.py first")
    x1 = np.stack([load_default(os.path.join(IMAGES, a)) for a, _ in PAIRS])
    x2 = np.stack([load_default(os.path.join(IMAGES, b)) for _, b in PAIRS])
    return x1, x2


def predict(model, x1, x2):
    return model.predict([x1, x2], verbose=0).astype(np.float32)[:, 0]


def write_pairs(path, probs):
    with open(path, "w") as f:
        for (a, b), p in zip(PAIRS, probs):
            f.write("%s %s %.9g\n" % (a, b, float(p)))


def check_spread(tag, probs):
    print(f"{tag}: predictions " + " ".join("%.4f" % p for p in probs))
    if not (probs.min() > 0.01 and probs.max() < 0.99 and probs.max() - probs.min() > 0.9):
        sys.exit(f"{tag}: predictions not spread over (0.01, 0.99)")


# --------------------------------------------------------------------------
# h5py-made files
# --------------------------------------------------------------------------
def write_keras1_notop(path, widths, rng):
    """Mimic vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (Keras 1.x):
    root attr layer_names; per layer attr weight_names (<layer>_W_1:0,
    <layer>_b_1:0), datasets directly in the layer group; weightless layers
    have an empty weight_names; no keras_version/backend attributes."""
    layer_names = ["input_1"] + VGG_LAYER_ORDER
    params = {}
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in layer_names])
        cin = 3
        for name in layer_names:
            g = f.create_group(name)
            if name in CONV_NAMES:
                cout = widths[CONV_NAMES.index(name)]
                lim = np.sqrt(6.0 / (9 * cin))
                k = rng.uniform(-lim, lim, size=(3, 3, cin, cout)).astype(np.float32)
                b = rng.uniform(-0.05, 0.05, size=(cout,)).astype(np.float32)
                wn = [f"{name}_W_1:0".encode(), f"{name}_b_1:0".encode()]
                g.attrs["weight_names"] = np.array(wn)
                g.create_dataset(wn[0].decode(), data=k)
                g.create_dataset(wn[1].decode(), data=b)
                params[name] = (k, b)
                cin = cout
            else:
                # What Keras writes for a layer without weights: attrs = []
                # (h5py stores an empty float64 array attribute).
                g.attrs["weight_names"] = []
    return params


def write_split_attr(src, dst, n_chunks=3):
    """Copy src, replacing root attr layer_names with layer_names0..N-1
    (np.array_split chunks, as Keras' save_attributes_to_hdf5_group does
    when an attribute exceeds 64512 bytes)."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["layer_names"]]
        del f.attrs["layer_names"]
        # Keras splits np.asarray(list of bytes), a fixed-length 'S' array, so
        # the chunks are fixed-length strings (even though h5py 3 writes the
        # unsplit list as variable-length strings).
        data = np.asarray([n.encode("utf8") for n in names])
        for i, chunk in enumerate(np.array_split(data, n_chunks)):
            f.attrs["layer_names%d" % i] = chunk
    return names


def main():
    np.set_printoptions(linewidth=150)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:
        pass
    x1, x2 = load_pairs()

    # ---------------- compact model (Keras 2.1.5 naming) ----------------
    K.clear_session()
    rng = np.random.default_rng(1234)
    compact = build_siamese(COMPACT, 512, 105, names=dict(
        input_1="input_1", input_2="input_2", **{"lambda": "lambda_1"},
        dense_a="dense_1", dense_b="dense_2"))
    init_weights(compact, rng)
    spread_head(compact, x1, x2, rng)
    p_compact = predict(compact, x1, x2)
    check_spread("compact", p_compact)
    path = os.path.join(FIX, "keras_compact.h5")
    compact.save_weights(path)
    write_pairs(os.path.join(FIX, "keras_compact_pairs.txt"), p_compact)
    print("compact layers:", [l.name for l in compact.layers])

    # ---------------- tiny model (tf-keras default Dense names) ----------------
    K.clear_session()
    rng = np.random.default_rng(5678)
    tiny = build_siamese(TINY, 32, 105)
    init_weights(tiny, rng)
    spread_head(tiny, x1, x2, rng)
    p_tiny = predict(tiny, x1, x2)
    check_spread("tiny", p_tiny)
    tiny_w = os.path.join(FIX, "keras_tiny_tfkeras.h5")
    tiny.save_weights(tiny_w)
    tiny.save(os.path.join(FIX, "keras_tiny_fullmodel.h5"))
    write_pairs(os.path.join(FIX, "keras_tiny_pairs.txt"), p_tiny)
    print("tiny layers:", [l.name for l in tiny.layers])

    # ---------------- h5py-made files ----------------
    write_keras1_notop(os.path.join(FIX, "keras1_vgg_notop_tiny.h5"), TINY,
                       np.random.default_rng(91011))
    write_split_attr(tiny_w, os.path.join(FIX, "keras_split_attr_tiny.h5"))

    verify(x1, x2, p_compact, p_tiny)


# --------------------------------------------------------------------------
# Verification: reload every file with tf-keras and compare.
# --------------------------------------------------------------------------
def verify(x1, x2, p_compact, p_tiny):
    K.clear_session()
    m = build_siamese(COMPACT, 512, 105)
    m.load_weights(os.path.join(FIX, "keras_compact.h5"))
    assert np.array_equal(predict(m, x1, x2), p_compact), "compact reload"

    for fname in ("keras_tiny_tfkeras.h5", "keras_split_attr_tiny.h5"):
        K.clear_session()
        m = build_siamese(TINY, 32, 105)
        m.load_weights(os.path.join(FIX, fname))
        assert np.array_equal(predict(m, x1, x2), p_tiny), fname

    K.clear_session()
    m = keras.models.load_model(os.path.join(FIX, "keras_tiny_fullmodel.h5"),
                                compile=False, safe_mode=False)
    assert np.array_equal(predict(m, x1, x2), p_tiny), "fullmodel reload"

    # Keras 1 notop file: load into a tiny VGG16 without top (tf-keras' own
    # legacy loader treats a file without keras_version as Keras 1).
    path = os.path.join(FIX, "keras1_vgg_notop_tiny.h5")
    for by_name in (False, True):
        K.clear_session()
        inp = Input(shape=(105, 105, 3))
        x = inp
        for layer in VGG16(TINY).layers:
            x = layer(x)
        notop = Model(inp, x)
        notop.load_weights(path, by_name=by_name)
        with h5py.File(path, "r") as f:
            for name in CONV_NAMES:
                k, b = notop.get_layer(name).get_weights()
                assert np.array_equal(k, f[name][f"{name}_W_1:0"][()]), name
                assert np.array_equal(b, f[name][f"{name}_b_1:0"][()]), name

    # Pairs files parse back to the float32 values.
    for fname, p in (("keras_compact_pairs.txt", p_compact), ("keras_tiny_pairs.txt", p_tiny)):
        vals = [np.float32(l.split()[2]) for l in open(os.path.join(FIX, fname))]
        assert np.array_equal(np.array(vals, np.float32), p), fname
    print("verify: all reloads match")


if __name__ == "__main__":
    main()
