"""Models of otree-redwood: the event log and the real-time Group bases.

The public surface is that of otree-redwood 0.9.x (docs/upgrading.rst): ``Event``,
``Connection``, ``Group``, ``DecisionGroup`` and ``fake_lock``.
"""
import contextlib
import json
import logging

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from jsonfield import JSONField
from otree.models import BaseGroup

__all__ = ["Event", "Connection", "Group", "DecisionGroup", "fake_lock"]

logger = logging.getLogger(__name__)

# An app can import this module although the project forgot EXTENSION_APPS:
# oTree then never loads otree_redwood's AppConfig, which is where the checks
# are registered.  Registering them here too makes `otree check` (and every
# server start) name the missing setting instead of a bare TemplateDoesNotExist.
from . import checks  # noqa: E402,F401

# the time helpers live in engine/clock.py; importable from here as in 1.0
from .engine import actions, decisions, host, lifecycle, livestate, messaging  # noqa: E402
from .engine.clock import epoch_ms, from_epoch_ms  # noqa: E402,F401


class Event(models.Model):
    """Event stores a single message going in or out across a WebSocket connection."""

    class Meta:
        app_label = "otree_redwood"
        # chronological; id breaks ties between events of one millisecond
        ordering = ["timestamp", "id"]
        get_latest_by = "timestamp"
        indexes = [
            models.Index(
                fields=["content_type", "group_pk", "channel", "timestamp"],
                name="redwood_evt_group_chan_ts",
            ),
            models.Index(fields=["content_type", "group_pk", "seq"], name="redwood_evt_group_seq"),
        ]

    #: Time the event was received or sent by the server.
    timestamp = models.DateTimeField(null=False, blank=True)
    #: Used to relate this Event to an arbitrary Group.
    content_type = models.ForeignKey(ContentType, related_name="+", on_delete=models.CASCADE)
    #: Primary key of the Event's related Group.
    group_pk = models.PositiveIntegerField()
    #: The Group the event was sent to/from.
    group = GenericForeignKey("content_type", "group_pk")
    #: Channels act as tags to route Events.
    channel = models.CharField(max_length=100, null=False)
    #: The Participant who sent the event - null for server-sent events.
    participant = models.ForeignKey(
        "otree.Participant", related_name="+", null=True, blank=True, on_delete=models.CASCADE
    )
    #: Arbitrary Event payload.
    value = JSONField(null=True, blank=True)
    #: Per-group sequence number of a server message (null for inbound ones).
    seq = models.BigIntegerField(null=True, blank=True)
    #: The one participant a private server message went to (null: the group).
    recipient = models.ForeignKey(
        "otree.Participant", related_name="+", null=True, blank=True, on_delete=models.CASCADE
    )

    def save(self, *args, **kwargs):
        """Saving an Event automatically sets the timestamp if not already set."""
        if self.timestamp is None:
            self.timestamp = timezone.now()
        super().save(*args, **kwargs)

    @property
    def message(self):
        """Dictionary representation of the Event appropriate for JSON-encoding."""
        return {
            "timestamp": epoch_ms(self.timestamp),
            "group": self.group_pk,
            "participant": self.participant.code if self.participant_id else None,
            "channel": self.channel,
            "value": self.value,
        }

    def __str__(self):
        return "Event(%s, group=%s, %s)" % (self.channel, self.group_pk, self.timestamp)


class Connection(models.Model):
    """Connections are created and deleted as Participants connect to a WebSocket.

    There is one row per connected participant, whatever the number of their
    sockets (tabs) and of server processes; it is removed when the last socket
    closes, and rows left by a process that died are cleared when that is seen.
    """

    class Meta:
        app_label = "otree_redwood"

    #: Each Participant has only one connection row.
    participant = models.OneToOneField(
        "otree.Participant", related_name="+", on_delete=models.CASCADE
    )
    #: When the participant's first current socket opened.
    connected_at = models.DateTimeField(null=True, blank=True)
    #: Server process that opened it (see the live monitor).
    process = models.CharField(max_length=64, blank=True, default="")


class RedisNamespace(models.Model):
    """The id that every Redis key and channel of this database carries.

    Made at first use; ``otree resetdb`` drops the table, so a reset (or
    another project's database) never meets the state of an older one in a
    shared Redis (see redis_conn.key).
    """

    class Meta:
        app_label = "otree_redwood"

    key = models.CharField(max_length=32, unique=True)


