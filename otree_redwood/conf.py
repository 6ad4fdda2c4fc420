"""The settings of otree-redwood, as a project sees them (docs/configuration.rst).

The engine reads them in ``otree_redwood.engine.conf``; this module is the
public name, kept stable for projects that read a setting themselves.
"""
from .engine.conf import DEFAULTS, all_settings, get, unknown_keys

__all__ = ["DEFAULTS", "get", "all_settings", "unknown_keys"]
