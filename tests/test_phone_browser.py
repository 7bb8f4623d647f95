"""The classroom page on a phone (360 × 740): fits, drawer chat, bottom bar, pin, speaker view."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from .browser import axe_serious
from .support import Running, token

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 360, "height": 740}


async def room_page(
    browser: Browser, url: str, sub: str, role: str, name: str, viewport: ViewportSize | None = None
) -> Page:
    page = await (await browser.new_context(bypass_csp=True, viewport=viewport)).new_page()
    await page.goto(f"{url}/room/r#token={token(sub=sub, role=role, name=name)}")
    await expect(page.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    return page


async def no_horizontal_scroll(page: Page) -> bool:
    return bool(await page.evaluate("document.scrollingElement.scrollWidth <= 360"))


async def test_teacher_on_a_phone_drawer_bottom_bar_pin(browser: Browser, live: Running) -> None:
    teacher = await room_page(browser, live.url, "t1", "teacher", "Mr T", viewport=PHONE)
    await room_page(browser, live.url, "p1", "student", "Pia")
    grid = teacher.locator("#grid .tile")
    await expect(grid).to_have_count(2)
    assert await no_horizontal_scroll(teacher)
    assert await axe_serious(teacher) == []
    # two tiles side by side
    boxes = [await grid.nth(i).bounding_box() for i in range(2)]
    assert boxes[0] and boxes[1] and boxes[0]["y"] == boxes[1]["y"] and boxes[0]["width"] < 180
    # the controls: a bottom bar of thumb-sized targets
    for button in await teacher.locator("#controls button:visible").all():
        box = await button.bounding_box()
        assert box and box["height"] >= 44 and box["y"] + box["height"] <= PHONE["height"]
    bar = await teacher.locator("#controls").bounding_box()
    assert bar and bar["y"] + bar["height"] == pytest.approx(PHONE["height"], abs=1)

    # the chat is a drawer, opened and closed from the keyboard
    side, toggle = teacher.locator("#side"), teacher.locator("#chat-toggle")
    await expect(side).to_be_hidden()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.focus()
    await teacher.keyboard.press("Enter")
    await expect(side).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(teacher.locator("#chat-close")).to_be_focused()
    assert await no_horizontal_scroll(teacher)
    assert await axe_serious(teacher) == []
    await teacher.keyboard.press("Escape")
    await expect(side).to_be_hidden()
    await expect(toggle).to_be_focused()
    await expect(toggle).to_have_attribute("aria-expanded", "false")

    # pin the pupil: their tile is the big one, first, across the grid; unpin by keyboard
    pupil = teacher.locator('#grid .tile[data-user="p1"]')
    pin = pupil.locator("button.pin")
    await pin.click()
    await expect(pupil).to_have_attribute("data-big", "true")
    await expect(pupil.locator("button.pin")).to_have_attribute("aria-pressed", "true")
    await expect(grid.first).to_have_attribute("data-user", "p1")
    big = await pupil.bounding_box()
    assert big and big["width"] > 300
    assert await no_horizontal_scroll(teacher)
    await expect(pupil.locator("button.pin")).to_be_focused()
    await teacher.keyboard.press("Enter")
    await expect(pupil).to_have_attribute("data-big", "false")
    # the tile is drawn again after a mute: focus stays on that button, not on the pin
    mute = pupil.get_by_role("button", name="Mute Pia's microphone")
    await mute.focus()
    await teacher.keyboard.press("Enter")
    await expect(mute).to_have_attribute("aria-pressed", "true")
    await expect(mute).to_be_focused()

    # speaker view: with nobody speaking, the teacher's tile is the big one
    await teacher.locator("#speaker-view").click()
    await expect(teacher.locator("#speaker-view")).to_have_attribute("aria-pressed", "true")
    mine = teacher.locator('#grid .tile[data-user="t1"]')
    await expect(mine).to_have_attribute("data-big", "true")
    await teacher.locator('#grid .tile[data-user="p1"] button.pin').click()
    await expect(grid.first).to_have_attribute("data-user", "p1")
    await expect(mine).to_have_attribute("data-big", "false")


async def test_pupil_on_a_phone_has_no_pin_and_fits(browser: Browser, live: Running) -> None:
    await room_page(browser, live.url, "t1", "teacher", "Mr T")
    pupil = await room_page(browser, live.url, "p1", "student", "Pia", viewport=PHONE)
    await expect(pupil.locator("#grid .tile")).to_have_count(2)
    await expect(pupil.locator("button.pin")).to_have_count(0)
    assert await no_horizontal_scroll(pupil)
    assert await axe_serious(pupil) == []
    await pupil.locator("#chat-toggle").click()
    await expect(pupil.locator("#side twinspace-chat textarea")).to_be_visible()
    assert await no_horizontal_scroll(pupil)
