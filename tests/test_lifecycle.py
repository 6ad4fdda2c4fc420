"""Group lifecycle, no lost updates, resync, and the JSON save fix."""
import asyncio
import threading

import pytest

from otree_redwood.engine import keys, redis_conn
from otree_redwood.models import Event
from tests.test_consumer import APP, eventually, events_of, started_pair


async def test_ready_runs_once_on_simultaneous_connects(make_session, ws, monkeypatch):
    from decision_demo.models import Group

    calls = []
    original = Group.when_all_players_ready

    def counting(self):
        calls.append(self.pk)
        original(self)

    monkeypatch.setattr(Group, "when_all_players_ready", counting)
    session, groups = make_session(APP, 12)
    # every member of every group connects at the same moment, twice (two tabs)
    clients = await asyncio.gather(*[
        ws(APP, gpk, code) for gpk, codes in groups for code in codes for _ in range(2)
    ])
    for c in clients:
        await c.recv_until(lambda m: m["channel"] == "state")
    await asyncio.sleep(0.3)
    assert sorted(calls) == sorted(gpk for gpk, _ in groups)
    for gpk, _ in groups:
        starts = [e for e in events_of(gpk, "state") if e.value == "period_start"]
        assert len(starts) == 1
        assert Group.objects.get(pk=gpk).ran_ready_function is not None


async def test_not_ready_until_everyone_connected(make_session, ws):
    _, groups = make_session(APP, 2)
    (gpk, (a, b)), = groups
    ca = await ws(APP, gpk, a)
    assert [m for m in await ca.drain(0.5) if m["channel"] == "state"] == []
    cb = await ws(APP, gpk, b)
    assert (await ca.recv_until(lambda m: m["channel"] == "state"))["payload"] == "period_start"
    assert (await cb.recv_until(lambda m: m["channel"] == "state"))["payload"] == "period_start"


async def test_sockets_of_dead_process_do_not_count(make_session, ws):
    """A stale entry (process died without cleanup) never makes a group ready."""
    _, groups = make_session(APP, 2)
    (gpk, (a, b)), = groups
    from otree_redwood.groups import group_key

    redis_conn.get_sync().hset(keys.key("sock", group_key(APP, gpk)), "deadbeef", "%s|dead-process" % b)
    ca = await ws(APP, gpk, a)
    assert [m for m in await ca.drain(0.5) if m["channel"] == "state"] == []
    await ws(APP, gpk, b)
    await ca.recv_until(lambda m: m["channel"] == "state")
    assert not redis_conn.get_sync().hexists(keys.key("sock", group_key(APP, gpk)), "deadbeef")


async def test_latest_state_replayed_first_on_reconnect(make_session, ws):
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    await ca.close()
    again = await ws(APP, gpk, a)
    first = await again.recv()
    assert first["channel"] == "state" and first["payload"] == "period_start"
    second = await again.recv()
    assert second["channel"] == "group_decisions"


async def test_disconnect_hook_only_when_last_socket_closes(make_session, ws, monkeypatch):
    from decision_demo.models import Group

    gone = []
    monkeypatch.setattr(Group, "when_player_disconnects", lambda self, player: gone.append(player.participant.code))
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    second_tab = await ws(APP, gpk, a)
    await second_tab.recv_until(lambda m: m["channel"] == "group_decisions")
    await ca.close()
    await asyncio.sleep(0.3)
    assert gone == []
    from otree_redwood.models import Connection

    assert Connection.objects.filter(participant__code=a).exists()
    await second_tab.close()
    for _ in range(50):
        if gone:
            break
        await asyncio.sleep(0.05)
    assert gone == [a]
    assert not Connection.objects.filter(participant__code=a).exists()


async def test_no_lost_updates_when_everyone_sends_at_once(make_session, ws):
    session, groups = make_session(APP, 4, group_size=4)
    (gpk, codes), = groups
    clients = [await ws(APP, gpk, c) for c in codes]
    for c in clients:
        await c.recv_until(lambda m: m["channel"] == "group_decisions")
    n = 300

    async def hammer(i, client):
        for k in range(n):
            await client.send("decisions", i * 10000 + k)

    await asyncio.gather(*[hammer(i, c) for i, c in enumerate(clients)])
    final = {code: i * 10000 + n - 1 for i, code in enumerate(codes)}
    for c in clients:
        await c.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"] == final, timeout=30)
    from decision_demo.models import Group

    await eventually(lambda: Group.objects.get(pk=gpk).group_decisions == final)
    last = events_of(gpk, "group_decisions")[-1]
    assert last.value == final
    assert len(events_of(gpk, "decisions")) == 4 * n


