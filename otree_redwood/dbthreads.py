"""Where the real-time layer's database work runs: threads and connections of its own.

The pipeline's work runs, in order, on one thread with its own connection
(``db_sync``); handshakes (authorize, connect, ready check) on another
(``handshake_sync``; engine/handshakes.py batches the calls), so that
neither waits behind oTree's own sync thread (pages, exports) nor behind
each other.
"""
import asyncio
import concurrent.futures
import logging
import threading

from asgiref.sync import sync_to_async
from django.db import transaction

logger = logging.getLogger(__name__)

_db_executor = None


_db_executor_lock = threading.Lock()


def _own_db_thread():
    """Whether the pipeline gets a database thread (and connection) of its own.

    Not on an in-memory database (oTree's devserver): it lives in one
    connection's shared cache, whose table locks do not wait.
    """
    from django.db import connection

    return "memory" not in str(connection.settings_dict.get("NAME", ""))


def _executor():
    global _db_executor
    with _db_executor_lock:
        if _db_executor is None:
            _db_executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="redwood-db")
        return _db_executor


def _in_db_thread(fn, args):
    from django.db import connection
    from django.db.utils import InterfaceError, OperationalError

    try:
        return fn(*args)
    except (InterfaceError, OperationalError):
        # a broken connection (database restarted, network): the next call
        # opens a new one
        if not connection.in_atomic_block:
            connection.close()
        raise


def db_sync(fn):
    """Run the sync callable ``fn`` in the pipeline's database thread.

    The pipeline's database work runs, in order, on one thread of its own
    with its own connection, kept open between batches.  oTree's pages and
    exports run on oTree's sync thread, so a long export or a slow page
    cannot hold up the live traffic (and oTree closing its connection after
    each request does not close ours).
    """
    if not _own_db_thread():
        return sync_to_async(fn, thread_sensitive=True)

    async def run(*args):
        return await asyncio.get_event_loop().run_in_executor(_executor(), _in_db_thread, fn, args)

    return run


_handshake_executor = None
#: Threads (each with its own database connection) for the database work of
#: handshakes (authorize, connect, ready check).  One: the handshakes of a
#: group then take turns in arrival order, as they did in the pipeline, so
#: a socket's initial frames never overtake what another member's ready
#: check sends (the work holds the GIL most of the time: more threads did
#: not connect a lab faster).
HANDSHAKE_THREADS = 1


def _atomic_call(fn, args):
    with transaction.atomic():
        return fn(*args)


def handshake_sync(fn, atomic=True):
    """Run a handshake's database work (``fn``, in a transaction) beside the pipeline.

    Handshakes run on threads of their own, so that a lab of participants
    connecting at once neither waits behind the live traffic's batches nor
    holds them up.  They read only what is committed and publish after they
    commit (messaging.send_sync), so no order with the pipeline is needed;
    the sockets of a group are already subscribed to its bus.  Without
    ``atomic``, ``fn`` runs in autocommit and opens its own transactions
    where it writes: on SQLite a transaction takes the write lock at BEGIN
    (dbtuning), and one held across a handshake's reads and Redis calls
    would hold up the pipeline's commits.
    """
    if not _own_db_thread():
        if not atomic:
            return sync_to_async(fn, thread_sensitive=True)

        def call(*args):
            return _atomic_call(fn, args)

        return sync_to_async(call, thread_sensitive=True)

    async def run(*args):
        global _handshake_executor
        with _db_executor_lock:
            if _handshake_executor is None:
                _handshake_executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=HANDSHAKE_THREADS, thread_name_prefix="redwood-handshake"
                )
        if atomic:
            fn_, args = _atomic_call, (fn, args)
        else:
            fn_ = fn
        return await asyncio.get_event_loop().run_in_executor(_handshake_executor, _in_db_thread, fn_, args)

    return run
