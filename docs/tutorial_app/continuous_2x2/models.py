"""A 2x2 game played in continuous time.

Each player holds a mixed strategy: the probability of playing the first
action ("A").  The row player is id_in_group 1, the column player 2.  A
player's payoff is the flow payoff of the 2x2 matrix, averaged over the
period with each strategy pair weighted by how long it was in force.
"""
from otree.api import BaseConstants, BasePlayer, BaseSubsession

from otree_redwood.bots import is_bot_session
from otree_redwood.models import DecisionGroup
from otree_redwood.payoffs import flow_payoffs

doc = "A continuous-time 2x2 game (tutorial of otree-redwood)."


class Constants(BaseConstants):
    name_in_url = "continuous_2x2"
    players_per_group = 2
    num_rounds = 1
    period_length = 120  # seconds
    bot_period_length = 5  # seconds, for `otree test` (bots)
    # payoff_matrix[row action][column action] = (row payoff, column payoff);
    # action 0 is "A", action 1 is "B".  A prisoner's dilemma:
    payoff_matrix = [
        [(3, 3), (0, 5)],
        [(5, 0), (1, 1)],
    ]


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    def period_length(self):
        if is_bot_session(self.session):
            # `otree test` plays the whole period: keep it short for bots
            return Constants.bot_period_length
        return Constants.period_length


class Player(BasePlayer):
    def initial_decision(self):
        # everybody starts on "A" for sure
        return 1.0

    def other_player(self):
        return self.get_others_in_group()[0]

    def flow_payoff(self, my_decision, other_decision):
        """Expected payoff per unit of time for one pair of mixed strategies."""
        if self.id_in_group == 1:
            p_row, p_col, me = my_decision, other_decision, 0
        else:
            p_row, p_col, me = other_decision, my_decision, 1
        row_probs = (p_row, 1 - p_row)
        col_probs = (p_col, 1 - p_col)
        return sum(
            row_probs[r] * col_probs[c] * Constants.payoff_matrix[r][c][me]
            for r in (0, 1)
            for c in (0, 1)
        )

    def set_payoff(self):
        """Time-weighted average of the flow payoff over the period."""
        # each member has their own flow function (row or column player)
        flows = {p.participant.code: p.flow_payoff for p in self.group.get_players()}
        payoffs = flow_payoffs(self.group, flows, average=True)
        self.payoff = payoffs[self.participant.code]
