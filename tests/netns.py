"""A network namespace of a test's own, so WebRTC traffic never touches real interfaces.

`NetNS.create()` makes `tslive-<rand>` with a veth pair: `inside` (10.213.x.1/24) in the
namespace, `outside` (10.213.x.2/24) in the root namespace, so the test process can reach a
service that runs inside. Processes run inside with `ip netns exec`; file descriptors pass
through, so Playwright can drive a Chromium inside over its `--remote-debugging-pipe`.
Needs root and iproute2 (no `dummy` kernel module is used). Anything missing raises: a media
test fails, it never skips.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


class NetNS:
    def __init__(self) -> None:
        if shutil.which("ip") is None:
            raise RuntimeError("iproute2 (`ip`) is not installed (scripts/bootstrap installs it)")
        if os.geteuid() != 0:
            raise RuntimeError("network namespaces need root")
        tag = secrets.token_hex(3)
        self.name = f"tslive-{tag}"
        self.veth_in = f"tsi{tag}"
        self.veth_out = f"tso{tag}"
        octet = secrets.randbelow(200) + 20
        self.inside = f"10.213.{octet}.1"
        self.outside = f"10.213.{octet}.2"
        self._scripts: list[str] = []

    def create(self) -> NetNS:
        try:
            _ip("netns", "add", self.name)
            _ip("link", "add", self.veth_in, "type", "veth", "peer", "name", self.veth_out)
            _ip("link", "set", self.veth_in, "netns", self.name)
            _ip("-n", self.name, "addr", "add", f"{self.inside}/24", "dev", self.veth_in)
            _ip("-n", self.name, "link", "set", self.veth_in, "up")
            _ip("-n", self.name, "link", "set", "lo", "up")
            _ip("addr", "add", f"{self.outside}/24", "dev", self.veth_out)
            _ip("link", "set", self.veth_out, "up")
        except subprocess.CalledProcessError as exc:
            self.delete()
            raise RuntimeError(f"cannot create network namespace: {exc.stderr.strip()}") from exc
        return self

    def delete(self) -> None:
        _ip("netns", "del", self.name, check=False)
        _ip("link", "del", self.veth_out, check=False)  # gone with the namespace, normally
        for path in self._scripts:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def command(self, *args: str) -> list[str]:
        """`args` as a command that runs inside the namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def wrapper(self, executable: str) -> str:
        """A script that runs `executable` (with its arguments) inside the namespace."""
        fd, path = tempfile.mkstemp(prefix="tslive-ns-", suffix=".sh")
        with os.fdopen(fd, "w") as f:
            f.write(f'#!/bin/sh\nexec ip netns exec {self.name} {executable} "$@"\n')
        os.chmod(path, stat.S_IRWXU)
        self._scripts.append(path)
        return path


@contextlib.contextmanager
def netns() -> Iterator[NetNS]:
    ns = NetNS()
    ns.create()
    try:
        yield ns
    finally:
        ns.delete()
