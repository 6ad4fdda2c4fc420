from otree.api import Page


class Decide(Page):
    pass


class Results(Page):
    def vars_for_template(self):
        decisions = self.group.group_decisions or {}
        final = []
        for p in self.group.get_players():
            value = decisions.get(p.participant.code)
            final.append({
                "code": p.participant.code,
                "who": "You" if p.id_in_group == self.player.id_in_group else "Player %d" % p.id_in_group,
                "decision": "\u2013" if value is None else "%.2f" % float(value),
            })
        return {"final": final}


page_sequence = [Decide, Results]
