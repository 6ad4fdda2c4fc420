"""What an oTree 6 app imports from otree-redwood: importing it is all the set-up.

oTree 6 has no extension setting, so the import itself does the work: the
package's ``__init__`` runs the version gate, this module defines our tables on
oTree's metadata (before ``init_orm()`` runs ``create_all``; apps' models
modules are imported just before) and calls ``attach.install()``, which hooks
our routes, static files, templates and start-up into oTree's application.
The engine's Group and DecisionGroup build on the column bases re-exported
here.
"""
from . import attach
from .groupcolumns import DecisionGroupColumns, GroupColumns, nullable_field
from .tables import ALL_TABLES, Connection, EmitterRecord, Event, RedisNamespace

attach.install()

__all__ = [
    "GroupColumns", "DecisionGroupColumns", "nullable_field",
    "Event", "Connection", "RedisNamespace", "EmitterRecord", "ALL_TABLES",
]
