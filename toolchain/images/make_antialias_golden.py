#!/usr/bin/env python3
"""Writes Tests/QRuntimeTests/Images/antialias.json: the antialiased bilinear resize of synthetic images, then
torchvision-style center crop, two ways: "values" from torch's F.interpolate(antialias=True) on floats (the
float form of Pillow's BILINEAR filter), "pil" from Pillow itself on the 8-bit image (bytes).

Image: W x H x C with sample (x*37 + y*71 + c*101) % 256 / 255. Each case: resize the shorter side to R
(longer side int(R * long / short)), center crop [CH, CW] (top = int(round((h - CH) / 2))), no normalisation.
Usage: make_antialias_golden.py OUT_JSON
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

cases = [  # (width, height, channels, R, crop H, crop W)
    (13, 9, 3, 4, 3, 3),
    (37, 23, 3, 8, 8, 8),
    (23, 37, 1, 10, 6, 9),
    (6, 5, 3, 9, 9, 9),  # upscaling
    (300, 200, 3, 32, 16, 16),
]
out = []
for w, h, c, r, ch, cw in cases:
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    img = torch.stack([((x * 37 + y * 71 + k * 101) % 256).float() / 255 for k in range(c)])[None]
    short, long = min(w, h), max(w, h)
    new_long = int(r * long / short)
    rw, rh = (r, new_long) if w <= h else (new_long, r)
    res = F.interpolate(img, size=(rh, rw), mode="bilinear", align_corners=False, antialias=True)[0]
    top, left = int(round((rh - ch) / 2.0)), int(round((rw - cw) / 2.0))
    crop = res[:, top:top + ch, left:left + cw].permute(1, 2, 0).reshape(-1)  # HWC
    u8 = (img[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    pil = Image.fromarray(u8[:, :, 0] if c == 1 else u8, "L" if c == 1 else "RGB").resize((rw, rh), Image.BILINEAR)
    pil = np.asarray(pil.crop((left, top, left + cw, top + ch))).reshape(-1)
    out.append({"width": w, "height": h, "channels": c, "resize": r, "crop": [ch, cw],
                "values": [round(v, 7) for v in crop.tolist()], "pil": pil.tolist()})
with open(sys.argv[1], "w") as f:
    json.dump(out, f, separators=(",", ":"))
    f.write("\n")
