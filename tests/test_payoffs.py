"""Flow payoffs integrated over time (otree_redwood.payoffs), against hand-computed totals."""
import json

import pytest

from otree_redwood.payoffs import Series, decision_series, flow_payoffs, integrate, mean_of

START = 1_000_000.0  # ms


def at(seconds):
    return START + seconds * 1000.0


def pd_flow(mine, other):
    """Prisoner's dilemma in mixed strategies: cc 3, cd 0, dc 5, dd 1."""
    return 3 * mine * other + 5 * (1 - mine) * other + 1 * (1 - mine) * (1 - other)


def rows_plain():
    # a period of 10 s: the initial map 2 ms after period_start, A defects
    # at 4 s, B follows at 7 s
    return [
        (at(0), "state", "period_start"),
        (at(0.002), "group_decisions", {"A": 1, "B": 1}),
        (at(3.9), "decisions", 0),  # inbound message: ignored, the map counts
        (at(4), "group_decisions", {"A": 0, "B": 1}),
        (at(7), "group_decisions", {"A": 0, "B": 0}),
        (at(10), "state", "period_end"),
    ]


def test_two_players_by_hand():
    series = decision_series(rows_plain())
    # A: 4 s of (c,c) = 12, 3 s of (d,c) = 15, 3 s of (d,d) = 3
    # B: 12 + 3 s of (c,d) = 0 + 3 = 15
    totals = integrate(series, pd_flow)
    assert totals == pytest.approx({"A": 30.0, "B": 15.0})
    assert integrate(series, pd_flow, average=True) == pytest.approx({"A": 3.0, "B": 1.5})


def test_initial_map_counts_from_period_start_and_last_map_to_period_end():
    series = decision_series(rows_plain())
    pieces = list(series)
    assert pieces[0][0] == at(0)  # not at(0.002)
    assert pieces[-1][1] == at(10)
    assert sum(t1 - t0 for t0, t1, _ in pieces) == pytest.approx(10_000.0)


def test_member_who_never_moved_keeps_the_initial_decision():
    rows = [
        (at(0), "state", "period_start"),
        (at(0.001), "group_decisions", {"A": 0.25, "B": 0.5}),
        (at(6), "group_decisions", {"A": 1.0, "B": 0.5}),
        (at(8), "state", "period_end"),
    ]
    own = integrate(decision_series(rows), lambda mine, other: mine)
    # A: 0.25 * 6 + 1.0 * 2 ; B: 0.5 * 8
    assert own == pytest.approx({"A": 3.5, "B": 4.0})


def test_map_stored_before_period_start_is_the_one_in_force_at_the_start():
    rows = [
        (at(-2), "group_decisions", {"A": 1, "B": 0}),
        (at(0), "state", "period_start"),
        (at(5), "group_decisions", {"A": 0, "B": 0}),
        (at(10), "state", "period_end"),
        (at(11), "group_decisions", {"A": 1, "B": 1}),  # after the end: ignored
    ]
    own = integrate(decision_series(rows), lambda mine, other: mine)
    assert own == pytest.approx({"A": 5.0, "B": 0.0})


def test_csv_rows_with_json_text_and_explicit_times():
    rows = [(t, ch, json.dumps(v)) for t, ch, v in rows_plain()]
    series = decision_series(rows)
    assert integrate(series, pd_flow) == pytest.approx({"A": 30.0, "B": 15.0})
    # a shorter window, given explicitly: the first 5 s only
    short = decision_series(rows, start_ms=at(0), end_ms=at(5))
    assert integrate(short, pd_flow) == pytest.approx({"A": 12.0 + 5.0, "B": 12.0})


def test_sub_periods_count_for_their_length():
    # 4 sub-periods of 2.5 s in a 10 s period: one map at each sub-period end
    rows = [
        (at(0), "state", "period_start"),
        (at(2.5), "group_decisions", {"A": 1, "B": 1}),
        (at(5.0), "group_decisions", {"A": 0, "B": 1}),
        (at(7.51), "group_decisions", {"A": 0, "B": 0}),
        (at(10.0), "group_decisions", {"A": 1, "B": 0}),
        (at(10.0), "state", "period_end"),
    ]
    series = decision_series(rows, num_subperiods=4, period_length=10)
    assert [t for t, _ in series.steps] == [at(0), at(2.5), at(5), at(7.5)]
    # A: (3 + 5 + 1 + 0) * 2.5 ; B: (3 + 0 + 1 + 5) * 2.5
    totals = integrate(series, pd_flow)
    assert totals == pytest.approx({"A": 22.5, "B": 22.5})
    # the average is the mean over the sub-periods
    assert integrate(series, pd_flow, average=True) == pytest.approx({"A": 9 / 4, "B": 9 / 4})


