"""Organisation units: HQ → province → city → branch → group."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OrgKind = Literal["hq", "province", "city", "branch", "group", "department"]  # domain.orgs.ORG_KINDS


class OrgCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=400, description="e.g. HQ/SX/TY/B017; the parent must exist")
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind


class OrgPublic(BaseModel):
    path: str
    name: str
    kind: str
    parent_path: str | None
    created_at: dt.datetime


class OrgList(BaseModel):
    items: list[OrgPublic]
