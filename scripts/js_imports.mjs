// Import graph of the vendored browser packages (used by scripts/vendor_js.sh).
//
//   node --experimental-vm-modules scripts/js_imports.mjs rewrite NODE_MODULES_DIR
//   node --experimental-vm-modules scripts/js_imports.mjs check NODE_MODULES_DIR [LIST]
//
// `rewrite` turns bare specifiers ('@polymer/polymer/polymer-legacy.js',
// 'marked/lib/marked.js') into relative paths: browsers resolve neither
// without a bundler or an import map, and one unresolved import stops the
// whole module graph of a page.
// `check` fails unless every import of every vendored .js names a vendored
// file, and (with LIST, paths like node_modules/@polymer/...) every listed
// path exists.
//
// Specifiers come from V8's own module parser (vm.SourceTextModule), so
// imports quoted in comments or strings are neither rewritten nor checked.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

function jsFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...jsFiles(p));
    else if (e.name.endsWith('.js')) out.push(p);
  }
  return out.sort();
}

function specifiers(file, source) {
  try {
    return new vm.SourceTextModule(source, {identifier: file}).dependencySpecifiers;
  } catch (err) {
    throw new Error(`${file}: does not parse as a module: ${err.message}`);
  }
}

const isRelative = (spec) => spec.startsWith('./') || spec.startsWith('../');

function relativeTo(file, target) {
  let rel = path.relative(path.dirname(file), target).split(path.sep).join('/');
  return rel.startsWith('.') ? rel : './' + rel;
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function rewrite(root) {
  let changed = 0;
  for (const file of jsFiles(root)) {
    let source = fs.readFileSync(file, 'utf8');
    const bare = [...new Set(specifiers(file, source).filter((s) => !isRelative(s)))];
    if (!bare.length) continue;
    for (const spec of bare) {
      const target = path.join(root, spec);
      if (!fs.existsSync(target) || !fs.statSync(target).isFile()) {
        throw new Error(`${file}: imports '${spec}', which is not vendored`);
      }
      // only the specifier of an import/export statement: `from '…'` or `import '…'`
      const re = new RegExp(`(\\b(?:from|import)\\s*)(['"])${escapeRe(spec)}\\2`, 'g');
      source = source.replace(re, (m, head, q) => {
        changed++;
        return head + q + relativeTo(file, target) + q;
      });
    }
    const left = specifiers(file, source).filter((s) => !isRelative(s));
    if (left.length) throw new Error(`${file}: bare import(s) left: ${left.join(', ')}`);
    fs.writeFileSync(file, source);
  }
  console.log(`rewrote ${changed} bare import(s) to relative paths`);
}

function check(root, listFile) {
  const problems = [];
  let imports = 0;
  const files = jsFiles(root);
  for (const file of files) {
    const rel = path.relative(root, file);
    for (const spec of specifiers(file, fs.readFileSync(file, 'utf8'))) {
      imports++;
      if (!isRelative(spec)) {
        problems.push(`${rel}: bare import '${spec}'`);
        continue;
      }
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(root + path.sep)) problems.push(`${rel}: '${spec}' leaves node_modules`);
      else if (!fs.existsSync(target)) problems.push(`${rel}: '${spec}' is not vendored`);
    }
  }
  let listed = 0;
  if (listFile) {
    const base = path.dirname(root);  // list paths start with node_modules/
    for (const line of fs.readFileSync(listFile, 'utf8').split('\n')) {
      const p = line.trim();
      if (!p || p.startsWith('#')) continue;
      listed++;
      if (!fs.existsSync(path.join(base, p))) problems.push(`listed path missing: ${p}`);
    }
  }
  for (const p of problems) console.error(p);
  if (problems.length) {
    console.error(`${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(`import graph closed: ${files.length} modules, ${imports} imports` +
              (listFile ? `; all ${listed} listed paths present` : ''));
}

const [cmd, dir, list] = process.argv.slice(2);
if (!dir || !['rewrite', 'check'].includes(cmd)) {
  console.error('usage: js_imports.mjs rewrite|check NODE_MODULES_DIR [LIST]');
  process.exit(2);
}
const root = path.resolve(dir);
if (cmd === 'rewrite') rewrite(root);
else check(root, list);
