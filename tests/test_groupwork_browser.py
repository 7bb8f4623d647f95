"""Group work in Chromium: reactions in the widget, the classroom feedback bar, and the host
page's unread badge and mentions (docs/protocol.md "Reactions", "Feedback bar", "The host
page knows")."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Route, expect

from .browser import axe_serious
from .support import Running, connect, run_server, token
from .test_widget_browser import messages, open_widget, say

pytestmark = pytest.mark.browser

SCHOOL = "http://school.localhost"
LOCAL = ["local-network-access"]  # the host page may reach the service on 127.0.0.1


async def test_reactions_by_keyboard_counted_for_all_named_for_teachers(
        browser: Browser, live: Running) -> None:
    _, teacher = await open_widget(browser, live.url, sub="t", role="teacher", name="Ms T",
                                   bypass_csp=True)
    _, pupil = await open_widget(browser, live.url, sub="p", name="Pia")
    await say(teacher, "Who has finished?")
    await expect(messages(pupil)).to_have_count(1)
    # the pupil opens the picker and picks 👍 with the keyboard only
    add = messages(pupil).first.locator("button.react-add")
    await add.focus()
    await pupil.keyboard.press("Enter")
    await expect(add).to_have_attribute("aria-expanded", "true")
    picks = messages(pupil).first.locator("button.pick")
    await expect(picks).to_have_count(6)
    await expect(picks.first).to_be_focused()
    await pupil.keyboard.press("Enter")
    mine = messages(pupil).first.locator("button.reaction")
    await expect(mine).to_have_count(1)
    await expect(mine).to_have_attribute("aria-pressed", "true")
    await expect(mine).to_have_attribute("aria-label", "thumbs up: 1")
    await expect(messages(pupil).first.locator(".picker")).to_have_count(0)
    # everyone sees the count; it is not the teacher's own choice
    theirs = messages(teacher).first.locator("button.reaction")
    await expect(theirs).to_have_attribute("aria-label", "thumbs up: 1")
    await expect(theirs).to_have_attribute("aria-pressed", "false")
    # only the teacher may ask who reacted
    assert await messages(pupil).first.locator("button.react-who").count() == 0
    await messages(teacher).first.locator("button.react-who").click()
    await expect(messages(teacher).first.locator("ul.who")).to_contain_text("Pia")
    await expect(messages(teacher).first.locator("button.react-who")).to_be_focused()
    # the teacher reacts too, with the picker open: axe finds nothing serious
    await theirs.click()
    await expect(mine).to_have_attribute("aria-label", "thumbs up: 2")
    await expect(messages(teacher).first.locator("ul.who")).to_contain_text("Ms T")
    await messages(teacher).first.locator("button.react-add").click()
    await expect(messages(teacher).first.locator("button.pick")).to_have_count(6)
    assert await axe_serious(teacher) == []
    # taking a reaction back; Escape closes the picker
    await mine.click()
    await expect(theirs).to_have_attribute("aria-label", "thumbs up: 1")
    await messages(teacher).first.locator("button.pick").nth(1).press("Escape")
    await expect(messages(teacher).first.locator(".picker")).to_have_count(0)
    await expect(messages(teacher).first.locator("button.react-add")).to_be_focused()
    # a new page of the teacher shows the counts and the teacher's own choice
    _, again = await open_widget(browser, live.url, sub="t", role="teacher", name="Ms T")
    await expect(messages(again).first.locator("button.reaction")).to_have_attribute(
        "aria-pressed", "true")


async def test_feedback_bar_pupil_presses_teacher_sees_counts(browser: Browser,
                                                             live: Running) -> None:
    teacher = await (await browser.new_context(bypass_csp=True)).new_page()
    await teacher.goto(f"{live.url}/room/r#token={token(sub='t', role='teacher', name='Ms T')}")
    await expect(teacher.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    counts = teacher.locator("#feedback li.feedback-count")
    await expect(counts).to_have_count(4)
    await expect(teacher.locator("#feedback [data-kind=slower]")).to_have_text(
        "\U0001f422 Slower please: 0")
    pupil = await (await browser.new_context(bypass_csp=True)).new_page()
    await pupil.goto(f"{live.url}/room/r#token={token(sub='p', name='Pia')}")
    keys = pupil.locator("#feedback button.feedback-key")
    await expect(keys).to_have_count(4)
    await keys.and_(pupil.locator("[data-kind=slower]")).click()
    await expect(pupil.locator("#feedback .feedback-sent")).to_have_text("Sent to the teacher.")
    await expect(teacher.locator("#feedback [data-kind=slower]")).to_have_text(
        "\U0001f422 Slower please: 1")
    await pupil.locator("#feedback [data-kind=lost]").press("Enter")  # the keyboard works too
    await expect(teacher.locator("#feedback [data-kind=lost]")).to_have_text(
        "\u2753 I didn't understand: 1")
    assert await axe_serious(teacher) == []
    assert await axe_serious(pupil) == []


@pytest.fixture
async def school() -> AsyncIterator[Running]:
    async with run_server(rate_limits=False, allowed_origins=[SCHOOL]) as srv:
        yield srv


async def serve(ctx: BrowserContext, path: str, html: str) -> None:
    async def fulfil(route: Route) -> None:
        ok = route.request.url == f"{SCHOOL}{path}"
        await route.fulfill(status=200 if ok else 404, content_type="text/html",
                            body=html if ok else "")
    await ctx.route(f"{SCHOOL}/**", fulfil)


SCROLL_UP = """() => {
  const log = document.querySelector('twinspace-chat').shadowRoot.querySelector('.log');
  log.scrollTop = 0;
  return log.scrollHeight > log.clientHeight;
}"""


async def _fill(url: str, n: int) -> Any:
    teacher = await connect(url, sub="t", role="teacher", name="Ms T")
    await teacher.call("join", {"room": "r"})
    for i in range(n):
        assert (await teacher.call("chat:send", {"room": "r", "text": f"line {i}",
                                                 "cid": f"f{i}"}))["ok"]
    return teacher


async def test_host_page_shows_the_iframes_unread_badge_and_mentions(
        browser: Browser, school: Running) -> None:
    teacher = await _fill(school.url, 40)
    try:
        ctx = await browser.new_context(permissions=LOCAL)
        await serve(ctx, "/host", f"""<!doctype html><html lang="en"><head><title>Host</title>
