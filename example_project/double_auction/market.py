"""The order book of a continuous double auction (pure functions, no oTree).

Every order is for one unit.  A trader has at most one standing order: a new
order replaces it.  An incoming bid that is at least the best ask trades at
once at the ask's price (and an incoming ask at most the best bid at the
bid's price): the standing order sets the price, and among equal prices the
older order goes first.  Orders that do not cross wait in the book.
"""
import copy
import math


class Rejected(Exception):
    """An order that is not allowed; ``reason`` is shown to the trader."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def empty_book():
    return {"bids": [], "asks": [], "next_id": 1}


def parse_price(payload, max_price):
    """The price of an order message (``{"price": p}`` or a bare number)."""
    price = payload.get("price") if isinstance(payload, dict) else payload
    if isinstance(price, bool) or not isinstance(price, (int, float)):
        raise Rejected("the price must be a number")
    if not math.isfinite(price) or price != int(price):
        raise Rejected("the price must be a whole number")
    price = int(price)
    if not 1 <= price <= max_price:
        raise Rejected("the price must be between 1 and %d" % max_price)
    return price


def check_order(side, price, role, limit, units_left):
    """Raise Rejected unless a trader of ``role`` may place this order.

    ``limit`` is a buyer's value or a seller's cost: nobody may trade at a
    loss.  ``units_left`` is how many more units the trader may trade.
    """
    if side == "bid" and role != "buyer":
        raise Rejected("only buyers can bid")
    if side == "ask" and role != "seller":
        raise Rejected("only sellers can ask")
    if units_left <= 0:
        raise Rejected("you have no units left to trade")
    if side == "bid" and price > limit:
        raise Rejected("you cannot bid more than your value (%d)" % limit)
    if side == "ask" and price < limit:
        raise Rejected("you cannot ask less than your cost (%d)" % limit)


def _sort(book):
    book["bids"].sort(key=lambda o: (-o["price"], o["id"]))
    book["asks"].sort(key=lambda o: (o["price"], o["id"]))


def standing_order(book, trader):
    for o in book["bids"] + book["asks"]:
        if o["trader"] == trader:
            return o
    return None


def remove_orders(book, trader):
    """A copy of the book without ``trader``'s orders, and the removed ones."""
    book = copy.deepcopy(book)
    removed = [o for o in book["bids"] + book["asks"] if o["trader"] == trader]
    book["bids"] = [o for o in book["bids"] if o["trader"] != trader]
    book["asks"] = [o for o in book["asks"] if o["trader"] != trader]
    return book, removed


def submit(book, side, trader, price):
    """Place an order; return ``(new_book, order, trade or None)``.

    ``trade`` is ``{"price", "buyer", "seller", "bid", "ask"}`` (traders and
    order ids) when the order crossed the best opposite order.
    """
    if side not in ("bid", "ask"):
        raise ValueError(side)
    book, _ = remove_orders(book, trader)
    order = {"id": book["next_id"], "trader": trader, "price": price, "side": side}
    book["next_id"] += 1
    opposite = book["asks"] if side == "bid" else book["bids"]
    best = opposite[0] if opposite else None
    if best is not None and (price >= best["price"] if side == "bid" else price <= best["price"]):
        opposite.pop(0)
        bid, ask = (order, best) if side == "bid" else (best, order)
        trade = {"price": best["price"], "buyer": bid["trader"], "seller": ask["trader"],
                 "bid": bid["id"], "ask": ask["id"]}
        return book, order, trade
    (book["bids"] if side == "bid" else book["asks"]).append(order)
    _sort(book)
    return book, order, None


def is_crossed(book):
    """True if the best bid reaches the best ask (never after submit())."""
    return bool(book["bids"] and book["asks"] and book["bids"][0]["price"] >= book["asks"][0]["price"])


def profit(role, limit, price):
    """A trader's gain from one unit traded at ``price``."""
    return limit - price if role == "buyer" else price - limit
