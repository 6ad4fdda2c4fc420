"""A socket handshake's database work, batched: authorize, connect, ready check.

When a lab starts, hundreds of sockets connect within a second.  Done one by
one, each handshake costs a few queries; batched, the calls that arrive
while the executor is busy wait and then go together as one call, so a few
queries serve the dozens of sockets that connected meanwhile (1,000
participants on oTree 3: server CPU ~12 -> ~6 ms per participant,
benchmarks/RESULTS.md, ``handshake_flood.py --only b``).

The executor is the host's: a ``db_sync``-like factory, ``executor(fn)`` ->
an async callable running ``fn(*args)`` where the host runs database work
(oTree 3: the handshake thread of otree_redwood/dbthreads.py, in autocommit;
oTree 6: ``Host.db_sync``, under oTree's lock2).  Every kind of call shares
that one executor, so each batch runs wholly before or after the others,
never in between, and arrival order is kept.
"""
import asyncio
import weakref

from . import lifecycle, runtime


def batched(fn_many, executor):
    """An async callable ``run(*args)`` that does ``fn_many([args, ...])[i]`` in batches.

    ``fn_many(list of argument tuples)`` returns one ``(ok, value or
    exception)`` per tuple, in order; ``run`` returns the value or raises the
    exception.  A batch whose call fails as a whole (a query of the batch)
    is tried again one call per socket, so that only the socket that causes
    it fails.
    """
    queues = weakref.WeakKeyDictionary()  # event loop -> calls waiting for the executor

    async def _call(requests):
        # the host's wrapper is made per call, as the host may look at its
        # database settings only once they are loaded
        return await executor(fn_many)(requests)

    async def _one(args):
        try:
            return (await _call([args]))[0]
        except Exception as exc:
            return False, exc

    async def drain(pending):
        try:
            while pending:
                batch = pending[:]
                del pending[:]
                try:
                    results = await _call([args for args, _ in batch])
                except Exception as exc:
                    results = [(False, exc)] if len(batch) == 1 else [await _one(args) for args, _ in batch]
                for (_, fut), (ok, value) in zip(batch, results):
                    if fut.done():  # its socket went away meanwhile
                        continue
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
        finally:
            queues.pop(asyncio.get_event_loop(), None)

    async def run(*args):
        loop = asyncio.get_event_loop()
        fut = loop.create_future()
        pending = queues.get(loop)
        if pending is None:
            pending = queues[loop] = []
            loop.create_task(drain(pending))
        pending.append((args, fut))
        return await fut

    return run


class Handshakes:
    """What a host gives engine.socket.ParticipantSocket for its handshake.

    ``precheck(app_name, group, participant_code, token, require_token)``:
    what can be refused without the database or Redis (the URL's shape, the
    app, the token); returns the group's pk or raises errors.Refused.
    ``authorize_many``: one ``(ok, (GroupInfo, participant id) or Refused)``
    per ``(app_name, group_pk, participant_code, token, require_token)``.
    ``executor``: see the module doc.  ``start``: an async callable that
    returns the loop's started Runtime (a host may start its own parts
    first).
    """

    def __init__(self, precheck, authorize_many, executor, start=None):
        self.precheck = precheck
        self.authorize = batched(authorize_many, executor)
        self.connect = batched(lifecycle.connect_many, executor)
        self.ready = batched(lifecycle.ready_many, executor)
        self.start = start or runtime.ensure_started
