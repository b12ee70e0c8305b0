"""The organisation tree as paths: HQ/SX/TY/B017 is branch B017 of city TY in province SX."""

from __future__ import annotations

import re

ORG_KINDS = ("hq", "province", "city", "branch", "group", "department")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


def is_valid_path(path: str) -> bool:
    segments = path.split("/")
    return 0 < len(segments) <= 8 and all(_SEGMENT.match(s) for s in segments)


def parent_of(path: str) -> str | None:
    head, sep, _ = path.rpartition("/")
    return head if sep else None


def depth_of(path: str) -> int:
    """HQ is depth 0, a province 1, a city 2, a branch 3, a group 4."""
    return path.count("/")


def contains(ancestor: str, path: str) -> bool:
    """True when `path` is `ancestor` itself or lies in its subtree."""
    return path == ancestor or path.startswith(ancestor + "/")


def ancestor_at_depth(path: str, depth: int) -> str | None:
    segments = path.split("/")
    return "/".join(segments[: depth + 1]) if depth < len(segments) else None
