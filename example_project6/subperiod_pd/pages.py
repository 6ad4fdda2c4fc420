from otree.api import Page, WaitPage

from .models import Constants
from .payoffs import flow_payoff


class Decide(Page):
    """The real-time page: <redwood-period> submits it at the period's end."""

    def vars_for_template(self):
        return {
            "matrix": Constants.matrix,
            "period_length": self.group.period_length(),
            "num_subperiods": self.group.num_subperiods(),
        }


class ResultsWaitPage(WaitPage):
    def after_all_players_arrive(self):
        self.group.set_payoffs()


class Results(Page):
    def vars_for_template(self):
        me = self.participant.code
        maps = self.group.subperiod_history()
        others = [p.participant.code for p in self.group.get_players() if p.participant.code != me]
        label = lambda d: "Cooperate" if d is not None and d >= 0.5 else "Defect"  # noqa: E731
        rows = []
        for k, decisions in enumerate(maps, start=1):
            mine, other = decisions.get(me), decisions.get(others[0])
            points = flow_payoff(mine, other) if None not in (mine, other) else 0
            rows.append({"k": k, "mine": label(mine), "other": label(other), "points": "%.2f" % points})
        # NULL when no sub-period was played: oTree 6 raises on reading a NULL field
        share = self.player.field_maybe_none("cooperation")
        return {"rows": rows, "cooperation_percent": "\u2013" if share is None else "%d%%" % round(share * 100)}


page_sequence = [Decide, ResultsWaitPage, Results]
