"""A class held across TWO service processes on one Redis, in headless Chromium.

The service processes run in the root namespace, bound to the outside address of the
test's veth pair, each offering only that address for media (`LIVE_MEDIA_ADDRESSES`);
Chromium runs inside the namespace (`tests/netns.py`), so WebRTC traffic stays on the veth
pair. Redis is the test's own redis-server on loopback. The teacher's pages go through a
balancer of the test (`Balancer`: a TCP proxy that keeps each connection on the first
process that answers, as a balancer with health checks does), the pupils' pages straight to
the other process: the room's media is served by the teacher's process, the pupils' `rtc:*`
requests travel over the bus (docs/protocol.md, "Media on any process").
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.browser import ARGS, CHROMIUM
from tests.media.test_classroom_browser import (
    MEDIA_ARGS,
    PUBLISHED,
    ROOM,
    _need_chromium,
    inbound,
    ns,
    pupils_see_each_other,
    until,
)
from tests.netns import NetNS
from tests.support import ServiceProcess, free_port, token

__all__ = ["ns"]  # the fixture, shared with test_classroom_browser.py

# three Chromium pages on two processes, and a failover: more than the default 120 s at worst
pytestmark = [pytest.mark.media, pytest.mark.browser, pytest.mark.redis, pytest.mark.slow,
              pytest.mark.timeout(240)]


class Balancer:
    """A TCP proxy on `host:port`: each connection goes to the first backend that accepts it."""

    def __init__(self, host: str, backends: list[tuple[str, int]]) -> None:
        self.host = host
        self.port = free_port()
        self.backends = backends
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in self._pipes:
            t.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for host, port in self.backends:
            try:
                up_r, up_w = await asyncio.open_connection(host, port)
            except OSError:
                continue
            for src, dst in ((reader, up_w), (up_r, writer)):
                task = asyncio.ensure_future(self._pipe(src, dst))
                self._pipes.add(task)
                task.add_done_callback(self._pipes.discard)
            return
        writer.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                dst.close()


class NsProcess(ServiceProcess):
    """A service process bound to the veth pair's outside address."""

    def __init__(self, ns: NetNS, redis_url: str) -> None:
        super().__init__(redis_url, env={"LIVE_RATE_LIMITS": "off",
                                         "LIVE_MEDIA_ADDRESSES": ns.outside},
                         args=["--host", ns.outside])
        self.host = ns.outside

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
async def cluster(ns: NetNS, redis_url: str) -> AsyncIterator[tuple[NsProcess, NsProcess,
                                                                    Balancer]]:
    a, b = NsProcess(ns, redis_url), NsProcess(ns, redis_url)
    await asyncio.gather(a.start(), b.start())
    lb = Balancer(ns.outside, [(ns.outside, a.port), (ns.outside, b.port)])
    await lb.start()
    try:
        yield a, b, lb
    finally:
        await lb.close()
        for p in (a, b):
            p.stop()


@pytest.fixture
async def browser(ns: NetNS, cluster: tuple[NsProcess, NsProcess, Balancer]) -> AsyncIterator[
        Browser]:
    _need_chromium()
    origins = ",".join(p.url for p in cluster[:2]) + "," + cluster[2].url
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=ns.wrapper(CHROMIUM),
                                     headless=True, args=ARGS + MEDIA_ARGS + [
                                         f"--unsafely-treat-insecure-origin-as-secure={origins}"])
        try:
            yield b
        finally:
            await b.close()


CONSOLE: dict[str, list[str]] = {}  # user -> the page's console, for a failure's message


async def open_room(browser: Browser, url: str, **tok: Any) -> Page:
    page = await (await browser.new_context()).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    console = CONSOLE.setdefault(str(tok.get("sub")), [])
    page.on("console", lambda m: console.append(f"{time.monotonic():.1f} {m.type}: {m.text}"))
    await page.goto(f"{url}/room/{ROOM}#token={token(**tok)}")
    await page.wait_for_function("() => window.twinspaceRoom && window.twinspaceRoom.me")
    assert errors == []
    return page


