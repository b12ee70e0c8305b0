"""Audit: daily anchors of all stream heads, append-only guards that even replica mode honours, the app role.

- ``audit_anchors``: one row per day with every stream's head (version and hash) and the SHA-256 of their
  canonical encoding (see ``eventstore/audit.py``); insert-only like ``events``.
- The append-only triggers of ``events`` and ``audit_anchors`` are ``ENABLE ALWAYS``: they fire even with
  ``session_replication_role = replica``, which otherwise silences triggers.
- ``lingti_app``: a NOLOGIN role with exactly what the running application needs. Production logs in as a
  member of it (not the owner, not a superuser), so it can neither change nor remove events and anchors, nor
  ALTER/DROP the tables or their triggers. Creating it needs CREATEROLE once (or a DBA creates it first).

Existing events need no backfill: every event carries ``prev_hash``/``hash`` since 0001_events.

Revision ID: 0003_audit
Revises: 0002_read_models
"""

from __future__ import annotations

from alembic import op

revision = "0003_audit"
down_revision = "0002_read_models"
branch_labels = None
depends_on = None

APP_ROLE = "lingti_app"

# Tables the projector and the API rewrite freely: rebuildable read models, checkpoints, the org tree.
_READ_WRITE_TABLES = ("orgs", "projection_checkpoints", "topics", "topic_completion")
# Read models only (rebuild empties them with TRUNCATE); orgs is source data, so it is not among them.
_TRUNCATABLE_TABLES = ("projection_checkpoints", "topics", "topic_completion")
# Insert-only: the log and its anchors.
_APPEND_ONLY_TABLES = ("events", "audit_anchors")

_STATEMENTS = (
    """
    CREATE TABLE audit_anchors (
        anchor_date  date        PRIMARY KEY,
        created_at   timestamptz NOT NULL DEFAULT now(),
        streams      int         NOT NULL CHECK (streams >= 0),
        events       bigint      NOT NULL CHECK (events >= 0),
        heads_digest bytea       NOT NULL CHECK (length(heads_digest) = 32),
        heads        jsonb       NOT NULL CHECK (jsonb_typeof(heads) = 'object')
    )
    """,
    """
    CREATE FUNCTION lingti_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION lingti_append_only()
    """,
    # ALWAYS: also in session_replication_role = replica (a superuser's quiet way around ordinary triggers).
    "ALTER TABLE audit_anchors ENABLE ALWAYS TRIGGER audit_anchors_append_only",
    "ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only",
    f"""
    DO $$
    BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} NOLOGIN;
        END IF;
    END
    $$
    """,
    f"REVOKE ALL ON {', '.join(_APPEND_ONLY_TABLES)} FROM PUBLIC, {APP_ROLE}",
    f"GRANT SELECT, INSERT ON {', '.join(_APPEND_ONLY_TABLES)} TO {APP_ROLE}",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(_READ_WRITE_TABLES)} TO {APP_ROLE}",
    f"GRANT TRUNCATE ON {', '.join(_TRUNCATABLE_TABLES)} TO {APP_ROLE}",
    f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}",
)


def upgrade() -> None:
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    # The role is cluster-wide and may serve other databases: only this database's grants go.
    op.execute(f"REVOKE ALL ON {', '.join(_READ_WRITE_TABLES)} FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON events FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")
    op.execute("DROP TABLE audit_anchors")
    op.execute("DROP FUNCTION lingti_append_only()")
