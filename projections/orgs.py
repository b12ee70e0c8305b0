"""The organisation tree (HQ → province → city → branch → group) as registered by admins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.errors import DomainError
from domain.orgs import ORG_KINDS, depth_of, is_valid_path, parent_of
from projections.queries.visibility import in_subtree
from projections.schema import orgs

_IMPORT_CHUNK = 1000


class InvalidOrg(DomainError):
    """The org's path, name or kind is malformed, or its parent is not registered (HTTP 422)."""

    kind = "invalid"


class OrgExists(DomainError):
    """An org with this path is already registered (HTTP 409)."""

    kind = "conflict"


class OrgDirectory:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_org(self, path: str, name: str, kind: str) -> dict[str, Any]:
        """Register one unit; its parent must be registered first unless it is a root (a path without '/')."""
        row = _validated({"path": path, "name": name, "kind": kind})
        async with self._engine.begin() as conn:
            await _require_parents(conn, [row])
            created = (await conn.execute(
                insert(orgs).values(**row).on_conflict_do_nothing().returning(*orgs.c)
            )).mappings().first()
        if created is None:
            raise OrgExists("org.exists", f"org {path} is already registered; choose another path", path=path)
        return dict(created)

    async def get_org(self, path: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(orgs).where(orgs.c.path == path))).mappings().first()
        return dict(row) if row else None

    async def list_orgs(self, under: str | None = None) -> list[dict[str, Any]]:
        """`under` and every unit below it (all units when None), in path order."""
        stmt = select(orgs).order_by(orgs.c.path)
        if under is not None:
            stmt = stmt.where(in_subtree(orgs.c.path, under))
        async with self._engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(stmt)).mappings()]

    async def missing_orgs(self, paths: Iterable[str]) -> list[str]:
        """The given paths that are not registered, in the order given, without repeats."""
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return []
        async with self._engine.connect() as conn:
            known = set((await conn.execute(select(orgs.c.path).where(orgs.c.path.in_(wanted)))).scalars())
        return [p for p in wanted if p not in known]

    async def import_orgs(self, rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Register or update (name, kind) many units in one transaction, parents before children; parents may
        come from the same import. All rows are checked first; InvalidOrg lists every bad row."""
        batch = _validated_batch(rows)
        created = changed = 0
        async with self._engine.begin() as conn:
            await _require_parents(conn, batch)
            for start in range(0, len(batch), _IMPORT_CHUNK):
                stmt = insert(orgs).values(batch[start:start + _IMPORT_CHUNK])
                stmt = stmt.on_conflict_do_update(
                    index_elements=[orgs.c.path],
                    set_={"name": stmt.excluded.name, "kind": stmt.excluded.kind},
                    where=(orgs.c.name != stmt.excluded.name) | (orgs.c.kind != stmt.excluded.kind),
                ).returning(literal_column("xmax = 0").label("inserted"))  # false for an updated row
                inserted = list((await conn.execute(stmt)).scalars())
                created += sum(inserted)
                changed += len(inserted)
        return {"rows": len(batch), "created": created, "updated": changed - created,
                "unchanged": len(batch) - changed}


def _validated(row: Mapping[str, Any]) -> dict[str, Any]:
    path, name, kind = (str(row.get(key) or "").strip() for key in ("path", "name", "kind"))
    if not is_valid_path(path):
        raise InvalidOrg("org.invalid_path", f"org path {path!r} is not like HQ/SX/TY/B017 (segments of letters, "
                         "digits, '_' or '-', at most 8 levels)", field="path")
    if not name or len(name) > 200:
        raise InvalidOrg("org.invalid_name", f"org {path}: name must be 1 to 200 characters", field="name")
    if kind not in ORG_KINDS:
        raise InvalidOrg("org.invalid_kind", f"org {path}: kind {kind!r} is not one of {', '.join(ORG_KINDS)}",
                         field="kind")
    return {"path": path, "name": name, "kind": kind, "parent_path": parent_of(path)}


def _validated_batch(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    batch, problems, seen = [], [], set()
    for number, raw in enumerate(rows, start=1):
        try:
            row = _validated(raw)
        except InvalidOrg as error:
            problems.append(f"row {number}: {error.message}")
            continue
        if row["path"] in seen:
            problems.append(f"row {number}: org {row['path']} appears twice in the import")
        seen.add(row["path"])
        batch.append(row)
    if problems:
        raise InvalidOrg("org.import_invalid",
                         f"{len(problems)} bad rows, nothing imported: " + "; ".join(problems[:20]),
                         problems=problems)
    return sorted(batch, key=lambda r: (depth_of(r["path"]), r["path"]))


async def _require_parents(conn: AsyncConnection, batch: list[dict[str, Any]]) -> None:
    """Every non-root unit's parent is registered or in `batch`; otherwise InvalidOrg naming them."""
    own = {r["path"] for r in batch}
    needed = sorted({r["parent_path"] for r in batch if r["parent_path"] and r["parent_path"] not in own})
    if not needed:
        return
    known = set((await conn.execute(select(orgs.c.path).where(orgs.c.path.in_(needed)))).scalars())
    missing = [p for p in needed if p not in known]
    if missing:
        raise InvalidOrg("org.parent_missing", f"parent units {', '.join(missing[:20])} are not registered; "
                         "register parents before their children", missing=missing)
