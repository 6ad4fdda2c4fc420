"""The wire format: what a client may send, and what the server sends back.

client -> server: ``{"channel": "<name>", "payload": <any JSON>}``
server -> client: ``{"channel": "<name>", "payload": <JSON>, "seq": n, "ts": ms}``

``seq`` is a per-group sequence number (absent on replies that only concern
the socket, such as ``ping`` and ``error``); ``ts`` is the server's clock in
milliseconds since the epoch (UTC).  Clients ignore keys they do not know.
"""
import itertools
import json
import math
import re

from . import conf
from .clock import now_ms  # noqa: F401  (protocol.now_ms is used across the package)

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
#: Close codes after which a page gives up (the socket can never be allowed);
#: after any other close it reconnects.  src/lib/socket.js has the same list
#: (tests/unit/test_wire_constants.py holds them equal).
FINAL_CLOSE_CODES = (CLOSE_BAD_URL, CLOSE_FORBIDDEN, CLOSE_NOT_FOUND)

#: The participant socket's URL path, as in 0.9.x; the router's pattern, the
#: bots and the tests are built from these two (and socket.js is checked
#: against them).
SOCKET_PATH = "/redwood/app-name/{app_name}/group/{group_pk}/participant/{participant_code}/"
SOCKET_ROUTE = (r"^redwood/app-name/(?P<app_name>[^/]+)/group/(?P<group>[^/]+)"
                r"/participant/(?P<participant_code>[^/]+)/$")


def socket_path(app_name, group_pk, participant_code, token=None, seq=None):
    """The path (and query) of a participant's socket."""
    from urllib.parse import quote

    path = SOCKET_PATH.format(app_name=quote(str(app_name), safe=""), group_pk=quote(str(group_pk), safe=""),
                              participant_code=quote(str(participant_code), safe=""))
    query = []
    if token:
        query.append("token=" + quote(str(token), safe=""))
    if seq is not None:
        query.append("seq=%d" % seq)
    return path + ("?" + "&".join(query) if query else "")


class ProtocolError(Exception):
    """An inbound frame that is refused; ``reason`` goes back to the client."""

    def __init__(self, reason, **extra):
        super().__init__(reason)
        self.reason = reason
        self.extra = extra




# a Python str never holds a surrogate pair (a character above U+FFFF is one
# code point), so any surrogate in it is one that UTF-8 cannot encode
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# the escape of a surrogate in JSON text: a pair is a valid character, a lone
# one is not, and only the decoded value tells them apart
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# strings, then everything that is not a bracket, are dropped before the
# nesting depth is measured (brackets inside strings do not nest)
_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
#: More digits than this in an integer is refused: it overflows a double (a
#: browser reads it as Infinity), and Python 3.8 converts long digit strings
#: in quadratic time.
MAX_INT_DIGITS = 309


def dumps(obj):
    """Compact JSON, the one encoding used on the wire and in Redis.

    Strict in the way the wire is (RFC 8259): NaN, Infinity and lone
    surrogates raise ValueError here, where the value is made, instead of
    breaking a publish or a socket later.
    """
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if _SURROGATE_RE.search(text):
        raise ValueError("lone surrogate in a string; not encodable as UTF-8")
    return text


#: Values nested deeper than this are replaced by sanitize().
SANITIZE_DEPTH = 100


def sanitize(value, depth=0):
    """A copy of ``value`` that strict JSON can encode.

    Non-finite numbers become null, lone surrogates U+FFFD, anything nested
    deeper than SANITIZE_DEPTH a marker string.  For data stored before the
    wire was strict, or written by an app, on its way to an admin's page.
    """
    if depth >= SANITIZE_DEPTH:
        return "(nested too deep)"
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {sanitize(str(k), depth + 1): sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int)):
        return value
    return str(value)


def safe_dumps(obj):
    """dumps(obj), or dumps of its sanitized copy when it is not strict JSON."""
    try:
        return dumps(obj)
    except (ValueError, TypeError, RecursionError):
        return dumps(sanitize(obj))


def strict_json_text(text):
    """Stored JSON text made strict for a browser's JSON.parse (NaN, Infinity -> null).

    Unchanged (and not parsed) unless it holds one of those words.
    """
    if "NaN" not in text and "Infinity" not in text:
        return text
    try:
        value = json.loads(text)
        dumps(value)
        return text
    except RecursionError:
        return '"(nested too deep)"'
    except ValueError:
        try:
            return dumps(sanitize(json.loads(text)))
        except (ValueError, RecursionError):
            return "null"


