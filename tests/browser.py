"""Headless Chromium for page tests: Debian's /usr/bin/chromium, never a download.

The pages it loads are static/dist, the build of static/src: `build_pages()` (run once per
session before the first Chromium test, tests/conftest.py) rebuilds it if its sources changed,
so a test never passes or fails on an old build (issue #10 was one).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def build_pages() -> None:
    """static/dist built from this checkout's static/src (scripts/build-pages: a no-op when
    up to date); a failed build fails the test with the build's output."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / "build-pages")], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"static/dist could not be built: {done.stdout}{done.stderr}")


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


async def token_left_the_address(page: Page) -> bool:
    """Whether the page took its `#token=` out of the address bar. The page's script does it
    when it runs, which may be after `goto` returns, so this waits for it (5 s) rather than
    reading `page.url` once; a page that never does it fails the caller's assertion."""
    try:
        await page.wait_for_function("() => !location.href.includes('token')", timeout=5000)
    except PlaywrightTimeout:
        return False
    return "token" not in page.url
