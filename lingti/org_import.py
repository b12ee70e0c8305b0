"""Bulk import of organisation units from CSV (`lingti orgs import FILE.csv`).

The whole file is checked before anything is written, and written in one
transaction: a file with one bad row changes nothing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from domain.orgs import ORG_KINDS, is_valid_path, parent_of

REQUIRED_COLUMNS = ("path", "name", "kind")


class OrgImportError(Exception):
    """The file cannot be imported; the message lists every problem with its line number."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class OrgRow:
    line: int
    path: str
    name: str
    kind: str

    @property
    def parent_path(self) -> str | None:
        return parent_of(self.path)


@dataclass(frozen=True)
class ImportCounts:
    inserted: int
    updated: int


def read_org_rows(file: Path) -> list[OrgRow]:
    """Parse and check the rows on their own: columns, path syntax, kind, duplicates."""
    with Path(file).open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise OrgImportError([f"{file}: missing column(s) {', '.join(missing)}; expected header path,name,kind"])
        rows = [
            OrgRow(reader.line_num, (r["path"] or "").strip(), (r["name"] or "").strip(), (r["kind"] or "").strip())
            for r in reader
        ]
    problems = [p for row in rows for p in _row_problems(row)] + _duplicate_problems(rows)
    if problems:
        raise OrgImportError(problems)
    return rows


def check_parents(rows: list[OrgRow], existing_paths: set[str]) -> None:
    """Every parent must already exist or appear on an earlier line of the file."""
    seen = set(existing_paths)
    problems = []
    for row in rows:
        if row.parent_path is not None and row.parent_path not in seen:
            later = next((r.line for r in rows if r.path == row.parent_path and r.line > row.line), None)
            hint = f" (it appears later, on line {later}; list parents first)" if later else ""
            problems.append(f"line {row.line}: parent {row.parent_path} of {row.path} does not exist{hint}")
        seen.add(row.path)
    if problems:
        raise OrgImportError(problems)


async def import_orgs(pool, rows: list[OrgRow]) -> ImportCounts:
    """Check parents against the table, then upsert every row in one transaction."""
    async with pool.acquire() as connection, connection.transaction():
        parents = sorted({r.parent_path for r in rows if r.parent_path})
        existing = await connection.fetch("select path from orgs where path = any($1::text[])", parents)
        check_parents(rows, {record["path"] for record in existing})
        inserted = 0
        for row in rows:
            inserted += await connection.fetchval(
                """
                insert into orgs (path, name, kind, parent_path, created_at)
                values ($1, $2, $3, $4, now())
                on conflict (path) do update
                    set name = excluded.name, kind = excluded.kind, parent_path = excluded.parent_path
                returning (xmax = 0)::int
                """,
                row.path, row.name, row.kind, row.parent_path,
            )  # fmt: skip
    return ImportCounts(inserted=inserted, updated=len(rows) - inserted)


def _row_problems(row: OrgRow) -> list[str]:
    problems = []
    if not is_valid_path(row.path):
        problems.append(f"line {row.line}: path {row.path!r} is not like HQ/SX/TY/B017")
    if not row.name:
        problems.append(f"line {row.line}: name is empty")
    if row.kind not in ORG_KINDS:
        problems.append(f"line {row.line}: kind {row.kind!r} is not one of {', '.join(ORG_KINDS)}")
    return problems


def _duplicate_problems(rows: list[OrgRow]) -> list[str]:
    first_line: dict[str, int] = {}
    problems = []
    for row in rows:
        if row.path in first_line:
            problems.append(f"line {row.line}: {row.path} already appears on line {first_line[row.path]}")
        first_line.setdefault(row.path, row.line)
    return problems
