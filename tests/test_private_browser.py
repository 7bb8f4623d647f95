"""Supervised private messages in Chromium (issue #11 part 4): the widget and the classroom
page tell whoever can write privately that the space's teachers read it, right where they
write (the composer is described by that line); the console lists a room's private
messages, pupil-to-pupil included, live and paged, and releases a held one to its recipient
(tests/test_private_messages.py shows, over Socket.IO, that other pupils never get one).
Axe clean on each page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from .browser import axe_serious
from .support import Running, connect, token

pytestmark = pytest.mark.browser

RULE = "Teachers of your TwinSpace can read private messages."


async def _page(browser: Browser, url: str) -> Page:
    page = await (await browser.new_context(bypass_csp=True)).new_page()  # axe injects a script
    await page.goto(url)
    await expect(page.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    return page


async def console(browser: Browser, url: str) -> Page:
    """The console on room r (CSP bypassed for axe), failing on any page error. Unlike
    tests/test_console_browser.py's, Chromium's own request for /favicon.ico (the service
    has none: 404) is not counted: it races the room opening."""
    page = await (await browser.new_context(bypass_csp=True)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.location.get("url", "").endswith("/favicon.ico") else None)
    await page.goto(f"{url}/console#token={token(sub='t', role='teacher', name='Ms T')}")
    await page.locator('#rooms button[data-room="r"]').click()
    await expect(page.locator("#room-title")).to_have_text("r")
    await expect(page.locator("#private-refresh")).to_be_visible()
    assert errors == []
    return page


@pytest.mark.parametrize("where", ["widget", "classroom"])
async def test_the_rule_is_said_under_the_private_composer(browser: Browser, live: Running,
                                                           where: str) -> None:
    t = await connect(live.url, sub="t", role="teacher", name="Ms T")
    try:
        assert (await t.call("join", {"room": "r"}))["ok"]
        path = "/embed/chat?room=r" if where == "widget" else "/room/r"
        pupil = await _page(browser, f"{live.url}{path}#token={token(sub='p', name='Pia')}")
        chat = pupil.locator("twinspace-chat")
        rule, box = chat.locator(".pm-rule"), chat.locator("textarea")
        # nobody to write to privately yet: no rule shown, the composer not pointed at it
        await expect(chat.locator(".recipient")).to_be_hidden()
        await expect(rule).to_be_hidden()
        await expect(box).to_have_attribute("aria-describedby", "hint")
        assert (await t.call("mod:permissions", {"room": "r", "pupils_to_teachers": True}))["ok"]
        await expect(chat.locator(".recipient")).to_be_visible()
        await expect(rule).to_be_visible()
        await expect(rule).to_have_text(RULE)
        described = (await box.get_attribute("aria-describedby") or "").split()
        assert "pm-rule" in described
        assert await chat.locator("select.to").get_attribute("aria-describedby") == "pm-rule"
        assert await axe_serious(pupil) == []
        # in the pupil's own language
        de = await _page(browser, f"{live.url}{path}#token={token(sub='q', name='Q', lang='de')}")
        await expect(de.locator("twinspace-chat .pm-rule")).to_have_text(
            "Die Lehrkräfte deines TwinSpace können private Nachrichten lesen.")
        # off again: the line goes with the chooser
        assert (await t.call("mod:permissions", {"room": "r", "pupils_to_teachers": False}))["ok"]
        await expect(rule).to_be_hidden()
        await expect(box).to_have_attribute("aria-describedby", "hint")
    finally:
        await t.close()


async def test_the_console_shows_pupils_private_messages(browser: Browser,
                                                         live: Running) -> None:
    page = await console(browser, live.url)
    await expect(page.locator("#no-private")).to_be_visible()
    ana, bo = await connect(live.url, sub="ana", name="Ana"), await connect(live.url, sub="bo",
                                                                             name="Bo")
    clients: list[Any] = [ana, bo]
    try:
        for c in clients:
            assert (await c.call("join", {"room": "r"}))["ok"]
        await page.locator("#pm-pupils").check()
        await bo.wait_for("mod:permissions", lambda e: e["permissions"]["pupils_to_pupils"])
        ack = await ana.call("chat:private", {"room": "r", "to": "bo",
                                              "text": "<i>meet at the gate</i>", "cid": "1"})
        assert ack["ok"], ack
        # live, as it is sent, in the room's panel, as text
        items = page.locator("#private-messages li")
        await expect(items).to_have_count(1)
        await expect(items.first.locator(".text")).to_have_text("<i>meet at the gate</i>")
        await expect(items.first.locator("i")).to_have_count(0)
        await expect(items.first.locator(".meta")).to_contain_text("Ana")
        await expect(items.first.locator(".meta")).to_contain_text("to Bo")
        await expect(page.locator("#no-private")).to_be_hidden()
        # 51 more: a fresh console reads the newest 50 from the store, older ones on demand
        for i in range(51):
            assert (await bo.call("chat:private", {"room": "r", "to": "ana", "text": f"n{i}",
                                                   "cid": f"n{i}"}))["ok"]
        later = await console(browser, live.url)
        items = later.locator("#private-messages li")
        await expect(items).to_have_count(50)
        await expect(items.last.locator(".text")).to_have_text("n50")
        older = later.locator("#private-older")
        await expect(older).to_be_visible()
        await older.focus()
        await later.keyboard.press("Enter")  # keyboard usable
        await expect(items).to_have_count(52)
        await expect(items.first.locator(".text")).to_have_text("<i>meet at the gate</i>")
        await expect(older).to_be_hidden()
        await expect(items.first).to_be_focused()
        assert await axe_serious(later) == []
    finally:
        for c in clients:
            await c.close()


async def test_a_held_private_message_is_released_to_its_recipient_only(
        browser: Browser, live: Running) -> None:
    ana = await _page(browser, f"{live.url}/embed/chat?room=r#token={token(sub='ana', name='Ana')}")
    bo = await _page(browser, f"{live.url}/embed/chat?room=r#token={token(sub='bo', name='Bo')}")
    page = await console(browser, live.url)
    await page.locator("#pm-pupils").check()
    chat = ana.locator("twinspace-chat")
    await expect(chat.locator(".recipient")).to_be_visible()
    await chat.locator("select.to").select_option("bo")
    box = chat.locator("textarea")
    await box.fill("see www.coolgames.com")  # links wait for a teacher by default
    await box.press("Enter")
    await expect(chat.locator(".notice-text")).to_contain_text("waits for a teacher")
    held = page.locator("#held li")
    await expect(held).to_have_count(1)
    await expect(held).to_contain_text("Private")
    await expect(held).to_contain_text("to Bo")
    assert await axe_serious(page) == []
    await held.locator('button[data-act="release"]').click()
    await expect(held).to_have_count(0)
    got = bo.locator("twinspace-chat li.msg.private")
    await expect(got).to_have_count(1)
    await expect(got).to_contain_text("see www.coolgames.com")
    await expect(page.locator("#private-messages li")).to_have_count(1)
    await expect(bo.locator("twinspace-chat li.msg:not(.private)")).to_have_count(0)
