#!/usr/bin/env python3
"""JPEG files written by Pillow, and Pillow's decoding of each (our own
making; no dataset images), for tests/test_jpeg.c.

Writes tests/fixtures/jpeg/:
  NAME.jpg        one JPEG per variant the decoder must get right: grey;
                  4:2:0, 4:2:2, 4:4:4 chroma; progressive (colour, grey, with
                  restart intervals); restart markers every few blocks; CMYK
                  (Adobe, inverted) and YCCK; RGB stored without the YCbCr
                  transform (Adobe); EXIF with an orientation tag (which
                  Image.open does not apply); quality 100 and 5; odd sizes
                  (1x1, 17x3); a 200x150 photo-like image; a progressive
                  file of its DC scan alone (block smoothing: where Debian's
                  libjpeg-turbo 2.1.5 differs, see test_jpeg.c); damaged ones:
                  junk bytes between segments and corrupt entropy-coded data
                  (libjpeg warns and Pillow decodes them), a scan that names
                  a Huffman table never defined (an error).
  NAME_ref.png    Image.open(NAME.jpg).convert('RGB'), lossless.
  cases.txt       one line per case: "NAME.jpg CUT ok W H FNV" or
                  "NAME.jpg CUT error": the file's first CUT bytes (0: all of
                  them) as Pillow sees them, FNV-1a 64 of the RGB bytes.
                  The cuts are where truncation is decided: just before the
                  end-of-image marker (whole to Pillow), inside the last scan,
                  at half, in the headers.

Pillow 13 bundles libjpeg-turbo 3.2.0; the program links Debian's 2.1.5.
Deterministic. Run from the repo root:
    /work/venv/bin/python tests/gen_jpeg_fixtures.py
"""
import io
import os
import sys

import numpy as np
from PIL import Image, ImageFile, features

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_images import add_noise, draw_shapes, gradient_rgb, to_u8  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "jpeg")
rng = np.random.default_rng(20261130)


