"""The one place where otree-redwood attaches itself to oTree 6's application.

oTree 6 has no extension hook: its ASGI app is built at import of
``otree.asgi`` (``app = OTreeStarlette(routes=get_urlpatterns(), ...)``) and
nothing is asked of installed packages.  What we can count on is the moment
our bases are imported: an app's models module imports them inside
``otree.database.init_orm()``, which every oTree command that serves or
tests runs long before it imports ``otree.asgi``.  ``install()`` runs then,
and does only what is safe in every command (``resetdb``, ``create_session``,
``timeoutsubprocess`` import the apps too, and must not start anything):

- our template directory joins oTree's template loader
  (``otree.templating.loader.ibis_loader.dirs``), and our tags are registered;
- a post-import hook waits for ``otree.asgi``.

When uvicorn (``prodserver``, ``devserver``'s child) or the bots'
``TestClient`` imports ``otree.asgi``, the hook runs ``attach(app)`` right
after the module body, before anyone serves a request:

- our routes are put at the FRONT of ``app.router.routes``.  Starlette
  matches routes in order and oTree's list ends with
  ``Mount('/static', ...)``, which takes its whole prefix and 404s what it
  lacks, so anything of ours appended after it could be unreachable;
- ``otree_redwood/static`` is appended to ``otree.common2.static_files_app``'s
  ``all_directories``: oTree's own ``/static`` then serves
  ``/static/otree-redwood/...`` exactly as on oTree 3, ``{{ static }}``
  resolves those files, and no second static app is needed;
- our start-up runner is appended to ``app.router.on_startup``, our stop
  runner is put FIRST in ``on_shutdown`` so that it runs before oTree's
  ``save_sqlite_db`` (devserver's in-memory database is saved by that one; a
  last batch written after it would be lost).

The engine registers its routes and its start/stop callbacks here
(``add_routes``, ``on_startup``, ``on_shutdown``) at its own import; this
module does not know what they do.  ``otree test`` never runs the lifespan
(its ``TestClient`` is used without ``with``), so the engine calls
``ensure_started()`` on first use as well; start-up runs once either way.

Failure modes kept in mind: an exception in an ``on_startup`` callback makes
uvicorn log it and exit with status 0, leaving ``otree timeoutsubprocess``
behind (oTree's ``prodserver`` started it first).  Configuration errors should
therefore be found at import, in the server commands only
(``is_server_command()``), where ``sys.exit("message")`` stops cleanly.
"""
import asyncio
import importlib.abc
import importlib.util
import inspect
import logging
import os
import sys
import weakref

logger = logging.getLogger("otree_redwood.otree6")

HERE = os.path.dirname(os.path.abspath(__file__))
#: oTree 6 templates (the same template names as otree_redwood/templates, in
#: oTree 6's syntax; the oTree 3 directory holds Django templates that oTree
#: 6's engine cannot parse, so it is not added).
TEMPLATES_DIR = os.path.join(HERE, "templates")
#: Shared with the oTree 3 host: one static tree, the same URLs on both.
STATIC_DIR = os.path.join(os.path.dirname(HERE), "static")

#: The oTree commands that serve requests (uvicorn runs in these processes).
SERVER_COMMANDS = frozenset({"prodserver", "prodserver1of2", "devserver_inner"})


class _Registry:
    def __init__(self):
        self.routes = []
        self.startup = []
        self.shutdown = []
        self.attached = []
        self.app = None
        self.inserted = 0
        self.started = False
        self.installed = False
        # one lock per event loop: bots may run more than one loop in turn
        self.locks = weakref.WeakKeyDictionary()


_reg = _Registry()


def is_server_command(argv=None):
    """True in the process that will serve HTTP (not resetdb, test, shell...)."""
    argv = sys.argv if argv is None else argv
    return len(argv) > 1 and argv[1] in SERVER_COMMANDS


