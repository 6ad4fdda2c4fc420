"""The oTree 3 / Django host: the engine's Host interface on Django's ORM.

Everything the engine stores or reads goes through here: raw multi-row
statements on the hot path (no model instances), the dispatch of a client's
message to ``_on_<channel>_event`` on a row-locked group, the queries of
connect, replay and Redis seeding, the guard that runs
``when_all_players_ready`` once, and the records of connections and
emitters.  Importing this module installs the host (models.py imports it,
so every Django process that loads the app has it).
"""
import collections
import logging
import uuid

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Prefetch, Q
from django.db.utils import OperationalError, ProgrammingError
from django.utils import timezone

from . import dbthreads, groups
from .engine import conf, host, keys, messaging, protocol
from .engine.clock import epoch_ms, from_epoch_ms
from .engine.groupinfo import StoredEvent, by_table, chunks

logger = logging.getLogger(__name__)

_EVENT_COLUMNS = ("timestamp", "content_type", "group_pk", "channel", "participant", "value", "seq")
_INSERT_CHUNK = 100  # rows per statement (SQLite allows 999 parameters)


def _models():
    from . import models

    return models


def _stored(event):
    return StoredEvent(event.channel, event.value, event.seq, epoch_ms(event.timestamp), event.recipient_id)


def _events(info):
    return _models().Event.objects.filter(content_type_id=info.ct_id, group_pk=info.pk)


def _load_namespace():
    RedisNamespace = _models().RedisNamespace
    try:
        row = RedisNamespace.objects.order_by("pk").first()
    except (OperationalError, ProgrammingError):
        # a database made before this table existed (syncdb adds missing
        # tables only on reset): add it rather than fail every key
        if connection.in_atomic_block:
            raise
        with connection.schema_editor() as editor:
            editor.create_model(RedisNamespace)
        row = None
    if row is not None:
        return row.key
    try:
        with transaction.atomic():
            return RedisNamespace.objects.create(pk=1, key=uuid.uuid4().hex[:12]).key
    except IntegrityError:  # another process made it first
        return RedisNamespace.objects.get(pk=1).key


def insert_event_rows(rows):
    """Store events with multi-row INSERTs, without building model instances.

    ``rows`` are tuples in the order of _EVENT_COLUMNS, with an aware
    datetime first and the value as JSON text (what the JSON field would
    write); this is the hot path of every decision and timer tick.
    """
    if not rows:
        return
    ops = connection.ops
    quote = ops.quote_name
    meta = _models().Event._meta
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


def _update_rows(model, names, rows):
    """UPDATE t SET f = CASE id WHEN .. THEN .. END, ... WHERE id IN (..)."""
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



_claim_statements = {}


def _claim_sql(model):
    """``UPDATE <group table> SET ran_ready_function = %s WHERE <pk> = %s AND ran_ready_function IS NULL``."""
    sql = _claim_statements.get(model)
    if sql is None:
        qn = connection.ops.quote_name
        meta = model._meta
        col = qn(meta.get_field("ran_ready_function").column)
        sql = _claim_statements[model] = "UPDATE %s SET %s = %%s WHERE %s = %%s AND %s IS NULL" % (
            qn(meta.db_table), col, qn(meta.pk.column), col)
    return sql