def test_sub_periods_skip_an_initial_snapshot():
    rows = [
        (at(0), "state", "period_start"),
        (at(0.01), "group_decisions", {"A": 0, "B": 0}),  # stored at the start
        (at(5), "group_decisions", {"A": 1, "B": 1}),
        (at(10), "group_decisions", {"A": 1, "B": 0}),
        (at(10), "state", "period_end"),
    ]
    series = decision_series(rows, num_subperiods=2, period_length=10)
    own = integrate(series, lambda mine, other: mine)
    assert own == pytest.approx({"A": 10.0, "B": 5.0})


def test_n_players_get_the_others_as_a_map():
    rows = [
        (at(0), "state", "period_start"),
        (at(0), "group_decisions", {"A": 1.0, "B": 0.0, "C": 0.5}),
        (at(2), "group_decisions", {"A": 0.0, "B": 0.0, "C": 0.5}),
        (at(4), "state", "period_end"),
    ]
    series = decision_series(rows)
    seen = []

    def flow(mine, others):
        seen.append(others)
        return mean_of(others)

    totals = integrate(series, flow)
    assert all(isinstance(o, dict) and len(o) == 2 for o in seen)
    # A: mean(B, C) = 0.25 all along -> 1.0 ; B: mean(A, C) = 0.75 then 0.25 -> 2.0
    # C: mean(A, B) = 0.5 then 0 -> 1.0
    assert totals == pytest.approx({"A": 1.0, "B": 2.0, "C": 1.0})


def test_missing_or_null_decision_earns_nothing():
    rows = [
        (at(0), "state", "period_start"),
        (at(0), "group_decisions", {"A": 1.0, "B": None}),
        (at(3), "group_decisions", {"A": 1.0, "B": 1.0}),
        (at(5), "state", "period_end"),
    ]
    own = integrate(decision_series(rows), lambda mine, other: mine + other, codes=["A", "B"])
    # the first 3 s: B has no decision, A has no partner: both earn nothing
    assert own == pytest.approx({"A": 4.0, "B": 4.0})


def test_payoff_function_per_member():
    series = decision_series(rows_plain())
    totals = integrate(series, {"A": lambda m, o: 1.0, "B": lambda m, o: 2.0})
    assert totals == pytest.approx({"A": 10.0, "B": 20.0})


def test_unfinished_period_needs_an_end():
    rows = rows_plain()[:-1]
    with pytest.raises(ValueError, match="period_end"):
        decision_series(rows)
    series = decision_series(rows, end_ms=at(5))
    assert series.seconds == pytest.approx(5.0)
    with pytest.raises(ValueError, match="period_start"):
        decision_series(rows[1:])


def test_series_at():
    series = Series(at(0), at(10), [(at(0), {"A": 1}), (at(4), {"A": 2})])
    assert series.at(at(-1)) is None
    assert series.at(at(3.999)) == {"A": 1}
    assert series.at(at(4)) == {"A": 2}


# ---- a real group ----

async def test_flow_payoffs_of_a_real_group(make_session, ws):
    """A plays 1.0 after a while; B never moves.  Exact to the stored times."""
    from asgiref.sync import sync_to_async

    from decision_demo.models import Group
    from otree_redwood.models import epoch_ms

    _, groups = make_session("decision_demo", 2, period_length=2)
    (gpk, (a, b)), = groups
    ca = await ws("decision_demo", gpk, a)
    cb = await ws("decision_demo", gpk, b)
    for c in (ca, cb):
        await c.recv_until(lambda m: m["channel"] == "group_decisions")
    await ca.send("decisions", 1.0)
    await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"].get(a) == 1.0)
    await ca.recv_until(lambda m: m["channel"] == "state" and m["payload"] == "period_end", timeout=30)

    def compute():
        group = Group.objects.get(pk=gpk)
        start, end = epoch_ms(group.get_start_time()), epoch_ms(group.get_end_time())
        changed = [e for e in group.get_group_decisions_events() if e.value.get(a) == 1.0][0]
        t1 = epoch_ms(changed.timestamp)
        totals = flow_payoffs(group, lambda mine, other: mine)
        return start, end, t1, totals, flow_payoffs(group, lambda mine, other: mine, average=True)

    start, end, t1, totals, average = await sync_to_async(compute)()
    expect_a = 0.5 * (t1 - start) / 1000.0 + 1.0 * (end - t1) / 1000.0
    assert totals == pytest.approx({a: expect_a, b: 0.5 * (end - start) / 1000.0})
    assert average[b] == pytest.approx(0.5)
    assert 0.5 < average[a] < 1.0


async def test_flow_payoffs_of_a_group_that_never_started(make_session):
    from asgiref.sync import sync_to_async

    from decision_demo.models import Group

    _, groups = make_session("decision_demo", 2, period_length=2)
    (gpk, (a, b)), = groups
    totals = await sync_to_async(lambda: flow_payoffs(Group.objects.get(pk=gpk), lambda m, o: 1.0))()
    assert totals == {a: 0.0, b: 0.0}
