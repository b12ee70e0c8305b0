"""The settings the control loop runs by: report window, escalation grace, posting period, weights, reward tiers."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

PARTIES = ("grassroots", "self", "peer", "leader")


class ControlPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    report_window: dt.timedelta = dt.timedelta(days=15)
    escalation_grace: dt.timedelta = dt.timedelta(days=7)
    escalation_levels: int = Field(default=2, ge=1, le=6)
    posting_period: dt.timedelta = dt.timedelta(days=5)
    evaluation_weights: dict[str, float] = Field(
        default_factory=lambda: {"grassroots": 0.3, "self": 0.1, "peer": 0.2, "leader": 0.4})
    # (minimum final score, share of the promised reward released), highest first.
    reward_tiers: tuple[tuple[float, float], ...] = ((90, 1.0), (75, 0.8), (60, 0.5), (0, 0.0))

    def final_score(self, scores: dict[str, float]) -> float:
        return round(sum(self.evaluation_weights[p] * scores[p] for p in PARTIES), 2)

    def reward_share(self, final_score: float) -> float:
        return next((share for minimum, share in self.reward_tiers if final_score >= minimum), 0.0)


DEFAULT_POLICY = ControlPolicy()
