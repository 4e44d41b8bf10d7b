"""Deterministic storage keys for legacy-format torch.save files (torch <= 1.5 layout).

The legacy writer names every storage by its memory address (`str(storage._cdata)`, e.g.
'94236606738576') and writes the raw storages sorted by that string, so two runs of the same generator
give different bytes. `canonicalize(path)` renames the keys to address-like strings that depend only on
the order in which storages first appear in the object pickle, and rewrites the storages in the sorted
order of the new keys, which is exactly what the legacy writer would have written had the allocator
handed out those addresses. The file stays a valid legacy file (torch.load reads it back unchanged).

Legacy layout (torch/serialization.py, _legacy_save):
    pickle(magic number) pickle(protocol version) pickle(sys_info) pickle(object) pickle(sorted keys)
    then per key, in list order: int64 element count (little endian) + raw storage bytes
Persistent ids in the object pickle: ('storage', <torch XStorage class>, key, location, numel, None).
"""
import io
import pickle
import pickletools
import struct
from pathlib import Path

# Bytes per element of each legacy storage class the fixtures can contain.
ELEMENT_SIZE = {
    "torch FloatStorage": 4, "torch DoubleStorage": 8, "torch HalfStorage": 2, "torch BFloat16Storage": 2,
    "torch LongStorage": 8, "torch IntStorage": 4, "torch ShortStorage": 2, "torch CharStorage": 1,
    "torch ByteStorage": 1, "torch BoolStorage": 1,
}
FIRST_KEY = 93_824_992_236_544   # 0x555555554000: a typical Linux heap address, 14 decimal digits
KEY_STRIDE = 4096


def _pickle_end(data: bytes, start: int) -> int:
    """Offset just past the STOP opcode of the pickle that starts at `start`."""
    stream = io.BytesIO(data)
    stream.seek(start)
    for op, _, pos in pickletools.genops(stream):   # positions are absolute offsets in `data`
        if op.name == "STOP":
            return pos + 1
    raise ValueError("pickle without STOP")


def _storage_key_ops(main: bytes):
    """[(offset, length, key, class_name, numel)] for every storage key string in the object pickle,
    in order of appearance. Only the operands of persistent-id tuples are tracked: strings, globals,
    small ints, None and marks are pushed, BINGET resolves memoized 'storage'/class/location values,
    and each BINPERSID consumes the entries after the most recent MARK."""
    memo, stack, found = {}, [], []
    ops = list(pickletools.genops(main))
    pushes = {"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "GLOBAL", "BININT", "BININT1", "BININT2",
              "LONG1", "NONE", "MARK"}
    for index, (op, arg, pos) in enumerate(ops):
        if op.name in pushes:
            stack.append(("<mark>" if op.name == "MARK" else arg, pos, index))
        elif op.name in ("BINPUT", "LONG_BINPUT") and stack:
            memo[arg] = stack[-1][0]
        elif op.name in ("BINGET", "LONG_BINGET"):
            stack.append((memo.get(arg), pos, index))
        elif op.name == "BINPERSID":
            mark = max(i for i, entry in enumerate(stack) if entry[0] == "<mark>")
            items = stack[mark + 1:]
            if len(items) >= 5 and items[0][0] == "storage":
                key, key_pos, key_index = items[2]
                found.append((key_pos, ops[key_index + 1][2] - key_pos, key, items[1][0], items[4][0]))
            del stack[mark:]
    return found


def canonicalize(path: Path) -> None:
    """Rewrites a legacy-format torch.save file in place with deterministic storage keys and order."""
    data = Path(path).read_bytes()
    offset = 0
    for _ in range(3):                                # magic number, protocol version, sys_info
        offset = _pickle_end(data, offset)
    header, main_start = data[:offset], offset
    main_end = _pickle_end(data, main_start)
    main = data[main_start:main_end]
    keys_end = _pickle_end(data, main_end)
    old_keys = pickle.loads(data[main_end:keys_end])

    key_ops = _storage_key_ops(main)
    element_size, renamed = {}, {}
    for _, _, key, class_name, _ in key_ops:
        element_size[key] = ELEMENT_SIZE[class_name]
        if key not in renamed:
            renamed[key] = str(FIRST_KEY + KEY_STRIDE * len(renamed))
    if set(renamed) != set(old_keys):
        raise ValueError(f"{path}: storage keys in the object pickle do not match the key list")

    records, cursor = {}, keys_end
    for key in old_keys:
        (count,) = struct.unpack_from("<q", data, cursor)
        size = 8 + count * element_size[key]
        records[key] = data[cursor:cursor + size]
        cursor += size
    if cursor != len(data):
        raise ValueError(f"{path}: {len(data) - cursor} trailing bytes after the storages")

    pieces, last = [], 0
    for pos, length, key, _, _ in key_ops:
        new = renamed[key].encode()
        pieces += [main[last:pos], b"X" + struct.pack("<I", len(new)) + new]
        last = pos + length
    pieces.append(main[last:])
    new_main = b"".join(pieces)

    new_keys = sorted(renamed.values())
    by_new = {renamed[k]: records[k] for k in old_keys}
    out = header + new_main + pickle.dumps(new_keys, protocol=2) + b"".join(by_new[k] for k in new_keys)
    Path(path).write_bytes(out)
