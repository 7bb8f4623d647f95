"""What crosses the Redis bus between service processes, in msgpack.

A room frame, published on the room's sharded channel (`keys.room_channel`), is
a msgpack array `[origin, event, payload, skip]`: the id of the process that
published it (`""` when the store's APPEND script did: every process delivers
those), the event name, its payload (a map), and a connection that must not get
it (or nil). A process skips frames it published itself: it delivered them
before publishing. The APPEND script builds a `chat:message` frame around the
two values only Redis knows (the message's `ts` and `id`), from the parts
`message_frame_parts` makes, so every process delivers messages in stream-id
order. A notice, on `keys.NOTICES`, is `Notice.to_record()` packed.
Written down for outside readers in `docs/protocol.md` ("Between processes").
"""

from __future__ import annotations

import functools
from typing import Any

import msgpack

STORE_ORIGIN = ""  # frames the store's script publishes: every process delivers them


def pack(obj: Any) -> bytes:
    packed: bytes = msgpack.packb(obj, use_bin_type=True)
    return packed


def unpack(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def room_frame(origin: str, event: str, payload: dict[str, Any], skip: str | None) -> bytes:
    return pack((origin, event, payload, skip))


def read_room_frame(raw: bytes) -> tuple[str, str, dict[str, Any], str | None] | None:
    """The frame's parts, or None when it is not a room frame."""
    try:
        frame = unpack(raw)
    except Exception:
        return None
    if not isinstance(frame, list) or len(frame) != 4:
        return None
    origin, event, payload, skip = frame
    if (not isinstance(origin, str) or not isinstance(event, str)
            or not isinstance(payload, dict) or not (skip is None or isinstance(skip, str))):
        return None
    return origin, event, payload, skip


def message_frame_parts(
    event: str, payload: dict[str, Any], late: tuple[str, str]
) -> tuple[bytes, bytes, bytes]:
    """Split a store-published room frame around two values known only inside Redis.

    `payload` gets the keys `late[0]` and `late[1]` (for a stored message `ts`
    and `id`) appended: the frame is `prefix + pack(v0) + mid + pack(v1) + suffix`.
    """
    if len(payload) + 2 >= 16:
        raise ValueError("payload too large for a fixmap")
    packed = pack(payload)  # a fixmap: one header byte, then the items
    prefix = _head(event) + bytes([0x80 | len(payload) + 2]) + packed[1:] + pack(late[0])
    return prefix, pack(late[1]), pack(None)  # suffix: no connection skipped


@functools.lru_cache(maxsize=256)
def _head(event: str) -> bytes:
    """The frame up to its payload's map: a 4-array, the store's origin, the event."""
    return b"\x94" + pack(STORE_ORIGIN) + pack(event)
