from otree.api import Page, WaitPage

from .models import Constants


class Decide(Page):
    """The real-time page: <redwood-period> submits it at the period's end."""

    def vars_for_template(self):
        return {"matrix": Constants.matrix, "period_length": self.group.period_length()}


class ResultsWaitPage(WaitPage):
    def after_all_players_arrive(self):
        self.group.set_payoffs()


class Results(Page):
    def vars_for_template(self):
        share = self.player.cooperation
        return {"cooperation_percent": None if share is None else round(share * 100)}


page_sequence = [Decide, ResultsWaitPage, Results]
