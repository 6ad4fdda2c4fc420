"""The README's first command, ``./scripts/demo.sh``, run as written (tests/demo_driver.py).

Once, after the engine's modules moved, the script imported one from its
old place and stopped before serving; nothing ran it.  The oTree 6 variant
(``--otree6``) is tests6/test_demo6.py.
"""
import os

import pytest

from tests import demo_driver

pytestmark = pytest.mark.e2e


def _redis_running(env):
    return demo_driver.status_running([os.path.join(demo_driver.ROOT, ".venv", "bin", "otree"), "redwood_redis",
                                       "status"], os.path.join(demo_driver.ROOT, "example_project"), env)


async def test_the_demo_script_serves_a_session_that_plays_and_stops_cleanly():
    await demo_driver.run_demo([], _redis_running)
