#!/usr/bin/env python3
"""Static cycle estimates of the NEON inner loops with llvm-mca (Debian llvm-22).

For each neondot qgemm member (table lookup / int8, anchored on `sdot`) and each shift-add member
(sgemm, anchored on `sshl`, 8 int16 terms each): compile it for aarch64 (clang --target=aarch64-linux-gnu
-mcpu=cortex-a76 -O3), cut out the innermost loop that holds the sdot instructions (16 k of a
4-row x 16-channel tile: 64 sdot of 16 multiply-adds each), and ask llvm-mca for its steady-state cycles per iteration on cortex-x1,
neoverse-n1 (the Cortex-A78 stand-in: same Neoverse/A7x pipeline family) and cortex-a55. Prints a
Markdown table with MACs per cycle and the share of each core's int8 sdot peak (X1: 4 sdot/cycle =
64 MAC/cycle, A78: 2 = 32, A55: about 0.5 = 8); the binary bgemm member (anchored on `cnt`, 128
sign x weight products each) gets a table of its three paths' 4-row loops in binary MACs per cycle
against that int8 peak; the bit-serial bsgemm members (anchored on `cnt`: 128 bit products of one
plane pair each, wb * ab pairs per W<wb>A<ab> multiply-add) a table in MACs per cycle against the
same peak; shift-add members get a last table in terms (a << e additions, the MACs they replace) per
cycle. Run from the repository root:

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


def inner_loop(asm: str, anchor: str = "sdot", first: int = None) -> str:
    """The loop around the first `anchor` instruction (or the one at line `first`): from the nearest label before it, every instruction up to
    the first branch back to a label passed on the way (loops may be rotated, with their header
    block at the bottom)."""
    lines = asm.splitlines()
    if first is None:
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
POSITIONS_PER_CNT = 128  # bgemm: one cnt counts 16 bytes = 128 sign x weight products


def mca_cycles(loop: str, cpu: str, tmp: str) -> float:
    """llvm-mca's steady-state cycles per iteration of `loop` on `cpu`."""
    loop_path = Path(tmp) / "loop.s"
    loop_path.write_text(loop)
    out = subprocess.run(["llvm-mca-22", "--mtriple=aarch64", f"-mcpu={cpu}", "-iterations=200", str(loop_path)],
                         check=True, capture_output=True, text=True).stdout
    return int(re.search(r"Total Cycles:\s+(\d+)", out).group(1)) / 200


def peak_cells(loop: str, work: float, tmp: str, ratio: str) -> list:
    """Per CPU: cycles per iteration, binary MACs per cycle and the ratio to the int8 sdot peak."""
    cells = []
    for cpu, _, peak in CPUS:
        cycles = mca_cycles(loop, cpu, tmp)
        cells.append(f"{cycles:.1f} cyc, {work / cycles:.0f} MAC/cyc ({ratio.format(work / cycles / peak)}x int8 peak)")
    return cells


def member_asm(member: Path, tmp: str) -> str:
    """The member compiled for aarch64 (clang -mcpu=cortex-a76 -O3), as assembly text."""
    asm_path = Path(tmp) / "member.s"
    subprocess.run(["clang", "--target=aarch64-linux-gnu", "-mcpu=cortex-a76", "-O3", "-ffp-contract=off",
                    f"-I{SRC / 'include'}", "-I/usr/aarch64-linux-gnu/include", "-S", "-o", str(asm_path),
                    str(member)], check=True)
    return asm_path.read_text()


