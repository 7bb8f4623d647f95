"""Which of a browser's ICE candidates the forwarding unit may send to.

A browser's description lists the addresses it can be reached at (`a=candidate` lines). aioice
sends STUN connectivity checks, then media, to each of them, so a forged description could aim
the media unit at an internal service (Redis, a metadata endpoint, another host of the
service's network). Before aiortc sees an offer or answer, `CandidateFilter.clean()` drops
every candidate whose address is:

- unspecified (0.0.0.0, ::), multicast, reserved (240.0.0.0/4) or link-local
  (169.254.0.0/16, fe80::/10);
- loopback (127.0.0.0/8, ::1), unless the unit itself gathers only on loopback
  (`LIVE_MEDIA_ADDRESSES=127.0.0.1`: a unit for this machine only, as in tests and demos);
- within a denied range (`LIVE_MEDIA_DENIED_NETS`, CIDR list: the service's own networks);
- a name rather than an address. Chromium hides its host addresses behind mDNS names
  (`<uuid>.local`) on pages without camera permission; resolving them would let the name's
  owner choose the address after this check (aioice would resolve it), so they are dropped.
  Such a browser still has its server-reflexive and relay candidates, and aioice learns its
  real source address from the checks it sends to the unit (a peer-reflexive candidate: an
  address that did reach us).

Candidates of a non-UDP transport go the same way (aioice only speaks UDP ICE). Related
addresses (`raddr`) are never contacted and stay. IPv4-mapped IPv6 addresses are judged by
their IPv4 address.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_nets(value: str | None) -> tuple[IPNetwork, ...]:
    """`LIVE_MEDIA_DENIED_NETS`: comma-separated CIDR ranges (a bare address is a /32 or
    /128); ValueError naming the first bad one."""
    if not value or not value.strip():
        return ()
    nets: list[IPNetwork] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"LIVE_MEDIA_DENIED_NETS: '{item}' is not an address range "
                             "(e.g. 10.0.0.0/8, fd00::/8)") from None
    return tuple(nets)


@dataclass(frozen=True, slots=True)
class CandidateFilter:
    denied: tuple[IPNetwork, ...] = ()
    allow_loopback: bool = False

    @classmethod
    def for_unit(cls, denied: Iterable[IPNetwork], own_addresses: Iterable[str]) -> CandidateFilter:
        """The filter of a unit gathering on `own_addresses` (empty: every interface)."""
        own = [ipaddress.ip_address(a) for a in own_addresses]
        return cls(tuple(denied), allow_loopback=bool(own) and all(a.is_loopback for a in own))

    def allows(self, host: str) -> bool:
        """Whether the unit may send to the candidate address `host`."""
        try:
            address: IPAddress = ipaddress.ip_address(host)
        except ValueError:
            return False  # an mDNS or DNS name: see the module's docstring
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_loopback:  # (before is_reserved, which holds for ::1)
            if not self.allow_loopback:
                return False
        elif (address.is_unspecified or address.is_multicast or address.is_link_local
              or address.is_reserved):
            return False
        return not any(address.version == net.version and address in net for net in self.denied)

    def clean(self, sdp: str) -> str:
        """`sdp` without the candidate lines the unit must not send to."""
        lines = sdp.split("\r\n") if "\r\n" in sdp else sdp.split("\n")
        sep = "\r\n" if "\r\n" in sdp else "\n"
        kept: list[str] = []
        dropped = 0
        for line in lines:
            if line.startswith("a=candidate:") and not self._keeps(line):
                dropped += 1
                continue
            kept.append(line)
        if dropped:
            logger.info("dropped %d ICE candidate(s) of a browser's description", dropped)
        return sep.join(kept)

    def _keeps(self, line: str) -> bool:
        # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
        fields = line[len("a=candidate:"):].split()
        if len(fields) < 8 or fields[6] != "typ":
            return False
        return fields[2].lower() == "udp" and self.allows(fields[4])
