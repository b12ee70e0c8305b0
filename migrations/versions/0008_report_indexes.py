"""Covering indexes for the report queries (completion report, red/blue board) at scale.

The reports read a subtree as a byte range of `COLLATE "C"` paths (projections/queries/completion.py
`_IN_SUBTREE`). These indexes hold every column those queries read, so PostgreSQL answers them from the index alone
(an index-only scan, in path order) instead of visiting one heap page per row:

- `topic_completion (claim_org, claimed_at) INCLUDE (concluded_at, withdrawn_at) WHERE claimed_at IS NOT NULL`
  replaces `topic_completion_claim_org_idx` (claim_org only, same predicate);
- `checkpoint_scores (quarter, claim_org) INCLUDE (status, score)` replaces `checkpoint_scores_quarter_org_idx`;
- `orgs (path) WHERE kind IN ('branch', 'group', 'department')`: the units coverage counts (`UNIT_KINDS` in
  completion.py, whose queries spell the same predicate), counted per subtree range without reading the tree.

A rebuild's shadow tables copy them (`LIKE … INCLUDING ALL`, migration 0004_projector).

Revision ID: 0008_report_indexes
Revises: 0007_control_read_models
"""

from __future__ import annotations

from alembic import op

revision = "0008_report_indexes"
down_revision = "0007_control_read_models"
branch_labels = None
depends_on = None

_UPGRADE = (
    "DROP INDEX topic_completion_claim_org_idx",
    "CREATE INDEX topic_completion_claims_idx ON topic_completion (claim_org, claimed_at) "
    "INCLUDE (concluded_at, withdrawn_at) WHERE claimed_at IS NOT NULL",
    "DROP INDEX checkpoint_scores_quarter_org_idx",
    "CREATE INDEX checkpoint_scores_quarter_org_idx ON checkpoint_scores (quarter, claim_org) "
    "INCLUDE (status, score)",
    "CREATE INDEX orgs_units_idx ON orgs (path) WHERE kind IN ('branch', 'group', 'department')",
)

_DOWNGRADE = (
    "DROP INDEX orgs_units_idx",
    "DROP INDEX topic_completion_claims_idx",
    "CREATE INDEX topic_completion_claim_org_idx ON topic_completion (claim_org) WHERE claimed_at IS NOT NULL",
    "DROP INDEX checkpoint_scores_quarter_org_idx",
    "CREATE INDEX checkpoint_scores_quarter_org_idx ON checkpoint_scores (quarter, claim_org)",
)


def upgrade() -> None:
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in _DOWNGRADE:
        op.execute(statement)
