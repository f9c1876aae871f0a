#!/usr/bin/env python3
"""Draw the synthetic test images (our own making; no dataset images).

Writes
  tests/fixtures/images/*   small images in many sizes, modes and formats
                            (JPEGs of 4:2:0, 4:2:2, progressive and CMYK among
                            them), used by the preprocessing and prediction
                            fixtures
  img/a.png img/b.png       two renderings of the same random "character"
                            (same strokes, small jitter)
  img/c.png                 a clearly different character
  img/d.jpg                 a third character, as a JPEG

Everything is deterministic (fixed seeds). Run from the repo root:
    /work/venv/bin/python tests/gen_images.py
"""
import math
import os

import numpy as np
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "images")
IMG = os.path.join(ROOT, "img")

SEED = 20240511


# --------------------------------------------------------------------------
# Omniglot-like characters: a few smooth pen strokes through random control
# points, rendered black on white at 4x and box-filtered down (grey edges).
# --------------------------------------------------------------------------
def random_glyph(rng, n_strokes=None):
    """A glyph: list of strokes; each stroke a list of (x, y) in [0, 1]."""
    if n_strokes is None:
        n_strokes = int(rng.integers(2, 5))
    strokes = []
    for _ in range(n_strokes):
        n_pts = int(rng.integers(2, 6))
        start = rng.uniform(0.2, 0.8, size=2)
        pts = [start]
        for _ in range(n_pts - 1):
            step = rng.normal(0.0, 0.22, size=2)
            pts.append(np.clip(pts[-1] + step, 0.12, 0.88))
        strokes.append([tuple(p) for p in pts])
    return strokes


def jitter_glyph(strokes, rng, sigma):
    return [[(float(np.clip(x + rng.normal(0, sigma), 0.08, 0.92)),
              float(np.clip(y + rng.normal(0, sigma), 0.08, 0.92)))
             for (x, y) in s] for s in strokes]


def catmull_rom(pts, samples=24):
    """Smooth polyline through the points (Catmull-Rom, end points doubled)."""
    if len(pts) < 3:
        (x0, y0), (x1, y1) = pts[0], pts[-1]
        return [(x0 + (x1 - x0) * t / samples, y0 + (y1 - y0) * t / samples)
                for t in range(samples + 1)]
    p = [pts[0]] + list(pts) + [pts[-1]]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        for k in range(samples):
            t = k / samples
            t2, t3 = t * t, t * t * t
            out.append(tuple(0.5 * ((2 * p1[d]) + (-p0[d] + p2[d]) * t
                                    + (2 * p0[d] - 5 * p1[d] + 4 * p2[d] - p3[d]) * t2
                                    + (-p0[d] + 3 * p1[d] - 3 * p2[d] + p3[d]) * t3)
                             for d in range(2)))
    out.append(p[-2])
    return out


def render_glyph(strokes, w=105, h=105, width=2.6, ink=0, paper=255, ss=4):
    """Render to an L image (ink on paper), anti-aliased by supersampling."""
    W, H = w * ss, h * ss
    im = Image.new("L", (W, H), paper)
    dr = ImageDraw.Draw(im)
    r = width * ss / 2.0
    for s in strokes:
        poly = [(x * W, y * H) for (x, y) in catmull_rom(s)]
        dr.line(poly, fill=ink, width=max(1, int(round(2 * r))))
        for (x, y) in poly:  # round caps and joints
            dr.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    return im.resize((w, h), Image.BOX)


# --------------------------------------------------------------------------
# Other drawing helpers
# --------------------------------------------------------------------------
def gradient_rgb(w, h, rng):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a = rng.uniform(0, 2 * math.pi)
    r = 127.5 + 127.5 * np.sin(2 * math.pi * x / max(w, 1) + a)
    g = 255.0 * y / max(h - 1, 1)
    b = 255.0 * (x + y) / max(w + h - 2, 1)
    return np.stack([r, g, b], axis=-1)


def add_noise(arr, rng, sigma):
    return np.clip(arr + rng.normal(0, sigma, size=arr.shape), 0, 255)


