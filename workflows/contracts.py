"""What crosses the boundary between the API and a TopicWorkflow: plain, JSON-friendly dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio.common import SearchAttributeKey

EXECUTE_UPDATE = "execute"
STATE_QUERY = "state"
DOMAIN_ERROR = "DomainError"

TOPIC_STATE = SearchAttributeKey.for_keyword("TopicState")
TOPIC_ORG = SearchAttributeKey.for_keyword("TopicOrg")
TOPIC_CATEGORY = SearchAttributeKey.for_keyword("TopicCategory")
SEARCH_ATTRIBUTES = (TOPIC_STATE, TOPIC_ORG, TOPIC_CATEGORY)


def workflow_id(topic_id: str) -> str:
    return f"topic-{topic_id}"


def stream_id(topic_id: str) -> str:
    return f"topic-{topic_id}"


@dataclass
class TopicWorkflowInput:
    topic_id: str
    timezone: str = "Asia/Shanghai"
    # How long a concluded or withdrawn topic keeps answering retried commands before its workflow closes.
    linger_seconds: int = 7 * 24 * 3600
    policy: dict[str, Any] | None = None  # domain.policy.ControlPolicy as JSON; None = the defaults
    rules: int = 1  # domain ruleset (domain.commands.Context.rules); histories started without it are ruleset 1
    # Carried over by continue-as-new:
    state: dict[str, Any] | None = None
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class CommandInput:
    command: dict[str, Any]  # domain.Command.to_payload()
    actor: dict[str, Any]  # domain.Actor.model_dump()
    correlation_id: str = ""


@dataclass
class CommandOutcome:
    topic_id: str
    version: int
    state: dict[str, Any]  # domain.TopicState.model_dump(mode="json")
    events: list[str]  # event types recorded by this command
