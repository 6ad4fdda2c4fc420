"""Two players each hold a number in [0, 1] and see each other's at once."""
from otree.api import BaseConstants, BasePlayer, BaseSubsession

from otree_redwood.models import DecisionGroup

doc = "A minimal continuous-time game: each player moves a slider; the group sees every move."


class Constants(BaseConstants):
    name_in_url = "decision_demo"
    players_per_group = None
    num_rounds = 1
    default_period_length = 60


class Subsession(BaseSubsession):
    def creating_session(self):
        # session config "group_size" regroups the players (benchmarks, tests)
        size = self.session.config.get("group_size")
        if size:
            players = self.get_players()
            self.set_group_matrix([players[i:i + size] for i in range(0, len(players), size)])


class Group(DecisionGroup):
    def period_length(self):
        from otree_redwood.bots import is_bot_session

        if is_bot_session(self.session):
            # `otree test` bots play a short period
            return self.session.config.get("bot_period_length", 3) if self.session.config.get("period_length") else None
        length = self.session.config.get("period_length", Constants.default_period_length)
        return length or None


    def post_round_delay(self):
        # seconds between period_end and the move to the results page
        return self.session.config.get("post_round_delay", 1)


class Player(BasePlayer):
    def initial_decision(self):
        return 0.5
