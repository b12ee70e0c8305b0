"""GET /metrics: Prometheus text exposition (no token, like /v1/health; not in the OpenAPI document).

Read-model metrics are computed from PostgreSQL at scrape time (the same `projection_status` /v1/health shows),
so any API instance reports them for all projectors; HTTP metrics count this API process's requests.

| metric | labels | meaning |
|---|---|---|
| `lingti_projection_events_behind` | projection | committed events not yet applied |
| `lingti_projection_seconds_behind` | projection | age of the oldest of them (0 when caught up) |
| `lingti_projection_held_back_events` | projection | of those, held back by an open transaction |
| `lingti_projection_blocking_transaction_seconds` | projection | age of that transaction (0 if none) |
| `lingti_projection_position` | projection | global position of the last applied event |
| `lingti_projection_last_applied_timestamp_seconds` | projection | when the checkpoint last moved (Unix time) |
| `lingti_projection_has_leader` | projection | 1 while a projector process holds the read model's leadership |
| `lingti_projection_leader_info` | projection, holder | 1 for the holder's application_name (`host:pid:…`) |
| `lingti_projection_status` | projection, status | 1 for the current status (`ok`, `lagging`, `stalled`) |
| `lingti_projection_metrics_up` | | 0 when the database could not be asked (the others are then absent) |
| `lingti_http_requests_total` | method, route, status | requests answered, by route template (`/v1/topics/{topic_id}`) |
| `lingti_http_request_duration_seconds` | method, route | latency histogram |
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projections.status import projection_status

router = APIRouter(tags=["metrics"])

SCRAPE_TIMEOUT = 3.0
STATUSES = ("ok", "lagging", "stalled")
UNMATCHED = "unmatched"  # requests no route matched: one label value, not one per URL


class HttpMetrics:
    """Request counter and latency histogram of one app, in that app's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("lingti_http_requests", "HTTP requests answered.", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("lingti_http_request_duration_seconds", "HTTP request latency.", ["method", "route"],
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


class HttpMetricsMiddleware:
    """Pure ASGI: times each HTTP request and labels it with the matched route's template."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def install(app: FastAPI) -> None:
    """Serve /metrics and count every request (called once by `create_app`)."""
    metrics = HttpMetrics()
    app.state.http_metrics = metrics
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    app.include_router(router)


class _ProjectionSnapshot:
    """A one-scrape collector over an already fetched `projection_status`."""

    def __init__(self, status: list[dict[str, Any]] | None) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("lingti_projection_metrics_up", "1 if the read models' status could be read.")
        up.add_metric([], 1 if self._status is not None else 0)
        yield up
        if self._status is None:
            return
        families = {
            "events_behind": GaugeMetricFamily("lingti_projection_events_behind",
                                               "Committed events the read model has not applied yet.",
                                               labels=["projection"]),
            "seconds_behind": GaugeMetricFamily("lingti_projection_seconds_behind",
                                                "Age of the oldest event not applied yet (0 when caught up).",
                                                labels=["projection"]),
            "held_back": GaugeMetricFamily("lingti_projection_held_back_events",
                                           "Unapplied events held back by an older open transaction.",
                                           labels=["projection"]),
            "blocker": GaugeMetricFamily("lingti_projection_blocking_transaction_seconds",
                                         "Age of the open transaction holding events back (0 if none).",
                                         labels=["projection"]),
            "position": GaugeMetricFamily("lingti_projection_position",
                                          "Global position of the last event applied.", labels=["projection"]),
            "applied_at": GaugeMetricFamily("lingti_projection_last_applied_timestamp_seconds",
                                            "When the checkpoint last moved (Unix time).", labels=["projection"]),
            "has_leader": GaugeMetricFamily("lingti_projection_has_leader",
                                            "1 while a projector process holds the read model's leadership.",
                                            labels=["projection"]),
        }
        info = GaugeMetricFamily("lingti_projection_leader_info", "The projector process leading the read model.",
                                 labels=["projection", "holder"])
        states = GaugeMetricFamily("lingti_projection_status", "1 for the read model's current status.",
                                   labels=["projection", "status"])
        for s in self._status:
            name = s["name"]
            blocker = s.get("blocker") or {}
            families["events_behind"].add_metric([name], s["events_behind"])
            families["seconds_behind"].add_metric([name], s["seconds_behind"])
            families["held_back"].add_metric([name], s["held_back"])
            families["blocker"].add_metric([name], blocker.get("xact_seconds") or 0)
            families["position"].add_metric([name], s["global_position"])
            families["applied_at"].add_metric([name], datetime.fromisoformat(s["updated_at"]).timestamp())
            families["has_leader"].add_metric([name], 1 if s["leader"] else 0)
            if s["leader"]:
                info.add_metric([name, s["leader"].get("application_name") or str(s["leader"]["pid"])], 1)
            for status in STATUSES:
                states.add_metric([name, status], 1 if s["status"] == status else 0)
        yield from families.values()
        yield info
        yield states


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    try:
        status = await asyncio.wait_for(projection_status(request.app.state.context.pool), SCRAPE_TIMEOUT)
    except Exception:  # noqa: BLE001 - the scrape still answers, with lingti_projection_metrics_up 0
        status = None
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_ProjectionSnapshot(status))
    http: HttpMetrics | None = getattr(request.app.state, "http_metrics", None)
    body = generate_latest(snapshot) + (generate_latest(http.registry) if http is not None else b"")
    return Response(body, media_type=CONTENT_TYPE_LATEST)
