"""WebSocket routes that oTree adds to its router (EXTENSION_APPS)."""
from django.conf.urls import url

from otree_redwood import admin_consumers, consumers, lifespan
from otree_redwood.engine import protocol

websocket_routes = [url(protocol.SOCKET_ROUTE, consumers.RedwoodConsumer)]

websocket_routes += admin_consumers.websocket_routes

# oTree builds its ASGI router right after importing this module; starting the
# runtime from the ASGI lifespan startup makes the scheduler run from the
# moment the server starts, not from the first WebSocket.
lifespan.install()
