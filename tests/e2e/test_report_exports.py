"""The completion bulletin (通报) as XLSX and CSV over HTTP, and from `lingti report completion`: it opens with
openpyxl and every number in it equals the JSON completion report."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from typing import Any
from urllib.parse import quote

import openpyxl
import pytest

from domain.orgs import parent_of
from tests.e2e.stack import Stack, bearer
from tests.integration.test_reports_asof import COUNTS, numbers, seed_year

AUDITOR = bearer("auditor", "HQ", "auditor")
HEADERS = ["单位", "单位编码", "认领课题数", "已结题", "破题中", "已撤销", "结题率", "认领单位数", "单位总数"]
KEYS = list(COUNTS)  # claimed, concluded, in_progress, withdrawn, completion_rate, units_claimed, units_total
AS_OF = "2025-09-30"


async def get(stack: Stack, path: str, who: dict[str, str] = AUDITOR) -> Any:
    response = await stack.as_(who, "GET", path)
    assert response.status_code == 200, response.text
    return response


class JsonReports:
    """The JSON completion report of any unit as of AS_OF, fetched once each."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.cache = stack, {}

    async def of(self, org: str) -> dict[str, Any]:
        if org not in self.cache:
            self.cache[org] = (await get(self.stack, f"/v1/reports/completion?org={org}&as_of={AS_OF}")).json()
        return self.cache[org]

    async def row(self, path: str, own: bool) -> dict[str, Any]:
        """A unit's numbers: its row in its parent's report, or for "(本级)" the own row of its own report
        (which has none when the unit claimed nothing itself: then it only counts as one unit)."""
        report = await self.of(path if own else parent_of(path))
        row = next((r for r in report["rows"] if r["org"] == path), None)
        if row is None and own:
            return {**dict.fromkeys(KEYS, 0), "completion_rate": 0.0, "units_total": 1}
        assert row is not None, path
        return numbers(row)


def sheet_rows(sheet) -> tuple[str, list[list[Any]], list[Any]]:
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[1] == HEADERS
    assert values[-1][0] == "合计"
    return values[0][0], values[2:-1], values[-1]


def as_numbers(cells: list[Any]) -> dict[str, Any]:
    return dict(zip(KEYS, cells[2:], strict=True))


@pytest.fixture
async def seeded(stack: Stack) -> Stack:
    await seed_year(stack)
    return stack


async def check_workbook(seeded: Stack, book: openpyxl.Workbook) -> None:
    reports = JsonReports(seeded)
    total = numbers((await reports.of("HQ"))["total"])
    assert book.sheetnames == ["省公司", "市公司", "支部", "党小组"]
    for sheet in book.worksheets:
        title, rows, totals = sheet_rows(sheet)
        assert title.startswith("集团公司领题破题完成情况通报（截至 2025-09-30）")
        assert as_numbers(totals) == total
        for cells in rows:
            own = cells[0].endswith("(本级)")
            assert as_numbers(cells) == await reports.row(cells[1], own), (sheet.title, cells)
        for key in ("claimed", "concluded", "in_progress", "withdrawn", "units_claimed", "units_total"):
            assert sum(as_numbers(cells)[key] for cells in rows) == total[key], (sheet.title, key)
        rate_column = 1 + HEADERS.index("结题率")
        assert all(sheet.cell(r, rate_column).number_format == "0.0%" for r in range(3, sheet.max_row + 1))
    provinces = {cells[1]: cells[0] for cells in sheet_rows(book["省公司"])[1]}
    assert provinces == {"HQ/SX": "山西省分公司", "HQ/BJ": "北京市分公司"}  # HQ itself claimed nothing by then
    assert total["claimed"] > 5


async def test_xlsx_bulletin_opens_and_equals_the_json_report(seeded: Stack):
    response = await get(seeded, f"/v1/reports/completion.xlsx?org=HQ&as_of={AS_OF}")
    assert response.headers["content-type"] == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = response.headers["content-disposition"]
    assert 'filename="lingti-completion-HQ-2025-09-30.xlsx"' in disposition
    assert "filename*=UTF-8''" + quote("集团公司-领题破题完成情况-截至2025-09-30.xlsx") in disposition
    await check_workbook(seeded, openpyxl.load_workbook(io.BytesIO(response.content)))


