#!/usr/bin/env python3
"""Reference preprocessing of every fixture image, as Siamese predict.py does it.

Writes tests/fixtures/preprocess_ref.h5 (layout in tests/fixtures/README.md).
Run from the repo root after gen_images.py:
    /work/venv/bin/python tests/gen_preprocess_ref.py

The other generators import load_default()/load_letterbox() from here so the
Keras predictions use exactly these tensors.
"""
import os
import sys

import h5py
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(ROOT, "tests", "fixtures", "images")
OUT = os.path.join(ROOT, "tests", "fixtures", "preprocess_ref.h5")
SIZE = 105
# Image tensors are stored gzip-compressed (standard HDF5 deflate filter,
# chunked); every other dataset is contiguous and uncompressed.
COMPRESS = dict(compression="gzip", compression_opts=6, shuffle=True)


def image_names():
    return sorted(f for f in os.listdir(IMAGES) if not f.startswith("."))


def open_rgb(path):
    img = Image.open(path)
    return img.convert("RGB")


def resize_shorter(img, size):
    """torchvision.transforms.functional.resize(img, int) on a PIL image."""
    w, h = img.size
    if (w <= h and w == size) or (h <= w and h == size):
        return img
    if w < h:
        ow = size
        oh = int(size * h / w)
    else:
        oh = size
        ow = int(size * w / h)
    return img.resize((ow, oh), Image.BILINEAR)


def center_crop(img, th, tw):
    w, h = img.size
    i = int(round((h - th) / 2.))   # Python round: half to even
    j = int(round((w - tw) / 2.))
    return img.crop((j, i, j + tw, i + th))


def letterbox(img, w, h):
    iw, ih = img.size
    scale = min(w / iw, h / ih)
    nw = int(iw * scale)
    nh = int(ih * scale)
    img = img.resize((nw, nh), Image.BICUBIC)
    new_image = Image.new("RGB", (w, h), (128, 128, 128))
    new_image.paste(img, ((w - nw) // 2, (h - nh) // 2))
    return new_image


def load_default(path, size=SIZE):
    img = open_rgb(path)
    img = center_crop(resize_shorter(img, size), size, size)
    return np.array(img, np.float32) / 255.0


def load_letterbox(path, size=SIZE):
    img = letterbox(open_rgb(path), size, size)
    return np.array(img, np.float32) / 255.0


def default_geometry(w, h, size=SIZE):
    """(resized w, resized h, crop top i, crop left j) of the default path."""
    if (w <= h and w == size) or (h <= w and h == size):
        rw, rh = w, h
    elif w < h:
        rw, rh = size, int(size * h / w)
    else:
        rw, rh = int(size * w / h), size
    return rw, rh, int(round((rh - size) / 2.)), int(round((rw - size) / 2.))


def letterbox_geometry(w, h, size=SIZE):
    """(nw, nh, paste x, paste y) of the letterbox path."""
    scale = min(size / w, size / h)
    nw, nh = int(w * scale), int(h * scale)
    return nw, nh, (size - nw) // 2, (size - nh) // 2


def main():
    names = image_names()
    if not names:
        sys.exit("no images: run tests/gen_images.py first")
    n = len(names)
    maxlen = max(len(s) for s in names)
    info = {k: [] for k in ("width", "height", "default_geom", "letterbox_geom")}
    modes, formats = [], []
    with h5py.File(OUT, "w") as f:
        f.attrs["images"] = np.array([s.encode() for s in names], dtype="S%d" % maxlen)
        f.attrs["size"] = np.int32(SIZE)
        f.attrs["pil_version"] = np.bytes_(Image.__version__.encode())
        gd = f.create_group("default")
        gl = f.create_group("letterbox")
        gdec = f.create_group("decoded")
        for name in names:
            path = os.path.join(IMAGES, name)
            im = Image.open(path)
            w, h = im.size
            modes.append(im.mode.encode())
            formats.append(im.format.encode())
            info["width"].append(w)
            info["height"].append(h)
            info["default_geom"].append(default_geometry(w, h))
            info["letterbox_geom"].append(letterbox_geometry(w, h))
            d = load_default(path)
            l = load_letterbox(path)
            assert d.shape == (SIZE, SIZE, 3) and d.dtype == np.float32
            assert l.shape == (SIZE, SIZE, 3) and l.dtype == np.float32
            gd.create_dataset(name, data=d, **COMPRESS)
            gl.create_dataset(name, data=l, **COMPRESS)
            gdec.create_dataset(name, data=np.array(open_rgb(path), np.uint8), **COMPRESS)
        f.create_dataset("names", data=np.array([s.encode() for s in names], dtype="S%d" % maxlen))
        f.create_dataset("width", data=np.array(info["width"], np.int32))
        f.create_dataset("height", data=np.array(info["height"], np.int32))
        f.create_dataset("mode", data=np.array(modes, dtype="S4"))
        f.create_dataset("format", data=np.array(formats, dtype="S4"))
        f.create_dataset("default_geom", data=np.array(info["default_geom"], np.int32))
        f.create_dataset("letterbox_geom", data=np.array(info["letterbox_geom"], np.int32))
    for k, name in enumerate(names):
        print(f"{name:28s} {info['width'][k]:4d}x{info['height'][k]:<4d} {modes[k].decode():5s}"
              f" default(rw,rh,i,j)={info['default_geom'][k]} letterbox(nw,nh,x,y)={info['letterbox_geom'][k]}")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {n} images)")


if __name__ == "__main__":
    main()
