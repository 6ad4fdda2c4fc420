"""docs/analysis/analyse.py, as the analysis page runs it, on a recorded session's events CSV."""
import csv
import importlib.util
import os
import subprocess
import sys

# pandas and matplotlib come with the test extra (pyproject.toml): never skipped
import matplotlib  # noqa: F401
import pandas  # noqa: F401
import pytest
from asgiref.sync import sync_to_async

from tests import harness

SCRIPT = os.path.join(harness.ROOT, "docs", "analysis", "analyse.py")
APP = "continuous_pd"

pytestmark = pytest.mark.usefixtures("example_configs_installed")


def _script_module():
    spec = importlib.util.spec_from_file_location("redwood_analyse", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _export(session_code):
    from django.test import Client

    response = Client().get("/redwood/export/events/", {"session": session_code})
    assert response.status_code == 200
    return b"".join(response.streaming_content)


async def test_analysis_script_on_a_recorded_session(make_session, ws, tmp_path):
    session, groups = make_session(APP, 4, period_length=2)
    assert len(groups) == 2
    clients = {}
    for gpk, codes in groups:
        for code in codes:
            clients[code] = await ws(APP, gpk, code)
    for c in clients.values():
        await c.recv_until(lambda m: m["channel"] == "group_decisions", timeout=10)
    # group 1: its first member defects; group 2: nobody moves
    (g1, (a, b)), (g2, _) = groups
    await clients[a].send("decisions", 0)
    await clients[b].recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"].get(a) == 0)
    for c in clients.values():
        await c.recv_until(lambda m: m["channel"] == "state" and m["payload"] == "period_end", timeout=30)

    csv_path = tmp_path / "events.csv"
    csv_path.write_bytes(await sync_to_async(_export)(session.code))
    out = tmp_path / "results"
    run = subprocess.run([sys.executable, SCRIPT, str(csv_path), "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "2 group(s)" in run.stdout

    # a figure per group, a PNG that is not empty
    for gpk, _ in groups:
        figure = out / ("decisions_%s_r1_g%s.png" % (APP, gpk))
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert figure.stat().st_size > 5000

    # the payoffs are those of otree_redwood.payoffs on the stored events
    from continuous_pd.models import Group
    from otree_redwood.payoffs import flow_payoffs

    flow = _script_module().FLOW_PAYOFF
    expected = await sync_to_async(lambda: {
        gpk: flow_payoffs(Group.objects.get(pk=gpk), flow) for gpk, _ in groups
    })()
    with open(out / "payoffs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    for row in rows:
        # the CSV's times have microseconds, as the database's (1 us at 150 points/s: 0.00015)
        assert float(row["total"]) == pytest.approx(expected[int(row["group"])][row["participant_code"]], abs=1e-3)
    # group 2 never moved: both cooperated the whole period (100 points a second)
    for row in rows:
        if int(row["group"]) == g2:
            assert float(row["per_second"]) == pytest.approx(100.0)
    by_code = {row["participant_code"]: float(row["per_second"]) for row in rows}
    assert by_code[a] > 100.0 > by_code[b]  # a defected against a cooperator

    # the decisions table: a's decision went from 1 to 0
    with open(out / "decisions.csv", newline="") as f:
        steps = [r for r in csv.DictReader(f) if r["participant_code"] == a]
    assert [float(r["decision"]) for r in steps][0] == 1.0
    assert [float(r["decision"]) for r in steps][-1] == 0.0
    assert float(steps[0]["t"]) == 0.0

    # the page's "In pandas alone" snippet, as written, gives the same time averages
    snippet = _doc_block("In pandas alone").replace("ev.group == 1", "ev.group == %d" % g1)
    (tmp_path / "otree_redwood_events.csv").write_bytes(csv_path.read_bytes())
    (tmp_path / "snippet.py").write_text(snippet)
    run = subprocess.run([sys.executable, "snippet.py"], cwd=str(tmp_path), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    averages = dict(line.split() for line in run.stdout.splitlines() if line.split()[0] in (a, b))
    flow_avg = await sync_to_async(lambda: flow_payoffs(Group.objects.get(pk=g1), lambda m, o: m, average=True))()
    assert float(averages[a]) == pytest.approx(flow_avg[a], abs=1e-3)
    assert float(averages[b]) == pytest.approx(1.0)


def _doc_block(title):
    """The first code block after the section ``title`` of docs/analysis.rst."""
    with open(os.path.join(harness.ROOT, "docs", "analysis.rst")) as f:
        text = f.read()
    rest = text[text.index(title + "\n"):]
    rest = rest[rest.index(".. code-block:: python\n") + len(".. code-block:: python\n"):]
    lines = []
    for line in rest.splitlines()[1:]:
        if line and not line.startswith("   "):
            break
        lines.append(line[3:])
    return "\n".join(lines)
