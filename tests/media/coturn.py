"""Debian's coturn (`turnserver`) as a child process of a test, with `use-auth-secret`.

`Coturn(ip, secret, wrap=ns.command)` runs it inside a test's network namespace
(tests/netns.py) listening on `ip` (TCP and UDP, no TLS), relaying from `ip` on ports
49152..65535 of that namespace. Nothing of the machine's own coturn is used (the package's
service stays off: scripts/bootstrap). A missing `turnserver` raises: the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REALM = "twinspace.test"


class Coturn:
    def __init__(self, ip: str, secret: str,
                 wrap: Callable[..., list[str]] = lambda *args: list(args),
                 port: int | None = None) -> None:
        if shutil.which("turnserver") is None:
            raise RuntimeError("coturn (`turnserver`) is not installed (scripts/bootstrap "
                               "installs it)")
        self.ip = ip
        self.secret = secret
        self.port = port or 20000 + secrets.randbelow(20000)
        self._wrap = wrap
        self._dir = tempfile.mkdtemp(prefix="tslive-coturn-")
        self.log = Path(self._dir, "turnserver.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> Sequence[str]:
        return self._wrap(
            "turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls",
            f"--listening-ip={self.ip}", f"--listening-port={self.port}",
            f"--relay-ip={self.ip}", "--min-port=49152", "--max-port=65535",
            "--use-auth-secret", f"--static-auth-secret={self.secret}", f"--realm={REALM}",
            "--fingerprint", "--no-software-attribute", "--simple-log",
            f"--log-file={self.log}", f"--pidfile={Path(self._dir, 'turnserver.pid')}",
            f"--userdb={Path(self._dir, 'turndb')}",
        )

    def launch(self) -> subprocess.Popen[bytes]:
        self.proc = subprocess.Popen(list(self.command()), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        return self.proc

    async def start(self) -> Coturn:
        self.launch()
        assert self.proc is not None
        deadline = time.monotonic() + 20
        while True:  # ready when its TCP listener accepts
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"turnserver did not start: {self.tail()}")
            try:
                _, writer = await asyncio.open_connection(self.ip, self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return self

    def tail(self) -> str:
        logs = sorted(Path(self._dir).glob("turnserver*.log"))
        return "".join(p.read_text(errors="replace") for p in logs)[-3000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)
