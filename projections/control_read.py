"""Control read model (季度管控, 分级督办, rewards): per topic its checkpoints, missed deadlines, reminder interviews and
rewards, as rows the board, the overdue report and the rewards report aggregate in SQL.

One projection (`topic_control`) keeps five tables, all rebuilt together:

- `control_topics`: one row per topic: version, title, owning org, the confirmed claim (org, instant), whether it is
  active, concluded or withdrawn (and when), the conclusion reward promised at 点题, the plan's milestone titles.
- `checkpoint_scores`: one row per topic and quarter: status (open, reported, assessed, missed), score (missed = 0,
  reported but unscored = NULL), the claiming unit.
- `control_deadlines`: one row per missed due date (milestone or topic): level and unit it was escalated to, and
  when it was resolved (the milestone reported complete, the conclusion submitted), as the domain resolves it.
- `control_reminders`: one row per 约谈提醒 (two checkpoints missed in a row), keyed by its later quarter.
- `control_rewards`: one row per reward key: amount, unit, status (granted, released, failed) and when.

`control_step` folds one event into a `ControlRecord` (pure); `apply` loads the records of the batch's topics,
folds their unseen events and writes back the header and the child rows that changed, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from domain import event_from_data
from domain import events as ev
from eventstore.events import RecordedEvent
from projections.base import ProjectionError, StreamEvent, topic_streams, unseen


@dataclass(frozen=True, slots=True)
class ControlTopic:
    topic_id: str
    title: str
    org: str
    pending_claim_org: str | None = None
    claim_org: str | None = None
    claimed_at: datetime | None = None
    status: str = "active"  # active | concluded | withdrawn
    ended_at: datetime | None = None
    reward_amount: float | None = None  # 结题激励 promised at 点题 (the latest revision)
    reward_unit: str | None = None
    milestone_titles: tuple[tuple[str, str], ...] = ()  # (key, title) of the latest plan


@dataclass(frozen=True, slots=True)
class CheckpointScore:
    quarter: str
    claim_org: str
    report_due: datetime
    opened_at: datetime
    updated_at: datetime
    status: str = "open"  # open | reported | assessed | missed
    score: float | None = None
    rating: str = ""
    version: int = 0  # the stream version of the event that last changed the row


@dataclass(frozen=True, slots=True)
class DeadlineItem:
    kind: str  # milestone | topic
    key: str
    title: str
    claim_org: str
    due_date: date
    missed_at: datetime
    level: int = 0
    escalated_to: str | None = None
    escalated_at: datetime | None = None
    resolved_at: datetime | None = None
    version: int = 0


@dataclass(frozen=True, slots=True)
class ReminderItem:
    quarter: str  # the later of the two missed quarters
    org: str
    quarters: tuple[str, ...]
    required_at: datetime
    version: int = 0


@dataclass(frozen=True, slots=True)
class RewardItem:
    key: str  # conclusion | milestone:<key>
    reason: str
    org: str
    amount: float
    unit: str
    granted_at: datetime
    status: str = "granted"  # granted (release owed) | released | failed
    released_at: datetime | None = None
    failed_at: datetime | None = None
    reference: str = ""
    error: str = ""
    version: int = 0


@dataclass(frozen=True, slots=True)
class ControlRecord:
    """One topic's control rows; the dicts are never mutated (each step copies the one it changes)."""

    topic: ControlTopic
    checkpoints: dict[str, CheckpointScore] = field(default_factory=dict)
    deadlines: dict[tuple[str, str], DeadlineItem] = field(default_factory=dict)
    reminders: dict[str, ReminderItem] = field(default_factory=dict)
    rewards: dict[str, RewardItem] = field(default_factory=dict)


_CHILDREN = ("checkpoints", "deadlines", "reminders", "rewards")
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _replace(obj: Any, **changes: Any) -> Any:
    """`dataclasses.replace` for the frozen dataclasses here (every field an `__init__` argument, no
    `__post_init__`), about 3x faster: the fold calls it several times per event."""
    cls = type(obj)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
        unknown = set(changes) - set(names)
        if unknown:
            raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
    return cls(*[changes[name] if name in changes else getattr(obj, name) for name in names])


