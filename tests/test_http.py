"""Contract §4: health, readiness, metrics, origins, page headers."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
import socketio

from live.config import Config, redacted_url

from .support import RedisServer, ServiceProcess, connect, free_port, run_server, token


async def raw_get(url: str, target: str) -> int:
    """The status of `GET target` sent byte for byte (no client normalizes the path)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode())
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_favicon_is_no_content_not_an_error() -> None:
    """Chromium asks for /favicon.ico on every page; a 404 showed as a console error."""
    async with run_server() as srv, aiohttp.ClientSession() as http:
        async with http.get(srv.url + "/favicon.ico") as r:
            assert r.status == 204
            assert await r.read() == b""
            assert "max-age" in r.headers["Cache-Control"]


async def test_health_ready_metrics_in_memory() -> None:
    metrics_port = free_port()
    async with run_server(metrics_port=metrics_port) as srv, aiohttp.ClientSession() as http:
        async with http.get(srv.url + "/healthz") as r:
            assert r.status == 200
        async with http.get(srv.url + "/readyz") as r:
            assert r.status == 200
        a = await connect(srv.url, sub="a")
        try:
            await a.call("join", {"room": "r"})
            await a.call("chat:send", {"room": "r", "text": "hi", "cid": "1"})
            await a.call("chat:send", {"room": "r", "text": "", "cid": "2"})
            async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                body = await r.text()
        finally:
            await a.close()
    assert "live_connections 1.0" in body
    assert "live_messages_total 1.0" in body
    assert 'live_ack_seconds_bucket{event="chat:send",le="0.005",ok="true"}' in body
    assert 'live_errors_total{code="bad_request",event="chat:send"} 1.0' in body


async def test_metrics_are_not_on_the_public_port() -> None:
    # issue #14 item 8: HAProxy denied `/metrics` but passed `/%6Detrics`, which the service
    # decoded to /metrics; no spelling of it is routed on the public port now
    metrics_port = free_port()
    async with run_server(metrics_port=metrics_port) as srv:
        for target in ("/metrics", "/%6Detrics", "/%6d%65trics", "//metrics", "/metrics/"):
            assert await raw_get(srv.url, target) == 404, target
        assert await raw_get(f"http://127.0.0.1:{metrics_port}", "/metrics") == 200
        assert await raw_get(srv.url, "/healthz") == 200


async def test_metrics_port_zero_serves_none_and_a_taken_port_costs_only_metrics() -> None:
    async with run_server(metrics_port=0) as srv:
        assert srv.svc is not None and srv.svc.metrics_server is None
        assert await raw_get(srv.url, "/healthz") == 200
    with socket.socket() as taken:  # another process holds the metrics port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with run_server(metrics_port=port) as srv:
            assert srv.svc is not None and srv.svc.metrics_server is None
            assert await raw_get(srv.url, "/healthz") == 200
            c = await connect(srv.url, sub="a")
            try:
                assert (await c.call("join", {"room": "r"}))["ok"]
            finally:
                await c.close()


def test_metrics_are_on_loopback_unless_told() -> None:
    cfg = Config.from_env({})
    assert (cfg.metrics_host, cfg.metrics_port) == ("127.0.0.1", 9180)
    cfg = Config.from_env({"LIVE_METRICS_HOST": "0.0.0.0", "LIVE_METRICS_PORT": "0"})
    assert (cfg.metrics_host, cfg.metrics_port) == ("0.0.0.0", 0)


async def test_cli_banner_hides_the_redis_password_and_serves_metrics_on_its_port(
        own_redis: RedisServer) -> None:
    password = "s3cret-Pa55"
    own_redis.cli("CONFIG", "SET", "requirepass", password)
    url = f"redis://default:{password}@127.0.0.1:{own_redis.port}/0"
    metrics_port = free_port()
    proc = ServiceProcess(url, args=["--metrics-port", str(metrics_port)])
    await proc.start()  # ready: it reached Redis with the password
    try:
        out = proc.output()
        assert password not in out, out
        assert f"store: redis (redis://default:***@127.0.0.1:{own_redis.port}/0)" in out, out
        assert f"metrics: http://127.0.0.1:{metrics_port}/metrics" in out, out
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                assert "live_connections" in await r.text()
        assert await raw_get(proc.url, "/metrics") == 404
        assert await raw_get(proc.url, "/%6Detrics") == 404
    finally:
        proc.stop()


def test_redacted_url() -> None:
    assert redacted_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redacted_url("redis://u:p@ss@h/0") == "redis://u:***@h/0"
    assert redacted_url("rediss://h:6380/1?password=pw&ssl_cert_reqs=none") == \
        "rediss://h:6380/1?password=***&ssl_cert_reqs=none"
    assert redacted_url("unix:///run/redis.sock?password=pw") == \
        "unix:///run/redis.sock?password=***"
    assert redacted_url("redis+sentinel://:pw@a:26379,b:26379/m") == \
        "redis+sentinel://:***@a:26379,b:26379/m"
    assert redacted_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


async def test_readyz_follows_redis_and_sends_fail_clearly(own_redis: RedisServer) -> None:
    async with run_server(own_redis.url) as srv, aiohttp.ClientSession() as http:
        # a teacher: a Redis that comes back empty forgot the room's settings, and the
        # teacher-present rule (on by default) would then hold a pupil back
        a = await connect(srv.url, sub="a", role="teacher")
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
