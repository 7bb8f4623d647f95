"""A school that lets no UDP out: Chromium publishes and watches video through coturn over TCP.

Everything runs inside a network namespace this test creates (tests/netns.py): Debian's coturn
(`turnserver`, use-auth-secret), the service (`LIVE_TURN_URLS=turn:<ip>:<port>?transport=tcp`,
the shared secret) and Chromium. Chromium runs as a group of its own (`setpriv --regid`), and an
iptables rule of the namespace rejects every UDP datagram that group sends: its host candidates
lead nowhere, and the only way to the forwarding unit is a TURN allocation over TCP. The test
proves the fence (every Chromium process is in the group, the group cannot send UDP) and that
both the teacher's published leg and the pupil's subscribed leg run over a `relay` pair whose
relay protocol is TCP, while the pupil decodes the teacher's camera at its resolution.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.browser import ARGS, CHROMIUM
from tests.media.coturn import Coturn
from tests.netns import NetNS, netns
from tests.support import SECRET, token, wait_ready

pytestmark = [pytest.mark.media, pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ROOM = "geography"
TURN_SECRET = "school-firewall-" + secrets.token_hex(8)
NO_UDP_GID = 48731  # a group nothing else on the machine uses
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)


@pytest.fixture
def ns() -> Iterator[NetNS]:
    with netns() as space:
        done = _run(space.command("iptables", "-A", "OUTPUT", "-m", "owner", "--gid-owner",
                                  str(NO_UDP_GID), "-p", "udp", "-j", "REJECT"))
        if done.returncode != 0:
            raise RuntimeError(f"iptables (scripts/bootstrap installs it): {done.stderr}")
        yield space


@pytest.fixture
async def coturn(ns: NetNS) -> AsyncIterator[Coturn]:
    server = Coturn(ns.inside, TURN_SECRET, wrap=ns.command)
    try:
        yield await server.start()
    finally:
        server.stop()


def _start_service(ns: NetNS, port: int, env: dict[str, str]
                   ) -> tuple[subprocess.Popen[bytes], str]:
    log = tempfile.NamedTemporaryFile(prefix="live-turn-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        ns.command(sys.executable, "-m", "live.cli", "serve", "--host", ns.inside,
                   "--port", str(port)),
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, log.name


def _read(path: str) -> str:
    return Path(path).read_text(errors="replace")[-3000:]


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is not installed (scripts/bootstrap installs it)")


@pytest.fixture
async def service(ns: NetNS, coturn: Coturn) -> AsyncIterator[str]:
    port = 20000 + secrets.randbelow(20000)  # the namespace is ours: any port is free
    while port == coturn.port:
        port = 20000 + secrets.randbelow(20000)
    env = {**os.environ, "LIVE_JWT_SECRET": SECRET, "LIVE_RATE_LIMITS": "off",
           "LIVE_METRICS_PORT": "0", "LIVE_MEDIA_ADDRESSES": ns.inside, "PYTHONUNBUFFERED": "1",
           "LIVE_TURN_URLS": f"turn:{coturn.ip}:{coturn.port}?transport=tcp",
           "LIVE_TURN_SECRET": TURN_SECRET}
    proc, log = _start_service(ns, port, env)
    url = f"http://{ns.inside}:{port}"
    try:
        await wait_ready(proc, url, lambda: _read(log), within=30)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.unlink(log)


@pytest.fixture
async def no_udp_browser(ns: NetNS, service: str) -> AsyncIterator[Browser]:
    _need_chromium()
    fenced = ns.wrapper(f"setpriv --regid {NO_UDP_GID} --clear-groups {CHROMIUM}")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=fenced, headless=True,
                                     args=ARGS + MEDIA_ARGS + [
                                         f"--unsafely-treat-insecure-origin-as-secure={service}"])
        try:
            yield b
        finally:
            await b.close()


def process_groups(marker: str) -> dict[int, int]:
    """{pid: real group} of every process started by the one whose command line holds
    `marker` (Chromium's browser process and all its children), that one included."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    roots: set[int] = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        pid = int(status.parent.name)
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                          if ":" in line)
            if marker.encode() in Path(status.parent, "cmdline").read_bytes():
                roots.add(pid)
        except OSError:
            continue  # ended meanwhile
        parents[pid] = int(fields["PPid"])
        groups[pid] = int(fields["Gid"].split()[0])
    found = set(roots)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return {pid: groups[pid] for pid in found}


