"""Sphinx helpers that keep the docs in step with the code.

* ``.. redwood-settings::`` renders the table of ``otree_redwood.engine.conf.DEFAULTS``
  at build time: every key, its default, its environment variable, and the
  meaning taken from the comment above the key in conf.py.  A key without a
  comment is a build warning (an error under ``-W``).
* ``.. redwood-if-module:: dotted.name`` and ``.. redwood-if-file:: path``
  parse their content only when the module imports / the file exists (relative
  to the docs folder), so pages can mention work that lands later without
  breaking the build.  ``:otherwise:`` gives the text used when it does not.
* ``.. redwood-image:: path`` is ``.. image::`` for a picture that may not be
  there yet: without the file it renders nothing.
* After reading, the pages that list facts of the code (the system check ids,
  the close codes, the reserved channels) are compared with the code; anything
  missing is a warning.
"""
import ast
import importlib
import inspect
import os
import re

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

DOCS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------- settings
def settings_rows():
    """[(key, default, comment)] of conf.DEFAULTS, in source order."""
    from otree_redwood.engine import conf

    source = inspect.getsource(conf)
    lines = source.splitlines()
    tree = ast.parse(source)
    rows = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Dict):
            continue
        if not any(isinstance(t, ast.Name) and t.id == "DEFAULTS" for t in node.targets):
            continue
        for key_node in node.value.keys:
            key = ast.literal_eval(key_node)
            comment = []
            i = key_node.lineno - 2  # line above the key (0-based)
            while i >= 0 and lines[i].strip().startswith("#"):
                comment.insert(0, lines[i].strip().lstrip("#").strip())
                i -= 1
            rows.append((key, conf.DEFAULTS[key], " ".join(comment)))
    if [r[0] for r in rows] != list(conf.DEFAULTS):
        raise RuntimeError("could not read every key of conf.DEFAULTS from conf.py")
    return rows


def _default_text(value):
    if value is None:
        return "``None``"
    if isinstance(value, bool):
        return "``%s``" % value
    if isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        return "``%d`` (%d KiB)" % (value, value // 1024)
    return "``%r``" % (value,)


def _env_text(key, value):
    from otree_redwood.engine import conf

    if key in conf._BOOL_KEYS or isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int):
        kind = "integer"
    elif isinstance(value, float):
        kind = "number"
    elif isinstance(value, list):
        kind = "comma-separated"
    else:
        kind = "string"
    return "``REDWOOD_%s`` (%s)" % (key, kind)


class SettingsTable(Directive):
    has_content = False

    def run(self):
        rows = settings_rows()
        text = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 30 14 56",
            "",
            "   * - Key and environment variable",
            "     - Default",
            "     - Meaning",
        ]
        for key, value, comment in rows:
            if not comment:
                logger.warning("REDWOOD[%r] has no comment in conf.py: document it there", key)
            text += [
                "   * - ``%s``" % key,
                "",
                "       %s" % _env_text(key, value),
                "     - %s" % _default_text(value),
                "     - %s" % (comment or "(undocumented)"),
            ]
        node = nodes.container()
        self.state.nested_parse(StringList(text, source="otree_redwood/engine/conf.py"), self.content_offset, node)
        return node.children


# ----------------------------------------------------------- conditionals
class _Conditional(Directive):
    required_arguments = 1
    has_content = True
    option_spec = {"otherwise": directives.unchanged}

    def holds(self, arg):
        raise NotImplementedError

    def run(self):
        if self.holds(self.arguments[0]):
            lines = self.content
        else:
            other = self.options.get("otherwise")
            if not other:
                return []
            lines = StringList(other.splitlines(), source=self.content.source(0) if self.content else "")
        # the content may hold section titles (a "Reference" section, say)
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, lines, node, self.content_offset)
        return node.children


class IfModule(_Conditional):
    def holds(self, name):
        try:
            importlib.import_module(name)
        except ImportError:
            return False
        return True


class IfFile(_Conditional):
    def holds(self, path):
        return os.path.exists(os.path.join(DOCS_DIR, path))


class OptionalImage(Directive):
    required_arguments = 1
    has_content = False
    option_spec = {"alt": directives.unchanged, "width": directives.unchanged}

    def run(self):
        path = self.arguments[0]
        if not os.path.exists(os.path.join(DOCS_DIR, path)):
            return []
        text = [".. image:: %s" % path]
        for opt in ("alt", "width"):
            if opt in self.options:
                text.append("   :%s: %s" % (opt, self.options[opt]))
        node = nodes.container()
        self.state.nested_parse(StringList(text), self.content_offset, node)
        return node.children


# ------------------------------------------------------- facts of the code
def _facts():
    """{docname: [(what, literal that must appear in the page)]}."""
    from otree_redwood import checks
    from otree_redwood.engine import protocol

    check_ids = sorted(set(re.findall(r'id="(otree_redwood\.[EW]\d{3})"', inspect.getsource(checks))))
    close_codes = sorted(
        (name, value) for name, value in vars(protocol).items() if name.startswith("CLOSE_")
    )
    return {
        "checks": [("system check", cid) for cid in check_ids],
        "protocol": [("close code %s" % name, str(value)) for name, value in close_codes]
        + [("reserved channel", "``%s``" % ch) for ch in sorted(protocol.SERVER_CHANNELS)],
    }


_facts_cache = []


def _check_facts(app, docname, source):
    if not _facts_cache:
        _facts_cache.append(_facts())
    facts = _facts_cache[0]
    for what, literal in facts.get(docname, ()):
        if literal not in source[0]:
            logger.warning("%s %s is in the code but not in %s.rst", what, literal, docname)


def setup(app):
    app.add_directive("redwood-settings", SettingsTable)
    app.add_directive("redwood-if-module", IfModule)
    app.add_directive("redwood-if-file", IfFile)
    app.add_directive("redwood-image", OptionalImage)
    app.connect("source-read", _check_facts)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
