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
  gif_trns_40x30.gif    a GIF whose transparent index some pixels use;
                        reference: that entry's colour there (Pillow fills
                        frame 0 with the transparent index).
  gif_offset_40x30.gif  a 40x30 image at (7, 5) on a 52x41 logical screen,
                        background index 9; reference: palette entry 0
                        outside the image (Pillow ignores the background).
  bmp_topdown_40x30.bmp 24-bit BMP stored top row first (negative height).
  bmp_555_40x30.bmp     16-bit BMP, 5-5-5 (no masks), and
  bmp_565_40x30.bmp     16-bit BMP, 5-6-5 bit fields; reference: Pillow's
                        v * 255 / 31 (or / 63), truncated.
  pgm_max15_40x30.pgm   PGM and PPM whose largest sample value is not 255;
  ppm_max100_40x30.ppm  reference: Pillow's round(v / largest * 255).
  bmp_os2_palette_40x30.bmp  8-bit BMP with an OS/2 1.x header: refused
                        (stb_image misreads its colour table); no reference.

Deterministic. Run from the repo root (needs Pillow and numpy):
    /work/venv/bin/python tests/gen_format_images.py
"""
import io
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


def write_bmp(path, rows, w, h, bpp, header=40, masks=None, palette=None, topdown=False):
    """An uncompressed BMP from its packed rows (top first): header 12 (OS/2
    1.x) or 40 bytes, bit-field masks (compression 3) after a 40-byte header."""
    stride = (bpp * w + 31) // 32 * 4
    pixels = b"".join(r.ljust(stride, b"\0") for r in (rows if topdown else rows[::-1]))
    entry = 3 if header == 12 else 4
    table = b"".join(bytes((b, g, r, 0)[:entry]) for r, g, b in (palette or []))
    if header == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bpp)
    else:
        info = struct.pack("<IiiHHIIiiII", 40, w, -h if topdown else h, 1, bpp, 3 if masks else 0,
                           len(pixels), 2835, 2835, len(palette or []), 0)
        info += struct.pack("<3I", *masks) if masks else b""
    off = 14 + len(info) + len(table)
    with open(path, "wb") as f:
        f.write(b"BM" + struct.pack("<IHHI", off + len(pixels), 0, 0, off) + info + table + pixels)


def save_ref(name, img):
    img.convert("RGB").save(os.path.join(OUT, name.rsplit(".", 1)[0] + "_ref.png"))


def pil_bytes(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


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

    # GIF: Pillow fills frame 0 with the transparent index (else index 0).
    pal64 = Image.fromarray(gradient(40, 30, 3, 256).astype(np.uint8), "RGB").quantize(64)
    pal64.save(os.path.join(OUT, "gif_trns_40x30.gif"), transparency=5)
    assert (np.array(Image.open(os.path.join(OUT, "gif_trns_40x30.gif"))) == 5).any()
    save_ref("gif_trns_40x30.gif", Image.open(os.path.join(OUT, "gif_trns_40x30.gif")))
    gif = bytearray(pil_bytes(pal64, "GIF", interlace=False))
    gif[6:10] = struct.pack("<HH", 52, 41)  # logical screen
    gif[11] = 9                             # background colour index
    at = gif.index(b"\x2c", 13 + 3 * (2 << (gif[10] & 7)))
    gif[at + 1:at + 5] = struct.pack("<HH", 7, 5)  # the image's position
    with open(os.path.join(OUT, "gif_offset_40x30.gif"), "wb") as f:
        f.write(gif)
    save_ref("gif_offset_40x30.gif", Image.open(os.path.join(OUT, "gif_offset_40x30.gif")))

    rgb = gradient(40, 30, 3, 256).astype(np.uint8)
    write_bmp(os.path.join(OUT, "bmp_topdown_40x30.bmp"), [r[:, ::-1].tobytes() for r in rgb],
              40, 30, 24, topdown=True)
    r5, g5, g6, b5 = (rgb[..., 0] >> 3, rgb[..., 1] >> 3, rgb[..., 1] >> 2, rgb[..., 2] >> 3)
    v555 = (r5.astype(np.uint16) << 10) | (g5.astype(np.uint16) << 5) | b5
    v565 = (r5.astype(np.uint16) << 11) | (g6.astype(np.uint16) << 5) | b5
    write_bmp(os.path.join(OUT, "bmp_555_40x30.bmp"), [r.astype("<u2").tobytes() for r in v555],
              40, 30, 16)
    write_bmp(os.path.join(OUT, "bmp_565_40x30.bmp"), [r.astype("<u2").tobytes() for r in v565],
              40, 30, 16, masks=(0xF800, 0x7E0, 0x1F))
    for name in ("bmp_topdown_40x30.bmp", "bmp_555_40x30.bmp", "bmp_565_40x30.bmp"):
        save_ref(name, Image.open(os.path.join(OUT, name)))
    assert (np.array(Image.open(os.path.join(OUT, "bmp_555_40x30.bmp")).convert("RGB"))
            == (r5.astype(int) * 255 // 31)[..., None]).any()
    q = Image.fromarray(rgb, "RGB").quantize(100)
    write_bmp(os.path.join(OUT, "bmp_os2_palette_40x30.bmp"), [r.tobytes() for r in np.array(q)],
              40, 30, 8, header=12, palette=np.array(q.getpalette()[:300]).reshape(-1, 3).tolist())

    with open(os.path.join(OUT, "pgm_max15_40x30.pgm"), "wb") as f:
        f.write(b"P5\n40 30\n15\n" + (rgb[..., 0] >> 4).tobytes())
    with open(os.path.join(OUT, "ppm_max100_40x30.ppm"), "wb") as f:
        f.write(b"P6 40 30 100\n" + (rgb.astype(np.uint16) * 100 // 255).astype(np.uint8).tobytes())
    for name in ("pgm_max15_40x30.pgm", "ppm_max100_40x30.ppm"):
        save_ref(name, Image.open(os.path.join(OUT, name)))

    for name in sorted(os.listdir(OUT)):
        print(f"{name:32s} {os.path.getsize(os.path.join(OUT, name)):6d} bytes")


if __name__ == "__main__":
    main()
