"""Wire shapes: decoding MessagePack packets and validating event payloads.

Payloads are checked here, once, into plain typed values; anything off is a
`BadRequest` with a message naming the field.
"""

from __future__ import annotations

import builtins
from typing import Any, TypedDict

import msgpack
from socketio.msgpack_packet import MsgPackPacket

from rooms.errors import BadRequest


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
        decoded = msgpack.loads(encoded_packet, ext_hook=ext_hook, strict_map_key=False)
        if not isinstance(decoded, dict):
            raise ValueError("packet is not a map")
        self.packet_type = decoded["type"]
        self.data = decoded.get("data")
        self.id = decoded.get("id")
        self.namespace = decoded["nsp"]


def clean(value: Any, depth: int = 0) -> Any:
    """Drop `undefined` fields of maps, refuse other extension values."""
    if depth > MAX_DEPTH:
        raise BadRequest("payload nested too deeply")
    if value is BAD_EXT:
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

    def bool(self, name: builtins.str, *, default: builtins.bool | None = None) -> builtins.bool:
        v = self._d.get(name)
        if v is None and default is not None:
            return default
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
        v = self.str(name, optional=optional, max_len=48)
        if v is None:
            return None
        ms, dash, seq = v.partition("-")
        if not (dash and ms.isdigit() and seq.isdigit() and ms.isascii() and seq.isascii()):
            raise BadRequest(f"{name} is not a message id")
        return v


class ErrorBody(TypedDict):
    code: str
    message: str


class ErrorAck(TypedDict):
    ok: bool
    error: ErrorBody
