"""Who issues a command: a user with one role, acting for one organisation unit."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["branch", "business", "manager", "committee", "auditor", "admin"]
ROLES: tuple[str, ...] = ("branch", "business", "manager", "committee", "auditor", "admin")

ROLE_LABELS = {
    "branch": "党支部/党小组",
    "business": "经营部门",
    "manager": "分管领导",
    "committee": "党委",
    "auditor": "集团审计",
    "admin": "管理员",
}


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True)

    sub: str
    role: Role
    org: str
    name: str = ""
