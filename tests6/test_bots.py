"""`otree test` (bots, no lifespan) on both app formats: pages, tokens, lazy start."""
import json

import pytest

from conftest import run_otree


@pytest.mark.parametrize("app", ["rt_single", "rt_classic"])
def test_otree_test_plays_both_formats_and_starts_us_lazily(make_project, app):
    project = make_project()
    r = run_otree(project, "test", app)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "Bots completed session" in out, out
    # the bots (tests.py in the project) checked window.oTree and the tokens in
    # the page, and called a route that awaits ensure_started() twice
    results = [json.loads(line) for line in (project / "rwprobe-bot.log").read_text().splitlines()]
    assert len(results) == 2
    # nothing had started before the first use: TestClient runs no lifespan
    assert results[0] == {"before": False, "after": True}
    assert results[1] == {"before": True, "after": True}
    log = (project / "rwprobe.log").read_text().split()
    assert log.count("start") == 1
