#!/usr/bin/env python3
"""Write the fuzzers' seed corpora (our own making): tests/fuzz/corpus/.

  image/    tiny images (8x6) in every format and variant the loader reads:
            PNG (RGB, RGBA, grey, grey+alpha, palette, 16-bit),
            JPEG (baseline, progressive, grey, CMYK; 4:2:2, 4:4:4, restart
            markers, YCCK, Adobe RGB, EXIF, DC scan alone, junk between
            segments, cut before its end), GIF (still, animated),
            BMP (24-bit, 8-bit palette, 32-bit), TGA (raw, RLE), PGM, PPM.
            Not images: a text, random bytes, TGA headers inconsistent and
            consistent-but-huge (TGA has no signature).
  weights/  tiny Keras-layout weight files: a whole Siamese network with 1
            channel per block (written by `siamese init`, repacked in the
            compact HDF5 format so the fuzzer works on ~16 KB, not 54 KB),
            ones with a NaN (dense and first convolution), one whose layer
            and weight names hold an escape sequence, a newline and a
            non-UTF-8 byte, and two partial ones made by tests/tools/h5edit.

Files named regress-* (inputs the fuzzer found) are kept.

Needs Pillow and numpy, ./siamese and build/tests/tools/h5edit (make test
builds it), and h5repack (Debian hdf5-tools). Run from the repo root:
    /work/venv/bin/python tests/fuzz/gen_seeds.py
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import gen_jpeg_fixtures as jpeg  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def images(out):
    rng = np.random.default_rng(7)
    rgb = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), "RGB")
    rgba = Image.fromarray(rng.integers(0, 256, (6, 8, 4), dtype=np.uint8), "RGBA")
    grey = rgb.convert("L")
    pal = rgb.quantize(8)

    def save(img, name, **kw):
        img.save(os.path.join(out, name), **kw)

    save(rgb, "rgb.png")
    save(rgba, "rgba.png")
    save(grey, "grey.png")
    save(rgba.convert("LA"), "grey_alpha.png")
    save(pal, "palette.png", transparency=0)
    save(Image.fromarray(np.array(grey, np.uint16) * 257), "grey16.png")
    save(rgb, "baseline.jpg", quality=90)
    save(rgb, "progressive.jpg", quality=90, progressive=True)
    save(grey, "grey.jpg", quality=90)
    save(rgb.convert("CMYK"), "cmyk.jpg", quality=90)
    save(rgb, "jpeg-422.jpg", quality=90, subsampling="4:2:2")
    save(rgb, "jpeg-444-restart.jpg", quality=90, subsampling="4:4:4", restart_marker_blocks=1)
    save(rgb, "jpeg-progressive-restart.jpg", quality=90, progressive=True, restart_marker_rows=1)
    save(rgb, "jpeg-adobe-rgb.jpg", quality=90, keep_rgb=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    save(rgb, "jpeg-exif.jpg", quality=90, exif=exif.tobytes())
    save(pal, "still.gif")
    save(pal, "anim.gif", save_all=True, append_images=[rgb.rotate(180).quantize(8)], duration=50)
    save(rgb, "rgb24.bmp")
    save(pal, "palette8.bmp")
    save(rgba, "rgba32.bmp")
    save(rgb, "raw.tga")
    save(rgb, "rle.tga", compression="tga_rle")
    save(grey, "grey.pgm")
    save(rgb, "rgb.ppm")

    def write(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    baseline = open(os.path.join(out, "baseline.jpg"), "rb").read()
    write("jpeg-ycck.jpg", jpeg.ycck(8, 6))
    write("jpeg-dc-only.jpg", jpeg.dc_only(open(os.path.join(out, "progressive.jpg"), "rb").read()))
    write("jpeg-junk.jpg", jpeg.with_junk(baseline))
    write("jpeg-cut.jpg", baseline[:len(baseline) * 2 // 3])
    write("not-text.md", b"# siamese\n\nImage similarity with a Siamese neural network, in C.\n")
    write("not-random.bin", rng.integers(0, 256, 100, dtype=np.uint8).tobytes())
    tga = bytearray(open(os.path.join(out, "raw.tga"), "rb").read())
    tga[1] = 2  # colour-map type: neither 0 nor 1
    write("not-tga-cmap.tga", bytes(tga))
    tga = bytearray(open(os.path.join(out, "raw.tga"), "rb").read())
    tga[12:16] = b"\xff\xff\xff\xff"  # consistent, 65535x65535
    write("tga-huge.tga", bytes(tga))


def weights(out):
    siamese = os.path.join(ROOT, "siamese")
    h5edit = os.path.join(ROOT, "build", "tests", "tools", "h5edit")
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.h5")
        subprocess.run([siamese, "init", "--widths", "1,1,1,1,1", "--hidden", "1",
                        "--input-shape", "32", "--seed", "3", "--out", raw], check=True)
        whole = os.path.join(out, "siamese_tiny.h5")
        subprocess.run(["h5repack", "-L", raw, whole], check=True)
        nan = os.path.join(out, "siamese_nan.h5")
        shutil.copy(whole, nan)
        subprocess.run([h5edit, nan, "set", "block2_conv1", "0", "3", "nan"], check=True)
        nan1 = os.path.join(out, "siamese_nan_conv1.h5")
        shutil.copy(whole, nan1)
        subprocess.run([h5edit, nan1, "set", "block1_conv1", "0", "0", "nan"], check=True)
        evil = os.path.join(out, "siamese_evil_names.h5")
        shutil.copy(whole, evil)
        name = b"evil\x1b[2J\nname\xff"
        subprocess.run([h5edit, evil, "rename", "block1_conv1", name], check=True)
        subprocess.run([h5edit, evil, "weight-name", "dense_1", "0", b"dense_1/" + name],
                       check=True)
        subprocess.run([h5edit, os.path.join(out, "notop.h5"), "new",
                        "block1_conv1:3x3x3x1", "block1_conv2:3x3x1x1"], check=True)
        subprocess.run([h5edit, os.path.join(out, "mlp.h5"), "new", "dense_1:4x2", "dense_2:2x1"],
                       check=True)


def main():
    for kind, fn in (("image", images), ("weights", weights)):
        out = os.path.join(CORPUS, kind)
        os.makedirs(out, exist_ok=True)
        for name in os.listdir(out):
            if not name.startswith("regress-"):
                os.remove(os.path.join(out, name))
        fn(out)
        for name in sorted(os.listdir(out)):
            print(f"{kind}/{name:24s} {os.path.getsize(os.path.join(out, name)):6d} bytes")


if __name__ == "__main__":
    main()
