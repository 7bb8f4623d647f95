"""Sessions and renewal in Chromium (docs/protocol.md "Sessions and renewal").

Host pages of other origins are served by Chromium's request routing: `http://school.localhost`
is allowed to embed the service, `http://evil.localhost` is not (`.localhost` names are secure
contexts; the context may reach the service on loopback: Chromium's local network access). The
service runs with no token leeway and short tokens: the widget asks for a fresh one in the last
fifth of a short token's life.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from playwright.async_api import Browser, BrowserContext, Frame, Page, Route, expect

from .browser import token_left_the_address
from .support import Running, eventually, run_server, token

pytestmark = pytest.mark.browser

SCHOOL = "http://school.localhost"
EVIL = "http://evil.localhost"
LOCAL = ["local-network-access"]  # pages of those origins may reach the service on 127.0.0.1
TTL = 8  # the widget asks about 1.6 s before the end


@pytest.fixture
async def strict() -> AsyncIterator[Running]:
    async with run_server(rate_limits=False, token_leeway_s=0, allowed_origins=[SCHOOL]) as srv:
        yield srv


def exp_of(tok: str) -> int:
    return int(jwt.decode(tok, options={"verify_signature": False})["exp"])


async def serve(ctx: BrowserContext, pages: dict[str, str]) -> None:
    """Answer the URLs `pages` names with their HTML (other origins, made up)."""
    async def fulfil(route: Route) -> None:
        body = pages.get(route.request.url)
        if body is None:
            await route.fulfill(status=404, body="")
        else:
            await route.fulfill(status=200, content_type="text/html", body=body)
    for origin in (SCHOOL, EVIL):
        await ctx.route(f"{origin}/**", fulfil)


def session_exps(srv: Running, sub: str) -> list[float | None]:
    assert srv.svc is not None
    return [s.who.exp for s in srv.svc.edge.sessions.values() if s.who.sub == sub]


async def outlive(tok: str) -> None:
    """Wait (in real time) until the token's end is a second behind us."""
    end = exp_of(tok)
    await eventually(lambda: time.time() > end + 1, timeout=TTL + 10, every=0.1)


async def test_the_widget_asks_its_host_page_and_renews(browser: Browser, strict: Running) -> None:
    short, fresh = token(sub="t", role="teacher", ttl=TTL), token(sub="t", role="teacher")
    ctx = await browser.new_context(permissions=LOCAL)
    await serve(ctx, {f"{SCHOOL}/host": f"""<!doctype html><html lang="en"><body>
<twinspace-chat id="chat" room="r"></twinspace-chat>
<script type="module" src="{strict.url}/static/twinspace-chat.js"></script>
<script type="module">
  const chat = document.getElementById('chat');
  window.expiring = [];
  chat.addEventListener('token-expiring', (event) => {{
    window.expiring.push(event.detail.exp);
    event.preventDefault();
    chat.renew({json.dumps(fresh)}).then((ack) => {{ window.renewed = ack; }},
                                          (error) => {{ window.refused = String(error.code); }});
  }});
  chat.token = {json.dumps(short)};
</script></body></html>"""})
    page = await ctx.new_page()
    await page.goto(f"{SCHOOL}/host")
    chat = page.locator("twinspace-chat")
    await expect(chat).to_have_attribute("data-state", "online")
    assert session_exps(strict, "t") == [exp_of(short)]
    await page.wait_for_function("window.renewed || window.refused", timeout=(TTL + 10) * 1000)
    assert await page.evaluate("window.refused") is None
    assert await page.evaluate("window.renewed") == {"ok": True, "exp": exp_of(fresh),
                                                     "ice_servers": []}
    assert await page.evaluate("window.expiring") == [exp_of(short)]
    assert session_exps(strict, "t") == [exp_of(fresh)]
    await outlive(short)
    await expect(chat).to_have_attribute("data-state", "online")
    assert strict.svc is not None and strict.svc.edge.deadlines.expired == 0
    await chat.locator("textarea").fill("still here")
    await chat.locator("textarea").press("Enter")
    await expect(chat.locator("li[data-id]")).to_have_count(1)
    assert await chat.locator(".notice").is_hidden()  # nobody was told the session ends


async def test_the_iframe_asks_its_allowed_parent_and_ignores_other_origins(
        browser: Browser, strict: Running) -> None:
    short = token(sub="p", ttl=TTL, role="teacher")
    fresh = token(sub="p", role="teacher", ttl=3600)
    forged = token(sub="p", role="teacher", ttl=7200)  # valid, but offered by another origin
    ctx = await browser.new_context(permissions=LOCAL)
    await serve(ctx, {
        f"{SCHOOL}/host": f"""<!doctype html><html lang="en"><body>
<iframe id="live" title="chat" src="{strict.url}/embed/chat?room=r#token={short}"></iframe>
<iframe id="evil" title="ad" src="{EVIL}/ad"></iframe>
<script>
  window.asks = [];
  addEventListener('message', (event) => {{
    if (event.data?.type !== 'twinspace-live:token-expiring') return;
    window.asks.push(event.origin);
    event.source.postMessage({{type: 'twinspace-live:token', token: {json.dumps(fresh)}}},
                             event.origin);
  }});
</script></body></html>""",
        f"{EVIL}/ad": """<!doctype html><html lang="en"><body><script>
  window.asks = [];
  addEventListener('message', (event) => window.asks.push(event.data));
</script></body></html>""",
    })
    page = await ctx.new_page()
    await page.goto(f"{SCHOOL}/host")
    live = page.frame_locator("#live").locator("twinspace-chat")
    await expect(live).to_have_attribute("data-state", "online")
    frame = next(f for f in page.frames if f.url.startswith(strict.url))
    evil = next(f for f in page.frames if f.url.startswith(EVIL))
    # another origin offers a token: the page sees the message and ignores it
    await frame.evaluate(
        "window.seen = []; addEventListener('message', (e) => seen.push(e.origin))")
    await evil.evaluate(f"""parent.frames[0].postMessage(
        {{type: 'twinspace-live:token', token: {json.dumps(forged)}}}, '*')""")
    await frame.wait_for_function(f"window.seen.includes({json.dumps(EVIL)})")
    assert await chat_token(frame) != forged
    assert exp_of(forged) not in session_exps(strict, "p")
    # before the end, the iframe asks its parent (at the parent's origin) and renews
    await page.wait_for_function("window.asks.length > 0", timeout=(TTL + 10) * 1000)
    assert await page.evaluate("window.asks") == [strict.url]
    await eventually(lambda: session_exps(strict, "p") == [exp_of(fresh)], timeout=10)
    assert await chat_token(frame) == fresh
    await outlive(short)
    await expect(live).to_have_attribute("data-state", "online")
    assert await evil.evaluate("window.asks") == []  # the request went to the parent only
    assert await page.evaluate("window.asks") == [strict.url]  # once per token


