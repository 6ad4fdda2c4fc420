"""Column types shared by our tables and our Group columns (SQLAlchemy 1.3).

``JSONText``: JSON kept as TEXT.  oTree 6 pins SQLAlchemy 1.3.22, whose
``JSON`` type is dialect-specific and not what oTree's SQLite in-memory
copy (``load_in_memory_db``) expects to carry; TEXT is the same on SQLite and
PostgreSQL and reads the same in a database browser.  0.9.x's jsonfield also
stored text.

``MutableJSON``: the Python side of a JSON column of a Group.  On oTree 3 a
dict changed in place had to be detected before save; here SQLAlchemy's
``Mutable`` machinery marks the row dirty when the top-level dict is changed
(``group.group_decisions[code] = 1``), as oTree's own ``participant.vars``
does.  Its ``str()`` is JSON, because oTree's per-app CSV writes column values
with ``str()`` and 0.9.x's CSV held JSON there.  Non-dict values (a list, a
number) are stored too, only without in-place tracking.

``UTCDateTime``: 0.9.x's ``Event.timestamp`` was an aware UTC datetime.
SQLite keeps no zone and PostgreSQL's ``timestamp`` neither, so we store naive
UTC and hand back aware UTC on both.

oTree internal: ``otree/database.py`` ``SSPPGModel._setattr_datatypes`` type
checks assignments only for oTree's own column types; ours are not in it, so
assigning a dict to a JSON column is allowed.
"""
import datetime
import json

from sqlalchemy import types
from sqlalchemy.ext.mutable import MutableDict


def _dumps(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


class JSONText(types.TypeDecorator):
    impl = types.Text

    def process_bind_param(self, value, dialect):
        return None if value is None else _dumps(value)

    def process_result_value(self, value, dialect):
        # Containers come back as JSON-printing subclasses also where the ORM
        # is not involved: oTree's exports read columns with a Core query.
        if value is None:
            return None
        value = json.loads(value)
        if isinstance(value, dict):
            return MutableJSON(value)
        if isinstance(value, list):
            return JSONList(value)
        return value


class JSONList(list):
    def __str__(self):
        return _dumps(self)


class MutableJSON(MutableDict):
    def __str__(self):
        return _dumps(self)

    @classmethod
    def coerce(cls, key, value):
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls(value)
        # lists, numbers, strings, None: stored, not tracked in place
        return value


def json_column_type():
    """A JSON type whose top-level dict changes are saved (see MutableJSON)."""
    return MutableJSON.as_mutable(JSONText)


class UTCDateTime(types.TypeDecorator):
    impl = types.DateTime

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # SQLite through a raw text path
            value = datetime.datetime.fromisoformat(value)
        return value.replace(tzinfo=datetime.timezone.utc)


__all__ = ["JSONText", "JSONList", "MutableJSON", "json_column_type", "UTCDateTime"]
