"""The console's message filter, held-message queue, school badges and "my pupils" filter,
and a pupil told why a message was refused, in headless Chromium (axe clean)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from .browser import axe_serious
from .support import Running, token

pytestmark = pytest.mark.browser


async def widget(browser: Browser, url: str, **tok: Any) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{url}/embed/chat?room=r#token={token(**tok)}")
    await expect(page.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    return page


async def console(browser: Browser, url: str) -> tuple[Page, list[str]]:
    page = await (await browser.new_context(bypass_csp=True)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tok = token(sub="t", role="teacher", name="Ms T", school="school-a")
    await page.goto(f"{url}/console#token={tok}")
    await page.locator('#rooms button[data-room="r"]').click()
    await expect(page.locator("#room-title")).to_have_text("r")
    return page, errors


async def test_console_filter_holds_and_releases(browser: Browser, live: Running) -> None:
    ana = await widget(browser, live.url, sub="ana", name="Ana", school="school-a")
    await widget(browser, live.url, sub="bo", name="Bo", school="school-b")
    page, errors = await console(browser, live.url)
    members = page.locator("#members li")
    await expect(page.locator('#members li[data-user="ana"] .badge.school')).to_have_text(
        "school-a")
    await expect(page.locator('#members li[data-user="bo"]')).to_contain_text("school-b")
    await page.locator("#my-pupils").check()  # only my school's pupils (and teachers)
    await expect(page.locator('#members li[data-user="bo"]')).to_have_count(0)
    await expect(page.locator('#members li[data-user="ana"]')).to_have_count(1)
    await page.locator("#my-pupils").uncheck()
    await expect(members).to_have_count(3)

    # the teacher makes phone numbers wait for a teacher, and adds a word
    await expect(page.locator("#filter-phone")).to_have_value("block")
    await page.locator("#filter-phone").select_option("hold")
    await page.locator("#filter-added").fill("banana")
    await page.locator("#filter-form button[type=submit]").click()
    await expect(page.locator("#filter-status")).not_to_be_empty()

    box = ana.locator("twinspace-chat textarea")
    await box.fill("you are a banana")
    await box.press("Enter")  # blocked: the pupil is told why
    await expect(ana.locator("twinspace-chat")).to_contain_text("Rude words are not allowed here.")
    await box.fill("call me 0612345678")
    await box.press("Enter")
    await expect(ana.locator("twinspace-chat")).to_contain_text("waits for a teacher")
    held = page.locator("#held li")
    await expect(held).to_have_count(1)
    await expect(held).to_contain_text("call me 0612345678")
    await expect(page.locator("#messages li[data-id]")).to_have_count(0)
    assert await axe_serious(page) == []
    await held.locator('button[data-act="release"]').click()
    await expect(held).to_have_count(0)
    await expect(page.locator("#messages li[data-id]")).to_have_count(1)
    await expect(ana.locator("twinspace-chat li[data-id]")).to_have_count(1)
    assert errors == []


async def test_school_badge_and_news(browser: Browser, live: Running) -> None:
    await widget(browser, live.url, sub="ana", name="Ana", school="school-a")
    page, errors = await console(browser, live.url)
    await expect(page.locator('#members li[data-user="ana"] .badge.school')).to_have_count(1)
    await page.locator('#members li[data-user="ana"] button[data-act="mute"]').click()
    # the acting teacher is of Ana's school: news go to the school's other teachers
    other = await (await browser.new_context(bypass_csp=True)).new_page()
    await other.goto(f"{live.url}/console#token="
                     f"{token(sub='t2', role='teacher', name='Mr U', school='school-a')}")
    await other.locator('#rooms button[data-room="r"]').click()
    await expect(other.locator("#room-title")).to_have_text("r")
    await other.locator('#members li[data-user="ana"] button[data-act="unmute"]').click()
    await page.locator('#members li[data-user="ana"] button[data-act="mute"]').click()
    await expect(other.locator("#school-news li")).to_contain_text("Ana was muted in r")
    assert await axe_serious(other) == []
    assert errors == []