def stamp(before: ControlRecord | None, after: ControlRecord, version: int) -> ControlRecord:
    """`after` with the child rows one event created or changed marked with that event's stream version (so a row's
    version does not depend on how the log was cut into batches)."""
    changes = {}
    for name in _CHILDREN:
        old, new = getattr(before, name) if before else {}, getattr(after, name)
        if old is not new:
            changes[name] = {k: item if old.get(k) is item else _replace(item, version=version)
                             for k, item in new.items()}
    return _replace(after, **changes) if changes else after


def _with(mapping: dict, key: Any, value: Any) -> dict:
    return {**mapping, key: value}


def _resolve(record: ControlRecord, kind: str, key: str, at: datetime) -> ControlRecord:
    """Like `domain.control.resolve_deadline`: the overdue work was reported; a later return does not reopen it."""
    item = record.deadlines.get((kind, key))
    if item is None or item.resolved_at is not None:
        return record
    return _replace(record, deadlines=_with(record.deadlines, (kind, key), _replace(item, resolved_at=at)))


def _checkpoint(record: ControlRecord, quarter: str, at: datetime, **changes: Any) -> ControlRecord:
    item = record.checkpoints.get(quarter)
    if item is None:
        raise ProjectionError(f"topic {record.topic.topic_id}: checkpoint {quarter} changed before it was opened")
    return _replace(record, checkpoints=_with(record.checkpoints, quarter, _replace(item, updated_at=at, **changes)))


def _reward(record: ControlRecord, key: str, **changes: Any) -> ControlRecord:
    item = record.rewards.get(key)
    if item is None:
        raise ProjectionError(f"topic {record.topic.topic_id}: reward {key} changed before it was granted")
    return _replace(record, rewards=_with(record.rewards, key, _replace(item, **changes)))


def _claim_org(record: ControlRecord, event: ev.Event) -> str:
    if record.topic.claim_org is None:
        raise ProjectionError(f"topic {record.topic.topic_id}: {type(event).__name__} before its claim was confirmed")
    return record.topic.claim_org


