"""The classroom page holds up (issue #10 part 4), in headless Chromium inside a network
namespace with fake devices, against the real service (fixtures of test_classroom_browser):
a reconnect and a failed leg bring video back without a reload; the microphone alone, camera
off as a real stop, the device picker with its preview; a teacher's hard mute shown on the
pupil's buttons; last-N pauses said on the tile; one raise-hand button, Leave and the end
screen of a removed member."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import axe_serious
from tests.media.test_classroom_browser import (  # noqa: F401 (fixtures)
    ROOM,
    browser,
    inbound,
    ns,
    open_room,
    pupils_see_each_other,
    service,
    until,
)
from tests.support import token

pytestmark = [pytest.mark.media, pytest.mark.browser]

SUB_OF = "(stream) => window.twinspaceRoom.subs.get(stream)?.id ?? null"
MINE = "() => window.twinspaceRoom.camera?.id ?? null"


async def open_checked(browser: Browser, url: str, **tok: Any) -> Page:  # noqa: F811
    """open_room, in a context that lets axe-core's script in (the page's CSP would not)."""
    page = await (await browser.new_context(bypass_csp=True)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{url}/room/{ROOM}#token={token(**tok)}")
    await page.wait_for_function("() => window.twinspaceRoom && window.twinspaceRoom.me")
    assert errors == []
    return page


def tile(page: Page, user: str) -> Any:
    return page.locator(f'#grid [data-user="{user}"]')


async def decoding(page: Page, stream: str, frames: int = 10, limit: float = 30) -> None:
    """`page` decodes at least `frames` more frames of `stream` than it had."""
    start = (await inbound(page)).get(f"{stream}:video", {}).get("decoded", 0)

    async def check() -> bool:
        video = (await inbound(page)).get(f"{stream}:video")
        return bool(video and video["decoded"] >= start + frames)

    await until(f"{stream} decoded", check, limit)


async def hearing(page: Page, stream: str, packets: int = 25, limit: float = 30) -> None:
    start = (await inbound(page)).get(f"{stream}:audio", {}).get("packets", 0)

    async def check() -> bool:
        audio = (await inbound(page)).get(f"{stream}:audio")
        return bool(audio and audio["packets"] >= start + packets)

    await until(f"{stream} heard", check, limit)


async def join_call(page: Page, *, camera: str | None = None, mic: str | None = None) -> None:
    """The panel before the call: pick devices (a value of the selects), then join."""
    panel = page.locator("#prejoin")
    await expect(panel).to_be_visible()
    if camera is not None:
        await page.locator("#pick-camera").select_option(camera)
    if mic is not None:
        await page.locator("#pick-mic").select_option(mic)
    await page.locator("#join-call").click()
    await expect(panel).to_be_hidden()


async def test_video_comes_back_after_a_reconnect_and_after_a_failed_leg(
        service: str, browser: Browser) -> None:  # noqa: F811
    teacher = await open_room(browser, service, sub="t", role="teacher", name="Ms T")
    ana = await open_room(browser, service, sub="ana", name="Ana")
    await join_call(teacher)
    await join_call(ana)
    await expect(teacher.locator("#cam")).to_have_attribute("aria-pressed", "true", timeout=15000)
    await expect(ana.locator("#cam")).to_have_attribute("aria-pressed", "true", timeout=15000)
    t_cam = await until("teacher's camera", lambda: teacher.evaluate(MINE))
    a_cam = await until("Ana's camera", lambda: ana.evaluate(MINE))
    await decoding(ana, t_cam)
    await decoding(teacher, a_cam)
    first_sub = await ana.evaluate(SUB_OF, t_cam)

    # Ana's connection drops while her browser is offline; it comes back by itself
    await ana.context.set_offline(True)
    await ana.evaluate("window.twinspaceRoom.client.socket.io.engine.close()")
    await expect(ana.locator("#status")).to_have_text("Offline", timeout=15000)
    await ana.context.set_offline(False)
    await expect(ana.locator("#status")).to_have_text("Connected", timeout=30000)
    # without a reload: a new subscription to the teacher, and Ana's camera published again
    await until("Ana subscribed again",
                lambda: _changed(ana.evaluate(SUB_OF, t_cam), first_sub), 30)
    await decoding(ana, t_cam)
    a_cam2 = await until("Ana published again",
                         lambda: _changed(ana.evaluate(MINE), a_cam), 30)
    await decoding(teacher, a_cam2)
    await expect(tile(teacher, "ana")).to_have_attribute("data-video", "live", timeout=15000)

    # the service ends Ana's subscription under her page's feet: the tile says so, then the
    # page subscribes again (backoff) and the teacher's video plays on
    sub = await ana.evaluate(SUB_OF, t_cam)
    await ana.evaluate("(sub) => window.twinspaceRoom.client.rtcUnsubscribe(sub)", sub)
    await expect(tile(ana, "t")).to_have_attribute("data-video", "retrying", timeout=30000)
    await expect(tile(ana, "t").locator(".video-note")).to_have_text(
        "Video interrupted. Reconnecting…")
    await expect(tile(ana, "t")).to_have_attribute("data-video", "live", timeout=30000)
    assert await ana.evaluate(SUB_OF, t_cam) != sub
    await decoding(ana, t_cam)


async def _changed(value: Any, old: Any) -> Any:
    new = await value
    return new if new and new != old else None


async def test_microphone_alone_camera_off_and_remembered_devices(
        service: str, browser: Browser) -> None:  # noqa: F811
    teacher = await open_room(browser, service, sub="t", role="teacher", name="Ms T")
    ana = await open_checked(browser, service, sub="ana", name="Ana")
    # the preview shows Ana's camera before she joins the call; she picks "No camera"
    await until("preview", lambda: ana.evaluate(
        "() => document.getElementById('preview').srcObject?.getVideoTracks().length === 1"))
    assert await axe_serious(ana) == []
    await join_call(ana, camera="none")
    await join_call(teacher, mic="none")
    await expect(ana.locator("#mic")).to_have_attribute("aria-pressed", "true", timeout=15000)
    await expect(ana.locator("#cam")).to_have_attribute("aria-pressed", "false")
    # the preview let its camera go; Ana publishes her microphone alone
    assert await ana.evaluate("document.getElementById('preview').srcObject") is None
    a_cam = await until("Ana's stream", lambda: ana.evaluate(MINE))
    assert await ana.evaluate(
        "() => window.twinspaceRoom.camera.media.getTracks().map((t) => t.kind)") == ["audio"]
    await hearing(teacher, a_cam)
    # her tile shows her name, not a black box
    await expect(tile(teacher, "ana")).to_have_attribute("data-video", "audio", timeout=15000)
    await expect(tile(teacher, "ana").locator(".no-video")).to_have_text("Ana")

    # the teacher's camera (no microphone), then camera off: the track stops, Ana sees the name
    await expect(teacher.locator("#cam")).to_have_attribute("aria-pressed", "true", timeout=15000)
    t_cam = await until("teacher's camera", lambda: teacher.evaluate(MINE))
    await decoding(ana, t_cam)
    await expect(tile(ana, "t")).to_have_attribute("data-video", "live")
    track = await teacher.evaluate_handle(
        "() => window.twinspaceRoom.camera.media.getVideoTracks()[0]")
    await teacher.locator("#cam").click()
    await expect(teacher.locator("#cam")).to_have_attribute("aria-pressed", "false")
    assert await track.evaluate("(t) => t.readyState") == "ended"
    await until("teacher's stream gone", lambda: _gone(ana, t_cam))
    await expect(tile(ana, "t")).to_have_attribute("data-video", "none")
    await expect(tile(ana, "t").locator(".no-video")).to_have_text("Ms T")
    await expect(tile(ana, "t").locator("video")).to_have_count(0)

    # the choice is remembered: after a reload the picker still says "No camera"
    await ana.reload()
    await expect(ana.locator("#prejoin")).to_be_visible()
    await expect(ana.locator("#pick-camera")).to_have_value("none")


async def _gone(page: Page, stream: str) -> bool:
    return bool(await page.evaluate("(s) => !window.twinspaceRoom.streams.has(s)", stream))


async def test_last_n_pause_said_and_hard_mute_shown(
        service: str, browser: Browser) -> None:  # noqa: F811
    teacher = await open_room(browser, service, sub="t", role="teacher", name="Ms T")
    ana = await open_checked(browser, service, sub="ana", name="Ana")
    ben = await open_room(browser, service, sub="ben", name="Ben")
    await pupils_see_each_other(teacher, ana, ben)
    for page in (teacher, ana):
        await join_call(page)
        await expect(page.locator("#cam")).to_have_attribute("aria-pressed", "true", timeout=15000)
    await join_call(ben, camera="none", mic="none")
    t_cam = await until("teacher's camera", lambda: teacher.evaluate(MINE))
    a_cam = await until("Ana's camera", lambda: ana.evaluate(MINE))
    await decoding(ben, a_cam)
    await expect(tile(ben, "ana")).to_have_attribute("data-video", "live", timeout=15000)

    # last-N 1: the teacher's video keeps the slot, Ben's tile of Ana says hers is paused
    await teacher.locator("#last-n").fill("1")
    await teacher.locator("#settings button[type=submit]").click()
    await expect(tile(ben, "ana")).to_have_attribute("data-video", "paused", timeout=15000)
    await expect(tile(ben, "ana").locator(".video-note")).to_have_text(
        "Video paused to save bandwidth")
    await expect(tile(ben, "ana").locator(".no-video")).to_have_text("Ana")
    await hearing(ben, a_cam)  # her voice still comes
    await expect(tile(ben, "t")).to_have_attribute("data-video", "live")
    await decoding(ben, t_cam)
    await teacher.locator("#last-n").fill("9")
    await teacher.locator("#settings button[type=submit]").click()
    await expect(tile(ben, "ana")).to_have_attribute("data-video", "live", timeout=15000)
    await decoding(ben, a_cam)

    # the teacher mutes Ana's microphone: her button says so and holds
    mic = ana.locator("#mic")
    await tile(teacher, "ana").get_by_role("button", name="Mute Ana's microphone").click()
    await expect(mic).to_have_attribute("aria-disabled", "true")
    await expect(mic).to_have_attribute("aria-pressed", "false")
    await expect(mic).to_have_text("Microphone muted by a teacher")
    await expect(mic).to_have_attribute("title", "Microphone muted by a teacher")
    await expect(ana.locator("#media-note")).to_have_text("Microphone muted by a teacher")
    await mic.focus()  # still reachable by keyboard, where a screen reader reads the reason
    await ana.keyboard.press("Enter")
    await expect(mic).to_have_attribute("aria-pressed", "false")
    assert await ana.evaluate("window.twinspaceRoom.mic") is False
    # lifted: the button is hers again
    await tile(teacher, "ana").get_by_role("button", name="Mute Ana's microphone").click()
    await expect(mic).to_have_attribute("aria-disabled", "false")
    await expect(mic).to_have_text("Microphone")
    await expect(ana.locator("#media-note")).to_be_hidden()
    await mic.focus()
    await ana.keyboard.press("Enter")
    await expect(mic).to_have_attribute("aria-pressed", "true", timeout=15000)



async def test_one_hand_button_a_stopped_share_leave_and_the_end_screen_of_a_kick(
        service: str, browser: Browser) -> None:  # noqa: F811
    teacher = await open_room(browser, service, sub="t", role="teacher", name="Ms T")
    ana = await open_checked(browser, service, sub="ana", name="Ana")
    ben = await open_room(browser, service, sub="ben", name="Ben")
    await join_call(teacher, camera="none", mic="none")
    await join_call(ana)
    await expect(ana.locator("#cam")).to_have_attribute("aria-pressed", "true", timeout=15000)
    a_cam = await until("Ana's camera", lambda: ana.evaluate(MINE))
    await join_call(ben, camera="none", mic="none")

    # one raise-hand button (the chat's own is not shown), by keyboard; the teacher sees it
    await expect(ana.locator("twinspace-chat button.hand-toggle")).to_be_hidden()
    await ana.locator("#hand").focus()
    await ana.keyboard.press("Space")
    await expect(ana.locator("#hand")).to_have_attribute("aria-pressed", "true")
    await expect(tile(teacher, "ana")).to_have_attribute("data-hand", "true")
    assert await axe_serious(ana) == []

    # Ana shares her screen; the teacher stops it: meant, so her page does not share again
    await ana.locator("#share").click()
    await expect(ana.locator("#share")).to_have_attribute("aria-pressed", "true", timeout=15000)
    screen = await until("Ana's screen", lambda: ana.evaluate(
        "() => window.twinspaceRoom.screen?.id ?? null"))
    await expect(ben.locator("#stage video")).to_have_count(1, timeout=15000)
    await tile(teacher, "ana").get_by_role("button", name="Stop Ana's screen share").click()
    await expect(ana.locator("#share")).to_have_attribute("aria-pressed", "false")
    await until("the share ended", lambda: _gone(ben, screen))
    await expect(ben.locator("#stage")).to_be_hidden()
    assert await ana.evaluate("window.twinspaceRoom.screen") is None
    assert await ana.evaluate("[...window.twinspaceRoom.streams.values()]"
                              ".filter((s) => s.source === 'screen').length") == 0

    # Ben leaves: an end screen, from which he may join again
    await ben.locator("#leave").click()
    await expect(ben.locator("#ended")).to_be_visible()
    await expect(ben.locator("#end-text")).to_have_text("You left the lesson.")
    await expect(ben.locator("#rejoin")).to_be_visible()
    await expect(ben.locator("#end-title")).to_be_focused()
    await expect(ben.locator("#main")).to_be_hidden()
    await expect(tile(teacher, "ben")).to_have_count(0)

    # the teacher removes Ana: her camera stops and she reads why, no dead controls
    track = await ana.evaluate_handle("() => window.twinspaceRoom.camera.media.getVideoTracks()[0]")
    await tile(teacher, "ana").get_by_role("button", name="Remove Ana from the room").click()
    await expect(ana.locator("#ended")).to_be_visible()
    await expect(ana.locator("#end-text")).to_have_text("A teacher removed you from this room.")
    await expect(ana.locator("#rejoin")).to_be_hidden()
    await expect(ana.locator("#main")).to_be_hidden()
    await until("Ana's camera stopped", lambda: track.evaluate("(t) => t.readyState === 'ended'"))
    await until("Ana's stream ended", lambda: _gone(teacher, a_cam))
    assert await axe_serious(ana) == []


async def test_a_pupil_sees_a_camera_refused_before_once_the_teacher_allows_it(
        service: str, browser: Browser) -> None:  # noqa: F811
    """Pupils' cameras are for teachers only in a new room: Ben's page is refused Ana's camera;
    when the teacher lifts the rule, Ben's page asks again by itself (no reload)."""
    teacher = await open_room(browser, service, sub="t", role="teacher", name="Ms T")
    ana = await open_checked(browser, service, sub="ana", name="Ana")
    ben = await open_room(browser, service, sub="ben", name="Ben")
    await join_call(ana)
    a_cam = await until("Ana's camera", lambda: ana.evaluate(MINE))
    await decoding(teacher, a_cam)
    await until("Ben's page refused Ana's camera", lambda: ben.evaluate(
        "(s) => window.twinspaceRoom.streams.has(s)", a_cam))
    await expect(tile(ben, "ana")).not_to_have_attribute("data-video", "live")
    await pupils_see_each_other(teacher, ben)
    await decoding(ben, a_cam)
    await expect(tile(ben, "ana")).to_have_attribute("data-video", "live", timeout=15000)
