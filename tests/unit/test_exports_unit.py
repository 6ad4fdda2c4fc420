"""Export logic that needs no database (engine/eventrows.py, both hosts): sub-period numbering, CSV streaming."""
import csv
import io

from otree_redwood.engine import eventrows


def test_subperiod_counter_rules():
    c = eventrows.SubperiodCounter(2, 10.0)  # sub-periods of 5 s
    assert c.index("decisions", None, 0) == ""  # before the period
    assert c.index("state", "period_start", 1000) == ""
    assert c.index("group_decisions", None, 1001) == 0  # the opening map
    assert c.index("decisions", None, 2000) == 1
    assert c.index("group_decisions", None, 6000) == 1
    assert c.index("decisions", None, 7000) == 2
    assert c.index("group_decisions", None, 11000) == 2
    assert c.index("state", "period_end", 11001) == ""
    assert c.index("decisions", None, 12000) == ""
    # no opening map: the first map is the end of sub-period 1
    c = eventrows.SubperiodCounter(2, 10.0)
    c.index("state", "period_start", 0)
    assert c.index("group_decisions", None, 5000) == 1


def test_stream_csv_pieces_join_to_the_csv_of_every_row():
    rows = [["channel", "value"]] + [["decisions", '{"a": %d, "b": "x,y"}' % i] for i in range(1050)]
    pieces = list(eventrows.csv_pieces(iter(rows), rows_per_piece=100))
    assert len(pieces) == 11  # 1,051 rows in pieces of at most 100
    assert list(csv.reader(io.StringIO("".join(pieces)))) == rows


def test_stream_csv_of_nothing_is_empty():
    assert "".join(eventrows.csv_pieces(iter([]))) == ""
