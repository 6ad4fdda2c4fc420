"""Bots see what pages see: the shared vectors through otree_redwood.engine.client_rules."""
import json
import os
import random

import pytest

from otree_redwood.engine import client_rules

VECTORS = json.load(open(os.path.join(os.path.dirname(__file__), "..", "data", "client_rules.json")))


@pytest.mark.parametrize("case", VECTORS["seq"], ids=[c["name"] for c in VECTORS["seq"]])
def test_seq_rules(case):
    tracker = client_rules.SeqTracker()
    assert [tracker.accept(f) for f in case["frames"]] == case["verdicts"]
    assert tracker.highest == case["highest"]


@pytest.mark.parametrize("case", VECTORS["decisions"])
def test_other_decision_and_mean(case):
    assert client_rules.other_decision_of(case["map"], case["me"]) == case["other"]
    mean = client_rules.others_mean_of(case["map"], case["me"])
    assert mean == pytest.approx(case["mean"]) if case["mean"] is not None else mean is None


def test_bots_use_the_shared_rules():
    from otree_redwood import bots

    state = bots.BotState(bots.Member("a", 1), "app", 1, random.Random(0))
    for frame in VECTORS["seq"][2]["frames"]:
        state._receive(dict(frame, payload={"a": 0.1, "b": frame.get("seq")}))
    # the stale map (seq 8) never replaced the newer one (seq 10); 13 is the last
    assert state.group_decisions == {"a": 0.1, "b": 13}
    assert len(state.history) == 2  # the maps of seq 10 and 13
    state._receive({"channel": "group_decisions", "seq": 14, "payload": {"c": 5, "a": 0.1, "b": 2}})
    assert state.other_decision == 5 and state.others_mean == pytest.approx(3.5)
