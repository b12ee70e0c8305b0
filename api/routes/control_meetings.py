"""季度管控会: a manager convenes a control meeting now, opening a quarter's checkpoint on every controlled topic
(claimed, plan_submitted, in_progress) owned or claimed in a unit's subtree, in one request.

The topics come from one read-model query; each gets `OpenCheckpoint` through its own workflow, at most
`FAN_OUT` at a time. Nothing is ever recorded twice: a topic whose checkpoint is open already (by the schedule,
an earlier meeting, or this one before a crash) is counted in already_open, and the per-topic update ids are
derived from the meeting (org, quarter, topic) and the request's Idempotency-Key, so copies of one request in
flight at once share each topic's update (Temporal's dedup) and the decider opens a quarter's checkpoint once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError

from api.deps import CurrentActor, IdempotencyKey, RequestId, ServicesDep, require_role, require_within
from api.errors import ApiError
from api.orgs_check import KnownOrgs
from api.schemas.control import ControlMeetingCreate, ControlMeetingResult, RefusedTopic
from api.schemas.errors import error_responses
from domain import Actor, DomainError
from domain.calendar import quarter_end
from domain.commands import OpenCheckpoint
from domain.orgs import is_valid_path
from domain.policy import DEFAULT_POLICY
from projections.queries.control import controlled_topic_ids
from workflows.gateway import TopicGateway

router = APIRouter(prefix="/v1/control-meetings", tags=["季度管控 control"],
                   responses=error_responses(401, 403, 422, 503))

FAN_OUT = 16  # commands in flight at once: enough to finish hundreds of topics in seconds, gentle on Temporal

log = structlog.get_logger(__name__)


def _invalid(field_name: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field_name), "type": "value_error", "msg": message}])


def topic_key(org: str, quarter: str, topic_id: str, idempotency_key: str | None) -> str:
    """The per-topic idempotency key (the update id is `{actor.sub}:{this}`): the same for the same meeting, so
    two copies of one request in flight at once open a topic's checkpoint through one and the same update."""
    key = f"control-meeting:{org}:{quarter}:{topic_id}"
    return f"{key}:{idempotency_key}" if idempotency_key else key


@dataclass
class _Tally:
    opened: int = 0
    already_open: int = 0
    refused: list[RefusedTopic] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


async def _already_open(gateway: TopicGateway, topic_id: str, quarter: str) -> bool:
    """Whether the topic's own (strongly consistent) state has the quarter's checkpoint already: such topics are
    counted without sending an update. Only a shortcut: the workflow itself treats a repeated OpenCheckpoint as a
    no-op that records nothing (a concurrent opener between this query and the command is therefore harmless)."""
    state = await gateway.current_state(topic_id)
    return state is not None and state.checkpoint(quarter) is not None


async def _fan_out(gateway: TopicGateway, topic_ids: list[str], command: OpenCheckpoint, actor: Actor,
                   keys: dict[str, str], correlation_id: str) -> _Tally:
    tally = _Tally()
    gate = asyncio.Semaphore(FAN_OUT)

    async def open_one(topic_id: str) -> None:
        async with gate:
            try:
                if await _already_open(gateway, topic_id, command.quarter):
                    tally.already_open += 1
                    return
                outcome = await gateway.execute(topic_id, command, actor, keys[topic_id], correlation_id)
            except DomainError as error:
                tally.refused.append(RefusedTopic(topic_id=topic_id, code=error.code, message=error.message))
                return
            except Exception:  # Temporal unreachable, a timeout…: the others go on; the request says so at the end
                log.warning("control_meeting_topic_failed", topic_id=topic_id, exc_info=True)
                tally.failed.append(topic_id)
                return
        if outcome.events:
            tally.opened += 1
        else:
            tally.already_open += 1

    await asyncio.gather(*(open_one(topic_id) for topic_id in topic_ids))
    tally.refused.sort(key=lambda r: r.topic_id)
    tally.failed.sort()
    return tally


@router.post("", response_model=ControlMeetingResult)
async def convene_control_meeting(body: ControlMeetingCreate, actor: CurrentActor, services: ServicesDep,
                                  request_id: RequestId,
                                  idempotency_key: IdempotencyKey = None) -> ControlMeetingResult:
    """Manager: open `quarter`'s checkpoint now on every claimed, plan_submitted and in_progress topic owned by
    `org`'s subtree or claimed by a unit in it (`org` within yours). Topics whose checkpoint is open already are
    counted in already_open; topics the rules refuse (e.g. owned by a unit above you) are listed in refused.
    Repeat with the same Idempotency-Key after a failure: nothing is opened twice."""
    require_role(actor, "convening a control meeting (季度管控会)", "manager")
    if not is_valid_path(body.org):
        raise _invalid("org", f"org {body.org[:60]!r} is not a path like HQ/SX/TY/B017")
    require_within(actor, body.org, "convening a control meeting")
    await KnownOrgs(services.orgs).require(org=body.org)
    context = services.context
    report_due = body.report_due or quarter_end(body.quarter, context.timezone) + (
        context.policy or DEFAULT_POLICY).report_window
    zone = ZoneInfo(context.timezone)
    report_due = report_due.replace(tzinfo=zone) if report_due.tzinfo is None else report_due.astimezone(zone)
    if report_due <= dt.datetime.now(dt.UTC):
        raise _invalid("report_due", f"report_due {report_due.isoformat()} has passed; reports must be due after "
                       "the meeting (give report_due explicitly for a quarter whose report window is over)")
    structlog.contextvars.bind_contextvars(org=body.org, quarter=body.quarter, idempotency_key=idempotency_key)

    started = time.perf_counter()
    topic_ids = await controlled_topic_ids(context.engine, body.org)
    keys = {topic_id: topic_key(body.org, body.quarter, topic_id, idempotency_key) for topic_id in topic_ids}
    command = OpenCheckpoint(quarter=body.quarter, report_due=report_due)
    tally = await _fan_out(services.gateway, topic_ids, command, actor, keys, request_id)

    counts = {"topics": len(topic_ids), "opened": tally.opened, "already_open": tally.already_open,
              "refused": len(tally.refused), "failed": len(tally.failed)}
    log.info("control_meeting", report_due=report_due.isoformat(), **counts,
             duration_ms=round((time.perf_counter() - started) * 1000))
    if tally.failed:
        raise ApiError(503, "control_meeting.incomplete",
                       f"{len(tally.failed)} of {len(topic_ids)} topics could not be reached; repeat the request "
                       "with the same Idempotency-Key: checkpoints already opened are not opened twice",
                       failed=tally.failed, **{k: v for k, v in counts.items() if k != "failed"})
    return ControlMeetingResult(org=body.org, quarter=body.quarter, report_due=report_due, topics=len(topic_ids),
                                opened=tally.opened, already_open=tally.already_open, refused=tally.refused)
