"""The videoconference's rules: a room's media settings and who may publish or change them.

Transport-free, no I/O. The Socket.IO edge (`live/media_edge.py`) parses
payloads, asks these rules, and hands the settings to the forwarding unit
(`signaling/`), which applies them to its PeerConnections.

A room's settings (contract §2, docs/protocol.md "Videoconference"):
- `teachers_only_publish`: pupils may not publish (and their streams end);
- `pupil_cameras_teachers_only`: a pupil sees no other pupil's camera;
- `last_n` 0..`MAX_LAST_N`: how many video streams each subscriber receives.
A room nobody changed has `MediaSettings(last_n=<the process's default>,
pupil_cameras_teachers_only=NEW_ROOM_PUPIL_CAMERAS_TEACHERS_ONLY)`: in a new
room pupils' cameras are seen by teachers only (issue #11 part 6), until a
teacher changes it (`rtc:settings`). The store keeps a room's settings
(`rooms.media_store`, `to_record` / `from_record`), so every process sees them and
they survive restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .errors import BadRequest, Forbidden
from .identity import Identity

MAX_LAST_N = 64
NEW_ROOM_PUPIL_CAMERAS_TEACHERS_ONLY = True


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """A room's media settings, checked when built."""

    last_n: int
    teachers_only_publish: bool = False
    pupil_cameras_teachers_only: bool = False

    def __post_init__(self) -> None:
        for name in ("teachers_only_publish", "pupil_cameras_teachers_only"):
            if not isinstance(getattr(self, name), bool):
                raise BadRequest(f"{name} must be true or false")
        n = self.last_n
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_LAST_N:
            raise BadRequest(f"last_n must be a whole number from 0 to {MAX_LAST_N}")

    def changed(self, *, teachers_only_publish: bool | None = None,
                pupil_cameras_teachers_only: bool | None = None,
                last_n: int | None = None) -> MediaSettings:
        """These settings with the given ones changed (`None`: unchanged)."""
        return replace(
            self,
            teachers_only_publish=(self.teachers_only_publish if teachers_only_publish is None
                                   else teachers_only_publish),
            pupil_cameras_teachers_only=(self.pupil_cameras_teachers_only
                                         if pupil_cameras_teachers_only is None
                                         else pupil_cameras_teachers_only),
            last_n=self.last_n if last_n is None else last_n,
        )

    def to_wire(self) -> dict[str, Any]:
        """`{teachers_only_publish, pupil_cameras_teachers_only, last_n}`."""
        return {
            "teachers_only_publish": self.teachers_only_publish,
            "pupil_cameras_teachers_only": self.pupil_cameras_teachers_only,
            "last_n": self.last_n,
        }

    def to_record(self) -> dict[str, Any]:
        return {"tp": self.teachers_only_publish, "pc": self.pupil_cameras_teachers_only,
                "n": self.last_n}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> MediaSettings:
        return cls(last_n=int(rec["n"]), teachers_only_publish=bool(rec["tp"]),
                   pupil_cameras_teachers_only=bool(rec["pc"]))


def check_publish(who: Identity, settings: MediaSettings) -> None:
    """May `who` publish a stream in a room with `settings`? (`forbidden` if not)."""
    if not who.can_write:
        raise Forbidden("visitors do not publish")
    if settings.teachers_only_publish and not who.is_teacher:
        raise Forbidden("only teachers publish in this room")


def check_change(who: Identity) -> None:
    """May `who` change a room's media settings? (`forbidden` if not)."""
    if not who.is_teacher:
        raise Forbidden("only teachers change media settings")
