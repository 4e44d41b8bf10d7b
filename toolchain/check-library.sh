#!/usr/bin/env bash
# Checks the LowBit library product as a user meets it: the DocC catalog builds with no warnings
# (swift-docc-plugin, which joins the package only under LOWBIT_DOCS=1), and the example package
# Examples/Classify builds against the library and classifies the bundled samples and a JPEG.
#
#   toolchain/check-library.sh [DOCS_OUT]      default DOCS_OUT: .build-docs/LowBit (static HTML site)
# .ci/run runs it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
docs="${1:-$root/.build-docs/LowBit}"

echo "--- DocC: swift package generate-documentation --target LowBit"
LOWBIT_DOCS=1 swift package --scratch-path "$root/.build-docs/scratch" generate-documentation --target LowBit \
  --warnings-as-errors --output-path "$docs"
for page in documentation/lowbit documentation/lowbit/gettingstarted documentation/lowbit/session; do
  [ -d "$docs/data/$page" ] || [ -f "$docs/data/$page.json" ] || { echo "docs: $page missing" >&2; exit 1; }
done

echo "--- Examples/Classify"
cd "$root/Examples/Classify"
swift build
out="$(swift run Classify)"
echo "$out"
grep -q "Ankle boot" <<<"$out"
grep -q "zero tensor ->" <<<"$out"
out="$(swift run Classify --top 1 "$root/Tests/QRuntimeTests/Images/gray.jpg")"
echo "$out"
grep -q "gray.jpg" <<<"$out"
echo "check-library: docs in $docs; the example builds and runs"