def control_step(record: ControlRecord | None, event: ev.Event, at: datetime, topic_id: str) -> ControlRecord:
    """The record after one event; `at` is the event's business time (occurred_at)."""
    if isinstance(event, ev.TopicProposed):
        reward = event.reward
        return ControlRecord(ControlTopic(topic_id=topic_id, title=event.title, org=event.org,
                                          reward_amount=reward.amount if reward else None,
                                          reward_unit=reward.unit if reward else None))
    if record is None:
        raise ProjectionError(f"topic {topic_id}: {type(event).__name__} before TopicProposed")
    topic = record.topic
    match event:
        case ev.ProposalRevised(title=title, reward=reward):
            return _replace(record, topic=_replace(topic, title=title, reward_amount=reward.amount if reward else None,
                                                 reward_unit=reward.unit if reward else None))
        case ev.TopicClaimed(org=org):
            return _replace(record, topic=_replace(topic, pending_claim_org=org))
        case ev.ClaimRejected():
            return _replace(record, topic=_replace(topic, pending_claim_org=None))
        case ev.ClaimConfirmed():
            return _replace(record, topic=_replace(topic, claim_org=topic.pending_claim_org, pending_claim_org=None,
                                                 claimed_at=at))
        case ev.PlanSubmitted(milestones=milestones):
            return _replace(record, topic=_replace(topic, milestone_titles=tuple((m.key, m.title) for m in milestones)))
        case ev.CheckpointOpened(quarter=quarter, report_due=due):
            opened = CheckpointScore(quarter=quarter, claim_org=_claim_org(record, event), report_due=due,
                                     opened_at=at, updated_at=at)
            return _replace(record, checkpoints=_with(record.checkpoints, quarter, opened))
        case ev.CheckpointReported(quarter=quarter):
            return _checkpoint(record, quarter, at, status="reported")
        case ev.CheckpointAssessed(quarter=quarter, score=score, rating=rating):
            return _checkpoint(record, quarter, at, status="assessed", score=score, rating=rating)
        case ev.CheckpointMissed(quarter=quarter):
            return _checkpoint(record, quarter, at, status="missed", score=0.0)
        case ev.ReminderInterviewRequired(quarters=quarters, org=org):
            item = ReminderItem(quarter=max(quarters), org=org, quarters=tuple(quarters), required_at=at)
            return _replace(record, reminders=_with(record.reminders, item.quarter, item))
        case ev.DeadlineMissed(kind=kind, key=key, due_date=due, missed_at=missed_at):
            title = dict(topic.milestone_titles).get(key, "") if kind == "milestone" else topic.title
            item = DeadlineItem(kind=kind, key=key, title=title, claim_org=_claim_org(record, event), due_date=due,
                                missed_at=missed_at)
            return _replace(record, deadlines=_with(record.deadlines, (kind, key), item))
        case ev.Escalated(kind=kind, key=key, level=level, to_org=to_org):
            item = record.deadlines.get((kind, key))
            if item is None:
                raise ProjectionError(f"topic {topic_id}: {kind} {key} escalated before it was missed")
            escalated = _replace(item, level=level, escalated_to=to_org, escalated_at=at)
            return _replace(record, deadlines=_with(record.deadlines, (kind, key), escalated))
        case ev.MilestoneCompletionSubmitted(key=key):
            return _resolve(record, "milestone", key, at)
        case ev.ConclusionSubmitted():
            return _resolve(record, "topic", "topic", at)
        case ev.ConclusionApproved() | ev.PostingCompleted():  # ruleset 1 concluded on approval; 2 after 公示
            return _replace(record, topic=_replace(topic, status="concluded", ended_at=at))
        case ev.TopicWithdrawn():
            return _replace(record, topic=_replace(topic, status="withdrawn", ended_at=at))
        case ev.RewardGranted(key=key, reason=reason, amount=amount, unit=unit, org=org):
            item = RewardItem(key=key, reason=reason, org=org, amount=amount, unit=unit, granted_at=at)
            return _replace(record, rewards=_with(record.rewards, key, item))
        case ev.RewardReleased(key=key, reference=reference):
            return _reward(record, key, status="released", released_at=at, reference=reference, error="")
        case ev.RewardReleaseFailed(key=key, error=error):
            return _reward(record, key, status="failed", failed_at=at, error=error)
        case ev.RewardRetryRequested(key=key):
            return _reward(record, key, status="granted")
    return record


# --- storage ---------------------------------------------------------------------------------------------------

_TOPIC_COLUMNS = ("topic_id", "version", "title", "org", "pending_claim_org", "claim_org", "claimed_at", "status",
                  "ended_at", "reward_amount", "reward_unit", "milestone_titles")
_CHECKPOINT_COLUMNS = ("topic_id", "quarter", "version", "claim_org", "status", "score", "rating", "report_due",
                       "opened_at", "updated_at")
_DEADLINE_COLUMNS = ("topic_id", "kind", "key", "version", "title", "claim_org", "due_date", "missed_at", "level",
                     "escalated_to", "escalated_at", "resolved_at")
_REMINDER_COLUMNS = ("topic_id", "quarter", "version", "org", "quarters", "required_at")
_REWARD_COLUMNS = ("topic_id", "key", "version", "reason", "org", "amount", "unit", "status", "granted_at",
                   "released_at", "failed_at", "reference", "error")


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """Insert or update a row, never going back to an older version of its topic."""
    values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE {table}.version < EXCLUDED.version")


_UPSERT_TOPIC = _upsert("control_topics", _TOPIC_COLUMNS, ("topic_id",))
_UPSERT_CHECKPOINT = _upsert("checkpoint_scores", _CHECKPOINT_COLUMNS, ("topic_id", "quarter"))
_UPSERT_DEADLINE = _upsert("control_deadlines", _DEADLINE_COLUMNS, ("topic_id", "kind", "key"))
_UPSERT_REMINDER = _upsert("control_reminders", _REMINDER_COLUMNS, ("topic_id", "quarter"))
_UPSERT_REWARD = _upsert("control_rewards", _REWARD_COLUMNS, ("topic_id", "key"))


