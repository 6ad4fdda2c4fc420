"""The pipeline's database statements on oTree 3 / Django: events, group rows, handlers.

Raw multi-row statements on the hot path (no model instances), the
dispatch of a client's message to ``_on_<channel>_event`` on a row-locked
group, and the clean-up of connections left by dead processes.
"""
import logging

from django.db import transaction

from . import lifecycle, messaging, redis_conn
from .models import Event

logger = logging.getLogger(__name__)

_EVENT_COLUMNS = ("timestamp", "content_type", "group_pk", "channel", "participant", "value", "seq")
_INSERT_CHUNK = 100  # rows per statement (SQLite allows 999 parameters)


def _insert_events(rows):
    """Store events with multi-row INSERTs, without building model instances.

    ``rows`` are tuples in the order of _EVENT_COLUMNS, with an aware
    datetime first and the value as JSON text (what the JSON field would
    write); this is the hot path of every decision and timer tick.
    """
    from django.db import connection

    if not rows:
        return
    ops = connection.ops
    quote = ops.quote_name
    meta = Event._meta
    cols = ", ".join(quote(meta.get_field(name).column) for name in _EVENT_COLUMNS)
    one = "(" + ", ".join(["%s"] * len(_EVENT_COLUMNS)) + ")"
    adapt = ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for i in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[i:i + _INSERT_CHUNK]
            params = []
            for row in chunk:
                params.append(adapt(row[0]))
                params.extend(row[1:])
            cursor.execute(
                "INSERT INTO %s (%s) VALUES %s" % (quote(meta.db_table), cols, ", ".join([one] * len(chunk))),
                params,
            )


def _store_decisions(items):
    """Commit the ``decisions`` events of a batch (before Redis applies them)."""
    from .clock import from_epoch_ms

    rows = [(from_epoch_ms(i.t_ms), i.info.ct_id, i.info.pk, "decisions", i.sock.participant_id,
             i.value_json, None) for i in items]
    with transaction.atomic():
        _insert_events(rows)
    for item in items:
        item.pre_stored = True


def _update_rows(model, names, rows):
    """UPDATE t SET f = CASE id WHEN .. THEN .. END, ... WHERE id IN (..)."""
    from django.db import connection

    quote = connection.ops.quote_name
    pk_col = quote(model._meta.pk.column)
    sets, params = [], []
    for name in names:
        field = model._meta.get_field(name)
        whens = []
        for pk, fields in rows:
            whens.append("WHEN %s THEN %s")
            value = fields[name]
            params.extend([pk, str(value) if isinstance(value, messaging.RawJSON) else field.get_prep_value(value)])
        sets.append("%s = CASE %s %s END" % (quote(field.column), pk_col, " ".join(whens)))
    ids = [pk for pk, _ in rows]
    sql = "UPDATE %s SET %s WHERE %s IN (%s)" % (
        quote(model._meta.db_table), ", ".join(sets), pk_col, ", ".join(["%s"] * len(ids))
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + ids)


def _dispatch_inbound(item):
    """Store a client's message, then hand it to ``_on_<channel>_event``."""
    from otree.models import Participant

    from .clock import from_epoch_ms

    info = item.info
    event = Event(
        timestamp=from_epoch_ms(item.t_ms), content_type_id=info.ct_id, group_pk=info.pk,
        channel=item.channel, participant_id=item.sock.participant_id, value=item.payload,
    )
    event.save()
    if item.channel not in info.handlers:
        return
    participant = Participant.objects.get(pk=item.sock.participant_id)
    Event.participant.field.set_cached_value(event, participant)
    with transaction.atomic():
        # the row lock makes handlers of one group take turns across server
        # processes (PostgreSQL); SQLite's BEGIN IMMEDIATE does it (dbtuning)
        group = info.model.objects.select_for_update().get(pk=info.pk)
        lifecycle.refresh_live_state(group)
        getattr(group, "_on_%s_event" % item.channel)(event)


def _clear_dead_connections():
    """Remove Connection rows left by server processes that died."""
    from .models import Connection

    r = redis_conn.get_sync()
    procs = set(Connection.objects.values_list("process", flat=True).distinct())
    if not procs:
        return 0
    procs = sorted(procs)
    alive = r.mget([lifecycle.process_alive_key(p) for p in procs])
    dead = [p for p, a in zip(procs, alive) if not a]
    if not dead:
        return 0
    n, _ = Connection.objects.filter(process__in=dead).delete()
    return n

