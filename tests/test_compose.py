"""docker-compose.yml's TURN wiring, checked without a Docker engine: the shape (coturn with the
REST secret, the service processes given URLs and the same secret, peers limited to the media
processes), and coturn itself run from the compose file's own entrypoint script, in a network
namespace: it accepts credentials the service makes and refuses relays to denied peers."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aioice import stun, turn

from rooms.clock import SystemClock
from signaling.candidates import CandidateFilter, parse_nets
from signaling.turn import TurnConfig, parse_urls
from tests.netns import NetNS, netns

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
_VAR = re.compile(r"\$\{(\w+):-((?:[^{}]|\$\{[^}]*\})*)\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR:-default}` (nested defaults included), enough for this file."""
    while (match := _VAR.search(value)) is not None:
        value = value[:match.start()] + (env.get(match[1]) or match[2]) + value[match.end():]
    return value


def address(service: str) -> str:
    return str(SERVICES[service]["networks"]["default"]["ipv4_address"])


def entrypoint_script() -> str:
    """The coturn service's `sh -c` script as the container runs it (`$$` is compose's `$`)."""
    sh, flag, script = SERVICES["coturn"]["entrypoint"]
    assert (sh, flag) == ("sh", "-c")
    return str(script).replace("$$", "$")


def test_the_service_processes_get_turn_urls_and_the_shared_secret() -> None:
    env = {"LIVE_TURN_HOST": "turn.school.example", "LIVE_TURN_SECRET": "s3cret"}
    for name in ("live1", "live2"):
        live = SERVICES[name]["environment"]
        urls = parse_urls(interpolate(live["LIVE_TURN_URLS"], env))
        assert urls == ("turn:turn.school.example:3478?transport=udp",
                        "turn:turn.school.example:3478?transport=tcp")
        assert interpolate(live["LIVE_TURN_SECRET"], env) == "s3cret"
        assert TurnConfig(urls=urls, secret="s3cret").relays == urls
        # browsers' candidates may not name this network's hosts, but coturn's relays pass
        denied = CandidateFilter(parse_nets(live["LIVE_MEDIA_DENIED_NETS"]))
        for other in ("haproxy", "live1", "live2"):
            assert not denied.allows(address(other))
        assert not denied.allows("172.28.0.1") and not denied.allows("172.28.0.2")  # host, redis
        assert denied.allows(address("coturn"))
    assert "LIVE_TURN_SECRET" in SERVICES["coturn"]["environment"]


def test_coturn_relays_to_the_media_processes_only() -> None:
    script = entrypoint_script()
    for name in ("use-auth-secret", "no-tcp-relay", "no-multicast-peers"):
        assert f"\n{name}\n" in script
    assert "static-auth-secret=$LIVE_TURN_SECRET" in script
    assert f"allowed-peer-ip={address('live1')}-{address('live2')}" in script
    for denied in ("10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255",
                   "192.168.0.0-192.168.255.255", "127.0.0.0-127.255.255.255",
                   "169.254.0.0-169.254.255.255"):
        assert f"denied-peer-ip={denied}" in script
    assert {"3478:3478/udp", "3478:3478/tcp"} <= set(SERVICES["coturn"]["ports"])
    assert re.search(r"\nmin-port=\d+\nmax-port=\d+\n", script)


@pytest.fixture
async def composed_coturn(tmp_path: Path) -> AsyncIterator[tuple[NetNS, int]]:
    """coturn started by the compose file's script, inside a namespace, on a port of ours."""
    with netns() as ns:
        port = 3478  # the namespace is ours
        shim = tmp_path / "bin" / "turnserver"
        shim.parent.mkdir()
        # the container's own turnserver, told where to listen and log in this namespace
        shim.write_text(f"#!/bin/sh\nexec /usr/bin/turnserver \"$@\" --listening-ip={ns.inside} "
                        f"--relay-ip={ns.inside} --log-file={tmp_path}/turn.log "
                        f"--pidfile={tmp_path}/turn.pid --userdb={tmp_path}/turndb\n")
        shim.chmod(stat.S_IRWXU)
        script = entrypoint_script().replace("/tmp/turnserver.conf", str(tmp_path / "turn.conf"))
        env = {**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}",
               "LIVE_TURN_SECRET": "compose-secret", "LIVE_TURN_REALM": "school.example"}
        proc = await asyncio.create_subprocess_exec(*ns.command("sh", "-c", script), env=env)
        try:
            deadline = time.monotonic() + 20
            while True:
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError("coturn did not start from docker-compose.yml's script")
                try:
                    _, writer = await asyncio.open_connection(ns.inside, port)
                    writer.close()
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            yield ns, port
        finally:
            proc.terminate()
            await proc.wait()


@pytest.mark.media
async def test_coturn_from_the_compose_script_takes_the_service_credentials(
        composed_coturn: tuple[NetNS, int]) -> None:
    ns, port = composed_coturn
    cfg = TurnConfig(urls=(f"turn:{ns.inside}:{port}?transport=tcp",), secret="compose-secret")
    (server,) = cfg.ice_servers("pupil", SystemClock())
    transport, _ = await turn.create_turn_endpoint(
        asyncio.DatagramProtocol, (ns.inside, port), server["username"], server["credential"],
        transport="tcp")
    try:
        client = transport._TurnTransport__inner_protocol  # type: ignore[attr-defined]
        await client.channel_bind(0x4000, ("172.28.0.11", 40000))  # a media process: allowed
        for peer in (ns.outside, "127.0.0.1", "192.168.1.1"):  # the rest: 403 Forbidden IP
            with pytest.raises(stun.TransactionFailed, match="403"):
                await client.channel_bind(0x4001, (peer, 6379))
    finally:
        transport.close()
    # without the secret the script refuses to start
    done = await asyncio.create_subprocess_exec(
        "sh", "-c", entrypoint_script(), env={"PATH": os.environ["PATH"]},
        stderr=asyncio.subprocess.PIPE)
    _, err = await done.communicate()
    assert done.returncode == 64 and b"LIVE_TURN_SECRET is required" in err
