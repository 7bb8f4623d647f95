"""Wire shapes: decoding MessagePack packets and validating event payloads.

Payloads are checked here, once, into plain typed values; anything off is a
`BadRequest` with a message naming the field.
"""

from __future__ import annotations

import builtins
from typing import Any, overload

import msgpack
from socketio.msgpack_packet import MsgPackPacket

from rooms.errors import BadRequest
from rooms.message import parse_id


class _Undefined:
    """JavaScript `undefined`, as socket.io-msgpack-parser (notepack) sends it."""

    def __repr__(self) -> str:
        return "undefined"


class _BadExt:
    def __repr__(self) -> str:
        return "bad-ext"


UNDEFINED = _Undefined()
BAD_EXT = _BadExt()
MAX_DEPTH = 32


def ext_hook(code: int, data: bytes) -> object:
    if code == 0 and data == b"\x00":
        return UNDEFINED
    return BAD_EXT


class LivePacket(MsgPackPacket):  # type: ignore[misc]
    """MessagePack packets as the npm socket.io-msgpack-parser writes them."""

    dumps_default = None
    ext_hook = staticmethod(ext_hook)

    def decode(self, encoded_packet: bytes) -> None:
        if not isinstance(encoded_packet, bytes | bytearray):
            raise MalformedPacket("packet is not binary")
        try:
            decoded = msgpack.loads(encoded_packet, ext_hook=ext_hook, strict_map_key=False)
        except Exception as exc:  # msgpack raises several types for bad input
            raise MalformedPacket("packet is not MessagePack") from exc
        check_packet(decoded)
        self.packet_type = decoded["type"]
        self.data = decoded.get("data")
        self.id = decoded.get("id")
        self.namespace = decoded["nsp"]


class MalformedPacket(ValueError):
    """A frame that is not a Socket.IO packet a client may send: its connection ends."""


# what a client may send: CONNECT, DISCONNECT, EVENT, ACK (no binary types with msgpack)
CLIENT_PACKET_TYPES = (0, 1, 2, 3)
RESERVED_EVENTS = frozenset({"connect", "connect_error", "disconnect", "disconnecting",
                             "newListener", "removeListener"})
MAX_ACK_ID = (1 << 53) - 1  # a JavaScript safe integer


def check_packet(p: object) -> None:
    """The checks socket.io-parser makes on decoding, so handlers only see sane packets."""
    if not isinstance(p, dict):
        raise MalformedPacket("packet is not a map")
    kind, nsp, ack_id, data = p.get("type"), p.get("nsp"), p.get("id"), p.get("data")
    if type(kind) is not int or kind not in CLIENT_PACKET_TYPES:
        raise MalformedPacket("bad packet type")
    if not isinstance(nsp, str) or len(nsp) > 256:
        raise MalformedPacket("bad namespace")
    if ack_id is not None and (type(ack_id) is not int or not 0 <= ack_id <= MAX_ACK_ID):
        raise MalformedPacket("bad ack id")
    if kind == 0 and data is not None and not isinstance(data, dict):
        raise MalformedPacket("bad CONNECT payload")
    if kind == 2 and not (isinstance(data, list) and data and isinstance(data[0], str)
                          and data[0] not in RESERVED_EVENTS):
        raise MalformedPacket("bad EVENT payload")
    if kind == 3 and not isinstance(data, list):
        raise MalformedPacket("bad ACK payload")


# values `clean` leaves as they are, with nothing inside to look at
_PLAIN = frozenset({str, int, float, bool, type(None), bytes})


def clean(value: Any, depth: int = 0) -> Any:
    """Drop `undefined` fields of maps, refuse other extension values."""
    if depth > MAX_DEPTH:
        raise BadRequest("payload nested too deeply")
    if type(value) is dict:
        for v in value.values():
            if type(v) not in _PLAIN:
                break
        else:  # a flat map of plain values (a chat message's): nothing to drop or refuse
            return value
    if value is BAD_EXT or isinstance(value, msgpack.Timestamp):  # ext -1 skips ext_hook
        raise BadRequest("unsupported msgpack extension value")
    if value is UNDEFINED:
        return None
    if isinstance(value, dict):
        return {k: clean(v, depth + 1) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list):
        return [clean(v, depth + 1) for v in value]
    return value


class Fields:
    """Typed access to an event payload's fields."""

    def __init__(self, data: Any) -> None:
        data = clean(data)
        if not isinstance(data, dict):
            raise BadRequest("payload must be a map")
        self._d: dict[Any, Any] = data

    def raw(self, name: str) -> Any:
        return self._d.get(name)

    def str(
        self, name: builtins.str, *, optional: builtins.bool = False, max_len: builtins.int = 10_000
    ) -> Any:
        v = self._d.get(name)
        if v is None and optional:
            return None
        if not isinstance(v, str):
            raise BadRequest(f"{name} must be a string")
        if len(v) > max_len:
            raise BadRequest(f"{name} is too long")
        return v

    @overload
    def bool(self, name: builtins.str) -> builtins.bool: ...

    @overload
    def bool(self, name: builtins.str, *, optional: builtins.bool) -> builtins.bool | None: ...

    def bool(self, name: builtins.str, *, optional: builtins.bool = False) -> builtins.bool | None:
        """`true` or `false`; an absent field is `None` if `optional`."""
        v = self._d.get(name)
        if v is None and optional:
            return None
        if not isinstance(v, builtins.bool):
            raise BadRequest(f"{name} must be true or false")
        return v

    def int(
        self,
        name: builtins.str,
        *,
        optional: builtins.bool = False,
        lo: builtins.int = 0,
        hi: builtins.int = 1 << 31,
    ) -> Any:
        v = self._d.get(name)
        if v is None and optional:
            return None
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise BadRequest(f"{name} must be a whole number from {lo} to {hi}")
        return v

    def message_id(self, name: builtins.str, *, optional: builtins.bool = False) -> Any:
        """A message id (`rooms.message.parse_id`), as its canonical string."""
        v = self._d.get(name)
        if v is None and optional:
            return None
        try:
            return str(parse_id(v))
        except BadRequest:
            raise BadRequest(f"{name} is not a message id") from None
