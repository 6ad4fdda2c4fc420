"""The node_modules/ tree that 0.9.x apps import from, file by file.

0.9.x apps import Polymer elements by path, e.g.
/static/otree-redwood/node_modules/@polymer/paper-styles/color.js, and one
404 (or one import of a file that is not there) stops a page's whole module
graph.  tests/data/node_modules-0.9.x.txt lists every file 0.9.4 served.
"""
import http.client
import json
import os
import re
import shutil
import subprocess

import pytest

from tests import harness

STATIC = os.path.join(harness.ROOT, "otree_redwood", "static", "otree-redwood")
NODE_MODULES = os.path.join(STATIC, "node_modules")
LIST = os.path.join(harness.ROOT, "tests", "data", "node_modules-0.9.x.txt")

# static import/export statements, once comments are gone (import examples
# in doc comments are not imports); scripts/js_imports.mjs finds the same
# specifiers with V8's parser
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
LINE_COMMENT = re.compile(r"^[ \t]*//.*$", re.M)
IMPORT = re.compile(r"""^[ \t]*(?:import|(?:import|export)\b[^;'"`=]*?\bfrom)\s*(['"])([^'"\n]+)\1""", re.M)


def listed_paths():
    with open(LIST) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def vendored_modules():
    out = []
    for d, _, files in os.walk(NODE_MODULES):
        out += [os.path.relpath(os.path.join(d, f), STATIC).replace(os.sep, "/") for f in files if f.endswith(".js")]
    return sorted(out)


def package_of(path):
    """node_modules/@polymer/iron-meta/iron-meta.js -> @polymer/iron-meta"""
    parts = path.split("/")
    return "/".join(parts[1:3]) if parts[1].startswith("@") else parts[1]


def imports_of(path):
    with open(os.path.join(STATIC, path), encoding="utf-8") as f:
        code = LINE_COMMENT.sub("", BLOCK_COMMENT.sub("", f.read()))
    return [m.group(2) for m in IMPORT.finditer(code)]


def test_list_is_the_0_9_4_tree():
    paths = listed_paths()
    assert len(paths) == len(set(paths)) == 120
    assert all(p.startswith("node_modules/") for p in paths)


def test_every_listed_path_is_vendored():
    missing = [p for p in listed_paths() if not os.path.isfile(os.path.join(STATIC, p))]
    assert missing == []


def test_every_import_of_every_vendored_module_resolves():
    modules = vendored_modules()
    assert set(listed_paths()) <= set(modules)
    problems, count = [], 0
    root = os.path.realpath(NODE_MODULES) + os.sep
    for path in modules:
        for spec in imports_of(path):
            count += 1
            if not spec.startswith(("./", "../")):
                problems.append("%s: bare import %r (a browser cannot resolve it)" % (path, spec))
                continue
            target = os.path.realpath(os.path.join(STATIC, os.path.dirname(path), spec))
            if not target.startswith(root):
                problems.append("%s: %r leaves node_modules" % (path, spec))
            elif not os.path.isfile(target):
                problems.append("%s: %r is not vendored" % (path, spec))
    assert problems == []
    # Polymer alone has a few hundred: zero would mean the scan found nothing
    assert count > 400


def test_import_check_with_v8s_parser():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    out = subprocess.run(
        [node, "--experimental-vm-modules", "--no-warnings", os.path.join(harness.ROOT, "scripts", "js_imports.mjs"),
         "check", NODE_MODULES, LIST],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all 120 listed paths present" in out.stdout


def test_vendored_versions_are_the_pinned_ones():
    """A pin changed in package.json without re-running scripts/vendor_js.sh shows here."""
    with open(os.path.join(STATIC, "package.json")) as f:
        pins = json.load(f)["dependencies"]
    vendored = {}
    for name in pins:
        with open(os.path.join(NODE_MODULES, name, "package.json")) as f:
            vendored[name] = json.load(f)["version"]
    assert vendored == pins
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pins.values())
    assert {package_of(p) for p in listed_paths()} <= set(pins)


@pytest.mark.e2e
def test_running_server_serves_every_path_as_javascript(server):
    srv = server()
    paths = sorted(set(listed_paths()) | set(vendored_modules()))
    failures = []
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        for path in paths:
            conn.request("GET", "/static/otree-redwood/" + path)
            resp = conn.getresponse()
            body = resp.read()
            ctype = resp.getheader("Content-Type", "")
            if resp.status != 200 or "javascript" not in ctype or not body:
                failures.append((path, resp.status, ctype))
    finally:
        conn.close()
    assert failures == []
    assert len(paths) >= 120
