"""The real-time Group bases for oTree 6 apps: the hooks and methods of 0.9.x.

An app writes ``class Group(DecisionGroup)`` (or ``Group``) instead of
``BaseGroup``, in either app format oTree 6 runs.  Hooks may be written as
methods (``def period_length(self):``, 0.9.x's way, any format) or, in a
single-file app, as module-level functions taking the group
(``def period_length(group):``, oTree 6's own style); a method of the app's
class wins, then a module-level function, then the default here.  The same
goes for ``_on_<channel>_event`` and ``initial_decision`` (on the player).

oTree 6's model rules shape this module (otree/database.py, otree/checks.py):

- no plain-value class attributes (oTree's check 111 refuses int, float,
  bool, str, None on a Group): ``server_only_channels`` is a tuple;
- reading a NULL column raises TypeError: nullable columns are read with
  ``field_maybe_none``;
- setting an undeclared attribute raises AttributeError: per-instance state
  of ours (``_redwood_t0``, set by the engine) goes through
  ``object.__setattr__``.

Differences from 0.9.x an app can see: ``events`` is a list of stored events
(oldest first), not a query set; ``save()`` exists only to push a changed
``group_decisions`` to the live map (oTree 6 writes rows at commit); an
event's ``timestamp`` is an aware UTC datetime.

Importing this module sets up everything (tables, routes, template tag, the
host, the participant socket): an app needs nothing else.
"""
import json
import logging

import sqlalchemy as sa

from . import models as _models  # noqa: F401  (tables, attach.install())
from . import host as _host
from . import endpoint as _endpoint  # noqa: F401  (the participant socket's route)
from . import admin as _admin  # noqa: F401  (admin pages, JSON API, streamed CSVs, admin socket)
from . import exports as _exports  # noqa: F401  (the Data page's custom_export_redwood_* functions)
from ..engine import actions, decisions, lifecycle, livestate, messaging
from .groupcolumns import DecisionGroupColumns, GroupColumns
from .tables import Event

__all__ = ["Group", "DecisionGroup"]

logger = logging.getLogger(__name__)


def _module_hook(obj, name, *args, default=None):
    """Call a single-file app's module-level ``name(obj, *args)`` if it has one."""
    fn = _host.module_function(type(obj), name)
    return default if fn is None else fn(obj, *args)


class Group(GroupColumns):
    """A group whose members interact in real time through WebSockets.

    Messages a member's page sends on channel ``x`` are stored in the event
    log and passed to ``_on_x_event(self, event)`` if the group has one.
    """

    __abstract__ = True

    #: Channels only the server may send on in this app (besides the built-in ones).
    server_only_channels = ()

    # ----- hooks an experiment overrides -----
    def period_length(self):
        """Seconds from ``period_start`` to ``period_end``; None: no end."""
        return _module_hook(self, "period_length")

    def post_round_delay(self):
        """Seconds the page waits after ``period_end`` before moving on."""
        return _module_hook(self, "post_round_delay", default=1)

    def when_all_players_ready(self):
        """Runs once, when every member of the group has connected."""
        _module_hook(self, "when_all_players_ready")

    def when_player_disconnects(self, player):
        """Runs when a member's last socket closes."""
        _module_hook(self, "when_player_disconnects", player)

    # ----- methods -----
    @property
    def app_name(self):
        return type(self).get_folder_name()

    def send(self, channel, payload):
        """Store an event on ``channel`` and broadcast it to the whole group."""
        return messaging.send_sync(self, channel, payload)

    def send_to(self, player, channel, payload):
        """Store an event and deliver it to one member only (a Player, a Participant or a code)."""
        return messaging.send_sync(self, channel, payload, recipient=player)

    def _redwood_events_query(self):
        return (sa.select([Event]).where(Event.c.app_name == self.app_name)
                .where(Event.c.group_pk == self.id).order_by(Event.c.timestamp, Event.c.id))

    @property
    def events(self):
        """Every stored event of this group, oldest first (a list)."""
        from otree.database import db

        return _records(db._db.execute(self._redwood_events_query()))

    def _state_time(self, state):
        from otree.database import db

        q = self._redwood_events_query().where(Event.c.channel == "state").where(Event.c.value == state).limit(1)
        row = db._db.execute(q).first()
        return row.timestamp if row is not None else None

    def get_start_time(self):
        """Time (aware UTC datetime) of this group's ``period_start``, or None."""
        return self._state_time("period_start")

    def get_end_time(self):
        """Time (aware UTC datetime) of this group's ``period_end``, or None."""
        return self._state_time("period_end")

    def save(self):
        """0.9.x called it after changing fields; here rows are written at commit,
        and a changed ``group_decisions`` goes to the live map at once."""
        self._redwood_after_app_code()
        from otree.database import db

        db._db.flush()

    def _redwood_take_snapshot(self):
        """The engine calls it after setting fields as loaded; in-place changes of
        JSON columns are tracked by SQLAlchemy here, so there is nothing to keep."""

    def _redwood_after_app_code(self):
        """Called after app code ran on this object (a handler, ``save()``)."""


