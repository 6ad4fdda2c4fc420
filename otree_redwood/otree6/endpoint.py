"""The participant's WebSocket on oTree 6, at the oTree 3 address:
``/redwood/app-name/<app>/group/<pk>/participant/<code>/?token=..&seq=..``.

A thin Starlette adapter over engine.socket.ParticipantSocket, the same
socket logic as oTree 3's (otree_redwood/consumers.py): the wire, the close
codes, held pongs, backpressure and the outbox are the engine's.  This module
gives it Starlette's send/accept/close and oTree 6's handshake steps (the
precheck against oTree 6's apps and our token, the membership read through
Otree6Host), and feeds it the frames.  oTree 6 has no browser binding
(``BIND_PARTICIPANT_TO_BROWSER`` is not applied).

The handshake's database work (authorize, connect, ready check) is batched
by engine.handshakes on the host's ``db_sync``, so it takes oTree's lock2
like every other database user, once per batch of sockets that connected
meanwhile rather than three times per socket.

The engine's Runtime runs in uvicorn's event loop: started by oTree's
start-up (attach.on_startup) and, where there is no lifespan (``otree
test``), by the first socket.

Starlette 0.14 facts used: ``WebSocketRoute(path, endpoint_function)``,
``WebSocket.accept/receive/send_text/close``, ``path_params``,
``query_params``.
"""
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from ..engine import conf, errors, protocol, runtime
from ..engine.groupinfo import group_key
from ..engine.handshakes import Handshakes
from ..engine.socket import ParticipantSocket
from . import attach, host as host6
from .token import check_token

#: The route, in Starlette's syntax, of engine.protocol.SOCKET_PATH / SOCKET_ROUTE.
PATH = "/redwood/app-name/{app_name}/group/{group}/participant/{participant_code}/"


def precheck(app_name, group_pk, participant_code, token, require_token):
    """What is refused without the database or Redis; returns the group pk (an int)."""
    try:
        group_pk = int(group_pk)
    except (TypeError, ValueError):
        raise errors.Refused(protocol.CLOSE_BAD_URL, "group must be a number")
    if host6.group_model(app_name) is None:
        raise errors.Refused(protocol.CLOSE_NOT_FOUND, "unknown app '%s' (or not a redwood app)" % app_name)
    if require_token and not check_token(token, participant_code, app_name, group_pk):
        raise errors.Refused(protocol.CLOSE_FORBIDDEN, "missing or invalid token; open the page through oTree")
    return group_pk


def authorize_many(requests):
    """[(ok, (GroupInfo as it is now, participant id) or Refused)] of many sockets (db_sync).

    ``requests``: (app_name, group pk, participant code, token, require_token)
    that passed precheck(); every group is read once, all in a few queries.
    """
    gks = [group_key(app_name, group_pk) for app_name, group_pk, _, _, _ in requests]
    infos = {info.gk: info for info in host6.HOST.build_infos(set(gks), siblings=False)}
    out = []
    for (app_name, group_pk, code, _, _), gk in zip(requests, gks):
        info = infos.get(gk)
        if info is None:
            out.append((False, errors.Refused(protocol.CLOSE_NOT_FOUND,
                                              "no group %s in app '%s'" % (group_pk, app_name))))
            continue
        member = info.members.get(code)
        if member is None:
            out.append((False, errors.Refused(protocol.CLOSE_FORBIDDEN, "participant is not a member of this group")))
        else:
            out.append((True, (info, member[0])))
    return out


def check_settings():
    """Refuse to start with a setting that oTree 6 cannot honour (never ignore it silently)."""
    if conf.get("BIND_PARTICIPANT_TO_BROWSER"):
        raise RuntimeError(
            "otree-redwood: BIND_PARTICIPANT_TO_BROWSER is not available on oTree 6 (oTree 6 sets no cookie "
            "that identifies a participant's browser); remove it from REDWOOD and REDWOOD_* (docs/security.rst)")


async def start_runtime():
    check_settings()
    await runtime.ensure_started()


async def stop_runtime():
    rt = runtime.running()
    if rt is not None:
        await rt.stop()


async def _start():
    # without a lifespan (``otree test``) the first socket runs oTree 6's start-up
    check_settings()
    await attach.ensure_started()
    return await runtime.ensure_started()


HANDSHAKES = Handshakes(precheck, authorize_many, host6.HOST.db_sync, start=_start)


async def participant_socket(websocket: WebSocket):
    sock = ParticipantSocket(websocket.send_text, websocket.accept, websocket.close, HANDSHAKES)
    params, query = websocket.path_params, websocket.query_params
    try:
        if not await sock.open(params.get("app_name"), params.get("group"), params.get("participant_code"),
                               query.get("token"), query.get("seq")):
            return
        while True:
            message = await websocket.receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind == "websocket.receive":
                await sock.receive(message.get("text"))
    finally:
        await sock.closed()


ROUTE = WebSocketRoute(PATH, participant_socket)

# once per process (a module body runs once)
attach.add_routes(ROUTE)
attach.on_startup(start_runtime)
attach.on_shutdown(stop_runtime)
