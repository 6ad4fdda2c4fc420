"""The scheduler: claims due timers from Redis and feeds them to the pipeline.

One Lua call per wake-up claims from the shared and this process's timer
sets and returns the next due time; after Redis lost its timers, one
scheduler re-arms them from the database (actions.recover_sync).
"""
import asyncio
import logging
import uuid


from . import actions, conf, protocol, timers

logger = logging.getLogger(__name__)

class Scheduler:
    """The scheduler part of a Runtime (see the module doc)."""

    async def _scheduler(self):
        """Claim due timers and feed them to the pipeline; sleep until the next.

        One script call per wake-up claims from both sets (shared timers and
        this process's own) and returns the next due time.
        """
        claim = self.redis.register_script(timers.CLAIM_LUA)
        zsets = [timers.zset_key(), timers.zset_key(self.process_id)]
        poll = float(conf.get("SCHEDULER_POLL"))
        limit = 1000
        prefixes = [timers.hash_prefix(), timers.group_set_prefix(), timers.sentinel_key()]
        while not self.closed and not self.draining:
            try:
                self.timer_wake.clear()
                flat = await claim(keys=zsets, args=[repr(protocol.now_ms()), limit] + prefixes)
                ticks, next_due, lost = timers.parse_claim_state(flat)
                for t in ticks:
                    self.submit_tick(t)
                if lost:
                    await self._recover_timers()
                    continue
                if len(ticks) >= limit:
                    continue
                delay = poll
                if next_due is not None:
                    delay = min(delay, max(0.0, (next_due - protocol.now_ms()) / 1000.0))
                if delay > 0 and not self.timer_wake.is_set() and not self.draining:
                    # a timer handle is cheaper than wait_for's extra task
                    wake = self.loop.call_later(delay, self.timer_wake.set)
                    try:
                        await self.timer_wake.wait()
                    finally:
                        wake.cancel()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redwood scheduler: error; retrying")
                await asyncio.sleep(0.5)

    async def _recover_timers(self):
        """Redis lost the timers: one scheduler re-arms them from the database."""
        lock = timers.recovery_lock_key()
        if not await self.redis.set(lock, self.process_id, nx=True, ex=60):
            await asyncio.sleep(0.1)  # another process is at it
            return
        try:
            # in the pipeline's order: the batches before it have committed
            await self.call(actions.recover_sync)
            await self.redis.set(timers.sentinel_key(), uuid.uuid4().hex)
        finally:
            await self.redis.delete(lock)