def photo(w, h, noise=6.0):
    """Gradients, shapes and a little noise: colour edges for the chroma
    upsampling to matter, texture for the IDCT."""
    im = Image.fromarray(to_u8(add_noise(gradient_rgb(w, h, rng), rng, noise)), "RGB")
    return draw_shapes(im, rng, max(4, w * h // 400), max(4, min(w, h) // 3))


def fnv64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def pillow_decode(data):
    """(w, h, RGB bytes) as Pillow decodes data, or None when it refuses."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgb = im.convert("RGB")
        return rgb.size[0], rgb.size[1], rgb.tobytes()
    except (OSError, SyntaxError, ValueError):
        return None


def ycck(w, h):
    """A YCCK JPEG: Pillow writes 4 components as inverted CMYK with an Adobe
    marker saying "no transform" (0); values chosen so the stored planes are
    Y, Cb, Cr, K, and the marker patched to "YCCK" (2), as Photoshop writes."""
    ycc = np.array(photo(w, h).convert("YCbCr"))
    k = to_u8(rng.uniform(0, 120, (h, w, 1)))
    planes = np.concatenate([ycc, k], axis=-1)
    buf = io.BytesIO()
    Image.fromarray(255 - planes, "CMYK").save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    at = data.index(b"Adobe") + 11
    assert data[at] == 0, "Pillow's CMYK JPEG has Adobe transform 0"
    data[at] = 2
    return bytes(data)


def with_junk(data):
    """Five junk bytes (no 0xFF) before the first DQT marker: libjpeg warns
    "extraneous bytes before marker" and goes on, and so does Pillow."""
    at = data.index(b"\xff\xdb")
    return data[:at] + b"\x12\x34\x56\x78\x9a" + data[at:]


def with_corrupt_scan(data):
    """Bytes of the entropy-coded data replaced (never by 0xFF, which would
    make markers): wrong colours in some blocks, possibly a warning."""
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
    end = data.rindex(b"\xff\xd9")
    d = bytearray(data)
    for at in rng.integers(start + 10, end - 10, 6):
        if d[at - 1] != 0xFF and d[at] != 0xFF:
            d[at] = int(rng.integers(0, 255))
    return bytes(d)


def with_missing_huffman_table(data):
    """The scan names DC table 3, never defined: libjpeg's error."""
    sos = data.index(b"\xff\xda")
    d = bytearray(data)
    d[sos + 6] = 0x30 | (d[sos + 6] & 0x0F)  # first component: DC table 3
    return bytes(d)


def dc_only(progressive):
    """A progressive JPEG whose only scan is the first one (DC coefficients,
    all components), then the end-of-image marker: a whole file with every AC
    coefficient left out, which libjpeg fills in by block smoothing."""
    first = progressive.index(b"\xff\xda")
    second = progressive.index(b"\xff\xda", first + 2)
    return progressive[:second] + b"\xff\xd9"


def main():
    print("Pillow", Image.__version__, "libjpeg-turbo", features.version("libjpeg_turbo"))
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    ImageFile.LOAD_TRUNCATED_IMAGES = False

    base = photo(61, 47)
    files = {}

    def save(name, im, **kw):
        buf = io.BytesIO()
        im.save(buf, "JPEG", **kw)
        files[name] = buf.getvalue()

    save("grey_61x47.jpg", base.convert("L"), quality=90)
    save("s420_61x47.jpg", base, quality=90, subsampling="4:2:0")
    save("s422_61x47.jpg", base, quality=90, subsampling="4:2:2")
    save("s444_61x47.jpg", base, quality=90, subsampling="4:4:4")
    save("progressive_61x47.jpg", base, quality=90, progressive=True, optimize=True)
    save("progressive_grey_61x47.jpg", base.convert("L"), quality=90, progressive=True)
    save("progressive_restart_61x47.jpg", base, quality=85, progressive=True,
         restart_marker_rows=1)
    save("restart_61x47.jpg", base, quality=90, restart_marker_blocks=3)
    save("cmyk_61x47.jpg", Image.fromarray(to_u8(rng.uniform(0, 256, (47, 61, 4))), "CMYK")
         .resize((61, 47)), quality=90)
    files["ycck_61x47.jpg"] = ycck(61, 47)
    save("adobe_rgb_61x47.jpg", base, quality=90, keep_rgb=True)
    exif = Image.Exif()
    exif[0x0112] = 6          # orientation: rotate 90 (Image.open does not apply it)
    exif[0x010F] = "siamese"  # make
    save("exif_61x47.jpg", base, quality=90, exif=exif.tobytes(), comment=b"a comment")
    save("q100_61x47.jpg", base, quality=100, subsampling="4:4:4")
    save("q5_61x47.jpg", base, quality=5)
    save("dot_1x1.jpg", photo(1, 1), quality=90)
    save("thin_17x3.jpg", photo(17, 3), quality=90)
    save("photo_200x150.jpg", photo(200, 150, noise=3.0), quality=85)
    files["dc_only_61x47.jpg"] = dc_only(files["progressive_61x47.jpg"])
    files["junk_61x47.jpg"] = with_junk(files["s420_61x47.jpg"])
    files["corrupt_61x47.jpg"] = with_corrupt_scan(files["s420_61x47.jpg"])
    files["no_huffman_61x47.jpg"] = with_missing_huffman_table(files["s420_61x47.jpg"])

    # Where truncation is decided, on a few kinds of file.
    cut_files = ["s420_61x47.jpg", "grey_61x47.jpg", "progressive_61x47.jpg",
                 "restart_61x47.jpg", "photo_200x150.jpg"]
    lines = []
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        cuts = [0]
        if name in cut_files:
            n = len(data)
            cuts += [n - 1, n - 2, n - 3, n - 4, n - 8, n - 40, n * 3 // 4, n // 2, 200, 20]
        for cut in cuts:
            got = pillow_decode(data[:cut] if cut else data)
            if got is None:
                lines.append(f"{name} {cut} error")
                continue
            w, h, rgb = got
            lines.append(f"{name} {cut} ok {w} {h} {fnv64(rgb):016x}")
            if cut == 0:
                Image.frombytes("RGB", (w, h), rgb).save(
                    os.path.join(OUT, name[:-4] + "_ref.png"))
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    # What the cases must show, checked here so the fixtures mean something.
    verdict = {(l.split()[0], int(l.split()[1])): l.split()[2] for l in lines}
    assert verdict[("no_huffman_61x47.jpg", 0)] == "error"
    for name in ("junk_61x47.jpg", "corrupt_61x47.jpg"):
        assert verdict[(name, 0)] == "ok", f"Pillow must decode {name}"
    assert verdict[("s420_61x47.jpg", len(files["s420_61x47.jpg"]) - 2)] == "ok", \
        "a JPEG without its end-of-image marker is whole to Pillow"
    assert verdict[("s420_61x47.jpg", len(files["s420_61x47.jpg"]) // 2)] == "error"
    assert "CMYK" == Image.open(os.path.join(OUT, "ycck_61x47.jpg")).mode
    assert pillow_decode(b"\xff" + files["s420_61x47.jpg"]) is None, \
        "a fill byte before the start-of-image marker is no JPEG to Pillow"
    for name in sorted(os.listdir(OUT)):
        print(f"{name:34s} {os.path.getsize(os.path.join(OUT, name)):7d} bytes")


if __name__ == "__main__":
    main()
