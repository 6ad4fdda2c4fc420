"""``otree redwood_scheduler``: run the timer scheduler as its own process.

Use it when the server processes run with REDWOOD['SCHEDULER_IN_SERVER'] =
False, or beside them (the claims in Redis make each timer fire once however
many schedulers run).
"""
import asyncio
import signal

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the otree-redwood timer scheduler (period ends, sub-periods, rate limits, emitters)."

    def handle(self, *args, **options):
        from otree_redwood.engine import runtime

        loop = asyncio.get_event_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def main():
            rt = runtime.get_runtime()
            await rt.start(scheduler=True)
            self.stdout.write("otree-redwood scheduler %s running" % rt.process_id)
            await stop.wait()
            await rt.stop()

        loop.run_until_complete(main())
