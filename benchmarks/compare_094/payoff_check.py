"""What a 0.9.x-style payoff function computes from each log dumped by drive.py.

The formula follows public 0.9.x apps (a bimatrix game's set_payoff): for each
group_decisions Event d of get_group_decisions_events(), without sub-periods
weight = (the next map's timestamp, or get_end_time() for the last) - d.timestamp;
with sub-periods weight = d.timestamp - (the previous map's timestamp, or
get_start_time() for the first); the decision is d.value[participant_code].
The "payoff" here is each member's time-average decision, sum(weight *
decision) / (end - start), so it can be compared with the truth: the average
of the path actually decided (the member's initial decision from
period_start, then each of their `decisions` Events inside the period, at the
time the server stored it).

    A = the formula on get_group_decisions_events() as returned
    B = without maps stored before period_start
    C = also without maps stored after period_end

    python3 payoff_check.py out/*.json
"""
import sys

from summarize import end_ms, load_sorted, name, start_ms


def formula(d, variant):
    start, end = start_ms(d), end_ms(d)
    maps = [(g["epoch_ms"], g["message"]["value"]) for g in d["get_group_decisions_events"]]
    if variant in ("B", "C"):
        maps = [m for m in maps if m[0] >= start]
    if variant == "C":
        maps = [m for m in maps if m[0] <= end]
    subperiods = "subperiods" in d["config"]
    out = {}
    for label, code in d["codes"].items():
        total = 0.0
        try:
            for i, (ts, value) in enumerate(maps):
                if not value:
                    continue
                if subperiods:
                    length = ts - (maps[i - 1][0] if i else start)
                else:
                    length = (maps[i + 1][0] if i + 1 < len(maps) else end) - ts
                total += length * value[code]
            out[label] = "%.4f" % (total / (end - start))
        except KeyError:  # a map without this member (0.9.x payoff code raised)
            out[label] = "KeyError"
    return out


def truth(d):
    start, end = start_ms(d), end_ms(d)
    out = {}
    for idx, label in enumerate(sorted(d["codes"])):
        path = [(start, d["initial"][idx])]
        path += [(e["epoch_ms"], e["value"]) for e in d["events"]
                 if e["channel"] == "decisions" and e["participant"] == label and start < e["epoch_ms"] < end]
        total = sum(((path[j + 1][0] if j + 1 < len(path) else end) - ts) * value for j, (ts, value) in enumerate(path))
        out[label] = total / (end - start)
    return out


def main(paths):
    print("| run | server | client | member | A | B | C | truth |")
    print("|---|---|---|---|---|---|---|---|")
    for d in load_sorted(paths):
        res = {v: formula(d, v) for v in "ABC"}
        true = truth(d)
        for label in sorted(d["codes"]):
            print("| %s | %s | %s | %s | %s | %s | %s | %.4f |" % (
                name(d), d["impl"], d["client"], label, res["A"][label], res["B"][label], res["C"][label], true[label]))


if __name__ == "__main__":
    main(sys.argv[1:])
