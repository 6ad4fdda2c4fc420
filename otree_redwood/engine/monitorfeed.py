"""The admin event stream's feed, for both hosts' admin sockets.

An admin's live monitor subscribes to its session's monitor channel (each
process's reports) and to the buses of the session's groups.  A report goes
to the page as it is; a group's frames go as ``{"type": "frame", ...}`` in
their order, except that its ``group_decisions`` maps are coalesced to at
most one per ``FRAME_INTERVAL`` (the newest wins): a session at 1,000
decisions/s must not flood a browser tab.  ``send(text)`` is the socket's.
"""
import asyncio
import json
import logging

from . import protocol
from .messaging import split_bus_message

logger = logging.getLogger(__name__)

#: Seconds between two coalesced map frames of the monitor.
FRAME_INTERVAL = 0.1

_GD_PREFIX = '{"channel":"group_decisions"'


class MonitorFeed:
    """Forwards Redis reports and bus frames to one admin socket (see the module doc)."""

    def __init__(self, send, mon_channel, bus_prefix):
        self.send, self.mon_channel, self.bus_prefix = send, mon_channel, bus_prefix
        self.pending = {}
        self.wake = asyncio.Event()

    async def reader(self, pubsub):
        """Forward what ``pubsub`` (subscribed to the channels above) receives, for ever."""
        while True:
            try:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redwood monitor: Redis error; retrying")
                await asyncio.sleep(0.5)
                continue
            if msg is None:
                continue
            try:
                await self.forward(msg)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redwood monitor: could not forward a message")

    async def forward(self, msg):
        channel = msg["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        data = msg["data"]
        data = data.decode("utf-8") if isinstance(data, bytes) else data
        if msg["type"] == "message" and channel == self.mon_channel:
            report = json.loads(data)
            report["type"] = "report"
            await self.send(protocol.safe_dumps(report))
            return
        if msg["type"] != "pmessage" or not channel.startswith(self.bus_prefix):
            return
        app_name, _, pk = channel[len(self.bus_prefix):].rpartition(":")
        recipient, frame = split_bus_message(data)
        text = '{"type":"frame","app":%s,"group":%s,"recipient":%s,"frame":%s}' % (
            json.dumps(app_name), json.dumps(int(pk) if pk.isdigit() else pk), json.dumps(recipient), frame)
        key = (app_name, pk)
        if recipient is None and frame.startswith(_GD_PREFIX):
            self.pending[key] = text
            self.wake.set()
            return
        # keep a group's frames in order: its waiting map goes first
        waiting = self.pending.pop(key, None)
        if waiting is not None:
            await self.send(waiting)
        await self.send(text)

    async def flusher(self):
        """Send the waiting maps, at most one batch per FRAME_INTERVAL, for ever."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending:
                batch, self.pending = self.pending, {}
                for text in batch.values():
                    await self.send(text)
                await asyncio.sleep(FRAME_INTERVAL)
