"""The real-time engine of otree-redwood, independent of the host framework.

Three layers, each importing only the ones below it (tests/unit/test_layers.py
walks the imports, those inside functions included, and fails on a cycle or
on an engine module that imports Django, Channels or oTree):

* wire: ``clock``, ``keys``, ``protocol``, ``client_rules``, ``conf``,
  ``errors`` -- frames, Redis key names, time, settings and limits;
* Redis: ``redis_conn``, ``embedded_redis``, ``state``, ``timers`` -- the
  live map, sequence numbers and durable timers, knowing nothing of models;
* engine: ``host`` (the one interface to the framework), ``groupinfo``,
  ``messaging``, ``lifecycle``, ``absent``, ``decisions``, ``actions``,
  ``pipeline``, ``bus``, ``scheduler``, ``heartbeat``, ``gctune``, ``runtime``.

The host adapter (for oTree 3: the modules of ``otree_redwood`` itself --
models, consumers, views, exports, ``otree3_host``) sits on top and is the
only code that imports the framework.  docs/architecture.rst has the picture.
"""
