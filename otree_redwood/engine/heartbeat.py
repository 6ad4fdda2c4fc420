"""The heartbeat: this process is alive (its sockets count as connected) and its live figures.

Every few seconds it renews the process's key in Redis (a process whose
key expired is dead: its sockets stop counting), registers its sockets
again after a Redis loss, and publishes each group's messages per second
and round trips to the admin's live monitor.
"""
import asyncio
import collections
import logging
import time


from . import conf, keys, lifecycle, protocol, timers

logger = logging.getLogger(__name__)

class Heartbeat:
    """The heartbeat part of a Runtime (see the module doc)."""

    async def _beat(self):
        ttl = max(1, int(conf.get("PROCESS_TIMEOUT")))
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(lifecycle.process_alive_key(self.process_id), str(time.time()), ex=ttl)
        pipe.get(timers.sentinel_key())
        _, epoch = await pipe.execute()
        if epoch != self.timers_epoch:
            self.timers_epoch = epoch
            await self._register_sockets_again()
            if timers.has_local_timers():
                # emitters on plain functions live in this process only
                await self.loop.run_in_executor(None, timers.rearm_local_sync)

    async def _register_sockets_again(self):
        """After Redis lost its state, tell it again which sockets are here.

        Without it a member connected before the loss would not count as
        connected, and a group still waiting for its last member would wait
        for ever; the groups get their ready check again for the same reason.
        """
        socks = [sock for subs in list(self.local.values()) for sock in subs]
        if not socks:
            return
        pipe = self.redis.pipeline(transaction=False)
        for sock in socks:
            pipe.hset(sock.info.sockets_key, sock.socket_id, "%s|%s" % (sock.participant_code, self.process_id))
        await pipe.execute()
        for info in {sock.info.gk: sock.info for sock in socks}.values():
            try:
                await self.call(lifecycle.ready_phase, info)
            except Exception:
                logger.exception("redwood: ready check of %s after a Redis loss failed", info.gk)

    async def _heartbeat(self):
        interval = max(0.2, min(float(conf.get("PROCESS_TIMEOUT")) / 3.0, float(conf.get("MONITOR_INTERVAL"))))
        last_in = collections.Counter()
        last_t = time.monotonic()
        while not self.closed:
            await asyncio.sleep(interval)
            try:
                await self._beat()
                now_t = time.monotonic()
                await self._report(last_in, now_t - last_t)
                last_in = collections.Counter(self.stats.per_group_in)
                last_t = now_t
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redwood heartbeat failed")

    async def _report(self, last_in, elapsed):
        by_session = collections.defaultdict(dict)
        for ch, socks in list(self.local.items()):
            if not socks:
                continue
            info = next(iter(socks)).info
            rate = (self.stats.per_group_in[info.gk] - last_in.get(info.gk, 0)) / max(elapsed, 1e-6)
            by_session[info.session_code][info.gk] = {
                "app": info.app_name,
                "group": info.pk,
                "connected": sorted({s.participant_code for s in socks}),
                "rtt_ms": {s.participant_code: s.rtt_ms for s in socks if s.rtt_ms is not None},
                "in_per_s": round(rate, 2),
            }
        if not by_session:
            return
        pipe = self.redis.pipeline(transaction=False)
        for session_code, groups_ in by_session.items():
            try:
                payload = protocol.dumps({"process": self.process_id, "ts": protocol.now_ms(), "groups": groups_})
            except ValueError:
                # a figure that is not JSON must not stop the reports of the others
                logger.exception("redwood monitor report of %s not encodable", session_code)
                continue
            pipe.publish(keys.session_monitor(session_code), payload)
        await pipe.execute()
