"""Audit query rows (GET /v1/audit/events): one event of any topic, with who, when and for which units."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.topics import EventActor


class AuditEvent(BaseModel):
    position: int = Field(description="global position in the log (newest first)")
    topic_id: str
    version: int = Field(description="the event's version in its topic's stream")
    type: str = Field(description="event type, e.g. ClaimConfirmed")
    schema_version: int
    actor: EventActor | None = Field(description="who did it (metadata.actor; org is the unit they acted for)")
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    topic_org: str = Field(description="the unit that set the topic (its TopicProposed org)")
    claim_org: str | None = Field(description="the unit of the latest claim made on the topic by then, if any")
    data: dict[str, Any]
    correlation_id: str | None = None


class AuditPage(BaseModel):
    items: list[AuditEvent]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")
