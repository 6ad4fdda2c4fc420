"""The real-time engine of otree-redwood, independent of the host framework.

Three layers, each importing only the ones below it (tests/unit/test_layers.py
walks the imports, those inside functions included, and fails on a cycle or
on an engine module that imports Django, Channels or oTree):

* wire: ``clock``, ``keys``, ``protocol``, ``client_rules``, ``conf``,
  ``errors`` -- frames, Redis key names, time, settings and limits;
* Redis: ``redis_conn``, ``embedded_redis``, ``state``, ``timers`` -- the
  live map, sequence numbers and durable timers, knowing nothing of models;
* engine: ``host`` (the one interface to the framework), ``groupinfo``,
  ``messaging``, ``lifecycle``, ``absent``, ``decisions``, ``livestate``,
  ``actions``, ``pipeline``, ``bus``, ``scheduler``, ``heartbeat``,
  ``gctune``, ``runtime``, ``socket`` (one participant socket for both
  hosts), ``handshakes``, ``eventrows``, ``monitorfeed``, ``botplay`` (what a bot knows and
  does, for both hosts' bots).

The host adapters sit on top and are the only code that imports a
framework: for oTree 3 the modules of ``otree_redwood`` itself (models,
consumers, views, exports, ``otree3_host``), for oTree 6 ``otree_redwood.otree6``.
docs/architecture.rst has the picture.
"""
