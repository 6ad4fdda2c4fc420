from otree.api import Page, WaitPage


class Play(Page):
    pass


class ResultsWait(WaitPage):
    def after_all_players_arrive(self):
        for p in self.group.get_players():
            p.set_payoff()


class Results(Page):
    pass


page_sequence = [Play, ResultsWait, Results]
