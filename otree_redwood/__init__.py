"""otree-redwood: real-time interaction for oTree 3.4 and oTree 6 experiments."""

import warnings as _warnings

__version__ = "1.0.0"

# cryptography 47 warns on import that Python 3.8 is deprecated, and oTree 3.4
# runs only on 3.8: the warning concerns nobody using this package.  The
# installed otree_redwood_quiet.pth (setup.py) sets the same filter when the
# interpreter starts, before oTree imports Channels (and so cryptography);
# this covers a process that imports otree_redwood first without it.
_warnings.filterwarnings(
    "ignore", message=r"Python 3\.8 is no longer supported by the Python core team", category=UserWarning
)

default_app_config = "otree_redwood.apps.RedwoodConfig"
