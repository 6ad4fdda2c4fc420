"""The basic promise: a decision reaches the whole group."""


async def test_decision_reaches_both_members(make_session, ws):
    session, groups = make_session("decision_demo", 2)
    (group_pk, (a, b)), = groups
    ca = await ws("decision_demo", group_pk, a)
    cb = await ws("decision_demo", group_pk, b)
    for c in (ca, cb):
        start = await c.recv_until(lambda m: m["channel"] == "state")
        assert start["payload"] == "period_start"
        initial = await c.recv_until(lambda m: m["channel"] == "group_decisions")
        assert initial["payload"] == {a: 0.5, b: 0.5}
    await ca.send("decisions", 0.7)
    for c in (ca, cb):
        msg = await c.recv_until(lambda m: m["channel"] == "group_decisions")
        assert msg["payload"] == {a: 0.7, b: 0.5}
