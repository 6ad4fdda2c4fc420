#!/usr/bin/env bash
# Vendor the charting library of the admin pages (live monitor, replay):
# uPlot, from the npm registry at the pinned version below, into
# otree_redwood/static/otree-redwood/vendor/uplot/.  The result is committed:
# nothing is fetched at run time and no CDN is used.
#
# To upgrade: change UPLOT_VERSION, run this script, check the monitor and the
# replay page (tests/test_monitor_browser.py), commit.
set -euo pipefail

UPLOT_VERSION="1.6.32"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/otree_redwood/static/otree-redwood/vendor/uplot"

command -v npm >/dev/null || { echo "npm is required" >&2; exit 1; }
command -v node >/dev/null || { echo "node is required" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# npm pack checks the tarball against the registry's integrity hash
(cd "$TMP" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null)
TGZ="$(ls "$TMP"/uplot-*.tgz)"
tar xzf "$TGZ" -C "$TMP"
got="$(node -p 'require(process.argv[1]).version' "$TMP/package/package.json")"
[ "$got" = "$UPLOT_VERSION" ] || { echo "uplot: wanted $UPLOT_VERSION, got $got" >&2; exit 1; }
integrity="$(npm view --silent "uplot@$UPLOT_VERSION" dist.integrity)"

rm -rf "$DEST"
mkdir -p "$DEST"
for f in LICENSE package.json dist/uPlot.esm.js dist/uPlot.min.css; do
  cp "$TMP/package/$f" "$DEST/$(basename "$f")"
done
cat > "$DEST/VENDORED.txt" <<TXT
uplot $UPLOT_VERSION from the npm registry (registry integrity: $integrity)
vendored by scripts/vendor_chart.sh; files copied unchanged from the package:
  LICENSE package.json dist/uPlot.esm.js dist/uPlot.min.css
TXT
echo "vendored uplot@$UPLOT_VERSION into $DEST"
