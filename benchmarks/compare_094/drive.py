"""Play one period of the comparison app against a running server; dump its log.

Run with the venv of the implementation under test (run.sh does):

    python drive.py --impl 094|ours --project DIR --port PORT \
        --config cmp_plain|cmp_subperiods|cmp_ratelimit --client 094js|oursjs \
        [--script normal|late|burst] [--rep N] --out FILE.json

--impl    which server (ours needs the signed socket token; 0.9.4 has none)
--client  what the page's <redwood-decision> does by itself:
          094js  = 0.9.4's component: ready() sets myDecision = initialDecision,
                   whose observer sends it; redwood-events queues it until the
                   socket opens, so it is the first frame after the open
          oursjs = ours: the initial decision is not sent, and a decision sent
                   before the page received any `state` frame is sent once more
                   when period_start arrives (the server ignored the first one)
Both clients then play the same script; times are relative to t0, the moment
the first client receives state/period_start:
    P1 connects; 0.4 s later P1 sends 0.15 (before the period starts);
    0.4 s later P2 connects (the period starts)
    t0+0.2 P1 0.30 | t0+0.3 P2 0.40 | t0+0.7 P1 0.35 | t0+1.7 P2 0.45
    t0+2.2 P1 0.60 | t0+2.3 P2 0.65 | nothing until the end (period is 4 s)
    t0+4.6 P1 0.90 (after period_end)
--script late   adds t0+3.85 P1 0.70 and t0+3.9 P2 0.75 (inside the last
                rate-limit interval / sub-period)
--script burst  adds, at t0+1.0, --burst decisions from each member sent back
                to back (enough to put a server process behind by more than
                one batch: overload handling)
The times keep >= 0.2 s away from the 0.5 s rate-limit ticks and the 1 s
sub-period ends of either implementation, so jitter does not change outcomes.
"""
import argparse
import asyncio
import datetime
import json
import os
import sys
import time

SCRIPT = [  # (seconds after t0, member, value)
    (0.2, 1, 0.30),
    (0.3, 2, 0.40),
    (0.7, 1, 0.35),
    (1.7, 2, 0.45),
    (2.2, 1, 0.60),
    (2.3, 2, 0.65),
    # after period_end (stored at t0+4.0): 0.9.x pages heard of period_end late
    # (its timer thread's broadcast waited for the server loop), so they still sent
    (4.6, 1, 0.90),
]
PRE_START = (1, 0.15)
LATE = [(3.85, 1, 0.70), (3.9, 2, 0.75)]
BURST_AT = 1.0


def setup_django(project):
    sys.path.insert(0, project)
    os.chdir(project)
    from otree_startup import configure_settings

    configure_settings("settings")
    import django

    django.setup()


def make_session(config):
    from django.apps import apps
    from otree.session import create_session

    session = create_session(config, num_participants=2)
    Player = apps.get_app_config("cmpapp").get_model("Player")
    players = list(Player.objects.filter(session=session).select_related("participant").order_by("id_in_group"))
    codes = [p.participant.code for p in players]
    return session.code, players[0].group_id, codes, [p.initial_decision() for p in players]


def socket_url(impl, port, group_pk, code):
    path = "/redwood/app-name/cmpapp/group/%s/participant/%s/" % (group_pk, code)
    if impl == "ours":
        from otree_redwood.groups import socket_token

        path += "?token=" + socket_token(code, "cmpapp", group_pk)
    return "ws://127.0.0.1:%d%s" % (port, path)


def now_ms():
    return time.time() * 1000.0


class Member:
    def __init__(self, label, url, sent):
        self.label, self.url, self.sent = label, url, sent
        self.frames = []  # (client ms, frame)
        self.saw_state = False
        self.unheard = None  # a decision sent before any state frame (oursjs resends it)
        self.got_start = asyncio.Event()
        self.got_end = asyncio.Event()

    async def open(self):
        import websockets

        self.ws = await websockets.connect(self.url, max_size=None)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for text in self.ws:
                msg = json.loads(text)
                self.frames.append((now_ms(), msg))
                if msg.get("channel") == "state":
                    self.saw_state = True
                    if msg.get("payload") == "period_start":
                        self.got_start.set()
                    elif msg.get("payload") == "period_end":
                        self.got_end.set()
        except Exception as exc:  # the socket closed: record how
            self.frames.append((now_ms(), {"_closed": repr(exc)}))

    async def send(self, value, why="script"):
        if not self.saw_state:
            self.unheard = value
        await self.ws.send(json.dumps({"channel": "decisions", "payload": value}))
        self.sent.append({"client_ms": now_ms(), "member": self.label, "value": value, "why": why})


async def burst(member, count, base):
    for i in range(count):
        await member.send(round(base + i / 1000.0, 3), "burst")


