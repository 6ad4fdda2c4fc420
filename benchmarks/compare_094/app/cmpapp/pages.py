from otree.api import Page


class Decide(Page):
    pass


page_sequence = [Decide]
