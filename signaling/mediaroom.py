"""The media side of one room: its streams, subscriptions, mutes and policy."""

from __future__ import annotations

from rooms.identity import Identity, RoomRef

from .lastn import Candidate, rank, select
from .legs import PublishLeg, SubscribeLeg

MUTE_KINDS: dict[str, frozenset[str]] = {
    "chat": frozenset(),
    "audio": frozenset({"audio"}),
    "video": frozenset({"video"}),
    "all": frozenset({"audio", "video"}),
}


class MediaRoom:
    def __init__(self, key: str, *, last_n: int, pupil_cameras_teachers_only: bool = False) -> None:
        self.key = key
        self.name = RoomRef.from_key(key).name
        self.last_n = last_n
        self.teachers_only_publish = False
        self.new_room_pupil_cameras = pupil_cameras_teachers_only  # the default (config)
        self.pupil_cameras_teachers_only = pupil_cameras_teachers_only
        self.streams: dict[str, PublishLeg] = {}
        self.subs: dict[str, SubscribeLeg] = {}
        self._muted: dict[str, set[str]] = {}

    def empty(self) -> bool:
        return (
            not self.streams
            and not self.subs
            and not self._muted
            and not self.teachers_only_publish
            and self.pupil_cameras_teachers_only == self.new_room_pupil_cameras
        )

    def is_muted(self, user: str, kind: str) -> bool:
        return kind in self._muted.get(user, ())

    def set_muted(self, user: str, kinds: frozenset[str], muted: bool) -> None:
        current = self._muted.setdefault(user, set())
        if muted:
            current |= kinds
        else:
            current -= kinds
        if not current:
            del self._muted[user]

    def may_see(self, who: Identity, leg: PublishLeg) -> bool:
        """Whether `who` may receive `leg`'s video under the room's policy."""
        if not self.pupil_cameras_teachers_only or who.is_teacher:
            return True
        return leg.source != "camera" or leg.who.is_teacher or leg.who.sub == who.sub

    def stream_info(self, leg: PublishLeg) -> dict[str, str]:
        return {"room": self.name, "stream": leg.id, "user": leg.who.sub, "source": leg.source}

    def ranking(self) -> list[str]:
        return rank(
            Candidate(
                stream=leg.id,
                teacher=leg.who.is_teacher,
                screen=leg.source == "screen",
                last_spoke=leg.meter.last_spoke,
                published=leg.published,
            )
            for leg in self.streams.values()
            if "video" in leg.forwarders and not self.is_muted(leg.who.sub, "video")
        )

    def video_plan(self) -> dict[SubscribeLeg, bool]:
        """For each subscription with video: whether its video is forwarded now."""
        ranking = self.ranking()
        by_user: dict[str, list[SubscribeLeg]] = {}
        for sub in self.subs.values():
            if "video" in sub.outputs:
                by_user.setdefault(sub.who.sub, []).append(sub)
        plan: dict[SubscribeLeg, bool] = {}
        for subs in by_user.values():
            allowed = [s for s in subs if self.may_see(s.who, s.stream)]
            chosen = select(ranking, [s.stream.id for s in allowed], self.last_n)
            for sub in subs:
                plan[sub] = sub in allowed and sub.stream.id in chosen
        return plan
