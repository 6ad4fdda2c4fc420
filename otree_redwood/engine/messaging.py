"""Server -> client messages: store as Event, number, publish on the bus.

The bus is Redis pub/sub, one channel per group (``rw:bus:<session>:<app>:<pk>``).
Every server process that holds a socket of the group subscribes to it and
hands each frame to its local sockets, so a broadcast is encoded once and
crosses Redis once per process, not once per member.  A bus message is
``<recipient code or empty>\\x1f<frame>``.

Messages are published only after the transaction that stored them commits:
what a client sees is always in the database.
"""
import json
import threading

from . import host, livestate, protocol, redis_conn

SEP = "\x1f"
_local = threading.local()


class RawJSON(str):
    """A payload that is already JSON text (spliced, never re-encoded)."""


def bus_message(recipient_code, frame):
    return (recipient_code or "") + SEP + frame


def split_bus_message(data):
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    recipient, _, frame = data.partition(SEP)
    return recipient or None, frame


class Batch:
    """Collects what sync code publishes while the pipeline runs it."""

    def __init__(self):
        self.outbox = []  # (bus channel, bus message)

    def publish(self, channel, message):
        self.outbox.append((channel, message))


class batch_context:
    """Inside it, send_sync() queues publishes on the batch instead of Redis."""

    def __init__(self, batch):
        self.batch = batch

    def __enter__(self):
        self.prev = getattr(_local, "batch", None)
        _local.batch = self.batch
        return self.batch

    def __exit__(self, *exc):
        _local.batch = self.prev


def current_batch():
    return getattr(_local, "batch", None)


def publish_many(outbox):
    """Publish [(bus channel, bus message)] in order, in one Redis round trip."""
    pipe = redis_conn.get_sync().pipeline(transaction=False)
    for channel, message in outbox:
        pipe.publish(channel, message)
    pipe.execute()


def send_sync(group, channel, payload, recipient=None, seq=None, t_ms=None, rows=None):
    """Store and deliver one server message (see Group.send / Group.send_to).

    ``recipient``: a Player, a Participant or a participant code (None: the
    whole group); ``t_ms`` dates the event (default: now).  Returns the
    host's stored event.  With ``rows`` (a list), the message is not stored
    here: its row is appended for the caller to store (Host.insert_events) in
    the same transaction, before the publish that follows its commit;
    returns None (group-wide messages only).
    """
    h = host.current()
    info = h.info_for(group)
    if isinstance(payload, RawJSON):
        payload_json = str(payload)
        value = json.loads(payload_json)
    else:
        payload_json = protocol.dumps(payload)
        value = payload
    rid, rcode = h.recipient(recipient) if recipient is not None else (None, None)
    if seq is None:
        seq = livestate.next_seq_sync(info)
    if t_ms is None:
        t_ms = protocol.now_ms()
    if rows is None:
        event = h.store_server_event(info, channel, value, seq, t_ms, rid)
    elif rid is None:
        rows.append((t_ms, info, channel, None, payload_json, seq))
        event = None
    else:
        raise ValueError("a message to one member is stored as it is sent")
    frame = protocol.frame(channel, payload_json, seq=seq, ts=t_ms)
    publish_after_commit(info.bus, bus_message(rcode, frame))
    return event


def publish_after_commit(channel, message):
    batch = current_batch()
    if batch is not None:
        batch.publish(channel, message)
        return
    host.current().on_commit(lambda: redis_conn.get_sync().publish(channel, message))


def event_frame(event):
    """The frame a stored server message (a groupinfo.StoredEvent) was sent as."""
    return protocol.frame(event.channel, protocol.dumps(event.value), seq=event.seq, ts=event.t_ms)