def add_routes(*routes):
    """Serve these Starlette routes ahead of all of oTree's.

    May be called before or after oTree's app exists; order among our routes
    is kept.
    """
    _reg.routes.extend(routes)
    if _reg.app is not None:
        _insert_routes(_reg.app, routes)


def on_startup(fn):
    """Run ``fn()`` (sync or async) once, when the server starts or on first
    ``ensure_started()``.  Usable as a decorator."""
    _reg.startup.append(fn)
    return fn


def on_shutdown(fn):
    """Run ``fn()`` (sync or async) when the server stops, if start-up ran.
    Callbacks run in registration order, each even if an earlier one failed."""
    _reg.shutdown.append(fn)
    return fn


def on_attach(fn):
    """Run ``fn(app)`` once oTree's app exists (every app's models module is
    imported by then): for what must see all apps, e.g. the Data-page exports."""
    _reg.attached.append(fn)
    if _reg.app is not None:
        fn(_reg.app)
    return fn


def is_started():
    return _reg.started


async def ensure_started():
    """Run the start-up callbacks unless they ran already.

    For code paths that may run without a lifespan (``otree test``).  Two
    callers on one loop wait for the same start; a failed start raises here
    and is tried again by the next caller.
    """
    if _reg.started:
        return
    loop = asyncio.get_running_loop()
    lock = _reg.locks.get(loop)
    if lock is None:
        lock = _reg.locks[loop] = asyncio.Lock()
    async with lock:
        if _reg.started:
            return
        for fn in list(_reg.startup):
            await _call(fn)
        _reg.started = True


async def _shutdown():
    if not _reg.started:
        return
    _reg.started = False
    for fn in list(_reg.shutdown):
        try:
            await _call(fn)
        except Exception:
            # oTree's own handlers (save_sqlite_db) come after ours and must still run
            logger.exception("otree-redwood: shutdown callback %r failed", fn)


async def _call(fn):
    result = fn()
    if inspect.isawaitable(result):
        await result


def install():
    """Called at import of our bases (models.py); idempotent."""
    if _reg.installed:
        return
    _reg.installed = True
    from otree.templating.loader import ibis_loader

    # appended: a project's own _templates/otree_redwood/Page.html still wins
    if TEMPLATES_DIR not in [str(d) for d in ibis_loader.dirs]:
        ibis_loader.dirs = tuple(ibis_loader.dirs) + (TEMPLATES_DIR,)
    from . import pageglobals  # noqa: F401  (registers the template tags)

    asgi = sys.modules.get("otree.asgi")
    if asgi is not None and hasattr(asgi, "app"):
        attach(asgi.app)
    elif not any(isinstance(f, _AfterAsgiImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterAsgiImport())


class _AfterAsgiImport(importlib.abc.MetaPathFinder):
    """Finds ``otree.asgi`` with the normal machinery, then wraps its loader's
    ``exec_module`` so that ``attach(module.app)`` runs right after the body."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "otree.asgi":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        run_body = spec.loader.exec_module

        def exec_then_attach(module):
            run_body(module)
            attach(module.app)

        spec.loader.exec_module = exec_then_attach
        return spec


def attach(app):
    """Attach to oTree's app object; a second call for the same app does nothing."""
    if _reg.app is app:
        return
    _reg.app = app
    _reg.inserted = 0
    _insert_routes(app, _reg.routes)
    from otree.common2 import static_files_app

    if STATIC_DIR not in static_files_app.all_directories:
        static_files_app.all_directories.append(STATIC_DIR)
    app.router.on_startup.append(ensure_started)
    app.router.on_shutdown.insert(0, _shutdown)
    for fn in list(_reg.attached):
        fn(app)
    logger.debug("otree-redwood attached: %d routes of ours", len(_reg.routes))


def _insert_routes(app, routes):
    for route in routes:
        app.router.routes.insert(_reg.inserted, route)
        _reg.inserted += 1