class EmitterRecord(models.Model):
    """A DiscreteEventEmitter that calls a Group method, kept so that it can
    be re-armed after Redis lost its timers; ``done`` counts the ticks that
    ran (updated in the tick's own transaction)."""

    class Meta:
        app_label = "otree_redwood"

    timer_id = models.CharField(max_length=200, unique=True)
    gk = models.CharField(max_length=200, db_index=True)
    first_ms = models.FloatField()
    interval_ms = models.FloatField()
    n = models.IntegerField()
    done = models.IntegerField(default=0)
    data = JSONField(null=True)


@contextlib.contextmanager
def fake_lock():
    """Kept for 0.9.x code that imports it; locking is done where it matters."""
    yield


_JSON_FIELDS_CACHE = {}


def _json_field_names(cls):
    names = _JSON_FIELDS_CACHE.get(cls)
    if names is None:
        names = tuple(f.name for f in cls._meta.concrete_fields if isinstance(f, JSONField))
        _JSON_FIELDS_CACHE[cls] = names
    return names


def _json_text(value):
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


class Group(BaseGroup):
    """A group whose members interact in real time through WebSockets.

    Use it instead of oTree's ``BaseGroup``.  Messages that a member's page
    sends on channel ``x`` are stored as :class:`Event` and passed to a method
    ``_on_x_event(self, event)`` if the group defines one.
    """

    class Meta:
        abstract = True

    #: Channels that only the server may send on in this app (a tuple of
    #: names), besides the built-in ones: a participant's message on one of
    #: them is refused with an error, never stored or dispatched.
    server_only_channels = ()

    #: Set when when_all_players_ready() has run: it runs once per group.
    ran_ready_function = models.DateTimeField(null=True)
    #: Every Event of this group.
    events = GenericRelation(Event, content_type_field="content_type", object_id_field="group_pk")

    # Instance attributes set with object.__setattr__ (oTree rejects
    # undeclared attributes, and flags plain class attributes):
    # _redwood_json_snapshot: the JSON fields as loaded, to notice in-place changes
    # _redwood_t0: start of the period (ms since the epoch) while it is set up

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._redwood_take_snapshot()

    def _redwood_take_snapshot(self):
        snap = {name: _json_text(getattr(self, name)) for name in _json_field_names(type(self))}
        object.__setattr__(self, "_redwood_json_snapshot", snap)

    # ----- hooks an experiment overrides -----
    def period_length(self):
        """Seconds from ``period_start`` to ``period_end``; None: no end."""
        return None

    def post_round_delay(self):
        """Seconds the page waits after ``period_end`` before moving on."""
        return 1

    def when_all_players_ready(self):
        """Runs once, when every member of the group has connected."""

    def when_player_disconnects(self, player):
        """Runs when a member's last socket closes."""

    # ----- methods -----
    @property
    def app_name(self):
        return self._meta.app_config.name

    def save(self, *args, **kwargs):
        """Save, including JSON fields changed in place since the load.

        oTree saves only the fields that were assigned; a dict mutated in
        place is not assigned.  Comparing each JSON field with its snapshot
        at save time finds those changes without writing unchanged fields.
        """
        snap = getattr(self, "_redwood_json_snapshot", None) or {}
        changed = []
        for name in _json_field_names(type(self)):
            if _json_text(getattr(self, name)) != snap.get(name):
                changed.append(name)
                if not self._state.adding:
                    self._update_fields.add(name)
        super().save(*args, **kwargs)
        self._redwood_take_snapshot()
        if changed:
            self._redwood_json_saved(changed)

    def _redwood_json_saved(self, names):
        """Called after JSON fields were saved (DecisionGroup mirrors to Redis)."""

    def send(self, channel, payload):
        """Store an Event on ``channel`` and broadcast it to the whole group."""
        return messaging.send_sync(self, channel, payload)

    def send_to(self, player, channel, payload):
        """Store an Event and deliver it to one member only.

        ``player`` is a Player, a Participant or a participant code.  Other
        members never receive it; it is replayed to that member alone.
        """
        return messaging.send_sync(self, channel, payload, recipient=player)

    def _state_time(self, state):
        event = (
            self.events.filter(channel="state", value=state)
            .order_by("timestamp", "id")
            .first()
        )
        return event.timestamp if event else None

    def get_start_time(self):
        """Time of this group's ``period_start``, or None."""
        return self._state_time("period_start")

    def get_end_time(self):
        """Time of this group's ``period_end``, or None."""
        return self._state_time("period_end")



