"""0.9.x behaviours that apps and projects rely on (issue: drop-in fidelity)."""
import os
import shutil
import subprocess

from tests import harness
from tests.test_consumer import APP, events_of


async def test_decision_before_the_period_starts_is_ignored(make_session, ws):
    """0.9.x ignores a decision sent before when_all_players_ready has run."""
    import asyncio

    _, groups = make_session(APP, 2)
    (gpk, (a, b)), = groups
    ca = await ws(APP, gpk, a)
    await ca.send("decisions", 0.9)
    loop = asyncio.get_event_loop()
    deadline = loop.time() + 10
    while not events_of(gpk, "decisions"):
        assert loop.time() < deadline, "the early decision was not stored"
        await asyncio.sleep(0.05)
    cb = await ws(APP, gpk, b)
    frames = []
    while True:
        msg = await ca.recv(timeout=10)
        assert msg is not None
        frames.append(msg)
        if msg["channel"] == "group_decisions":
            break
    # nothing was broadcast for the early decision: the first map A sees is
    # the period's opening map, after period_start, with A's initial decision
    channels = [m["channel"] for m in frames]
    assert channels.index("state") < channels.index("group_decisions")
    assert frames[-1]["payload"] == {a: 0.5, b: 0.5}
    stored = events_of(gpk, "group_decisions")
    assert [e.value for e in stored] == [{a: 0.5, b: 0.5}]
    assert [e.value for e in events_of(gpk, "decisions")] == [0.9]
    # decisions after the start are applied as usual
    await cb.send("decisions", 0.2)
    msg = await ca.recv_until(lambda m: m["channel"] == "group_decisions")
    assert msg["payload"] == {a: 0.5, b: 0.2}


def test_missing_extension_apps_is_reported_by_otree_check(tmp_path):
    """An app imports otree_redwood but settings.py forgot EXTENSION_APPS."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("decision_demo", "_templates", "_static"):
        shutil.copytree(os.path.join(harness.EXAMPLE, name), str(project / name))
    settings = open(os.path.join(harness.EXAMPLE, "settings.py")).read()
    assert 'EXTENSION_APPS = ["otree_redwood"]' in settings
    settings = settings.replace('EXTENSION_APPS = ["otree_redwood"]', "EXTENSION_APPS = []")
    settings = settings.replace("from settings_apps import REDWOOD_EXAMPLE_SESSION_CONFIGS  # noqa: E402",
                                "REDWOOD_EXAMPLE_SESSION_CONFIGS = []")
    (project / "settings.py").write_text(settings)
    env = dict(os.environ)
    env.pop("REDWOOD_TEST_APPS", None)
    env["DATABASE_URL"] = "sqlite:///" + str(tmp_path / "db.sqlite3")
    env["PATH"] = harness.BIN + os.pathsep + env.get("PATH", "")
    out = subprocess.run([os.path.join(harness.BIN, "otree"), "check"], cwd=str(project), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    text = out.stdout.decode("utf-8", "replace")
    assert out.returncode != 0, text
    assert "otree_redwood.E003" in text and "EXTENSION_APPS" in text, text


async def test_group_row_follows_decisions_between_subperiod_ends(make_session, ws, monkeypatch):
    """As in 0.9.x, group.group_decisions holds every decision at once (and after the
    period end), while maps are stored and broadcast only at sub-period ends."""
    from decision_demo.models import Group

    from tests.test_consumer import eventually

    monkeypatch.setattr(Group, "num_subperiods", lambda self: 2)
    _, groups = make_session(APP, 2, period_length=3)
    (gpk, (a, b)), = groups
    ca, cb = await ws(APP, gpk, a), await ws(APP, gpk, b)
    for c in (ca, cb):
        await c.recv_until(lambda m: m["channel"] == "state" and m["payload"] == "period_start", timeout=10)
    await ca.send("decisions", 0.9)
    await eventually(lambda: (Group.objects.get(pk=gpk).group_decisions or {}).get(a) == 0.9, timeout=10)
    assert events_of(gpk, "group_decisions") == []  # the first sub-period has not ended
    for c in (ca, cb):
        await c.recv_until(lambda m: m["channel"] == "state" and m["payload"] == "period_end", timeout=15)
    maps = events_of(gpk, "group_decisions")
    assert [m.value[a] for m in maps] == [0.9, 0.9]
    # a decision after the end: stored, in the row, never broadcast as a map
    await cb.send("decisions", 0.1)
    await eventually(lambda: (Group.objects.get(pk=gpk).group_decisions or {}).get(b) == 0.1, timeout=10)
    assert len(events_of(gpk, "group_decisions")) == 2
    assert [m for m in await ca.drain(0.5) if m["channel"] == "group_decisions" and "seq" in m] == []


async def test_a_0_9_x_style_decisions_handler_under_a_rate_limit(make_session, ws, monkeypatch):
    """Apps that override _on_decisions_event with 0.9.x's own body (set the map,
    set _group_decisions_updated, save) still get their maps broadcast by the rate limit."""
    from decision_demo.models import Group

    def legacy_handler(self, event=None, **kwargs):
        if not self.ran_ready_function:
            return
        self.group_decisions[event.participant.code] = event.value
        self._group_decisions_updated = True
        self.save(update_fields=["group_decisions", "_group_decisions_updated"])
        if not self.num_subperiods() and not self.rate_limit():
            self.send("group_decisions", self.group_decisions)

    monkeypatch.setattr(Group, "_on_decisions_event", legacy_handler)
    monkeypatch.setattr(Group, "rate_limit", lambda self: 0.2)
    _, groups = make_session(APP, 2)
    (gpk, (a, b)), = groups
    ca, cb = await ws(APP, gpk, a), await ws(APP, gpk, b)
    for c in (ca, cb):
        await c.recv_until(lambda m: m["channel"] == "group_decisions", timeout=10)  # the opening map
    await ca.send("decisions", 0.7)
    got = await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.7, timeout=10)
    assert got["payload"] == {a: 0.7, b: 0.5} and "seq" in got
    assert [e.value for e in events_of(gpk, "decisions")] == [0.7]
