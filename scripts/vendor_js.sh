#!/usr/bin/env bash
# Refresh the vendored browser packages under
# otree_redwood/static/otree-redwood/node_modules/ from the npm registry.
#
# Versions are pinned in otree_redwood/static/otree-redwood/package.json
# ("dependencies"); this script reads them from there, downloads each
# package tarball with `npm pack`, and copies only the files a browser needs
# (plus each package's LICENSE and package.json).  Nothing is fetched at run
# time: the result is committed to git.
#
# Polymer 3 imports @webcomponents/shadycss by bare specifier in a couple of
# files; browsers cannot resolve bare specifiers without a bundler or an
# import map, so those imports are rewritten to relative paths here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATIC="$ROOT/otree_redwood/static/otree-redwood"
DEST="$STATIC/node_modules"

command -v npm >/dev/null || { echo "npm is required" >&2; exit 1; }
command -v node >/dev/null || { echo "node is required" >&2; exit 1; }

version_of() {
  node -e 'const p=require(process.argv[1]); const v=p.dependencies[process.argv[2]]; if(!/^\d+\.\d+\.\d+$/.test(v||"")){console.error("pin an exact version for "+process.argv[2]); process.exit(1)} console.log(v)' \
    "$STATIC/package.json" "$1"
}

POLYMER_V="$(version_of @polymer/polymer)"
SHADYCSS_V="$(version_of @webcomponents/shadycss)"
WCJS_V="$(version_of @webcomponents/webcomponentsjs)"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fetch() {  # fetch NAME VERSION -> unpacked into $TMP/<name>/package
  local name="$1" version="$2" dir="$TMP/${1//\//_}"
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$name@$version" >/dev/null && tar xzf ./*.tgz)
  local got
  got="$(node -p 'require(process.argv[1]).version' "$dir/package/package.json")"
  [ "$got" = "$version" ] || { echo "$name: wanted $version, got $got" >&2; exit 1; }
  echo "$dir/package"
}

# copy SRC_DIR DEST_DIR PATTERN...: copy matching files (relative paths kept)
copy() {
  local src="$1" dst="$2"; shift 2
  (cd "$src" && for pat in "$@"; do
     find . -path "./$pat" -type f
   done) | sort -u | while read -r f; do
    mkdir -p "$dst/$(dirname "$f")"
    cp "$src/$f" "$dst/$f"
  done
}

P="$(fetch @polymer/polymer "$POLYMER_V")"
S="$(fetch @webcomponents/shadycss "$SHADYCSS_V")"
W="$(fetch @webcomponents/webcomponentsjs "$WCJS_V")"

rm -rf "$DEST/@polymer/polymer" "$DEST/@webcomponents/shadycss" "$DEST/@webcomponents/webcomponentsjs"

copy "$P" "$DEST/@polymer/polymer" 'LICENSE*' package.json polymer-element.js polymer-legacy.js 'lib/*.js'
copy "$S" "$DEST/@webcomponents/shadycss" 'LICENSE*' package.json 'entrypoints/*.js' 'src/*.js'
copy "$W" "$DEST/@webcomponents/webcomponentsjs" 'LICENSE*' package.json \
  webcomponents-loader.js webcomponents-bundle.js custom-elements-es5-adapter.js 'bundles/*.js'

# Rewrite bare '@webcomponents/...' / '@polymer/...' specifiers in import
# statements of the vendored ES modules to relative paths.
node - "$DEST" <<'JS'
const fs = require('fs');
const path = require('path');
const dest = process.argv[2];
const roots = ['@polymer/polymer', '@webcomponents/shadycss'];
const re = /((?:^|\n)\s*(?:import|export)\s(?:[^'";]*?\sfrom\s*)?)(['"])(@(?:polymer|webcomponents)\/[^'"]+)\2/g;
let changed = 0;
function walk(dir) {
  for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.js')) {
      const src = fs.readFileSync(p, 'utf8');
      const out = src.replace(re, (m, head, q, spec) => {
        const target = path.join(dest, spec);
        if (!fs.existsSync(target)) throw new Error(`${p}: ${spec} is not vendored`);
        let rel = path.relative(path.dirname(p), target).split(path.sep).join('/');
        if (!rel.startsWith('.')) rel = './' + rel;
        changed++;
        return head + q + rel + q;
      });
      if (out !== src) fs.writeFileSync(p, out);
    }
  }
}
for (const r of roots) walk(path.join(dest, r));
// fail loudly if any bare import is left
const bare = /(?:^|\n)\s*(?:import|export)\s(?:[^'";]*?\sfrom\s*)?['"][^.'"\/][^'"]*['"]/;
function check(dir) {
  for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) check(p);
    else if (e.name.endsWith('.js') && bare.test(fs.readFileSync(p, 'utf8'))) {
      throw new Error(`bare import left in ${p}`);
    }
  }
}
for (const r of roots) check(path.join(dest, r));
console.log(`rewrote ${changed} bare import(s)`);
JS

echo "vendored @polymer/polymer@$POLYMER_V @webcomponents/shadycss@$SHADYCSS_V @webcomponents/webcomponentsjs@$WCJS_V into $DEST"
