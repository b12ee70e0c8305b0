"""What the API needs from the outside world, opened by the composition root and handed to `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import temporalio.client
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.policy import ControlPolicy


@dataclass
class ApiContext:
    temporal: temporalio.client.Client
    task_queue: str
    engine: AsyncEngine
    pool: asyncpg.Pool
    jwt_secret: str
    timezone: str = "Asia/Shanghai"
    policy: ControlPolicy | None = None  # what new topic workflows start with; None = the defaults
    board_red_share: float = 0.2  # the red/blue board (红蓝榜): top share marked red (LINGTI_BOARD_RED_SHARE)
    board_blue_share: float = 0.2  # bottom share marked blue (LINGTI_BOARD_BLUE_SHARE)
