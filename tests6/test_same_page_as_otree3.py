"""A page's JavaScript is the same on both stacks: the oTree 6 Page.html and
window.oTree must follow the oTree 3 host's, read from its sources.

These read the oTree 3 files as text (Django is not installed in .venv6), so
when a component or a key is added there, this fails until the oTree 6 side
has it too.
"""
import ast
import re

from conftest import REPO

OTREE6_PAGE = REPO / "otree_redwood" / "otree6" / "templates" / "otree_redwood" / "Page.html"


def _otree3_file(marker, suffix):
    """The oTree 3 host's file holding ``marker`` (found by content: modules are moving)."""
    hits = [p for p in (REPO / "otree_redwood").rglob("*" + suffix)
            if "otree6" not in p.parts and marker in p.read_text(errors="replace")]
    assert hits, "no oTree 3 file with %r under otree_redwood/" % marker
    return hits[0]


def _script_paths(text):
    # oTree 3: {% static 'x' %} or {% get_static_prefix %}x; oTree 6: {{ static 'x' }}
    paths = re.findall(r"static '([^']+)'", text)
    paths += re.findall(r"get_static_prefix %\}([^\"]+)\"", text)
    return paths


def test_page_html_loads_the_same_scripts_in_the_same_order():
    otree3 = _otree3_file("redwood_otree_json", "Page.html").read_text()
    otree6 = OTREE6_PAGE.read_text()
    assert _script_paths(otree6) == _script_paths(otree3)
    assert len(_script_paths(otree6)) >= 9


def test_window_otree_has_the_oTree_3_keys():
    source = _otree3_file("def otree_globals", ".py")
    tree = ast.parse(source.read_text())
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "otree_globals")
    returned = next(n.value for n in ast.walk(fn) if isinstance(n, ast.Return) and isinstance(n.value, ast.Dict))
    otree3_keys = {k.value for k in returned.keys}
    from test_server import OTREE3_KEYS

    assert OTREE3_KEYS == otree3_keys