def nesting_depth(text):
    """Deepest bracket nesting of JSON text, measured without recursion."""
    brackets = _NOT_BRACKET_RE.sub("", _STRING_RE.sub("", text))
    if not brackets:
        return 0
    return max(0, max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets))))


def _refuse_constant(name):
    raise ProtocolError("%s is not JSON (RFC 8259); send finite numbers only" % name)


def _strict_float(text):
    value = float(text)
    if math.isinf(value):
        raise ProtocolError("number out of range: %s..." % text[:20])
    return value


def _strict_int(text):
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ProtocolError("number out of range: an integer of %d digits" % len(text))
    return int(text)


# built once: json.loads with hooks builds a decoder on every call
_STRICT_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_strict_float,
                                   parse_int=_strict_int)


def strict_loads(text, max_depth=None):
    """Parse JSON text as RFC 8259 has it; raise ProtocolError otherwise.

    Python's parser also accepts NaN, Infinity, numbers that overflow to
    infinity and lone surrogates, which our encoder (and a browser's) then
    refuses: such a value, once stored, would break every reader of it.
    Nesting is limited before parsing, so that no reader of a stored value
    can run out of stack.
    """
    if max_depth is None:
        max_depth = conf.get("MAX_NESTING")
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise ProtocolError("message nested too deep", limit_depth=max_depth)
    try:
        value = _STRICT_DECODER.decode(text)
    except ProtocolError:
        raise
    except (ValueError, RecursionError):
        raise ProtocolError("message is not valid JSON")
    if _SURROGATE_ESCAPE_RE.search(text):
        try:
            dumps(value)
        except ValueError:
            raise ProtocolError("message holds a lone surrogate (\\ud800-\\udfff); not valid Unicode")
    return value


def finite_number(value):
    """True for an int or float that is not a bool and not NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def server_only_channels():
    return SERVER_CHANNELS | frozenset(conf.get("SERVER_ONLY_CHANNELS") or ())


def parse_inbound(text, max_bytes=None, reserved=None, max_depth=None):
    """Validate one text frame; return ``(channel, message_dict)``.

    Raises ProtocolError with a human-readable reason for anything that is
    not a well-formed message the client is allowed to send.
    """
    if max_bytes is None:
        max_bytes = conf.get("MAX_MESSAGE_BYTES")
    if text is None:
        raise ProtocolError("binary frames are not accepted; send JSON text")
    if len(text) > max_bytes:
        raise ProtocolError("message too large", limit_bytes=max_bytes)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        # only a transport that does not decode UTF-8 strictly can hand us this
        raise ProtocolError("message is not valid UTF-8")
    if size > max_bytes:
        raise ProtocolError("message too large", limit_bytes=max_bytes)
    msg = strict_loads(text, max_depth)
    if not isinstance(msg, dict):
        raise ProtocolError("message must be a JSON object")
    channel = msg.get("channel")
    if not isinstance(channel, str):
        raise ProtocolError("'channel' must be a string")
    if not CHANNEL_RE.match(channel):
        raise ProtocolError("invalid channel name: 1-100 characters of A-Z a-z 0-9 _ . -")
    if channel in CONTROL_CHANNELS:
        _check_ping(msg)
        return channel, msg
    if channel in (server_only_channels() if reserved is None else reserved):
        raise ProtocolError("channel '%s' is reserved for the server" % channel)
    if "payload" not in msg:
        raise ProtocolError("'payload' is missing (send null for no value)", channel=channel)
    return channel, msg


def _check_ping(msg):
    """ping: ``timestamp`` and the average round trip, finite numbers or absent.

    (null is accepted for the average: a browser's JSON.stringify turns NaN
    into null before the first reply has come.)
    """
    ts = msg.get("timestamp")
    if ts is not None and not finite_number(ts):
        raise ProtocolError("ping: 'timestamp' must be a number", channel="ping")
    for field in ("avg_ping_time", "avgping_time"):
        value = msg.get(field)
        if value is not None and not finite_number(value):
            raise ProtocolError("ping: '%s' must be a number" % field, channel="ping")


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
