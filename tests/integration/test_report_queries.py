"""The report queries' SQL against a plain-Python oracle, on read-model rows written straight into the tables.

The queries read a subtree as a byte range of `COLLATE "C"` paths (`_IN_SUBTREE` in projections/queries/completion.py)
and aggregate per claiming unit before grouping; the org tree here is chosen to sit on every edge of those ranges:
siblings that sort between a unit and its children (`HQ/SX-2` lies between `HQ/SX` and `HQ/SX/…`), the path just
past a subtree's range (`HQ/SX0`), a child named `0`, units nobody registered, another root (`HQ-2`). The oracle
below states each report's rules in a few lines of Python over the same rows; every report of every unit must equal
it, as of several instants.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from projections.queries.board import LEVEL_DEPTHS, LABELS, CheckpointBoard, board_colors, color_of
from projections.queries.completion import OWN_LEVEL, UNIT_KINDS, CompletionReports, end_of_day
from projections.queries.levels import CompletionLevels
from projections.queries.trend import CompletionTrend

TZ = ZoneInfo("Asia/Shanghai")
ORGS = [  # (path, name, kind), parents first
    ("HQ", "集团公司", "hq"),
    ("HQ-2", "另一集团", "hq"),
    ("HQ/SX", "山西省分公司", "province"),
    ("HQ/SX-2", "山西二分公司", "province"),
    ("HQ/SX_B", "山西B分公司", "province"),
    ("HQ/SXA", "山西A分公司", "province"),
    ("HQ/SX/TY", "太原市分公司", "city"),
    ("HQ/SX/TY-2", "太原二分公司", "city"),
    ("HQ/SX/0", "零号市分公司", "city"),
    ("HQ/SX/TY/B1", "迎泽党支部", "branch"),
    ("HQ/SX/TY/B1/G1", "迎泽第一党小组", "group"),
    ("HQ/SX/TY/B1-1", "迎泽一党支部", "branch"),
    ("HQ/SX/TY/B2", "杏花岭党支部", "branch"),
    ("HQ/SX/TY/D1", "办公室", "department"),
    ("HQ/SX/TY-2/B1", "太原二第一党支部", "branch"),
    ("HQ/SX/0/B1", "零号第一党支部", "branch"),
    ("HQ/SX-2/C1", "二市分公司", "city"),
    ("HQ/SX-2/C1/B1", "二市党支部", "branch"),
    ("HQ/SXA/C1", "A市分公司", "city"),
    ("HQ/SXA/C1/B1", "A市党支部", "branch"),
    ("HQ-2/P1", "另一省", "province"),
    ("HQ-2/P1/C1", "另一市", "city"),
    ("HQ-2/P1/C1/B1", "另一党支部", "branch"),
]
UNREGISTERED = ["HQ/SX/NEW/B9", "HQ/SX/TY/B9", "HQ/SX0", "HQ/SX0/C1/B1", "HQ/ZZ/C1/B1", "HQ/SX/TY/B1/G2",
                "HQ-3/P1/C1/B1"]
CLAIMANTS = [path for path, _, _ in ORGS] + UNREGISTERED
CATEGORIES = ["经营管理", "服务质量", "财务管理"]
QUARTERS = ["2025Q1", "2025Q2", "2025Q3"]
START = datetime(2025, 1, 1, 9, tzinfo=TZ)
AS_OF = [START - timedelta(days=1), datetime(2025, 3, 31, 23, 59, 59, 999999, tzinfo=TZ),
         datetime(2025, 6, 15, 12, tzinfo=TZ), datetime(2026, 6, 1, tzinfo=TZ)]
NAMES = {path: name for path, name, _ in ORGS}
KINDS = {path: kind for path, _, kind in ORGS}


def within(path: str, org: str) -> bool:
    return path == org or path.startswith(org + "/")


@pytest.fixture(scope="module")
def rows() -> dict[str, list[tuple]]:
    rng = random.Random(20250101)
    completion, scores = [], []
    for i in range(900):
        topic_id = f"T-{i:05d}"
        claim_org = rng.choice(CLAIMANTS)
        claimed_at = None if rng.random() < 0.1 else START + timedelta(days=rng.uniform(0, 300))
        concluded_at = withdrawn_at = None
        if claimed_at and rng.random() < 0.45:
            concluded_at = claimed_at + timedelta(days=rng.uniform(1, 200))
        elif claimed_at and rng.random() < 0.2:
            withdrawn_at = claimed_at + timedelta(days=rng.uniform(1, 150))
        completion.append((topic_id, 5, rng.choice(CATEGORIES), claim_org.split("/")[0], None,
                           claim_org if claimed_at else None, claimed_at, concluded_at, withdrawn_at))
        if claimed_at is None:
            continue
        for quarter in QUARTERS:
            if rng.random() < 0.7:
                status = rng.choice(["assessed", "assessed", "assessed", "missed", "reported", "open"])
                score = (rng.choice([60, 75, 80, 85.5, 90, 92.5, 100, 71.3]) if status == "assessed"
                         else 0.0 if status == "missed" else None)
                scores.append((topic_id, quarter, 3, claim_org, status, score, "", START, START, START))
    return {"completion": completion, "scores": scores}


@pytest.fixture
async def loaded(database_url: str, rows: dict[str, list[tuple]]) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany("INSERT INTO orgs (path, name, kind, parent_path) VALUES ($1, $2, $3, $4)",
                               [(p, n, k, p.rpartition("/")[0] or None) for p, n, k in ORGS])
        await conn.copy_records_to_table("topic_completion", records=rows["completion"], columns=[
            "topic_id", "version", "category", "org", "pending_claim_org", "claim_org", "claimed_at", "concluded_at",
            "withdrawn_at"])
        await conn.copy_records_to_table("checkpoint_scores", records=rows["scores"], columns=[
            "topic_id", "quarter", "version", "claim_org", "status", "score", "rating", "report_due", "opened_at",
            "updated_at"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return database_url


# --- the oracle ---------------------------------------------------------------------------------------------------


def _counts(claims: list[tuple], as_of: datetime) -> dict[str, int]:
    """claims: (claim_org, concluded_at, withdrawn_at) of the claims confirmed by as_of."""
    counted = [c for c in claims if not (c[2] is not None and c[2] <= as_of)]
    concluded = sum(1 for c in counted if c[1] is not None and c[1] <= as_of)
    return {"claimed": len(counted), "concluded": concluded, "in_progress": len(counted) - concluded,
            "withdrawn": len(claims) - len(counted),
            "completion_rate": round(concluded / len(counted), 4) if counted else 0.0,
            "units_claimed": len({c[0] for c in counted})}


def _units(org: str, own_only: bool = False) -> int:
    return sum(1 for path, _, kind in ORGS if kind in UNIT_KINDS
               and (path == org if own_only else within(path, org)))


def expected_report(rows: list[tuple], org: str, as_of: datetime, group_by: str) -> dict[str, Any]:
    scoped = [(r[5], r[7], r[8], r[2]) for r in rows if r[6] is not None and r[6] <= as_of and within(r[5], org)]
    groups: dict[str, list[tuple]] = defaultdict(list)
    if group_by == "child":
        for path, _, _ in ORGS:
            if path.rpartition("/")[0] == org:
                groups[path]
        for claim in scoped:
            key = org if claim[0] == org else org + "/" + claim[0][len(org) + 1:].split("/")[0]
            groups[key].append(claim)
        out = []
        for key in sorted(groups, key=lambda k: (k != org, k)):
            name = OWN_LEVEL if key == org else NAMES.get(key)
            out.append({"org": key, "name": name, **_counts(groups[key], as_of),
                        "units_total": _units(key, own_only=key == org)})
    else:
        for claim in scoped:
            groups[claim[3]].append(claim)
        out = [{"category": key, **_counts(groups[key], as_of), "units_total": _units(org)} for key in sorted(groups)]
    name = NAMES.get(org) if group_by == "child" else None  # a category report's total carries no name
    total = {"org": org, "name": name, **_counts(scoped, as_of), "units_total": _units(org)}
    return {"org": org, "as_of": as_of, "group_by": group_by, "rows": out, "total": total}


def _round2(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def expected_board(scores: list[tuple], org: str, quarter: str, level: str) -> list[dict[str, Any]]:
    depth = LEVEL_DEPTHS[level]
    units: dict[str, dict[str, Any]] = {}
    for topic_id, q, _, claim_org, status, score, *_ in scores:
        if q != quarter or not within(claim_org, org) or claim_org.count("/") < depth:
            continue
        unit = units.setdefault("/".join(claim_org.split("/")[:depth + 1]),
                                {"topics": set(), "scores": [], "missed": 0})
        unit["topics"].add(topic_id)
        if status in ("assessed", "missed"):
            unit["scores"].append(Decimal(str(score)))
            unit["missed"] += status == "missed"
    ranked = sorted(
        ((path, u) for path, u in units.items() if u["scores"]),
        key=lambda pu: (-_round2(sum(pu[1]["scores"]) / len(pu[1]["scores"])), pu[1]["missed"],
                        NAMES.get(pu[0], pu[0]).encode(), pu[0].encode()))
    n = len(ranked)
    red, blue = board_colors(n, 0.2, 0.2)
    out = []
    for rank, (path, u) in enumerate(ranked, start=1):
        color = color_of(rank, n, red, blue)
        out.append({"rank": rank, "org": path, "name": NAMES.get(path, path), "topics": len(u["topics"]),
                    "checkpoints": len(u["scores"]), "average_score": _round2(sum(u["scores"]) / len(u["scores"])),
                    "missed": u["missed"], "color": color, "label": LABELS[color]})
    return out


# --- the tests ----------------------------------------------------------------------------------------------------

VIEWPOINTS = ["HQ", "HQ-2", "HQ-3", "HQ/SX", "HQ/SX-2", "HQ/SXA", "HQ/SX/TY", "HQ/SX/TY/B1", "HQ/SX/0", "HQ/SX/NEW",
              "HQ/SX0", "HQ/NOBODY"]


@pytest.fixture(params=["engine", "pool"])
def via_pool(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> asyncpg.Pool | None:
    """The queries run on the SQLAlchemy engine (tests, CLI) or on the API's asyncpg pool (statement.py)."""
    return pool if request.param == "pool" else None