def bsgemm_rows() -> list:
    """Each NEON bsgemm member's 4-row inner loop (the loop with the most `cnt`: one k-word of 4 rows x
    8 channels, 16 * wb * ab cnt), as (member, instructions, cnt, cells with W<wb>A<ab> MACs per cycle
    and the share of the int8 sdot peak)."""
    result = []
    for member in sorted((SRC / "ukernels").glob("qk_bsgemm_*__neondot.c")):
        wb, ab = map(int, re.search(r"_w(\d)a(\d)_", member.stem).groups())
        with tempfile.TemporaryDirectory() as tmp:
            asm = member_asm(member, tmp)
            lines = asm.splitlines()
            loops = [inner_loop(asm, "cnt", i) for i, l in enumerate(lines) if l.split()[:1] == ["cnt"]]
            loop = max(loops, key=lambda b: sum(1 for l in b.splitlines() if l.split()[:1] == ["cnt"]))
            cnts = sum(1 for l in loop.splitlines() if l.split()[:1] == ["cnt"])
            work = cnts * POSITIONS_PER_CNT / (wb * ab)
            cells = peak_cells(loop, work, tmp, "{:.2f}")
        result.append((member.stem, len(loop.splitlines()), cnts, cells))
    return result


def bgemm_rows() -> list:
    """The NEON bgemm member's 4-row inner loop of each path (the loop with the most `cnt`; paths told
    apart by their instructions: GENERAL sums signed bytes with sdot, SIGN_ACT masks with and), as
    (path, instructions, cnt, cells with binary MACs per cycle and the ratio to the int8 sdot peak)."""
    member = SRC / "ukernels" / "qk_bgemm_ukernel_4x8c64__neondot.c"
    with tempfile.TemporaryDirectory() as tmp:
        asm_path = Path(tmp) / "member.s"
        subprocess.run(["clang", "--target=aarch64-linux-gnu", "-mcpu=cortex-a76", "-O3", "-ffp-contract=off",
                        f"-I{SRC / 'include'}", "-I/usr/aarch64-linux-gnu/include", "-S", "-o", str(asm_path),
                        str(member)], check=True)
        lines = asm_path.read_text().splitlines()
        loops = {}
        for i, line in enumerate(lines):
            if line.split()[:1] != ["cnt"]:
                continue
            loop = inner_loop("\n".join(lines), "cnt", i)
            ops = [l.split()[0] for l in loop.splitlines()]
            path = "general" if "sdot" in ops else "sign-act" if "and" in ops else "binary"
            if path not in loops or ops.count("cnt") > [l.split()[0] for l in loops[path].splitlines()].count("cnt"):
                loops[path] = loop
        result = []
        for path in ("binary", "sign-act", "general"):
            loop = loops[path]
            cnts = sum(1 for l in loop.splitlines() if l.split()[:1] == ["cnt"])
            work = cnts * POSITIONS_PER_CNT * (0.5 if path == "general" else 1)  # general: two cnt per 128
            result.append((path, len(loop.splitlines()), cnts, peak_cells(loop, work, tmp, "{:.1f}")))
        return result


def main() -> int:
    rows, shift_rows = [], []
    members = [m for m in sorted((SRC / "ukernels").glob("*__neondot.c")) if m.stem.startswith(("qk_lgemm_", "qk_qgemm_"))]
    members += sorted((SRC / "ukernels").glob("qk_sgemm_*__neon.c"))
    for member in members:
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
    print("| bgemm path (`qk_bgemm_ukernel_4x8c64__neondot`, 4 rows) | instructions / cnt per loop iteration | "
          + " | ".join(name for _, name, _ in CPUS) + " |")
    print("|---|---|" + "---|" * len(CPUS))
    for path, n, cnts, cells in bgemm_rows():
        print(f"| {path} | {n} / {cnts} | " + " | ".join(cells) + " |")
    print()
    print("| bsgemm member (4 rows x 8 channels x 64 k) | instructions / cnt per loop iteration | "
          + " | ".join(name for _, name, _ in CPUS) + " |")
    print("|---|---|" + "---|" * len(CPUS))
    for name, n, cnts, cells in bsgemm_rows():
        print(f"| `{name}` | {n} / {cnts} | " + " | ".join(cells) + " |")
    print()
    print("| shift-add member | instructions / sshl per loop iteration | " + " | ".join(name for _, name, _ in CPUS) + " |")
    print("|---|---|" + "---|" * len(CPUS))
    for name, n, sshls, cells in shift_rows:
        print(f"| `{name}` | {n} / {sshls} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
