"""Projector: who applied each checkpoint, and blue/green rebuilds of the read models.

- ``projection_checkpoints.applied_by``: the projector process (``host:pid:…``) that moved the checkpoint last.
- ``projection_tables``: the read-model tables a rebuild may replace (a migration adding a read model adds its
  tables here).
- Schema ``projection_rebuild``: shadow copies of those tables, same names, built from position 0 while the
  live tables keep serving (``projections/rebuild.py``).
- ``SECURITY DEFINER`` functions that create, analyze, drop and swap in a shadow table, so the application role
  (``lingti_app``, which owns no table) can rebuild: ``lingti_projection_swap`` drops the live table and moves
  the shadow into its place under the same name, with the live table's index names, inside the caller's
  transaction. They act only on tables listed in ``projection_tables`` and refuse a shadow whose columns differ
  from the live table's (a migration ran during the rebuild: rebuild again).

Revision ID: 0004_projector
Revises: 0003_audit
"""

from __future__ import annotations

from alembic import op

revision = "0004_projector"
down_revision = "0003_audit"
branch_labels = None
depends_on = None

APP_ROLE = "lingti_app"
SHADOW_SCHEMA = "projection_rebuild"
READ_MODEL_TABLES = ("topics", "topic_completion")

_CHECK = f"""
    SELECT t.live_schema, to_regclass(format('%I.%I', t.live_schema, t.table_name)),
           to_regclass(format('%I.%I', '{SHADOW_SCHEMA}', t.table_name))
      INTO live_schema, live_rel, shadow_rel
      FROM public.projection_tables t WHERE t.table_name = live;
    IF live_schema IS NULL THEN
        RAISE EXCEPTION 'table % is not a read model (projection_tables)', live USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF live_rel IS NULL THEN
        RAISE EXCEPTION 'read model table %.% does not exist', live_schema, live USING ERRCODE = 'undefined_table';
    END IF;
"""

