"""Commands that name an org path (the topic's org, the claiming unit) must name a registered unit."""

from __future__ import annotations

from api.errors import ApiError
from projections.orgs import OrgDirectory


class KnownOrgs:
    def __init__(self, orgs: OrgDirectory) -> None:
        self._orgs = orgs

    async def require(self, **paths: str) -> None:
        """`field=path` pairs; a 422 `org.unknown` naming the first unregistered one and how to register it."""
        missing = set(await self._orgs.missing_orgs(paths.values()))
        for field, path in paths.items():
            if path in missing:
                raise ApiError(422, "org.unknown",
                               f"{field} {path!r} is not a registered organisation unit; an admin registers it "
                               "with POST /v1/orgs {path, name, kind} (or `lingti orgs import FILE.csv`)",
                               field=field, path=path)