def _load(table: str, columns: Sequence[str]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table} WHERE topic_id = ANY($1::text[])"


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _fields(row: asyncpg.Record) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k != "topic_id"}


async def _load_records(conn: asyncpg.Connection, topic_ids: list[str]) -> dict[str, tuple[int, ControlRecord]]:
    """(version, record) of each topic already stored."""
    stored: dict[str, tuple[int, ControlRecord]] = {}
    for row in await conn.fetch(_load("control_topics", _TOPIC_COLUMNS), topic_ids):
        header = {k: v for k, v in dict(row).items() if k != "version"}
        topic = ControlTopic(**{**header,
                                "reward_amount": _float(row["reward_amount"]),
                                "milestone_titles": tuple(tuple(pair) for pair in row["milestone_titles"])})
        stored[row["topic_id"]] = (row["version"], ControlRecord(topic))
    if not stored:
        return stored
    known = list(stored)
    children: dict[str, dict[str, dict]] = {t: {"checkpoints": {}, "deadlines": {}, "reminders": {}, "rewards": {}}
                                            for t in known}
    for row in await conn.fetch(_load("checkpoint_scores", _CHECKPOINT_COLUMNS), known):
        children[row["topic_id"]]["checkpoints"][row["quarter"]] = CheckpointScore(**_fields(row))
    for row in await conn.fetch(_load("control_deadlines", _DEADLINE_COLUMNS), known):
        children[row["topic_id"]]["deadlines"][(row["kind"], row["key"])] = DeadlineItem(**_fields(row))
    for row in await conn.fetch(_load("control_reminders", _REMINDER_COLUMNS), known):
        item = ReminderItem(**{**_fields(row), "quarters": tuple(row["quarters"])})
        children[row["topic_id"]]["reminders"][row["quarter"]] = item
    for row in await conn.fetch(_load("control_rewards", _REWARD_COLUMNS), known):
        children[row["topic_id"]]["rewards"][row["key"]] = RewardItem(**{**_fields(row),
                                                                         "amount": float(row["amount"])})
    for topic_id, (version, record) in stored.items():
        stored[topic_id] = (version, _replace(record, **children[topic_id]))
    return stored


# The events `control_step` has a case for; it returns the record unchanged for every other one.
_STEPPED = frozenset({
    "TopicProposed", "ProposalRevised", "TopicClaimed", "ClaimRejected", "ClaimConfirmed", "PlanSubmitted",
    "CheckpointOpened", "CheckpointReported", "CheckpointAssessed", "CheckpointMissed", "ReminderInterviewRequired",
    "DeadlineMissed", "Escalated", "MilestoneCompletionSubmitted", "ConclusionSubmitted", "ConclusionApproved",
    "PostingCompleted", "TopicWithdrawn", "RewardGranted", "RewardReleased", "RewardReleaseFailed",
    "RewardRetryRequested",
})
_TABLE_OF = {"topics": "control_topics", "checkpoints": "checkpoint_scores", "deadlines": "control_deadlines",
             "reminders": "control_reminders", "rewards": "control_rewards"}


def _changed(before: dict, after: dict) -> list:
    return [item for key, item in after.items() if before.get(key) != item]


