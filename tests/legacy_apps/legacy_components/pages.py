from otree.api import Page


class Decide(Page):
    pass


class Results(Page):
    pass


page_sequence = [Decide, Results]
