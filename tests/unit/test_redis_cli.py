"""``python -m otree_redwood.redis_cli``: the embedded Redis's command on oTree 6 (no server, no Redis started)."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def run_cli(cwd, *args):
    # as in a project's shell: none of the test run's REDWOOD_* variables
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDWOOD_")}
    return subprocess.run([sys.executable, "-m", "otree_redwood.redis_cli", *args], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=120)


def test_status_reads_the_projects_settings_and_says_it_is_not_running(tmp_path):
    folder = tmp_path / "elsewhere"
    (tmp_path / "settings.py").write_text("REDWOOD = {'EMBEDDED_REDIS_DIR': %r}\n" % str(folder))
    r = run_cli(tmp_path, "status")
    assert r.returncode == 0, r.stderr
    assert "Embedded Redis: not running" in r.stdout
    assert "data dir  %s" % folder in r.stdout


def test_stop_of_nothing_running_and_a_configured_redis_are_told(tmp_path):
    r = run_cli(tmp_path, "stop")
    assert r.returncode == 0, r.stderr
    assert "Embedded Redis: not running (%s)" % (tmp_path / ".redwood") in r.stdout
    (tmp_path / "settings.py").write_text("REDWOOD = {'REDIS_URL': 'redis://127.0.0.1:1/0'}\n")
    r = run_cli(tmp_path, "status")
    assert r.returncode == 0, r.stderr
    assert "uses the Redis at redis://127.0.0.1:1/0" in r.stdout


def test_a_bad_action_is_refused(tmp_path):
    r = run_cli(tmp_path, "restart")
    assert r.returncode == 2 and "invalid choice" in r.stderr
