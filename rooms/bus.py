"""What crosses the Redis bus between service processes, in msgpack.

A frame is the dict python-socketio's pub/sub managers exchange
(`method`, `event`, `data`, `room`, ...), packed with msgpack instead of JSON
and published on the room's own sharded channel, so a process hears only
rooms it has members in. The Redis store publishes `chat:message` frames from
inside the script that stores the message, so every process, the sender's
included, delivers messages in stream-id order.
"""

from __future__ import annotations

import functools
from typing import Any

import msgpack

CONTROL_CHANNEL = "live:ctl"
STORE_HOST = "store"  # host id of frames published by the store: every process handles them


def room_channel(room_key: str) -> str:
    # the hash tag keeps a room's channel in the slot of its keys (Redis Cluster)
    return f"live:{{{room_key}}}:bus"


def room_of_channel(channel: str) -> str | None:
    if channel.startswith("live:{") and channel.endswith("}:bus"):
        return channel[6:-5]
    return None


def pack(obj: Any) -> bytes:
    packed: bytes = msgpack.packb(obj, use_bin_type=True)
    return packed


def unpack(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def emit_frame_parts(
    event: str, room_key: str, payload: dict[str, Any], late: tuple[str, str]
) -> tuple[bytes, bytes, bytes]:
    """Split an emit frame around two values known only inside Redis.

    `payload` gets the keys `late[0]` and `late[1]` (in the stored-message case
    `ts` and `id`) appended by the caller of the script: the frame is
    `prefix + pack(v0) + mid + pack(v1) + suffix`.
    """
    if len(payload) + 2 >= 16:
        raise ValueError("payload too large for a fixmap")
    packed = pack(payload)  # a fixmap: one header byte, then the items
    prefix = _emit_head(event, room_key) + bytes([0x80 | len(payload) + 2]) + packed[1:]
    return prefix + pack(late[0]), pack(late[1]), b""


@functools.lru_cache(maxsize=4096)
def _emit_head(event: str, room_key: str) -> bytes:
    """The frame up to the argument's map: the same for every message of a room."""
    head = {
        "method": "emit",
        "event": event,
        "namespace": "/",
        "room": room_key,
        "skip_sid": None,
        "callback": None,
        "host_id": STORE_HOST,
        "binary": False,
    }
    parts = [pack(k) + pack(v) for k, v in head.items()]
    return (_map_header(len(head) + 1) + b"".join(parts) + pack("data")
            + b"\x91")  # an array of one argument


def _map_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x80 | n])
    return b"\xde" + n.to_bytes(2, "big")
