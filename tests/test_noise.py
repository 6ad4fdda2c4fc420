"""Users see only what concerns them: no third-party warnings on every command."""
import os
import re
import subprocess
import warnings

from tests import harness

# "path/file.py:12: SomeWarning: text", the way Python prints a warning
PYTHON_WARNING = re.compile(r"^\S+:\d+: \w*Warning: ", re.M)


def run_otree(*args):
    # a user's shell: none of the test process's settings, no PYTHONWARNINGS
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDWOOD_", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTHONWARNINGS"))}
    env["PATH"] = harness.BIN + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [os.path.join(harness.BIN, "otree")] + list(args), cwd=harness.EXAMPLE, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300,
    )


def test_otree_check_prints_no_cryptography_warning():
    # cryptography 47 warns on import about Python 3.8, and oTree imports it
    # (through Channels, Daphne, Twisted, pyOpenSSL) before any extension
    out = run_otree("check")
    assert out.returncode == 0, out.stderr
    assert "System check identified no issues" in out.stdout
    assert "CryptographyDeprecationWarning" not in out.stderr, out.stderr
    assert not PYTHON_WARNING.search(out.stderr), out.stderr


def test_redwood_commands_print_no_python_warning():
    out = run_otree("redwood_redis", "status")
    assert out.returncode == 0, out.stderr
    assert not PYTHON_WARNING.search(out.stderr), out.stderr


def test_importing_the_package_installs_the_filter():
    import importlib

    import otree_redwood

    with warnings.catch_warnings(record=True) as caught:
        # no filter at all (not even the installed .pth's), then the import
        warnings.resetwarnings()
        importlib.reload(otree_redwood)
        warnings.warn(
            "Python 3.8 is no longer supported by the Python core team and support for it is deprecated "
            "in cryptography.", UserWarning,
        )
        warnings.warn("Python 3.8 is something else", UserWarning)
    assert [str(w.message) for w in caught] == ["Python 3.8 is something else"]


def test_the_test_process_serves_static_files_from_a_folder_that_exists():
    # oTree's STATIC_ROOT is relative; whitenoise warned "No directory at:
    # <repository>/__temp_static_root/" in every run of the suite
    from django.conf import settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    assert os.path.isabs(settings.STATIC_ROOT) and os.path.isdir(settings.STATIC_ROOT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        WhiteNoiseMiddleware(lambda request: None)
    assert not [w for w in caught if "No directory at" in str(w.message)]
