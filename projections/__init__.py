"""Read models built from the event log by the projector, and the queries the API runs on them."""

import projections.upcasts  # noqa: F401 - registers the domain's upcasts before anything reads the log
from projections.base import Projection, ProjectionError
from projections.completion import CompletionProjection
from projections.read_models import default_projections
from projections.rebuild import rebuild
from projections.runner import Projector
from projections.topics import TopicListProjection

__all__ = [
    "CompletionProjection", "Projection", "ProjectionError", "Projector", "TopicListProjection",
    "default_projections", "rebuild",
]
