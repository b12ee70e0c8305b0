"""Which topics a quarterly control meeting (季度管控会) of a unit concerns."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.state import CONTROLLED
from projections.queries.visibility import in_subtree
from projections.schema import topics as t


async def controlled_topic_ids(engine: AsyncEngine, org: str) -> list[str]:
    """Ids of the claimed, plan_submitted and in_progress topics owned by `org`'s subtree or claimed by a unit in
    it, in id order: one query, whatever their number. As fresh as the read model (the projector's lag)."""
    stmt = (
        select(t.c.topic_id)
        .where(t.c.status.in_(sorted(CONTROLLED)))
        .where(or_(in_subtree(t.c.org, org), in_subtree(t.c.claimed_by, org)))
        .order_by(t.c.topic_id)
    )
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).scalars())
