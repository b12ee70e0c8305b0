"""The completion bulletin as aligned text for a terminal (`lingti report completion --format table`).

Chinese characters take two terminal columns, so widths are measured in display cells, not characters.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from api.exports.bulletin import BULLETIN_COLUMNS, TOTAL_LABEL, bulletin_title

_NUMERIC = {"claimed", "concluded", "in_progress", "withdrawn", "completion_rate", "units_claimed", "units_total"}


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - display_width(text))
    return gap + text if right else text + gap


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if key == "completion_rate":
        return f"{value * 100:.1f}%"
    return "" if value is None else str(value)


def _table(rows: list[dict[str, Any]], total: dict[str, Any]) -> list[str]:
    keys = [key for _, key, _ in BULLETIN_COLUMNS]
    body = [[_cell(row, key) for key in keys] for row in rows]
    body.append([TOTAL_LABEL, *(_cell(total, key) for key in keys[1:])])
    header = [h for h, _, _ in BULLETIN_COLUMNS]
    widths = [max(display_width(line[i]) for line in [header, *body]) for i in range(len(keys))]
    right = [key in _NUMERIC for key in keys]

    def line(cells: list[str]) -> str:
        return "  ".join(_pad(c, w, r) for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return [line(header), rule, *(line(cells) for cells in body[:-1]), rule, line(body[-1])]


def bulletin_table(bulletin: dict[str, Any], timezone: str) -> str:
    """The title, then one table per level (a row per unit and a 合计 row)."""
    lines = [bulletin_title(bulletin, timezone)]
    for level in bulletin["levels"]:
        lines += ["", f"按{level['label']}", *_table(level["rows"], level["total"])]
    return "\n".join(lines) + "\n"
