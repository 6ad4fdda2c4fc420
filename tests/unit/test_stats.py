"""0.9.x's otree_redwood.stats still works for experiments that time their code with it."""
from otree_redwood import stats


def test_track_and_update_give_means_per_context():
    stats.reset()
    with stats.track("handler"):
        pass
    stats.update("handler", 1.0)
    stats.update("other", 2.0)
    stats.update("other", 4.0)
    got = stats.items()
    assert got["other"] == {"mean": 3.0, "count": 2}
    assert got["handler"]["count"] == 2
    assert got["handler"]["mean"] >= 0.5  # (duration of an empty block + 1.0) / 2
