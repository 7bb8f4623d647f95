"""Build hook: the wheel carries the pages and the built widget as `live/static/`.

Everything else about the package is declared in pyproject.toml. What this adds:

- Building from a checkout (no PKG-INFO beside this file), the sdist and the wheel first run the
  JS build: `npm ci` when node_modules is missing or older than package-lock.json, then
  `npm run build` (static/dist/). Node.js and npm are needed for that, and their absence fails
  the build: a wheel without its pages would install a service that serves no page.
- Building from an sdist (PKG-INFO present, as `python -m build` does for the wheel), the sdist
  already carries static/dist/, built when it was made: no Node.js is needed, and a missing
  static/dist/ fails the build.
- The wheel gets static/dist/ and the pages (static/<page>/*.html) under live/static/, where
  live/http.py looks first. An editable install (`pip install -e .`, as scripts/bootstrap does)
  copies nothing: the service then serves the checkout's static/ directly.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
STATIC = ROOT / "static"
DIST = STATIC / "dist"
# A file the widget cannot work without: its absence means the JS build did not run.
ENTRY = DIST / "twinspace-chat.js"


class JsBuildError(RuntimeError):
    pass


def _npm(*args: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise JsBuildError(
            "npm not found: building twinspace-live from a checkout runs the JS build "
            "(npm ci && npm run build); install Node.js >= 20 and npm, or build from the sdist"
        )
    print(f"twinspace-live build hook: npm {' '.join(args)}", flush=True)
    subprocess.run([npm, *args], cwd=ROOT, check=True)


def build_web() -> None:
    """Makes sure static/dist/ holds the built widget (see the module docstring for when)."""
    if (ROOT / "PKG-INFO").exists():
        if not ENTRY.is_file():
            raise JsBuildError(f"this sdist carries no built widget ({ENTRY} is missing)")
        return
    hidden_lock = ROOT / "node_modules" / ".package-lock.json"
    lock = ROOT / "package-lock.json"
    if not hidden_lock.is_file() or hidden_lock.stat().st_mtime < lock.stat().st_mtime:
        _npm("ci", "--no-audit", "--no-fund")
    _npm("run", "build")
    if not ENTRY.is_file():
        raise JsBuildError(f"npm run build made no {ENTRY}")


def pages() -> list[Path]:
    """The HTML pages the service serves, relative to static/ (embed/chat.html, ...)."""
    return sorted(
        p.relative_to(STATIC)
        for p in STATIC.glob("*/*.html")
        if p.relative_to(STATIC).parts[0] not in ("dist", "src", "tools", "i18n")
    )


class BuildPyWithWeb(build_py):
    """build_py, then the pages and static/dist/ copied into the wheel's live/static/."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # served from the checkout's static/
        build_web()
        target = Path(self.build_lib, "live", "static")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(DIST, target / "dist")
        found = pages()
        if not found:
            raise JsBuildError(f"no pages found under {STATIC}")
        for page in found:
            (target / page).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(STATIC / page, target / page)


class SdistWithWeb(sdist):
    """sdist with a freshly built static/dist/ in it (MANIFEST.in grafts it)."""

    def run(self) -> None:
        build_web()
        super().run()


setup(cmdclass={"build_py": BuildPyWithWeb, "sdist": SdistWithWeb})
