"""Two pupils and a teacher hold a class in headless Chromium, through the service's media unit.

Everything that carries media runs inside a network namespace this test creates
(`tests/netns.py`): the service (a child process whose forwarding unit offers only the
namespace's veth address) and Chromium (launched through `ip netns exec`, driven by
Playwright over its debugging pipe). The test process only reaches the service's HTTP port
over the veth pair. Chromium's fake devices make the media; nothing is stored.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.browser import ARGS, CHROMIUM, token_left_the_address
from tests.netns import NetNS, netns
from tests.support import SECRET, token, wait_ready

pytestmark = [pytest.mark.media, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
PORT = 8765
ROOM = "physics"
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--auto-select-desktop-capture-source=Entire screen",
    "--autoplay-policy=no-user-gesture-required",
    # offer the namespace's address, not an mDNS name the service would have to resolve
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


@pytest.fixture
def ns() -> Iterator[NetNS]:
    with netns() as space:
        yield space


def _start_service(ns: NetNS) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "LIVE_JWT_SECRET": SECRET, "LIVE_RATE_LIMITS": "off",
           "LIVE_MEDIA_ADDRESSES": ns.inside, "PYTHONUNBUFFERED": "1"}
    log = tempfile.NamedTemporaryFile(prefix="live-media-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        ns.command(sys.executable, "-m", "live.cli", "serve", "--host", ns.inside,
                   "--port", str(PORT)),
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, log.name


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is not installed (scripts/bootstrap installs it)")


def _tail(path: str) -> str:
    return Path(path).read_text(errors="replace")[-3000:]


def _logged(path: str, text: str) -> bool:
    return text in Path(path).read_text(errors="replace")


def _stop(proc: subprocess.Popen[bytes], log: str) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    os.unlink(log)


@pytest.fixture
async def service(ns: NetNS) -> AsyncIterator[str]:
    """The service inside the namespace; its URL (reached over the veth pair from here)."""
    proc, log = _start_service(ns)
    url = f"http://{ns.inside}:{PORT}"
    try:
        await wait_ready(proc, url, lambda: _tail(log), within=20)
        yield url
    finally:
        _stop(proc, log)


@pytest.fixture
async def browser(ns: NetNS) -> AsyncIterator[Browser]:
    _need_chromium()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=ns.wrapper(CHROMIUM), headless=True,
                                     args=ARGS + MEDIA_ARGS + [
                                         # http inside the namespace: let getUserMedia work
                                         "--unsafely-treat-insecure-origin-as-secure="
                                         f"http://{ns.inside}:{PORT}"])
        try:
            yield b
        finally:
            await b.close()


async def open_room(browser: Browser, url: str, **tok: Any) -> Page:
    page = await (await browser.new_context()).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{url}/room/{ROOM}#token={token(**tok)}")
    assert await token_left_the_address(page)
    await page.wait_for_function("() => window.twinspaceRoom && window.twinspaceRoom.me")
    assert errors == []
    return page


INBOUND = """async () => {
  const out = {};
  for (const [stream, sub] of window.twinspaceRoom.subs) {
    if (!sub) continue;
    for (const r of (await sub.pc.getStats()).values()) {
      if (r.type !== 'inbound-rtp') continue;
      out[`${stream}:${r.kind}`] = {width: r.frameWidth || 0, height: r.frameHeight || 0,
        decoded: r.framesDecoded || 0, packets: r.packetsReceived || 0};
    }
  }
  return out;
}"""

PUBLISHED = """(source) => {
  const track = window.twinspaceRoom[source]?.media.getVideoTracks()[0];
  if (!track) return null;
  const s = track.getSettings();
  return {stream: window.twinspaceRoom[source].id, width: s.width, height: s.height};
}"""


async def inbound(page: Page) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = await page.evaluate(INBOUND)
    return result


async def until(what: str, check: Any, limit: float = 20.0) -> Any:
    deadline = time.monotonic() + limit
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out: {what} (last: {last})")


async def pupils_see_each_other(teacher: Page, *pupils: Page) -> None:
    """A new room shows pupils' cameras and microphones to teachers only (rooms/media_rules.py):
    the teacher lifts that in the room's settings, and each pupil's page hears of it."""
    await expect(teacher.locator("#pupil-cameras")).to_be_checked(timeout=20000)
    await teacher.locator("#pupil-cameras").uncheck()
    await teacher.locator("#settings button[type=submit]").click()
    for pupil in pupils:
        await until("a pupil hears the room's new settings", lambda p=pupil: p.evaluate(
            "() => window.twinspaceRoom.settings?.pupil_cameras_teachers_only === false"))


async def test_a_class_with_camera_screen_and_a_hard_mute(
        ns: NetNS, service: str, browser: Browser) -> None:
    teacher = await open_room(browser, service, sub="t", role="teacher", name="Ms T")
    ana = await open_room(browser, service, sub="ana", name="Ana")
    ben = await open_room(browser, service, sub="ben", name="Ben")
    await pupils_see_each_other(teacher, ana, ben)

    # the teacher publishes camera (with the microphone) and the screen
    await teacher.locator("#cam").click()
    await expect(teacher.locator("#cam")).to_have_attribute("aria-pressed", "true", timeout=15000)
    await teacher.locator("#mic").click()
    await expect(teacher.locator("#mic")).to_have_attribute("aria-pressed", "true")
    await teacher.locator("#share").click()
    await expect(teacher.locator("#share")).to_have_attribute("aria-pressed", "true",
                                                              timeout=15000)
    camera = await until("camera published", lambda: teacher.evaluate(PUBLISHED, "camera"))
    screen = await until("screen published", lambda: teacher.evaluate(PUBLISHED, "screen"))
    assert (camera["width"], camera["height"]) == (640, 480)

    # both pupils decode both streams at the published resolutions
    for pupil in (ana, ben):
        async def decoded(pupil: Page = pupil) -> bool:
            stats = await inbound(pupil)
            for pub in (camera, screen):
                video = stats.get(f"{pub['stream']}:video")
                if not video or video["decoded"] < 10:
                    return False
                if (video["width"], video["height"]) != (pub["width"], pub["height"]):
                    return False
            return True

        await until("pupils decode camera and screen", decoded, 30)
    await expect(ben.locator("#stage video")).to_have_count(1)
    await expect(ben.locator('#grid [data-user="t"] video')).to_have_count(1)

    # Ana speaks; Ben and the teacher receive her audio
    await ana.locator("#mic").click()
    await expect(ana.locator("#mic")).to_have_attribute("aria-pressed", "true", timeout=15000)
    ana_stream = await until("Ana's stream", lambda: ana.evaluate(
        "() => window.twinspaceRoom.camera?.id"))

    async def ana_audio(page: Page) -> int:
        return (await inbound(page)).get(f"{ana_stream}:audio", {}).get("packets", 0)

    first = await until("Ben hears Ana", lambda: ana_audio(ben))
    await until("Ana's audio keeps coming", lambda: _grew(ana_audio(ben), first + 50))

    # the teacher mutes Ana's microphone from her tile: the service stops forwarding it
    mute = teacher.locator('#grid [data-user="ana"] .tools button').first
    await expect(mute).to_have_attribute("aria-pressed", "false")
    await mute.click()
    await expect(mute).to_have_attribute("aria-pressed", "true")
    await asyncio.sleep(0.5)  # packets in flight
    before = await ana_audio(ben)
    await asyncio.sleep(2.0)
    after = await ana_audio(ben)
    assert after - before <= 5, (before, after)
    # Ana is told; the teacher's own audio still reaches Ben
    await expect(ana.locator("#mic")).to_have_attribute("aria-pressed", "false")
    teacher_audio = f"{camera['stream']}:audio"
    t0 = (await inbound(ben))[teacher_audio]["packets"]
    await until("teacher's audio still flows",
                lambda: _grew(_packets(ben, teacher_audio), t0 + 25))


async def _packets(page: Page, key: str) -> int:
    return (await inbound(page)).get(key, {}).get("packets", 0)


async def _grew(value: Any, at_least: int) -> bool:
    return bool(await value >= at_least)


async def test_the_publisher_gets_transport_wide_feedback(ns: NetNS, browser: Browser) -> None:
    """Chromium offers transport-wide congestion control; the unit answers it and sends the
    feedback its pacing runs on (signaling/twcc.py), logged once per publish leg."""
    proc, log = _start_service(ns)
    url = f"http://{ns.inside}:{PORT}"
    try:
        await wait_ready(proc, url, lambda: _tail(log), within=20)
        teacher = await open_room(browser, url, sub="t", role="teacher", name="Ms T")
        await teacher.locator("#cam").click()
        await expect(teacher.locator("#cam")).to_have_attribute("aria-pressed", "true",
                                                                timeout=15000)
        answer = await until("the camera's answer", lambda: teacher.evaluate(
            "() => window.twinspaceRoom.camera?.pc.remoteDescription?.sdp ?? null"))
        video = answer[answer.index("m=video"):]
        assert "/draft-holmer-rmcat-transport-wide-cc-extensions-01" in video
        assert "transport-cc" in video
        stream = await until("the camera's stream", lambda: teacher.evaluate(
            "() => window.twinspaceRoom.camera?.id ?? null"))

        async def fed_back() -> bool:
            return _logged(log, f"PublishLeg({stream} t camera) transport-cc feedback")

        await until("feedback to the publisher", fed_back, 15)
    finally:
        _stop(proc, log)
