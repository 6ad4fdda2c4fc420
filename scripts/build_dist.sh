#!/usr/bin/env bash
# Build the wheel and the sdist of otree-redwood into dist/ (or DIST_DIR) and
# check that the wheel holds the templates and the whole static tree:
#   ./scripts/build_dist.sh
#   -> dist/otree_redwood-<version>-py3-none-any.whl  (pip install that file)
#      dist/otree_redwood-<version>.tar.gz
# The wheel is built from the sdist, so a file missing from MANIFEST.in is
# missing from the wheel too, and the check below fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_venv.sh
OUT=${DIST_DIR:-dist}
PY=.venv/bin/python
# "build" comes with the test extras; install it if this venv predates that
"$PY" -c 'import build' 2>/dev/null || "$PY" -m pip install -q --disable-pip-version-check "build>=1.0,<2"
version=$("$PY" -c 'import otree_redwood; print(otree_redwood.__version__)')
mkdir -p "$OUT"
rm -f "$OUT/otree_redwood-$version-py3-none-any.whl" "$OUT/otree_redwood-$version.tar.gz"
echo "Building otree-redwood $version into $OUT/"
"$PY" -m build --outdir "$OUT" . > "$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }
"$PY" - "$OUT" "$version" <<'PY'
import os
import sys
import tarfile
import zipfile

out, version = sys.argv[1], sys.argv[2]
wheel = os.path.join(out, "otree_redwood-%s-py3-none-any.whl" % version)
sdist = os.path.join(out, "otree_redwood-%s.tar.gz" % version)
in_wheel = set(zipfile.ZipFile(wheel).namelist())
prefix = "otree_redwood-%s/" % version
in_sdist = {name[len(prefix):] for name in tarfile.open(sdist).getnames()}
missing = []
for top in ("otree_redwood/static", "otree_redwood/templates"):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".cache")]
        for name in files:
            path = os.path.join(root, name)
            for kind, names in (("wheel", in_wheel), ("sdist", in_sdist)):
                if path not in names:
                    missing.append("%s: %s" % (kind, path))
for name in ("otree_redwood_quiet.pth", "otree_redwood/models.py"):
    if name not in in_wheel:
        missing.append("wheel: " + name)
if missing:
    sys.exit("missing from the built files:\n  " + "\n  ".join(missing[:50]))
static = sum(1 for n in in_wheel if n.startswith("otree_redwood/static/"))
print("OK  %s (%d files, %d static)" % (wheel, len(in_wheel), static))
print("OK  %s" % sdist)
print("Install it into an oTree project's environment with:  pip install %s" % os.path.abspath(wheel))
PY
