"""Headless Chromium for page tests: Debian's /usr/bin/chromium, never a download."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


@contextlib.asynccontextmanager
async def chromium(extra_args: list[str] | None = None) -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is not installed (scripts/bootstrap installs it)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=ARGS + (extra_args or []))
        try:
            yield browser
        finally:
            await browser.close()


async def axe_serious(page: Page) -> list[dict[str, object]]:
    """Run axe-core on the page (shadow DOM included); serious and critical findings."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]
