"""``./scripts/demo.sh --otree6`` (README) run as written (tests/demo_driver.py): its
links open pages whose sockets play, Ctrl+C stops the server and the embedded Redis."""
import asyncio
import os

from tests import demo_driver


def _redis_running(env):
    return demo_driver.status_running([os.path.join(demo_driver.ROOT, ".venv6", "bin", "python"), "-m",
                                       "otree_redwood.redis_cli", "status"],
                                      os.path.join(demo_driver.ROOT, "example_project6"), env)


def test_the_otree6_demo_script_serves_a_session_that_plays_and_stops_cleanly():
    asyncio.run(demo_driver.run_demo(["--otree6"], _redis_running))
