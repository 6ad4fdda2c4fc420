"""The documentation builds, with every warning an error (as `tox -e docs` does)."""
import os
import subprocess
import sys

from tests import harness


def test_docs_build_without_warnings(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         os.path.join(harness.ROOT, "docs"), str(tmp_path / "html")],
        cwd=harness.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-5000:]
    for page in ("index", "upgrading", "quickstart", "security", "analysis", "static_files", "configuration"):
        assert (tmp_path / "html" / (page + ".html")).exists(), page
