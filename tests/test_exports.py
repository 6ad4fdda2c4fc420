"""Exports: the tidy events CSV, the 0.9.x per-app hooks, the events JSON API."""
import csv
import io
import json

import pytest
from asgiref.sync import sync_to_async



def db(fn):
    return sync_to_async(fn, thread_sensitive=True)


def read_csv(response):
    assert response.streaming, "exports are streamed"
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def export_rows(session_code=None):
    from django.test import RequestFactory

    from otree_redwood.exports import EventsCSV

    params = {"session": session_code} if session_code else {}
    response = EventsCSV.as_view()(RequestFactory().get("/redwood/export/events/", params))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = read_csv(response)
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def call_view(View, session_code):
    from django.test import RequestFactory

    return read_csv(View.as_view()(RequestFactory().get("/x/", {"session": session_code})))


def stored_events(group_pk):
    from django.contrib.contenttypes.models import ContentType

    from otree_redwood.groups import get_group_model
    from otree_redwood.models import Event

    ct = ContentType.objects.get_for_model(get_group_model("decision_demo"))
    # no select_related: oTree's pickled fields fail on the null joins
    return list(Event.objects.filter(content_type=ct, group_pk=group_pk).order_by("timestamp", "id"))


async def play(ws, group_pk, a, b, moves):
    """Both members connect, then send ``moves`` [(who, value)] through the sockets."""
    ca = await ws("decision_demo", group_pk, a)
    cb = await ws("decision_demo", group_pk, b)
    for c in (ca, cb):
        await c.recv_until(lambda m: m["channel"] == "state" and m["payload"] == "period_start")
    clients = {a: ca, b: cb}
    expected = {a: 0.5, b: 0.5}
    for who, value in moves:
        expected[who] = value
        await clients[who].send("decisions", value)
        want = dict(expected)
        await ca.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"] == want)
    return ca, cb


async def test_events_csv_equals_stored_events(make_session, ws):
    session, groups = await db(lambda: make_session("decision_demo", 2))()
    (group_pk, (a, b)), = groups
    ca, cb = await play(ws, group_pk, a, b, [(a, 0.1), (b, 0.9), (a, 0.25), (b, {"x": 1, "note": "é,\"q\""})])

    # a private server message, to fill the recipient column
    def private():
        from otree_redwood.groups import get_group_model

        group = get_group_model("decision_demo").objects.get(pk=group_pk)
        group.send_to(b, "hint", {"for": "b only"})

    await db(private)()
    await cb.recv_until(lambda m: m["channel"] == "hint")

    header, rows = await db(lambda: export_rows(session.code))()
    events = await db(lambda: stored_events(group_pk))()
    codes = await db(lambda: dict(__import__("otree.models").models.Participant.objects.values_list("id", "code")))()
    from otree_redwood.exports import EVENT_COLUMNS
    from otree_redwood.models import epoch_ms

    assert header == EVENT_COLUMNS
    assert len(rows) == len(events) > 10
    channels = [r["channel"] for r in rows]
    assert channels.count("decisions") == 4
    assert channels.count("hint") == 1
    id_in_group = {a: "1", b: "2"}
    for row, ev in zip(rows, events):
        assert row["session_code"] == session.code
        assert row["app"] == "decision_demo"
        assert row["round"] == "1"
        assert row["group"] == str(group_pk)
        assert row["id_in_subsession"] == "1"
        assert row["channel"] == ev.channel
        code = codes[ev.participant_id] if ev.participant_id else ""
        assert row["participant_code"] == code
        assert row["id_in_group"] == (id_in_group[code] if code else "")
        assert row["seq"] == ("" if ev.seq is None else str(ev.seq))
        assert row["recipient_code"] == (codes[ev.recipient_id] if ev.recipient_id else "")
        assert row["time_utc"] == ev.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert float(row["time_ms"]) == pytest.approx(epoch_ms(ev.timestamp), abs=0.001)
        assert json.loads(row["value"]) == ev.value
        assert row["subperiod"] == ""  # decision_demo has no sub-periods
    hint = [r for r in rows if r["channel"] == "hint"][0]
    assert hint["recipient_code"] == b and hint["participant_code"] == ""
    # time order, as stored
    times = [float(r["time_ms"]) for r in rows]
    assert times == sorted(times)

    # without ?session= the same rows are part of the export of everything
    _header, everything = await db(lambda: export_rows())()
    mine = [r for r in everything if r["session_code"] == session.code]
    assert mine == rows


async def test_subperiod_index_in_csv(make_session, ws, monkeypatch):
    from otree_redwood.groups import get_group_model

    Group = get_group_model("decision_demo")
    monkeypatch.setattr(Group, "num_subperiods", lambda self: 3, raising=False)
    session, groups = await db(lambda: make_session("decision_demo", 2, period_length=1.5))()
    (group_pk, (a, b)), = groups
    ca = await ws("decision_demo", group_pk, a)
    await ws("decision_demo", group_pk, b)
    await ca.recv_until(lambda m: m["channel"] == "state" and m["payload"] == "period_start")
    await ca.send("decisions", 0.2)
    await ca.recv_until(lambda m: m["channel"] == "state" and m["payload"] == "period_end", timeout=10)

    _header, rows = await db(lambda: export_rows(session.code))()
    maps = [r for r in rows if r["channel"] == "group_decisions"]
    # one map at the end of each of the 3 sub-periods (as in 0.9.x)
    assert [r["subperiod"] for r in maps] == ["1", "2", "3"]
    assert json.loads(maps[-1]["value"]) == {a: 0.2, b: 0.5}
    decision = [r for r in rows if r["channel"] == "decisions"][0]
    assert decision["subperiod"] == "1"
    states = [r for r in rows if r["channel"] == "state"]
    assert [r["subperiod"] for r in states] == ["", ""]


