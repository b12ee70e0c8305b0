"""Audit queries over the event log: who did what, when, across all topics (auditors and managers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse

from api.deps import Context, CurrentActor, require_role
from api.errors import ApiError
from api.exports.audit_csv import audit_csv
from api.routes.reports import invalid, parse_instant, subtree_root
from api.schemas.audit import AuditEvent, AuditPage
from api.schemas.errors import error_responses
from domain.events import EVENT_TYPES
from projections.queries import audit as audit_queries
from projections.queries.audit import MAX_PAGE, AuditFilter, AuditQueries, decode_audit_cursor
from projections.queries.cursor import InvalidCursor

router = APIRouter(prefix="/v1/audit", tags=["audit"])

AUDIT_ROLES = ("auditor", "manager")
CSV_FILENAME = "lingti-audit-events.csv"


def _types(values: list[str] | None) -> list[str]:
    types = [t.strip() for value in values or () for t in value.split(",") if t.strip()]
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise invalid("type", f"unknown event types {unknown}; event types are {', '.join(EVENT_TYPES)}")
    return types


@router.get("/events", response_model=AuditPage, responses={
    200: {"content": {"text/csv": {}}, "description": "a page as JSON, or with Accept: text/csv every matching "
          "event (up to 100,000) as CSV"}, **error_responses(401, 403, 422)})
async def audit_events(
    actor: CurrentActor, context: Context,
    actor_sub: Annotated[str | None, Query(alias="actor", max_length=200, description="the actor's sub")] = None,
    org: Annotated[str | None, Query(max_length=400, description="events of topics set or claimed within this "
                                     "subtree; defaults to yours")] = None,
    types: Annotated[list[str] | None, Query(alias="type", description="event types (repeat or comma-separate), "
                                             "e.g. ClaimConfirmed,ConclusionApproved")] = None,
    since: Annotated[str | None, Query(alias="from", description="occurred at or after: a date (its start) "
                                       "or a datetime")] = None,
    until: Annotated[str | None, Query(alias="to", description="occurred at or before: a date (its end) "
                                       "or a datetime")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response | AuditPage:
    """Every event of the topics within a subtree, newest first (by log position), with who did it, when, and
    its data; keyset-paged (`next_cursor`). An event belongs to its topic's org (the unit that set it) and, from
    its first claim on, to the unit of the latest claim made by then. Auditors and managers only, within their
    own subtree.

    With `Accept: text/csv` the answer is CSV (UTF-8 with BOM, Chinese and English headers) of *every* matching
    event from `cursor` on, newest first, ignoring `limit`, up to 100,000 rows; if more match, the last line says
    so and gives the cursor to continue from."""
    require_role(actor, "reading the audit log", *AUDIT_ROLES)
    scope = subtree_root(actor, org, "the audit log")
    tz = context.timezone
    query = AuditFilter(
        scope=scope, actor=actor_sub or None, types=_types(types),
        since=parse_instant(since, tz, "from", end=False) if since else None,
        until=parse_instant(until, tz, "to") if until else None,
    )
    queries = AuditQueries(context.engine)
    try:
        if accept and "text/csv" in accept.lower():
            if cursor:
                decode_audit_cursor(cursor)
            cap = audit_queries.CSV_CAP
            return StreamingResponse(
                audit_csv(queries.stream(query, cursor=cursor, cap=cap), tz, cap),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{CSV_FILENAME}"', "Vary": "Accept"})
        rows, next_cursor = await queries.page(query, limit=limit, cursor=cursor)
    except InvalidCursor as error:
        raise ApiError(422, "cursor.invalid", str(error)) from None
    return AuditPage(items=[AuditEvent.model_validate(r) for r in rows], next_cursor=next_cursor)
