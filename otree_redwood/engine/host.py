"""The one interface between the engine and the framework it runs in.

The engine (pipeline, lifecycle, timers' actions, messaging) never touches a
model, a query or a transaction itself: it asks the host.  A host adapter
(for oTree 3 / Django: ``otree_redwood.otree3_host``) subclasses ``Host``,
implements every method and calls ``install()`` when it is imported.  The
methods are synchronous and run on the engine's database thread (see
``db_sync``) unless they say otherwise; "group" is the host's own group
object, which the engine only passes back, or on which it calls the hooks
of the 0.9.x API (``when_all_players_ready``, ``_subperiod_tick``, ``send``,
``_on_<channel>_event``) and the two methods every redwood group base has:
``_redwood_take_snapshot()`` and ``ran_ready_function``.

Why one interface: oTree 3 (Django) and oTree 6 (SQLAlchemy, Starlette) store
the same events in different ways, but what the engine does with them --
number, order, replay, start periods once, re-arm timers -- must be the same,
and tested once.
"""
import contextlib

_current = None


def install(host):
    """Make ``host`` the one the engine uses (once per process, by the adapter)."""
    global _current
    _current = host
    host.on_install()
    return host


def current():
    """The installed host; a clear error if no adapter was imported."""
    host = _current
    if host is None:
        raise RuntimeError("otree-redwood: no host adapter is installed (is otree_redwood in EXTENSION_APPS?)")
    return host