class Otree3Host(host.Host):
    """oTree 3.4 / Django 2.2 (see the module doc)."""

    name = "otree3"

    def on_install(self):
        conf.set_source(lambda: getattr(settings, "REDWOOD", None))
        keys.set_namespace_loader(_load_namespace)

    # ---- threads and transactions

    def db_sync(self, fn):
        return dbthreads.db_sync(fn)

    def atomic(self):
        return transaction.atomic()

    def on_commit(self, fn):
        transaction.on_commit(fn)

    # ---- groups

    def info_for(self, group):
        return groups.info_for(group)

    def cached_info(self, gk):
        return groups.cached_key(gk)

    def build_infos(self, gks, siblings=True):
        return groups.build_infos(gks, siblings=siblings)

    def load_group(self, gk, lock=False):
        return groups.load_by_key(gk, lock=lock)

    def load_for_ready(self, infos):
        by_model = by_table(infos, "model")
        out = {}
        for model, gks in by_model.items():
            for chunk in chunks(gks):
                # the session and the players with their participants come
                # along: hooks read them (DecisionGroup's reads the players)
                players = model.player_set.rel.related_model.objects.select_related("participant")
                rows = (model.objects.filter(pk__in=chunk, ran_ready_function__isnull=True)
                        .select_related("session")
                        .prefetch_related(Prefetch("player_set", queryset=players.order_by("id_in_group"))))
                for group in rows:
                    out[gks[group.pk]] = group
        return out

    def claim_loaded(self, info, group, t0_ms):
        started = from_epoch_ms(t0_ms)
        # one UPDATE that only one caller can win (in SQL: a lab start runs
        # it once per group, and building the queryset cost more than the
        # statement)
        with connection.cursor() as cursor:
            cursor.execute(_claim_sql(info.model), [connection.ops.adapt_datetimefield_value(started), info.pk])
            won = cursor.rowcount == 1
        if not won:
            return False
        object.__setattr__(group, "ran_ready_function", started)
        return True

    def start_times(self, infos):
        by_model = by_table(infos, "model")
        out = {}
        for model, gks in by_model.items():
            for chunk in chunks(gks):
                for pk, t in model.objects.filter(pk__in=chunk).values_list("pk", "ran_ready_function"):
                    out[gks[pk]] = epoch_ms(t) if t is not None else None
        return out

    def group_state(self, info):
        row = info.model.objects.filter(pk=info.pk).first()
        if row is None:
            return None
        started = epoch_ms(row.ran_ready_function) if row.ran_ready_function is not None else None
        return started, getattr(row, "group_decisions", None)

    def group_states(self, infos):
        by_model = by_table(infos, "model")
        out = {}
        for model, gks in by_model.items():
            names = ["pk", "ran_ready_function"] + (["group_decisions"] if hasattr(model, "group_decisions") else [])
            for chunk in chunks(gks):
                for row in model.objects.filter(pk__in=chunk).values_list(*names):
                    started = epoch_ms(row[1]) if row[1] is not None else None
                    out[gks[row[0]]] = (started, row[2] if len(row) > 2 else None)
        return out

    def write_group(self, group, fields):
        type(group).objects.filter(pk=group.pk).update(**fields)
        self.set_live(group, fields)

    def set_live(self, group, fields):
        for name, value in fields.items():
            object.__setattr__(group, name, value)
        group._redwood_take_snapshot()

    def update_rows(self, backlog):
        by_shape = collections.defaultdict(list)
        for (model, pk), fields in backlog.items():
            by_shape[(model, tuple(sorted(fields)))].append((pk, fields))
        for (model, names), rows in by_shape.items():
            for i in range(0, len(rows), 200):
                _update_rows(model, names, rows[i:i + 200])

    def running_periods(self):
        from django.apps import apps
        from django.contrib.contenttypes.models import ContentType

        models = _models()
        out = []
        for model in apps.get_models():
            if not issubclass(model, models.Group) or model._meta.abstract:
                continue
            app_name = model._meta.app_config.name
            started = dict(model.objects.filter(ran_ready_function__isnull=False)
                           .values_list("pk", "ran_ready_function"))
            if not started:
                continue
            ct = ContentType.objects.get_for_model(model)
            ended = set(models.Event.objects.filter(content_type=ct, channel="state", value=protocol.STATE_PERIOD_END)
                        .values_list("group_pk", flat=True))
            pks = [pk for pk in started if pk not in ended]
            if not pks:
                continue
            groups.build_infos([groups.group_key(app_name, pk) for pk in pks])
            for pk in pks:
                info = groups.cached(app_name, pk)
                if info is not None:
                    out.append((info, epoch_ms(started[pk])))
        return out

    # ---- the event log

    def insert_events(self, rows):
        insert_event_rows([(from_epoch_ms(t), info.ct_id, info.pk, channel, pid, value_json, seq)
                           for t, info, channel, pid, value_json, seq in rows])

    def store_server_event(self, info, channel, value, seq, t_ms, recipient_id):
        event = _models().Event(
            timestamp=from_epoch_ms(t_ms), content_type_id=info.ct_id, group_pk=info.pk,
            channel=channel, value=value, seq=seq, recipient_id=recipient_id,
        )
        event.save()
        return event

    def recipient(self, recipient):
        from otree.models import Participant

        if isinstance(recipient, str):
            p = Participant.objects.only("id", "code").get(code=recipient)
            return p.id, p.code
        if isinstance(recipient, Participant):
            return recipient.id, recipient.code
        participant = getattr(recipient, "participant", None)
        if participant is not None:
            return participant.id, participant.code
        raise TypeError("recipient must be a Player, a Participant or a participant code")

    def dispatch(self, item, refresh):
        from otree.models import Participant

        Event = _models().Event
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
            refresh(group)
            getattr(group, "_on_%s_event" % item.channel)(event)

    def latest_states(self, infos):
        Event = _models().Event
        by_ct = by_table(infos, "ct_id")
        latest = {}
        for ct_id, gks in by_ct.items():
            for chunk in chunks(gks):
                for e in Event.objects.filter(content_type_id=ct_id, group_pk__in=chunk, channel="state"):
                    gk = gks[e.group_pk]
                    best = latest.get(gk)
                    if best is None or (e.timestamp, e.id) > (best.timestamp, best.id):
                        latest[gk] = e
        return {gk: _stored(e) for gk, e in latest.items()}

    def last_map(self, info):
        last = _events(info).filter(channel="group_decisions").exclude(seq=None).order_by("-seq").first()
        return _stored(last) if last is not None else None

    def last_maps(self, infos):
        Event = _models().Event
        by_ct = by_table(infos, "ct_id")
        out = {}
        for ct_id, gks in by_ct.items():
            # 2 variables per group in the second query (SQLite allows 999)
            for chunk in chunks(gks, 300):
                maps = Event.objects.filter(content_type_id=ct_id, channel="group_decisions")
                # order_by(): Event's default ordering would join the GROUP BY (Django 2.2)
                tops = (maps.filter(group_pk__in=chunk, seq__isnull=False).order_by().values("group_pk")
                        .annotate(top=Max("seq")).values_list("group_pk", "top"))
                wanted = Q()
                for pk, top in tops:
                    wanted |= Q(group_pk=pk, seq=top)
                if wanted:
                    for e in maps.filter(wanted):
                        out[gks[e.group_pk]] = _stored(e)
        return out

    def missed(self, info, last_seq, participant_id, limit):
        qs = _events(info).filter(seq__gt=last_seq).filter(
            Q(recipient_id__isnull=True) | Q(recipient_id=participant_id))
        newest = list(qs.order_by("-seq")[:limit])
        newest.reverse()
        return [_stored(e) for e in newest]

    def recent(self, info, since_ms, limit):
        qs = _events(info).filter(seq__isnull=False, timestamp__gte=from_epoch_ms(since_ms))
        newest = list(qs.order_by("-seq")[:limit])
        newest.reverse()
        return [_stored(e) for e in newest]

    def max_seq(self, info):
        return _events(info).aggregate(m=Max("seq"))["m"] or 0

    def max_seqs(self, infos):
        Event = _models().Event
        by_ct = by_table(infos, "ct_id")
        out = {}
        for ct_id, gks in by_ct.items():
            for chunk in chunks(gks):
                # order_by(): Event's default ordering would join the GROUP BY (Django 2.2)
                tops = (Event.objects.filter(content_type_id=ct_id, group_pk__in=chunk, seq__isnull=False)
                        .order_by().values("group_pk").annotate(top=Max("seq")).values_list("group_pk", "top"))
                for pk, top in tops:
                    out[gks[pk]] = top
        return out

    def decisions_after(self, info, after_ms, participant_ids):
        later = _events(info).filter(channel="decisions", timestamp__gt=from_epoch_ms(after_ms),
                                     participant_id__in=list(participant_ids))
        return list(later.order_by("timestamp", "id").values_list("participant_id", "value"))

    def period_ended(self, info):
        return _events(info).filter(channel="state", value=protocol.STATE_PERIOD_END).exists()

    def maps_since(self, info, since_ms):
        return _events(info).filter(channel="group_decisions", timestamp__gte=from_epoch_ms(since_ms)).count()

    # ---- connections

    def record_connections(self, participant_ids, process):
        Connection = _models().Connection
        now = timezone.now()
        try:
            with transaction.atomic():
                for chunk in chunks(participant_ids):
                    rows = Connection.objects.filter(participant_id__in=chunk)
                    there = set(rows.values_list("participant_id", flat=True))
                    if there:
                        Connection.objects.filter(participant_id__in=there).update(connected_at=now, process=process)
                    Connection.objects.bulk_create([Connection(participant_id=pid, connected_at=now, process=process)
                                                    for pid in chunk if pid not in there])
        except IntegrityError:
            # another process made a row of one of them meanwhile: one by one
            for pid in participant_ids:
                Connection.objects.update_or_create(participant_id=pid,
                                                    defaults={"connected_at": now, "process": process})

    def forget_connection(self, participant_id):
        _models().Connection.objects.filter(participant_id=participant_id).delete()

    def connection_processes(self):
        return set(_models().Connection.objects.values_list("process", flat=True).distinct())

    def forget_processes(self, processes):
        n, _ = _models().Connection.objects.filter(process__in=list(processes)).delete()
        return n

    def player_of(self, group, participant_id):
        return group.player_set.filter(participant_id=participant_id).first()

    # ---- emitters

    def save_emitter(self, timer_id, gk, first_ms, interval_ms, n, data):
        _models().EmitterRecord.objects.update_or_create(timer_id=timer_id, defaults=dict(
            gk=gk, first_ms=first_ms, interval_ms=interval_ms, n=n, done=0, data=data))

    def emitters(self, gks):
        rows = _models().EmitterRecord.objects.filter(gk__in=list(gks))
        return [(r.timer_id, r.gk, r.first_ms, r.interval_ms, r.n, r.done, r.data) for r in rows]

    def count_emitter_tick(self, timer_id, k, total):
        records = _models().EmitterRecord.objects.filter(timer_id=timer_id)
        counted = records.filter(done__lte=k).update(done=min(k + 1, total))
        return bool(counted), bool(counted) or records.exists()

    def delete_emitters(self, gk):
        _models().EmitterRecord.objects.filter(gk=gk).delete()


HOST = host.install(Otree3Host())
