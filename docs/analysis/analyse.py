"""Analyse an otree-redwood events CSV: decisions over time, flow payoffs, plots.

    python analyse.py events.csv --out results/

reads the export "otree-redwood: all real-time events" (admin Data page, or
/redwood/export/events/?session=<code>) and writes, in the --out folder:

* decisions.csv: every group's decisions as a step function, one row per
  change and member (session, app, round, group, t (seconds since the
  period's start), participant_code, decision);
* payoffs.csv: each member's flow payoff integrated over the period (total
  points and points per second);
* one figure per group, decisions_<app>_r<round>_g<group>.png: each
  member's decision over the period, the plot papers show.

Needs pandas and matplotlib, and otree-redwood installed (for its payoff
integration, otree_redwood.payoffs, which needs no Django or database).
Change FLOW_PAYOFF to your game's flow payoff.
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from otree_redwood.payoffs import decision_series, integrate, mean_of  # noqa: E402

#: The prisoner's dilemma of the example app continuous_pd, in points per
#: second: cc both cooperate, cd I cooperate and the other defects, ...
MATRIX = {"cc": 100, "cd": 0, "dc": 150, "dd": 25}


def FLOW_PAYOFF(mine, other):
    """Points per second for my decision (probability of cooperating) and the
    other's (the mean of the others in groups larger than two)."""
    other = mean_of(other)
    return (mine * other * MATRIX["cc"] + mine * (1 - other) * MATRIX["cd"]
            + (1 - mine) * other * MATRIX["dc"] + (1 - mine) * (1 - other) * MATRIX["dd"])


GROUP_KEYS = ["session_code", "app", "round", "group"]


def load_events(path):
    """The events CSV as a DataFrame; ``value`` decoded from JSON."""
    # keep_default_na=False: an empty participant_code stays "", not NaN
    events = pd.read_csv(path, keep_default_na=False, dtype={"participant_code": str, "session_code": str})
    events["value"] = events["value"].map(json.loads)
    events["time_ms"] = events["time_ms"].astype(float)
    return events


def _subperiods(rows):
    """(number of sub-periods, period length in s) of a group, or (None, None)."""
    sub = pd.to_numeric(rows["subperiod"], errors="coerce")
    n = sub[rows["channel"] == "group_decisions"].max()
    if pd.isna(n) or n < 1:
        return None, None
    states = rows[rows["channel"] == "state"]
    start = states[states["value"] == "period_start"]["time_ms"].min()
    end = states[states["value"] == "period_end"]["time_ms"].min()
    return int(n), (end - start) / 1000.0


def group_series(events):
    """{(session, app, round, group): Series} for every group whose period ended."""
    out = {}
    for key, rows in events.sort_values(["time_ms"], kind="stable").groupby(GROUP_KEYS, sort=True):
        rows = rows[rows["channel"].isin(["state", "group_decisions"])]
        n, length = _subperiods(rows)
        try:
            out[key] = decision_series(zip(rows["time_ms"], rows["channel"], rows["value"]),
                                       num_subperiods=n, period_length=length)
        except ValueError:
            continue  # the period never started or never ended
    return out


def decisions_over_time(all_series):
    """A tidy DataFrame of every group's decisions, one row per step and member."""
    rows = []
    for key, series in all_series.items():
        for t_ms, decisions in series.steps:
            for code, decision in decisions.items():
                rows.append(dict(zip(GROUP_KEYS, key), t=(t_ms - series.start_ms) / 1000.0,
                                 participant_code=code, decision=decision))
    return pd.DataFrame(rows, columns=GROUP_KEYS + ["t", "participant_code", "decision"])


def payoffs_table(all_series, flow=FLOW_PAYOFF):
    """Each member's integrated flow payoff: total points and points per second."""
    rows = []
    for key, series in all_series.items():
        total = integrate(series, flow)
        average = integrate(series, flow, average=True)
        for code in total:
            rows.append(dict(zip(GROUP_KEYS, key), participant_code=code, seconds=series.seconds,
                             total=total[code], per_second=average[code]))
    return pd.DataFrame(rows, columns=GROUP_KEYS + ["participant_code", "seconds", "total", "per_second"])


def plot_group(key, series, path):
    """Each member's decision over the period, as steps; saved to ``path``."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    length = series.seconds
    for code in series.codes():
        times, values = [], []
        for t_ms, decisions in series.steps:
            times.append((t_ms - series.start_ms) / 1000.0)
            values.append(decisions.get(code))
        times.append(length)
        values.append(values[-1])  # the last decision holds to the end
        ax.step(times, values, where="post", label=code)
    session, app, round_number, group = key
    ax.set(xlim=(0, length), xlabel="seconds since the period's start", ylabel="decision",
           title="%s, round %s, group %s (session %s)" % (app, round_number, group, session))
    ax.legend(title="participant", loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="the events CSV of otree-redwood")
    parser.add_argument("--out", default="results", help="folder for the tables and figures")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    events = load_events(args.csv)
    all_series = group_series(events)
    decisions_over_time(all_series).to_csv(os.path.join(args.out, "decisions.csv"), index=False)
    payoffs = payoffs_table(all_series)
    payoffs.to_csv(os.path.join(args.out, "payoffs.csv"), index=False)
    for key, series in all_series.items():
        _, app, round_number, group = key
        plot_group(key, series, os.path.join(args.out, "decisions_%s_r%s_g%s.png" % (app, round_number, group)))
    print(payoffs.to_string(index=False))
    print("%d group(s); tables and figures in %s" % (len(all_series), args.out))


if __name__ == "__main__":
    main()
