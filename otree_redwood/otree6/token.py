"""The socket token on oTree 6: who may open a participant's socket.

Every member's participant code is visible to the whole group
(``window.oTree.group.players``), so the code in the socket URL cannot be the
credential.  The page oTree renders for a participant carries a token that only
the server can make: an HMAC of that participant's code, the app and the group,
keyed with oTree's own secret.  The socket presents it (``?token=``) and the
server recomputes it.  The app name is part of the message because on oTree 6
each app has its own group table, so a group pk alone is not unique.

Same role as the oTree 3 host's token (a Django signature); the value differs,
which no page notices: the page only hands back what it was given.

oTree internal: ``otree/common.py`` ``_SECRET`` (``settings.SECRET_KEY`` +
``ADMIN_PASSWORD``, what oTree keys its own signatures with; changing either
invalidates open pages' tokens, as it logs admins out).
"""
import hashlib
import hmac

# keeps our MACs apart from anything else keyed with _SECRET
_PURPOSE = b"otree-redwood socket token v1\n"


def _key():
    from otree.common import _SECRET

    return _PURPOSE + _SECRET.encode("utf-8")


def _message(participant_code, app_name, group_pk):
    return ("%s/%s/%s" % (participant_code, app_name, group_pk)).encode("utf-8")


def socket_token(participant_code, app_name, group_pk):
    """The token rendered into this participant's page only."""
    return hmac.new(_key(), _message(participant_code, app_name, group_pk), hashlib.sha256).hexdigest()


def check_token(token, participant_code, app_name, group_pk):
    """True only for the token of exactly this participant, app and group.

    ``token`` comes from a browser: anything that is not a string is refused,
    never an error; the comparison takes constant time.
    """
    if not isinstance(token, str) or not token:
        return False
    try:
        given = token.encode("ascii")
    except UnicodeEncodeError:
        return False
    expected = socket_token(participant_code, app_name, group_pk).encode("ascii")
    return hmac.compare_digest(given, expected)
