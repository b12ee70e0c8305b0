"""Upcasters: older shapes of an event turned into the newest one as events are read.

Every event row carries ``schema_version``. An upcaster is registered for one ``(event_type, from_version)`` and
turns that version's ``data`` into version ``from_version + 1``; reading applies the steps in order
(v1 → v2 → v3 …) until no step is registered, so readers only ever see the newest shape. The stored row is never
changed: the log stays append-only and its hash chain stays valid.

An upcast ``RecordedEvent`` keeps the stored row's ``hash`` and ``prev_hash`` but carries the new ``data`` and
``schema_version``, so it no longer matches its hash: hash verification must read with ``raw=True``
(``EventStore.read_stream(..., raw=True)`` / ``read_all(..., raw=True)``).

An upcaster is ``fn(data, metadata) -> data``: a pure function of the old data and the event's metadata (for
defaults derived from who recorded it). It receives its own copy of ``data`` and may change and return it.
The event store knows no event types; the application registers its upcasts into ``upcasters`` (the registry
every ``EventStore`` applies unless given another), see ``projections/upcasts.py``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from eventstore.events import RecordedEvent

Upcaster = Callable[[dict[str, Any], Mapping[str, Any]], dict[str, Any]]


class UpcasterRegistry:
    """Upcasters by ``(event_type, from_version)``."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int, upcaster: Upcaster | None = None) -> Any:
        """Register ``upcaster`` for ``event_type`` at ``from_version``; usable as a decorator without it.

        Registering the same function again is a no-op; another function for the same step is a ValueError.
        """
        if from_version < 1:
            raise ValueError(f"schema versions start at 1, got {from_version}")

        def add(fn: Upcaster) -> Upcaster:
            known = self._steps.get((event_type, from_version))
            if known is not None and known is not fn:
                raise ValueError(f"{event_type} v{from_version} already has an upcaster ({known.__qualname__})")
            self._steps[(event_type, from_version)] = fn
            return fn

        return add(upcaster) if upcaster is not None else add

    def latest_version(self, event_type: str, stored_version: int = 1) -> int:
        """The version an event stored at ``stored_version`` is read as."""
        version = stored_version
        while (event_type, version) in self._steps:
            version += 1
        return version

    def registered(self) -> list[tuple[str, int]]:
        """Every ``(event_type, from_version)`` with an upcaster, sorted."""
        return sorted(self._steps)

    def needs_upcast(self, event_type: str, schema_version: int) -> bool:
        """Whether an event stored at ``schema_version`` is read in another shape."""
        return (event_type, schema_version) in self._steps

    def upcast_data(self, event_type: str, schema_version: int, data: dict[str, Any],
                    metadata: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        """``(data, version)`` in the newest shape, from the stored data (changed in place) and metadata."""
        version = schema_version
        step = self._steps.get((event_type, version))
        while step is not None:
            data = step(data, metadata)
            if not isinstance(data, dict):
                raise TypeError(f"upcaster {step.__qualname__} of {event_type} v{version} returned "
                                f"{type(data).__name__}, not dict")
            version += 1
            step = self._steps.get((event_type, version))
        return data, version

    def upcast(self, event: RecordedEvent) -> RecordedEvent:
        """The event in its newest shape (the same object when nothing applies)."""
        step = self._steps.get((event.event_type, event.schema_version))
        if step is None:
            return event
        data, version = self.upcast_data(event.event_type, event.schema_version, copy.deepcopy(event.data),
                                         event.metadata)
        return dataclasses.replace(event, data=data, schema_version=version)

    def upcast_all(self, events: Iterable[RecordedEvent]) -> list[RecordedEvent]:
        if not self._steps:
            return list(events)
        return [self.upcast(event) for event in events]


upcasters = UpcasterRegistry()
"""The registry every ``EventStore`` applies on read unless it is given another."""
