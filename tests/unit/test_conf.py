"""Settings: the REDWOOD dict over environment variables over documented defaults."""
import pytest
from django.test import override_settings

from otree_redwood.engine import conf


def test_defaults_env_and_dict_in_that_order(monkeypatch):
    monkeypatch.delenv("REDWOOD_REPLAY_LIMIT", raising=False)
    with override_settings(REDWOOD={}):
        assert conf.get("REPLAY_LIMIT") == conf.DEFAULTS["REPLAY_LIMIT"]
        monkeypatch.setenv("REDWOOD_REPLAY_LIMIT", "7")
        assert conf.get("REPLAY_LIMIT") == 7
    with override_settings(REDWOOD={"REPLAY_LIMIT": 3}):
        assert conf.get("REPLAY_LIMIT") == 3  # the settings dict wins


def test_environment_values_take_the_type_of_the_default(monkeypatch):
    monkeypatch.setenv("REDWOOD_REQUIRE_TOKEN", "off")
    monkeypatch.setenv("REDWOOD_SCHEDULER_POLL", "0.5")
    monkeypatch.setenv("REDWOOD_SERVER_ONLY_CHANNELS", "a,b")
    with override_settings(REDWOOD={}):
        assert conf.get("REQUIRE_TOKEN") is False
        assert conf.get("SCHEDULER_POLL") == 0.5
        assert conf.get("SERVER_ONLY_CHANNELS") == ["a", "b"]


def test_unknown_keys_are_listed_and_unknown_lookups_refused():
    with override_settings(REDWOOD={"REPLAY_LIMT": 1}):
        assert conf.unknown_keys() == ["REPLAY_LIMT"]
    with pytest.raises(KeyError):
        conf.get("NO_SUCH_KEY")


def test_a_nesting_limit_near_the_recursion_limit_is_refused_at_start_up():
    from otree_redwood import checks

    for bad in (1, 1000, "deep"):
        with override_settings(REDWOOD={"MAX_NESTING": bad}):
            assert "otree_redwood.E005" in [m.id for m in checks.check_settings()]
    with override_settings(REDWOOD={"MAX_NESTING": 64}):
        assert "otree_redwood.E005" not in [m.id for m in checks.check_settings()]
