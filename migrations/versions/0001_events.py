"""The append-only ``events`` log, its read index, NOTIFY trigger and append-only guard.

Revision ID: 0001_events
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001_events"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE events (
            global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id        uuid        NOT NULL UNIQUE,
            stream_id       text        NOT NULL,
            stream_version  int         NOT NULL CHECK (stream_version >= 1),
            event_type      text        NOT NULL,
            schema_version  int         NOT NULL DEFAULT 1,
            data            jsonb       NOT NULL,
            metadata        jsonb       NOT NULL,
            occurred_at     timestamptz NOT NULL,
            recorded_at     timestamptz NOT NULL DEFAULT now(),
            tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
            prev_hash       bytea,
            hash            bytea       NOT NULL,
            UNIQUE (stream_id, stream_version),
            CHECK ((stream_version = 1) = (prev_hash IS NULL))
        )
        """
    )
    op.execute("CREATE INDEX events_tx_id_global_position_idx ON events (tx_id, global_position)")
    op.execute(
        """
        CREATE FUNCTION lingti_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('lingti_events', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER events_notify AFTER INSERT ON events
        FOR EACH STATEMENT EXECUTE FUNCTION lingti_notify_events()
        """
    )
    op.execute(
        """
        CREATE FUNCTION lingti_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'events is append-only: % is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION lingti_events_append_only()
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE events")
    op.execute("DROP FUNCTION lingti_events_append_only()")
    op.execute("DROP FUNCTION lingti_notify_events()")