class DecisionGroup(Group):
    """A Group whose members each hold one decision.

    Messages on the ``decisions`` channel set the sender's entry of
    :attr:`group_decisions`; the map is broadcast back on ``group_decisions``:
    at once, once per sub-period (``num_subperiods``) or at most once per
    ``rate_limit`` seconds.
    """

    class Meta:
        abstract = True

    #: Map from participant code to their current decision.
    group_decisions = JSONField(null=True)
    #: Copy of group_decisions at the end of each sub-period.
    subperiod_group_decisions = JSONField(null=True)
    #: Declared as in 0.9.x, so it stays a column of every DecisionGroup table
    #: and of oTree's per-app CSV.  0.9.x used it as the rate limit's "changed
    #: since the last broadcast" flag; that flag now lives in Redis, next to
    #: the live map, and this column always stays False.
    _group_decisions_updated = models.BooleanField(default=False)

    def num_subperiods(self):
        """Override to turn on sub-periods. None by default."""
        return None

    def rate_limit(self):
        """Override to limit broadcasts: minimum seconds between two ``group_decisions``."""
        return None

    def when_all_players_ready(self):
        """Sets each member's decision from ``player.initial_decision()``; starts sub-periods."""
        super().when_all_players_ready()
        initial_map = {}
        # the participants come with the players (one query, not one per
        # member: a lab whose groups all start at once felt it); when the
        # server started many groups at once it loaded them all together
        players = getattr(self, "_prefetched_objects_cache", {}).get("player_set")
        if players is None:
            players = self.player_set.select_related("participant").order_by("id_in_group")
        for player in players:
            initial = getattr(player, "initial_decision", None)
            initial_map[player.participant.code] = initial() if callable(initial) else None
        self.group_decisions = initial_map
        self.subperiod_group_decisions = dict(initial_map)
        self.save()
        actions.start_subperiods(self)

    def _redwood_json_saved(self, names):
        if "group_decisions" in names:
            # A map the app changed itself during the period (a 0.9.x-style
            # handler that sets group_decisions and _group_decisions_updated,
            # then saves) counts as a change: under a rate limit the next
            # grid tick broadcasts it, as 0.9.x's tick did.
            by_app = self.ran_ready_function is not None and getattr(self, "_redwood_t0", None) is None
            livestate.store_decisions_sync(host.current().info_for(self), self.group_decisions or {},
                                           changed=by_app)

    def _subperiod_tick(self, current_interval, intervals):
        """End of sub-period ``current_interval`` (from 0) of ``intervals``.

        Stores and broadcasts the map standing now and copies it to
        :attr:`subperiod_group_decisions`, as 0.9.x did.  An app may override
        it (calling ``super()``) to act at each sub-period end; without an
        override the server does the same work without loading the group.
        """
        import json

        seq, map_json = livestate.snapshot_sync(host.current().info_for(self))
        if seq is None:
            return
        lifecycle.write_subperiod(self, seq, map_json)
        value = json.loads(map_json)
        object.__setattr__(self, "group_decisions", value)
        object.__setattr__(self, "subperiod_group_decisions", dict(value))
        self._redwood_take_snapshot()

    def _on_decisions_event(self, event=None, **kwargs):
        """Set the sender's decision and broadcast (or defer, when rate limited).

        A decision that arrives before :meth:`when_all_players_ready` has run
        is ignored, as in 0.9.x (the Event itself is stored).
        """
        if not self.ran_ready_function:
            logger.warning("ignoring decision of %s in group %s before when_all_players_ready",
                           event.participant.code, self.pk)
            return
        decisions.apply_decision_sync(self, event.participant.code, event.value)

    def get_group_decisions_events(self):
        """Every ``group_decisions`` Event of this group, oldest first."""
        return list(self.events.filter(channel="group_decisions").order_by("timestamp", "id"))