SELECTED_PAIR = """async (pc) => {
  const stats = [...(await pc.getStats()).values()];
  const byId = new Map(stats.map((s) => [s.id, s]));
  const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = transport && byId.get(transport.selectedCandidatePairId);
  if (!pair || pair.state !== 'succeeded') return null;
  const local = byId.get(pair.localCandidateId);
  // every pair that ever worked: none of the browser's own (host) UDP addresses among them
  const worked = stats.filter((s) => s.type === 'candidate-pair' && s.state === 'succeeded')
    .map((p) => byId.get(p.localCandidateId).candidateType);
  return {type: local.candidateType, protocol: local.protocol,
          relayProtocol: local.relayProtocol ?? null, address: local.address,
          worked: [...new Set(worked)]};
}"""

DECODED = """async () => {
  const out = {};
  for (const [stream, sub] of window.twinspaceRoom.subs) {
    if (!sub) continue;
    for (const r of (await sub.pc.getStats()).values()) {
      if (r.type === 'inbound-rtp' && r.kind === 'video')
        out[stream] = {width: r.frameWidth || 0, height: r.frameHeight || 0,
                       decoded: r.framesDecoded || 0};
    }
  }
  return out;
}"""


async def until(what: str, check: Any, limit: float = 30.0) -> Any:
    deadline = time.monotonic() + limit
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out: {what} (last: {last})")


async def open_room(browser: Browser, url: str, **tok: Any) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{url}/room/{ROOM}#token={token(**tok)}")
    await page.wait_for_function("() => window.twinspaceRoom && window.twinspaceRoom.me")
    return page


async def test_a_browser_without_udp_publishes_and_watches_through_coturn_over_tcp(
        ns: NetNS, coturn: Coturn, service: str, no_udp_browser: Browser) -> None:
    # the fence: Chromium runs in the group, and the group cannot send a UDP datagram here
    browser = process_groups(f"--unsafely-treat-insecure-origin-as-secure={service}")
    assert len(browser) >= 2 and set(browser.values()) == {NO_UDP_GID}, browser
    probe = _run(ns.command(
        "setpriv", f"--regid={NO_UDP_GID}", "--clear-groups", sys.executable, "-c",
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        f"s.sendto(b'x', ('{coturn.ip}', {coturn.port}))"))
    assert probe.returncode != 0 and "Operation not permitted" in probe.stderr, probe.stderr

    teacher = await open_room(no_udp_browser, service, sub="t", role="teacher", name="Ms T")
    pupil = await open_room(no_udp_browser, service, sub="p", name="Pia")
    started = time.monotonic()
    await teacher.locator("#cam").click()
    await expect(teacher.locator("#cam")).to_have_attribute("aria-pressed", "true", timeout=30000)
    camera = await until("camera published", lambda: teacher.evaluate("""() => {
        const cam = window.twinspaceRoom.camera;
        const track = cam?.media.getVideoTracks()[0];
        return track ? {stream: cam.id, ...track.getSettings()} : null;
    }"""))

    async def decoded() -> bool:
        video = (await pupil.evaluate(DECODED)).get(camera["stream"])
        return bool(video and video["decoded"] >= 10
                    and (video["width"], video["height"]) == (camera["width"], camera["height"]))

    await until("the pupil decodes the teacher's camera through TURN", decoded, 45)
    elapsed = time.monotonic() - started

    published = await teacher.evaluate(
        f"() => ({SELECTED_PAIR})(window.twinspaceRoom.camera.pc)")
    watched = await pupil.evaluate(
        f"() => ({SELECTED_PAIR})(window.twinspaceRoom.subs.get('{camera['stream']}').pc)")
    # the page gave its PeerConnections the join ack's TURN server and credentials
    (server,) = await teacher.evaluate(
        "() => window.twinspaceRoom.camera.pc.getConfiguration().iceServers")
    assert server["urls"] == [f"turn:{coturn.ip}:{coturn.port}?transport=tcp"]
    assert server["username"].endswith(":t") and server["credential"]
    for pair in (published, watched):
        assert pair == {"type": "relay", "protocol": "udp", "relayProtocol": "tcp",
                        "address": coturn.ip, "worked": ["relay"]}, pair
    assert elapsed < 45
