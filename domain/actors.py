"""Who issues a command: a user with one role, acting for one organisation unit."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["branch", "business", "manager", "committee", "auditor", "admin", "system"]
# Roles a token may carry. "system" is the workflow itself acting on its timers, never a user.
ROLES: tuple[str, ...] = ("branch", "business", "manager", "committee", "auditor", "admin")

ROLE_LABELS = {
    "branch": "党支部/党小组",
    "business": "经营部门",
    "manager": "分管领导",
    "committee": "党委",
    "auditor": "集团审计",
    "admin": "管理员",
    "system": "系统",
}


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True)

    sub: str
    role: Role
    org: str
    name: str = ""


SYSTEM = Actor(sub="system", role="system", org="HQ", name="领题系统")
