"""The domain's event upcasts, registered into the event store's default registry.

Every read model and the history endpoint read through `EventStore.read_all`/`read_stream`, which apply
`eventstore.upcasting.upcasters`; importing `projections` (which everything that reads does) registers these.

| event | stored | read as | change |
|---|---|---|---|
| `TopicClaimed` | 1 | 2 | gains `claimant_name`: the recording actor's name when that actor is the claimant, else "" |

To evolve an event: bump its `SCHEMA_VERSION` in `domain/events.py`, write `<event>_v<n>_to_v<n+1>(data, metadata)`
next to it, add it to `DOMAIN_UPCASTS`, and test it on a stored row of the old shape. `register_domain_upcasts`
refuses an event class whose version has no complete chain of upcasts.
"""

from __future__ import annotations

from domain import events as ev
from eventstore.upcasting import Upcaster, UpcasterRegistry, upcasters

DOMAIN_UPCASTS: dict[tuple[str, int], Upcaster] = {
    ("TopicClaimed", 1): ev.topic_claimed_v1_to_v2,
}


def register_domain_upcasts(registry: UpcasterRegistry = upcasters) -> UpcasterRegistry:
    """Register every domain upcast (idempotent) and check each event class is reachable from version 1."""
    for (event_type, from_version), upcaster in DOMAIN_UPCASTS.items():
        registry.register(event_type, from_version, upcaster)
    for name, cls in ev.EVENT_TYPES.items():
        if registry.latest_version(name) != cls.SCHEMA_VERSION:
            raise RuntimeError(f"{name}: SCHEMA_VERSION is {cls.SCHEMA_VERSION} but its upcasts lead from v1 to "
                               f"v{registry.latest_version(name)}")
    return registry


register_domain_upcasts()
