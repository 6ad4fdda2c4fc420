"""0.9.x apps kept their output table in views.py (oTree 2's pages module)."""


def get_output_table_header(groups):
    return ["session", "group", "timestamp", "participant", "channel", "count"]


def get_output_table(events):
    rows = []
    for e in events:
        if e.channel != "click" or e.participant is None:
            continue
        rows.append([e.group.session.code, e.group_pk, e.timestamp, e.participant.code, e.channel,
                     e.value.get("count")])
    return rows