class Host:
    """What the engine needs from the framework (see the module doc)."""

    #: Short name for logs and checks ("otree3", "otree6").
    name = "abstract"

    def on_install(self):
        """Called by install(): point conf and keys at the host's settings and database."""

    # ---- threads and transactions --------------------------------------

    def db_sync(self, fn):
        """An async callable that runs ``fn(*args)`` on the engine's database thread, in order (event loop)."""
        raise NotImplementedError

    def atomic(self):
        """A context manager: a transaction, or a savepoint inside one."""
        return contextlib.nullcontext()

    def on_commit(self, fn):
        """Run ``fn()`` once the current transaction commits (now, outside one)."""
        fn()

    # ---- groups ---------------------------------------------------------

    def info_for(self, group):
        """The cached GroupInfo of a group object (built on first use)."""
        raise NotImplementedError

    def cached_info(self, gk):
        """The cached GroupInfo of a group key, or None (any thread; no database)."""
        raise NotImplementedError

    def build_infos(self, gks, siblings=True):
        """Build and cache the GroupInfo of these groups (and, with ``siblings``, of
        the other groups of their sessions in the same app); unknown ones are skipped."""
        raise NotImplementedError

    def load_group(self, gk, lock=False):
        """A fresh group object; ``lock``: locked until the transaction ends.

        Raises errors.Refused (CLOSE_NOT_FOUND) if there is no such group.
        """
        raise NotImplementedError

    def load_for_ready(self, infos):
        """{gk: group} of those groups whose period has not started, loaded with
        what their hooks read (e.g. the session), in a few queries for all."""
        raise NotImplementedError

    def claim_loaded(self, info, group, t0_ms):
        """Mark the period of a group from load_for_ready started at ``t0_ms``
        unless it was: whether this call won (exactly one caller wins, across
        threads and processes); the winner's object shows the start."""
        raise NotImplementedError

    def start_times(self, infos):
        """{gk: period start in ms or None} of the groups that still exist."""
        raise NotImplementedError

    def group_state(self, info):
        """(period start ms or None, the map stored in the group row or None), or None if it is gone."""
        raise NotImplementedError

    def group_states(self, infos):
        """{gk: group_state(info)} of those groups that exist, in a few queries for all."""
        return {info.gk: st for info in infos for st in [self.group_state(info)] if st is not None}

    def write_group(self, group, fields):
        """Store ``fields`` ({name: value}) in the group's row and on the object."""
        raise NotImplementedError

    def set_live(self, group, fields):
        """Set ``fields`` on the object only (the live map from Redis), as if it was loaded so."""
        raise NotImplementedError

    def update_rows(self, backlog):
        """Write behind many groups' rows: {(info.model, pk): {field: value}}; values may be messaging.RawJSON."""
        raise NotImplementedError

    def running_periods(self):
        """[(GroupInfo, period start ms)] of every group whose period started and has not ended."""
        raise NotImplementedError

    # ---- the event log ---------------------------------------------------

    def insert_events(self, rows):
        """Store many events: rows of (t_ms, info, channel, participant id or None, value as JSON text, seq or None)."""
        raise NotImplementedError

    def store_server_event(self, info, channel, value, seq, t_ms, recipient_id):
        """Store one server message; return the host's event object (Group.send returns it)."""
        raise NotImplementedError

    def recipient(self, recipient):
        """(participant id, code) of a Player, a Participant or a participant code."""
        raise NotImplementedError

    def dispatch(self, item, refresh):
        """Store a client's message (pipeline Inbound ``item``) and call the group's
        ``_on_<channel>_event`` with it, on the locked group after ``refresh(group)``."""
        raise NotImplementedError

    def latest_states(self, infos):
        """{gk: the StoredEvent of the group's latest ``state`` message}."""
        raise NotImplementedError

    def last_map(self, info):
        """The StoredEvent of the group's last ``group_decisions`` with a seq, or None."""
        raise NotImplementedError

    def last_maps(self, infos):
        """{gk: last_map(info)} of many groups, in a few queries for all."""
        return {info.gk: m for info in infos for m in [self.last_map(info)] if m is not None}

    def missed(self, info, last_seq, participant_id, limit):
        """The newest ``limit`` server messages after ``last_seq`` that this participant
        received (to all or to it alone), as StoredEvents, oldest first."""
        raise NotImplementedError

    def recent(self, info, since_ms, limit):
        """The newest ``limit`` server messages stored since ``since_ms``, oldest first."""
        raise NotImplementedError

    def max_seq(self, info):
        """The highest stored seq of the group (0 if none)."""
        raise NotImplementedError

    def max_seqs(self, infos):
        """{gk: max_seq(info)} of many groups, in a few queries for all (groups without any may be left out)."""
        return {info.gk: self.max_seq(info) for info in infos}

    def decisions_after(self, info, after_ms, participant_ids):
        """[(participant id, value)] of the ``decisions`` messages stored after ``after_ms``, in order."""
        raise NotImplementedError

    def period_ended(self, info):
        """Whether the group's ``period_end`` is stored."""
        raise NotImplementedError

    def maps_since(self, info, since_ms):
        """How many ``group_decisions`` messages the group stored since ``since_ms``."""
        raise NotImplementedError

    # ---- connections ------------------------------------------------------

    def record_connections(self, participant_ids, process):
        """One connection record per participant, dated now, of this ``process``."""
        raise NotImplementedError

    def forget_connection(self, participant_id):
        raise NotImplementedError

    def connection_processes(self):
        """The process ids that have connection records."""
        raise NotImplementedError

    def forget_processes(self, processes):
        """Remove the connection records of dead processes; return how many."""
        raise NotImplementedError

    def player_of(self, group, participant_id):
        """The group's player of that participant, or None (for when_player_disconnects)."""
        raise NotImplementedError

    # ---- emitters that call a group method (re-armed after a Redis loss) ----

    def save_emitter(self, timer_id, gk, first_ms, interval_ms, n, data):
        raise NotImplementedError

    def emitters(self, gks):
        """[(timer id, gk, first ms, interval ms, n, done, data)] of these groups."""
        raise NotImplementedError

    def count_emitter_tick(self, timer_id, k, total):
        """Record that tick ``k`` ran unless a later one did; whether it was counted,
        and whether the record exists: (counted, exists)."""
        raise NotImplementedError

    def delete_emitters(self, gk):
        raise NotImplementedError
