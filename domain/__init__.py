"""The 领题破题 lifecycle as a pure decider: no I/O, no Temporal, no SQL."""

from domain.actors import Actor
from domain.commands import Command, Context, command_from_payload
from domain.errors import DomainError
from domain.events import Event, event_from_data
from domain.lifecycle import decide, evolve, fold
from domain.state import STATE_LABELS, TopicState, initial_state

__all__ = [
    "Actor", "Command", "Context", "DomainError", "Event", "STATE_LABELS", "TopicState",
    "command_from_payload", "decide", "event_from_data", "evolve", "fold", "initial_state",
]
