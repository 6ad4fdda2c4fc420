"""The wire format: what a client may send, and what the server sends back.

client -> server: ``{"channel": "<name>", "payload": <any JSON>}``
server -> client: ``{"channel": "<name>", "payload": <JSON>, "seq": n, "ts": ms}``

``seq`` is a per-group sequence number (absent on replies that only concern
the socket, such as ``ping`` and ``error``); ``ts`` is the server's clock in
milliseconds since the epoch (UTC).  Clients ignore keys they do not know.
"""
import json
import re
import time

from . import conf

CHANNEL_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")

#: Channels that only the server may send on.
SERVER_CHANNELS = frozenset(
    ["state", "group_decisions", "group_decisions_delta", "subperiod", "error", "redwood", "tick"]
)

#: Channels that are answered but never stored or dispatched.
CONTROL_CHANNELS = frozenset(["ping"])

STATE_PERIOD_START = "period_start"
STATE_PERIOD_END = "period_end"

# WebSocket close codes (4000-4999 are for applications)
CLOSE_BAD_URL = 4000
CLOSE_FORBIDDEN = 4003
CLOSE_NOT_FOUND = 4004
CLOSE_TOO_SLOW = 4008
CLOSE_SERVER_ERROR = 4011


class ProtocolError(Exception):
    """An inbound frame that is refused; ``reason`` goes back to the client."""

    def __init__(self, reason, **extra):
        super().__init__(reason)
        self.reason = reason
        self.extra = extra


def now_ms():
    return time.time() * 1000.0


def dumps(obj):
    """Compact JSON, the one encoding used on the wire and in Redis."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def server_only_channels():
    return SERVER_CHANNELS | frozenset(conf.get("SERVER_ONLY_CHANNELS") or ())


def parse_inbound(text, max_bytes=None, reserved=None):
    """Validate one text frame; return ``(channel, message_dict)``.

    Raises ProtocolError with a human-readable reason for anything that is
    not a well-formed message the client is allowed to send.
    """
    if max_bytes is None:
        max_bytes = conf.get("MAX_MESSAGE_BYTES")
    if text is None:
        raise ProtocolError("binary frames are not accepted; send JSON text")
    if len(text) > max_bytes or len(text.encode("utf-8")) > max_bytes:
        raise ProtocolError("message too large", limit_bytes=max_bytes)
    try:
        msg = json.loads(text)
    except ValueError:
        raise ProtocolError("message is not valid JSON")
    if not isinstance(msg, dict):
        raise ProtocolError("message must be a JSON object")
    channel = msg.get("channel")
    if not isinstance(channel, str):
        raise ProtocolError("'channel' must be a string")
    if not CHANNEL_RE.match(channel):
        raise ProtocolError("invalid channel name: 1-100 characters of A-Z a-z 0-9 _ . -")
    if channel in CONTROL_CHANNELS:
        return channel, msg
    if channel in (server_only_channels() if reserved is None else reserved):
        raise ProtocolError("channel '%s' is reserved for the server" % channel)
    return channel, msg


def error_frame(reason, channel=None, **extra):
    payload = {"reason": reason}
    if channel is not None:
        payload["channel"] = channel
    payload.update(extra)
    return dumps({"channel": "error", "payload": payload, "ts": now_ms()})


def frame(channel, payload_json, seq=None, ts=None):
    """Encode a server message; ``payload_json`` is already JSON text.

    Payloads are encoded once, where they are made, and spliced in here so a
    broadcast to G members costs one encoding, not G.
    """
    parts = ['{"channel":', json.dumps(channel), ',"payload":', payload_json]
    if seq is not None:
        parts.append(',"seq":%d' % seq)
    parts.append(',"ts":%.3f}' % (ts if ts is not None else now_ms()))
    return "".join(parts)


def map_json(pairs):
    """JSON object text from ``(key, value_json_text)`` pairs (no re-encoding)."""
    return "{" + ",".join(json.dumps(k) + ":" + v for k, v in pairs) + "}"
