"""What a join's snapshot decodes in Redis, kept per room (live/redis_backend/decoded.py)
and the wire forms kept per room (rooms/wire_forms.py): the same values as decoding
everything again, whatever changed; only what changed is decoded or built."""

from __future__ import annotations

from typing import Any

from live.redis_backend.decoded import DecodedRooms
from live.redis_backend.frames import pack
from live.redis_backend.records import contents_of, entries_of, members_of
from rooms.identity import RoomRef
from rooms.message import Author, Message
from rooms.presence import Member
from rooms.recent import Recent
from rooms.wire_forms import WireForms

R = RoomRef("sp", "room")


def entry(m: Member, at: int, n: int) -> bytes:
    return pack({"at": at, "n": n, "m": m.to_record()})


def flat(conns: dict[bytes, bytes]) -> list[bytes]:
    return [x for kv in conns.items() for x in kv]


def content(text: str, user: str = "ana") -> bytes:
    return pack({"c": "cid-" + text, "u": [user, user.title(), "student"], "t": text})


def check_members(d: DecodedRooms, conns: dict[bytes, bytes]) -> list[Member]:
    got = d.members(R, flat(conns))
    assert got == members_of(entries_of(conns))
    return got


def test_members_follow_every_change_and_decode_only_what_changed() -> None:
    d = DecodedRooms()
    conns: dict[bytes, bytes] = {}
    for i in range(5):
        conns[f"c{i}".encode()] = entry(Member(f"u{i}", f"U{i}", "student"), 1000 + i, 0)
    check_members(d, conns)
    assert d.decoded == 5
    check_members(d, conns)  # the same reply: nothing decoded
    assert d.decoded == 5
    conns[b"c5"] = entry(Member("u5", "U5", "student"), 1005, 0)  # a join: one decoded
    conns[b"c6"] = entry(Member("u6", "U6", "teacher"), 1006, 0)
    assert [m.id for m in check_members(d, conns)][-2:] == ["u5", "u6"]
    assert d.decoded == 7
    conns[b"c2"] = entry(Member("u2", "U2", "student", hand_at=7), 1002, 0)  # a hand
    assert check_members(d, conns)[2].hand
    assert d.decoded == 8
    conns[b"c7"] = entry(Member("u0", "U0", "student", hand_at=5), 1007, 0)  # a second tab
    assert check_members(d, conns)[0].hand_at == 5
    del conns[b"c1"]  # a leave
    check_members(d, conns)
    conns[b"c8"] = entry(Member("u8", "U8", "student"), 999, 0)  # older than the newest
    assert check_members(d, conns)[0].id == "u8"
    conns[b"c9"] = entry(Member("u9", "U9", "student"), 1009, 1)  # one ms: by `n`
    conns[b"ca"] = entry(Member("ua", "Ua", "student"), 1009, 0)
    assert [m.id for m in check_members(d, conns)][-2:] == ["ua", "u9"]
    assert d.members(R, []) == []


def test_messages_follow_the_page_and_decode_only_new_ones() -> None:
    d = DecodedRooms()
    page: list[Any] = [b"3-0", content("c"), b"2-0", content("b"), b"1-0", content("a")]
    assert d.contents(R, page) == contents_of(R, page)
    assert d.decoded == 3
    assert d.contents(R, list(page)) == contents_of(R, page)
    assert d.decoded == 3
    page = [b"4-0", content("d"), b"3-0", content("c"), b"2-0", None, b"1-0", content("a")]
    got = d.contents(R, page)
    assert got == contents_of(R, page) and [m.text for m in got] == ["d", "c", "a"]
    assert d.decoded == 4
    page[1] = content("d2")  # the same id, another content: decoded again
    assert d.contents(R, page)[0].text == "d2"


def test_rooms_are_bounded_and_kept_apart() -> None:
    d = DecodedRooms(max_rooms=2)
    rooms = [RoomRef("sp", f"r{i}") for i in range(3)]
    for i, room in enumerate(rooms):
        one = {b"c": entry(Member(f"u{i}", "U", "student"), 1, 0)}
        assert [m.id for m in d.members(room, flat(one))] == [f"u{i}"]
    assert d.decoded == 3
    d.members(rooms[0], flat({b"c": entry(Member("u0", "U", "student"), 1, 0)}))
    assert d.decoded == 4  # the least recently read room was dropped


def test_wire_forms_follow_the_values_and_build_only_new_ones() -> None:
    forms = WireForms(max_rooms=1)
    a, b, c = (Member(x, x.title(), "student") for x in ("a", "b", "c"))
    assert forms.of("r", [a, b]) == [a.to_wire(), b.to_wire()] and forms.built == 2
    assert forms.of("r", [a, b, c]) == [m.to_wire() for m in (a, b, c)]
    assert forms.built == 3  # a join: one more
    raised = b.with_hand(5)
    assert forms.of("r", [a, raised, c]) == [m.to_wire() for m in (a, raised, c)]
    assert forms.built == 4  # b's hand changed it: built again, a and c kept
    assert forms.of("r", [c]) == [c.to_wire()] and forms.built == 4
    m = Message("1-0", "r", "x", Author("a", "A", "student"), "hi", 1)
    assert forms.of("other", [m]) == [m.to_wire()]  # (the room "r" is dropped: one room)
    assert forms.of("r", [c]) == [c.to_wire()] and forms.built == 6
    got = forms.of("r", [c])
    got.append({})  # the list handed out is the caller's
    assert forms.of("r", [c]) == [c.to_wire()]


def test_recent_keeps_the_most_recently_used() -> None:
    recent: Recent[str, int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    assert recent.get("a") == 1  # now the most recent: "b" goes first
    recent.put("c", 3)
    assert (recent.get("a"), recent.get("b"), recent.get("c"), len(recent)) == (1, None, 3, 2)
    recent.put("a", 4)  # written again: replaced, the most recent
    recent.put("d", 5)
    assert (recent.get("a"), recent.get("c"), recent.get("d")) == (4, None, 5)
