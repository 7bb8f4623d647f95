"""The videoconference's rules (`rooms.media_rules`): pure values, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from rooms.errors import BadRequest, Forbidden
from rooms.identity import Identity, Role
from rooms.media_rules import (
    MAX_LAST_N,
    MediaSettings,
    MediaSettingsBook,
    check_change,
    check_publish,
)

TEACHER = Identity("t", "Tess", Role.TEACHER, "s1")
PUPIL = Identity("p", "Pia", Role.STUDENT, "s1")
VISITOR = Identity("v", "Vic", Role.VISITOR, "s1")


def test_defaults_and_wire_shape() -> None:
    s = MediaSettings(last_n=9)
    assert s.to_wire() == {"teachers_only_publish": False, "pupil_cameras_teachers_only": False,
                           "last_n": 9}
    assert list(s.to_wire()) == ["teachers_only_publish", "pupil_cameras_teachers_only", "last_n"]


def test_changed_keeps_what_is_not_given() -> None:
    s = MediaSettings(last_n=9)
    a = s.changed(pupil_cameras_teachers_only=True)
    assert a == MediaSettings(last_n=9, pupil_cameras_teachers_only=True)
    b = a.changed(last_n=0, teachers_only_publish=True)
    assert b.to_wire() == {"teachers_only_publish": True, "pupil_cameras_teachers_only": True,
                           "last_n": 0}
    assert b.changed() == b
    assert b.changed(teachers_only_publish=False).teachers_only_publish is False
    assert s == MediaSettings(last_n=9)  # values do not change in place


@pytest.mark.parametrize("changes", [
    {"last_n": MAX_LAST_N + 1}, {"last_n": -1}, {"last_n": True}, {"last_n": "3"},
    {"last_n": 2.0}, {"teachers_only_publish": "yes"}, {"pupil_cameras_teachers_only": 1},
])
def test_bad_settings_are_refused_when_built(changes: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as err:
        MediaSettings(last_n=9).changed(**changes)
    assert next(iter(changes)) in err.value.message


def test_last_n_bounds_are_accepted() -> None:
    assert MediaSettings(last_n=0).last_n == 0
    assert MediaSettings(last_n=9).changed(last_n=MAX_LAST_N).last_n == MAX_LAST_N


def test_record_round_trip() -> None:
    for s in (MediaSettings(9), MediaSettings(3, True, False), MediaSettings(0, False, True)):
        assert MediaSettings.from_record(s.to_record()) == s


def test_a_bad_record_is_refused() -> None:
    with pytest.raises(BadRequest):
        MediaSettings.from_record({"tp": False, "pc": False, "n": 65})
    with pytest.raises(KeyError):
        MediaSettings.from_record({"tp": False, "pc": False})


def test_who_may_publish() -> None:
    open_room = MediaSettings(last_n=9)
    teachers_only = open_room.changed(teachers_only_publish=True)
    check_publish(TEACHER, open_room)
    check_publish(PUPIL, open_room)
    check_publish(TEACHER, teachers_only)
    with pytest.raises(Forbidden, match="visitors"):
        check_publish(VISITOR, open_room)
    with pytest.raises(Forbidden, match="only teachers publish"):
        check_publish(PUPIL, teachers_only)


def test_only_teachers_change_settings() -> None:
    check_change(TEACHER)
    for who in (PUPIL, VISITOR):
        with pytest.raises(Forbidden):
            check_change(who)


def test_the_book_keeps_settings_per_room() -> None:
    book = MediaSettingsBook(default_last_n=9)
    new_room = MediaSettings(last_n=9, pupil_cameras_teachers_only=True)  # issue #11 part 6
    assert book.get("s1/a") == new_room
    changed = book.get("s1/a").changed(last_n=2, pupil_cameras_teachers_only=False)
    book.put("s1/a", changed)
    assert book.get("s1/a") == changed
    assert book.get("s1/b") == new_room
    book.put("s1/a", changed.changed(last_n=9, pupil_cameras_teachers_only=True))
    assert book.get("s1/a") == new_room  # back to the default: nothing kept
    assert book._rooms == {}


def test_the_book_refuses_a_bad_default() -> None:
    with pytest.raises(BadRequest):
        MediaSettingsBook(default_last_n=MAX_LAST_N + 1)
