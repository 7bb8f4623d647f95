"""Prometheus metrics of one process (`GET /metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from . import loop_lag

ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("live_connections", "Socket.IO connections open", registry=r)
        self.rooms = Gauge("live_rooms", "Rooms with members on this process", registry=r)
        self.messages = Counter("live_messages_total", "Chat messages stored", registry=r)
        self.refused = Counter(
            "live_connections_refused_total", "Connections refused", ["code"], registry=r
        )
        self.acks = Histogram(
            "live_ack_seconds",
            "Time from event to ack",
            ["event", "ok"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "live_errors_total", "Error acks by code", ["event", "code"], registry=r
        )
        self.store_up = Gauge("live_store_up", "1 while the store answers", registry=r)
        self.loop_lag = Histogram(
            "live_event_loop_lag_seconds",
            "How much later than due the event loop ran a timer (live/loop_lag.py)",
            buckets=loop_lag.BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
