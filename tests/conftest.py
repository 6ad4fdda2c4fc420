"""Fixtures: a real Redis, the example project's Django, sessions, servers."""
import asyncio
import os
import tempfile

import pytest
# Imported here, not first inside pytest_configure: pytest shows every warning
# raised while the configure hooks run, whatever the filters, and redis
# imports cryptography, which warns about Python 3.8 (filtered by
# otree_redwood: see setup.py).
import otree_redwood  # noqa: F401
import redis as _redis  # noqa: F401

from tests import harness

_state = {}


UNIT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unit")


def unit_tier_only(config):
    """`pytest -m unit`: the fast tier, which needs no Redis, database or server."""
    return (config.getoption("markexpr", "") or "").strip() == "unit"


def pytest_collection_modifyitems(config, items):
    # the fast tier is a folder: its tests need not remember a marker
    for item in items:
        if str(item.fspath).startswith(UNIT_DIR + os.sep):
            item.add_marker(pytest.mark.unit)


def pytest_configure(config):
    # GC_TUNING freezes the collector for the life of a process: right for a
    # server, wrong for a test process that runs hundreds of tests (servers
    # started by the tests keep it on: tests/harness.py)
    os.environ.setdefault("REDWOOD_GC_TUNING", "0")
    if unit_tier_only(config):
        # Django is configured (settings are read), but nothing listens on
        # this port: a unit test that reaches for Redis fails at once
        os.environ["REDWOOD_REDIS_URL"] = "redis://127.0.0.1:9/0"
        tmp = tempfile.mkdtemp(prefix="redwood-unit-")
        _state["tmp"] = tmp
        _state["db"] = os.path.join(tmp, "db.sqlite3")
        harness.configure_django(_state["db"])
        return
    # Redis and the database exist before Django is configured: the server
    # processes of end-to-end tests share both with the test process.
    redis_server = harness.RedisServer()
    _state["redis"] = redis_server
    tmp = tempfile.mkdtemp(prefix="redwood-tests-")
    _state["tmp"] = tmp
    db_path = os.path.join(tmp, "db.sqlite3")
    _state["db"] = db_path
    os.environ["REDWOOD_REDIS_URL"] = redis_server.url(0)
    harness.configure_django(db_path)


def pytest_unconfigure(config):
    redis_server = _state.pop("redis", None)
    if redis_server:
        redis_server.stop()


@pytest.fixture(scope="session")
def redis_server():
    return _state["redis"]


@pytest.fixture(scope="session")
def db_path():
    return _state["db"]


@pytest.fixture(scope="session", autouse=True)
def _db(django_db_blocker, request):
    if unit_tier_only(request.config):
        yield
        return
    # One real SQLite file, created the way ``otree resetdb`` does (syncdb, no
    # migrations).  Tests make their own sessions (unique codes) instead of
    # flushing tables: server processes that share the file keep their data.
    from django.core.management import call_command

    django_db_blocker.unblock()
    call_command("migrate", run_syncdb=True, verbosity=0)
    yield
    django_db_blocker.restore()


@pytest.fixture
def redis_db(redis_server):
    """The in-process tests' Redis database, empty at the start of the test."""
    import redis

    from otree_redwood.engine import redis_conn

    client = redis.Redis.from_url(redis_server.url(0))
    client.flushdb()
    redis_conn.reset()
    yield client
    client.flushdb()


@pytest.fixture
def make_session(redis_db):
    """make_session(config, n, **config_fields) -> (session, [(group_pk, [codes])])."""

    def make(config_name="decision_demo", num_participants=2, app_name=None, **fields):
        session = harness.create_session(config_name, num_participants, **fields)
        app = app_name or session.config["app_sequence"][0]
        return session, harness.group_members(session, app)

    return make


@pytest.fixture
def example_configs_installed(request):
    """Sessions of the example apps need their configs in settings.py."""
    if "make_session" in request.fixturenames:
        from otree.session import SESSION_CONFIGS_DICT

        if "continuous_pd" not in SESSION_CONFIGS_DICT:
            pytest.fail("example_project/settings.py lacks the example configs: add "
                        "`from settings_apps import REDWOOD_EXAMPLE_SESSION_CONFIGS` and "
                        "`SESSION_CONFIGS += REDWOOD_EXAMPLE_SESSION_CONFIGS`", pytrace=False)


@pytest.fixture
async def ws(redis_db):
    """Factory of connected WebsocketCommunicators on oTree's ASGI app."""
    from tests.wsclient import Client

    clients = []

    async def connect(app_name, group_pk, code, token=True, seq=None, expect_open=True):
        client = Client(harness.socket_path(app_name, group_pk, code, token=token, seq=seq))
        clients.append(client)
        await client.connect(expect_open=expect_open)
        return client

    yield connect
    for c in clients:
        await c.close()
    from otree_redwood.engine import runtime

    rt = runtime._runtimes.get(asyncio.get_event_loop())
    if rt is not None:
        await rt.stop()


@pytest.fixture(scope="session")
def static_files():
    harness.collectstatic()


@pytest.fixture
def server(db_path, redis_server, static_files):
    """A running ``otree prodserver`` on the shared database and Redis db 1."""
    import redis

    redis.Redis.from_url(redis_server.url(1)).flushdb()
    procs = []

    def start(**kw):
        proc = harness.ServerProcess(db_path, redis_server.url(1), **kw).start()
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.kill()
