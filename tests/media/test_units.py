"""Small pieces: the keyframe rate limiter and the configuration."""

from __future__ import annotations

import asyncio

import pytest

from rooms.clock import FakeClock
from signaling.config import MediaConfig
from signaling.keyframes import Keyframer


async def test_keyframer_coalesces_requests_within_the_interval() -> None:
    clock = FakeClock()
    sent: list[float] = []

    async def send() -> None:
        sent.append(clock.monotonic())

    keyframer = Keyframer(send, clock=clock, interval=0.05, label="t")
    keyframer.request()
    await asyncio.sleep(0)
    assert len(sent) == 1
    for _ in range(10):
        keyframer.request()  # inside the interval: one deferred request
    clock.advance(0.01)
    await asyncio.sleep(0.1)
    assert len(sent) == 2
    clock.advance(1)
    keyframer.request()
    await asyncio.sleep(0)
    assert len(sent) == 3
    keyframer.request()
    await keyframer.close()
    await asyncio.sleep(0.1)
    assert len(sent) == 3


def test_config_from_env() -> None:
    config = MediaConfig.from_env(
        {
            "LIVE_MEDIA_ADDRESSES": "10.0.0.1,10.0.0.2",
            "LIVE_MEDIA_PUBLIC_IP": "203.0.113.7",
            "LIVE_MEDIA_LAST_N": "4",
        }
    )
    assert config.addresses == ("10.0.0.1", "10.0.0.2")
    assert config.public_ip == "203.0.113.7"
    assert config.last_n == 4
    assert config.stun_servers == ()
    assert MediaConfig.from_env({}).addresses == ()
    with pytest.raises(ValueError):
        MediaConfig.from_env({"LIVE_MEDIA_PUBLIC_IP": "example.org"})
    with pytest.raises(ValueError):
        MediaConfig.from_env({"LIVE_MEDIA_ADDRESSES": "eth0"})
