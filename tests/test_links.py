"""The link policy: which http(s) links in chat the pages make clickable (rooms/links.py)."""

from __future__ import annotations

from typing import Any

import pytest

from live.config import Config
from rooms.links import LinkPolicy

from .support import Running, run_server


def test_policy_from_the_environment() -> None:
    assert Config.from_env({}).link_domains is None
    assert Config.from_env({"LIVE_LINK_DOMAINS": "*"}).link_domains is None
    assert Config.from_env({"LIVE_LINK_DOMAINS": "none"}).link_domains == ()
    cfg = Config.from_env({"LIVE_LINK_DOMAINS": " Europa.eu, .wikipedia.org ,"})
    assert cfg.link_domains == ("europa.eu", "wikipedia.org")
    for bad in ("https://europa.eu", "a b", "-x.org", "x..org"):
        with pytest.raises(ValueError, match="LIVE_LINK_DOMAINS"):
            Config.from_env({"LIVE_LINK_DOMAINS": bad})


def test_domains_include_their_subdomains_only() -> None:
    p = LinkPolicy(("europa.eu",))
    assert p.allows("europa.eu") and p.allows("www.etwinning.EUROPA.eu.")
    assert not p.allows("noteuropa.eu") and not p.allows("europa.eu.evil.test")
    assert LinkPolicy(None).allows("anything.test") and not LinkPolicy(()).allows("europa.eu")
    assert LinkPolicy(None).to_wire() == {"domains": None}
    assert LinkPolicy(("a.test",)).to_wire() == {"domains": ["a.test"]}


async def test_join_ack_carries_the_policy(server: Running, clients: Any) -> None:
    t = await clients(server.url, sub="t", role="teacher")
    assert (await t.call("join", {"room": "r"}))["links"] == {"domains": None}
    async with run_server(link_domains=("europa.eu",)) as strict:
        t2 = await clients(strict.url, sub="t", role="teacher")
        assert (await t2.call("join", {"room": "r"}))["links"] == {"domains": ["europa.eu"]}
