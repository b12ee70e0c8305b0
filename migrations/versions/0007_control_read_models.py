"""Read models of the control loop (projection `topic_control`, projections/control_read.py): checkpoint scores
for the red/blue board, missed deadlines and reminder interviews for the overdue report, rewards for the rewards
report. Registered in ``projection_tables`` so a rebuild may replace them; the application role gets what it has
on the other read models (0003_audit).

Revision ID: 0007_control_read_models
Revises: 0006_audit_indexes
"""

from __future__ import annotations

from alembic import op

revision = "0007_control_read_models"
down_revision = "0006_audit_indexes"
branch_labels = None
depends_on = None

APP_ROLE = "lingti_app"
TABLES = ("control_topics", "checkpoint_scores", "control_deadlines", "control_reminders", "control_rewards")

# Org paths are compared byte-wise (COLLATE "C") so a btree index serves subtree prefix scans.
_STATEMENTS = (
    """
    CREATE TABLE control_topics (
        topic_id          text PRIMARY KEY,
        version           int         NOT NULL,
        title             text        NOT NULL,
        org               text COLLATE "C" NOT NULL,
        pending_claim_org text COLLATE "C",
        claim_org         text COLLATE "C",
        claimed_at        timestamptz,
        status            text        NOT NULL CHECK (status IN ('active', 'concluded', 'withdrawn')),
        ended_at          timestamptz,
        reward_amount     numeric(14, 2),
        reward_unit       text,
        milestone_titles  jsonb       NOT NULL DEFAULT '[]'
    )
    """,
    "CREATE INDEX control_topics_claim_org_idx ON control_topics (claim_org) WHERE claim_org IS NOT NULL",
    """
    CREATE TABLE checkpoint_scores (
        topic_id   text        NOT NULL,
        quarter    text        NOT NULL,
        version    int         NOT NULL,
        claim_org  text COLLATE "C" NOT NULL,
        status     text        NOT NULL CHECK (status IN ('open', 'reported', 'assessed', 'missed')),
        score      double precision,
        rating     text        NOT NULL DEFAULT '',
        report_due timestamptz NOT NULL,
        opened_at  timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (topic_id, quarter)
    )
    """,
    "CREATE INDEX checkpoint_scores_quarter_org_idx ON checkpoint_scores (quarter, claim_org)",
    """
    CREATE TABLE control_deadlines (
        topic_id     text        NOT NULL,
        kind         text        NOT NULL CHECK (kind IN ('milestone', 'topic')),
        key          text        NOT NULL,
        version      int         NOT NULL,
        title        text        NOT NULL DEFAULT '',
        claim_org    text COLLATE "C" NOT NULL,
        due_date     date        NOT NULL,
        missed_at    timestamptz NOT NULL,
        level        int         NOT NULL DEFAULT 0,
        escalated_to text COLLATE "C",
        escalated_at timestamptz,
        resolved_at  timestamptz,
        PRIMARY KEY (topic_id, kind, key)
    )
    """,
    "CREATE INDEX control_deadlines_open_idx ON control_deadlines (claim_org) WHERE resolved_at IS NULL",
    """
    CREATE TABLE control_reminders (
        topic_id    text        NOT NULL,
        quarter     text        NOT NULL,
        version     int         NOT NULL,
        org         text COLLATE "C" NOT NULL,
        quarters    text[]      NOT NULL,
        required_at timestamptz NOT NULL,
        PRIMARY KEY (topic_id, quarter)
    )
    """,
    "CREATE INDEX control_reminders_org_idx ON control_reminders (org)",
    """
    CREATE TABLE control_rewards (
        topic_id    text        NOT NULL,
        key         text        NOT NULL,
        version     int         NOT NULL,
        reason      text        NOT NULL,
        org         text COLLATE "C" NOT NULL,
        amount      numeric(14, 2) NOT NULL,
        unit        text        NOT NULL,
        status      text        NOT NULL CHECK (status IN ('granted', 'released', 'failed')),
        granted_at  timestamptz NOT NULL,
        released_at timestamptz,
        failed_at   timestamptz,
        reference   text        NOT NULL DEFAULT '',
        error       text        NOT NULL DEFAULT '',
        PRIMARY KEY (topic_id, key)
    )
    """,
    "CREATE INDEX control_rewards_org_idx ON control_rewards (org)",
    "INSERT INTO projection_tables (table_name) VALUES " + ", ".join(f"('{t}')" for t in TABLES),
    f"""
    DO $$ BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {', '.join(TABLES)} TO {APP_ROLE};
        END IF;
    END $$
    """,
)


def upgrade() -> None:
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DELETE FROM projection_tables WHERE table_name IN (" + ", ".join(f"'{t}'" for t in TABLES) + ")")
    op.execute("DELETE FROM projection_checkpoints WHERE name = 'topic_control'")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
