"""The bus: one Redis pub/sub connection per process, one channel per group.

Every process that holds a socket of a group subscribes to the group's
channel and hands each frame to its local sockets' outboxes, so a broadcast
is encoded once and crosses Redis once per process, not once per member.
After the connection broke, what was published meanwhile is replayed from
the database.
"""
import asyncio
import logging


from . import lifecycle, messaging, protocol

logger = logging.getLogger(__name__)

class Bus:
    """The bus part of a Runtime (see the module doc)."""

    async def attach(self, sock):
        ch = sock.info.bus
        subs = self.local[ch]
        subs.add(sock)
        waiter = self._sub_waiters.get(ch)
        if len(subs) == 1 and waiter is None:
            waiter = self.loop.create_future()
            self._sub_waiters[ch] = waiter
            await self.pubsub.subscribe(ch)
        if waiter is not None:
            await asyncio.wait_for(asyncio.shield(waiter), 10)

    async def detach(self, sock):
        ch = sock.info.bus
        subs = self.local.get(ch)
        if subs is None:
            return
        subs.discard(sock)
        if not subs:
            del self.local[ch]
            try:
                await self.pubsub.unsubscribe(ch)
            except Exception:
                logger.debug("unsubscribe failed", exc_info=True)

    async def _reader(self):
        while not self.closed:
            try:
                msg = await self.pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redwood bus reader: Redis error; retrying")
                if self.bus_broken_at is None:
                    self.bus_broken_at = protocol.now_ms()
                await asyncio.sleep(0.5)
                continue
            if msg is None:
                continue
            kind = msg["type"]
            ch = msg["channel"]
            ch = ch.decode() if isinstance(ch, bytes) else ch
            if kind == "message":
                if ch == self.wake_channel:
                    self.timer_wake.set()
                    continue
                socks = self.local.get(ch)
                if not socks:
                    continue
                recipient, frame = messaging.split_bus_message(msg["data"])
                for sock in tuple(socks):
                    if recipient is None or sock.participant_code == recipient:
                        sock.deliver(frame)
            elif kind == "subscribe":
                waiter = self._sub_waiters.pop(ch, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(True)
                elif waiter is None and self.bus_broken_at is not None and self.local.get(ch):
                    # subscribed again after the connection broke: what was
                    # published meanwhile never came; send it from the database
                    self.loop.create_task(self._replay(ch, self.bus_broken_at))

    async def _replay(self, ch, since_ms):
        socks = self.local.get(ch)
        if not socks:
            return
        info = next(iter(socks)).info
        try:
            frames = await self.call(lifecycle.frames_since, info, since_ms)
        except Exception:
            logger.exception("redwood: replay to the sockets of %s failed", info.gk)
            return
        for sock in tuple(self.local.get(ch, ())):
            for recipient_id, frame in frames:
                if recipient_id is None or recipient_id == sock.participant_id:
                    sock.deliver(frame)
        # a later break of the connection starts its own window
        self.loop.call_later(5.0, self._bus_mended, since_ms)

    def _bus_mended(self, since_ms):
        if self.bus_broken_at == since_ms:
            self.bus_broken_at = None
