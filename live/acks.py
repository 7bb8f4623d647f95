"""What a caller sees: domain errors mapped to Socket.IO acks and HTTP errors, in one place.

Every client event is answered `{ok: true, ...}` (`ok_ack`) or
`{ok: false, error: {code, message}}` (`error_ack`, contract §2 "Acks"); the
`error` is the `rooms.errors.LiveError`'s own `to_wire()`. A refused CONNECT
gets a `connect_error` with the same `{code, message}` (`connect_refusal`,
contract §2: `unauthorized`, `expired`, or `rate_limited` at a connection
cap). The teacher HTTP API
answers a `LiveError` with the status `http_status` gives and the body
`http_error` builds. Nothing else builds an error payload.
"""

from __future__ import annotations

from typing import Any, Protocol

import socketio
from aiohttp import web

from rooms.errors import LiveError, Unavailable

# a LiveError's code -> the HTTP status the teacher API answers it with; others: 503
HTTP_STATUS: dict[str, int] = {
    "bad_request": 400,
    "forbidden": 403,
    "not_found": 404,
    "too_large": 413,
    "rate_limited": 429,
}


class Refusal(Protocol):
    """A reason to refuse a connection: a `LiveError`, `tokens.TokenRefused`, a cap reached."""

    @property
    def message(self) -> str: ...

    def to_wire(self) -> dict[str, str]: ...


def ok_ack(fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """`{ok: true, ...fields}`."""
    return {"ok": True, **(fields or {})}


def error_ack(err: LiveError) -> dict[str, Any]:
    """`{ok: false, error: {code, message, ...}}`."""
    return {"ok": False, "error": err.to_wire()}


def internal_error() -> LiveError:
    """What a caller is told when a handler failed unexpectedly (logged by the caller)."""
    return Unavailable("internal error, try again")


def connect_refusal(why: Refusal) -> socketio.exceptions.ConnectionRefusedError:
    """Raise it from the connect handler: the client's `connect_error` data is `{code, message}`."""
    return socketio.exceptions.ConnectionRefusedError(why.message, why.to_wire())


def http_status(err: LiveError) -> int:
    return HTTP_STATUS.get(err.code, 503)


def http_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    """`{error: {code, message}}` with `status`, never cached."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status,
                             headers={"Cache-Control": "no-store", **headers})


def http_error_of(err: LiveError) -> web.Response:
    """A `LiveError` as the teacher API answers it."""
    return web.json_response({"error": err.to_wire()}, status=http_status(err),
                             headers={"Cache-Control": "no-store"})