async def test_resync_replays_what_was_missed(make_session, ws, monkeypatch):
    from decision_demo.models import Group

    def _on_note_event(self, event):
        self.send("note", event.value)

    monkeypatch.setattr(Group, "_on_note_event", _on_note_event, raising=False)
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    last_seen = max(m["seq"] for m in cb.received if "seq" in m)
    await cb.close()
    for i in range(5):
        await ca.send("note", i)
    await ca.send("decisions", 0.11)
    await ca.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.11)
    back = await ws(APP, gpk, b, seq=last_seen)
    frames = await back.drain(0.5)
    notes = [m["payload"] for m in frames if m["channel"] == "note"]
    assert notes == [0, 1, 2, 3, 4]
    assert all(m["seq"] > last_seen for m in frames if m["channel"] == "note")
    # missed messages first, then the latest state and the current decisions
    # (a map already replayed comes once: the client drops the same seq twice)
    channels = [m["channel"] for m in frames]
    assert channels.index("state") > max(i for i, c in enumerate(channels) if c == "note")
    decisions = [m for m in frames if m["channel"] == "group_decisions"]
    assert decisions[-1]["payload"][a] == 0.11


async def test_queries_per_decision(make_session, ws, monkeypatch):
    """Database statements per decision stay below one (batched writes)."""
    from django.db.backends import utils as db_utils

    counter = {"n": 0}
    lock = threading.Lock()
    orig_execute = db_utils.CursorWrapper.execute
    orig_many = db_utils.CursorWrapper.executemany

    def execute(self, *a, **k):
        with lock:
            counter["n"] += 1
        return orig_execute(self, *a, **k)

    def executemany(self, *a, **k):
        with lock:
            counter["n"] += 1
        return orig_many(self, *a, **k)

    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    await asyncio.sleep(0.2)
    monkeypatch.setattr(db_utils.CursorWrapper, "execute", execute)
    monkeypatch.setattr(db_utils.CursorWrapper, "executemany", executemany)
    n = 400
    for i in range(n):
        await ca.send("decisions", i)
    await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == n - 1, timeout=30)
    await asyncio.sleep(0.2)
    per_decision = counter["n"] / n
    print("SQL statements per decision: %.3f (%d for %d decisions)" % (per_decision, counter["n"], n))
    assert len(events_of(gpk, "decisions")) == n
    assert per_decision < 1.0


def test_json_field_mutated_in_place_is_saved(make_session):
    from decision_demo.models import Group

    _, groups = make_session(APP, 2)
    (gpk, (a, b)), = groups
    group = Group.objects.get(pk=gpk)
    group.group_decisions = {a: 1}
    group.save()
    group = Group.objects.get(pk=gpk)
    group.group_decisions[a] = 2  # in place: oTree alone would not save it
    group.save()
    assert Group.objects.get(pk=gpk).group_decisions == {a: 2}


def test_unchanged_json_field_not_written(make_session):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from decision_demo.models import Group

    _, groups = make_session(APP, 2)
    (gpk, _), = groups
    group = Group.objects.get(pk=gpk)
    with CaptureQueriesContext(connection) as ctx:
        group.save()
    assert not [q for q in ctx.captured_queries if "group_decisions" in q["sql"]]


