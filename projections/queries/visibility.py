"""Who sees which topic: the viewer's subtree, claims made within it, and published topics set above it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_

from domain.orgs import contains
from domain.state import PUBLISHED
from projections.schema import topics


def in_subtree(path: ColumnElement[Any], ancestor: str | ColumnElement[Any]) -> ColumnElement[bool]:
    """`path` is `ancestor` or lies below it. No LIKE: `_` is a valid path character."""
    prefix = literal(ancestor + "/") if isinstance(ancestor, str) else ancestor.concat("/")
    return or_(path == ancestor, func.starts_with(path, prefix))


def visible_to(viewer_org: str) -> ColumnElement[bool]:
    """SQL twin of `topic_visible_to`."""
    return or_(
        in_subtree(topics.c.org, viewer_org),
        in_subtree(topics.c.claimed_by, viewer_org),
        and_(topics.c.status.in_(sorted(PUBLISHED)), in_subtree(literal(viewer_org), topics.c.org)),
    )


def topic_visible_to(topic: Mapping[str, Any], viewer_org: str) -> bool:
    """For a row of `list_topics`/`get_topic` (keys org, claimed_by, state)."""
    claimed_by = topic.get("claimed_by")
    return (
        contains(viewer_org, topic["org"])
        or (claimed_by is not None and contains(viewer_org, claimed_by))
        or (topic["state"] in PUBLISHED and contains(topic["org"], viewer_org))
    )
