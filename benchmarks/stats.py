"""Figures, floors and ratios: what a benchmark reports, and how it is summarised, printed and saved."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of raw samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Spread:
    """One figure over its repetitions: median [min–max]."""

    median: float
    low: float
    high: float
    values: list[float]

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        values = [float(v) for v in values]
        return cls(statistics.median(values), min(values), max(values), values)

    def text(self, digits: int = 1) -> str:
        return f"{self.median:,.{digits}f} [{self.low:,.{digits}f}–{self.high:,.{digits}f}]"


@dataclass
class Figure:
    """A measured figure, optionally next to its floor (or limit) and a target on the ratio figure/floor.

    `better` says which way is good: "lower" for latencies and memory, "higher" for rates. A target without a
    floor (e.g. "≥ 100,000 ev/s", "≤ 300 MB") applies to the figure itself.
    """

    name: str
    unit: str
    value: Spread
    floor: Spread | None = None
    floor_name: str = ""
    better: Literal["lower", "higher"] = "lower"
    ratio_target: float | None = None
    absolute_target: float | None = None
    note: str = ""
    digits: int = 1

    @property
    def ratio(self) -> float | None:
        if self.floor is None or not self.floor.median:
            return None
        return self.value.median / self.floor.median

    def met(self) -> bool | None:
        checks: list[bool] = []
        ratio = self.ratio
        if self.ratio_target is not None and ratio is not None:
            checks.append(ratio <= self.ratio_target if self.better == "lower" else ratio >= self.ratio_target)
        if self.absolute_target is not None:
            value = self.value.median
            checks.append(value <= self.absolute_target if self.better == "lower" else value >= self.absolute_target)
        return all(checks) if checks else None

    def target_text(self) -> str:
        sign = "≤" if self.better == "lower" else "≥"
        parts = []
        if self.ratio_target is not None:
            parts.append(f"{sign} {self.ratio_target:g}× floor")
        if self.absolute_target is not None:
            parts.append(f"{sign} {self.absolute_target:,g} {self.unit}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, met=self.met(), target=self.target_text())
        return data


@dataclass
class Result:
    """What one benchmark produced: its figures, the parameters it ran with, and anything else worth keeping."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "parameters": self.parameters, "seconds": self.seconds,
                "figures": [f.as_dict() for f in self.figures], "details": self.details}


def table(result: Result) -> str:
    """A plain-text table of a result's figures, as the suite prints it."""
    rows = [("figure", "median [min–max]", "floor", "ratio", "target", "")]
    for f in result.figures:
        ratio = f.ratio
        met = f.met()
        rows.append((
            f"{f.name} ({f.unit})",
            f.value.text(f.digits),
            f"{f.floor_name}: {f.floor.text(f.digits)}" if f.floor else "",
            f"{ratio:.2f}×" if ratio is not None else "",
            f.target_text(),
            {True: "met", False: "MISSED", None: ""}[met],
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"== {result.title} ({result.seconds:.0f} s)"]
    for i, r in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    return path