class DecisionGroup(Group, DecisionGroupColumns):
    """A Group whose members each hold one decision.

    Messages on ``decisions`` set the sender's entry of ``group_decisions``;
    the map goes back to the group on ``group_decisions``: at once, once per
    sub-period (``num_subperiods``) or at most once per ``rate_limit`` seconds.
    """

    __abstract__ = True

    def num_subperiods(self):
        """Override to turn on sub-periods. None by default."""
        return _module_hook(self, "num_subperiods")

    def rate_limit(self):
        """Override to limit broadcasts: minimum seconds between two ``group_decisions``."""
        return _module_hook(self, "rate_limit")

    def when_all_players_ready(self):
        """Each member's decision from ``initial_decision`` (player method or module
        function), the live map, the sub-periods; then the app's module-level hook."""
        initial_map = {}
        for player in self.get_players():
            fn = _host.module_function(type(player), "initial_decision")
            if fn is not None:
                initial = fn(player)
            else:
                method = getattr(type(player), "initial_decision", None)
                initial = method(player) if callable(method) else None
            initial_map[player.participant.code] = initial
        self.group_decisions = initial_map
        self.subperiod_group_decisions = dict(initial_map)
        actions.start_subperiods(self)
        _module_hook(self, "when_all_players_ready")
        # the live map: the initial one, or what the app's hook made of it
        self._redwood_after_app_code()

    def _redwood_take_snapshot(self):
        """The map as loaded (or as the engine set it): _redwood_after_app_code compares with it.

        Not SQLAlchemy's attribute history: a query the app's code runs (an
        autoflush) writes the change and clears the history before we look.
        """
        object.__setattr__(self, "_redwood_map_text", _map_text(self.__dict__.get("group_decisions")))

    def _redwood_after_app_code(self):
        # a map the app changed itself (assigned, or changed in place) is the
        # live map from now on; during the period it counts as a change, so a
        # rate-limited group's next tick broadcasts it, as 0.9.x's did
        value = self.field_maybe_none("group_decisions")
        snap = self.__dict__.get("_redwood_map_text")
        if snap is None:
            if not sa.inspect(self).attrs.group_decisions.history.has_changes():
                return
        elif _map_text(value) == snap:
            return
        if value is None:
            return
        started = self.field_maybe_none("ran_ready_function") is not None
        by_app = started and getattr(self, "_redwood_t0", None) is None
        livestate.store_decisions_sync(_host.HOST.info_for(self), dict(value), changed=by_app)
        self._redwood_take_snapshot()

    def _subperiod_tick(self, current_interval, intervals):
        """End of sub-period ``current_interval`` (from 0) of ``intervals``: store and
        broadcast the map standing now, copy it to ``subperiod_group_decisions``;
        then a single-file app's module-level ``_subperiod_tick(group, k, n)``."""
        seq, map_json = livestate.snapshot_sync(_host.HOST.info_for(self))
        if seq is not None:
            lifecycle.write_subperiod(self, seq, map_json)
        _module_hook(self, "_subperiod_tick", current_interval, intervals)

    def _on_decisions_event(self, event=None, **kwargs):
        """Set the sender's decision and broadcast (or defer, when rate limited);
        ignored (but stored) before ``when_all_players_ready`` ran, as in 0.9.x."""
        if self.field_maybe_none("ran_ready_function") is None:
            logger.warning("ignoring decision of %s in group %s before when_all_players_ready",
                           event.participant.code, self.id)
            return
        decisions.apply_decision_sync(self, event.participant.code, event.value)

    def get_group_decisions_events(self):
        """Every ``group_decisions`` event of this group, oldest first."""
        from otree.database import db

        q = self._redwood_events_query().where(Event.c.channel == "group_decisions")
        return _records(db._db.execute(q))


def _map_text(value):
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


@sa.event.listens_for(DecisionGroup, "load", propagate=True)
def _loaded(target, context):
    target._redwood_take_snapshot()


@sa.event.listens_for(DecisionGroup, "refresh", propagate=True)
def _refreshed(target, context, attrs):
    target._redwood_take_snapshot()


def _records(rows):
    """EventRecords with their senders: 0.9.x payoff code reads ``event.participant.code``."""
    from otree.database import db
    from otree.models import Participant

    rows = list(rows)
    ids = {r.participant_id for r in rows if r.participant_id is not None}
    participants = {p.id: p for p in db.query(Participant).filter(Participant.id.in_(ids))} if ids else {}
    return _host.event_records(rows, participants)


_host.register_bases(Group, DecisionGroup)
