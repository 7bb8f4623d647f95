"""Which addresses the forwarding unit offers as ICE candidates.

aioice gathers host candidates on every interface but loopback, through
`aioice.ice.get_host_addresses`, a module global looked up at gathering time.
`restrict_host_addresses()` replaces it (process-wide, idempotent) with one
that returns the configured addresses (`LIVE_MEDIA_ADDRESSES`); that also lets
in-process tests use 127.0.0.1.

A host behind a 1:1 NAT announces its public address instead of the private
one (Janus's `nat_1_1_mapping`, LiveKit's `node_ip`): `announce()` rewrites the
host candidates of an SDP the service hands out. The sockets stay bound to the
private address; the NAT forwards what the browsers send to the public one.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Sequence

import aioice.ice as _aioice_ice

logger = logging.getLogger(__name__)

_stock_get_host_addresses: Callable[[bool, bool], list[str]] = _aioice_ice.get_host_addresses
_configured: list[str] | None = None


def parse_addresses(value: str | None) -> list[str]:
    """Parse a comma-separated list of IP addresses; ValueError if one is not."""
    if not value or not value.strip():
        return []
    out: list[str] = []
    for item in value.split(","):
        item = item.strip()
        if item:
            out.append(str(ipaddress.ip_address(item)))
    return out


def _restricted_get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _configured is None:
        return _stock_get_host_addresses(use_ipv4, use_ipv6)
    out: list[str] = []
    for address in _configured:
        version = ipaddress.ip_address(address).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            out.append(address)
    return out


def restrict_host_addresses(addresses: Sequence[str] | None) -> None:
    """Gather host candidates only on `addresses` (None or empty: aioice's default)."""
    global _configured
    current = getattr(_aioice_ice, "get_host_addresses", None)
    if current is not _restricted_get_host_addresses:
        if current is not _stock_get_host_addresses:
            raise RuntimeError("aioice.ice.get_host_addresses moved or is patched elsewhere")
        _aioice_ice.get_host_addresses = _restricted_get_host_addresses
    _configured = [str(ipaddress.ip_address(a)) for a in addresses] if addresses else None
    logger.info("ICE host addresses: %s", _configured or "aioice default")


def host_addresses() -> list[str]:
    """The addresses aioice will gather host candidates on now."""
    return list(_aioice_ice.get_host_addresses(True, True))


_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host)(.*)$", re.IGNORECASE)


def announce(sdp: str, public_ip: str | None) -> str:
    """Replace the address of every host candidate in `sdp` by `public_ip`."""
    if not public_ip:
        return sdp
    lines = sdp.split("\r\n")
    for i, line in enumerate(lines):
        match = _CANDIDATE.match(line)
        if match:
            lines[i] = f"{match[1]}{public_ip}{match[3]}{match[4]}"
        elif line.startswith("c=IN IP4 ") and ":" not in public_ip:
            lines[i] = f"c=IN IP4 {public_ip}"
    return "\r\n".join(lines)
