"""The tidy events CSV, framework-free: its columns, one row per stored event.

Both hosts export the event log with the same columns in the same order
(docs/exports.rst); what differs is only how they read the database.  A host
hands :func:`event_row` plain values (the stored JSON text of the value, a
datetime, the codes it looked up) and gets the row; :class:`SubperiodCounter`
numbers the sub-periods of a group with ``num_subperiods``; :func:`csv_pieces`
encodes rows a few hundred at a time, with spreadsheet-safe cells on request.
No Django, no oTree, no Redis.
"""
import csv
import datetime
import json
import re

from .clock import epoch_ms

__all__ = ["EVENT_COLUMNS", "SubperiodCounter", "event_row", "iso_utc", "formula_safe", "csv_pieces"]

#: Columns of the tidy events CSV, in order.
EVENT_COLUMNS = (
    "session_code",
    "app",
    "round",
    "group",
    "id_in_subsession",
    "participant_code",
    "id_in_group",
    "channel",
    "seq",
    "recipient_code",
    "time_utc",
    "time_ms",
    "subperiod",
    "value",
)


class SubperiodCounter:
    """Sub-period index of each event of a group with ``num_subperiods``.

    The server stores one ``group_decisions`` event at each sub-period end
    (``k = 1..n``, the n-th just before ``period_end``); a map stored right
    at ``period_start`` (within half a sub-period) opens sub-period 1 and
    gets index 0.  Any other event between ``period_start`` and
    ``period_end`` belongs to the sub-period that is running: the number of
    sub-period ends stored before it, plus one.  Outside a period: "".
    """

    __slots__ = ("n", "half_ms", "start_ms", "ends", "running", "opened")

    def __init__(self, n, length_s):
        self.n = n
        self.half_ms = length_s * 1000.0 / n / 2.0
        self.start_ms = None
        self.ends = 0
        self.running = False
        self.opened = False

    def index(self, channel, value, t_ms):
        if channel == "state":
            if value == "period_start":
                self.start_ms, self.ends, self.running, self.opened = t_ms, 0, True, False
                return ""
            if value == "period_end":
                self.running = False
                return ""
        if not self.running:
            return ""
        if channel == "group_decisions":
            if not self.opened and self.ends == 0 and t_ms - self.start_ms < self.half_ms:
                self.opened = True
                return 0
            self.opened = True
            if self.ends < self.n:
                self.ends += 1
            return self.ends
        return min(self.ends + 1, self.n)


def subperiod_spec(num_subperiods, period_length):
    """``(n, length_s)`` for a counter, or None when the group has no sub-periods."""
    try:
        n = int(num_subperiods) if num_subperiods else 0
        length = float(period_length) if period_length else 0.0
    except (TypeError, ValueError):
        return None
    if n <= 0 or length <= 0:
        return None
    return n, length


def iso_utc(dt):
    """``2026-01-02T03:04:05.678901Z`` of an aware or naive-UTC datetime."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return dt.isoformat(timespec="microseconds") + "Z"


def _state_value(channel, value_text):
    if channel != "state" or not value_text:
        return None
    try:
        return json.loads(value_text)
    except ValueError:
        return None


def event_row(*, session_code, app, round_number, group_pk, id_in_subsession, participant_code,
              id_in_group, channel, seq, recipient_code, timestamp, value_text, counter=None):
    """One CSV row (a list in EVENT_COLUMNS order).

    ``value_text`` is the stored JSON text, written as it is ("null" for
    none); ``counter``: the group's SubperiodCounter, if it has sub-periods.
    Missing lookups are given as "" (a participant of a deleted session).
    """
    t_ms = epoch_ms(timestamp)
    subperiod = ""
    if counter is not None:
        subperiod = counter.index(channel, _state_value(channel, value_text), t_ms)
    return [
        session_code,
        app,
        round_number,
        group_pk,
        id_in_subsession,
        participant_code,
        id_in_group,
        channel,
        "" if seq is None else seq,
        recipient_code,
        iso_utc(timestamp),
        "%.3f" % t_ms,
        subperiod,
        "null" if value_text is None else value_text,
    ]


# a spreadsheet reads a cell that starts with one of these as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def formula_safe(cell):
    """``cell``, with a quote in front when a spreadsheet would run it as a formula.

    Plain numbers (``-0.5``, ``+3``, ``-1e-3``) stay as they are: they are
    read as numbers, not formulas, and analysis code needs them intact.
    """
    if isinstance(cell, str) and cell.startswith(_FORMULA_START) and not _PLAIN_NUMBER_RE.match(cell):
        return "'" + cell
    return cell


def safe_flag(raw, default):
    """A ``?safe=`` query value as a bool; empty or absent: ``default``."""
    if raw is None or raw == "":
        return bool(default)
    return raw.strip().lower() not in ("0", "false", "no", "off")


class _Line:
    """A file-like object whose write() returns what it was given (for csv.writer)."""

    def write(self, text):
        return text


def csv_pieces(rows, rows_per_piece=500, safe=False):
    """CSV text of ``rows`` in pieces of ``rows_per_piece`` rows (bounded memory)."""
    writer = csv.writer(_Line())
    piece = []
    for row in rows:
        if safe:
            row = [formula_safe(cell) for cell in row]
        piece.append(writer.writerow(row))
        if len(piece) >= rows_per_piece:
            yield "".join(piece)
            piece = []
    if piece:
        yield "".join(piece)
