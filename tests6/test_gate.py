"""The version gate: an oTree we were not tested with stops each command with one line."""
import subprocess

from conftest import OTREE, otree_env, resetdb, run_otree

from otree_redwood.otree6.version import TESTED_VERSIONS, gate_message

FAKE = "6.1.0"


def test_the_pinned_version_passes_and_another_is_named_with_the_tested_ones():
    assert gate_message("6.0.15") is None
    assert "6.0.15" in TESTED_VERSIONS
    message = gate_message(FAKE)
    assert FAKE in message and "6.0.15" in message and "pip install otree==6.0.15" in message


def _faked(project, tmp_path):
    """An environment in which `import otree` reports another version.

    sitecustomize runs at interpreter start-up in every `otree` process, so
    the real commands see the patched __version__ when our bases import.
    """
    site = tmp_path / "fakeversion"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import otree\notree.__version__ = %r\n" % FAKE)
    return otree_env(project, PYTHONPATH=str(site))


def _assert_stopped_by_gate(result):
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    lines = [line for line in out.splitlines() if "otree-redwood: oTree %s" % FAKE in line]
    assert lines, out
    assert "Traceback" not in out, out


def test_resetdb_and_otree_test_stop_with_the_message(make_project, tmp_path):
    project = make_project()
    env = _faked(project, tmp_path)
    _assert_stopped_by_gate(run_otree(project, "resetdb", "--noinput", env=env))
    _assert_stopped_by_gate(run_otree(project, "test", "rt_single", env=env))


def test_prodserver_stops_before_serving(make_project, tmp_path):
    project = make_project()
    resetdb(project)
    env = _faked(project, tmp_path)
    # own session, so that anything it left behind can be found and removed
    proc = subprocess.Popen(
        [OTREE, "prodserver", "127.0.0.1:1"],
        cwd=str(project), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    out, _ = proc.communicate(timeout=600)
    _assert_stopped_by_gate(subprocess.CompletedProcess(proc.args, proc.returncode, out, ""))
    leftover = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert leftover == [], "processes left running by the failed start: %s" % leftover
