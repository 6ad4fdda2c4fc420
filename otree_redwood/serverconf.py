"""What otree-redwood sets in oTree 3's web server before it starts listening.

oTree 3's ``prodserver`` and ``devserver`` build a hypercorn ``Config`` of
their own (``otree/management/commands/prodserver1of2.py``) after Django is
set up, so a class default changed here, in ``AppConfig.ready()``, is in
force when the server opens its socket.  Only the listen backlog is changed
(``REDWOOD['LISTEN_BACKLOG']``): hypercorn's default of 100 overflowed when
a lab of hundreds connected at once, and each dropped connection waited a
second for the client's retry (``benchmarks/handshake_flood.py --only b``).
"""
import logging

from .engine import conf

logger = logging.getLogger("otree_redwood")


def install():
    """Raise hypercorn's listen backlog to the setting; the backlog now in force (None: no hypercorn)."""
    try:
        from hypercorn_otree.config import Config
    except ImportError:  # not oTree 3's server
        return None
    wanted = conf.get("LISTEN_BACKLOG")
    if wanted and int(wanted) > Config.backlog:
        Config.backlog = int(wanted)
    return Config.backlog
