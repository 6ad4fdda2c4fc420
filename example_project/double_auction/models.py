"""A continuous double auction on custom channels.

Buyers (the first half of the group) send bids on channel ``bid``, sellers
asks on channel ``ask``, either may withdraw its order on ``cancel``; the
group's ``_on_bid_event`` / ``_on_ask_event`` / ``_on_cancel_event`` check
each order (price, role, no trade at a loss, units left), match crossing
orders (see market.py) and:

* broadcast the order book on ``book`` and each trade on ``trade``
  (``self.send``), to the whole group;
* confirm or refuse an order to its trader only (``self.send_to``) on
  ``order_accepted`` / ``order_rejected``.

The book lives in a JSON field of the group, changed in place: the
otree_redwood Group saves JSON fields changed in place.  A page that opens
asks for the current book on ``book_request``.
"""
from jsonfield import JSONField
from otree.api import BaseConstants, BasePlayer, BaseSubsession, models

from otree_redwood.bots import is_bot_session
from otree_redwood.models import Group as RedwoodGroup

from . import market

doc = __doc__


class Constants(BaseConstants):
    name_in_url = "double_auction"
    players_per_group = None
    num_rounds = 1
    default_group_size = 4
    default_period_length = 120
    default_units = 3
    max_price = 200
    #: value of the i-th buyer and cost of the i-th seller of a group
    values = [95, 85, 75, 65, 55]
    costs = [25, 35, 45, 55, 65]


class Subsession(BaseSubsession):
    def creating_session(self):
        size = self.session.config.get("group_size", Constants.default_group_size)
        players = self.get_players()
        self.set_group_matrix([players[i:i + size] for i in range(0, len(players), size)])
        for group in self.get_groups():
            members = group.get_players()
            buyers = (len(members) + 1) // 2
            for p in members:
                if p.id_in_group <= buyers:
                    p.limit = Constants.values[(p.id_in_group - 1) % len(Constants.values)]
                else:
                    p.limit = Constants.costs[(p.id_in_group - buyers - 1) % len(Constants.costs)]
                p.units_traded = 0


class Group(RedwoodGroup):
    #: {"bids": [order...], "asks": [order...], "next_id": n}; order =
    #: {"id", "trader" (id_in_group), "price", "side"}
    book = JSONField(null=True)
    #: every trade: {"id", "price", "buyer", "seller", "bid", "ask"}
    trades = JSONField(null=True)

    def period_length(self):
        config = self.session.config
        if is_bot_session(self.session):
            return config.get("bot_period_length", 4)
        return config.get("period_length", Constants.default_period_length)

    def units_per_trader(self):
        return self.session.config.get("units_per_trader", Constants.default_units)

    def when_all_players_ready(self):
        super().when_all_players_ready()
        self.book = market.empty_book()
        self.trades = []
        self.save()
        self.send("book", self.book)

    # ---- inbound channels ----
    def _on_bid_event(self, event):
        self._order(event, "bid")

    def _on_ask_event(self, event):
        self._order(event, "ask")

    def _on_cancel_event(self, event):
        player = self._sender(event)
        if not self._market_open(player, "cancel", event.value):
            return
        book, removed = market.remove_orders(self.book, player.id_in_group)
        if not removed:
            self._reject(player, "cancel", event.value, "you have no order to cancel")
            return
        self.book = book
        self.save()
        self.send_to(player, "order_accepted", {"action": "cancel", "order": removed[0], "ref": _ref(event.value)})
        self.send("book", self.book)

    def _on_book_request_event(self, event):
        self.send_to(self._sender(event), "book", self.book or market.empty_book())

    # ---- the work ----
    def _sender(self, event):
        return next(p for p in self.get_players() if p.participant_id == event.participant_id)

    def _reject(self, player, action, payload, reason):
        self.send_to(player, "order_rejected", {"action": action, "reason": reason, "ref": _ref(payload)})

    def _market_open(self, player, action, payload):
        if self.book is None or self.get_start_time() is None:
            self._reject(player, action, payload, "the market is not open yet")
            return False
        if self.get_end_time() is not None:
            self._reject(player, action, payload, "the market is closed")
            return False
        return True

    def _order(self, event, side):
        player = self._sender(event)
        if not self._market_open(player, side, event.value):
            return
        try:
            price = market.parse_price(event.value, Constants.max_price)
            market.check_order(side, price, player.role(), player.limit,
                               self.units_per_trader() - player.units_traded)
        except market.Rejected as exc:
            self._reject(player, side, event.value, exc.reason)
            return
        book, order, trade = market.submit(self.book, side, player.id_in_group, price)
        # in place: Group.save() notices changed JSON fields
        self.book.clear()
        self.book.update(book)
        status = "standing"
        if trade is not None:
            status = "traded"
            trade["id"] = len(self.trades) + 1
            self.trades.append(trade)
            self._settle(trade)
        self.save()
        self.send_to(player, "order_accepted", {"action": side, "order": order, "status": status,
                                               "ref": _ref(event.value)})
        if trade is not None:
            self.send("trade", trade)
        self.send("book", self.book)

    def _settle(self, trade):
        by_id = {p.id_in_group: p for p in self.get_players()}
        for trader in (trade["buyer"], trade["seller"]):
            p = by_id[trader]
            p.units_traded += 1
            p.payoff += market.profit(p.role(), p.limit, trade["price"])
            p.save()


def _ref(payload):
    """The client's own reference of an order, echoed in the replies."""
    return payload.get("ref") if isinstance(payload, dict) else None


class Player(BasePlayer):
    #: a buyer's value or a seller's cost of each unit
    limit = models.IntegerField()
    units_traded = models.IntegerField(initial=0)

    def role(self):
        buyers = (len(self.group.get_players()) + 1) // 2
        return "buyer" if self.id_in_group <= buyers else "seller"
