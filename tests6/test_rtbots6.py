"""Real-time bots under oTree 6's `otree test`: a tests.py plays the period as on oTree 3.

`otree test rt_bot` in a throwaway project with a real Redis: each round the
first bot of the group plays the whole group's period with a strategy
(otree_redwood.otree6.bots.play_realtime), then every bot submits the page
with after_period.  Two rounds, so the second play runs on a new loop (the
lock2 and runtime hand-over of design-note risk R7).  The bots write what the
play stored (read through the group, in oTree's own session) to a log file.
"""
import json
import textwrap

from conftest import otree_env, run_otree, settings_py
from test_engine_e2e import TEMPLATE, redis_url  # noqa: F401  (fixture)

SETTINGS = settings_py('[dict(name="rt_bot", app_sequence=["rt_bot"], num_demo_participants=2)]',
                       "tests6-rtbots-secret", admin_password=None)

APP = '''
from otree.api import *

from otree_redwood.otree6.bases import DecisionGroup


class C(BaseConstants):
    NAME_IN_URL = "rt_bot"
    PLAYERS_PER_GROUP = 2
    NUM_ROUNDS = 2


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    pass


class Player(BasePlayer):
    pass


def period_length(group):
    return 2


def initial_decision(player):
    return 0.0


class Decision(Page):
    pass


page_sequence = [Decision]
'''

TESTS = '''
import json
import os

from otree.api import Bot

from otree_redwood.otree6.bots import after_period, play_realtime

from . import Decision


def strategy(state):
    # a distinct value per member and round: what was stored can be told apart
    return state.id_in_group + state.calls / 1000.0


class PlayerBot(Bot):
    def play_round(self):
        state = play_realtime(self, strategy, rate=5)
        assert state.ended, state
        group = self.player.group
        me = self.player.participant.id
        stored = [e for e in group.events if e.channel == "decisions" and e.participant_id == me]
        with open(os.environ["RTBOTS_LOG"], "a") as f:
            f.write(json.dumps({
                "round": self.round_number, "code": state.code, "group": group.id,
                "sent": [p for c, p in state.sent if c == "decisions"],
                "stored": [e.value for e in stored],
                "final": group.group_decisions[state.code],
                "seen_final": state.group_decisions.get(state.code),
            }) + "\\n")
        yield after_period(Decision)
'''


def test_otree_test_plays_the_real_time_period_and_stores_the_decisions(tmp_path, redis_url):  # noqa: F811
    r = run_otree(tmp_path, "startproject", "proj", env=otree_env(tmp_path), input="n\n")
    assert r.returncode == 0, r.stdout + r.stderr
    proj = tmp_path / "proj"
    for name, text in {"settings.py": SETTINGS, "rt_bot/__init__.py": APP, "rt_bot/Decision.html": TEMPLATE,
                       "rt_bot/tests.py": TESTS}.items():
        path = proj / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    log = proj / "rtbots.log"
    r = run_otree(proj, "test", "rt_bot", env=otree_env(proj, REDWOOD_REDIS_URL=redis_url, RTBOTS_LOG=str(log)))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "Bots completed session" in out, out
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted((x["round"], x["code"]) for x in lines) == sorted(
        {(x["round"], x["code"]) for x in lines}) and len(lines) == 4  # 2 members x 2 rounds
    for x in lines:
        assert x["sent"], x  # the strategy ran while the period did
        # every decision the bot sent is in the event log, in order
        assert x["stored"] == x["sent"], x
        # the group's stored map holds the member's last decision, as the page saw it
        assert x["final"] == x["sent"][-1] == x["seen_final"], x
    assert {x["group"] for x in lines if x["round"] == 1} != {x["group"] for x in lines if x["round"] == 2}
