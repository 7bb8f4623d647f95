"""The widget's own tools in headless Chromium: older pages, the unread count, deleting, the
hand, and what a teacher's mute and kick do to a pupil's widget."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from .support import Running, connect
from .test_widget_browser import messages, open_widget, say

pytestmark = pytest.mark.browser


async def test_older_pages_unread_count_and_deleting(browser: Browser, live: Running) -> None:
    teacher = await connect(live.url, sub="t", role="teacher", name="Ms T")
    await teacher.call("join", {"room": "r"})
    for i in range(60):
        ack = await teacher.call("chat:send", {"room": "r", "text": f"old {i}", "cid": f"c{i}"})
        assert ack["ok"]
    _, page = await open_widget(browser, live.url, sub="p", name="Pia")
    chat = page.locator("twinspace-chat")
    older = chat.locator("button.load-older")
    log = chat.locator(".log")
    await expect(messages(page)).to_have_count(50)
    await expect(older).to_be_visible()
    # reading up to the top fetches the older page, and keeps the reader's place
    await log.evaluate("log => { log.scrollTop = 0; }")
    await expect(messages(page)).to_have_count(60)
    assert await log.evaluate("log => log.scrollTop") > 0
    await expect(messages(page).first).to_contain_text("old 0")
    await expect(older).to_be_hidden()
    await expect(chat.locator(".older-note")).to_have_text(
        "This is the beginning of the conversation.")
    ids = await messages(page).evaluate_all("items => items.map(i => i.dataset.id)")
    assert ids == sorted(ids) and len(set(ids)) == 60
    # scrolled up to the top, a new message is counted instead of followed
    await log.evaluate("log => { log.scrollTop = 0; }")
    jump = chat.locator("button.jump")
    await expect(jump).to_be_hidden()
    await teacher.call("chat:send", {"room": "r", "text": "news", "cid": "n1"})
    await expect(messages(page)).to_have_count(61)
    await expect(jump).to_contain_text("1 new message")
    await jump.click()
    await expect(jump).to_be_hidden()
    # a pupil deletes their own message; everyone sees it go
    await say(page, "mine, for now")
    await expect(messages(page)).to_have_count(62)
    own = messages(page).filter(has_text="mine, for now")
    mine_id = await own.get_attribute("data-id")
    await own.locator("button.delete").click()
    await expect(messages(page)).to_have_count(61)
    await teacher.wait_for("chat:deleted", lambda e: e["id"] == mine_id)
    await teacher.close()


async def test_hand_mute_and_kick_reach_the_pupils_widget(browser: Browser,
                                                          live: Running) -> None:
    teacher = await connect(live.url, sub="t", role="teacher", name="Ms T")
    await teacher.call("join", {"room": "r"})
    _, page = await open_widget(browser, live.url, sub="p", name="Pia")
    chat = page.locator("twinspace-chat")
    hand = chat.locator("button.hand-toggle")
    await hand.click()
    await expect(hand).to_have_attribute("aria-pressed", "true")
    await expect(chat.locator('li.member[data-user="p"] .hand')).to_have_count(1)
    await teacher.wait_for("presence:update",
                           lambda e: e["member"]["id"] == "p" and e["member"].get("hand"))
    ack = await teacher.call("mod:mute", {"room": "r", "user": "p", "what": "chat",
                                          "muted": True})
    assert ack["ok"], ack
    await expect(chat.locator("textarea")).to_be_disabled()
    await expect(chat.locator(".notice-text")).to_have_text(
        "A teacher has muted you in this chat.")
    ack = await teacher.call("mod:kick", {"room": "r", "user": "p"})
    assert ack["ok"], ack
    await expect(chat).to_have_attribute("data-state", "offline")
    await expect(chat.locator(".status")).to_have_text("You are not in this room.")
    await expect(chat.locator(".notice-text")).to_have_text(
        "A teacher removed you from this room.")
    await teacher.close()