class ControlProjection:
    """Checkpoint scores, missed deadlines and escalations, reminder interviews and rewards of every topic."""

    name = "topic_control"
    tables = ("control_topics", "checkpoint_scores", "control_deadlines", "control_reminders", "control_rewards")
    copy_columns = {"control_topics": _TOPIC_COLUMNS, "checkpoint_scores": _CHECKPOINT_COLUMNS,
                    "control_deadlines": _DEADLINE_COLUMNS, "control_reminders": _REMINDER_COLUMNS,
                    "control_rewards": _REWARD_COLUMNS}

    def fold_rows(self, topic_id: str, stream: Sequence[StreamEvent]) -> dict[str, list[tuple]]:
        """The rows of a whole stream (a rebuild), as `apply` writes them for a topic it has not seen. Only the
        events `control_step` acts on are stepped (for any other it returns the record itself). Child rows are
        stamped once at the end with the version of the last event that changed them, which is what stamping
        after every event (`stamp`) leaves."""
        record: ControlRecord | None = None
        changed_by: dict[tuple[str, Any], int] = {}
        for item in stream:
            if item.event_type in _STEPPED or record is None:
                after = control_step(record, item.event, item.occurred_at, topic_id)
                if record is not None and after is not record:
                    for name in _CHILDREN:
                        old, new = getattr(record, name), getattr(after, name)
                        if old is not new:
                            for key, child in new.items():
                                if old.get(key) is not child:
                                    changed_by[(name, key)] = item.stream_version
                record = after
        assert record is not None
        stamped = {name: {key: _replace(child, version=changed_by[(name, key)]) for key, child in
                          getattr(record, name).items()} for name in _CHILDREN if getattr(record, name)}
        if stamped:
            record = _replace(record, **stamped)
        rows: dict[str, list[tuple]] = {"topics": [], "checkpoints": [], "deadlines": [], "reminders": [],
                                        "rewards": []}
        self._collect(rows, topic_id, stream[-1].stream_version, None, record)
        return {table: rows[key] for key, table in _TABLE_OF.items()}

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        streams = topic_streams(events)
        if not streams:
            return
        stored = await _load_records(conn, list(streams))
        rows: dict[str, list[tuple]] = {"topics": [], "checkpoints": [], "deadlines": [], "reminders": [],
                                        "rewards": []}
        for topic_id, stream in streams.items():
            version, before = stored.get(topic_id, (0, None))
            fresh = unseen(stream, version, topic_id, self.name)
            if not fresh:
                continue
            record = before
            for event in fresh:
                after = control_step(record, event_from_data(event.event_type, event.data), event.occurred_at,
                                     topic_id)
                record = stamp(record, after, event.stream_version)
            assert record is not None
            version = fresh[-1].stream_version
            self._collect(rows, topic_id, version, before, record)
        for sql, key in ((_UPSERT_TOPIC, "topics"), (_UPSERT_CHECKPOINT, "checkpoints"),
                         (_UPSERT_DEADLINE, "deadlines"), (_UPSERT_REMINDER, "reminders"),
                         (_UPSERT_REWARD, "rewards")):
            if rows[key]:
                await conn.executemany(sql, rows[key])

    @staticmethod
    def _collect(rows: dict[str, list[tuple]], topic_id: str, version: int, before: ControlRecord | None,
                 after: ControlRecord) -> None:
        t = after.topic
        rows["topics"].append((topic_id, version, t.title, t.org, t.pending_claim_org, t.claim_org, t.claimed_at,
                               t.status, t.ended_at, t.reward_amount, t.reward_unit,
                               [list(pair) for pair in t.milestone_titles]))
        old = before or ControlRecord(t)
        for c in _changed(old.checkpoints, after.checkpoints):
            rows["checkpoints"].append((topic_id, c.quarter, c.version, c.claim_org, c.status, c.score, c.rating,
                                        c.report_due, c.opened_at, c.updated_at))
        for d in _changed(old.deadlines, after.deadlines):
            rows["deadlines"].append((topic_id, d.kind, d.key, d.version, d.title, d.claim_org, d.due_date, d.missed_at,
                                      d.level, d.escalated_to, d.escalated_at, d.resolved_at))
        for r in _changed(old.reminders, after.reminders):
            rows["reminders"].append((topic_id, r.quarter, r.version, r.org, list(r.quarters), r.required_at))
        for w in _changed(old.rewards, after.rewards):
            rows["rewards"].append((topic_id, w.key, w.version, w.reason, w.org, w.amount, w.unit, w.status,
                                    w.granted_at, w.released_at, w.failed_at, w.reference, w.error))
