"""Print the dumps of drive.py (times in ms after each run's period_start Event).

    python3 summarize.py --table out/*.json         # one Markdown row per run
    python3 summarize.py out/*.json                 # every event of each run
    python3 summarize.py --side-by-side A.json B.json
"""
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def start_ms(d):
    for e in d["events"]:
        if e["channel"] == "state" and e["value"] == "period_start":
            return e["epoch_ms"]
    return d["events"][0]["epoch_ms"]


def end_ms(d):
    for e in d["events"]:
        if e["channel"] == "state" and e["value"] == "period_end":
            return e["epoch_ms"]
    return float("inf")


def labelled(d, value):
    """A map keyed by participant code, keyed by P1/P2 instead."""
    if not isinstance(value, dict):
        return value
    codes = {v: k for k, v in d["codes"].items()}
    return {codes.get(k, k): x for k, x in sorted(value.items(), key=lambda kv: codes.get(kv[0], kv[0]))}


def fmt_value(v):
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))


def short_map(d, value):
    m = labelled(d, value)
    if not isinstance(m, dict):
        return fmt_value(m)
    return "{" + ", ".join("%s %s" % (k, fmt_value(x)) for k, x in m.items()) + "}"


def name(d):
    run = d["config"][4:]
    if d.get("script", "normal") != "normal":
        run += " " + d["script"]
        if d["script"] == "late":
            run += " #%d" % d.get("rep", 1)
    return run


def run_key(d):
    """Order of runs in the tables: mode, script, repetition, then 0.9.4 before ours."""
    modes = ["cmp_plain", "cmp_subperiods", "cmp_ratelimit"]
    scripts = ["normal", "late", "burst"]
    return (modes.index(d["config"]) if d["config"] in modes else len(modes), d["config"],
            scripts.index(d.get("script", "normal")), d.get("rep", 1), d["impl"] != "094", d["client"])


def load_sorted(paths):
    return sorted((load(p) for p in paths), key=run_key)


def header(d):
    return "%s server, %s client, %s" % (d["impl"], d["client"], name(d))


def rows(d):
    t0 = start_ms(d)
    return ["%+8.0f  %-16s %-4s %s" % (e["epoch_ms"] - t0, e["channel"], e["participant"] or "srv",
                                       fmt_value(labelled(d, e["value"])))
            for e in d["events"]]


def full_table(d):
    t0 = start_ms(d)
    lines = ["== " + header(d), "   ms      channel          from value"] + rows(d)
    row = d["group_row"]
    lines.append("group row: group_decisions=%s subperiod_group_decisions=%s _group_decisions_updated=%s"
                 % (labelled(d, row["group_decisions"]), labelled(d, row["subperiod_group_decisions"]),
                    row["_group_decisions_updated"]))
    gde = d["get_group_decisions_events"]
    lines.append("get_group_decisions_events(): %d events at %s ms" % (
        len(gde), [round(g["epoch_ms"] - t0) for g in gde]))
    m0 = d["events"][0]
    lines.append("message['timestamp'] - true epoch ms: %+.0f with the machine's TZ, %+.0f with TZ=America/Los_Angeles"
                 % (m0["message_timestamp"] - m0["epoch_ms"],
                    d.get("message_ts_minus_true_ms_under_TZ_America_Los_Angeles", float("nan"))))
    for who, frames in d["received"].items():
        got = []
        for fr in frames:
            f = fr["frame"]
            p = f.get("payload")
            got.append("%+.0f %s:%s" % (fr["client_ms"] - t0, f.get("channel", "?"),
                                        fmt_value(labelled(d, p)) if p is not None else ""))
        lines.append("%s received: %s" % (who, " | ".join(got)))
    return "\n".join(lines)


def side_by_side(a, b, width=70):
    ra, rb = rows(a), rows(b)
    lines = ["%-*s %s" % (width, header(a), header(b))]
    for i in range(max(len(ra), len(rb))):
        lines.append("%-*s %s" % (width, ra[i] if i < len(ra) else "", rb[i] if i < len(rb) else ""))
    return "\n".join(lines)


def ms_list(values, limit=9):
    shown = ["%d" % round(v) for v in values[:limit]]
    if len(values) > limit:
        shown.append("... %d more" % (len(values) - limit))
    return ", ".join(shown)


def final_map_current(d):
    """Whether the last map up to period_end holds every member's last decision before it."""
    t_end = end_ms(d)
    current = {code: d["initial"][i] for i, (_, code) in enumerate(sorted(d["codes"].items()))}
    for e in d["events"]:
        if e["channel"] == "decisions" and start_ms(d) <= e["epoch_ms"] <= t_end:
            current[d["codes"][e["participant"]]] = e["value"]
    maps = [g["message"]["value"] for g in d["get_group_decisions_events"] if g["epoch_ms"] <= t_end]
    if not maps:
        return "no map"
    stale = sorted(label for label, code in d["codes"].items() if maps[-1].get(code) != current[code])
    return "yes" if not stale else "**no** (%s)" % ", ".join(stale)


def summary_row(d):
    t0, t_end = start_ms(d), end_ms(d)
    ev = d["events"]
    dec = [e for e in ev if e["channel"] == "decisions"]
    maps = [g["epoch_ms"] for g in d["get_group_decisions_events"]]
    before = [m for m in maps if m < t0]
    inside = [m - t0 for m in maps if t0 <= m <= t_end]
    after = [m - t0 for m in maps if m > t_end]
    frames = [fr for fr in d["received"]["P1"] if fr["frame"].get("channel") == "group_decisions"]
    row = d["group_row"]
    return "| %s | %s | %s | %d / %d / %d | %d | %d: %s | %s | %s | %.0f | %s | %s | %s | %d |" % (
        name(d), d["impl"], d["client"],
        sum(e["epoch_ms"] < t0 for e in dec), sum(t0 <= e["epoch_ms"] <= t_end for e in dec),
        sum(e["epoch_ms"] > t_end for e in dec),
        len(before), len(inside), ms_list(inside), final_map_current(d), ms_list(after) or "-", t_end - t0,
        short_map(d, row["group_decisions"]), short_map(d, row["subperiod_group_decisions"]),
        row["_group_decisions_updated"], len(frames))


SUMMARY_HEADER = (
    "| run | server | client | `decisions` before / in / after | maps before start | maps in period: ms | "
    "last map current | maps after end: ms | period_end ms | row group_decisions | "
    "row subperiod_group_decisions | row _gdu | P1 got maps |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(args):
    if args and args[0] == "--side-by-side":
        print(side_by_side(load(args[1]), load(args[2])))
    elif args and args[0] == "--table":
        print(SUMMARY_HEADER)
        for d in load_sorted(args[1:]):
            print(summary_row(d))
    else:
        for d in load_sorted(args):
            print(full_table(d))
            print()


if __name__ == "__main__":
    main(sys.argv[1:])
