"""Read models built by the projector (topic list/detail, completion dates), their checkpoints, and the org tree.

Revision ID: 0002_read_models
Revises: 0001_events
"""

from __future__ import annotations

from alembic import op

revision = "0002_read_models"
down_revision = "0001_events"
branch_labels = None
depends_on = None

# Org paths are compared byte-wise (COLLATE "C") so a btree index serves subtree prefix scans.
_STATEMENTS = (
    """
    CREATE TABLE orgs (
        path        text COLLATE "C" PRIMARY KEY,
        name        text        NOT NULL,
        kind        text        NOT NULL,
        parent_path text COLLATE "C" REFERENCES orgs (path),
        created_at  timestamptz NOT NULL DEFAULT now(),
        CHECK ((parent_path IS NULL) = (position('/' in path) = 0))
    )
    """,
    "CREATE INDEX orgs_parent_path_idx ON orgs (parent_path)",
    """
    CREATE TABLE projection_checkpoints (
        name            text PRIMARY KEY,
        tx_id           bigint      NOT NULL DEFAULT 0,
        global_position bigint      NOT NULL DEFAULT 0,
        updated_at      timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE topics (
        topic_id    text PRIMARY KEY,
        version     int         NOT NULL,
        status      text        NOT NULL,
        title       text        NOT NULL,
        description text        NOT NULL,
        category    text        NOT NULL,
        org         text COLLATE "C" NOT NULL,
        claimed_by  text COLLATE "C",
        proposer    text        NOT NULL,
        due_date    date,
        state       jsonb       NOT NULL,
        proposed_at timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL
    )
    """,
    "CREATE INDEX topics_updated_at_idx ON topics (updated_at DESC, topic_id)",
    "CREATE INDEX topics_org_idx ON topics (org)",
    "CREATE INDEX topics_claimed_by_idx ON topics (claimed_by)",
    """
    CREATE TABLE topic_completion (
        topic_id          text PRIMARY KEY,
        version           int         NOT NULL,
        category          text        NOT NULL,
        org               text COLLATE "C" NOT NULL,
        pending_claim_org text COLLATE "C",
        claim_org         text COLLATE "C",
        claimed_at        timestamptz,
        concluded_at      timestamptz,
        withdrawn_at      timestamptz
    )
    """,
    "CREATE INDEX topic_completion_claim_org_idx ON topic_completion (claim_org) WHERE claimed_at IS NOT NULL",
)


def upgrade() -> None:
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("topic_completion", "topics", "projection_checkpoints", "orgs"):
        op.execute(f"DROP TABLE {table}")
