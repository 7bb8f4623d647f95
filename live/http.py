"""HTTP: health, readiness, pages and static files on the public port; metrics on their own
(contract §4).

`GET /metrics` is not routed on the public port at all, so no spelling of it
(`/%6Detrics`, `//metrics`, ...) reaches it through a proxy: `metrics_app` serves it
on `LIVE_METRICS_HOST:LIVE_METRICS_PORT` (loopback by default; live/app.py starts it).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from .config import Config
from .metrics import Metrics

PACKAGE = Path(__file__).resolve().parent


def _web_root() -> Path:
    """The folder holding the pages (`embed/`, `room/`, `console/`) and the built widget (`dist/`).

    An installed wheel carries them inside this package, as `live/static/` (setup.py copies them
    in when it builds the wheel). An editable install from a checkout has no such folder: there
    they are the checkout's own `static/`, whose `dist/` scripts/bootstrap builds.
    """
    packaged = PACKAGE / "static"
    if packaged.is_dir():
        return packaged
    return PACKAGE.parent / "static"


STATIC = _web_root()
DIST = STATIC / "dist"

Ping = Callable[[], Awaitable[bool]]


class Origins:
    """The origins allowed to embed pages and open Socket.IO connections."""

    def __init__(self, cfg: Config) -> None:
        self.extra = set(cfg.allowed_origins)

    def allowed(self, origin: str | None, host_origin: str | None) -> bool:
        if not origin:
            return True  # not a cross-origin browser request
        return origin == host_origin or origin in self.extra

    def frame_ancestors(self) -> str:
        return " ".join(["'self'", *sorted(self.extra)])


def own_origin(request: web.BaseRequest) -> str:
    return f"{request.scheme}://{request.host}"


def security_headers(origins: Origins) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Awaitable[web.StreamResponse]:
        if request.path.startswith("/socket.io"):
            # handed on as it is, so no frame of this middleware stays alive for the
            # life of each WebSocket (about 0.5 KB per idle member)
            return handler(request)
        return headed(request, handler)

    async def headed(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        resp = await handler(request)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        ctype = resp.headers.get("Content-Type", "")
        if ctype.startswith("text/html"):
            resp.headers["Content-Security-Policy"] = (
                "default-src 'self'; script-src 'self'; style-src 'self'; "
                "img-src 'self' data:; media-src 'self' blob: mediastream:; "
                "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
                f"form-action 'none'; frame-ancestors {origins.frame_ancestors()}"
            )
        origin = request.headers.get("Origin")
        if (
            request.path.startswith("/static/")
            and origin
            and origins.allowed(origin, own_origin(request))
        ):
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Vary"] = "Origin"
        return resp

    return middleware


class PageText:
    """A page's HTML with the allowed origins filled in (read once per change of the file).

    The pages talk to the window that embeds or opened them (token renewal,
    docs/protocol.md "Sessions and renewal") only at these origins: the empty
    `<meta name="twinspace-live-origins" content="">` of each page gets
    `LIVE_ALLOWED_ORIGINS`, space-separated (the page adds its own origin)."""

    PLACEHOLDER = b'<meta name="twinspace-live-origins" content="">'

    def __init__(self, path: Path, origins: Origins) -> None:
        self.path = path
        self.meta = (b'<meta name="twinspace-live-origins" content="'
                     + html.escape(" ".join(sorted(origins.extra))).encode() + b'">')
        self._cached: tuple[int, bytes] | None = None

    def read(self) -> bytes | None:
        try:
            stamp = self.path.stat().st_mtime_ns  # a stat per page view
        except OSError:
            return None
        if self._cached is None or self._cached[0] != stamp:
            text = self.path.read_bytes()
            self._cached = (stamp, text.replace(self.PLACEHOLDER, self.meta))
        return self._cached[1]


def routes(app: web.Application, cfg: Config, metrics: Metrics, ping: Ping) -> None:
    origins = Origins(cfg)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.Response:
        up = await ping()
        metrics.store_up.set(1 if up else 0)
        return web.json_response({"ok": up}, status=200 if up else 503)

    def page(path: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        text = PageText(path, origins)

        async def view(_: web.Request) -> web.StreamResponse:
            body = text.read()
            if body is None:
                raise web.HTTPNotFound(text="page not built: run the README's run command")
            return web.Response(
                body=body,
                headers={"Cache-Control": "no-cache", "Content-Type": "text/html; charset=utf-8"},
            )

        return view

    async def favicon(_: web.Request) -> web.StreamResponse:
        # Browsers ask every origin for /favicon.ico; the pages have no icon of their own (the
        # widget lives inside TwinSpace pages), so the answer is "nothing", not a 404 that shows
        # as an error in the browser's console on every page load.
        return web.Response(status=204, headers={"Cache-Control": "public, max-age=86400"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/embed/chat", page(STATIC / "embed" / "chat.html"))
    app.router.add_get(r"/room/{room:[a-z0-9][a-z0-9_-]{0,63}}",
                       page(STATIC / "room" / "index.html"))
    app.router.add_get("/console", page(STATIC / "console" / "index.html"))
    DIST.mkdir(parents=True, exist_ok=True)
    app.router.add_static("/static/", DIST, show_index=False, append_version=False)


def metrics_app(metrics: Metrics) -> web.Application:
    """The application of the metrics port: `GET /metrics` in Prometheus text format."""

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(
            body=metrics.render(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    return app
