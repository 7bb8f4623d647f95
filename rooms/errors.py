"""One error hierarchy for the whole service.

Each error carries the wire `code` of contract §2 ("Acks"); `live/acks.py`
turns any `LiveError` into `{ok: false, error: {code, message}}` (or an HTTP
error response) in one place.
Messages are short, in English, and never contain user content.
"""

from __future__ import annotations


class LiveError(Exception):
    code = "bad_request"
    default_message = "bad request"

    def __init__(self, message: str | None = None, **extra: str) -> None:
        self.message = message or self.default_message
        self.extra = extra  # further fields of the error's wire form, e.g. `process`
        super().__init__(self.message)

    def to_wire(self) -> dict[str, str]:
        """`{code, message}` (and any `extra` fields): the `error` of an error ack."""
        return {"code": self.code, "message": self.message, **self.extra}


class BadRequest(LiveError):
    code = "bad_request"
    default_message = "bad request"


class Forbidden(LiveError):
    code = "forbidden"
    default_message = "not allowed for your role"


class Filtered(Forbidden):
    """The space's filter blocks the message: `reason` names the rules that matched
    (comma-separated: words, phone, email, handle, link)."""

    default_message = "the message breaks a rule of this space's filter"

    def __init__(self, reason: str) -> None:
        super().__init__(None, reason=reason)


class NotFound(LiveError):
    code = "not_found"
    default_message = "not found"


class NotJoined(LiveError):
    code = "not_joined"
    default_message = "join the room first"


class RateLimited(LiveError):
    code = "rate_limited"
    default_message = "too many requests, slow down"


class RoomLocked(LiveError):
    code = "room_locked"
    default_message = "the room is locked"


class Banned(LiveError):
    code = "banned"
    default_message = "you may not enter this room for now"


class Muted(LiveError):
    code = "muted"
    default_message = "you are muted in this room"


class Waiting(LiveError):
    code = "waiting"
    default_message = "the room's lobby is on: wait until a teacher lets you in"


class HeldForTeacher(LiveError):
    """The space's filter holds the message for a teacher (`reason` as for `Filtered`,
    `held` the held message's id): it is delivered if a teacher releases it."""

    code = "waiting"
    default_message = "the message waits for a teacher"

    def __init__(self, reason: str, held: str) -> None:
        super().__init__(None, reason=reason, held=held)


class TooLarge(LiveError):
    code = "too_large"
    default_message = "too large"


class Unavailable(LiveError):
    code = "unavailable"
    default_message = "the service cannot store this right now, try again"


class ProcessGone(Unavailable):
    """A directed call (`Bus.call`) found no process of that id listening."""

    default_message = "that service process is gone"


ERROR_CODES = tuple(
    cls.code
    for cls in (
        BadRequest,
        Forbidden,
        NotFound,
        NotJoined,
        RateLimited,
        RoomLocked,
        Banned,
        Muted,
        Waiting,
        TooLarge,
        Unavailable,
        HeldForTeacher,
    )
)


def from_wire(wire: object) -> LiveError:
    """The error an error ack's `error` (or a directed call's error reply) describes: the
    class of its `code` (`unavailable` for an unknown or malformed one), its message and
    its further string fields."""
    if not isinstance(wire, dict):
        return Unavailable()
    by_code = {cls.code: cls for cls in (BadRequest, Forbidden, NotFound, NotJoined,
                                         RateLimited, RoomLocked, Banned, Muted, TooLarge,
                                         Unavailable)}
    cls = by_code.get(wire.get("code"), Unavailable)  # type: ignore[arg-type]
    message = wire.get("message")
    extra = {k: v for k, v in wire.items()
             if k not in ("code", "message") and isinstance(k, str) and isinstance(v, str)}
    return cls(message if isinstance(message, str) else None, **extra)
