"""Binary NetPBM reading for the toolchain scripts (the Swift reader, Sources/QRuntime/NetPBM.swift,
is the product's; this one only reads what the scripts themselves need)."""
import numpy as np


def read_netpbm(path, magic):
    """Binary PGM (magic b"P5", -> [h, w]) or PPM (b"P6", -> [h, w, 3]) with maxval 255: header tokens
    separated by whitespace, '#' comments, then exactly one whitespace byte before the raster."""
    data = open(path, "rb").read()
    tokens, pos = [], 0
    while len(tokens) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        tokens.append(data[pos:end]); pos = end
    pos += 1
    assert tokens[0] == magic and int(tokens[3]) == 255, path
    w, h = int(tokens[1]), int(tokens[2])
    channels = 3 if magic == b"P6" else 1
    img = np.frombuffer(data, dtype=np.uint8, offset=pos, count=w * h * channels)
    return img.reshape(h, w, 3) if channels == 3 else img.reshape(h, w)
