#!/usr/bin/env bash
# Refresh the vendored browser packages under
# otree_redwood/static/otree-redwood/node_modules/ from the npm registry.
#
# Versions are pinned in otree_redwood/static/otree-redwood/package.json
# ("dependencies", exact versions only); this script downloads each package
# tarball with `npm pack`, checks its version, and copies the modules a
# browser needs plus each package's package.json and LICENSE file (when the
# tarball has one).  Nothing is fetched at run time: the result is committed.
#
# 0.9.x apps import these files by path, e.g.
# /static/otree-redwood/node_modules/@polymer/paper-styles/color.js, so every
# path otree-redwood 0.9.4 served must exist (tests/data/node_modules-0.9.x.txt);
# see docs/static_files.rst.  Browsers resolve no bare specifier
# ('@polymer/polymer/polymer-legacy.js') without a bundler or an import map,
# so scripts/js_imports.mjs rewrites them to relative paths and then checks
# that every import of every vendored module names a vendored file.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATIC="$ROOT/otree_redwood/static/otree-redwood"
DEST="$STATIC/node_modules"
LIST="$ROOT/tests/data/node_modules-0.9.x.txt"

command -v npm >/dev/null || { echo "npm is required" >&2; exit 1; }
command -v node >/dev/null || { echo "node is required" >&2; exit 1; }

# "name version" per line, exact versions only (a range would make the
# committed tree depend on the day the script ran)
PINS="$(node -e '
  const deps = require(process.argv[1]).dependencies;
  for (const [name, v] of Object.entries(deps)) {
    if (!/^\d+\.\d+\.\d+$/.test(v)) { console.error(`pin an exact version for ${name} (got ${v})`); process.exit(1); }
    console.log(name + " " + v);
  }' "$STATIC/package.json")"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fetch() {  # fetch NAME VERSION -> prints the unpacked package directory
  local name="$1" version="$2" dir="$TMP/${1//\//_}"
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$name@$version" >/dev/null && tar xzf ./*.tgz)
  local got
  got="$(node -p 'const p = require(process.argv[1]); p.name + "@" + p.version' "$dir/package/package.json")"
  [ "$got" = "$name@$version" ] || { echo "wanted $name@$version, got $got" >&2; exit 1; }
  echo "$dir/package"
}

# Which files of a package a browser needs (find -path patterns, relative to
# the package root; `*` also matches `/`).
patterns() {
  case "$1" in
    @polymer/polymer) echo 'polymer-element.js polymer-legacy.js lib/*.js' ;;
    @webcomponents/shadycss) echo 'entrypoints/*.js src/*.js' ;;
    @webcomponents/webcomponentsjs)
      echo 'webcomponents-loader.js webcomponents-bundle.js custom-elements-es5-adapter.js bundles/*.js' ;;
    marked) echo 'lib/marked.js' ;;
    prismjs) echo 'prism.js' ;;
    # an element package: every module, minus demos, tests and the example
    # apps some of them ship (EXCLUDE)
    @polymer/*) echo '*.js' ;;
    *) echo "no file rule for $1: add one to patterns() in $0" >&2; exit 1 ;;
  esac
}

# Never copied: demos, tests, example apps, build scripts; and modules whose
# imports need a package that 0.9.x never served.
EXCLUDE=(
  '*/demo/*' '*/test/*' './externs/*' '*/node_modules/*'
  './templates/*' './patterns/*'          # @polymer/app-layout's example apps
  './util/*'                              # @polymer/iron-icons' build script (Node)
  './paper-checked-element-behavior.js'   # imports @polymer/iron-checked-element-behavior
)

copy_package() {  # copy_package NAME SRC_DIR DEST_DIR
  local name="$1" src="$2" dst="$3" rule pats excl=() x pat
  rule="$(patterns "$name")"
  read -r -a pats <<<"$rule"  # `read` splits without expanding the globs
  for x in "${EXCLUDE[@]}"; do excl+=(-not -path "$x"); done
  (
    cd "$src"
    find . -maxdepth 1 -type f \( -name 'LICENSE*' -o -name 'package.json' \)
    for pat in "${pats[@]}"; do
      find . -type f -path "./$pat" "${excl[@]}"
    done
  ) | sort -u | while read -r f; do
    mkdir -p "$dst/$(dirname "$f")"
    cp "$src/$f" "$dst/$f"
  done
}

rm -rf "$DEST"
mkdir -p "$DEST"
while read -r name version; do
  src="$(fetch "$name" "$version")"
  copy_package "$name" "$src" "$DEST/$name"
  echo "vendored $name@$version ($(find "$DEST/$name" -name '*.js' | wc -l) modules)"
done <<<"$PINS"

node --experimental-vm-modules --no-warnings "$ROOT/scripts/js_imports.mjs" rewrite "$DEST"
node --experimental-vm-modules --no-warnings "$ROOT/scripts/js_imports.mjs" check "$DEST" "$LIST"
echo "vendored $(wc -l <<<"$PINS") packages into $DEST ($(du -sh "$DEST" | cut -f1))"
