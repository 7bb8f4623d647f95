"""The console's privacy views in headless Chromium: each school's retention limit and the
effective one, setting one's own school's limit, a room's attendance per school with
durations, and its CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from .browser import axe_serious
from .support import Running, connect, token

pytestmark = pytest.mark.browser


async def console(browser: Browser, url: str, **tok: Any) -> Page:
    page = await (await browser.new_context(bypass_csp=True, accept_downloads=True)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"{m.text} {m.location['url']}")
            if m.type == "error" and not m.location["url"].endswith("/favicon.ico") else None)
    await page.goto(f"{url}/console#token={token(role='teacher', **tok)}")
    await expect(page.locator("#retention-effective")).not_to_be_empty()
    assert errors == [], "\n".join(errors)
    return page


async def test_console_shows_and_sets_the_retention(browser: Browser, live: Running) -> None:
    page = await console(browser, live.url, sub="t", name="Ms T", school="school-a")
    await expect(page.locator("#retention-effective")).to_contain_text("90")
    await expect(page.locator("#no-limits")).to_be_visible()
    other = await console(browser, live.url, sub="t2", name="Mr U", school="school-b")
    await other.locator("#retention-days").fill("30")
    await other.locator("#retention-form button[type=submit]").click()
    await expect(other.locator("#retention-effective")).to_contain_text("30")
    await page.locator("#retention-days").fill("7.5")
    await page.locator("#retention-form button[type=submit]").click()
    await expect(page.locator("#retention-effective")).to_contain_text("7.5")
    rows = page.locator("#retention-schools tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("school-a")
    await expect(rows.nth(0)).to_contain_text("7.5")
    await expect(rows.nth(1)).to_contain_text("school-b")
    await expect(rows.nth(1)).to_contain_text("30")
    assert await axe_serious(page) == []
    # a teacher whose token names no school sees the limits but no form
    none = await console(browser, live.url, sub="t3")
    await expect(none.locator("#retention-no-school")).to_be_visible()
    await expect(none.locator("#retention-form")).to_be_hidden()
    await expect(none.locator("#retention-schools tbody tr")).to_have_count(2)


async def test_console_shows_attendance_per_school_and_exports_it(browser: Browser,
                                                                  live: Running) -> None:
    page = await console(browser, live.url, sub="t", name="Ms T", school="school-a")
    await page.locator("#room-name").fill("r")
    await page.locator("#open-room button[type=submit]").click()
    await expect(page.locator("#room-title")).to_have_text("r")
    ana = await connect(live.url, sub="ana", name="Ana", school="school-a")
    ben = await connect(live.url, sub="ben", name="<b>Ben</b>", school="school-b")
    try:
        await ana.call("join", {"room": "r"})
        await ben.call("join", {"room": "r"})
        await ben.call("leave", {"room": "r"})
        groups = page.locator("#attendance section.attendance-school")
        await expect(groups).to_have_count(2)
        await expect(groups.nth(0).locator("h4")).to_contain_text("school-a")
        await expect(groups.nth(0).locator("tbody tr")).to_have_count(2)  # Ms T and Ana
        await expect(groups.nth(1).locator("h4")).to_contain_text("school-b")
        ben_row = groups.nth(1).locator("tbody tr")
        await expect(ben_row).to_contain_text("<b>Ben</b>")  # as text, not markup
        await expect(ben_row.locator("time")).to_have_count(2)  # joined and left
        await expect(groups.nth(0).locator("tbody tr").nth(1)).to_contain_text("Ana")
        assert await axe_serious(page) == []
        async with page.expect_download() as info:
            await page.locator("#attendance-csv").click()
        download = await info.value
        assert download.suggested_filename == "r-attendance.csv"
        path = await download.path()
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        assert rows[0] == ["user", "name", "role", "school", "joined", "left", "minutes"]
        assert sorted(r[0] for r in rows[1:]) == ["ana", "ben", "t"]
    finally:
        await ana.close()
        await ben.close()
