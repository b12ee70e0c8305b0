"""Sending a command to a topic's workflow on behalf of the caller, with their Idempotency-Key and request id."""

from __future__ import annotations

import datetime as dt

import structlog

from api.orgs_check import KnownOrgs
from api.topic_access import TopicAccess
from domain import Actor, Command, Context, decide, initial_state
from domain.commands import ProposeTopic
from workflows.contracts import CommandOutcome
from workflows.gateway import TopicGateway

log = structlog.get_logger(__name__)


class TopicCommands:
    def __init__(self, gateway: TopicGateway, access: TopicAccess, known_orgs: KnownOrgs, actor: Actor,
                 idempotency_key: str | None, request_id: str, timezone: str = "Asia/Shanghai") -> None:
        self._gateway = gateway
        self._access = access
        self._known_orgs = known_orgs
        self._actor = actor
        self._key = idempotency_key
        self._request_id = request_id
        self._timezone = timezone

    async def propose(self, command: ProposeTopic) -> CommandOutcome:
        """点题. The decider runs here first on the empty state: a proposal that can only fail never reaches Temporal
        (where update-with-start would start, and at once fail, a workflow for it)."""
        self._bind(command.topic_id, command)
        now = dt.datetime.now(dt.UTC)
        decide(initial_state, command, Context(actor=self._actor, now=now, timezone=self._timezone))
        await self._known_orgs.require(org=command.org)
        outcome = await self._gateway.propose(command, self._actor, self._key, self._request_id)
        return self._accepted(outcome)

    async def execute(self, topic_id: str, command: Command, **named_orgs: str) -> CommandOutcome:
        """Check the caller may see the topic and that orgs the command names exist; the workflow decides the rest."""
        self._bind(topic_id, command)
        await self._access.visible_topic(topic_id, self._actor)
        await self._known_orgs.require(**named_orgs)
        outcome = await self._gateway.execute(topic_id, command, self._actor, self._key, self._request_id)
        return self._accepted(outcome)

    def _bind(self, topic_id: str, command: Command) -> None:
        structlog.contextvars.bind_contextvars(topic_id=topic_id, command=type(command).__name__,
                                               idempotency_key=self._key)

    @staticmethod
    def _accepted(outcome: CommandOutcome) -> CommandOutcome:
        log.info("command_accepted", version=outcome.version, events=outcome.events)
        return outcome
