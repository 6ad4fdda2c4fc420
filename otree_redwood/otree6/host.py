"""The oTree 6 host: the engine's Host interface on oTree 6's one database connection.

oTree 6 runs one process with one SQLAlchemy engine over ONE DBAPI connection
(``StaticPool``), and serialises every request and socket message with the
global ``asyncio.Lock`` ``otree.middleware.lock2``; two sessions on that
connection are not isolated (one's commit commits the other's flushed
changes).  So every database step of ours holds ``lock2`` and runs inside
``session_scope()``, as oTree's own work does.

``db_sync(fn)``: take ``lock2`` on the event loop, then run ``fn`` in ONE
worker thread of ours inside a session scope, and release the lock when the
thread is done (also when the awaiting task is cancelled: the connection must
never be used by two parties).  A worker thread rather than inline on the
loop because the engine's synchronous steps also talk to Redis with blocking
calls and a SQLite commit syncs to disk: inline, every socket of the process
would stop being read and written meanwhile; in the thread, the loop keeps
delivering frames and queueing messages, and only database users wait, as
they would anyway behind ``lock2``.  oTree serves its own pages the same way
(``run_in_threadpool`` inside ``lock2``).

``atomic()``: a SAVEPOINT (``begin_nested``) in the current session.  On
SQLite, Python's driver only opens a transaction before a data change, and a
SAVEPOINT issued outside one would start (and its RELEASE end) the whole
transaction, so a ``BEGIN`` is sent first when none is open.

``on_commit(fn)``: inside our scope, ``fn`` is kept on a per-scope list (one
level per savepoint: a rolled-back savepoint drops what it registered) and
runs after the scope commits; inside a session of oTree's (app code run by a
page), after that session commits; with no session, at once.

The hot path uses SQLAlchemy Core (one ``executemany`` per batch of events,
one ``UPDATE`` per batch of group rows); groups are ORM objects of the app's
``Group`` class.  ``GroupInfo.model`` is that class and ``GroupInfo.ct_id`` is
the group's ``session_id`` (what the Event table files an event under besides
``app_name`` and ``group_pk``).

Importing this module installs the host.  oTree internals: ``otree/middleware.py``
``lock2``; ``otree/database.py`` ``db`` (``db._db``, the session in a context
variable), ``session_scope``; ``otree/common.py`` ``get_models_module``,
``is_noself``; ``otree/settings.py`` ``OTREE_APPS`` and the project's ``REDWOOD``;
``otree/models`` ``Participant``.
"""
import asyncio
import collections
import concurrent.futures
import contextlib
import contextvars
import logging
import threading
import types
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ..engine import conf, errors, host, keys, messaging, protocol
from ..engine.clock import epoch_ms, from_epoch_ms
from ..engine.groupinfo import GroupInfo, StoredEvent, by_table, chunks, group_key, split_group_key
from .sqltypes import UTCDateTime
from .tables import Connection, EmitterRecord, Event, RedisNamespace

logger = logging.getLogger(__name__)


# The Event table seen with a plain TEXT value: the engine hands us JSON text
# already made (the wire's encoding), stored as it is, never encoded twice.
_EventRaw = sa.table(
    "otree_redwood_event",
    sa.column("timestamp", UTCDateTime()), sa.column("session_id", sa.Integer),
    sa.column("app_name", sa.String), sa.column("group_pk", sa.Integer),
    sa.column("channel", sa.String), sa.column("participant_id", sa.Integer),
    sa.column("value", sa.Text), sa.column("seq", sa.BigInteger),
    sa.column("recipient_id", sa.Integer),
)
_INSERT_EVENT = _EventRaw.insert()


def _db():
    from otree.database import db

    return db._db


# ---- one scope, one lock ----------------------------------------------------

# the on_commit lists of our scope in this context: one list per open savepoint
_callbacks = contextvars.ContextVar("otree_redwood_on_commit", default=None)


@contextlib.contextmanager
def scope():
    """oTree's ``session_scope()`` plus our on-commit list (the caller holds lock2)."""
    from otree.database import session_scope

    stack = [[]]
    token = _callbacks.set(stack)
    try:
        with session_scope():
            yield
    finally:
        _callbacks.reset(token)
    for fn in stack[0]:
        try:
            fn()
        except Exception:
            logger.exception("otree-redwood: an on-commit callback failed")


