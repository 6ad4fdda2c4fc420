"""The package's layers import one way (otree_redwood/engine/__init__.py).

The graph is read from the source with ``ast``, so imports inside functions
count as much as those at the top: a cycle hidden in a function is still a
cycle, and an engine module that imports Django in one function still needs
Django.  Nothing is imported to build it.
"""
import ast
import pathlib

import pytest

pytestmark = pytest.mark.unit

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "otree_redwood"

#: The framework side: only host adapters may import these.
FRAMEWORKS = ("django", "otree", "channels", "asgiref", "starlette", "sqlalchemy", "uvicorn", "jsonfield",
              "vanilla")

#: The engine's layers, bottom first; a module may import its own layer and the ones below.
LAYERS = [
    ("wire", {"clock", "keys", "protocol", "client_rules", "conf", "errors"}),
    ("redis", {"redis_conn", "embedded_redis", "state", "timers"}),
    ("engine", {"host", "groupinfo", "messaging", "lifecycle", "absent", "decisions", "livestate", "actions",
                "pipeline", "bus", "scheduler", "heartbeat", "gctune", "runtime", "eventrows",
                "handshakes", "socket", "botplay", "monitorfeed"}),
]


def module_name(path, root):
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root):
    """({module: set of package modules it imports}, {module: set of outside top-level packages})."""
    modules = {}
    for path in root.rglob("*.py"):
        if "static" in path.parts or "templates" in path.parts:
            continue
        modules[module_name(path, root)] = path
    inside, outside = {}, {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        inside[name], outside[name] = set(), set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module
                targets = [target + "." + alias.name for alias in node.names]
                # "from pkg import name": a module if one is called so, else a name of pkg
                found = [t for t in targets if t in modules]
                if len(found) < len(targets) or not found:
                    found.append(target)
            elif isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            else:
                continue
            for target in found:
                if target in modules:
                    if target != name:
                        inside[name].add(target)
                else:
                    outside[name].add(target.split(".")[0])
    return inside, outside


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(name):
    if not name.startswith("otree_redwood.engine."):
        return None
    short = name.rsplit(".", 1)[1]
    for i, (_, members) in enumerate(LAYERS):
        if short in members:
            return i
    return None


def test_no_module_of_the_package_is_in_an_import_cycle():
    inside, _ = import_graph(PACKAGE)
    assert cycles(inside) == []


def test_the_engine_imports_no_framework_and_nothing_of_the_host():
    inside, outside = import_graph(PACKAGE)
    engine = [name for name in inside if name.startswith("otree_redwood.engine")]
    assert len(engine) > 15
    for name in engine:
        assert not (outside[name] & set(FRAMEWORKS)), (name, sorted(outside[name] & set(FRAMEWORKS)))
        host_side = {t for t in inside[name] if not t.startswith("otree_redwood.engine") and t != "otree_redwood"}
        assert not host_side, (name, sorted(host_side))


def test_every_engine_module_has_a_layer_and_imports_only_its_own_and_lower_ones():
    inside, _ = import_graph(PACKAGE)
    for name in inside:
        if not name.startswith("otree_redwood.engine."):
            continue
        mine = layer_of(name)
        assert mine is not None, "%s is in no layer of LAYERS (and of engine/__init__.py's doc)" % name
        for target in inside[name]:
            theirs = layer_of(target)
            if theirs is not None:
                assert theirs <= mine, "%s (%s) imports %s (%s)" % (
                    name, LAYERS[mine][0], target, LAYERS[theirs][0])


def test_the_checks_see_a_cycle_inside_a_function_and_a_framework_import(tmp_path):
    # the same walk on a made-up package: a cycle hidden in a function and a
    # lazy Django import in its engine must both be found
    pkg = tmp_path / "otree_redwood"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text("")
    (pkg / "engine" / "state.py").write_text("def f():\n    from . import pipeline\n")
    (pkg / "engine" / "pipeline.py").write_text(
        "from . import state\n\ndef g():\n    from django.db import transaction\n")
    (pkg / "models.py").write_text("from .engine import state\n")
    inside, outside = import_graph(pkg)
    assert cycles(inside) == [["otree_redwood.engine.pipeline", "otree_redwood.engine.state"]]
    assert "django" in outside["otree_redwood.engine.pipeline"]
    assert inside["otree_redwood.models"] == {"otree_redwood.engine.state"}
    # and the layer rule: a Redis module importing an engine one
    assert layer_of("otree_redwood.engine.state") < layer_of("otree_redwood.engine.pipeline")
