from otree.api import Page, WaitPage

from .models import Constants
from .payoffs import subperiod_payoffs


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
        codes = [p.participant.code for p in self.group.get_players()]
        points = subperiod_payoffs(maps, codes)[me]["points"]
        label = lambda d: "Cooperate" if d is not None and d >= 0.5 else "Defect"  # noqa: E731
        rows = []
        for k, (decisions, pts) in enumerate(zip(maps, points), start=1):
            other = [decisions.get(c) for c in codes if c != me][0]
            rows.append({"k": k, "mine": label(decisions.get(me)), "other": label(other), "points": round(pts)})
        share = self.player.cooperation
        return {"rows": rows, "cooperation_percent": None if share is None else round(share * 100)}


page_sequence = [Decide, ResultsWaitPage, Results]