</head><body><main><h1>Project <span id="badge">0</span></h1>
<iframe id="live" title="chat" style="height: 20rem"
  src="{school.url}/embed/chat?room=r#token={token(sub='p', name='Pia')}"></iframe></main>
<script>
  window.mentions = []; window.origins = new Set();
  addEventListener('message', (event) => {{
    window.origins.add(event.origin);
    if (event.data?.type === 'twinspace-live:unread') {{
      document.getElementById('badge').textContent = String(event.data.count);
    }} else if (event.data?.type === 'twinspace-live:mention') {{
      window.mentions.push(event.data);
    }}
  }});
</script></body></html>""")
        page = await ctx.new_page()
        await page.goto(f"{SCHOOL}/host")
        live = page.frame_locator("#live").locator("twinspace-chat")
        await expect(live).to_have_attribute("data-state", "online")
        await expect(live.locator("li[data-id]")).to_have_count(40)
        frame = next(f for f in page.frames if f.url.startswith(school.url))
        assert await frame.evaluate(SCROLL_UP)  # the reader looks at older messages
        for i in range(2):
            await teacher.call("chat:send", {"room": "r", "text": f"new {i}", "cid": f"n{i}"})
        await expect(page.locator("#badge")).to_have_text("2")
        await teacher.call("chat:send", {"room": "r", "text": "Pia, your turn", "cid": "m"})
        await expect(page.locator("#badge")).to_have_text("3")
        await page.wait_for_function("window.mentions.length === 1")
        mention = await page.evaluate("window.mentions[0]")
        assert {k: mention[k] for k in ("type", "room", "from", "text")} == {
            "type": "twinspace-live:mention", "room": "r", "from": "Ms T",
            "text": "Pia, your turn"}
        # reading the newest message clears the badge
        await live.locator("button.jump").click()
        await expect(page.locator("#badge")).to_have_text("0")
        assert await page.evaluate("[...window.origins]") == [school.url]
    finally:
        await teacher.close()


async def test_host_page_hears_the_elements_events(browser: Browser, school: Running) -> None:
    teacher = await _fill(school.url, 40)
    try:
        ctx = await browser.new_context(permissions=LOCAL)
        await serve(ctx, "/widget", f"""<!doctype html><html lang="en"><head><title>Host</title>
