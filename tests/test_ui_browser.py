"""Console and classroom page accessibility, and private messages between widget and console."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from .browser import axe_serious
from .support import Running, token
from .test_console_browser import console, widget

pytestmark = pytest.mark.browser


async def test_console_and_classroom_pass_axe(browser: Browser, live: Running) -> None:
    pupil = await widget(browser, live.url, sub="p", name="Pia")
    box = pupil.locator("twinspace-chat textarea")
    await box.fill("hello")
    await box.press("Enter")
    await pupil.locator("twinspace-chat button.hand-toggle").click()
    page = await console(browser, live.url, bypass_csp=True)
    await expect(page.locator("#messages li[data-id]")).to_have_count(1)
    await expect(page.locator("#hands li")).to_have_count(1)
    await page.locator("#poll-question").fill("Ready?")
    for i, option in enumerate(("Yes", "No")):
        await page.locator("#poll-options input[name=option]").nth(i).fill(option)
    await page.locator("#poll-form button[type=submit]").click()
    await expect(page.locator("#polls li[data-poll]")).to_have_count(1)
    await page.locator("#pm-teachers").check()
    await expect(page.locator("#audit tbody tr")).to_have_count(1)
    assert await axe_serious(page) == []
    # the classroom page, teacher view
    room = await (await browser.new_context(bypass_csp=True)).new_page()
    await room.goto(f"{live.url}/room/r#token={token(sub='t2', role='teacher', name='Mr T')}")
    await expect(room.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    await expect(room.locator("#main")).to_be_visible()
    assert await axe_serious(room) == []


async def test_private_message_from_pupil_to_teacher(browser: Browser, live: Running) -> None:
    pupil = await widget(browser, live.url, sub="p", name="Pia")
    page = await console(browser, live.url)
    chat = pupil.locator("twinspace-chat")
    # off by default: no recipient to choose, and the service refuses it in plain words
    await expect(chat.locator(".recipient")).to_be_hidden()
    sent = await pupil.evaluate("document.querySelector('twinspace-chat').sendPrivate('t', 'psst')")
    assert sent is None
    await expect(chat.locator(".notice")).to_be_visible()
    await expect(chat.locator(".notice-text")).to_contain_text("not allowed")
    # the teacher allows pupil-to-teacher messages
    await page.locator("#pm-teachers").check()
    await expect(chat.locator(".recipient")).to_be_visible()
    await chat.locator("select.to").select_option("t")
    box = chat.locator("textarea")
    await box.fill("<b>Can I leave early?</b>")
    await box.press("Enter")
    item = page.locator("#messages li.private")
    await expect(item).to_have_count(1)
    await expect(item.locator(".text")).to_have_text("<b>Can I leave early?</b>")
    await expect(item).to_contain_text("Private")
    await expect(item.locator("b")).to_have_count(0)
    own = chat.locator("li.msg.private")
    await expect(own).to_have_count(1)
    await expect(own).to_contain_text("Ms T")
    # the teacher answers privately from the console
    await page.locator("#to").select_option("p")
    await page.locator("#text").fill("Yes, at noon.")
    await page.locator("#composer button[type=submit]").click()
    await expect(chat.locator("li.msg.private")).to_have_count(2)
    await expect(chat.locator("li.msg.private").last).to_contain_text("Yes, at noon.")
    # turned off again: the pupil's chooser goes away
    await page.locator("#pm-teachers").uncheck()
    await expect(chat.locator(".recipient")).to_be_hidden()