def _run_in_scope(fn, args):
    with scope():
        return fn(*args)


_executor = None
_executor_lock = threading.Lock()


def _db_thread():
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="redwood-db6")
        return _executor


async def run_locked(fn, *args):
    """``fn(*args)`` in our database thread, in a session scope, under oTree's lock2."""
    from otree.middleware import lock2

    loop = asyncio.get_running_loop()
    async with lock2:
        fut = loop.run_in_executor(_db_thread(), _run_in_scope, fn, args)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            # the thread still uses the connection: keep lock2 until it is done
            while not fut.done():
                try:
                    await asyncio.shield(fut)
                except asyncio.CancelledError:
                    continue
                except Exception:
                    break
            raise


def _ensure_sqlite_transaction(session):
    """Open a transaction on SQLite before a SAVEPOINT (see the module doc)."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.connection  # the sqlite3 connection under SQLAlchemy's proxy
    if not raw.in_transaction:
        conn.execute(sa.text("BEGIN"))


# ---- app models -----------------------------------------------------------------

# bases.py registers its Group and DecisionGroup here when it is imported:
# host.py must not import bases.py, which imports the host (tests/unit/test_layers.py).
_BASES = types.SimpleNamespace(Group=None, DecisionGroup=None)


def register_bases(group, decision_group):
    _BASES.Group, _BASES.DecisionGroup = group, decision_group


def _bases():
    if _BASES.Group is None:
        raise RuntimeError("otree_redwood.otree6.bases has not been imported")
    return _BASES


def models_module(app_name):
    from otree.common import get_models_module

    return get_models_module(app_name)


def group_model(app_name):
    """The app's Group class if it derives from our Group base, else None."""
    from otree import settings

    if app_name not in getattr(settings, "OTREE_APPS", ()):
        return None
    try:
        model = getattr(models_module(app_name), "Group", None)
    except Exception:
        return None
    if isinstance(model, type) and issubclass(model, _bases().Group):
        return model
    return None


def module_function(model, name):
    """A module-level function ``name`` of a single-file app (oTree 6's own hook style), or None."""
    import inspect

    if not getattr(model, "is_noself", False):
        return None
    try:
        fn = models_module(model.get_folder_name()).__dict__.get(name)
    except Exception:
        return None
    return fn if inspect.isfunction(fn) else None


def _handler_channels(model):
    names = set(n for n in dir(model) if n.startswith("_on_") and n.endswith("_event")
                and callable(getattr(model, n, None)))
    if getattr(model, "is_noself", False):
        import inspect

        module = models_module(model.get_folder_name())
        names.update(n for n, v in vars(module).items()
                     if n.startswith("_on_") and n.endswith("_event") and inspect.isfunction(v))
    return frozenset(n[len("_on_"):-len("_event")] for n in names)


def handler_of(group, channel):
    """The callable that handles ``channel`` for this group (module function first)."""
    name = "_on_%s_event" % channel
    fn = module_function(type(group), name)
    if fn is not None:
        return lambda event: fn(group, event)
    return getattr(group, name)


class EventRecord:
    """One stored event as app code sees it (0.9.x's ``Event``): what ``_on_<channel>_event``
    receives and ``Group.send`` returns.  Read-only data; ``participant`` is oTree's
    Participant (None for server messages)."""

    __slots__ = ("id", "timestamp", "app_name", "group_pk", "channel", "participant", "participant_id",
                 "value", "seq", "recipient_id")

    def __init__(self, **kw):
        for name in self.__slots__:
            setattr(self, name, kw.get(name))

    @property
    def message(self):
        return {
            "timestamp": epoch_ms(self.timestamp),
            "group": self.group_pk,
            "participant": self.participant.code if self.participant is not None else None,
            "channel": self.channel,
            "value": self.value,
        }

    def __repr__(self):
        return "Event(%s, group=%s, %s)" % (self.channel, self.group_pk, self.timestamp)