</head><body><main><p>Unread: <span id="badge">0</span></p>
<twinspace-chat id="chat" room="r" style="height: 20rem"></twinspace-chat></main>
<script type="module" src="{school.url}/static/twinspace-chat.js"></script>
<script type="module">
  const chat = document.getElementById('chat');
  window.mentions = [];
  chat.addEventListener('unread', (e) => {{
    document.getElementById('badge').textContent = String(e.detail.count); }});
  chat.addEventListener('mention', (e) => window.mentions.push(e.detail));
  chat.token = {json.dumps(token(sub='p', name='Pia Lund'))};
</script></body></html>""")
        page = await ctx.new_page()
        await page.goto(f"{SCHOOL}/widget")
        chat = page.locator("twinspace-chat")
        await expect(chat).to_have_attribute("data-state", "online")
        await expect(chat.locator("li[data-id]")).to_have_count(40)
        assert await page.evaluate(SCROLL_UP)
        await teacher.call("chat:send", {"room": "r", "text": "@pia lund look", "cid": "x"})
        await expect(page.locator("#badge")).to_have_text("1")
        await page.wait_for_function("window.mentions.length === 1")
        assert (await page.evaluate("window.mentions[0].text")) == "@pia lund look"
    finally:
        await teacher.close()


async def test_links_open_safely_and_only_for_allowed_domains(browser: Browser) -> None:
    async with run_server(rate_limits=False, link_domains=("europa.eu",)) as srv:
        _, teacher = await open_widget(browser, srv.url, sub="t", role="teacher",
                                       bypass_csp=True)
        await say(teacher, "Read https://www.etwinning.europa.eu/news?x=1, not "
                           "https://evil.test/ nor javascript:alert(1) nor "
                           "https://europa.eu@evil.test/")
        text = messages(teacher).first.locator(".text")
        await expect(text).to_contain_text("javascript:alert(1)")
        link = text.locator("a")
        await expect(link).to_have_count(1)
        await expect(link).to_have_text("https://www.etwinning.europa.eu/news?x=1")
        await expect(link).to_have_attribute("href", "https://www.etwinning.europa.eu/news?x=1")
        await expect(link).to_have_attribute("rel", "noopener noreferrer")
        await expect(link).to_have_attribute("target", "_blank")
        assert await axe_serious(teacher) == []


async def test_breakout_pages_follow_the_moves(browser: Browser, live: Running) -> None:
    async def room_page(sub: str, role: str = "student") -> Any:
        page = await (await browser.new_context(bypass_csp=True)).new_page()
        await page.goto(f"{live.url}/room/maths#token={token(sub=sub, role=role, name=sub)}")
        await expect(page.locator("twinspace-chat")).to_have_attribute("data-state", "online")
        return page

    teacher = await room_page("t", "teacher")
    ana, ben = await room_page("ana"), await room_page("ben")
    _, cy = await open_widget(browser, live.url, room="maths", sub="cy", name="Cy")
    widget = cy.locator("twinspace-chat")
    await expect(teacher.locator("#groups")).to_be_visible()
    assert await ana.locator("#groups").is_hidden()
    await teacher.locator("#groups-count").fill("2")
    await teacher.locator("#groups .groups-form button[type=submit]").click()
    await expect(teacher.locator("#groups ul.groups li")).to_have_count(2)
    # the pupils' pages go to their group's room, the widget joins it
    for page in (ana, ben):
        await page.wait_for_url(f"{live.url}/room/maths-g*")
        await expect(page.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    await expect(widget).to_have_attribute("room", re.compile(r"^maths-g\d-"))
    await expect(widget).to_have_attribute("data-state", "online")
    assert await axe_serious(teacher) == []
    # a message to every group reaches the pupils' group chats
    await teacher.locator("#groups-text").fill("Five minutes left")
    await teacher.locator("#groups .groups-broadcast button[type=submit]").click()
    for page in (ana, ben, cy):
        await expect(page.locator("twinspace-chat li[data-id]").last).to_contain_text(
            "Five minutes left")
    # the teacher visits a group and brings everyone back from there
    await teacher.locator("#groups ul.groups button").first.click()
    await teacher.wait_for_url(f"{live.url}/room/maths-g1-*")
    await expect(teacher.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    await teacher.get_by_role("button", name="Bring everyone back").click()
    for page in (teacher, ana, ben):
        await page.wait_for_url(f"{live.url}/room/maths")
    await expect(widget).to_have_attribute("room", "maths")
    await expect(widget).to_have_attribute("data-state", "online")
    await expect(teacher.locator("#groups-count")).to_be_visible()