async def test_csv_bulletin_is_the_same_table_with_a_level_column(seeded: Stack):
    book = openpyxl.load_workbook(io.BytesIO(
        (await get(seeded, f"/v1/reports/completion.xlsx?org=HQ&as_of={AS_OF}")).content))
    response = await get(seeded, f"/v1/reports/completion.csv?org=HQ&as_of={AS_OF}")
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0] == ["层级", *HEADERS]
    from_sheets = [[sheet.title, *(sheet_rows(sheet)[1] + [sheet_rows(sheet)[2]])] for sheet in book.worksheets]
    expected = [[title, *cells] for title, *rows in from_sheets for cells in rows]

    def normal(line: list[Any]) -> list[Any]:  # openpyxl reads 0.0 back as 0
        return [str(v) for v in line[:3]] + [float(v) for v in line[3:]]

    assert [normal(line) for line in lines[1:]] == [normal(line) for line in expected]


async def test_bulletin_of_a_unit_without_units_below_and_out_of_scope(seeded: Stack):
    leaf = await get(seeded, f"/v1/reports/completion.xlsx?org=HQ/SX/TY/B017/G1&as_of={AS_OF}",
                     who=bearer("branch", "HQ/SX/TY/B017"))
    book = openpyxl.load_workbook(io.BytesIO(leaf.content))
    assert book.sheetnames == ["本级"]
    refused = await seeded.as_(bearer("manager", "HQ/SX"), "GET", "/v1/reports/completion.xlsx?org=HQ")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "org.out_of_scope")
    bad_date = await seeded.as_(AUDITOR, "GET", "/v1/reports/completion.csv?as_of=30/09/2025")
    assert bad_date.status_code == 422
    bad_org = await seeded.as_(AUDITOR, "GET", '/v1/reports/completion.xlsx?org=HQ/SX"x')
    assert (bad_org.status_code, bad_org.json()["error"]["code"]) == (422, "request.invalid")


def lingti(database_url: str, cwd, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINGTI_")}
    env.update(LINGTI_MODE="production", LINGTI_DATABASE_URL=database_url, LINGTI_LOG_LEVEL="warning")
    return subprocess.run([sys.executable, "-m", "lingti", "report", "completion", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


async def test_cli_writes_the_same_bulletin(seeded: Stack, database_url: str, tmp_path):
    target = tmp_path / "通报.xlsx"
    written = lingti(database_url, tmp_path, "--org", "HQ", "--as-of", AS_OF, "--format", "xlsx",
                     "--output", str(target))
    assert written.returncode == 0, written.stderr
    await check_workbook(seeded, openpyxl.load_workbook(target))

    table = lingti(database_url, tmp_path, "--org", "HQ/SX", "--as-of", AS_OF, "--format", "table")
    assert table.returncode == 0, table.stderr
    total = numbers((await get(seeded, f"/v1/reports/completion?org=HQ/SX&as_of={AS_OF}")).json()["total"])
    assert "山西省分公司领题破题完成情况通报（截至 2025-09-30）" in table.stdout and "按市公司" in table.stdout
    totals_line = [line for line in table.stdout.splitlines() if line.startswith("合计")][0]
    assert totals_line.split()[2:5] == [str(total[k]) for k in ("claimed", "concluded", "in_progress")]

    as_csv = lingti(database_url, tmp_path, "--org", "HQ", "--as-of", AS_OF, "--format", "csv")
    http_csv = (await get(seeded, f"/v1/reports/completion.csv?org=HQ&as_of={AS_OF}")).content.decode("utf-8-sig")
    assert as_csv.returncode == 0 and as_csv.stdout.replace("\r\n", "\n") == http_csv.replace("\r\n", "\n")

    default_name = lingti(database_url, tmp_path, "--org", "HQ/BJ", "--as-of", AS_OF, "--format", "xlsx")
    assert default_name.returncode == 0, default_name.stderr
    assert openpyxl.load_workbook(tmp_path / "北京市分公司-领题破题完成情况-截至2025-09-30.xlsx").sheetnames
    bad = lingti(database_url, tmp_path, "--org", "HQ", "--as-of", "yesterday")
    assert bad.returncode != 0 and "as-of" in bad.stderr

