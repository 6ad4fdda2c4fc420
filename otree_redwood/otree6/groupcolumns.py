"""The database columns of the real-time Group bases on oTree 6.

0.9.x's ``Group`` and ``DecisionGroup`` are abstract Django models whose
fields became columns of every app's group table.  Here they are abstract
subclasses of oTree 6's ``BaseGroup`` (``__abstract__ = True``) carrying plain
``sqlalchemy.Column`` objects: SQLAlchemy's declarative copies those into each
concrete ``Group`` an app derives from them, so ``<app>_group`` gets them in
both app formats.  The engine's ``Group``/``DecisionGroup`` (hooks and
methods) derive from these classes; columns and behaviour are kept apart so
this module needs nothing of the engine.

Rules oTree 6 imposes on anything in a Group's class body:

- no plain-value class attributes (int, float, bool, str, Currency, None):
  oTree's check 111 ("NonModelFieldAttr", ``otree/checks.py``) refuses them and
  ``devserver`` will not start;
- reading a NULL column raises ``TypeError`` (``SPGModel.__getattribute__`` in
  ``otree/database.py``), so code reads nullable columns with
  ``group.field_maybe_none(name)`` (or ``nullable_field`` below);
- after loading, setting a name that is neither a column nor a class attribute
  raises ``AttributeError`` (``SSPPGModel.__setattr__``): per-instance caches
  must be declared on the class.

Column types against 0.9.x: ``group_decisions`` and
``subperiod_group_decisions`` hold JSON and read as a dict whose top-level
changes are saved (see sqltypes.py).  ``ran_ready_function`` was a datetime in
0.9.x; here it is seconds since the epoch (float) because oTree 6's Data tab
sends every group column through ``json.dumps`` (``views/admin.py``
``SessionDataAjax``), which fails on a datetime and would break that page.
``_group_decisions_updated`` is kept as a column as in 0.9.x; oTree 6 leaves
columns starting with ``_`` out of its CSVs (``otree/export.py``), so unlike on
oTree 3 it does not appear in the per-app CSV.
"""
import sqlalchemy as sa
from otree.models import BaseGroup

from .sqltypes import json_column_type


class GroupColumns(BaseGroup):
    """Columns of every real-time group (0.9.x ``Group``)."""

    __abstract__ = True

    #: when when_all_players_ready() ran (epoch seconds); the run-once guard
    ran_ready_function = sa.Column(sa.Float, nullable=True)


class DecisionGroupColumns(GroupColumns):
    """Columns of a group whose members each hold one decision (0.9.x ``DecisionGroup``)."""

    __abstract__ = True

    #: participant code -> current decision
    group_decisions = sa.Column(json_column_type(), nullable=True)
    #: copy of group_decisions at the end of each sub-period
    subperiod_group_decisions = sa.Column(json_column_type(), nullable=True)
    #: kept as a column as in 0.9.x (oTree 3's host keeps it False)
    _group_decisions_updated = sa.Column(sa.Boolean, nullable=True, default=False)


def nullable_field(model, name):
    """The value of a column that may be NULL (oTree 6 raises on reading one)."""
    return model.field_maybe_none(name)