def _fake_hooks(calls):
    def get_output_table_header(groups):
        calls["header_groups"] = [g.pk for g in groups]
        return ["session", "group", "n_events", "first_channel", "participants", "last_map"]

    def get_output_table(events):
        calls.setdefault("tables", []).append([e.pk for e in events])
        if not events:
            return []
        group = events[0].group  # loaded by the export, as 0.9.x apps expect
        maps = [e.value for e in events if e.channel == "group_decisions"]
        codes = sorted({e.participant.code for e in events if e.participant is not None})
        return [[group.session.code, group.pk, len(events), events[0].channel, " ".join(codes),
                 json.dumps(maps[-1], sort_keys=True)]]

    return get_output_table, get_output_table_header


async def test_app_hook_export(make_session, ws, monkeypatch):
    import decision_demo.pages as pages

    from otree_redwood import exports, views

    # no hooks in decision_demo: no per-app export
    assert not hasattr(pages, "get_output_table")
    assert "decision_demo" not in [v.app_name for v in exports.app_export_views()]

    calls = {}
    table, header = _fake_hooks(calls)
    monkeypatch.setattr(pages, "get_output_table", table, raising=False)
    monkeypatch.setattr(pages, "get_output_table_header", header, raising=False)
    found = [v for v in exports.app_export_views() if v.app_name == "decision_demo"]
    assert len(found) == 1
    View = found[0]
    assert issubclass(View, views.AppSpecificExportCSV)
    assert View.url_name == "redwood_export_decision_demo"
    assert View.url_pattern.startswith("^") and View.display_name

    session, groups = await db(lambda: make_session("decision_demo", 4))()
    (g1, (a, b)), (g2, (c, d)) = groups
    await play(ws, g1, a, b, [(a, 0.3), (b, 0.7)])
    await play(ws, g2, c, d, [(d, 0.05)])

    def run():
        from django.db import connection
        from django.test import RequestFactory
        from django.test.utils import CaptureQueriesContext

        request = RequestFactory().get("/x/", {"session": session.code})
        response = View.as_view()(request)
        assert "decision_demo_Events (accessed" in response["Content-Disposition"]
        with CaptureQueriesContext(connection) as queries:
            rows = read_csv(response)
        return rows, len(queries)

    rows, n_queries = await db(run)()
    e1 = await db(lambda: stored_events(g1))()
    e2 = await db(lambda: stored_events(g2))()
    assert calls["header_groups"] == [g1, g2]
    assert calls["tables"] == [[e.pk for e in e1], [e.pk for e in e2]]
    assert rows[0] == ["session", "group", "n_events", "first_channel", "participants", "last_map"]
    assert rows[1] == [session.code, str(g1), str(len(e1)), e1[0].channel, " ".join(sorted([a, b])),
                       json.dumps({a: 0.3, b: 0.7}, sort_keys=True)]
    assert rows[2][:3] == [session.code, str(g2), str(len(e2))]
    assert json.loads(rows[2][5]) == {c: 0.5, d: 0.05}
    # groups, content type, then one query per group: never one per event
    assert n_queries <= 3 + len(groups) + 2

    # the 0.9.x factory call still builds a view class
    Legacy = views.AppSpecificExportCSV("decision_demo", "Demo output", table, header)
    assert isinstance(Legacy, type) and issubclass(Legacy, views.AppSpecificExportCSV)
    assert Legacy.display_name == "Demo output"
    calls.clear()
    legacy_rows = await db(lambda: call_view(Legacy, session.code))()
    assert legacy_rows == rows
    assert len(calls["tables"]) == 2


async def test_events_api_filters_by_app_content_type(make_session, ws):
    session, groups = await db(lambda: make_session("decision_demo", 2))()
    (group_pk, (a, b)), = groups
    await play(ws, group_pk, a, b, [(b, 0.4)])

    def stray_and_fetch():
        # an event of another model that happens to share the group's pk
        # (0.9.x mixed such events into the group)
        from django.contrib.contenttypes.models import ContentType
        from django.test import Client
        from otree.models import Session

        from otree_redwood.models import Event

        Event.objects.create(content_type=ContentType.objects.get_for_model(Session), group_pk=group_pk,
                             channel="stray", value=1)
        response = Client().get("/redwood/api/events/session/%s/" % session.code)
        body = b"".join(response.streaming_content)
        return response, json.loads(body.decode("utf-8"))

    response, data = await db(stray_and_fetch)()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    events = await db(lambda: stored_events(group_pk))()
    assert list(data) == ["decision_demo"]
    assert list(data["decision_demo"]) == [str(group_pk)]
    assert data["decision_demo"][str(group_pk)] == [e.message for e in events]
    assert all(m["channel"] != "stray" for m in data["decision_demo"][str(group_pk)])

    def get_missing():
        from django.test import Client

        return Client().get("/redwood/api/events/session/nosuch/")

    missing = await db(get_missing)()
    assert missing.status_code == 404
