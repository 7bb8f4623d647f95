"""The python-socketio, python-engineio, aiohttp and redis-py seams (live/seam.py).

Each seam holds on the pinned libraries, and each one, once moved, is named when the
service starts: a library bump either works or fails at start saying what moved.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from typing import Any

import pytest

from live import seam
from live.app import build
from live.config import Config

from .support import ROOT, SECRET

NAMES = [s.name for s in seam.SEAMS]


def _moved(*args: Any, **kwargs: Any) -> None:
    """What a library might put where a seam was: another shape, another body."""
    return None


@pytest.mark.parametrize("name", NAMES)
def test_the_seam_holds(name: str) -> None:
    next(s for s in seam.SEAMS if s.name == name).check()


@pytest.mark.parametrize("name", NAMES)
def test_a_moved_seam_is_named(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    found = next(s for s in seam.SEAMS if s.name == name)
    monkeypatch.setattr(found.owner, found.attr, _moved)
    with pytest.raises(seam.SeamMoved, match=re.escape(f"seam '{name}' moved")):
        found.check()


def test_the_service_does_not_start_on_a_moved_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    import socketio

    monkeypatch.setattr(seam, "_checked", False)
    monkeypatch.setattr(socketio.AsyncServer, "_handle_eio_message", _moved)
    with pytest.raises(seam.SeamMoved, match="server-eio-message"):
        build(Config(jwt_secret=SECRET))


def test_the_libraries_are_pinned_to_what_the_seams_were_read_from() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins: dict[str, str] = {}
    for req in pyproject["project"]["dependencies"]:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;,]+)", req.split(";")[0].strip())
        if m:
            pins[m.group(1).lower()] = m.group(3)
    for name, version in seam.PINNED.items():
        assert pins.get(name) == version, f"pyproject.toml must pin {name}=={version}"
        assert importlib.metadata.version(name) == version, f"installed {name} is not {version}"
