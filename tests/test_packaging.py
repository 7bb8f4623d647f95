"""Packaging: the build hook (setup.py), the wheel check and the lock check refuse what is wrong.

The whole path (build the sdist and the wheel, install the wheel outside the checkout, serve,
fetch the pages) is scripts/check-wheel, which CI runs as a step of its own; these tests cover
the ways the hook and the two scripts fail, and the wheel's layout, without Node.js or a full
install. The build runs with the pinned tools of requirements/build.txt, in a venv of the test's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a wheel build reads from a checkout (static/dist and node_modules are added per test).
SOURCES = ["setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "NOTICE", "package.json",
           "package-lock.json", "live", "rooms", "signaling", "requirements"]
STATIC_SOURCES = ["embed", "room", "console", "src", "i18n", "tools"]
PAGES = ["live/static/embed/chat.html", "live/static/room/index.html",
         "live/static/console/index.html"]


@pytest.fixture(scope="module")
def build_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv with requirements/build.txt (setuptools, build), as scripts/build-dist makes."""
    where = tmp_path_factory.mktemp("build-venv")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(where)], check=True)
    py = where / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--require-hashes", "-r",
                    str(ROOT / "requirements" / "build.txt")], check=True,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    yield py


def source_copy(dest: Path, *, sdist: bool, with_dist: bool) -> Path:
    """A copy of the sources: a checkout's, or (sdist=True) an unpacked sdist's (PKG-INFO)."""
    dest.mkdir()
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    for name in STATIC_SOURCES:
        shutil.copytree(ROOT / "static" / name, dest / "static" / name)
    if with_dist:
        assert (ROOT / "static" / "dist" / "twinspace-chat.js").is_file(), "run scripts/bootstrap"
        shutil.copytree(ROOT / "static" / "dist", dest / "static" / "dist")
    if sdist:
        (dest / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: twinspace-live\n")
    return dest


def build_wheel(py: Path, src: Path, out: Path, path: str = "") -> subprocess.CompletedProcess[str]:
    """setuptools' PEP 517 wheel hook, as `python -m build --no-isolation --wheel` calls it."""
    out.mkdir(exist_ok=True)
    return subprocess.run(
        [str(py), "-c", "import sys; from setuptools import build_meta as b; "
         "print(b.build_wheel(sys.argv[1]))", str(out)],
        cwd=src, capture_output=True, text=True, timeout=100,
        env={"PATH": path or os.environ["PATH"], "HOME": str(src)},
    )


def test_a_wheel_from_an_sdist_carries_its_pages(build_python: Path, tmp_path: Path) -> None:
    src = source_copy(tmp_path / "src", sdist=True, with_dist=True)
    done = build_wheel(build_python, src, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    wheel = tmp_path / "out" / done.stdout.strip().splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in [*PAGES, "live/static/dist/twinspace-chat.js", "live/static/dist/i18n/en.json",
                 "rooms/wordlists/en.txt", "rooms/wordlists/uk.txt",
                 "live/http.py", "rooms/__init__.py", "signaling/__init__.py"]:
        assert name in names, name
    built = {p.relative_to(ROOT / "static").as_posix()
             for p in (ROOT / "static" / "dist").rglob("*") if p.is_file()}
    assert {n.removeprefix("live/static/") for n in names if n.startswith("live/static/dist/")} \
        == built
    # only what the service serves: no JS sources, no build tools
    assert not [n for n in names if n.startswith(("live/static/src", "live/static/tools"))]


def test_an_sdist_without_the_built_widget_is_refused(build_python: Path, tmp_path: Path) -> None:
    src = source_copy(tmp_path / "src", sdist=True, with_dist=False)
    done = build_wheel(build_python, src, tmp_path / "out")
    assert done.returncode != 0
    assert "carries no built widget" in done.stderr
    assert not list((tmp_path / "out").glob("*.whl"))


def test_a_checkout_without_npm_is_refused(build_python: Path, tmp_path: Path) -> None:
    # static/dist is there, but from a checkout the hook always rebuilds it: that needs npm
    src = source_copy(tmp_path / "src", sdist=False, with_dist=True)
    no_npm = tmp_path / "bin"
    no_npm.mkdir()
    done = build_wheel(build_python, src, tmp_path / "out", path=str(no_npm))
    assert done.returncode != 0
    assert "npm not found" in done.stderr
    assert not list((tmp_path / "out").glob("*.whl"))


def test_check_wheel_refuses_a_wheel_without_pages(tmp_path: Path) -> None:
    wheel = tmp_path / "twinspace_live-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(ROOT / "live" / "http.py", "live/http.py")
        z.writestr("live/static/dist/twinspace-chat.js", "export {};\n")
    done = subprocess.run(["bash", str(ROOT / "scripts" / "check-wheel")],
                          env={**os.environ, "WHEEL": str(wheel)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    for page in PAGES:
        assert page in done.stderr
    assert "FAILED: the wheel lacks the built widget or the pages" in done.stderr


def test_lock_check_fails_when_pyproject_asks_for_another_version(tmp_path: Path) -> None:
    uv = ROOT / ".venv" / "bin" / "uv"
    assert uv.is_file(), "scripts/bootstrap installs uv from requirements/lock.txt"
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "lock", tmp_path / "scripts" / "lock")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    locked = [line for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines()
              if line.startswith("six==")]
    assert locked, "six is in the lock (a dependency of a dependency)"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "dependencies = [\n" in pyproject
    (tmp_path / "pyproject.toml").write_text(
        pyproject.replace("dependencies = [\n", 'dependencies = [\n    "six==1.16.0",\n', 1))
    done = subprocess.run(["bash", str(tmp_path / "scripts" / "lock"), "--check"],
                          env={**os.environ, "UV": str(uv), "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "requirements/lock.txt does not match pyproject.toml" in done.stderr
    assert "requirements/runtime.txt does not match pyproject.toml" in done.stderr
    assert "+six==1.16.0" in done.stderr
    # the committed files are left as they were
    assert (tmp_path / "requirements" / "lock.txt").read_text() == \
        (ROOT / "requirements" / "lock.txt").read_text()
