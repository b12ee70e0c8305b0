"""What a run was asked for; each benchmark reads its sizes from here (quick or full)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Options:
    quick: bool = False
    only: list[str] = field(default_factory=list)
    reps: int = 3
    keep: bool = False

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def as_dict(self) -> dict:
        return asdict(self)
