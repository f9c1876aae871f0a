#!/usr/bin/env python3
"""Draw the unusual-format test images (our own making; no dataset images).

Writes tests/fixtures/formats/, small images in the formats users feed the
program that the common fixtures do not cover, each beside a reference PNG
(8-bit RGB) of what the decoder must produce:

  grey16_40x30.png      16-bit greyscale PNG; reference: the high byte of
                        each sample (stb_image's conversion). PIL differs on
                        purpose: it clips 16-bit grey to 255 (a 16-bit photo
                        comes out white), which we do not reproduce.
  rgb16_40x30.png       16-bit RGB PNG (written by hand: PIL cannot);
                        reference: the high bytes, as PIL.
  cmyk_48x40.jpg        CMYK JPEG (Adobe, inverted, as PIL and Photoshop
                        write it); reference: PIL's convert('RGB').
  anim_40x30.gif        a 3-frame animated GIF whose frames differ;
                        reference: the first frame, convert('RGB').
  palette_trns_40x30.png  a palette PNG with a transparent index;
                        reference: convert('RGB') (transparency dropped).
  dot_1x1.png           a single pixel.

Deterministic. Run from the repo root (needs Pillow and numpy):
    /work/venv/bin/python tests/gen_format_images.py
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "formats")
rng = np.random.default_rng(20240607)


def gradient(w, h, channels, scale):
    """A smooth pattern plus a little noise (compresses well, yet not flat)."""
    y, x = np.mgrid[0:h, 0:w]
    planes = [((x * (3 + c) + y * (5 - c)) * scale / (8 * (w + h))) for c in range(channels)]
    a = np.stack(planes, axis=-1) + rng.uniform(0, scale / 64, size=(h, w, channels))
    return np.clip(a, 0, scale - 1)


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png16_rgb(path, a):
    """A 16-bit RGB PNG (colour type 2, bit depth 16), filter 0 on every row."""
    h, w, _ = a.shape
    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))
    data = (b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


def save_ref(name, img):
    img.convert("RGB").save(os.path.join(OUT, name.rsplit(".", 1)[0] + "_ref.png"))


def main():
    os.makedirs(OUT, exist_ok=True)

    g16 = gradient(40, 30, 1, 65536)[..., 0].astype(np.uint16)
    Image.fromarray(g16).save(os.path.join(OUT, "grey16_40x30.png"))
    assert Image.open(os.path.join(OUT, "grey16_40x30.png")).mode == "I;16"
    save_ref("grey16_40x30.png", Image.fromarray((g16 >> 8).astype(np.uint8), "L"))

    rgb16 = gradient(40, 30, 3, 65536).astype(np.uint16)
    write_png16_rgb(os.path.join(OUT, "rgb16_40x30.png"), rgb16)
    pil = Image.open(os.path.join(OUT, "rgb16_40x30.png")).convert("RGB")
    assert (np.array(pil) == (rgb16 >> 8)).all(), "PIL reads 16-bit RGB as the high bytes"
    save_ref("rgb16_40x30.png", pil)

    cmyk = Image.fromarray(gradient(48, 40, 4, 256).astype(np.uint8), "CMYK")
    cmyk.save(os.path.join(OUT, "cmyk_48x40.jpg"), quality=95)
    save_ref("cmyk_48x40.jpg", Image.open(os.path.join(OUT, "cmyk_48x40.jpg")))

    frames = [Image.fromarray(gradient(40, 30, 3, 256).astype(np.uint8)[:, :, perm], "RGB")
              .quantize(16) for perm in ([0, 1, 2], [2, 0, 1], [1, 2, 0])]
    frames[0].save(os.path.join(OUT, "anim_40x30.gif"), save_all=True,
                   append_images=frames[1:], duration=100, loop=0)
    anim = Image.open(os.path.join(OUT, "anim_40x30.gif"))
    assert anim.n_frames == 3
    save_ref("anim_40x30.gif", anim)

    pal = Image.fromarray(gradient(40, 30, 3, 256).astype(np.uint8), "RGB").quantize(8)
    pal.save(os.path.join(OUT, "palette_trns_40x30.png"), transparency=0)
    save_ref("palette_trns_40x30.png", Image.open(os.path.join(OUT, "palette_trns_40x30.png")))

    Image.new("RGB", (1, 1), (200, 30, 90)).save(os.path.join(OUT, "dot_1x1.png"))
    save_ref("dot_1x1.png", Image.open(os.path.join(OUT, "dot_1x1.png")))

    for name in sorted(os.listdir(OUT)):
        print(f"{name:32s} {os.path.getsize(os.path.join(OUT, name)):6d} bytes")


if __name__ == "__main__":
    main()
