"""The oTree version gate.

The oTree 6 host relies on about twenty oTree internals (listed in this
package's docstring), none of them a public API.  Rather than fail on a
later oTree in some obscure place mid-session, an oTree we were not tested
with stops the command at import with one line that says what to install.

Why ``sys.exit("message")``: our bases are imported by the apps' models
modules inside ``otree.database.init_orm()``, which turns any other exception
into a traceback and ``sys.exit(1)`` but lets ``SystemExit`` through.  So
``otree resetdb``, ``prodserver``, ``devserver`` and ``test`` print exactly
this message and stop before serving (``prodserver`` and ``test`` exit with
status 1; ``devserver`` itself exits 0 because its reloader ignores the child's
status).  This module imports only ``otree/__init__.py``, which imports nothing.
"""
import sys

#: The oTree releases the oTree 6 host is tested with (scripts/setup_venv6.sh
#: installs the first one).  Add a version here only after tests6/ passed on it.
TESTED_VERSIONS = ("6.0.15",)


def gate_message(version):
    """The line printed for an untested oTree, or None for a tested one."""
    if version in TESTED_VERSIONS:
        return None
    tested = ", ".join(TESTED_VERSIONS)
    return (
        "otree-redwood: oTree %s is not a version otree-redwood was tested with "
        "(tested: %s). Install a tested one, for example: pip install otree==%s"
        % (version, tested, TESTED_VERSIONS[0])
    )


def check_version():
    import otree

    message = gate_message(getattr(otree, "__version__", "unknown"))
    if message:
        sys.exit(message)
