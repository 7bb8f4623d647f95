"""Safeguarding in headless Chromium: a report from the widget to the console's queue, the
lobby and the end of a lesson on the classroom page and in the console."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from .browser import axe_serious, token_left_the_address
from .support import Running, connect, token

pytestmark = pytest.mark.browser


async def _page(browser: Browser, url: str, bypass_csp: bool = False) -> Page:
    page = await (await browser.new_context(bypass_csp=bypass_csp)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    async def accept(dialog: Dialog) -> None:  # the console confirms destructive steps
        await dialog.accept()

    page.on("dialog", accept)
    await page.goto(url)
    assert await token_left_the_address(page)
    assert errors == []
    return page


async def widget(browser: Browser, url: str, room: str = "r", **tok: Any) -> Page:
    page = await _page(browser, f"{url}/embed/chat?room={room}#token={token(**tok)}")
    await expect(page.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    return page


async def test_a_report_from_the_widget_reaches_the_console_queue(browser: Browser,
                                                                  live: Running) -> None:
    console = await _page(browser, f"{live.url}/console#token="
                                   f"{token(sub='t', role='teacher', name='Ms T')}",
                          bypass_csp=True)
    await console.locator('#rooms button[data-room="r"]').click()
    await expect(console.locator("#room-title")).to_have_text("r")
    await expect(console.locator("#no-reports")).to_be_visible()
    ana = await widget(browser, live.url, sub="ana", name="Ana")
    bo = await widget(browser, live.url, sub="bo", name="Bo")
    box = ana.locator("twinspace-chat textarea")
    await box.fill("you are mean")
    await box.press("Enter")
    item = bo.locator("twinspace-chat li[data-id]")
    await expect(item).to_have_count(1)
    # no report button on one's own message; one on someone else's
    await expect(ana.locator("twinspace-chat li[data-id] button.report")).to_have_count(0)
    report = item.locator("button.report")
    await expect(report).to_have_attribute("aria-label",
                                           "Report the message from Ana to your teachers")
    await report.click()
    await expect(bo.locator("twinspace-chat .notice")).to_contain_text("Your teachers can now see")
    queued = console.locator("#reports li[data-report]")
    await expect(queued).to_have_count(1)
    await expect(queued).to_contain_text("you are mean")
    await expect(queued).to_contain_text("Reported by Bo")
    await expect(console.locator("#reports-count")).to_have_text("1")
    assert await axe_serious(console) == []
    # the teacher mutes the author from the queue: the report leaves it, the audit keeps it
    await queued.locator('button[data-resolve="mute"]').click()
    await expect(queued).to_have_count(0)
    await expect(console.locator("#reports-count")).to_be_hidden()
    await expect(ana.locator("twinspace-chat textarea")).to_be_disabled()
    await expect(console.locator("#audit tbody tr").first).to_contain_text("report:resolve")


async def test_the_lobby_and_the_end_of_a_lesson_on_the_classroom_page(browser: Browser,
                                                                       live: Running) -> None:
    teacher = await _page(browser, f"{live.url}/room/lesson#token="
                                   f"{token(sub='t', role='teacher', name='Ms T')}",
                          bypass_csp=True)
    await expect(teacher.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    await expect(teacher.locator("#lobby-panel")).to_be_visible()
    helper = await connect(live.url, sub="t2", role="teacher")
    try:
        assert (await helper.call("join", {"room": "lesson"}))["ok"]
        assert (await helper.call("mod:lobby", {"room": "lesson", "on": True}))["ok"]
        pupil = await _page(browser, f"{live.url}/room/lesson#token="
                                     f"{token(sub='ana', name='Ana', school='s1')}")
        await expect(pupil.locator("#alert")).to_contain_text("Waiting for a teacher")
        waiting = teacher.locator('#waiting li[data-user="ana"]')
        await expect(waiting).to_contain_text("Ana")
        await expect(teacher.locator("#waiting-count")).to_have_text("1")
        assert await axe_serious(teacher) == []
        await waiting.locator('button[data-admit="true"]').click()
        await expect(pupil.locator("twinspace-chat")).to_have_attribute("data-state", "online")
        await expect(pupil.locator("#alert")).to_be_hidden()
        await expect(teacher.locator("#waiting li")).to_have_count(0)
        # the teacher ends the lesson (after confirming): the pupil is told and is out
        await teacher.locator("#end-lesson").click()
        await expect(pupil.locator("#alert")).to_contain_text("The lesson has ended.")
        # the classroom page's end screen replaces its controls and the chat
        end_screen = pupil.get_by_role("region", name="You are no longer in the lesson")
        await expect(end_screen).to_contain_text("The lesson has ended.")
        await expect(pupil.locator("twinspace-chat")).to_have_count(0)
        ended = await helper.wait_for("room:locked")
        assert ended == {"room": "lesson", "locked": True}
    finally:
        await helper.close()


async def test_the_console_runs_the_lobby_and_ends_the_lesson(browser: Browser,
                                                              live: Running) -> None:
    console = await _page(browser, f"{live.url}/console#token="
                                   f"{token(sub='t', role='teacher', name='Ms T')}")
    await console.locator("#room-name").fill("lesson")
    await console.locator("#open-room button[type=submit]").click()
    await expect(console.locator("#room-title")).to_have_text("lesson")
    await expect(console.locator("#supervised")).to_be_checked()
    await console.locator("#lobby").check()
    a = await connect(live.url, sub="a", school="s1")
    b = await connect(live.url, sub="b", school="s2")
    try:
        for c in (a, b):
            assert (await c.call("join", {"room": "lesson"}))["error"]["code"] == "waiting"
        await expect(console.locator("#waiting li")).to_have_count(2)
        await expect(console.locator("#waiting-count")).to_have_text("2")
        await console.locator('#admit-schools button[data-school="s1"]').click()
        await a.wait_for("room:admitted")
        await expect(console.locator("#waiting li")).to_have_count(1)
        await console.locator('#waiting li[data-user="b"] button[data-admit="false"]').click()
        await b.wait_for("room:refused")
        assert (await a.call("join", {"room": "lesson"}))["ok"]
        # a raised hand shows as a count beside the heading
        await a.call("hand", {"room": "lesson", "raised": True})
        await expect(console.locator("#hands-count")).to_have_text("1")
        # the lock button says what a click does
        await expect(console.locator("#lock")).to_have_text("Lock room")
        await console.locator("#end-lesson").click()
        await a.wait_for("room:ended")
        await expect(console.locator("#lock")).to_have_attribute("aria-pressed", "true")
        await expect(console.locator("#lock")).to_have_text("Unlock room")
        await expect(console.locator("#audit tbody tr").first).to_contain_text("mod:end")
    finally:
        await a.close()
        await b.close()
