"""The 0.9.x import surface, and nothing else exported by the 0.9.x modules."""
import importlib


def test_the_modules_of_0_9_x_export_their_0_9_x_names():
    expected = {
        "otree_redwood.models": {"Event", "Connection", "Group", "DecisionGroup", "fake_lock"},
        "otree_redwood.utils": {"DiscreteEventEmitter"},
        "otree_redwood.views": {"AppSpecificExportCSV"},
        "otree_redwood.stats": {"track", "update", "items", "reset"},
    }
    for name, names in expected.items():
        module = importlib.import_module(name)
        assert set(module.__all__) == names, name
        for attr in names:
            assert getattr(module, attr) is not None
        namespace = {}
        exec("from %s import *" % name, namespace)
        assert set(namespace) - {"__builtins__"} == names


def test_0_9_x_hooks_and_methods_are_on_the_group_bases():
    from otree_redwood.models import DecisionGroup, Group

    for hook in ("period_length", "post_round_delay", "when_all_players_ready", "when_player_disconnects",
                 "send", "get_start_time", "get_end_time", "save", "app_name"):
        assert hasattr(Group, hook), hook
    for hook in ("num_subperiods", "rate_limit", "_on_decisions_event", "get_group_decisions_events"):
        assert hasattr(DecisionGroup, hook), hook
    fields = {f.name for f in DecisionGroup._meta.get_fields()}
    assert {"group_decisions", "subperiod_group_decisions", "_group_decisions_updated",
            "ran_ready_function"} <= fields
