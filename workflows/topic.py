"""TopicWorkflow: one durable workflow per topic, from 点题 to 结题. Commands arrive as Workflow Updates."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import pydantic

    from activities.contracts import (
        APPEND_EVENTS, RELEASE_REWARD, STREAM_CONFLICT, AppendEventsInput, AppendEventsOutput, EventToAppend,
        RecordedEventData, ReleaseRewardInput, ReleaseRewardOutput,
    )
    from domain import (
        Actor, Command, Context, DomainError, TopicState, command_from_payload, decide, event_from_data, evolve,
    )
    from domain.actors import SYSTEM
    from domain.errors import InvalidCommand
    from domain.commands import RecordRewardOutcome
    from domain.policy import DEFAULT_POLICY, ControlPolicy
    from domain.rewards import pending_releases
    from domain.schedule import due_commands, next_wakeup
    from domain.events import Event
    from domain.state import TERMINAL
    from workflows.contracts import (
        DOMAIN_ERROR, EXECUTE_UPDATE, STATE_QUERY, TOPIC_CATEGORY, TOPIC_ORG, TOPIC_STATE,
        CommandInput, CommandOutcome, TopicWorkflowInput, stream_id,
    )

EVENT_ID_NAMESPACE = uuid.UUID("5b0c3f0e-7f39-4c59-9a55-3d1f0a8c2e11")
MAX_REMEMBERED_ANSWERS = 200
NEVER_PROPOSED = "NeverProposed"
CALENDAR_PATCH = "control-calendar"
# 2026-11: a command that records nothing (e.g. a repeated control meeting) appends nothing; before, the empty batch
# was refused by the store and retried forever, wedging the topic's lock.
EMPTY_BATCH_PATCH = "no-empty-append"  # 2026-11: durable timers for checkpoints, deadlines and escalation
# 2026-11: events are appended by a local activity, in the workflow task that took the command: a command costs one
# workflow task instead of two plus an activity task. Histories recorded before replay the regular activity.
LOCAL_APPEND_PATCH = "local-append"
# Payouts retry until the external system answers: 5xx and timeouts are transient; a 4xx comes back as a result.
RELEASE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
APPEND_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10),
                           non_retryable_error_types=[STREAM_CONFLICT])


def event_id(stream: str, version: int) -> str:
    """Deterministic, so a retried append can only ever write the same event."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{stream}/{version}"))


def rejection(error: DomainError) -> ApplicationError:
    return ApplicationError(error.message, error.as_dict(), type=DOMAIN_ERROR, non_retryable=True)


