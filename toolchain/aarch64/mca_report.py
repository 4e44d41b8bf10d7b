#!/usr/bin/env python3
"""Static cycle estimates of the NEON inner loops with llvm-mca (Debian llvm-22).

For each neondot qgemm member: compile it for aarch64 (clang --target=aarch64-linux-gnu
-mcpu=cortex-a76 -O3), cut out the innermost loop (the 32-code step: 16 outputs x 32 k = 512
multiply-adds), and ask llvm-mca for its steady-state cycles per iteration on cortex-x1,
neoverse-n1 (the Cortex-A78 stand-in: same Neoverse/A7x pipeline family) and cortex-a55. Prints a
Markdown table with MACs per cycle and the share of each core's int8 sdot peak (X1: 4 sdot/cycle =
64 MAC/cycle, A78: 2 = 32, A55: about 0.5 = 8). Run from the repository root:

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
MACS_PER_ITERATION = 4 * 4 * 32


def inner_loop(asm: str) -> str:
    """The instructions of the first loop marked 'Inner Loop Header' up to its backward branch."""
    lines = asm.splitlines()
    start = next(i for i, l in enumerate(lines) if "Inner Loop Header" in l)
    label = lines[start].split(":")[0]
    body = []
    for line in lines[start + 1:]:
        text = line.split("//")[0].strip()
        if not text or text.startswith("."):
            continue
        body.append(text)
        if re.match(r"^(b\.\w+|b|cbnz|cbz|tbnz|tbz)\b.*" + re.escape(label) + r"$", text):
            break
    return "\n".join(body) + "\n"


def main() -> int:
    rows = []
    for member in sorted((SRC / "ukernels").glob("*__neondot.c")):
        with tempfile.TemporaryDirectory() as tmp:
            asm_path = Path(tmp) / "member.s"
            subprocess.run(["clang", "--target=aarch64-linux-gnu", "-mcpu=cortex-a76", "-O3", "-ffp-contract=off",
                            f"-I{SRC / 'include'}", "-I/usr/aarch64-linux-gnu/include", "-S", "-o", str(asm_path),
                            str(member)], check=True)
            loop = inner_loop(asm_path.read_text())
            loop_path = Path(tmp) / "loop.s"
            loop_path.write_text(loop)
            sdots = sum(1 for l in loop.splitlines() if l.startswith("sdot"))
            cells = []
            for cpu, _, peak in CPUS:
                out = subprocess.run(["llvm-mca-22", "--mtriple=aarch64", f"-mcpu={cpu}", "-iterations=200",
                                      str(loop_path)], check=True, capture_output=True, text=True).stdout
                cycles = int(re.search(r"Total Cycles:\s+(\d+)", out).group(1)) / 200
                macs = MACS_PER_ITERATION / cycles
                cells.append(f"{cycles:.1f} cyc, {macs:.1f} MAC/cyc ({100 * macs / peak:.0f} %)")
            rows.append((member.stem, len(loop.splitlines()), sdots, cells))
    print("| member | instructions / sdot per 32-code step | " + " | ".join(name for _, name, _ in CPUS) + " |")
    print("|---|---|" + "---|" * len(CPUS))
    for name, n, sdots, cells in rows:
        print(f"| `{name}` | {n} / {sdots} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
