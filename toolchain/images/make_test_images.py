#!/usr/bin/env python3
"""Writes the small JPEG/PNG fixtures of Tests/QRuntimeTests/Images (ImageCodecTests) with Pillow.

PNG pixels follow formulas the tests recompute: 8-bit sample (x*37 + y*71 + c*101) % 256, 16-bit sample
(x*9001 + y*7919 + c*3) % 65536 (c = channel; gray uses c = 0). JPEG fixtures are 16x16 blocks of flat
colour (JPEG is lossy: the tests read block centres with a tolerance) plus, for blocks.jpg, the exact pixels
Pillow decodes, which libjpeg-turbo's ISLOW path reproduces. Usage: make_test_images.py OUT_DIR
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
W, H = 5, 3
y, x = np.mgrid[0:H, 0:W]


def plane8(c):
    return ((x * 37 + y * 71 + c * 101) % 256).astype(np.uint8)


def plane16(c):
    return ((x * 9001 + y * 7919 + c * 3) % 65536).astype(np.uint16)


rgb8 = np.stack([plane8(c) for c in range(3)], axis=-1)
Image.fromarray(rgb8, "RGB").save(out / "rgb.png")
alpha = np.full((H, W), 77, np.uint8)
Image.fromarray(np.dstack([rgb8, alpha]), "RGBA").save(out / "rgba.png")
Image.fromarray(plane8(0), "L").save(out / "gray.png")
Image.fromarray(np.dstack([plane8(0), alpha]), "LA").save(out / "gray-alpha.png")
Image.fromarray(plane16(0)).save(out / "gray16.png")  # mode I;16 -> 16-bit grayscale PNG
# 16-bit RGB: Pillow cannot write it, so build the PNG by hand (filter 0 rows, zlib stream).
import struct
import zlib


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


rgb16 = np.stack([plane16(c) for c in range(3)], axis=-1).astype(">u2")
raw = b"".join(b"\0" + rgb16[r].tobytes() for r in range(H))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 16, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
(out / "rgb16.png").write_bytes(png)
# Palette: 4 colours, pixel (x, y) uses entry (x + y) % 4; with a tRNS chunk (transparency is dropped).
palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]
p = Image.fromarray(((x + y) % 4).astype(np.uint8), "P")
p.putpalette(palette)
p.save(out / "palette.png", transparency=2)
# 1-bit gray: pixel on where (x + y) is odd.
Image.fromarray(((x + y) % 2).astype(bool)).save(out / "bits1.png")

# JPEG: a 32x16 image of two 16x16 blocks (red left, blue right).
blocks = np.zeros((16, 32, 3), np.uint8)
blocks[:, :16] = (220, 30, 30)
blocks[:, 16:] = (30, 30, 220)
Image.fromarray(blocks, "RGB").save(out / "blocks.jpg", quality=95)
decoded = np.asarray(Image.open(out / "blocks.jpg").convert("RGB"))
(out / "blocks.jpg.json").write_text(json.dumps(decoded.reshape(-1).tolist(), separators=(",", ":")) + "\n")
Image.fromarray(np.full((16, 16), 200, np.uint8), "L").save(out / "gray.jpg", quality=95)
# EXIF orientation 6 (rotate 90 clockwise to view): stored 32x16, upright 16x32 with red on top.
exif = Image.Exif()
exif[0x0112] = 6
Image.fromarray(blocks, "RGB").save(out / "orient6.jpg", quality=95, exif=exif.tobytes())
exif[0x0112] = 8
Image.fromarray(blocks, "RGB").save(out / "orient8.jpg", quality=95, exif=exif.tobytes())
exif[0x0112] = 3
Image.fromarray(blocks, "RGB").save(out / "orient3.jpg", quality=95, exif=exif.tobytes())
Image.fromarray(blocks, "RGB").save(out / "progressive.jpg", quality=95, progressive=True)
# CMYK JPEG: refused with a message (LowBit does not guess a CMYK -> RGB conversion).
Image.fromarray(blocks, "RGB").convert("CMYK").save(out / "cmyk.jpg", quality=90)