def decodes(page: Page, streams: list[dict[str, Any]], frames: int = 10) -> Any:
    async def check() -> bool:
        stats = await inbound(page)
        for pub in streams:
            video = stats.get(f"{pub['stream']}:video")
            if not video or video["decoded"] < frames:
                return False
            if (video["width"], video["height"]) != (pub["width"], pub["height"]):
                return False
        return True

    return check


async def test_teacher_on_one_process_pupils_on_the_other_every_stream_decoded(
        cluster: tuple[NsProcess, NsProcess, Balancer], browser: Browser) -> None:
    a, b, _ = cluster
    teacher = await open_room(browser, a.url, sub="t", role="teacher", name="Ms T")
    ana = await open_room(browser, b.url, sub="ana", name="Ana")
    ben = await open_room(browser, b.url, sub="ben", name="Ben")
    await teacher.locator("#cam").click()
    await expect(teacher.locator("#cam")).to_have_attribute("aria-pressed", "true", timeout=20000)
    await teacher.locator("#share").click()
    await expect(teacher.locator("#share")).to_have_attribute("aria-pressed", "true",
                                                              timeout=20000)
    camera = await until("camera published", lambda: teacher.evaluate(PUBLISHED, "camera"))
    screen = await until("screen published", lambda: teacher.evaluate(PUBLISHED, "screen"))
    await pupils_see_each_other(teacher, ana, ben)
    # a pupil on the other process publishes too, on the teacher's process's unit
    await ana.locator("#cam").click()
    await expect(ana.locator("#cam")).to_have_attribute("aria-pressed", "true", timeout=20000)
    ana_cam = await until("Ana's camera published", lambda: ana.evaluate(PUBLISHED, "camera"))
    for page, streams in ((ben, [camera, screen, ana_cam]), (ana, [camera, screen]),
                          (teacher, [ana_cam])):
        await until("every stream decoded", decodes(page, streams), 40)


async def test_the_media_process_killed_mid_lesson_and_video_back_without_a_reload(
        cluster: tuple[NsProcess, NsProcess, Balancer], browser: Browser) -> None:
    a, b, lb = cluster
    teacher = await open_room(browser, lb.url, sub="t", role="teacher", name="Ms T")  # → a
    ana = await open_room(browser, b.url, sub="ana", name="Ana")
    await teacher.locator("#cam").click()
    await expect(teacher.locator("#cam")).to_have_attribute("aria-pressed", "true", timeout=20000)
    camera = await until("camera published", lambda: teacher.evaluate(PUBLISHED, "camera"))
    await until("Ana decodes the teacher", decodes(ana, [camera]), 40)
    killed = time.monotonic()
    a.kill(signal.SIGKILL)

    async def republished() -> Any:
        now = await teacher.evaluate(PUBLISHED, "camera")
        return now if now and now["stream"] != camera["stream"] else None

    try:
        again = await until("the teacher's page publishes again", republished, 60)
    except AssertionError:
        state = await teacher.evaluate("""() => ({camera: window.twinspaceRoom.camera?.id,
            cam: window.twinspaceRoom.cam, mic: window.twinspaceRoom.mic,
            over: window.twinspaceRoom.over, me: window.twinspaceRoom.me?.id,
            streams: [...(window.twinspaceRoom.streams?.keys?.() ?? [])],
            text: document.body.innerText.slice(0, 400)})""")
        raise AssertionError(f"killed at {killed:.1f}; teacher {state}; console "
                             f"{CONSOLE.get('t')}; b: {b.output()[-3000:]}") from None
    await until("Ana decodes the new stream", decodes(ana, [again]), 60)
    took = time.monotonic() - killed
    print(f"video back {took:.1f} s after the media process was killed")
    assert await ana.evaluate("() => !!window.twinspaceRoom.me")  # the same page, no reload
