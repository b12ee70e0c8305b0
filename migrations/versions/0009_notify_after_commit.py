"""The events_notify trigger stays quiet for appends that notify after their commit themselves.

NOTIFY in a transaction takes a cluster-wide lock (PreCommit_Notify) that PostgreSQL holds until the commit
record is flushed, so every appending transaction that NOTIFYs commits one WAL flush after another: with 8
concurrent one-event appends this cut the append rate to a third (benchmarks/bench_append.py). EventStore's
autocommit appends now set ``lingti.notify = 'client'`` for their own statement and send one NOTIFY after the
commit, coalescing concurrent appends; a NOTIFY-only transaction writes no WAL and holds the lock for
microseconds. Every other INSERT (an append inside a caller's transaction, psql) still notifies from the trigger.

Revision ID: 0009_notify_after_commit
Revises: 0008_report_indexes
"""

from __future__ import annotations

from alembic import op

revision = "0009_notify_after_commit"
down_revision = "0008_report_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION lingti_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('lingti.notify', true) IS DISTINCT FROM 'client' THEN
                PERFORM pg_notify('lingti_events', '');
            END IF;
            RETURN NULL;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION lingti_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('lingti_events', '');
            RETURN NULL;
        END
        $$
        """
    )
