"""REDWOOD['BIND_PARTICIPANT_TO_BROWSER']: a participant's sockets from one browser only.

A participant's start link (and so the participant code) is all oTree asks
for, and every member of a group sees the others' codes.  With this setting
on, the first browser that opens a socket for a participant is bound to it:
sockets of that participant from any other browser are refused (4003).

A browser is known by Django's CSRF cookie, which oTree sets when it serves
the participant's page (the page's form and ``oTree.csrfToken`` need it) and
which the browser sends with the socket's handshake.  Only a digest of it is
kept, in Redis, for ``BINDING_TTL`` seconds.
"""
import hashlib

from django.conf import settings

from . import groups
from .engine import keys, protocol, redis_conn

#: How long a binding lasts (seconds): longer than any session.
BINDING_TTL = 7 * 24 * 3600


def browser_id(scope):
    """Digest of the browser's CSRF cookie from a socket's scope, or None."""
    cookies = scope.get("cookies") or {}
    value = cookies.get(getattr(settings, "CSRF_COOKIE_NAME", "csrftoken"))
    if not value:
        return None
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def binding_key(participant_code):
    return keys.browser_binding(participant_code)


async def check(scope, participant_code, client=None):
    """Bind the participant to this browser, or refuse a different one."""
    ident = browser_id(scope)
    if ident is None:
        raise groups.Refused(
            protocol.CLOSE_FORBIDDEN,
            "this experiment admits participants by browser: open the page in a browser that accepts cookies",
        )
    r = client or redis_conn.get_async()
    key = binding_key(participant_code)
    # first come, first bound; the later ones read what the first wrote
    if await r.set(key, ident, nx=True, ex=BINDING_TTL):
        return True
    bound = await r.get(key)
    bound = bound.decode() if isinstance(bound, bytes) else bound
    if bound is None:  # expired in between: take it
        await r.set(key, ident, nx=True, ex=BINDING_TTL)
        return True
    if bound != ident:
        raise groups.Refused(
            protocol.CLOSE_FORBIDDEN,
            "this participant is already playing in another browser; ask the experimenter",
        )
    return True


def release(participant_code):
    """Forget a participant's browser (sync), e.g. when a lab PC failed."""
    return bool(redis_conn.get_sync().delete(binding_key(participant_code)))
