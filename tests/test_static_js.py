"""The browser side's own checks, run with node: the catalogs, protocol.js as the only module
naming events, and the widget's state module under node's test runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "static" / "src"


def node(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("node")
    if exe is None:
        raise RuntimeError("node is not installed (scripts/bootstrap installs it)")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, timeout=90,
                          check=False)


def test_catalogs_are_complete() -> None:
    run = node("static/tools/check-catalogs.mjs")
    assert run.returncode == 0, run.stdout + run.stderr
    assert ": ok" in run.stdout


def test_only_protocol_js_names_events() -> None:
    run = node("static/tools/check-protocol.mjs")
    assert run.returncode == 0, run.stdout + run.stderr
    assert ": ok" in run.stdout


@pytest.mark.parametrize("line, found", [
    ("client.addEventListener('chat:message', () => {});", "event name 'chat:message'"),
    ("client.on('typing', () => {});", "on('typing') names an event"),
    ("client.request('hand', { room });", ".request( sends a raw event"),
    ("socket.emit(name, {});", ".emit( sends a raw event"),
])
def test_a_ui_module_naming_an_event_fails_the_check(tmp_path: Path, line: str,
                                                     found: str) -> None:
    for module in SRC.glob("*.js"):
        shutil.copy(module, tmp_path / module.name)
    page = tmp_path / "room.js"
    page.write_text(page.read_text() + "\n" + line + "\n")
    run = node("static/tools/check-protocol.mjs", str(tmp_path))
    assert run.returncode == 1
    assert f"room.js:{len(page.read_text().splitlines())}: " in run.stderr
    assert found in run.stderr


def test_a_request_without_a_method_fails_the_check(tmp_path: Path) -> None:
    for module in SRC.glob("*.js"):
        shutil.copy(module, tmp_path / module.name)
    protocol = tmp_path / "protocol.js"
    text = protocol.read_text()
    assert "this.ask(Requests.MOD_RECALL, { room })" in text
    protocol.write_text(text.replace("this.ask(Requests.MOD_RECALL, { room })", "null"))
    run = node("static/tools/check-protocol.mjs", str(tmp_path))
    assert run.returncode == 1
    assert "no LiveClient method sends Requests.MOD_RECALL" in run.stderr


def test_an_event_the_docs_name_but_protocol_js_lacks_fails_the_check(tmp_path: Path) -> None:
    docs = tmp_path / "protocol.md"
    docs.write_text((ROOT / "docs" / "protocol.md").read_text() + "\n- `mod:shout` {room}\n")
    run = node("static/tools/check-protocol.mjs", str(SRC), str(docs))
    assert run.returncode == 1
    assert "docs/protocol.md names `mod:shout`" in run.stderr


def test_state_module_under_node() -> None:
    run = node("--test", "static/tests/")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout
