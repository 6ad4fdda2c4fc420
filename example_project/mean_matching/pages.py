from otree.api import Page, WaitPage

from .models import Constants


class Decide(Page):
    """The real-time page: <redwood-period> submits it at the period's end."""

    def vars_for_template(self):
        group = self.group
        return {
            "matrix": Constants.matrix,
            "period_length": group.period_length(),
            "num_others": len(group.get_players()) - 1,
            "max_per_second": round(1 / group.rate_limit()) if group.rate_limit() else 0,
        }


class ResultsWaitPage(WaitPage):
    def after_all_players_arrive(self):
        self.group.set_payoffs()


class Results(Page):
    def vars_for_template(self):
        hawk = self.player.hawk
        return {
            "hawk_percent": None if hawk is None else round(hawk * 100),
            "equilibrium_percent": round(Constants.equilibrium * 100),
        }


page_sequence = [Decide, ResultsWaitPage, Results]