def event_records(rows, participants=None):
    """EventRecords of Event rows (Core); ``participants``: {id: Participant} to attach."""
    participants = participants or {}
    return [EventRecord(id=r.id, timestamp=r.timestamp, app_name=r.app_name, group_pk=r.group_pk,
                        channel=r.channel, participant=participants.get(r.participant_id),
                        participant_id=r.participant_id, value=r.value, seq=r.seq, recipient_id=r.recipient_id)
            for r in rows]


def _stored(row):
    return StoredEvent(row.channel, row.value, row.seq, epoch_ms(row.timestamp), row.recipient_id)


def _group_events(info):
    return sa.and_(Event.c.app_name == info.app_name, Event.c.group_pk == info.pk)


def _load_namespace():
    session = _db()
    if session is None:
        # outside any scope (a script): a short one of our own
        with scope():
            return _load_namespace()
    row = session.execute(sa.select([RedisNamespace.c.key]).order_by(RedisNamespace.c.id).limit(1)).first()
    if row is not None:
        return row[0]
    key = uuid.uuid4().hex[:12]
    session.execute(RedisNamespace.insert().values(id=1, key=key))
    session.flush()
    return key


class Otree6Host(host.Host):
    """oTree 6.0.x: SQLAlchemy 1.3, one connection, lock2 (see the module doc)."""

    name = "otree6"

    def __init__(self):
        self._cache = {}
        self._cache_lock = threading.Lock()

    def on_install(self):
        def source():
            from otree import settings

            return getattr(settings, "REDWOOD", None)

        conf.set_source(source)
        keys.set_namespace_loader(_load_namespace)

    # ---- threads and transactions

    def db_sync(self, fn):
        async def run(*args):
            return await run_locked(fn, *args)

        return run

    @contextlib.contextmanager
    def atomic(self):
        session = _db()
        if session is None:
            # no transaction at all (a script): one of our own, committed at the end
            with scope():
                yield
            return
        stack = _callbacks.get()
        mine = []
        if stack is not None:
            stack.append(mine)
        _ensure_sqlite_transaction(session)
        savepoint = session.begin_nested()
        try:
            yield
        except BaseException:
            savepoint.rollback()
            if stack is not None:
                stack.pop()
            raise
        savepoint.commit()
        if stack is not None:
            stack.pop()
            stack[-1].extend(mine)

    def on_commit(self, fn):
        stack = _callbacks.get()
        if stack is not None:
            stack[-1].append(fn)
            return
        session = _db()
        if session is None or not session.is_active:
            fn()
            return
        # a session of oTree's (app code run by a page): after it commits
        sa.event.listen(session, "after_commit", lambda s: fn(), once=True)

    # ---- groups

    def _build(self, group, members, session_code):
        bases = _bases()
        model = type(group)
        app_name = model.get_folder_name()
        is_decision = isinstance(group, bases.DecisionGroup)
        fast = (is_decision and model._on_decisions_event is bases.DecisionGroup._on_decisions_event
                and module_function(model, "_on_decisions_event") is None)
        custom_tick = is_decision and (model._subperiod_tick is not bases.DecisionGroup._subperiod_tick
                                       or module_function(model, "_subperiod_tick") is not None)

        def hook(name):
            try:
                return getattr(group, name)()
            except Exception:
                logger.exception("%s.%s() raised; treated as None", app_name, name)
                return None

        info = GroupInfo(
            app_name=app_name, pk=group.id, gk=group_key(app_name, group.id), model=model,
            ct_id=group.session_id, session_code=session_code, members=members,
            period_length=hook("period_length"),
            num_subperiods=hook("num_subperiods") if is_decision else None,
            rate_limit=hook("rate_limit") if is_decision else None,
            post_round_delay=hook("post_round_delay"),
            is_decision_group=is_decision, fast_decisions=fast, custom_subperiod_tick=custom_tick,
            handlers=_handler_channels(model),
            server_only=frozenset(getattr(model, "server_only_channels", ()) or ()),
            default_disconnect_hook=(model.when_player_disconnects is bases.Group.when_player_disconnects
                                     and module_function(model, "when_player_disconnects") is None),
        )
        with self._cache_lock:
            self._cache[info.gk] = info
        return info

    def _members(self, app_name, group_ids):
        from otree.models import Participant

        player_model = models_module(app_name).Player
        members = {pk: {} for pk in group_ids}
        for chunk in chunks(group_ids):
            q = (_db().query(player_model.id, player_model.group_id, player_model.id_in_group,
                             Participant.id, Participant.code)
                 .join(Participant, Participant.id == player_model.participant_id)
                 .filter(player_model.group_id.in_(chunk))
                 .order_by(player_model.group_id, player_model.id_in_group))
            for player_pk, gid, id_in_group, pid, code in q:
                members[gid][code] = (pid, id_in_group, player_pk)
        return members

    def info_for(self, group):
        gk = group_key(type(group).get_folder_name(), group.id)
        info = self._cache.get(gk)
        if info is None:
            info = self._build(group, self._members(type(group).get_folder_name(), [group.id])[group.id],
                               group.session.code)
        return info

    def cached_info(self, gk):
        return self._cache.get(gk)

    def build_infos(self, gks, siblings=True):
        from otree.models import Session

        by_app = collections.defaultdict(set)
        for gk in gks:
            app_name, pk = split_group_key(gk)
            by_app[app_name].add(pk)
        built = []
        for app_name, pks in by_app.items():
            model = group_model(app_name)
            if model is None:
                continue
            q = _db().query(model)
            if siblings:
                session_ids = {sid for (sid,) in _db().query(model.session_id).filter(model.id.in_(list(pks)))}
                q = q.filter(model.session_id.in_(list(session_ids)))
            else:
                q = q.filter(model.id.in_(list(pks)))
            wanted = [g for g in q if g.id in pks or group_key(app_name, g.id) not in self._cache]
            if not wanted:
                continue
            codes = {sid: code for sid, code in _db().query(Session.id, Session.code).filter(
                Session.id.in_(list({g.session_id for g in wanted})))}
            members = self._members(app_name, [g.id for g in wanted])
            for g in wanted:
                built.append(self._build(g, members[g.id], codes.get(g.session_id)))
        return built

    def load_group(self, gk, lock=False):
        app_name, pk = split_group_key(gk)
        model = group_model(app_name)
        if model is None:
            raise errors.Refused(protocol.CLOSE_NOT_FOUND, "unknown app '%s'" % app_name)
        q = _db().query(model).populate_existing().filter(model.id == pk)
        if lock:
            q = q.with_for_update()  # PostgreSQL; SQLite renders nothing (lock2 serialises us anyway)
        group = q.one_or_none()
        if group is None:
            raise errors.Refused(protocol.CLOSE_NOT_FOUND, "no group %s in app '%s'" % (pk, app_name))
        return group

    def load_for_ready(self, infos):
        by_model = by_table(infos, "model")
        out = {}
        for model, gks in by_model.items():
            for chunk in chunks(gks):
                # the session comes along: hooks such as period_length() read it
                q = (_db().query(model).populate_existing().options(joinedload("session"))
                     .filter(model.id.in_(chunk)).filter(model.ran_ready_function.is_(None)))
                for group in q:
                    out[gks[group.id]] = group
        return out

    def claim_loaded(self, info, group, t0_ms):
        from sqlalchemy.orm.attributes import set_committed_value

        table = info.model.__table__
        # one UPDATE that only one caller can win
        res = _db().execute(table.update()
                            .where(table.c.id == info.pk)
                            .where(table.c.ran_ready_function.is_(None))
                            .values(ran_ready_function=t0_ms / 1000.0))
        if res.rowcount != 1:
            return False
        set_committed_value(group, "ran_ready_function", t0_ms / 1000.0)
        return True

    def start_times(self, infos):
        by_model = by_table(infos, "model")
        out = {}
        for model, gks in by_model.items():
            table = model.__table__
            for chunk in chunks(gks):
                q = sa.select([table.c.id, table.c.ran_ready_function]).where(table.c.id.in_(chunk))
                for pk, t in _db().execute(q):
                    out[gks[pk]] = t * 1000.0 if t is not None else None
        return out

    def group_state(self, info):
        table = info.model.__table__
        cols = [table.c.ran_ready_function]
        if "group_decisions" in table.c:
            cols.append(table.c.group_decisions)
        row = _db().execute(sa.select(cols).where(table.c.id == info.pk)).first()
        if row is None:
            return None
        started = row[0] * 1000.0 if row[0] is not None else None
        return started, (dict(row[1]) if len(row) > 1 and row[1] is not None else None)

    def group_states(self, infos):
        by_model = by_table(infos, "model")
        out = {}
        for model, gks in by_model.items():
            table = model.__table__
            cols = [table.c.id, table.c.ran_ready_function]
            if "group_decisions" in table.c:
                cols.append(table.c.group_decisions)
            for chunk in chunks(gks):
                for row in _db().execute(sa.select(cols).where(table.c.id.in_(chunk))):
                    started = row[1] * 1000.0 if row[1] is not None else None
                    out[gks[row[0]]] = (started, dict(row[2]) if len(row) > 2 and row[2] is not None else None)
        return out

    def write_group(self, group, fields):
        table = type(group).__table__
        _db().execute(table.update().where(table.c.id == group.id).values(**fields))
        self.set_live(group, fields)

    def set_live(self, group, fields):
        # as if loaded so: not dirty (no extra UPDATE at commit), and a change
        # the app makes afterwards is still seen (the bases compare with it)
        from sqlalchemy.orm.attributes import set_committed_value

        from .sqltypes import MutableJSON

        for name, value in fields.items():
            if isinstance(value, dict):
                value = MutableJSON.coerce(name, value)
                set_committed_value(group, name, value)
                # what SQLAlchemy's Mutable does on load: in-place changes flag the row
                value._parents[group] = name
            else:
                set_committed_value(group, name, value)
        group._redwood_take_snapshot()

    def update_rows(self, backlog):
        by_shape = collections.defaultdict(list)
        for (model, pk), fields in backlog.items():
            by_shape[(model, tuple(sorted(fields)))].append((pk, fields))
        for (model, names), rows in by_shape.items():
            table = model.__table__
            json_cols = {n for n in names if n in ("group_decisions", "subperiod_group_decisions")}
            stmt = table.update().where(table.c.id == sa.bindparam("_pk")).values(
                {n: sa.bindparam("_v_" + n, type_=sa.Text if n in json_cols else table.c[n].type) for n in names})
            params = []
            for pk, fields in rows:
                p = {"_pk": pk}
                for n in names:
                    v = fields[n]
                    if n in json_cols and v is not None:
                        v = str(v) if isinstance(v, messaging.RawJSON) else protocol.dumps(v)
                    p["_v_" + n] = v
                params.append(p)
            _db().execute(stmt, params)

    def running_periods(self):
        from otree import settings

        out = []
        for app_name in getattr(settings, "OTREE_APPS", ()):
            model = group_model(app_name)
            if model is None:
                continue
            table = model.__table__
            # (a ResultProxy has keys(): dict() would take it for a mapping)
            started = {pk: t for pk, t in _db().execute(sa.select([table.c.id, table.c.ran_ready_function])
                                                        .where(table.c.ran_ready_function.isnot(None)))}
            if not started:
                continue
            ended = {pk for (pk,) in _db().execute(
                sa.select([Event.c.group_pk]).distinct()
                .where(Event.c.app_name == app_name).where(Event.c.channel == "state")
                .where(Event.c.value == protocol.STATE_PERIOD_END))}
            pks = [pk for pk in started if pk not in ended]
            if not pks:
                continue
            self.build_infos([group_key(app_name, pk) for pk in pks])
            for pk in pks:
                info = self._cache.get(group_key(app_name, pk))
                if info is not None:
                    out.append((info, started[pk] * 1000.0))
        return out

    # ---- the event log

    def insert_events(self, rows):
        if not rows:
            return
        _db().execute(_INSERT_EVENT, [
            {"timestamp": from_epoch_ms(t), "session_id": info.ct_id, "app_name": info.app_name,
             "group_pk": info.pk, "channel": channel, "participant_id": pid, "value": value_json,
             "seq": seq, "recipient_id": None}
            for t, info, channel, pid, value_json, seq in rows])

    def _insert_one(self, info, channel, value_json, seq, t_ms, participant_id, recipient_id):
        res = _db().execute(_INSERT_EVENT.values(
            timestamp=from_epoch_ms(t_ms), session_id=info.ct_id, app_name=info.app_name, group_pk=info.pk,
            channel=channel, participant_id=participant_id, value=value_json, seq=seq, recipient_id=recipient_id))
        return res.inserted_primary_key[0] if res.inserted_primary_key else None

    def store_server_event(self, info, channel, value, seq, t_ms, recipient_id):
        event_id = self._insert_one(info, channel, protocol.dumps(value), seq, t_ms, None, recipient_id)
        return EventRecord(id=event_id, timestamp=from_epoch_ms(t_ms), app_name=info.app_name, group_pk=info.pk,
                           channel=channel, value=value, seq=seq, recipient_id=recipient_id)

    def recipient(self, recipient):
        from otree.models import Participant

        if isinstance(recipient, str):
            row = _db().query(Participant.id, Participant.code).filter(Participant.code == recipient).one()
            return row[0], row[1]
        if isinstance(recipient, Participant):
            return recipient.id, recipient.code
        participant = getattr(recipient, "participant", None)
        if participant is not None:
            return participant.id, participant.code
        raise TypeError("recipient must be a Player, a Participant or a participant code")

    def dispatch(self, item, refresh):
        from otree.models import Participant

        info = item.info
        pid = item.sock.participant_id
        value_json = item.value_json if item.value_json is not None else protocol.dumps(item.payload)
        event_id = self._insert_one(info, item.channel, value_json, None, item.t_ms, pid, None)
        if item.channel not in info.handlers:
            return
        participant = _db().query(Participant).get(pid)
        event = EventRecord(id=event_id, timestamp=from_epoch_ms(item.t_ms), app_name=info.app_name,
                            group_pk=info.pk, channel=item.channel, participant=participant,
                            participant_id=pid, value=item.payload, seq=None, recipient_id=None)
        with self.atomic():
            group = self.load_group(info.gk, lock=True)
            refresh(group)
            handler_of(group, item.channel)(event)
            # a group_decisions the handler changed goes to the live map (bases.py)
            group._redwood_after_app_code()

    def latest_states(self, infos):
        by_app = by_table(infos, "app_name")
        latest = {}
        for app_name, gks in by_app.items():
            for chunk in chunks(gks):
                q = sa.select([Event]).where(Event.c.app_name == app_name).where(
                    Event.c.group_pk.in_(chunk)).where(Event.c.channel == "state")
                for row in _db().execute(q):
                    gk = gks[row.group_pk]
                    best = latest.get(gk)
                    if best is None or (row.timestamp, row.id) > (best.timestamp, best.id):
                        latest[gk] = row
        return {gk: _stored(row) for gk, row in latest.items()}

    def last_map(self, info):
        row = _db().execute(sa.select([Event]).where(_group_events(info))
                            .where(Event.c.channel == "group_decisions").where(Event.c.seq.isnot(None))
                            .order_by(Event.c.seq.desc()).limit(1)).first()
        return _stored(row) if row is not None else None

    def last_maps(self, infos):
        by_app = by_table(infos, "app_name")
        out = {}
        for app_name, gks in by_app.items():
            for chunk in chunks(gks):
                maps = sa.and_(Event.c.app_name == app_name, Event.c.channel == "group_decisions",
                               Event.c.seq.isnot(None), Event.c.group_pk.in_(chunk))
                tops = (sa.select([Event.c.group_pk, sa.func.max(Event.c.seq).label("top")])
                        .where(maps).group_by(Event.c.group_pk).alias("tops"))
                q = sa.select([Event]).select_from(Event.join(tops, sa.and_(
                    Event.c.group_pk == tops.c.group_pk, Event.c.seq == tops.c.top))).where(maps)
                for row in _db().execute(q):
                    out[gks[row.group_pk]] = _stored(row)
        return out

    def max_seqs(self, infos):
        by_app = by_table(infos, "app_name")
        out = {}
        for app_name, gks in by_app.items():
            for chunk in chunks(gks):
                q = (sa.select([Event.c.group_pk, sa.func.max(Event.c.seq)])
                     .where(Event.c.app_name == app_name).where(Event.c.group_pk.in_(chunk))
                     .where(Event.c.seq.isnot(None)).group_by(Event.c.group_pk))
                for pk, top in _db().execute(q):
                    out[gks[pk]] = top
        return out

    def missed(self, info, last_seq, participant_id, limit):
        rows = list(_db().execute(
            sa.select([Event]).where(_group_events(info)).where(Event.c.seq > last_seq)
            .where(sa.or_(Event.c.recipient_id.is_(None), Event.c.recipient_id == participant_id))
            .order_by(Event.c.seq.desc()).limit(limit)))
        rows.reverse()
        return [_stored(r) for r in rows]

    def recent(self, info, since_ms, limit):
        rows = list(_db().execute(
            sa.select([Event]).where(_group_events(info)).where(Event.c.seq.isnot(None))
            .where(Event.c.timestamp >= from_epoch_ms(since_ms))
            .order_by(Event.c.seq.desc()).limit(limit)))
        rows.reverse()
        return [_stored(r) for r in rows]

    def max_seq(self, info):
        return _db().execute(sa.select([sa.func.max(Event.c.seq)]).where(_group_events(info))).scalar() or 0

    def decisions_after(self, info, after_ms, participant_ids):
        pids = list(participant_ids)
        if not pids:
            return []
        q = (sa.select([Event.c.participant_id, Event.c.value]).where(_group_events(info))
             .where(Event.c.channel == "decisions").where(Event.c.timestamp > from_epoch_ms(after_ms))
             .where(Event.c.participant_id.in_(pids)).order_by(Event.c.timestamp, Event.c.id))
        return [(pid, value) for pid, value in _db().execute(q)]

    def period_ended(self, info):
        q = (sa.select([Event.c.id]).where(_group_events(info)).where(Event.c.channel == "state")
             .where(Event.c.value == protocol.STATE_PERIOD_END).limit(1))
        return _db().execute(q).first() is not None

    def maps_since(self, info, since_ms):
        q = (sa.select([sa.func.count()]).select_from(Event).where(_group_events(info))
             .where(Event.c.channel == "group_decisions").where(Event.c.timestamp >= from_epoch_ms(since_ms)))
        return _db().execute(q).scalar() or 0

    # ---- connections

    def record_connections(self, participant_ids, process):
        # lock2 serialises every writer of this process; a row per participant
        now = from_epoch_ms(protocol.now_ms())
        for chunk in chunks(participant_ids):
            _db().execute(Connection.delete().where(Connection.c.participant_id.in_(chunk)))
            _db().execute(Connection.insert(), [{"participant_id": pid, "connected_at": now, "process": process}
                                                for pid in chunk])

    def forget_connection(self, participant_id):
        _db().execute(Connection.delete().where(Connection.c.participant_id == participant_id))

    def connection_processes(self):
        return {p for (p,) in _db().execute(sa.select([Connection.c.process]).distinct())}

    def forget_processes(self, processes):
        processes = list(processes)
        if not processes:
            return 0
        return _db().execute(Connection.delete().where(Connection.c.process.in_(processes))).rowcount

    def player_of(self, group, participant_id):
        return group.player_set.filter_by(participant_id=participant_id).first()

    # ---- emitters

    def save_emitter(self, timer_id, gk, first_ms, interval_ms, n, data):
        _db().execute(EmitterRecord.delete().where(EmitterRecord.c.timer_id == timer_id))
        _db().execute(EmitterRecord.insert().values(timer_id=timer_id, gk=gk, first_ms=first_ms,
                                                    interval_ms=interval_ms, n=n, done=0, data=data))

    def emitters(self, gks):
        out = []
        for chunk in chunks(gks):
            q = sa.select([EmitterRecord]).where(EmitterRecord.c.gk.in_(chunk))
            out.extend((r.timer_id, r.gk, r.first_ms, r.interval_ms, r.n, r.done, r.data)
                       for r in _db().execute(q))
        return out

    def count_emitter_tick(self, timer_id, k, total):
        t = EmitterRecord
        counted = _db().execute(t.update().where(t.c.timer_id == timer_id).where(t.c.done <= k)
                                .values(done=min(k + 1, total))).rowcount
        if counted:
            return True, True
        exists = _db().execute(sa.select([t.c.id]).where(t.c.timer_id == timer_id)).first() is not None
        return False, exists

    def delete_emitters(self, gk):
        _db().execute(EmitterRecord.delete().where(EmitterRecord.c.gk == gk))


HOST = host.install(Otree6Host())
