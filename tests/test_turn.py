"""TURN settings and coturn REST credentials (signaling/turn.py); against a real coturn in
tests/media/test_coturn.py."""

from __future__ import annotations

import pytest

from rooms.clock import FakeClock
from signaling.config import MediaConfig
from signaling.turn import DEFAULT_TTL_S, TurnConfig, credential, parse_urls


def test_credential_matches_a_vector_made_with_openssl() -> None:
    # echo -n "1700021600:pupil-42" | openssl dgst -binary -sha1 -hmac north-wind | base64
    assert credential("north-wind", "1700021600:pupil-42") == "X3un2Gl9duyT7BwhgpJ/VkLoT+0="


def test_ice_servers_carry_stun_as_is_and_turn_with_credentials_from_the_clock() -> None:
    clock = FakeClock(start_ms=1_700_000_000_500)
    turn = TurnConfig.from_env({
        "LIVE_TURN_URLS": "stun:turn.example.org:3478, turn:turn.example.org:3478?transport=tcp,"
                          "turns:turn.example.org:443",
        "LIVE_TURN_SECRET": "north-wind",
    })
    assert turn.ttl_s == DEFAULT_TTL_S == 6 * 3600
    assert turn.ice_servers("pupil-42", clock) == [
        {"urls": ["stun:turn.example.org:3478"]},
        {"urls": ["turn:turn.example.org:3478?transport=tcp", "turns:turn.example.org:443"],
         "username": "1700021600:pupil-42", "credential": "X3un2Gl9duyT7BwhgpJ/VkLoT+0="},
    ]
    clock.advance(3600)  # an hour later: a credential valid 6 h from then
    later = turn.ice_servers("pupil-42", clock)[1]
    assert later["username"] == "1700025200:pupil-42"
    assert later["credential"] == credential("north-wind", "1700025200:pupil-42")


def test_nothing_configured_is_an_empty_list_and_stun_alone_needs_no_secret() -> None:
    clock = FakeClock()
    assert TurnConfig.from_env({}).ice_servers("u", clock) == []
    assert MediaConfig.from_env({}).turn == TurnConfig()
    stun = TurnConfig.from_env({"LIVE_TURN_URLS": "stun:[2001:db8::1]:3478"})
    assert stun.ice_servers("u", clock) == [{"urls": ["stun:[2001:db8::1]:3478"]}]


def test_ttl_is_read_and_kept_long_enough_for_a_lesson() -> None:
    env = {"LIVE_TURN_URLS": "turn:10.0.0.5", "LIVE_TURN_SECRET": "s"}
    assert TurnConfig.from_env({**env, "LIVE_TURN_TTL": "7200"}).ttl_s == 7200
    for bad in ("60", "3599", "-1", "1h", str(8 * 24 * 3600)):
        with pytest.raises(ValueError, match="LIVE_TURN_TTL"):
            TurnConfig.from_env({**env, "LIVE_TURN_TTL": bad})


@pytest.mark.parametrize("value", [
    "http://turn.example.org", "turn:", "turn:host:0", "turn:host:70000", "turn:user@host",
    "turn:host?transport=sctp", "stun:host?transport=tcp", "turn:host/path", "turn:host:3478,x",
    "turn:ho st",
])
def test_bad_urls_are_refused_at_start_naming_the_url(value: str) -> None:
    with pytest.raises(ValueError, match="LIVE_TURN_URLS"):
        TurnConfig.from_env({"LIVE_TURN_URLS": value, "LIVE_TURN_SECRET": "s"})


def test_a_turn_url_needs_the_secret_and_the_secret_a_turn_url() -> None:
    with pytest.raises(ValueError, match="LIVE_TURN_SECRET"):
        TurnConfig.from_env({"LIVE_TURN_URLS": "turns:turn.example.org:443"})
    with pytest.raises(ValueError, match="no turn: or turns: URL"):
        TurnConfig.from_env({"LIVE_TURN_URLS": "stun:stun.example.org", "LIVE_TURN_SECRET": "s"})
    assert parse_urls(" turn:a.example:3478 ,, turns:b.example:5349 ") == (
        "turn:a.example:3478", "turns:b.example:5349")
