"""A network cut between a browser and the service: the TCP connection is killed
(aborted by the service side, as a middlebox or a dying NAT entry would), the widget
reconnects by itself, catches up, and shows nothing twice."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from .support import Running
from .test_widget_browser import messages, open_widget, say

pytestmark = pytest.mark.browser


async def test_killed_tcp_connection_ends_in_reconnect_and_catch_up(browser: Browser,
                                                                     live: Running) -> None:
    assert live.svc is not None
    sio = live.svc.sio
    _, a = await open_widget(browser, live.url, sub="a")
    _, b = await open_widget(browser, live.url, sub="b")
    await say(a, "before the cut")
    await expect(messages(b)).to_have_count(1)
    b_conns = [sid for sid, s in live.svc.edge.sessions.items() if s.who.sub == "b"]
    assert len(b_conns) == 1
    eio_sid = sio.manager.eio_sid_from_sid(b_conns[0], "/")
    # the service stops delivering to b before the cut, so b really misses what follows
    await sio.leave_room(b_conns[0], next(iter(live.svc.edge.sessions[b_conns[0]].rooms)))
    for i in range(3):
        await say(a, f"missed {i}")
    await expect(messages(a)).to_have_count(4)
    await sio.eio.drop(eio_sid, "network cut (test)")  # TCP abort, no close frame
    await expect(messages(b)).to_have_count(4, timeout=15_000)
    await expect(b.locator("twinspace-chat")).to_have_attribute("data-state", "online")
    texts = await messages(b).all_inner_texts()
    assert [sum(f"missed {i}" in t for t in texts) for i in range(3)] == [1, 1, 1]
    await say(a, "after")
    await expect(messages(b)).to_have_count(5)
