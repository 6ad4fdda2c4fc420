"""Start the runtime when the ASGI server starts (lifespan protocol).

oTree 3.4 answers the lifespan messages of its hypercorn with
``otree.channels.consumers.LifespanApp``; we wrap it so that
``lifespan.startup`` also starts this process's runtime (bus, pipeline,
scheduler) and ``lifespan.shutdown`` stops it.
"""
import logging

logger = logging.getLogger(__name__)


def install():
    from otree.channels import consumers as otree_consumers

    original = otree_consumers.LifespanApp
    if getattr(original, "_redwood_wrapped", False):
        return

    class RedwoodLifespanApp:
        _redwood_wrapped = True

        def __init__(self, scope):
            self.scope = scope

        async def __call__(self, receive, send):
            from . import runtime

            async def wrapped_receive():
                message = await receive()
                kind = message.get("type")
                if kind == "lifespan.startup":
                    try:
                        await runtime.ensure_started()
                    except Exception:
                        logger.exception("otree-redwood runtime did not start; it starts with the first socket")
                elif kind == "lifespan.shutdown":
                    try:
                        await runtime.get_runtime().stop()
                    except Exception:
                        logger.debug("runtime stop failed", exc_info=True)
                return message

            await original(self.scope)(wrapped_receive, send)

    otree_consumers.LifespanApp = RedwoodLifespanApp
