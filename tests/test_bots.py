"""The real-time bots (otree_redwood.bots): they speak the protocol, play a
group's period, report what each member saw, and drive ``otree test``."""
import asyncio
import os
import random
import subprocess

import pytest

from otree_redwood import bots
from tests import harness


pytestmark = pytest.mark.usefixtures("example_configs_installed")


def _db(fn):
    from otree_redwood.engine import runtime

    return runtime.db_sync(fn)()


def _stored_decisions(app, group_pk):
    """{participant code: [decision, ...]} of the decisions Events in the database."""
    from otree_redwood.groups import get_group_model
    from otree_redwood.models import Event

    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(get_group_model(app))
    out = {}
    events = Event.objects.filter(content_type=ct, group_pk=group_pk, channel="decisions")
    for e in events.select_related("participant"):
        out.setdefault(e.participant.code, []).append(e.value)
    return out


# ------------------------------------------------------------ BotState


def _state(code="a"):
    s = bots.BotState(bots.Member(code, 1), "app", 1, random.Random(0))
    s._started, s._ended = asyncio.Event(), asyncio.Event()
    return s


def test_bot_state_follows_the_period_and_the_decisions():
    s = _state("a")
    s._receive({"channel": "group_decisions", "payload": {"a": 0, "b": 1}, "seq": 1, "ts": 10.0})
    assert not s.started and s.other_decision == 1
    s._receive({"channel": "state", "payload": "period_start", "seq": 2, "ts": 20.0})
    s._receive({"channel": "group_decisions", "payload": {"a": 1, "b": 0.5, "c": 0}, "seq": 3, "ts": 21.0})
    assert s.started and not s.ended and s.start_ts == 20.0
    assert s.my_decision == 1
    assert s.other_decisions == {"b": 0.5, "c": 0}
    # as the page computes otherDecision: the first other member of the map
    assert s.other_decision == 0.5 and s.others_mean == pytest.approx(0.25)
    s._receive({"channel": "state", "payload": "period_end", "seq": 4, "ts": 30.0})
    assert s.ended and s.end_ts == 30.0 and s._ended.is_set()
    assert s.history == [(10.0, {"a": 0, "b": 1}), (21.0, {"a": 1, "b": 0.5, "c": 0})]
    assert s.last("state") == "period_end" and s.last("nothing", 7) == 7


def test_bot_state_drops_a_frame_received_twice_but_keeps_unnumbered_ones():
    s = _state()
    frame = {"channel": "state", "payload": "period_start", "seq": 5, "ts": 1.0}
    s._receive(dict(frame))
    s._receive(dict(frame))  # live and replayed on connect
    s._receive({"channel": "error", "payload": {"reason": "x"}})
    s._receive({"channel": "error", "payload": {"reason": "x"}})
    assert s.on("state") == ["period_start"]
    assert s.errors == [{"reason": "x"}, {"reason": "x"}]


def test_after_period_submits_without_looking_for_a_button():
    from continuous_pd import pages

    sub = bots.after_period(pages.Decide)
    assert sub["page_class"] is pages.Decide and sub["check_html"] is False


# ------------------------------------------------------------ in-process play


async def test_bots_play_a_group_and_every_decision_reaches_the_server(make_session):
    session, ((group_pk, codes),) = make_session("continuous_pd", 2, period_length=1.5)

    def strategy(state):
        if state.elapsed > 1.0:
            return None  # quiet at the end: the last maps hold the last decisions
        return state.rng.choice([0, 0.25, 0.5, 1])

    play = await bots.aplay_group("continuous_pd", group_pk, codes, strategy, rate=20, seed=1, period_length=1.5)
    assert play.ended and set(play.members) == set(codes)
    stored = await _db(lambda: _stored_decisions("continuous_pd", group_pk))
    for code, state in play.members.items():
        sent = [p for c, p in state.sent if c == "decisions"]
        assert len(sent) >= 1  # about 20 a second for 1 s, fewer on a loaded machine
        assert stored[code] == sent
        assert state.errors == []
        # the last map every member saw holds this member's last decision
        for other in play.members.values():
            assert other.history[-1][1][code] == sent[-1]
    # the period the bots saw is the one the server stored
    from continuous_pd.models import Group

    start, end = await _db(lambda: (Group.objects.get(pk=group_pk).get_start_time(),
                                    Group.objects.get(pk=group_pk).get_end_time()))
    assert play.start_ts == pytest.approx(start.timestamp() * 1000, abs=1)
    assert play.end_ts == pytest.approx(end.timestamp() * 1000, abs=1)
    assert play.end_ts - play.start_ts >= 1500 - 1  # never early


