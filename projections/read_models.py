"""The read models the projector keeps by default."""

from __future__ import annotations

from projections.base import Projection
from projections.completion import CompletionProjection
from projections.control_read import ControlProjection
from projections.topics import TopicListProjection


def default_projections() -> list[Projection]:
    return [TopicListProjection(), CompletionProjection(), ControlProjection()]
