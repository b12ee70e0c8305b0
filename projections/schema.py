"""The read-model tables as the queries see them (created by migrations 0002_read_models and
0007_control_read_models)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, Float, Integer, MetaData, Numeric, Table, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

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

# 0007_control_read_models: the `topic_control` read model (projections/control_read.py).

control_topics = Table(
    "control_topics", metadata,
    Column("topic_id", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("org", Text, nullable=False),
    Column("pending_claim_org", Text),
    Column("claim_org", Text),
    Column("claimed_at", DateTime(timezone=True)),
    Column("status", Text, nullable=False),  # active | concluded | withdrawn
    Column("ended_at", DateTime(timezone=True)),
    Column("reward_amount", Numeric(14, 2)),
    Column("reward_unit", Text),
    Column("milestone_titles", JSONB, nullable=False),
)

checkpoint_scores = Table(
    "checkpoint_scores", metadata,
    Column("topic_id", Text, primary_key=True),
    Column("quarter", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("claim_org", Text, nullable=False),
    Column("status", Text, nullable=False),  # open | reported | assessed | missed
    Column("score", Float),
    Column("rating", Text, nullable=False),
    Column("report_due", DateTime(timezone=True), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

control_deadlines = Table(
    "control_deadlines", metadata,
    Column("topic_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("claim_org", Text, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("missed_at", DateTime(timezone=True), nullable=False),
    Column("level", Integer, nullable=False),
    Column("escalated_to", Text),
    Column("escalated_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
)

control_reminders = Table(
    "control_reminders", metadata,
    Column("topic_id", Text, primary_key=True),
    Column("quarter", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("org", Text, nullable=False),
    Column("quarters", ARRAY(Text), nullable=False),
    Column("required_at", DateTime(timezone=True), nullable=False),
)

control_rewards = Table(
    "control_rewards", metadata,
    Column("topic_id", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("org", Text, nullable=False),
    Column("amount", Numeric(14, 2), nullable=False),
    Column("unit", Text, nullable=False),
    Column("status", Text, nullable=False),  # granted | released | failed
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True)),
    Column("failed_at", DateTime(timezone=True)),
    Column("reference", Text, nullable=False),
    Column("error", Text, nullable=False),
)