async def test_several_groups_play_at_once_and_stay_apart(make_session):
    session, groups = make_session("continuous_pd", 6, period_length=1.5)
    assert len(groups) == 3

    def strategy(state):
        # each group plays its own constant: a map from another group would show
        return None if state.elapsed > 1.0 else state.info["value"]

    plays = await bots.aplay_groups(
        [{"group_pk": pk, "members": [bots.Member(c, info={"value": k}) for c in codes]}
         for k, (pk, codes) in enumerate(groups)],
        app_name="continuous_pd", strategy=strategy, rate=10, period_length=1.5,
    )
    assert [p.group_pk for p in plays] == [pk for pk, _ in groups]
    for k, play in enumerate(plays):
        assert play.ended
        for state in play.members.values():
            assert set(state.group_decisions) == set(play.members)
            assert set(state.group_decisions.values()) == {k}
    spans = [(p.start_ts, p.end_ts) for p in plays]
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # the periods overlapped


async def test_custom_channels_and_private_replies_reach_only_their_member(make_session):
    session, ((group_pk, codes),) = make_session("double_auction", 4, period_length=1.5)

    def strategy(state):
        if not state.memory:
            state.memory["sent"] = True
            # every trader sends an order of the wrong side: refused, privately
            state.send("ask" if state.role == "buyer" else "bid", {"price": 50, "ref": state.code})

    members = [bots.Member(c, i + 1, "buyer" if i < 2 else "seller") for i, c in enumerate(codes)]
    play = await bots.aplay_group("double_auction", group_pk, members, strategy, rate=5, period_length=1.5)
    for state in play.members.values():
        assert [r["ref"] for r in state.on("order_rejected")] == [state.code]
        assert "only" in state.on("order_rejected")[0]["reason"]
        assert state.on("book")  # the broadcasts reached everyone


async def test_a_strategy_that_raises_fails_the_play(make_session):
    session, ((group_pk, codes),) = make_session("continuous_pd", 2, period_length=5)

    def strategy(state):
        raise ValueError("my strategy is broken")

    with pytest.raises(ValueError, match="my strategy is broken"):
        await bots.aplay_group("continuous_pd", group_pk, codes, strategy, period_length=5)


async def test_a_period_that_never_ends_is_reported_and_duration_bounds_a_play(make_session):
    session, ((group_pk, codes),) = make_session("benchmark", 2)  # no period end
    with pytest.raises(bots.BotError, match="did not end"):
        await bots.aplay_group("decision_demo", group_pk, codes, lambda s: 0.5, timeout=1.0)

    session, ((group_pk, codes),) = make_session("benchmark", 2)
    loop = asyncio.get_event_loop()
    t0 = loop.time()
    play = await bots.aplay_group("decision_demo", group_pk, codes, lambda s: s.rng.random(), duration=0.6, rate=10)
    assert loop.time() - t0 >= 0.5
    assert all(s.started and not s.ended for s in play.members.values())
    assert all(len(s.sent) >= 3 for s in play.members.values())


async def test_a_refused_socket_is_reported(make_session):
    session, ((group_pk, codes),) = make_session("continuous_pd", 2, period_length=1)
    other_session, ((_, strangers),) = make_session("continuous_pd", 2, period_length=1)
    with pytest.raises(bots.BotError) as exc:
        await bots.aplay_group("continuous_pd", group_pk, [codes[0], strangers[0]], None, timeout=3)
    assert "4003" in str(exc.value) or "not a member" in str(exc.value) or "closed" in str(exc.value)


