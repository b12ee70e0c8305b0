"""The audit log as CSV (GET /v1/audit/events with `Accept: text/csv`): UTF-8 with a BOM so Excel shows Chinese,
one header row in Chinese and English, streamed chunk by chunk."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

AUDIT_COLUMNS = (
    "序号 position", "课题 topic_id", "版本 version", "事件 type", "时间 occurred_at", "操作人 actor_sub",
    "姓名 actor_name", "角色 actor_role", "操作人单位 actor_org", "课题单位 topic_org", "认领单位 claim_org",
    "内容 data", "关联ID correlation_id",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is prefixed with ' (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def audit_csv_row(row: dict[str, Any], timezone: str) -> list[Any]:
    actor = row["actor"] or {}
    cells = [
        row["position"], row["topic_id"], row["version"], row["type"],
        row["occurred_at"].astimezone(ZoneInfo(timezone)).isoformat(),
        actor.get("sub", ""), actor.get("name", ""), actor.get("role", ""), actor.get("org", ""),
        row["topic_org"], row["claim_org"] or "",
        json.dumps(row["data"], ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        row["correlation_id"] or "",
    ]
    return [safe_cell(cell) for cell in cells]


def truncation_row(cap: int, cursor: str) -> list[str]:
    note = (f"… 已截断 truncated: only the newest {cap} matching events are listed; narrow from/to, "
            f"or continue with cursor={cursor}")
    return [note] + [""] * (len(AUDIT_COLUMNS) - 1)


async def audit_csv(chunks: AsyncIterator[tuple[list[dict[str, Any]], str | None]], timezone: str,
                    cap: int) -> AsyncIterator[bytes]:
    """Bytes of the CSV: BOM and header, then each chunk of rows; a final note row when the cap cut it short."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> bytes:
        data = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        return data

    writer.writerow(AUDIT_COLUMNS)
    yield "\ufeff".encode() + flush()
    async for rows, cursor in chunks:
        writer.writerows(audit_csv_row(row, timezone) for row in rows)
        if cursor is not None:
            writer.writerow(truncation_row(cap, cursor))
        yield flush()