@workflow.defn(name="TopicWorkflow")
class TopicWorkflow:
    @workflow.init
    def __init__(self, params: TopicWorkflowInput) -> None:
        self._params = params
        self._state = TopicState.model_validate(params.state) if params.state else TopicState()
        self._answered: dict[str, dict[str, Any]] = dict(params.answered)
        self._lock = asyncio.Lock()
        self._policy = ControlPolicy.model_validate(params.policy) if params.policy else DEFAULT_POLICY

    @workflow.run
    async def run(self, params: TopicWorkflowInput) -> dict[str, Any]:
        # Update-with-start starts the workflow even when its first update (the proposal) is rejected:
        # such a run has nothing to hold, so it fails at once and the id may be used again.
        await workflow.wait_condition(lambda: self._state.status != "none" or workflow.all_handlers_finished())
        if self._state.status == "none":
            raise ApplicationError(f"topic {params.topic_id} was never proposed: its proposal was rejected",
                                   type=NEVER_PROPOSED, non_retryable=True)
        if workflow.patched(CALENDAR_PATCH):
            await self._follow_calendar()
        else:  # histories recorded before the control calendar existed
            await workflow.wait_condition(lambda: self._finished() or self._should_continue_as_new())
        if not self._finished():
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(self._carry_over())
        try:
            await workflow.wait_condition(lambda: False, timeout=timedelta(seconds=params.linger_seconds))
        except asyncio.TimeoutError:
            pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state.model_dump(mode="json")

    async def _follow_calendar(self) -> None:
        """Sleep on a durable timer until the next instant the calendar asks something, then do it; a command
        that changes the state wakes the loop early so the next instant is recomputed."""
        while not self._finished() and not self._should_continue_as_new():
            await self._release_rewards()
            if self._finished():
                break
            wake = next_wakeup(self._state, self._policy, self._params.timezone)
            if wake is None or wake > workflow.now():
                version = self._state.version
                try:
                    await workflow.wait_condition(
                        lambda: self._state.version != version or self._finished() or self._should_continue_as_new(),
                        timeout=wake - workflow.now() if wake else None,
                    )
                except asyncio.TimeoutError:
                    pass
            await self._run_due_commands()

    async def _run_due_commands(self) -> None:
        for command in due_commands(self._state, workflow.now(), self._policy, self._params.timezone):
            await self._run_system_command(command, f"schedule:{type(command).__name__}")

    async def _release_rewards(self) -> None:
        """Pay out what was granted, one reward at a time; the activity runs outside the lock so a slow payout
        system never holds up users' commands, and the outcome is recorded like any other command."""
        for reward in pending_releases(self._state):
            outcome = await workflow.execute_activity(
                RELEASE_REWARD,
                ReleaseRewardInput(topic_id=self._params.topic_id, key=reward.key, reason=reward.reason,
                                   amount=reward.amount, unit=reward.unit, org=reward.org, granted_at=workflow.now()),
                result_type=ReleaseRewardOutput, start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=timedelta(seconds=10), retry_policy=RELEASE_RETRY,
            )
            command = RecordRewardOutcome(key=reward.key, released=outcome.released, reference=outcome.reference,
                                          error=outcome.error)
            await self._run_system_command(command, f"reward:{reward.key}")

    async def _run_system_command(self, command: Command, key_prefix: str) -> None:
        async with self._lock:
            request = CommandInput(command=command.to_payload(), actor=SYSTEM.model_dump(mode="json"),
                                   correlation_id="schedule")
            try:
                events = self._decide(request)
            except DomainError as error:  # the calendar asked for something the rules refuse: say so, go on
                workflow.logger.warning("system command refused: %s", error.message)
                return
            if events:
                # If the log turned out to be ahead (see _record), the state moved: the calendar loop looks again.
                await self._record(events, request, f"{key_prefix}:{self._state.version}")

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    @workflow.query(name=STATE_QUERY)
    def state(self) -> dict[str, Any]:
        return self._state.model_dump(mode="json")

    @workflow.update(name=EXECUTE_UPDATE)
    async def execute(self, request: CommandInput) -> CommandOutcome:
        async with self._lock:
            key = workflow.current_update_info().id
            while True:
                if key in self._answered:
                    return CommandOutcome(**self._answered[key])
                try:
                    events = self._decide(request)
                except DomainError as error:
                    raise rejection(error) from None
                if not events and workflow.patched(EMPTY_BATCH_PATCH):
                    break
                if await self._record(events, request, key):
                    break
                # The log was ahead and the state caught up with it: answer from there, or decide again.
            outcome = CommandOutcome(
                topic_id=self._state.topic_id, version=self._state.version,
                state=self._state.model_dump(mode="json"), events=[e.event_type for e in events],
            )
            self._remember(key, outcome)
            return outcome

    @execute.validator
    def validate(self, request: CommandInput) -> None:
        """Reject an illegal command before anything is written to history."""
        if workflow.current_update_info().id in self._answered:
            return
        try:
            self._decide(request)
        except DomainError as error:
            raise rejection(error) from None

    def _decide(self, request: CommandInput) -> list[Event]:
        try:
            command: Command = command_from_payload(request.command)
            actor = Actor.model_validate(request.actor)
        except (pydantic.ValidationError, KeyError) as error:
            raise InvalidCommand("command.malformed", f"the command could not be read: {error}") from None
        ctx = Context(actor=actor, now=workflow.now(), timezone=self._params.timezone, policy=self._policy,
                      rules=self._params.rules)
        return decide(self._state, command, ctx)

    async def _record(self, events: list[Event], request: CommandInput, key: str) -> bool:
        """Append through the activity first; only then does the state move. False if nothing was appended because
        the log already held events past this state (the state has then caught up with them instead)."""
        stream = stream_id(self._params.topic_id)
        info = workflow.info()
        metadata = {
            "actor": request.actor, "correlation_id": request.correlation_id, "causation_id": key,
            "command": request.command.get("type"), "workflow_id": info.workflow_id, "run_id": info.run_id,
        }
        now = workflow.now()
        base = self._state.version
        batch = [
            EventToAppend(event_id=event_id(stream, base + i), event_type=e.event_type, data=e.to_data(),
                          metadata=metadata, occurred_at=now, schema_version=type(e).SCHEMA_VERSION)
            for i, e in enumerate(events, start=1)
        ]
        local = workflow.patched(LOCAL_APPEND_PATCH)
        if local:
            # A local activity, retried in place with the same batch (a no-op once it got through). It runs before
            # its workflow task is recorded: if that task is lost after the append, the command comes back in a new
            # task, is decided again at a later time (other content) and finds the log ahead: it catches up.
            appended = await workflow.execute_local_activity(
                APPEND_EVENTS,
                AppendEventsInput(stream_id=stream, expected_version=base, events=batch, report_ahead=True),
                result_type=AppendEventsOutput, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=APPEND_RETRY,
            )
            if appended.recorded:
                self._catch_up(appended.recorded)
                return False
        else:  # histories recorded before: a regular activity
            await workflow.execute_activity(
                APPEND_EVENTS, AppendEventsInput(stream_id=stream, expected_version=base, events=batch),
                result_type=AppendEventsOutput, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=APPEND_RETRY,
            )
        for e in events:
            self._state = evolve(self._state, e)
        self._publish_search_attributes(only_changes=local)
        return True

    def _catch_up(self, recorded: list[RecordedEventData]) -> None:
        """Evolve the state with events the log holds past it (appended by an attempt whose workflow task was lost),
        and remember each command's answer under its key, so the client retrying it gets that answer."""
        workflow.logger.warning("the log was ahead of the workflow at version %d: catching up with %d event(s)",
                                self._state.version, len(recorded))
        for i, r in enumerate(recorded):
            if r.stream_version != self._state.version + 1:  # cannot happen (no gaps); fail the task, not the topic
                raise RuntimeError(f"the log skips from version {self._state.version} to {r.stream_version}")
            event = event_from_data(r.event_type, r.data)
            self._state = evolve(self._state, event)
            last_of_command = i + 1 == len(recorded) or recorded[i + 1].causation_id != r.causation_id
            if last_of_command and r.causation_id:
                types = [x.event_type for x in recorded if x.causation_id == r.causation_id]
                self._remember(r.causation_id, CommandOutcome(
                    topic_id=self._state.topic_id, version=self._state.version,
                    state=self._state.model_dump(mode="json"), events=types))
        self._publish_search_attributes(only_changes=True)

    def _publish_search_attributes(self, only_changes: bool = False) -> None:
        """Upsert the topic's search attributes; with `only_changes` (the "local-append" path) only those whose value
        changed, and nothing when none did (most commands keep org and category, many keep the state)."""
        s = self._state
        updates = [TOPIC_STATE.value_set(s.status), TOPIC_ORG.value_set(s.org), TOPIC_CATEGORY.value_set(s.category)]
        if only_changes:
            current = workflow.info().typed_search_attributes
            updates = [u for u in updates if current.get(u.key) != u.value]
            if not updates:
                return
        workflow.upsert_search_attributes(updates)

    def _remember(self, key: str, outcome: CommandOutcome) -> None:
        self._answered[key] = {"topic_id": outcome.topic_id, "version": outcome.version,
                               "state": outcome.state, "events": outcome.events}
        while len(self._answered) > MAX_REMEMBERED_ANSWERS:
            self._answered.pop(next(iter(self._answered)))

    def _finished(self) -> bool:
        """Concluded or withdrawn, with every granted reward paid out (a refused one waits for a manager's retry)."""
        return self._state.status in TERMINAL and all(r.status == "released" for r in self._state.rewards)

    def _carry_over(self) -> TopicWorkflowInput:
        return TopicWorkflowInput(
            topic_id=self._params.topic_id, timezone=self._params.timezone, linger_seconds=self._params.linger_seconds,
            policy=self._params.policy, rules=self._params.rules, state=self._state.model_dump(mode="json"),
            answered=self._answered,
        )
