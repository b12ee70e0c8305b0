"""The client side of TopicWorkflow: send a command, get the outcome or the domain error that rejected it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain import Actor, Command, DomainError, TopicState
from domain.commands import CURRENT_RULES, ProposeTopic
from domain.policy import ControlPolicy
from domain.errors import IllegalTransition, UnknownItem, error_from_dict
from workflows.contracts import (
    DOMAIN_ERROR, EXECUTE_UPDATE, STATE_QUERY, TOPIC_CATEGORY, TOPIC_ORG, TOPIC_STATE,
    CommandInput, CommandOutcome, TopicWorkflowInput, workflow_id,
)
from workflows.topic import TopicWorkflow

TOPIC_ID_NAMESPACE = uuid.UUID("0b6c8a52-3c0e-4f5e-8d8e-6f0f3b2a9d41")


def new_topic_id(actor: Actor, idempotency_key: str | None) -> str:
    """Derived from the caller and their Idempotency-Key, so a retried proposal finds the same topic."""
    if idempotency_key:
        raw = uuid.uuid5(TOPIC_ID_NAMESPACE, f"{actor.sub}\n{idempotency_key}")
    else:
        raw = uuid.uuid4()
    return f"T-{raw.hex[:12].upper()}"


def update_id(actor: Actor, idempotency_key: str | None) -> str:
    return f"{actor.sub}:{idempotency_key}" if idempotency_key else str(uuid.uuid4())


class TopicGateway:
    def __init__(self, client: Client, task_queue: str, timezone: str = "Asia/Shanghai",
                 linger: timedelta = timedelta(days=7), policy: ControlPolicy | None = None) -> None:
        self._client = client
        self._task_queue = task_queue
        self._timezone = timezone
        self._linger = linger
        self._policy = policy

    async def propose(self, command: ProposeTopic, actor: Actor, idempotency_key: str | None = None,
                      correlation_id: str = "") -> CommandOutcome:
        """点题: update-with-start, so the workflow and its first event come into being together."""
        start = WithStartWorkflowOperation(
            TopicWorkflow.run,
            TopicWorkflowInput(topic_id=command.topic_id, timezone=self._timezone,
                               linger_seconds=int(self._linger.total_seconds()),
                               policy=self._policy.model_dump(mode="json") if self._policy else None,
                               rules=CURRENT_RULES),
            id=workflow_id(command.topic_id), task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(TOPIC_STATE, "proposed"), SearchAttributePair(TOPIC_ORG, command.org),
                SearchAttributePair(TOPIC_CATEGORY, command.category),
            ]),
        )
        request = self._request(command, actor, correlation_id)
        try:
            return await self._client.execute_update_with_start_workflow(
                TopicWorkflow.execute, request, start_workflow_operation=start, id=update_id(actor, idempotency_key),
            )
        except (WorkflowUpdateFailedError, RPCError) as error:
            raise self._translate(error, command.topic_id) from None

    async def execute(self, topic_id: str, command: Command, actor: Actor, idempotency_key: str | None = None,
                      correlation_id: str = "") -> CommandOutcome:
        handle = self._client.get_workflow_handle(workflow_id(topic_id))
        try:
            return await handle.execute_update(
                TopicWorkflow.execute, self._request(command, actor, correlation_id),
                id=update_id(actor, idempotency_key), result_type=CommandOutcome,
            )
        except (WorkflowUpdateFailedError, RPCError) as error:
            raise self._translate(error, topic_id) from None

    async def current_state(self, topic_id: str) -> TopicState | None:
        """The workflow's own, strongly consistent state (None when there is no such topic)."""
        try:
            data = await self._client.get_workflow_handle(workflow_id(topic_id)).query(STATE_QUERY)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return TopicState.model_validate(data)

    @staticmethod
    def _request(command: Command, actor: Actor, correlation_id: str) -> CommandInput:
        return CommandInput(command=command.to_payload(), actor=actor.model_dump(mode="json"),
                            correlation_id=correlation_id)

    @staticmethod
    def _translate(error: Exception, topic_id: str) -> Exception:
        cause = getattr(error, "cause", None)
        if isinstance(cause, ApplicationError) and cause.type == DOMAIN_ERROR and cause.details:
            return error_from_dict(dict(cause.details[0]))
        if isinstance(error, RPCError) and error.status == RPCStatusCode.NOT_FOUND:
            return UnknownItem("topic.unknown", f"there is no topic {topic_id}; list topics with GET /v1/topics",
                               topic_id=topic_id)
        if isinstance(error, RPCError) and error.status == RPCStatusCode.ALREADY_EXISTS:
            return IllegalTransition("topic.closed", f"topic {topic_id} is closed and takes no more commands",
                                     topic_id=topic_id)
        return error
