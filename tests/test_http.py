"""Contract §4: health, readiness, metrics, origins, page headers."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import socketio

from .support import RedisServer, connect, run_server, token


async def test_health_ready_metrics_in_memory() -> None:
    async with run_server() as srv, aiohttp.ClientSession() as http:
        async with http.get(srv.url + "/healthz") as r:
            assert r.status == 200
        async with http.get(srv.url + "/readyz") as r:
            assert r.status == 200
        a = await connect(srv.url, sub="a")
        try:
            await a.call("join", {"room": "r"})
            await a.call("chat:send", {"room": "r", "text": "hi", "cid": "1"})
            await a.call("chat:send", {"room": "r", "text": "", "cid": "2"})
            async with http.get(srv.url + "/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                body = await r.text()
        finally:
            await a.close()
    assert "live_connections 1.0" in body
    assert "live_messages_total 1.0" in body
    assert 'live_ack_seconds_bucket{event="chat:send",le="0.005",ok="true"}' in body
    assert 'live_errors_total{code="bad_request",event="chat:send"} 1.0' in body


async def test_readyz_follows_redis_and_sends_fail_clearly(own_redis: RedisServer) -> None:
    async with run_server(own_redis.url) as srv, aiohttp.ClientSession() as http:
        a = await connect(srv.url, sub="a")
        try:
            await a.call("join", {"room": "r"})
            assert (await a.call("chat:send", {"room": "r", "text": "before", "cid": "1"}))["ok"]
            own_redis.stop()
            async with http.get(srv.url + "/readyz") as r:
                assert r.status == 503
            async with http.get(srv.url + "/healthz") as r:
                assert r.status == 200
            ack = await a.call("chat:send", {"room": "r", "text": "during", "cid": "2"})
            assert ack["ok"] is False and ack["error"]["code"] == "unavailable"
            assert a.sio.connected
            own_redis.start()
            # ready again within seconds, without restarting the service
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                async with http.get(srv.url + "/readyz") as r:
                    if r.status == 200:
                        break
                assert asyncio.get_running_loop().time() < deadline, "not ready after Redis is back"
                await asyncio.sleep(0.1)
            ack = await a.call("chat:send", {"room": "r", "text": "after", "cid": "3"})
            assert ack["ok"] is True
            # the bus came back too: the member receives it live
            await a.wait_for("chat:message", lambda m: m["text"] == "after", timeout=10)
        finally:
            await a.close()


@pytest.mark.parametrize(("origin", "allowed"), [
    ("https://school.example", True), ("https://evil.example", False)])
async def test_socketio_origins(origin: str, allowed: bool) -> None:
    async with run_server(allowed_origins=["https://school.example"]) as srv:
        c = socketio.AsyncClient(serializer="msgpack", reconnection=False)
        try:
            if allowed:
                await c.connect(srv.url, auth={"token": token()}, headers={"Origin": origin},
                                transports=["websocket"], wait_timeout=5)
                assert c.connected
            else:
                with pytest.raises(socketio.exceptions.ConnectionError):
                    await c.connect(srv.url, auth={"token": token()}, headers={"Origin": origin},
                                    transports=["websocket"], wait_timeout=5)
        finally:
            await c.disconnect()
            await asyncio.sleep(0)


async def test_pages_and_static_headers() -> None:
    async with run_server(allowed_origins=["https://school.example"]) as srv, \
            aiohttp.ClientSession() as http:
        async with http.get(srv.url + "/embed/chat?room=r") as r:
            assert r.status == 200
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "frame-ancestors 'self' https://school.example" in csp
        async with http.get(srv.url + "/static/twinspace-chat.js",
                            headers={"Origin": "https://school.example"}) as r:
            assert r.status == 200
            assert r.headers["Access-Control-Allow-Origin"] == "https://school.example"
            assert "javascript" in r.headers["Content-Type"]
        async with http.get(srv.url + "/static/twinspace-chat.js",
                            headers={"Origin": "https://evil.example"}) as r:
            assert "Access-Control-Allow-Origin" not in r.headers
