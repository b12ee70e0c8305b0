"""The reward ledger: one row per topic and reason, whatever retries and crashes happen around a payout.

Revision ID: 0005_reward_ledger
Revises: 0004_projector
"""

from __future__ import annotations

from alembic import op

revision = "0005_reward_ledger"
down_revision = "0004_projector"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE reward_ledger (
            ledger_key   text PRIMARY KEY,            -- <topic_id>:<reward key>, also the payout's Idempotency-Key
            topic_id     text NOT NULL,
            reward_key   text NOT NULL,
            reason       text NOT NULL,
            org          text COLLATE "C" NOT NULL,   -- the claiming unit that receives it
            amount       numeric(14, 2) NOT NULL CHECK (amount >= 0),
            unit         text NOT NULL,
            granted_at   timestamptz NOT NULL,
            status       text NOT NULL CHECK (status IN ('pending', 'released', 'refused')),
            released_at  timestamptz,
            reference    text NOT NULL DEFAULT '',
            error        text NOT NULL DEFAULT '',
            attempts     int NOT NULL DEFAULT 0
        )
    """)
    op.execute("CREATE INDEX reward_ledger_org ON reward_ledger (org, granted_at)")
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'lingti_app') THEN
                GRANT SELECT, INSERT, UPDATE ON reward_ledger TO lingti_app;
            END IF;
        END $$
    """)


def downgrade() -> None:
    op.execute("DROP TABLE reward_ledger")