async def chat_token(frame: Frame) -> Any:
    return await frame.evaluate("document.querySelector('twinspace-chat').token")


async def test_a_room_page_opened_by_another_origin_tells_the_user_and_ends(
        browser: Browser, strict: Running) -> None:
    """No allowed window to ask: the opener of another origin hears nothing; the page says
    when the session ends, then that it ended (and stops reconnecting), also after a reload."""
    short = token(sub="t", role="teacher", ttl=TTL)
    ctx = await browser.new_context(permissions=LOCAL)
    await serve(ctx, {f"{EVIL}/opener": """<!doctype html><html lang="en"><body><script>
  window.asks = [];
  addEventListener('message', (event) => window.asks.push(event.data));
</script></body></html>"""})
    # every text the page's alert box shows, in order
    await ctx.add_init_script("""window.alerts = [];
      new MutationObserver(() => {
        const box = document.getElementById('alert');
        if (box && !box.hidden && box.textContent && alerts.at(-1) !== box.textContent) {
          alerts.push(box.textContent);
        }
      }).observe(document, {subtree: true, childList: true, characterData: true,
                            attributes: true});""")
    opener = await ctx.new_page()
    await opener.goto(f"{EVIL}/opener")
    async with ctx.expect_page() as opened:
        await opener.evaluate(f"window.open({json.dumps(f'{strict.url}/room/r#token={short}')})")
    room = await opened.value
    await expect(room.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    await expect(room.locator("#alert")).to_contain_text("Your session has ended",
                                                         timeout=(TTL + 15) * 1000)
    alerts = await room.evaluate("window.alerts")
    assert len(alerts) == 2 and alerts[0].startswith("Your session ends at "), alerts
    assert "open this page again from your TwinSpace" in alerts[1]
    await expect(room.locator("twinspace-chat")).to_have_attribute("data-state", "offline")
    assert session_exps(strict, "t") == []
    assert await opener.evaluate("window.asks") == []
    # a reload says the same (the tab kept the token, which the service now refuses)
    await room.reload()
    await expect(room.locator("#alert")).to_contain_text("Your session has ended")
    assert await room.evaluate("localStorage.length") == 0


async def test_a_reload_of_the_room_page_keeps_the_session(browser: Browser,
                                                            live: Running) -> None:
    tok = token(sub="t", role="teacher", name="Ms T")
    page: Page = await (await browser.new_context()).new_page()
    await page.goto(f"{live.url}/room/r#token={tok}")
    chat = page.locator("twinspace-chat")
    await expect(chat).to_have_attribute("data-state", "online")
    assert await token_left_the_address(page)
    await page.reload()
    await expect(chat).to_have_attribute("data-state", "online")
    await expect(page.locator("#main")).to_be_visible()
    assert await page.locator("#alert").is_hidden()
    assert await page.evaluate("sessionStorage.getItem('twinspace-live:token:/room/r')") == tok
    assert await page.evaluate("localStorage.length") == 0
    # the console too
    await page.goto(f"{live.url}/console#token={tok}")
    await expect(page.locator("#main")).to_be_visible()
    await expect(page.locator("#status")).to_have_text("Connected")
    await page.reload()
    await expect(page.locator("#main")).to_be_visible()
    await expect(page.locator("#status")).to_have_text("Connected")
    assert await page.locator("#alert").is_hidden()
    assert await page.evaluate("localStorage.length") == 0


async def test_a_widget_with_nobody_to_ask_tells_the_user_and_ends(browser: Browser,
                                                                  strict: Running) -> None:
    short = token(sub="t", role="teacher", ttl=TTL)
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{strict.url}/embed/chat?room=r#token={short}")
    chat = page.locator("twinspace-chat")
    await expect(chat).to_have_attribute("data-state", "online")
    notice = chat.locator(".notice-text")
    await expect(notice).to_contain_text("Your session ends at", timeout=(TTL + 10) * 1000)
    await expect(chat).to_have_attribute("data-state", "offline", timeout=(TTL + 10) * 1000)
    await expect(chat.locator(".status")).to_contain_text("Your session has expired")
    assert session_exps(strict, "t") == []
    assert strict.svc is not None and strict.svc.edge.deadlines.expired == 1
