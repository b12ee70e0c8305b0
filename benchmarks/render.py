"""`python -m benchmarks.render RESULTS.json`: the run as Markdown tables (what BENCHMARKS.md is made from)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _spread(data: dict[str, Any] | None, digits: int) -> str:
    if not data:
        return ""
    return f"{data['median']:,.{digits}f} [{data['low']:,.{digits}f}–{data['high']:,.{digits}f}]"


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [
        f"Run `{report['run']}`, {report['started_at'][:16].replace('T', ' ')} UTC, "
        f"{report['options']['reps']} repetitions per figure.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; load average at start "
        f"{' / '.join(f'{x:.2f}' for x in m['load_average_at_start'])}",
        f"- Python {m['python']}, PostgreSQL {m.get('postgres', '?')}; {versions}",
        "",
    ]
    for result in report["results"]:
        lines += [f"### {result['title']}", "", "| figure | median [min–max] | floor: median [min–max] | ratio | target | |",
                  "|---|---|---|---|---|---|"]
        for f in result["figures"]:
            digits = f.get("digits", 1)
            floor = f"{f['floor_name']}: {_spread(f['floor'], digits)}" if f["floor"] else ""
            ratio = f"{f['ratio']:.2f}×" if f["ratio"] is not None else ""
            met = {True: "met", False: "**missed**", None: ""}[f["met"]]
            lines.append(f"| {f['name']} ({f['unit']}) | {_spread(f['value'], digits)} | {floor} | {ratio} "
                         f"| {f['target']} | {met} |")
        lines += ["", f"Parameters: `{json.dumps(result['parameters'], ensure_ascii=False)}`; "
                      f"took {result['seconds']:.0f} s.", ""]
    for name, error in report.get("errors", {}).items():
        lines += [f"### {name}: failed", "", "```", error.strip(), "```", ""]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m benchmarks.render benchmarks/results/RUN.json")
    print(render(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
