#!/usr/bin/env python3
"""Static cycle estimates of the NEON inner loops with llvm-mca (Debian llvm-22).

For each neondot qgemm member (table lookup / int8, anchored on `sdot`) and each shift-add member
(sgemm, anchored on `sshl`, 8 int16 terms each): compile it for aarch64 (clang --target=aarch64-linux-gnu
-mcpu=cortex-a76 -O3), cut out the innermost loop that holds the sdot instructions (16 k of a
4-row x 16-channel tile: 64 sdot of 16 multiply-adds each), and ask llvm-mca for its steady-state cycles per iteration on cortex-x1,
neoverse-n1 (the Cortex-A78 stand-in: same Neoverse/A7x pipeline family) and cortex-a55. Prints a
Markdown table with MACs per cycle and the share of each core's int8 sdot peak (X1: 4 sdot/cycle =
64 MAC/cycle, A78: 2 = 32, A55: about 0.5 = 8); shift-add members get a second table in terms
(a << e additions, the MACs they replace) per cycle. Run from the repository root:

    python3 toolchain/aarch64/mca_report.py
"""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "Sources/QKernels"
CPUS = [("cortex-x1", "Cortex-X1", 64), ("neoverse-n1", "Cortex-A78 (neoverse-n1)", 32),
        ("cortex-a55", "Cortex-A55", 8)]
MACS_PER_SDOT = 16  # 4 lanes x 4 k


def inner_loop(asm: str, anchor: str = "sdot") -> str:
    """The loop around the first `anchor` instruction: from the nearest label before it, every instruction up to
    the first branch back to a label passed on the way (loops may be rotated, with their header
    block at the bottom)."""
    lines = asm.splitlines()
    first = next((i for i, l in enumerate(lines) if l.split()[:1] == [anchor]), None)
    if first is None:
        raise SystemExit(f"no {anchor} found")
    start = next(i for i in range(first, -1, -1) if re.match(r"^\.LBB\w+:", lines[i]))
    seen, body = set(), []
    for line in lines[start:]:
        label = re.match(r"^(\.LBB\w+):", line)
        if label:
            seen.add(label.group(1))
            continue
        text = line.split("//")[0].strip()
        if not text or text.startswith("."):
            continue
        body.append(text)
        target = re.match(r"^(?:b\.\w+|b|cbnz|cbz|tbnz|tbz)\b.*?(\.LBB\w+)$", text)
        if target and target.group(1) in seen:
            return "\n".join(body) + "\n"
    raise SystemExit(f"no loop around {anchor} found")


TERMS_PER_SSHL = 8  # int16 lanes


def main() -> int:
    rows, shift_rows = [], []
    for member in sorted((SRC / "ukernels").glob("*__neondot.c")):
        shift = member.stem.startswith("qk_sgemm_")
        anchor = "sshl" if shift else "sdot"
        with tempfile.TemporaryDirectory() as tmp:
            asm_path = Path(tmp) / "member.s"
            subprocess.run(["clang", "--target=aarch64-linux-gnu", "-mcpu=cortex-a76", "-O3", "-ffp-contract=off",
                            f"-I{SRC / 'include'}", "-I/usr/aarch64-linux-gnu/include", "-S", "-o", str(asm_path),
                            str(member)], check=True)
            loop = inner_loop(asm_path.read_text(), anchor)
            loop_path = Path(tmp) / "loop.s"
            loop_path.write_text(loop)
            sdots = sum(1 for l in loop.splitlines() if l.split()[:1] == [anchor])
            work = sdots * (TERMS_PER_SSHL if shift else MACS_PER_SDOT)
            cells = []
            for cpu, _, peak in CPUS:
                out = subprocess.run(["llvm-mca-22", "--mtriple=aarch64", f"-mcpu={cpu}", "-iterations=200",
                                      str(loop_path)], check=True, capture_output=True, text=True).stdout
                cycles = int(re.search(r"Total Cycles:\s+(\d+)", out).group(1)) / 200
                macs = work / cycles
                cells.append(f"{cycles:.1f} cyc, {macs:.1f} terms/cyc" if shift else
                             f"{cycles:.1f} cyc, {macs:.1f} MAC/cyc ({100 * macs / peak:.0f} %)")
            (shift_rows if shift else rows).append((member.stem, len(loop.splitlines()), sdots, cells))
    print("| member | instructions / sdot per loop iteration | " + " | ".join(name for _, name, _ in CPUS) + " |")
    print("|---|---|" + "---|" * len(CPUS))
    for name, n, sdots, cells in rows:
        print(f"| `{name}` | {n} / {sdots} | " + " | ".join(cells) + " |")
    print()
    print("| shift-add member | instructions / sshl per loop iteration | " + " | ".join(name for _, name, _ in CPUS) + " |")
    print("|---|---|" + "---|" * len(CPUS))
    for name, n, sshls, cells in shift_rows:
        print(f"| `{name}` | {n} / {sshls} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
