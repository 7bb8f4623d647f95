"""The chat widget in headless Chromium against the real service."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from .browser import axe_serious
from .support import Running, token

pytestmark = pytest.mark.browser


async def open_widget(browser: Browser, url: str, room: str = "r", **tok: Any
                      ) -> tuple[BrowserContext, Page]:
    ctx = await browser.new_context(bypass_csp=bool(tok.pop("bypass_csp", False)))
    page = await ctx.new_page()
    await page.goto(f"{url}/embed/chat?room={room}#token={token(**tok)}")
    await expect(page.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    return ctx, page


async def say(page: Page, text: str) -> None:
    box = page.locator("twinspace-chat textarea")
    await box.fill(text)
    await box.press("Enter")


def messages(page: Page) -> Any:
    return page.locator("twinspace-chat li[data-id]")


async def test_two_browsers_chat_and_html_stays_text(browser: Browser, live: Running) -> None:
    _, teacher = await open_widget(browser, live.url, sub="t", role="teacher", name="Ms T")
    _, pupil = await open_widget(browser, live.url, sub="p", name="Pia")
    await say(teacher, "Hello class")
    await expect(messages(pupil)).to_have_count(1)
    await expect(messages(pupil).first).to_contain_text("Hello class")
    evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    await say(pupil, evil)
    await expect(messages(teacher)).to_have_count(2)
    await expect(messages(teacher).nth(1)).to_contain_text(evil)
    assert await messages(teacher).nth(1).locator("img, script").count() == 0
    assert await teacher.evaluate("window.__pwned") is None
    assert await pupil.evaluate("window.__pwned") is None
    # the token left the address bar, and never was in the query string
    assert "token" not in teacher.url


async def test_reconnect_shows_what_was_missed_once(browser: Browser, live: Running) -> None:
    _, a = await open_widget(browser, live.url, sub="a")
    b_ctx, b = await open_widget(browser, live.url, sub="b")
    await say(a, "before the cut")
    await expect(messages(b)).to_have_count(1)
    # cut b's network: Chromium drops the live connection and no reconnect can succeed
    await b_ctx.set_offline(True)
    await expect(b.locator("twinspace-chat")).not_to_have_attribute("data-state", "online")
    for i in range(3):
        await say(a, f"missed {i}")
    await expect(messages(a)).to_have_count(4)
    await b_ctx.set_offline(False)
    await expect(b.locator("twinspace-chat")).to_have_attribute("data-state", "online",
                                                                  timeout=15_000)
    await expect(messages(b)).to_have_count(4)
    texts = await messages(b).all_inner_texts()
    assert [sum(f"missed {i}" in t for t in texts) for i in range(3)] == [1, 1, 1]
    # no late duplicates either: a message sent now is the barrier, anything the
    # reconnection still had to deliver would be shown before it
    await say(a, "back again")
    await expect(messages(b).last).to_contain_text("back again")
    texts = await messages(b).all_inner_texts()
    assert len(texts) == 5 and "before the cut" in texts[0] and "back again" in texts[4]
    assert [sum(f"missed {i}" in t for t in texts) for i in range(3)] == [1, 1, 1]


async def test_arabic_token_lays_the_widget_out_right_to_left(browser: Browser,
                                                               live: Running) -> None:
    _, page = await open_widget(browser, live.url, sub="ar", lang="ar")
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    root = page.locator("twinspace-chat section.root")
    await expect(root).to_have_attribute("dir", "rtl")
    await expect(root).to_have_attribute("lang", "ar")
    direction = await root.evaluate("e => getComputedStyle(e).direction")
    assert direction == "rtl"


async def test_axe_finds_no_serious_issue(browser: Browser, live: Running) -> None:
    _, teacher = await open_widget(browser, live.url, sub="t", role="teacher", bypass_csp=True)
    await say(teacher, "a message so the list is not empty")
    await expect(messages(teacher)).to_have_count(1)
    assert await axe_serious(teacher) == []
    _, visitor = await open_widget(browser, live.url, sub="v", role="visitor", lang="de",
                                   bypass_csp=True)
    assert await axe_serious(visitor) == []
