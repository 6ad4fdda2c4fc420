"""A WebSocket test client on channels' WebsocketCommunicator."""
import asyncio
import json

from channels.testing import WebsocketCommunicator


class Client:
    def __init__(self, path):
        from otree.channels.routing import application

        self.path = path
        self.comm = WebsocketCommunicator(application, path)
        self.received = []
        self.duplicates = 0
        self.closed_code = None
        self._seen = set()

    async def connect(self, expect_open=True):
        connected, _ = await self.comm.connect(timeout=10)
        assert connected
        return self

    async def send(self, channel, payload=None, **extra):
        msg = {"channel": channel, "payload": payload}
        msg.update(extra)
        await self.comm.send_to(text_data=json.dumps(msg))

    async def send_raw(self, text=None, bytes_data=None):
        await self.comm.send_to(text_data=text, bytes_data=bytes_data)

    async def recv(self, timeout=5):
        """The next new frame as a dict; None if the socket was closed.

        Like the browser client, frames whose ``seq`` was already seen are
        dropped: around a (re)connect the server may send one twice (from the
        live bus and from the resync snapshot).
        """
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while True:
            # not comm.receive_output(): on a timeout it cancels the consumer
            if self.comm.future.done():
                self.comm.future.result()  # raises the consumer's exception, if any
            out = await asyncio.wait_for(self.comm.output_queue.get(), max(0.001, deadline - loop.time()))
            if out["type"] == "websocket.close":
                self.closed_code = out.get("code")
                return None
            msg = json.loads(out["text"])
            seq = msg.get("seq")
            if seq is not None:
                if seq in self._seen:
                    self.duplicates += 1
                    continue
                self._seen.add(seq)
            self.received.append(msg)
            return msg

    async def recv_until(self, predicate, timeout=5):
        """Frames until one satisfies predicate; returns that one."""
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError("no matching frame; got %r" % self.received[-5:])
            msg = await self.recv(timeout=left)
            if msg is None:
                raise ConnectionError("closed with %s" % self.closed_code)
            if predicate(msg):
                return msg

    async def drain(self, quiet=0.3):
        """Every frame until none comes for ``quiet`` seconds."""
        out = []
        while True:
            try:
                msg = await self.recv(timeout=quiet)
            except asyncio.TimeoutError:
                return out
            if msg is None:
                return out
            out.append(msg)

    async def close(self):
        try:
            await self.comm.disconnect()
        except Exception:
            pass