def to_u8(arr):
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def draw_shapes(im, rng, n, max_r):
    dr = ImageDraw.Draw(im)
    w, h = im.size
    bands = len(im.getbands())
    for _ in range(n):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(2, max_r)
        col = tuple(int(v) for v in rng.integers(0, 256, size=bands))
        if bands == 1:
            col = col[0]
        kind = rng.integers(0, 3)
        if kind == 0:
            dr.ellipse((cx - r, cy - r, cx + r, cy + r), outline=col,
                       width=int(rng.integers(1, 4)))
        elif kind == 1:
            dr.ellipse((cx - r, cy - r, cx + r, cy + r), fill=col)
        else:
            x2, y2 = rng.uniform(0, w), rng.uniform(0, h)
            dr.line((cx, cy, x2, y2), fill=col, width=int(rng.integers(1, 5)))
    return im


def main():
    rng = np.random.default_rng(SEED)
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(IMG, exist_ok=True)
    written = []

    def save(im, name, **kw):
        path = os.path.join(OUT, name)
        im.save(path, **kw)
        written.append(path)

    # 1. 105x105 L png: an Omniglot-like character.
    g1 = random_glyph(rng, 3)
    save(render_glyph(g1), "glyph_105x105_L.png")

    # 2. 105x105 LA png: another character, alpha from a radial ramp.
    g2 = random_glyph(rng, 4)
    lum = render_glyph(g2, width=3.2)
    y, x = np.mgrid[0:105, 0:105]
    alpha = to_u8(255 - 200 * np.hypot(x - 52, y - 52) / 75.0)
    save(Image.merge("LA", (lum, Image.fromarray(alpha, "L"))), "glyph_105x105_LA.png")

    # 3. 64x64 RGB jpg (baseline, quality 90, PIL default 4:2:0 subsampling).
    a = add_noise(gradient_rgb(64, 64, rng), rng, 6.0)
    im = draw_shapes(Image.fromarray(to_u8(a), "RGB"), rng, 8, 14)
    save(im, "shapes_64x64_RGB.jpg", quality=90, optimize=False, progressive=False)

    # 4. 64x64 L jpg (baseline, quality 90, single component).
    im = render_glyph(random_glyph(rng, 3), 64, 64, width=2.0)
    im = Image.fromarray(to_u8(add_noise(np.asarray(im, np.float64) * 0.9 + 20, rng, 4.0)), "L")
    save(im, "glyph_64x64_L.jpg", quality=90, optimize=False, progressive=False)

    # 5. 200x150 (w x h) RGBA png: gradient + shapes, alpha varying.
    a = gradient_rgb(200, 150, rng)
    rgb = draw_shapes(Image.fromarray(to_u8(a), "RGB"), rng, 14, 30)
    y, x = np.mgrid[0:150, 0:200]
    alpha = to_u8(128 + 127 * np.cos(x / 17.0) * np.sin(y / 23.0))
    im = rgb.copy()
    im.putalpha(Image.fromarray(alpha, "L"))
    save(im, "scene_200x150_RGBA.png")

    # 6. 150x200 (w x h) RGB bmp: character strokes coloured over a ramp.
    base = gradient_rgb(150, 200, rng) * 0.5 + 100
    ink = np.asarray(render_glyph(random_glyph(rng, 4), 150, 200, width=4.0), np.float64) / 255.0
    col = np.array([20.0, 40.0, 160.0])
    a = base * ink[..., None] + col * (1 - ink[..., None])
    save(Image.fromarray(to_u8(add_noise(a, rng, 3.0)), "RGB"), "tall_150x200_RGB.bmp")

    # 7. 31x97 (w x h) P gif: thin strip, adaptive palette.
    a = add_noise(gradient_rgb(31, 97, rng), rng, 10.0)
    im = draw_shapes(Image.fromarray(to_u8(a), "RGB"), rng, 5, 8)
    im = im.convert("P", palette=Image.ADAPTIVE, colors=32)
    save(im, "strip_31x97_P.gif")

    # 8. 105x105 P png: a character in 16 palette colours (no transparency).
    ink = np.asarray(render_glyph(random_glyph(rng, 3), width=3.0), np.float64) / 255.0
    a = gradient_rgb(105, 105, rng) * ink[..., None] + np.array([200.0, 30.0, 30.0]) * (1 - ink[..., None])
    im = Image.fromarray(to_u8(a), "RGB").convert("P", palette=Image.ADAPTIVE, colors=16)
    save(im, "glyph_105x105_P.png")

    # 9. 300x300 RGB jpg: larger, smooth with strokes (downscaling path).
    a = add_noise(gradient_rgb(300, 300, rng), rng, 3.0)
    im = draw_shapes(Image.fromarray(to_u8(a), "RGB"), rng, 20, 50)
    save(im, "big_300x300_RGB.jpg", quality=90, optimize=False, progressive=False)

    # 10. 1x1 RGB ppm (binary P6).
    im = Image.new("RGB", (1, 1), tuple(int(v) for v in rng.integers(0, 256, size=3)))
    save(im, "dot_1x1_RGB.ppm")

    # 11. 106x105 (w x h) L pgm (binary P5): off-by-one width, half-pixel crop.
    im = render_glyph(random_glyph(rng, 3), 106, 105, width=2.4)
    a = np.asarray(im, np.float64) * 0.8 + 40
    save(Image.fromarray(to_u8(add_noise(a, rng, 5.0)), "L"), "glyph_106x105_L.pgm")

    # 12. 105x105 RGB tga (uncompressed): noise + strokes.
    a = add_noise(np.full((105, 105, 3), 180.0), rng, 30.0)
    ink = np.asarray(render_glyph(random_glyph(rng, 3), width=3.0), np.float64) / 255.0
    a = a * ink[..., None]
    save(Image.fromarray(to_u8(a), "RGB"), "noise_105x105_RGB.tga")

    # 13-16. JPEGs as users' photos are: a 320x240 4:2:0 photo, progressive,
    # 4:2:2, CMYK (Adobe). Their own generator, so the images above stay as
    # they were.
    prng = np.random.default_rng(SEED + 3)

    def photo(w, h, noise):
        a = add_noise(gradient_rgb(w, h, prng), prng, noise)
        return draw_shapes(Image.fromarray(to_u8(a), "RGB"), prng, max(6, w * h // 2500),
                           max(6, min(w, h) // 4))

    save(photo(320, 240, 4.0), "photo_320x240_RGB.jpg", quality=85, subsampling="4:2:0")
    save(photo(160, 120, 4.0), "prog_160x120_RGB.jpg", quality=90, progressive=True)
    save(photo(90, 70, 6.0), "s422_90x70_RGB.jpg", quality=90, subsampling="4:2:2")
    cmyk = to_u8(255 - np.asarray(photo(80, 60, 6.0), np.float64))
    k = np.min(cmyk, axis=-1, keepdims=True) // 2
    save(Image.fromarray(np.concatenate([cmyk - k, k], axis=-1), "CMYK"), "cmyk_80x60_CMYK.jpg",
         quality=90)

    # ------------------------------------------------------------------
    # Top-level img/: a and b the same character (jittered), c different,
    # d a third one as JPEG. 105x105 grey-ish black strokes on white.
    # ------------------------------------------------------------------
    grng = np.random.default_rng(SEED + 1)
    ga = random_glyph(grng, 3)
    gc = random_glyph(grng, 4)
    gd = random_glyph(grng, 3)
    jr = np.random.default_rng(SEED + 2)
    render_glyph(jitter_glyph(ga, jr, 0.015), width=2.8, ink=30).save(os.path.join(IMG, "a.png"))
    render_glyph(jitter_glyph(ga, jr, 0.015), width=2.6, ink=30).save(os.path.join(IMG, "b.png"))
    render_glyph(gc, width=2.8, ink=30).save(os.path.join(IMG, "c.png"))
    render_glyph(gd, width=2.8, ink=30).convert("RGB").save(
        os.path.join(IMG, "d.jpg"), quality=90, optimize=False, progressive=False)

    total = 0
    for p in written:
        s = os.path.getsize(p)
        total += s
        im = Image.open(p)
        print(f"{os.path.relpath(p, ROOT):45s} {im.format:5s} {im.mode:5s} {im.size[0]}x{im.size[1]} {s} bytes")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
