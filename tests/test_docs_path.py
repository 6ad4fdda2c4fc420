"""The "from nothing" path of the docs, followed as written.

quickstart.rst and installation.rst mark the blocks a reader runs with an RST
comment ``.. docs-path: <step>`` just above the code block:

``install``
    installs the package (``pip install path/to/otree-redwood``).  The suite
    uses this checkout's ``.venv`` instead (a fresh venv per run is too slow);
    test_built_wheel_installs_into_a_fresh_venv installs the wheel for real.
``wheel``
    installs the built wheel (installation.rst), run by the wheel test.
``run``
    shell commands, run in order in one shell (``cd`` carries over).
``append <file>``
    lines to add at the end of a file (``settings.py``).

``path/to/otree-redwood`` is replaced by this checkout.  When the docs drift
(a renamed app, a wrong command, a settings line that oTree refuses) the
steps fail here.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile

import pytest

from tests import harness

DOCS = os.path.join(harness.ROOT, "docs")
PLACEHOLDER = "path/to/otree-redwood"
MARK = re.compile(
    r"^\.\. docs-path: (?P<step>[a-z]+)(?: (?P<arg>\S+))?\n\n"
    r"\.\. code-block:: \w+\n\n"
    r"(?P<body>(?:(?:   .*)?\n)+)",
    re.M,
)
# settings that the test process has and a reader's shell has not
NOT_A_READERS_ENV = ("REDWOOD_", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "OTREE_", "PYTHONWARNINGS")


def steps(doc):
    with open(os.path.join(DOCS, doc)) as f:
        text = f.read()
    found = [(m.group("step"), m.group("arg"), textwrap.dedent(m.group("body")).strip("\n") + "\n")
             for m in MARK.finditer(text)]
    # every marker must have been parsed: a marker before anything else than
    # a code block would silently drop a step
    assert len(found) == text.count(".. docs-path:"), "a docs-path marker not followed by a code block in %s" % doc
    return found


def shell_script(doc_steps, checkout):
    lines = ["set -euo pipefail"]
    for step, arg, body in doc_steps:
        body = body.replace(PLACEHOLDER, checkout)
        if step == "run":
            lines.append(body)
        elif step == "append":
            # the reader pastes the block at the end of the file
            lines.append("printf '\\n' >> %s" % arg)
            lines.append("cat >> %s <<'REDWOOD_DOCS_EOF'\n%sREDWOOD_DOCS_EOF" % (arg, body))
        elif step not in ("install", "wheel"):
            raise AssertionError("unknown docs-path step %r" % step)
    return "\n".join(lines) + "\n"


def readers_env(bin_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_A_READERS_ENV)}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = os.path.dirname(bin_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop_embedded_redis(folder):
    from otree_redwood.engine import embedded_redis

    for redwood in glob.glob(os.path.join(folder, "**", ".redwood"), recursive=True):
        embedded_redis.stop(redwood, force=True)


@pytest.fixture
def workdir():
    # short: the embedded Redis's socket path must stay under 107 bytes
    folder = tempfile.mkdtemp(prefix="rw-docs-", dir="/tmp" if os.path.isdir("/tmp") else None)
    yield folder
    stop_embedded_redis(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.e2e
@pytest.mark.parametrize("doc", ["quickstart.rst", "installation.rst"])
def test_from_nothing_to_a_page_played_by_bots(doc, workdir):
    doc_steps = steps(doc)
    kinds = [s for s, _, _ in doc_steps]
    # the path starts from oTree's own project template and ends with bots
    assert kinds[0] == "install" and "run" in kinds and "append" in kinds
    script = shell_script(doc_steps, harness.ROOT)
    assert "otree startproject" in script and "otree test continuous_2x2" in script
    proc = subprocess.run(
        ["bash", "-c", script], cwd=workdir, env=readers_env(harness.BIN),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600,
    )
    out = proc.stdout
    assert proc.returncode == 0, "the steps of %s failed:\n%s\n--- output:\n%s" % (doc, script, out[-6000:])
    assert "Bots completed session" in out, out[-6000:]
    # both participants got through the real-time page to the results
    assert out.count("/continuous_2x2/Results/") == 2, out[-6000:]
    project = os.path.join(workdir, "my_project")
    with open(os.path.join(project, ".gitignore")) as f:
        assert ".redwood/" in f.read().split()
    # the steps end by stopping the embedded Redis they started
    assert "Embedded Redis stopped" in out
    assert not os.path.exists(os.path.join(project, ".redwood", "redis.sock"))
    # nothing a reader would take for a problem
    for noise in ("CryptographyDeprecationWarning", "Traceback", "No directory at"):
        assert noise not in out, out[-6000:]


def test_wheel_name_in_the_docs_is_this_version():
    import otree_redwood

    wheel_steps = [body for step, _, body in steps("installation.rst") if step == "wheel"]
    assert len(wheel_steps) == 1
    assert "otree_redwood-%s-py3-none-any.whl" % otree_redwood.__version__ in wheel_steps[0]
    with open(os.path.join(DOCS, "deployment.rst")) as f:
        assert "otree_redwood-%s-py3-none-any.whl" % otree_redwood.__version__ in f.read()


@pytest.mark.e2e
# pip downloads oTree and the rest on a cold cache (CI): more than the default
@pytest.mark.timeout(900)
def test_built_wheel_installs_into_a_fresh_venv(workdir):
    """scripts/build_dist.sh, then the wheel command of installation.rst in a new venv.

    pip fetches the dependencies (oTree 3.4 and the rest) from the package
    index, as it does for a reader: about 15-60 s with a warm pip cache.
    """
    dist = os.path.join(workdir, "dist")
    build = subprocess.run(
        [os.path.join(harness.ROOT, "scripts", "build_dist.sh")], env=dict(os.environ, DIST_DIR=dist),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600,
    )
    assert build.returncode == 0, build.stdout
    wheels = glob.glob(os.path.join(dist, "otree_redwood-*-py3-none-any.whl"))
    assert len(wheels) == 1 and glob.glob(os.path.join(dist, "otree_redwood-*.tar.gz"))
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "otree_redwood/templates/otree_redwood/Page.html" in names
    assert "otree_redwood/static/otree-redwood/src/redwood-decision/redwood-decision.js" in names
    assert any(n.startswith("otree_redwood/static/otree-redwood/node_modules/@polymer/") for n in names)

    venv = os.path.join(workdir, "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    bin_dir = os.path.join(venv, "bin")
    (body,) = [b for s, _, b in steps("installation.rst") if s == "wheel"]
    command = body.replace("path/to/", dist + "/")
    install = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + command], cwd=workdir, env=readers_env(bin_dir),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=900,
    )
    assert install.returncode == 0, command + "\n" + install.stdout[-6000:]

    # the package comes from the wheel, not from this checkout
    probe = subprocess.run(
        [os.path.join(bin_dir, "python"), "-c",
         "import os, otree_redwood; d = os.path.dirname(otree_redwood.__file__); print(otree_redwood.__version__); "
         "print(d); print(os.path.exists(os.path.join(d, 'static', 'otree-redwood', 'src')))"],
        cwd=workdir, env=readers_env(bin_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=120,
    )
    import otree_redwood

    version, where, has_static = probe.stdout.split()
    assert version == otree_redwood.__version__
    assert where.startswith(venv) and has_static == "True", probe.stdout
    assert probe.stderr == ""

    # an oTree project on that venv: the extension loads, and no warning
    # about cryptography and Python 3.8 reaches the reader
    subprocess.run("printf 'n\\n' | %s startproject proj" % os.path.join(bin_dir, "otree"), shell=True,
                   cwd=workdir, env=readers_env(bin_dir), check=True, stdout=subprocess.DEVNULL)
    project = os.path.join(workdir, "proj")
    with open(os.path.join(project, "settings.py"), "a") as f:
        f.write('\nEXTENSION_APPS = ["otree_redwood"]\n')
    check = subprocess.run(
        [os.path.join(bin_dir, "otree"), "check"], cwd=project, env=readers_env(bin_dir),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "System check identified no issues" in check.stdout
    assert "CryptographyDeprecationWarning" not in check.stderr, check.stderr
