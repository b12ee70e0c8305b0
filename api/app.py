"""The FastAPI app. The composition root passes `open_context`; the lifespan keeps what it opens on app.state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from api.context import ApiContext
from api.correlation import CorrelationMiddleware
from api.errors import install_error_handlers
from api.routes import audit, breaking, claiming, concluding, health, orgs, reports, setting, topics
from api.routes import metrics
from api.routes import checkpoints, control_meetings
from api.routes import control_reports, rewards
from api.services import Services

DESCRIPTION = """\
领题破题: every topic's lifecycle 点题 → 领题 → 破题 → 结题 as a durable workflow.

Every request needs `Authorization: Bearer <JWT>` (HS256; claims sub, role, org, name, exp; mint one with
`lingti token`) except /v1/health. Every POST honours an `Idempotency-Key` header: the same key returns the
same answer and records nothing twice. Errors all look like `{"error": {"code", "message", "details"}}`.
"""


def create_app(open_context: Callable[[], AbstractAsyncContextManager[ApiContext]]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_context() as context:
            services = Services.build(context)
            app.state.context = context
            app.state.gateway = services.gateway
            app.state.services = services
            yield

    app = FastAPI(title="Lingti 领题", version="1", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(CorrelationMiddleware)
    for module in (health, orgs, topics, setting, claiming, breaking, concluding, reports, audit):
        app.include_router(module.router)
    app.include_router(checkpoints.router)
    app.include_router(control_meetings.router)
    app.include_router(control_reports.router)
    app.include_router(rewards.router)
    metrics.install(app)  # GET /metrics and per-route request counts
    return app
