"""Which web links in chat become clickable: the link policy of a space.

Messages are stored and sent as written; the pages render `http(s)` links in
them as links when the space's policy allows the link's domain, and as plain
text otherwise (docs/protocol.md "Links"). The policy travels in the `join`
ack as `links: {domains}`: `null` for every http(s) domain, else the list of
domains allowed (each with its subdomains; an empty list: no links).

Where a space's policy comes from is a seam: `RoomService.link_policy` maps a
space to its `LinkPolicy`. Today it is one policy for the whole service
(`LIVE_LINK_DOMAINS`); a per-space filter (the safeguarding word and contact
filter) replaces that function with its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]"
                     r"([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    domains: tuple[str, ...] | None = None  # None: every http(s) domain

    @classmethod
    def parse(cls, value: str | None) -> LinkPolicy:
        """`LIVE_LINK_DOMAINS`: unset or `*` every domain, `none` no links, else
        comma-separated domains (`example.org` allows `www.example.org` too)."""
        text = (value or "").strip().lower()
        if text in {"", "*"}:
            return cls(None)
        if text == "none":
            return cls(())
        domains = tuple(d.strip().lstrip(".") for d in text.split(",") if d.strip())
        for d in domains:
            if not _DOMAIN.match(d):
                raise ValueError(f"LIVE_LINK_DOMAINS: '{d}' is not a domain name")
        return cls(domains)

    def allows(self, host: str) -> bool:
        if self.domains is None:
            return True
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def to_wire(self) -> dict[str, Any]:
        return {"domains": None if self.domains is None else list(self.domains)}


EVERY_DOMAIN = LinkPolicy(None)
