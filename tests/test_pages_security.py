"""Web pages: CSP on every HTML page, tokens never in logs (contract §4)."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from .browser import chromium
from .support import ServiceProcess, connect, run_server, token


async def test_every_html_page_has_a_strict_csp_with_the_allowed_frame_ancestors() -> None:
    async with run_server(allowed_origins=["https://school.example"]) as srv, \
            aiohttp.ClientSession() as http:
        assert srv.svc is not None
        paths = set()
        for route in srv.svc.app.router.routes():
            info = route.resource.get_info() if route.resource else {}
            path = info.get("path") or info.get("formatter")
            if route.method != "GET" or not path or path.startswith(("/socket.io", "/static")):
                continue
            paths.add(re.sub(r"\{[^}]+\}", "r", path))
        html = []
        for path in sorted(paths):
            async with http.get(srv.url + path + "?room=r") as r:
                if not r.headers.get("Content-Type", "").startswith("text/html"):
                    continue
                html.append(path)
                csp = r.headers["Content-Security-Policy"]
                directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if " " in d)
                assert "'unsafe-inline'" not in directives["script-src"], path
                assert "'unsafe-eval'" not in directives["script-src"], path
                assert directives["frame-ancestors"] == "'self' https://school.example", path
                assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Referrer-Policy"] == "no-referrer"
                body = await r.text()
                assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), f"inline script: {path}"
        assert "/embed/chat" in html
        print(f"CSP checked on {len(html)} HTML pages: {html}")


@pytest.mark.browser
async def test_tokens_never_reach_the_logs() -> None:
    proc = ServiceProcess(None, env={"LIVE_RATE_LIMITS": "off"})
    await proc.start()
    try:
        pupil, teacher = token(sub="p", name="Pia"), token(sub="t", role="teacher")
        c = await connect(proc.url, sub="p", name="Pia")  # its own token, same shape
        await c.call("join", {"room": "r"})
        await c.call("chat:send", {"room": "r", "text": "secret text 42", "cid": "1"})
        await c.close()
        async with aiohttp.ClientSession() as http:
            async with http.get(proc.url + "/api/rooms",
                                headers={"Authorization": f"Bearer {teacher}"}) as r:
                assert r.status == 200
            async with http.get(proc.url + "/api/rooms",
                                headers={"Authorization": "Bearer not-a-valid.token.x"}) as r:
                assert r.status == 401
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{proc.url}/embed/chat?room=r#token={pupil}")
            await expect(page.locator("twinspace-chat")).to_have_attribute("data-state",
                                                                          "online")
            assert pupil not in page.url  # the widget takes it out of the address bar
        log = Path(proc.log.name).read_text(errors="replace")
        assert "connected" in log  # the log does speak about connections
        for tok in (pupil, teacher, c.tok):
            for part in [tok, *tok.split(".")[1:]]:  # not whole, nor claims, nor signature
                assert part not in log
        assert "secret text 42" not in log  # and never message texts
    finally:
        proc.stop()
