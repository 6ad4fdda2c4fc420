"""Many sockets connecting at once (a lab starting): their handshakes are
handled together (consumers.py, engine/handshakes.py), and each socket
still gets exactly its own answer, in its own order."""
import asyncio

from otree_redwood.engine import protocol
from otree_redwood.models import Event

APP = "decision_demo"


def period_starts(group_pk):
    from decision_demo.models import Group
    from django.contrib.contenttypes.models import ContentType

    return Event.objects.filter(content_type=ContentType.objects.get_for_model(Group), group_pk=group_pk,
                                channel="state", value=protocol.STATE_PERIOD_START).count()


async def test_a_lab_connecting_at_once_starts_every_group_once(make_session, ws):
    _, groups = make_session(APP, 16)
    _, other = make_session(APP, 2)
    (g_other, (stranger, _)), = other
    g1 = groups[0][0]
    good = [(gpk, code) for gpk, codes in groups for code in codes]
    # refused ones in the same burst: a bad token, a member of another
    # session, a group that does not exist (with a token signed for it)
    bad = [(g1, good[0][1], False, 4003), (g1, stranger, True, 4003), (987654, good[1][1], True, 4004)]
    clients = await asyncio.gather(
        *[ws(APP, gpk, code) for gpk, code in good],
        *[ws(APP, gpk, code, token=token) for gpk, code, token, _ in bad],
    )
    members = {gpk: set(codes) for gpk, codes in groups}
    for (gpk, code), client in zip(good, clients):
        start = await client.recv_until(lambda m: m["channel"] == "state", timeout=30)
        assert start["payload"] == protocol.STATE_PERIOD_START
        first_map = await client.recv_until(lambda m: m["channel"] == "group_decisions", timeout=30)
        assert set(first_map["payload"]) == members[gpk]
        assert not any(m["channel"] == "error" for m in client.received), client.received
    for (_, _, _, code), client in zip(bad, clients[len(good):]):
        err = await client.recv()
        assert err["channel"] == "error", err
        assert await client.recv() is None and client.closed_code == code
    # when_all_players_ready ran exactly once per group
    assert [period_starts(gpk) for gpk, _ in groups] == [1] * len(groups)
    assert period_starts(g_other) == 0


async def test_reconnecting_together_each_gets_its_replay_then_state_then_map(make_session, ws, monkeypatch):
    from decision_demo.models import Group

    def _on_note_event(self, event):
        self.send("note", event.value)

    monkeypatch.setattr(Group, "_on_note_event", _on_note_event, raising=False)
    _, groups = make_session(APP, 8)
    first = [(gpk, a, b, await ws(APP, gpk, a), await ws(APP, gpk, b)) for gpk, (a, b) in groups]
    for _, _, _, ca, cb in first:
        for c in (ca, cb):
            await c.recv_until(lambda m: m["channel"] == "group_decisions", timeout=30)
    # every b leaves; its partner sends notes and a decision meanwhile
    seen = {}
    for gpk, a, b, ca, cb in first:
        seen[gpk] = max(m["seq"] for m in cb.received if "seq" in m)
        await cb.close()
    for i, (gpk, a, b, ca, cb) in enumerate(first):
        for n in range(3):
            await ca.send("note", [i, n])
        await ca.send("decisions", i + 0.25)
    for i, (gpk, a, b, ca, cb) in enumerate(first):
        await ca.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == i + 0.25, timeout=30)
    back = await asyncio.gather(*[ws(APP, gpk, b, seq=seen[gpk]) for gpk, a, b, _, _ in first])
    for i, ((gpk, a, b, _, _), client) in enumerate(zip(first, back)):
        frames = await client.drain(1.0)
        channels = [m["channel"] for m in frames]
        # its own group's notes, only those it missed, in order
        assert [m["payload"] for m in frames if m["channel"] == "note"] == [[i, n] for n in range(3)], frames
        assert all(m["seq"] > seen[gpk] for m in frames if m["channel"] == "note")
        # then the latest state, then the current map
        assert channels.index("state") > max(k for k, c in enumerate(channels) if c == "note"), channels
        assert frames[channels.index("state")]["payload"] == protocol.STATE_PERIOD_START
        decisions = [m for m in frames if m["channel"] == "group_decisions"]
        assert decisions[-1]["payload"][a] == i + 0.25
        assert "error" not in channels
    assert [period_starts(gpk) for gpk, _ in groups] == [1] * len(groups)


async def test_a_hook_that_raises_in_a_batch_takes_back_only_its_own_groups_messages(make_session, ws, monkeypatch):
    """Groups started together publish once the batch is committed; a group
    whose when_all_players_ready() raises takes back what it sent, and the
    other groups of the batch start as usual."""
    from decision_demo.models import Group

    original = Group.when_all_players_ready
    failing = set()

    def hook(self):
        self.send("note", "hello from %s" % self.pk)
        if self.pk in failing:
            raise RuntimeError("this group's hook fails")
        original(self)

    monkeypatch.setattr(Group, "when_all_players_ready", hook)
    _, groups = make_session(APP, 12)
    failing.update(gpk for gpk, _ in groups[1::3])
    clients = await asyncio.gather(*[ws(APP, gpk, code) for gpk, codes in groups for code in codes])
    by_group = {}
    for (gpk, _code), client in zip([(g, c) for g, codes in groups for c in codes], clients):
        by_group.setdefault(gpk, []).append(client)
    for gpk, members in by_group.items():
        if gpk in failing:
            continue
        for client in members:
            note = await client.recv_until(lambda m: m["channel"] == "note", timeout=30)
            assert note["payload"] == "hello from %s" % gpk
            start = await client.recv_until(lambda m: m["channel"] == "state", timeout=30)
            assert start["payload"] == protocol.STATE_PERIOD_START
            assert start["seq"] > note["seq"]
    for gpk in failing:
        for client in by_group[gpk]:
            frames = await client.drain(0.5)
            assert not [m for m in frames if m["channel"] in ("note", "state")], frames
        assert period_starts(gpk) == 0
        assert not Event.objects.filter(group_pk=gpk, channel="note").exists()
    assert [period_starts(gpk) for gpk in by_group if gpk not in failing] == [1] * (len(by_group) - len(failing))
    # the hook runs again on the next connect, and now the group starts
    gpk = sorted(failing)[0]
    failing.clear()
    again = await ws(APP, gpk, dict(groups)[gpk][0])
    note = await again.recv_until(lambda m: m["channel"] == "note", timeout=30)
    assert note["payload"] == "hello from %s" % gpk
    await again.recv_until(lambda m: m["channel"] == "state" and m["payload"] == protocol.STATE_PERIOD_START,
                           timeout=30)
    assert period_starts(gpk) == 1
