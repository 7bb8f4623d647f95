"""The teacher console and the widget's classroom tools in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from .browser import axe_serious, token_left_the_address
from .support import Running, token

pytestmark = pytest.mark.browser


async def widget(browser: Browser, url: str, **tok: Any) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{url}/embed/chat?room=r#token={token(**tok)}")
    await expect(page.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    return page


async def console(browser: Browser, url: str, bypass_csp: bool = False) -> Page:
    """The console, opened on room r; with the service's CSP unless `bypass_csp` (for axe)."""
    page = await (await browser.new_context(bypass_csp=bypass_csp)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    async def accept(dialog: Dialog) -> None:  # delete, remove and ban ask first
        await dialog.accept()

    page.on("dialog", accept)
    await page.goto(f"{url}/console#token={token(sub='t', role='teacher', name='Ms T')}")
    assert await token_left_the_address(page)
    await page.locator('#rooms button[data-room="r"]').click()
    await expect(page.locator("#room-title")).to_have_text("r")
    assert errors == []
    return page


async def test_teacher_deletes_a_message_in_the_console(browser: Browser, live: Running) -> None:
    pupil = await widget(browser, live.url, sub="p", name="Pia")
    box = pupil.locator("twinspace-chat textarea")
    await box.fill("=rude words")
    await box.press("Enter")
    await expect(pupil.locator("twinspace-chat li[data-id]")).to_have_count(1)
    page = await console(browser, live.url)
    item = page.locator("#messages li[data-id]")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("=rude words")
    await expect(page.locator('#members li[data-user="p"]')).to_contain_text("Pia")
    await item.locator("button.delete").click()
    await expect(pupil.locator("twinspace-chat li[data-id]")).to_have_count(0, timeout=20_000)
    await expect(item).to_have_count(0)
    await expect(page.locator("#audit tbody tr")).to_have_count(1)
    await expect(page.locator("#audit tbody tr").first).to_contain_text("chat:delete")
    # mute and lock from the console reach the pupil in plain words
    await page.locator('#members li[data-user="p"] button[data-act="mute"]').click()
    await expect(pupil.locator("twinspace-chat textarea")).to_be_disabled()
    await page.locator("#lock").click()
    await expect(page.locator("#lock")).to_have_attribute("aria-pressed", "true")


async def test_console_delete_and_remove_wait_for_undo(browser: Browser, live: Running) -> None:
    pupil = await widget(browser, live.url, sub="p", name="Pia")
    box = pupil.locator("twinspace-chat textarea")
    for text in ("keep me", "delete me"):
        await box.fill(text)
        await box.press("Enter")
    await expect(pupil.locator("twinspace-chat li[data-id]")).to_have_count(2)
    page = await console(browser, live.url)
    items = page.locator("#messages li[data-id]")
    await expect(items).to_have_count(2)
    undo = page.locator("#undo")
    await items.filter(has_text="keep me").locator("button.delete").click()
    await expect(undo).to_be_visible()
    await expect(page.locator("#undo-text")).to_contain_text("Delete")
    await page.locator("#undo-button").click()
    await expect(undo).to_be_hidden()
    # a later delete goes after its own wait; the undone one, due before it, never went
    await items.filter(has_text="delete me").locator("button.delete").click()
    await expect(undo).to_be_visible()
    await expect(pupil.locator("twinspace-chat li[data-id]")).to_have_count(1, timeout=20_000)
    await expect(pupil.locator("twinspace-chat li[data-id]")).to_contain_text("keep me")
    await expect(items).to_have_count(1)
    await expect(undo).to_be_hidden()
    # remove: Undo keeps the pupil in; without it, the pupil is removed after the wait
    kick = page.locator('#members li[data-user="p"] button[data-act="kick"]')
    await kick.click()
    await page.locator("#undo-button").click()
    await expect(undo).to_be_hidden()
    await kick.click()
    await expect(page.locator('#members li[data-user="p"]')).to_have_count(0, timeout=20_000)
    await expect(pupil.locator("twinspace-chat")).not_to_have_attribute("data-state", "online")
    await expect(page.locator("#audit tbody tr").filter(has_text="mod:kick")).to_have_count(1)


async def test_console_poll_with_votes_from_two_widgets(browser: Browser, live: Running) -> None:
    ana = await widget(browser, live.url, sub="ana", name="Ana")
    ben = await widget(browser, live.url, sub="ben", name="Ben")
    page = await console(browser, live.url, bypass_csp=True)
    await page.locator("#poll-question").fill("Which planet?")
    for i, option in enumerate(("Mars", "Venus", "Jupiter")):
        await page.locator("#poll-options input[name=option]").nth(i).fill(option)
    await page.locator("#poll-form button[type=submit]").click()
    poll = page.locator("#polls li[data-poll]")
    await expect(poll).to_have_count(1)
    for pupil, choice in ((ana, "1"), (ben, "1")):
        form = pupil.locator("twinspace-chat form[data-poll]")
        await expect(form).to_contain_text("Which planet?")
        await form.locator(f'input[value="{choice}"]').check()
        await form.locator("button.vote").click()
        await expect(form.locator(".poll-status")).not_to_be_empty()
    await expect(poll.locator('.count[data-option="1"]')).to_have_text("2")
    await expect(poll.locator('.count[data-option="0"]')).to_have_text("0")
    # the pupils see the live counts too; closing ends the vote everywhere
    ana_count = ana.locator('twinspace-chat form[data-poll] .count[data-option="1"]')
    await expect(ana_count).to_have_text("2")
    await poll.locator("button[data-close]").click()
    await expect(poll).to_have_attribute("data-open", "false")
    ben_poll = ben.locator("twinspace-chat form[data-poll]")
    await expect(ben_poll).to_have_attribute("data-open", "false")
    await expect(ben.locator("twinspace-chat form[data-poll] button.vote")).to_have_count(0)
    assert await axe_serious(page) == []
