"""A member who never connects: the group waits (default), or starts without them."""
import asyncio

from asgiref.sync import sync_to_async

from otree_redwood.engine import absent, timers
from otree_redwood.groups import group_key
from otree_redwood.models import Event
from tests.test_consumer import APP, eventually, events_of


def _redwood_events(gpk):
    return [e.value for e in events_of(gpk, "redwood")]


async def _state(client, payload, timeout=10):
    return await client.recv_until(lambda m: m["channel"] == "state" and m["payload"] == payload, timeout=timeout)


async def test_by_default_the_group_waits_for_the_absent_member(make_session, ws, settings):
    settings.REDWOOD = {}
    _, ((gpk, (a, b)),) = make_session(APP, 2, period_length=30)
    ca = await ws(APP, gpk, a)
    frames = await ca.drain(0.5)
    assert [m for m in frames if m["channel"] == "state"] == []
    # nothing is even scheduled to start it: it waits until b comes
    assert not timers.is_scheduled(absent.timer_id(group_key(APP, gpk)))
    cb = await ws(APP, gpk, b)
    await _state(ca, "period_start")
    await _state(cb, "period_start")
    assert _redwood_events(gpk) == []


async def test_starts_without_the_absent_member_after_the_setting(make_session, ws, settings):
    settings.REDWOOD = {"START_WITHOUT_ABSENT_AFTER": 0.5}
    _, ((gpk, (a, b)),) = make_session(APP, 2, period_length=30)
    ca = await ws(APP, gpk, a)
    start = await _state(ca, "period_start")
    # the initial map holds every member, the absent one with their initial decision
    first_map = await ca.recv_until(lambda m: m["channel"] == "group_decisions")
    assert first_map["payload"] == {a: 0.5, b: 0.5}
    # the record says who was absent, and why
    await eventually(lambda: _redwood_events(gpk) != [])
    assert _redwood_events(gpk) == [{"event": "started_without", "absent": [b], "reason": "timeout"}]
    # the period started no earlier than the wait after a's connect
    from otree_redwood.models import Connection, epoch_ms

    connected_at = epoch_ms(Connection.objects.get(participant__code=a).connected_at)
    assert start["ts"] >= connected_at + 500
    starts = [e for e in events_of(gpk, "state") if e.value == "period_start"]
    assert len(starts) == 1
    # a latecomer joins the running period: the same start, the current map
    ca_move = 0.9
    await ca.send("decisions", ca_move)
    await ca.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"].get(a) == ca_move)
    cb = await ws(APP, gpk, b)
    late = await _state(cb, "period_start")
    assert late["ts"] == start["ts"]
    joined = await cb.recv_until(lambda m: m["channel"] == "group_decisions")
    assert joined["payload"] == {a: ca_move, b: 0.5}
    await cb.send("decisions", 0.1)
    await ca.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"].get(b) == 0.1)


async def test_everyone_connected_in_time_means_no_absent_record(make_session, ws, settings):
    settings.REDWOOD = {"START_WITHOUT_ABSENT_AFTER": 0.3}
    _, ((gpk, (a, b)),) = make_session(APP, 2, period_length=30)
    ca = await ws(APP, gpk, a)
    cb = await ws(APP, gpk, b)
    await _state(ca, "period_start")
    await _state(cb, "period_start")
    # the armed timer fires later and finds the period running: nothing happens
    gk = group_key(APP, gpk)
    for _ in range(100):
        if not timers.is_scheduled(absent.timer_id(gk)):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert _redwood_events(gpk) == []
    assert len([e for e in events_of(gpk, "state") if e.value == "period_start"]) == 1


def _post_start(session_code, app, group, **client_kw):
    from django.test import Client

    return Client(**client_kw).post("/redwood/monitor/session/%s/start/" % session_code, {"app": app, "group": group})


async def test_admin_starts_the_period_now(make_session, ws, settings):
    settings.REDWOOD = {}
    session, ((gpk, (a, b)),) = make_session(APP, 2, period_length=30)
    ca = await ws(APP, gpk, a)
    assert [m for m in await ca.drain(0.3) if m["channel"] == "state"] == []
    response = await sync_to_async(_post_start)(session.code, APP, gpk)
    assert response.status_code == 200 and response.json() == {"scheduled": True}
    await _state(ca, "period_start")
    await eventually(lambda: _redwood_events(gpk) != [])
    assert _redwood_events(gpk) == [{"event": "started_without", "absent": [b], "reason": "admin"}]
    # once started, the button has nothing to do
    again = await sync_to_async(_post_start)(session.code, APP, gpk)
    assert again.json()["scheduled"] is False
    assert Event.objects.filter(channel="state", value="period_start", group_pk=gpk).count() == 1


async def test_start_now_refuses_bad_requests(make_session, settings):
    from django.test import Client

    session, ((gpk, _),) = make_session(APP, 2, period_length=30)
    _, ((other_gpk, _),) = make_session(APP, 2, period_length=30)
    url = "/redwood/monitor/session/%s/start/" % session.code
    get = await sync_to_async(lambda: Client().get(url))()
    assert get.status_code == 405
    for app, group in ((APP, "x"), ("no_such_app", gpk), (APP, other_gpk)):
        r = await sync_to_async(_post_start)(session.code, app, group)
        assert r.status_code == 404, (app, group)
    settings.AUTH_LEVEL = "STUDY"
    r = await sync_to_async(_post_start)(session.code, APP, gpk)
    assert r.status_code == 403
    assert not timers.is_scheduled(absent.timer_id(group_key(APP, gpk)))


def test_wait_seconds_setting(settings):
    settings.REDWOOD = {}
    assert absent.wait_seconds() is None
    settings.REDWOOD = {"START_WITHOUT_ABSENT_AFTER": 90}
    assert absent.wait_seconds() == 90.0
    settings.REDWOOD = {"START_WITHOUT_ABSENT_AFTER": "soon"}
    assert absent.wait_seconds() is None
