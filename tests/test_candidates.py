"""Which of a browser's ICE candidates the forwarding unit may send to (signaling/candidates.py);
with real aiortc peers in tests/media/test_candidates_aiortc.py."""

from __future__ import annotations

import pytest

from signaling.candidates import CandidateFilter, parse_nets
from signaling.config import MediaConfig

PUBLIC = CandidateFilter.for_unit(parse_nets("10.20.0.0/16, fd00:20::/32, 192.0.2.7"), [])


@pytest.mark.parametrize("host", [
    "0.0.0.0", "::", "127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "fe80::1",
    "224.0.0.251", "ff02::fb", "240.0.0.1", "255.255.255.255",
    "10.20.3.4", "fd00:20::5", "192.0.2.7", "::ffff:127.0.0.1", "::ffff:10.20.0.9",
    "6f1c2c1e-64b1-4d27-9b3f-1f6c0b7a3f7e.local", "redis.internal", "",
])
def test_refused_addresses(host: str) -> None:
    assert not PUBLIC.allows(host)


@pytest.mark.parametrize("host", [
    "203.0.113.9", "10.21.0.1", "192.168.1.20", "172.16.5.5", "2001:db8::9", "fd00:21::1",
    "192.0.2.8", "::ffff:203.0.113.9",
])
def test_allowed_addresses(host: str) -> None:
    assert PUBLIC.allows(host)


def test_loopback_only_for_a_unit_that_gathers_only_on_loopback() -> None:
    local = CandidateFilter.for_unit(parse_nets("127.0.0.2"), ["127.0.0.1"])
    assert local.allows("127.0.0.1") and local.allows("::1")
    assert not local.allows("127.0.0.2")  # a denied range wins
    assert not CandidateFilter.for_unit((), ["127.0.0.1", "10.0.0.1"]).allows("127.0.0.1")
    assert not CandidateFilter.for_unit((), []).allows("127.0.0.1")  # every interface
    assert MediaConfig(addresses=("127.0.0.1",)).candidates.allow_loopback


OFFER = "\r\n".join([
    "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "c=IN IP4 0.0.0.0",
    "a=candidate:1 1 udp 2122260223 203.0.113.9 50000 typ host generation 0",
    "a=candidate:2 1 udp 2122260223 127.0.0.1 6379 typ host",
    "a=candidate:3 1 udp 2122260223 abc.local 50001 typ host",
    "a=candidate:4 1 tcp 1518280447 203.0.113.9 9 typ host tcptype active",
    "a=candidate:5 1 udp 1686052607 198.51.100.4 40000 typ srflx raddr 10.20.0.3 rport 5000",
    "a=candidate:6 1 udp 41885439 10.20.0.9 3478 typ relay raddr 198.51.100.4 rport 40000",
    "a=candidate:7 1 udp 2122260223 169.254.169.254 80 typ host",
    "a=candidate:broken",
    "a=end-of-candidates", "",
])


def test_clean_keeps_only_udp_candidates_at_allowed_addresses() -> None:
    cleaned = PUBLIC.clean(OFFER)
    kept = [line for line in cleaned.split("\r\n") if line.startswith("a=candidate:")]
    assert kept == [
        "a=candidate:1 1 udp 2122260223 203.0.113.9 50000 typ host generation 0",
        "a=candidate:5 1 udp 1686052607 198.51.100.4 40000 typ srflx raddr 10.20.0.3 rport 5000",
    ]
    # everything else is left as it was, line endings included
    others = [line for line in OFFER.split("\r\n") if not line.startswith("a=candidate:")]
    assert [line for line in cleaned.split("\r\n") if not line.startswith("a=candidate:")] == others
    assert PUBLIC.clean(OFFER.replace("\r\n", "\n")) == cleaned.replace("\r\n", "\n")


def test_denied_nets_are_read_from_the_environment_and_checked_at_start() -> None:
    config = MediaConfig.from_env({"LIVE_MEDIA_DENIED_NETS": "10.0.0.0/8, fd00::/8"})
    assert [str(n) for n in config.denied_nets] == ["10.0.0.0/8", "fd00::/8"]
    assert not config.candidates.allows("10.1.2.3")
    for bad in ("10.0.0.0/33", "redis", "10.0.0.0/8;rm"):
        with pytest.raises(ValueError, match="LIVE_MEDIA_DENIED_NETS"):
            MediaConfig.from_env({"LIVE_MEDIA_DENIED_NETS": bad})


def test_leg_caps_are_read_and_checked_at_start() -> None:
    config = MediaConfig.from_env({"LIVE_MEDIA_MAX_LEGS": "7",
                                   "LIVE_MEDIA_MAX_LEGS_PER_MEMBER": "3"})
    assert (config.max_legs, config.max_legs_per_member) == (7, 3)
    assert (MediaConfig().max_legs, MediaConfig().max_legs_per_member) == (500, 80)
    for name in ("LIVE_MEDIA_MAX_LEGS", "LIVE_MEDIA_MAX_LEGS_PER_MEMBER"):
        for bad in ("0", "-1", "many"):
            with pytest.raises(ValueError, match=name):
                MediaConfig.from_env({name: bad})
