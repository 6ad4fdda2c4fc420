"""otree-redwood's own tables in oTree 6's database, as SQLAlchemy Core tables.

They are defined on ``otree.database.AnyModel.metadata`` (oTree's one
declarative metadata), which is what makes oTree handle them like its own:
``init_orm()`` and ``otree resetdb`` create them with ``create_all`` (resetdb
drops them first, as it drops every reflected table), devserver's in-memory
database copies them from the file at start and saves them back with the rest
(``load_in_memory_db`` / ``save_sqlite_db`` work table by table over the
metadata).  Core tables rather than ORM classes: events are written in batches
with one ``executemany`` and read in bulk for exports, and oTree's ORM base
would add its ``__tablename__`` rule, frozen ``__setattr__`` and None checks,
which buy nothing here.

Names and columns follow the Django models of the oTree 3 host
(``otree_redwood/models.py``), table names included, so analysis scripts carry
over.  Two differences, both because oTree 6 has no Django:

- ``Event.content_type`` (Django's ContentType of the Group model) becomes
  ``app_name``: on oTree 6 every app has its own group table, so
  (app_name, group_pk) names a group.
- ``session_id`` is added, with ``ON DELETE CASCADE`` to ``otree_session``:
  oTree 6 deletes sessions in bulk (``channels/consumers.py``
  ``WSDeleteSessions``: ``Session.objects_filter(...).delete()``), which
  bypasses any ORM cascade, so only the database can remove a deleted session's
  events.  SQLite enforces it because oTree's ``get_engine()`` sets
  ``pragma foreign_keys=on``.  Participant foreign keys cascade likewise.

oTree internals: ``otree/database.py`` ``AnyModel`` (its ``metadata``) and the
table names ``otree_session`` and ``otree_participant``.
"""
import sqlalchemy as sa
from otree.database import AnyModel

from .sqltypes import JSONText, UTCDateTime

metadata = AnyModel.metadata

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT
# because an event log can pass 2**31 rows over a lab's lifetime.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _participant_fk():
    return sa.ForeignKey("otree_participant.id", ondelete="CASCADE")


#: One message in or out across a socket (oTree 3: ``otree_redwood.models.Event``).
Event = sa.Table(
    "otree_redwood_event",
    metadata,
    sa.Column("id", _BigId, primary_key=True),
    #: time the event was received or sent by the server (aware UTC when read)
    sa.Column("timestamp", UTCDateTime(), nullable=False),
    sa.Column("session_id", sa.Integer, sa.ForeignKey("otree_session.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("app_name", sa.String(100), nullable=False),
    sa.Column("group_pk", sa.Integer, nullable=False),
    sa.Column("channel", sa.String(100), nullable=False),
    #: sender; NULL for server-sent events
    sa.Column("participant_id", sa.Integer, _participant_fk(), nullable=True),
    sa.Column("value", JSONText(), nullable=True),
    #: per-group sequence number of a server message; NULL for inbound ones
    sa.Column("seq", sa.BigInteger, nullable=True),
    #: the one participant a private server message went to; NULL: the group
    sa.Column("recipient_id", sa.Integer, _participant_fk(), nullable=True),
    sa.Index("redwood_evt_group_chan_ts", "app_name", "group_pk", "channel", "timestamp"),
    sa.Index("redwood_evt_group_seq", "app_name", "group_pk", "seq"),
)

#: One row per connected participant, whatever their number of sockets.
Connection = sa.Table(
    "otree_redwood_connection",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("participant_id", sa.Integer, _participant_fk(), nullable=False, unique=True),
    sa.Column("connected_at", UTCDateTime(), nullable=True),
    #: server process that opened the first current socket
    sa.Column("process", sa.String(64), nullable=False, server_default=""),
)

#: The id every Redis key of this database carries; resetdb drops it, so a
#: reset database never meets an older one's state in a shared Redis.
RedisNamespace = sa.Table(
    "otree_redwood_redisnamespace",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(32), nullable=False, unique=True),
)

#: A DiscreteEventEmitter calling a Group method, kept to re-arm it after
#: Redis lost its timers; ``done`` counts the ticks that ran.
EmitterRecord = sa.Table(
    "otree_redwood_emitterrecord",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("timer_id", sa.String(200), nullable=False, unique=True),
    sa.Column("gk", sa.String(200), nullable=False, index=True),
    sa.Column("first_ms", sa.Float, nullable=False),
    sa.Column("interval_ms", sa.Float, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("data", JSONText(), nullable=True),
)

ALL_TABLES = (Event, Connection, RedisNamespace, EmitterRecord)