async def test_completion_reports_equal_the_oracle_on_every_edge_of_the_path_ranges(loaded, engine, via_pool, rows):
    reports = CompletionReports(engine, via_pool)
    for org in VIEWPOINTS:
        for as_of in AS_OF:
            for group_by in ("child", "category"):
                got = await reports.completion_report(org, as_of, group_by, coverage=True)
                assert got == expected_report(rows["completion"], org, as_of, group_by), (org, as_of, group_by)


async def test_boards_equal_the_oracle_at_every_level(loaded, engine, via_pool, rows):
    board = CheckpointBoard(engine, via_pool)
    for org in ["HQ", "HQ-2", "HQ/SX", "HQ/SX-2", "HQ/SXA", "HQ/SX/TY", "HQ/SX/0", "HQ/SX0", "HQ/NOBODY"]:
        for quarter in [*QUARTERS, "2030Q1"]:
            for level, depth in LEVEL_DEPTHS.items():
                if depth < org.count("/"):
                    continue
                got = await board.board(org, quarter, level)
                assert got["rows"] == expected_board(rows["scores"], org, quarter, level), (org, quarter, level)
                assert got["units"] == len(got["rows"])


async def test_bulletin_levels_and_trend_points_add_up_to_the_report(loaded, engine, rows):
    reports, levels, trend = CompletionReports(engine), CompletionLevels(engine), CompletionTrend(engine)
    counts = ("claimed", "concluded", "withdrawn", "units_claimed", "units_total")
    for org in ["HQ", "HQ/SX", "HQ/SX/TY", "HQ/SX-2", "HQ/SX0", "HQ/NOBODY"]:
        for as_of in AS_OF:
            total = expected_report(rows["completion"], org, as_of, "child")["total"]
            bulletin = await levels.bulletin(org, as_of)
            assert bulletin["total"] == total
            for level in bulletin["levels"]:
                for key in counts:
                    assert sum(row[key] for row in level["rows"]) == total[key], (org, as_of, level["depth"], key)
        points = (await trend.trend(org, date(2025, 1, 1), date(2025, 12, 31), "quarter"))["points"]
        for point in points:
            total = (await reports.completion_report(org, point["at"], coverage=True))["total"]
            assert {k: point[k] for k in counts} == {k: total[k] for k in counts}, (org, point["period"])
        assert points[-1]["at"] == end_of_day(date(2025, 12, 31))
