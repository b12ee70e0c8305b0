"""The read-model tables as the queries see them (created by migration 0002_read_models)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

orgs = Table(
    "orgs", metadata,
    Column("path", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("parent_path", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

topics = Table(
    "topics", metadata,
    Column("topic_id", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("org", Text, nullable=False),
    Column("claimed_by", Text),
    Column("proposer", Text, nullable=False),
    Column("due_date", Date),
    Column("state", JSONB, nullable=False),
    Column("proposed_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

topic_completion = Table(
    "topic_completion", metadata,
    Column("topic_id", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("category", Text, nullable=False),
    Column("org", Text, nullable=False),
    Column("pending_claim_org", Text),
    Column("claim_org", Text),
    Column("claimed_at", DateTime(timezone=True)),
    Column("concluded_at", DateTime(timezone=True)),
    Column("withdrawn_at", DateTime(timezone=True)),
)

projection_checkpoints = Table(
    "projection_checkpoints", metadata,
    Column("name", Text, primary_key=True),
    Column("tx_id", BigInteger, nullable=False),
    Column("global_position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("applied_by", Text),  # 0004_projector: the projector process that moved it last
)