_FUNCTIONS = (
    f"""
    CREATE FUNCTION lingti_projection_shadow(live text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DECLARE
        live_schema text; live_rel regclass; shadow_rel regclass; g record;
    BEGIN
        {_CHECK}
        EXECUTE format('DROP TABLE IF EXISTS %I.%I', '{SHADOW_SCHEMA}', live);
        EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING ALL)', '{SHADOW_SCHEMA}', live, live_schema, live);
        FOR g IN SELECT a.privilege_type, a.grantee
                   FROM pg_class c, aclexplode(c.relacl) a
                  WHERE c.oid = live_rel AND a.grantee <> c.relowner LOOP
            EXECUTE format('GRANT %s ON %I.%I TO %s', g.privilege_type, '{SHADOW_SCHEMA}', live,
                           CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END);
        END LOOP;
    END
    $$
    """,
    f"""
    CREATE FUNCTION lingti_projection_analyze_shadow(live text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DECLARE
        live_schema text; live_rel regclass; shadow_rel regclass;
    BEGIN
        {_CHECK}
        IF shadow_rel IS NOT NULL THEN
            EXECUTE format('ANALYZE %I.%I', '{SHADOW_SCHEMA}', live);
        END IF;
    END
    $$
    """,
    f"""
    CREATE FUNCTION lingti_projection_drop_shadow(live text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DECLARE
        live_schema text; live_rel regclass; shadow_rel regclass;
    BEGIN
        {_CHECK}
        EXECUTE format('DROP TABLE IF EXISTS %I.%I', '{SHADOW_SCHEMA}', live);
    END
    $$
    """,
    # Index names: the shadow's indexes (named by LIKE) are matched to the live ones by definition and take
    # their names (via temporary names, in case two of them trade names), so later migrations find them.
    f"""
    CREATE FUNCTION lingti_projection_swap(live text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DECLARE
        live_schema text; live_rel regclass; shadow_rel regclass;
        live_names text[]; shadow_names text[]; live_count int; i int;
    BEGIN
        {_CHECK}
        IF shadow_rel IS NULL THEN
            RAISE EXCEPTION 'no shadow table {SHADOW_SCHEMA}.% to swap in', live USING ERRCODE = 'undefined_table';
        END IF;
        EXECUTE format('LOCK TABLE %I.%I IN ACCESS EXCLUSIVE MODE', live_schema, live);
        IF (SELECT array_agg(format('%s %s', a.attname, format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
              FROM pg_attribute a WHERE a.attrelid = live_rel AND a.attnum > 0 AND NOT a.attisdropped)
           IS DISTINCT FROM
           (SELECT array_agg(format('%s %s', a.attname, format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
              FROM pg_attribute a WHERE a.attrelid = shadow_rel AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'the columns of %.% changed during the rebuild: rebuild again', live_schema, live
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        WITH idx AS (
            SELECT i.indrelid, c.relname::text AS name,
                   format('%s %s %s', i.indisunique, i.indisprimary,
                          regexp_replace(pg_get_indexdef(i.indexrelid), '^.*? USING ', '')) AS key
              FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid IN (live_rel, shadow_rel)
        ), numbered AS (
            SELECT indrelid, name, key, row_number() OVER (PARTITION BY indrelid, key ORDER BY name) AS n FROM idx
        )
        SELECT array_agg(l.name ORDER BY l.name), array_agg(s.name ORDER BY l.name)
          INTO live_names, shadow_names
          FROM numbered l JOIN numbered s ON s.key = l.key AND s.n = l.n AND s.indrelid = shadow_rel
         WHERE l.indrelid = live_rel;
        SELECT count(*) INTO live_count FROM pg_index WHERE indrelid = live_rel;
        IF coalesce(array_length(live_names, 1), 0) <> live_count
           OR live_count <> (SELECT count(*) FROM pg_index WHERE indrelid = shadow_rel) THEN
            RAISE EXCEPTION 'the indexes of %.% changed during the rebuild: rebuild again', live_schema, live
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        EXECUTE format('DROP TABLE %I.%I', live_schema, live);
        EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', '{SHADOW_SCHEMA}', live, live_schema);
        FOR i IN 1 .. coalesce(array_length(live_names, 1), 0) LOOP
            EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', live_schema, shadow_names[i], 'lingti_swap_' || i);
        END LOOP;
        FOR i IN 1 .. coalesce(array_length(live_names, 1), 0) LOOP
            EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', live_schema, 'lingti_swap_' || i, live_names[i]);
        END LOOP;
    END
    $$
    """,
)

_FUNCTION_NAMES = (
    "lingti_projection_shadow(text)", "lingti_projection_analyze_shadow(text)",
    "lingti_projection_drop_shadow(text)", "lingti_projection_swap(text)",
)


def upgrade() -> None:
    op.execute("ALTER TABLE projection_checkpoints ADD COLUMN applied_by text")
    op.execute(f"CREATE SCHEMA {SHADOW_SCHEMA}")
    op.execute(
        """
        CREATE TABLE projection_tables (
            table_name  text PRIMARY KEY,
            live_schema text NOT NULL DEFAULT current_schema()
        )
        """
    )
    op.execute(
        "INSERT INTO projection_tables (table_name) VALUES " + ", ".join(f"('{t}')" for t in READ_MODEL_TABLES)
    )
    for statement in _FUNCTIONS:
        op.execute(statement)
    for function in _FUNCTION_NAMES:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON SCHEMA {SHADOW_SCHEMA} TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON projection_tables TO {APP_ROLE}")


def downgrade() -> None:
    for function in reversed(_FUNCTION_NAMES):
        op.execute(f"DROP FUNCTION {function}")
    op.execute("DROP TABLE projection_tables")
    op.execute(f"DROP SCHEMA {SHADOW_SCHEMA} CASCADE")
    op.execute("ALTER TABLE projection_checkpoints DROP COLUMN applied_by")