def test_play_realtime_plays_once_per_group_and_gives_each_bot_its_member(make_session):
    session, ((group_pk, codes),) = make_session("continuous_pd", 2, period_length=1)
    from continuous_pd.models import Player

    class FakePlayerBot:
        def __init__(self, code):
            self.code = code

        @property
        def player(self):
            return Player.objects.get(participant__code=self.code, session=session)

    calls = []

    def strategy(state):
        calls.append(state.code)
        return 0

    first = bots.play_realtime(FakePlayerBot(codes[0]), strategy, rate=10)
    n = len(calls)
    second = bots.play_realtime(FakePlayerBot(codes[1]), strategy, rate=10)
    assert len(calls) == n  # the second bot did not play again
    assert (first.code, second.code) == (codes[0], codes[1])
    assert first.group_play is second.group_play and first.ended and second.ended
    assert {c for c in calls} == set(codes)  # the first bot played both members
    assert not bots._registry  # forgotten once every member's bot has its state


def test_play_realtime_prints_progress_while_the_period_runs(make_session, monkeypatch, capsys):
    session, ((group_pk, codes),) = make_session("continuous_pd", 2, period_length=2)
    from continuous_pd.models import Player

    class FakePlayerBot:
        def __init__(self, code):
            self.code = code

        @property
        def player(self):
            return Player.objects.get(participant__code=self.code, session=session)

    monkeypatch.setattr(bots, "PROGRESS_EVERY", 0.5)
    state = bots.play_realtime(FakePlayerBot(codes[0]), lambda s: s.rng.choice([0, 1]), rate=10)
    bots.play_realtime(FakePlayerBot(codes[1]))
    assert state.ended
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("continuous_pd round 1 group")]
    assert lines, "no progress line"
    # "continuous_pd round 1 group 1: 1.0 s of 2 s, 19 decisions"
    label, _, rest = lines[-1].partition(": ")
    assert label == "continuous_pd round 1 group 1"  # the group's number in its round
    assert " of 2 s, " in rest and rest.endswith(" decisions")
    counts = [int(line.rsplit(", ", 1)[1].split()[0]) for line in lines]
    assert counts == sorted(counts)


# ------------------------------------------------------------ end to end


@pytest.mark.e2e
def test_bots_play_through_a_real_server(make_session, server):
    srv = server()
    session, ((group_pk, codes),) = make_session("decision_demo", 2, period_length=1.5)
    play = bots.play_group("decision_demo", group_pk, codes, lambda s: s.rng.random(),
                           rate=10, server=srv.base, period_length=1.5)
    assert play.ended
    stored = _stored_decisions("decision_demo", group_pk)
    for code, state in play.members.items():
        assert stored[code] == [p for c, p in state.sent if c == "decisions"]
        assert len(stored[code]) >= 5 and state.errors == []


def _example_configs():
    from otree.session import SESSION_CONFIGS_DICT

    from legacy_settings import LEGACY_SESSION_CONFIGS  # the test suite's 0.9.x apps are no examples

    legacy = {c["name"] for c in LEGACY_SESSION_CONFIGS}
    return {name: dict(config) for name, config in SESSION_CONFIGS_DICT.items() if name not in legacy}


@pytest.mark.e2e
def test_otree_test_passes_for_every_example_config(redis_server):
    """``otree test <config>`` (oTree's bot runner) plays every example end to end."""
    names = _example_configs()
    expected = {"decision_demo", "benchmark", "continuous_pd", "subperiod_pd", "mean_matching", "double_auction"}
    assert expected <= set(names)
    env = dict(os.environ)
    env.update({"PATH": harness.BIN + os.pathsep + env.get("PATH", ""),
                "REDWOOD_REDIS_URL": redis_server.url(2), "PYTHONUNBUFFERED": "1"})
    procs = {
        name: subprocess.Popen([os.path.join(harness.BIN, "otree"), "test", name], cwd=harness.EXAMPLE, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for name in names
    }
    failures = []
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=180)
        text = out.decode("utf-8", "replace")
        if proc.returncode != 0 or "Bots completed session" not in text:
            failures.append("%s (exit %s):\n%s" % (name, proc.returncode, text[-3000:]))
            continue
        # every participant went through the real-time page and on to the results
        config = names[name]
        app = config["app_sequence"][0]
        assert text.count("/%s/Results/" % app) == config["num_demo_participants"], text
    assert not failures, "\n\n".join(failures)