async def play(impl, port, group_pk, codes, initial, client, script, burst_n):
    sent = []
    p1 = Member("P1", socket_url(impl, port, group_pk, codes[0]), sent)
    p2 = Member("P2", socket_url(impl, port, group_pk, codes[1]), sent)
    members = {1: p1, 2: p2}
    await p1.open()
    if client == "094js":
        await p1.send(initial[0], "094js initial")
    await asyncio.sleep(0.4)
    await p1.send(PRE_START[1], "before start")
    await asyncio.sleep(0.4)
    await p2.open()
    if client == "094js":
        await p2.send(initial[1], "094js initial")
    done, _ = await asyncio.wait(
        [asyncio.ensure_future(p1.got_start.wait()), asyncio.ensure_future(p2.got_start.wait())],
        timeout=15, return_when=asyncio.FIRST_COMPLETED,
    )
    if not done:
        raise SystemExit("no period_start within 15 s")
    t0 = min(ms for m in (p1, p2) for ms, f in m.frames if f.get("payload") == "period_start")
    if client == "oursjs":
        for m in (p1, p2):
            if m.unheard is not None:
                await m.got_start.wait()
                await m.send(m.unheard, "oursjs resent at start")
    steps = [(at, who, value) for at, who, value in SCRIPT]
    if script == "late":
        steps += LATE
    if script == "burst":
        steps.append((BURST_AT, 0, None))
    for at, who, value in sorted(steps, key=lambda s: s[0]):
        delay = t0 / 1000.0 + at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if who == 0:
            await asyncio.gather(burst(p1, burst_n, 0.5), burst(p2, burst_n, 0.6))
        else:
            await members[who].send(value)
    # 0.9.4 delivers period_end from a timer thread: it may come late
    try:
        await asyncio.wait_for(asyncio.gather(p1.got_end.wait(), p2.got_end.wait()), timeout=30)
    except asyncio.TimeoutError:
        pass
    await asyncio.sleep(1.5)
    for m in (p1, p2):
        await m.ws.close()
    await asyncio.sleep(0.3)
    return t0, sent, {m.label: [{"client_ms": ms, "frame": f} for ms, f in m.frames] for m in (p1, p2)}


def epoch_ms(dt):
    return dt.timestamp() * 1000.0


def message_ts_under_tz(event, tz):
    """Event.message['timestamp'] as computed by a server process in time zone tz."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        return event.message["timestamp"]
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def dump(group_pk, codes):
    from django.apps import apps
    from django.conf import settings

    from otree_redwood.models import Event

    Group = apps.get_app_config("cmpapp").get_model("Group")
    label = {codes[0]: "P1", codes[1]: "P2"}
    group = Group.objects.get(pk=group_pk)
    deadline = time.time() + 30
    while time.time() < deadline and not group.events.filter(channel="state", value="period_end").exists():
        time.sleep(0.5)
    # then until the log stops growing (0.9.4 may still be working off a burst)
    count, deadline = -1, time.time() + 60
    while time.time() < deadline:
        time.sleep(1.0)
        n = group.events.count()
        if n == count:
            break
        count = n
    group = Group.objects.get(pk=group_pk)
    events = []
    for e in group.events.all():
        row = {
            "id": e.id,
            "epoch_ms": epoch_ms(e.timestamp),
            "message_timestamp": e.message["timestamp"],
            "channel": e.channel,
            "participant": label.get(e.participant.code) if e.participant_id else None,
            "value": e.value,
        }
        if hasattr(e, "seq"):
            row["seq"] = e.seq
        events.append(row)
    first = group.events.first()
    start, end = group.get_start_time(), group.get_end_time()
    return {
        "group_pk": group_pk,
        "codes": {"P1": codes[0], "P2": codes[1]},
        "event_model_fields": [f.name for f in Event._meta.concrete_fields],
        "event_ordering": list(Event._meta.ordering),
        "TIME_ZONE": settings.TIME_ZONE,
        # 0.9.x computed it with mktime: off by the server process's UTC offset
        "message_ts_minus_true_ms_under_TZ_America_Los_Angeles":
            message_ts_under_tz(first, "America/Los_Angeles") - epoch_ms(first.timestamp),
        "events": events,
        "get_group_decisions_events": [
            {"id": e.id, "epoch_ms": epoch_ms(e.timestamp), "message": e.message}
            for e in group.get_group_decisions_events()
        ],
        "group_row": {
            "group_decisions": group.group_decisions,
            "subperiod_group_decisions": group.subperiod_group_decisions,
            "_group_decisions_updated": getattr(group, "_group_decisions_updated", "<no such field>"),
            "get_start_time": epoch_ms(start) if start else None,
            "get_end_time": epoch_ms(end) if end else None,
        },
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impl", choices=["094", "ours"], required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--client", choices=["094js", "oursjs"], required=True)
    ap.add_argument("--script", choices=["normal", "late", "burst"], default="normal")
    ap.add_argument("--burst", type=int, default=80, help="decisions per member in --script burst")
    ap.add_argument("--rep", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    setup_django(os.path.abspath(a.project))
    session_code, group_pk, codes, initial = make_session(a.config)
    t0, sent, frames = asyncio.get_event_loop().run_until_complete(
        play(a.impl, a.port, group_pk, codes, initial, a.client, a.script, a.burst)
    )
    result = dump(group_pk, codes)
    result.update(impl=a.impl, config=a.config, client=a.client, script=a.script, rep=a.rep, session=session_code,
                  t0_client_ms=t0, sent=sent, received=frames, initial=initial,
                  generated=datetime.datetime.now(datetime.timezone.utc).isoformat())
    with open(out, "w") as f:
        json.dump(result, f, indent=1, default=str)
    print("wrote", out, "events:", len(result["events"]))


if __name__ == "__main__":
    main()
