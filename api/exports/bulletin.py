"""The completion bulletin (通报) as an Excel workbook (one sheet per level) or one CSV table (a level column).

Both take the dict `CompletionLevels.bulletin` returns; the numbers are written as the JSON report has them
(completion_rate rounded to 4 places, shown as a percentage in Excel).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, time
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from api.exports.audit_csv import safe_cell

TOTAL_LABEL = "合计"
# (header, key, width); 单位 is the unit's name, 单位编码 its org path.
BULLETIN_COLUMNS = (
    ("单位", "name", 30), ("单位编码", "org", 22), ("认领课题数", "claimed", 11), ("已结题", "concluded", 9),
    ("破题中", "in_progress", 9), ("已撤销", "withdrawn", 9), ("结题率", "completion_rate", 9),
    ("认领单位数", "units_claimed", 11), ("单位总数", "units_total", 9),
)
RATE_FORMAT = "0.0%"
_INVALID_SHEET_CHARS = str.maketrans({c: "_" for c in "[]:*?/\\"})
_UNSAFE_IN_FILENAMES = set('/\\:*?"<>|')


def as_of_label(as_of: datetime, timezone: str) -> str:
    """"2025-09-30" for the end of a day (what `as_of=DATE` means), else "2025-09-30 18:00"."""
    local = as_of.astimezone(ZoneInfo(timezone))
    if local.time() == time(23, 59, 59, 999999):
        return local.date().isoformat()
    return local.strftime("%Y-%m-%d %H:%M")


def bulletin_title(bulletin: dict[str, Any], timezone: str) -> str:
    return f"{bulletin['name']}领题破题完成情况通报（截至 {as_of_label(bulletin['as_of'], timezone)}）"


def bulletin_filename(bulletin: dict[str, Any], timezone: str, extension: str) -> tuple[str, str]:
    """(ASCII fallback, the Chinese name) for Content-Disposition or the CLI's default output file."""
    day = as_of_label(bulletin["as_of"], timezone).replace(" ", "_").replace(":", "")
    ascii_name = f"lingti-completion-{bulletin['org'].replace('/', '-')}-{day}.{extension}"
    name = "".join("_" if ch in _UNSAFE_IN_FILENAMES or ord(ch) < 32 else ch for ch in bulletin["name"])[:80]
    return ascii_name, f"{name}-领题破题完成情况-截至{day}.{extension}"


def content_disposition(ascii_name: str, name: str) -> str:
    """`attachment` with an ASCII `filename` and the real one as `filename*` (RFC 5987/6266)."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _values(row: dict[str, Any], label: str | None = None) -> list[Any]:
    values = [row.get(key) for _, key, _ in BULLETIN_COLUMNS]
    if label is not None:
        values[0], values[1] = label, row.get("org")
    return values


def _sheet_names(levels: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for level in levels:
        name = level["label"].translate(_INVALID_SHEET_CHARS)[:28] or f"L{level['depth']}"
        names.append(name if name not in names else f"{name}{level['depth']}")
    return names


def _write_sheet(sheet: Any, heading: str, rows: list[dict[str, Any]], total: dict[str, Any]) -> None:
    width = len(BULLETIN_COLUMNS)
    rate_column = 1 + [key for _, key, _ in BULLETIN_COLUMNS].index("completion_rate")
    sheet.append([heading])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet["A1"].font, sheet["A1"].alignment = Font(bold=True, size=14), Alignment(horizontal="center")
    sheet.append([header for header, _, _ in BULLETIN_COLUMNS])
    for row in rows:
        sheet.append(_values(row))
    sheet.append(_values(total, TOTAL_LABEL))
    rule = Side(style="thin", color="808080")
    header_style = {"font": Font(bold=True), "fill": PatternFill("solid", fgColor="DDEBF7"),
                    "alignment": Alignment(horizontal="center", wrap_text=True), "border": Border(bottom=rule)}
    total_style = {"font": Font(bold=True), "border": Border(top=rule, bottom=rule)}
    last = sheet.max_row
    for number, style in ((2, header_style), (last, total_style)):
        for column in range(1, width + 1):
            for attribute, value in style.items():
                setattr(sheet.cell(number, column), attribute, value)
    for (name_cell, path_cell), (rate_cell,) in zip(
            sheet.iter_rows(min_row=3, max_row=last, max_col=2),
            sheet.iter_rows(min_row=3, max_row=last, min_col=rate_column, max_col=rate_column), strict=True):
        rate_cell.number_format = RATE_FORMAT
        for cell in (name_cell, path_cell):
            if cell.data_type == "f":  # a unit name starting with "=" is text, never a formula
                cell.data_type = "s"
    for index, (_, _, column_width) in enumerate(BULLETIN_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column_width
    sheet.freeze_panes = "C3"


def bulletin_xlsx(bulletin: dict[str, Any], timezone: str) -> bytes:
    """One sheet per level: a title row (org name, 截至 date), Chinese headers, a row per unit, a 合计 row;
    rates formatted '0.0%'."""
    book = Workbook()
    book.remove(book.active)
    title = bulletin_title(bulletin, timezone)
    for level, sheet_name in zip(bulletin["levels"], _sheet_names(bulletin["levels"]), strict=True):
        _write_sheet(book.create_sheet(sheet_name), f"{title} — 按{level['label']}", level["rows"], level["total"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def bulletin_csv(bulletin: dict[str, Any]) -> str:
    """One table: 层级 (the level), then the bulletin's columns; each level's rows end with its 合计 row.
    Prefixed with a BOM so Excel reads it as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["层级", *(header for header, _, _ in BULLETIN_COLUMNS)])
    for level in bulletin["levels"]:
        for row in level["rows"]:
            writer.writerow([safe_cell(v) for v in (level["label"], *_values(row))])
        writer.writerow([safe_cell(v) for v in (level["label"], *_values(level["total"], TOTAL_LABEL))])
    return "\ufeff" + out.getvalue()