def test_event_message_timestamp_is_utc_epoch_ms(make_session):
    import datetime

    from django.contrib.contenttypes.models import ContentType

    from decision_demo.models import Group

    _, groups = make_session(APP, 2)
    (gpk, _), = groups
    when = datetime.datetime(2020, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
    e = Event.objects.create(
        timestamp=when, content_type=ContentType.objects.get_for_model(Group), group_pk=gpk,
        channel="x", value={"v": 1},
    )
    assert e.message == {
        "timestamp": 1577880000000.0, "group": gpk, "participant": None, "channel": "x", "value": {"v": 1},
    }


def test_fake_lock_runs_the_block_once_and_lets_errors_through():
    """0.9.x code wraps group updates in ``with fake_lock():``."""
    from otree_redwood.models import fake_lock

    ran = []

    def body():
        with fake_lock():
            with fake_lock():  # nested, as a handler calling a helper does
                ran.append(threading.get_ident())

    threads = [threading.Thread(target=body) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(ran) == 4
    with pytest.raises(ValueError):
        with fake_lock():
            raise ValueError("an error inside the block is not swallowed")


async def test_decisions_survive_redis_script_flush(make_session, ws):
    """After Redis lost its scripts (restart, SCRIPT FLUSH) they are loaded again."""
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    await ca.send("decisions", 0.2)
    await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.2)
    redis_conn.get_sync().script_flush()
    await ca.send("decisions", 0.3)
    await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.3)
    assert [e.value for e in events_of(gpk, "decisions")] == [0.2, 0.3]


async def test_rows_of_many_groups_written_behind_with_their_own_maps(make_session, ws):
    from decision_demo.models import Group

    session, groups = make_session(APP, 12)
    clients = {}
    for gpk, codes in groups:
        clients[gpk] = [await ws(APP, gpk, c) for c in codes]
    for cs in clients.values():
        for c in cs:
            await c.recv_until(lambda m: m["channel"] == "group_decisions")
    for i, (gpk, codes) in enumerate(groups):
        await clients[gpk][1].send("decisions", i)
    expected = {gpk: {codes[0]: 0.5, codes[1]: i} for i, (gpk, codes) in enumerate(groups)}
    await eventually(lambda: {g.pk: g.group_decisions for g in Group.objects.filter(pk__in=expected)} == expected)


async def test_runtime_start_tunes_the_garbage_collector(make_session, ws, monkeypatch):
    """Once per process: objects of the started server frozen, collections less often."""
    import gc

    from otree_redwood.engine import gctune

    # the test process runs with GC_TUNING off (conftest): the collector is
    # tuned here and put back afterwards, not frozen for every later test
    monkeypatch.setenv("REDWOOD_GC_TUNING", "1")
    monkeypatch.setattr(gctune, "_gc_tuned", False)
    thresholds = gc.get_threshold()
    try:
        session, groups = make_session("decision_demo", 2)
        (gpk, (a, _)), = groups
        await ws("decision_demo", gpk, a)
        assert gctune._gc_tuned
        assert gc.get_threshold() == gctune.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        # a second start in the same process changes nothing; GC_TUNING=False opts out
        assert gctune.tune_gc() is False
        monkeypatch.setattr(gctune, "_gc_tuned", False)
        monkeypatch.setenv("REDWOOD_GC_TUNING", "0")
        assert gctune.tune_gc() is False
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_last_stored_maps_of_many_groups_in_two_queries(make_session):
    """A lab reconnecting reads each group's last map in two queries, not one per group,
    and gets the map with the highest seq even when groups share seq values."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from otree_redwood import groups as group_lookup
    from otree_redwood.otree3_host import HOST

    _, groups = make_session(APP, 8)
    infos = group_lookup.build_infos([group_lookup.group_key(APP, gpk) for gpk, _ in groups], siblings=False)
    assert len(infos) == 4
    for n, info in enumerate(infos):
        # the same seqs in every group, and the highest stored first
        for seq in [10 + n, 1, 3]:
            Event.objects.create(content_type_id=info.ct_id, group_pk=info.pk, channel="group_decisions",
                                 value={"seq": seq}, seq=seq)
        Event.objects.create(content_type_id=info.ct_id, group_pk=info.pk, channel="group_decisions",
                             value={"live": True}, seq=None)
    with CaptureQueriesContext(connection) as queries:
        got = HOST.last_maps(infos)
    assert len(queries) == 2
    assert {gk: m.value["seq"] for gk, m in got.items()} == {
        info.gk: HOST.last_map(info).value["seq"] for info in infos}
    assert [got[info.gk].seq for info in infos] == [10, 11, 12, 13]
