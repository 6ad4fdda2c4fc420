"""Sphinx configuration of the otree-redwood documentation.

autodoc imports ``otree_redwood.models``, which needs Django configured; it is
configured the way oTree does it, on the example project (importing needs
neither a database nor Redis).
"""
import datetime
import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
EXAMPLE = os.path.join(ROOT, "example_project")

sys.path.insert(0, os.path.join(DOCS, "_ext"))
sys.path.insert(0, ROOT)
sys.path.insert(0, EXAMPLE)

# oTree reads these at settings time; keep the build independent of the shell
os.environ.pop("DATABASE_URL", None)
os.environ.pop("OTREE_PRODUCTION", None)

from otree_startup import configure_settings  # noqa: E402

configure_settings("settings")

import django  # noqa: E402

django.setup()

import otree_redwood  # noqa: E402

# -- project -------------------------------------------------------------
project = "otree-redwood"
author = "the otree-redwood authors"
copyright = "%d, %s" % (datetime.date.today().year, author)
release = otree_redwood.__version__
version = ".".join(release.split(".")[:2])

# -- general -------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "redwood_docs",
]
try:  # renders ../benchmarks/RESULTS.md when it exists (benchmarks.rst)
    import myst_parser  # noqa: F401

    extensions.append("myst_parser")
    myst_heading_anchors = 3
    suppress_warnings = ["myst.header", "myst.xref_missing"]
except ImportError:
    pass

source_suffix = {".rst": "restructuredtext"}
if "myst_parser" in extensions:
    source_suffix[".md"] = "markdown"

master_doc = "index"
exclude_patterns = ["_build", "tutorial_app", "design", "Thumbs.db", ".DS_Store"]
templates_path = []
nitpicky = False
pygments_style = "sphinx"

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
# Django model fields have no docstrings of their own; oTree's bases have
# docstrings that are not reStructuredText.  Neither is ours to document.
autodoc_inherit_docstrings = False

# -- HTML ----------------------------------------------------------------
try:
    import sphinx_rtd_theme  # noqa: F401

    html_theme = "sphinx_rtd_theme"
except ImportError:  # a bare Sphinx still builds
    html_theme = "alabaster"
html_title = "otree-redwood %s" % release
# screenshots under _static/ are added by other work; the folder may be empty
html_static_path = ["_static"] if os.path.isdir(os.path.join(DOCS, "_static")) else []
html_css_files = ["custom.css"] if os.path.exists(os.path.join(DOCS, "_static", "custom.css")) else []
html_show_sourcelink = False
