from otree.api import Page

from .models import Constants


class Decision(Page):
    # <redwood-period> submits this page when the period ends; the payoff
    # is computed then, from the stored group_decisions events
    def before_next_page(self):
        self.player.set_payoff()


class Results(Page):
    def vars_for_template(self):
        return {"period_length": Constants.period_length}


page_sequence = [Decision, Results]
