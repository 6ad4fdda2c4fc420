"""lifespan.ctrl_c_stops_the_server: Ctrl+C ends the event loop even when it
lands in a coroutine whose ``finally`` awaits something that never comes
(hypercorn closing a connection: the server went on serving)."""
import asyncio
import os
import signal

import pytest

from otree_redwood import lifespan


async def _closing_connection(interrupt, closed):
    """Python code running when the signal comes; its cleanup waits for ``closed`` (never set while the loop runs)."""
    try:
        n = 0
        while True:
            n += 1
            if n == 1000:
                interrupt()
            sum(range(50))
            if n % 100 == 0:
                await asyncio.sleep(0)
    finally:
        await closed.wait()  # a close that does not complete


def _run(install):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    previous = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        installed = lifespan.ctrl_c_stops_the_server() if install else False
        closed = asyncio.Event()
        guard = loop.call_later(2, loop.stop)  # only when the interrupt was lost
        try:
            loop.run_until_complete(_closing_connection(lambda: os.kill(os.getpid(), signal.SIGINT), closed))
        finally:
            guard.cancel()
        return installed
    finally:
        if install:
            loop.remove_signal_handler(signal.SIGINT)
        # let the coroutine finish its cleanup before the loop closes
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        closed.set()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_ends_the_loop_wherever_it_lands():
    with pytest.raises(KeyboardInterrupt):
        _run(install=True)


def test_without_it_the_interrupt_waits_in_the_coroutines_cleanup():
    # what the server did: the loop went on (stopped here by the guard)
    with pytest.raises(RuntimeError, match="Event loop stopped before Future completed"):
        _run(install=False)


def test_a_handler_of_someone_elses_is_left_alone():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    previous = signal.getsignal(signal.SIGINT)
    mine = lambda sig, frame: None  # noqa: E731  (oTree's devserver saves its database first)
    try:
        signal.signal(signal.SIGINT, mine)
        assert lifespan.ctrl_c_stops_the_server() is False
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        signal.signal(signal.SIGINT, previous)
