"""otree-redwood's host plumbing for oTree 6 (Starlette, SQLAlchemy, Python 3.10+).

oTree 6 has no extension mechanism, so this package attaches to oTree's own
objects.  Importing it runs the version gate first (``version.py``): every
oTree internal named below was read in oTree 6.0.15, and another release may
have moved any of them, so an unknown version stops the command with one clear
line instead of failing later in an obscure place.

What lives where (each module's docstring says why it is shaped that way):

- ``version.py``: the gate (``TESTED_VERSIONS``).
- ``attach.py``: the ONE place that touches oTree's application object: a
  post-import hook on ``otree.asgi`` that puts our routes first, serves
  ``otree_redwood/static`` under oTree's ``/static``, adds our template
  directory and tags, and runs registered start/stop callbacks (lazily under
  ``otree test``, which has no lifespan).
- ``models.py``: what an app imports (the "bases"): importing it installs the
  above.  ``tables.py``: the Event log and the other Core tables on oTree's
  metadata.  ``groupcolumns.py``: the abstract Group bases' columns.
  ``sqltypes.py``: JSON and UTC datetime column types.
- ``token.py``: the socket token.  ``pageglobals.py``: ``{{ redwood_globals }}``
  (``window.oTree``).  ``apphooks.py``: finding an app's hooks in both app
  formats.

oTree 6.0.15 internals relied upon (paths under ``site-packages/otree/``):

- ``__init__.py``: ``__version__`` (version.py).
- ``asgi.py``: the module-level ``app`` (an ``OTreeStarlette``) and its
  ``router.routes``, ``router.on_startup``, ``router.on_shutdown`` (attach.py).
- ``urls.py``: ``get_urlpatterns()`` ends with ``Mount('/static', ...)``, so our
  routes must come before it (attach.py).
- ``common2.py``: ``static_files_app`` (an ``OTreeStaticFiles``) and its
  ``all_directories`` list; ``url_of_static_file`` behind ``{{ static }}``
  (attach.py, the Page.html template).
- ``templating/loader.py``: ``ibis_loader`` and its ``dirs`` tuple (attach.py).
- ``templating/nodes.py``: ``register(keyword)`` and ``Node.wrender(context)``;
  ``templating/context.py``: ``Context.is_defined`` / ``resolve`` (pageglobals.py).
- ``views/abstract.py``: ``get_context_data()`` puts ``player``, ``group``,
  ``participant`` into a page's template context (pageglobals.py).
- ``common.py``: ``_SECRET`` (token.py); ``is_noself(app)`` and
  ``get_models_module(app)`` (apphooks.py).
- ``database.py``: ``AnyModel.metadata`` and the table names
  ``otree_session`` / ``otree_participant`` (tables.py); ``get_folder_name()``,
  ``is_noself``, ``field_maybe_none()``, ``SSPPGModel.__setattr__``'s type table
  ``_setattr_datatypes`` (groupcolumns.py, apphooks.py); SQLite's
  ``pragma foreign_keys=on`` in ``get_engine()`` (the cascades).
- ``models/group.py``: ``BaseGroup`` (groupcolumns.py).
- ``export.py``: per-app CSVs read columns with a Core query (``values_dicts``),
  write them with ``str()`` and drop columns starting with ``_``
  (sqltypes.py, groupcolumns.py); ``views/admin.py`` ``SessionDataAjax`` sends
  the same rows through ``json.dumps`` (why ``ran_ready_function`` is a float).
- ``channels/consumers.py``: ``WSDeleteSessions`` deletes sessions in bulk,
  without ORM cascades (why our foreign keys say ``ON DELETE CASCADE``).
- ``settings.py``: ``DEBUG`` (pageglobals.py).
- ``main.py``: ``setup()`` runs ``init_orm()``, which imports every app's models
  module, for all commands but ``startproject``/``devserver``/``zip``...; a
  ``SystemExit`` raised there ends the command with just its message
  (version.py).
- ``bots/bot.py``: bots wrap ``otree.asgi.app`` in a Starlette ``TestClient``
  without ``with``, so no lifespan runs under ``otree test`` (attach.py).

Nothing here imports Django or the oTree 3 modules of ``otree_redwood``.
"""
from .version import check_version

check_version()
